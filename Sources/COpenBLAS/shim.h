#ifndef UNET_CKPT_COPENBLAS_SHIM_H
#define UNET_CKPT_COPENBLAS_SHIM_H
#include <cblas.h>
#endif
