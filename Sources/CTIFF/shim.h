/* libtiff for Swift. TIFFGetField and TIFFSetField are variadic, which Swift cannot call: their
 * typed wrappers, and the error handler that records messages instead of printing them, are in
 * CUNetImageIO. */
#ifndef UNET_CKPT_CTIFF_SHIM_H
#define UNET_CKPT_CTIFF_SHIM_H
#include <tiffio.h>
#endif
