/* The C side of UNetImages: every libpng call (libpng reports errors by longjmp, which must not
 * cross Swift frames, so each entry point here sets its own setjmp and returns an error code),
 * libtiff's open with an error handler that records the message instead of printing it, and
 * typed wrappers of libtiff's variadic TIFFGetField / TIFFSetField. Prefix: unet_. Every
 * function that can fail returns 0 on success and writes one line into `message` otherwise. */
#ifndef UNET_CKPT_IMAGE_IO_H
#define UNET_CKPT_IMAGE_IO_H

#include <stddef.h>
#include <stdint.h>
#include <tiffio.h>

#define UNET_MESSAGE_CAPACITY 512

/* ---- PNG ------------------------------------------------------------------------------------ */

/* What the PNG header (IHDR) says, exactly as stored. color_type is PNG's: 0 grey, 2 RGB,
 * 3 palette, 4 grey + alpha, 6 RGB + alpha. */
typedef struct {
    uint32_t width;
    uint32_t height;
    int bit_depth;
    int color_type;
    int interlaced;
    int channels;
} unet_png_info;

typedef struct unet_png_reader unet_png_reader;

/* Opens a PNG file and reads its header; NULL on failure (the reason in message). Width and
 * height above `max_side` are refused by libpng itself, before any row is allocated. */
unet_png_reader *unet_png_open(const char *path, uint32_t max_side, unet_png_info *info, char *message);

/* Reads every pixel, rows top to bottom, samples interleaved, 16-bit samples in the machine's byte
 * order; `size` must be height * width * channels * (bit_depth / 8). No colour or gamma
 * conversion of any kind: the stored values. */
int unet_png_read_pixels(unet_png_reader *reader, void *pixels, size_t size, char *message);

void unet_png_close(unet_png_reader *reader);

/* Writes a PNG of 1 (grey) or 3 (RGB) channels of 8 or 16 bits (16-bit samples in the machine's
 * byte order), zlib level 6, not interlaced. */
int unet_png_write(const char *path, const void *pixels, uint32_t width, uint32_t height, int channels,
                   int bit_depth, char *message);

/* ---- TIFF ----------------------------------------------------------------------------------- */

/* A TIFF handle and the first error libtiff reported on it (warnings are dropped). */
typedef struct {
    TIFF *tiff;
    char message[UNET_MESSAGE_CAPACITY];
} unet_tiff;

/* Opens `path` with `mode` ("r", "w", "w8"): the handle's tiff is NULL when libtiff could not
 * open it (the reason in message). Single allocations by libtiff are limited to `max_alloc`
 * bytes. Never NULL except when out of memory. */
unet_tiff *unet_tiff_open(const char *path, const char *mode, size_t max_alloc);

/* Closes the TIFF (flushing a file being written) and frees the handle. */
void unet_tiff_close(unet_tiff *handle);

int unet_tiff_get_u16(TIFF *tiff, uint32_t tag, uint16_t *value);
int unet_tiff_get_u32(TIFF *tiff, uint32_t tag, uint32_t *value);
/* TIFFGetFieldDefaulted: the tag's value or the specification's default. */
int unet_tiff_get_defaulted_u16(TIFF *tiff, uint32_t tag, uint16_t *value);
int unet_tiff_get_defaulted_u32(TIFF *tiff, uint32_t tag, uint32_t *value);
/* The number of extra samples (alpha and others), 0 when the tag is absent. */
int unet_tiff_extra_samples(TIFF *tiff);
int unet_tiff_set_u16(TIFF *tiff, uint32_t tag, uint16_t value);
int unet_tiff_set_u32(TIFF *tiff, uint32_t tag, uint32_t value);
int unet_tiff_set_string(TIFF *tiff, uint32_t tag, const char *value);
/* TIFFTAG_PAGENUMBER: this page and the page count. */
int unet_tiff_set_page_number(TIFF *tiff, uint16_t page, uint16_t pages);

#endif
