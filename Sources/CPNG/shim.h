/* libpng for the C helpers of CUNetImageIO (libpng reports errors by longjmp, which Swift
 * cannot take part in, so every libpng call is made from C; see CUNetImageIO). */
#ifndef UNET_CKPT_CPNG_SHIM_H
#define UNET_CKPT_CPNG_SHIM_H
#include <png.h>
#endif
