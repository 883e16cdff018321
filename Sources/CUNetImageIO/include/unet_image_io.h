/* The C side of UNetImages: every libpng call (libpng reports errors by longjmp, which must not
 * cross Swift frames, so each entry point here sets its own setjmp and returns an error code),
 * libtiff's open with an error handler that records the message instead of printing it, typed
 * wrappers of libtiff's variadic TIFFGetField / TIFFSetField, and every libnifti2 call (which
 * prints to stderr; nifti_io.c captures it). Prefix: unet_. Every
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

/* ---- NIfTI ---------------------------------------------------------------------------------- */

/* What libnifti2 read from a single-file NIfTI-1 or NIfTI-2 header (nifti_read_header, converted
 * by nifti_convert_n1hdr2nim / n2hdr2nim: byte-swapped, dims and spacings checked), and what a
 * header to write is made from. Matrices are row-major 4 × 4. Every libnifti call runs with the
 * process's C `stderr` pointed at a memory stream (under a lock), so libnifti never prints: its
 * messages become `message`. */
typedef struct {
    int version;              /* 1 or 2 */
    int datatype;             /* NIFTI_TYPE_* */
    int bytes_per_voxel;
    int64_t dim[8];           /* dim[0] = the number of dimensions */
    double pixdim[8];         /* pixdim[0] = qfac when there is a qform, else 0 */
    double scl_slope, scl_inter, cal_min, cal_max;
    int qform_code, sform_code;
    double quatern_b, quatern_c, quatern_d, qoffset_x, qoffset_y, qoffset_z, qfac;
    double qto_xyz[16];       /* the qform's matrix, from the quaternion (or the spacings without one) */
    double sto_xyz[16];       /* the sform's rows (zero without one) */
    int xyz_units, time_units;
    int freq_dim, phase_dim, slice_dim;
    int slice_code;
    int64_t slice_start, slice_end;
    double slice_duration, toffset;
    int intent_code;
    char descrip[80];
    int64_t data_offset;      /* where the voxels start (vox_offset) */
    int64_t file_size;        /* the file's size, -1 when gzip-compressed */
} unet_nifti_header;

typedef struct unet_nifti_reader unet_nifti_reader;

/* Reads the header of a .nii or .nii.gz file and opens its data, positioned at the first voxel;
 * NULL on failure (the reason in message). Refuses ANALYZE 7.5, two-file (.hdr/.img) and ASCII
 * headers. Nothing of the data is read or allocated. */
unet_nifti_reader *unet_nifti_open(const char *path, unet_nifti_header *header, char *message);

/* Reads up to `bytes` more bytes of voxels (a multiple of the voxel size) in the machine's byte
 * order: the count read (fewer at the end of the file), or -1 when the compressed data is
 * damaged (the reason in message). */
int64_t unet_nifti_read(unet_nifti_reader *reader, void *buffer, size_t bytes, char *message);

void unet_nifti_close(unet_nifti_reader *reader);

/* Writes a single-file NIfTI of header->version (1 or 2) with the header's fields and `bytes` of
 * voxels in the machine's byte order, gzip-compressed when `compress` is not 0 (the caller decides
 * from the final name: `path` may be a temporary file's). The header is made by libnifti
 * (nifti_convert_nim2n1hdr / nim2n2hdr), no extensions. 0 on success. */
int unet_nifti_write(const char *path, int compress, const unet_nifti_header *header, const void *data,
                     size_t bytes, char *message);

/* libnifti's name of a datatype code ("INT64", "RGB24", "COMPLEX64", "**ILLEGAL**"). */
const char *unet_nifti_datatype_name(int datatype);

#endif
