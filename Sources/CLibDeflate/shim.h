#ifndef UNET_CKPT_CLIBDEFLATE_SHIM_H
#define UNET_CKPT_CLIBDEFLATE_SHIM_H
#include <libdeflate.h>
#endif
