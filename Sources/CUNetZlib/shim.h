#ifndef UNET_CKPT_CZLIB_SHIM_H
#define UNET_CKPT_CZLIB_SHIM_H
#include <zlib.h>
#endif
