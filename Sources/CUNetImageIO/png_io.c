/* PNG reading and writing with libpng's classic API. libpng's simplified API was not used: it
 * converts 16-bit data to linear light (and 8-bit data to sRGB) whenever a file carries gAMA,
 * sRGB or iCCP chunks, and cannot say whether a grey file stores 1, 2, 4 or 8 bits; a network's
 * input must be the stored values. */
#include "unet_image_io.h"

#include <png.h>
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct unet_png_reader {
    FILE *file;
    png_structp png;
    png_infop info;
    char message[UNET_MESSAGE_CAPACITY];
};

static void copy_message(char *target, const char *text) {
    snprintf(target, UNET_MESSAGE_CAPACITY, "%s", text ? text : "unknown libpng error");
}

static void on_error(png_structp png, png_const_charp text) {
    char *message = (char *)png_get_error_ptr(png);
    if (message) copy_message(message, text);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp text) {
    (void)png;
    (void)text;
}

void unet_png_close(unet_png_reader *reader) {
    if (!reader) return;
    if (reader->png) png_destroy_read_struct(&reader->png, reader->info ? &reader->info : NULL, NULL);
    if (reader->file) fclose(reader->file);
    free(reader);
}

unet_png_reader *unet_png_open(const char *path, uint32_t max_side, unet_png_info *out, char *message) {
    unet_png_reader *reader = calloc(1, sizeof *reader);
    if (!reader) {
        copy_message(message, "out of memory");
        return NULL;
    }
    reader->file = fopen(path, "rb");
    if (!reader->file) {
        snprintf(message, UNET_MESSAGE_CAPACITY, "cannot open the file: %s", strerror(errno));
        unet_png_close(reader);
        return NULL;
    }
    unsigned char signature[8];
    if (fread(signature, 1, 8, reader->file) != 8 || png_sig_cmp(signature, 0, 8) != 0) {
        copy_message(message, "not a PNG file");
        unet_png_close(reader);
        return NULL;
    }
    reader->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, reader->message, on_error, on_warning);
    if (reader->png) reader->info = png_create_info_struct(reader->png);
    if (!reader->png || !reader->info) {
        copy_message(message, "out of memory");
        unet_png_close(reader);
        return NULL;
    }
    if (setjmp(png_jmpbuf(reader->png))) {
        copy_message(message, reader->message);
        unet_png_close(reader);
        return NULL;
    }
    png_set_user_limits(reader->png, max_side, max_side);
    png_set_chunk_malloc_max(reader->png, 8u << 20); /* no ancillary chunk above 8 MiB */
    png_init_io(reader->png, reader->file);
    png_set_sig_bytes(reader->png, 8);
    png_read_info(reader->png, reader->info);
    out->width = png_get_image_width(reader->png, reader->info);
    out->height = png_get_image_height(reader->png, reader->info);
    out->bit_depth = png_get_bit_depth(reader->png, reader->info);
    out->color_type = png_get_color_type(reader->png, reader->info);
    out->interlaced = png_get_interlace_type(reader->png, reader->info) != PNG_INTERLACE_NONE;
    out->channels = png_get_channels(reader->png, reader->info);
    return reader;
}

int unet_png_read_pixels(unet_png_reader *reader, void *pixels, size_t size, char *message) {
    png_structp png = reader->png;
    png_infop info = reader->info;
    uint32_t height = png_get_image_height(png, info);
    png_bytep *volatile rows = calloc(height ? height : 1, sizeof(png_bytep));
    if (!rows) {
        copy_message(message, "out of memory");
        return 1;
    }
    if (setjmp(png_jmpbuf(png))) {
        copy_message(message, reader->message);
        free(rows);
        return 1;
    }
    if (png_get_bit_depth(png, info) == 16) png_set_swap(png); /* PNG is big-endian */
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    size_t row_bytes = png_get_rowbytes(png, info);
    if (row_bytes * height != size) {
        free(rows);
        snprintf(message, UNET_MESSAGE_CAPACITY, "the pixel buffer (%zu bytes) does not fit the image (%zu)", size,
                 row_bytes * height);
        return 1;
    }
    for (uint32_t y = 0; y < height; y++) rows[y] = (png_bytep)pixels + (size_t)y * row_bytes;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    free(rows);
    return 0;
}

int unet_png_write(const char *path, const void *pixels, uint32_t width, uint32_t height, int channels,
                   int bit_depth, char *message) {
    char error[UNET_MESSAGE_CAPACITY] = "";
    FILE *volatile file = NULL;
    png_bytep *volatile rows = NULL;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, error, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        copy_message(message, "out of memory");
        if (png) png_destroy_write_struct(&png, NULL);
        return 1;
    }
    if (setjmp(png_jmpbuf(png))) {
        copy_message(message, error);
        png_destroy_write_struct(&png, &info);
        free(rows);
        if (file) fclose(file);
        return 1;
    }
    file = fopen(path, "wb");
    if (!file) {
        snprintf(error, sizeof error, "cannot create the file: %s", strerror(errno));
        png_error(png, error);
    }
    rows = calloc(height ? height : 1, sizeof(png_bytep));
    if (!rows) png_error(png, "out of memory");
    png_init_io(png, file);
    png_set_IHDR(png, info, width, height, bit_depth, channels == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_set_compression_level(png, 6);
    png_write_info(png, info);
    if (bit_depth == 16) png_set_swap(png);
    size_t row_bytes = (size_t)width * (size_t)channels * (size_t)(bit_depth / 8);
    for (uint32_t y = 0; y < height; y++) rows[y] = (png_bytep)pixels + (size_t)y * row_bytes;
    png_write_image(png, rows);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    free(rows);
    int failed = ferror(file) != 0;
    if (fclose(file) != 0 || failed) {
        snprintf(message, UNET_MESSAGE_CAPACITY, "cannot write the file: %s", strerror(errno));
        return 1;
    }
    return 0;
}
