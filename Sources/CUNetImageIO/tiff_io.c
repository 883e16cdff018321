/* libtiff's open with per-handle error and warning handlers (libtiff 4.5's TIFFOpenOptions), so
 * that messages are recorded instead of printed, and typed wrappers of the variadic field calls. */
#include "unet_image_io.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int on_error(TIFF *tiff, void *data, const char *module, const char *format, va_list arguments) {
    (void)tiff;
    unet_tiff *handle = data;
    if (handle && handle->message[0] == 0) { /* keep the first error: later ones follow from it */
        char text[UNET_MESSAGE_CAPACITY];
        vsnprintf(text, sizeof text, format, arguments);
        if (module && module[0])
            snprintf(handle->message, UNET_MESSAGE_CAPACITY, "%s: %s", module, text);
        else
            snprintf(handle->message, UNET_MESSAGE_CAPACITY, "%s", text);
    }
    return 1; /* handled: libtiff prints nothing */
}

static int on_warning(TIFF *tiff, void *data, const char *module, const char *format, va_list arguments) {
    (void)tiff;
    (void)data;
    (void)module;
    (void)format;
    (void)arguments;
    return 1;
}

unet_tiff *unet_tiff_open(const char *path, const char *mode, size_t max_alloc) {
    unet_tiff *handle = calloc(1, sizeof *handle);
    if (!handle) return NULL;
    TIFFOpenOptions *options = TIFFOpenOptionsAlloc();
    if (!options) {
        snprintf(handle->message, UNET_MESSAGE_CAPACITY, "out of memory");
        return handle;
    }
    TIFFOpenOptionsSetErrorHandlerExtR(options, on_error, handle);
    TIFFOpenOptionsSetWarningHandlerExtR(options, on_warning, handle);
    TIFFOpenOptionsSetMaxSingleMemAlloc(options, (tmsize_t)max_alloc);
    handle->tiff = TIFFOpenExt(path, mode, options);
    TIFFOpenOptionsFree(options);
    if (!handle->tiff && handle->message[0] == 0)
        snprintf(handle->message, UNET_MESSAGE_CAPACITY, "libtiff cannot open the file");
    return handle;
}

void unet_tiff_close(unet_tiff *handle) {
    if (!handle) return;
    if (handle->tiff) TIFFClose(handle->tiff);
    free(handle);
}

int unet_tiff_get_u16(TIFF *tiff, uint32_t tag, uint16_t *value) { return TIFFGetField(tiff, tag, value); }
int unet_tiff_get_u32(TIFF *tiff, uint32_t tag, uint32_t *value) { return TIFFGetField(tiff, tag, value); }
int unet_tiff_get_defaulted_u16(TIFF *tiff, uint32_t tag, uint16_t *value) {
    return TIFFGetFieldDefaulted(tiff, tag, value);
}

int unet_tiff_get_defaulted_u32(TIFF *tiff, uint32_t tag, uint32_t *value) {
    return TIFFGetFieldDefaulted(tiff, tag, value);
}

int unet_tiff_extra_samples(TIFF *tiff) {
    uint16_t count = 0;
    uint16_t *kinds = NULL;
    if (!TIFFGetField(tiff, TIFFTAG_EXTRASAMPLES, &count, &kinds)) return 0;
    return count;
}

int unet_tiff_set_u16(TIFF *tiff, uint32_t tag, uint16_t value) { return TIFFSetField(tiff, tag, (int)value); }
int unet_tiff_set_u32(TIFF *tiff, uint32_t tag, uint32_t value) { return TIFFSetField(tiff, tag, value); }
int unet_tiff_set_string(TIFF *tiff, uint32_t tag, const char *value) { return TIFFSetField(tiff, tag, value); }
int unet_tiff_set_page_number(TIFF *tiff, uint16_t page, uint16_t pages) {
    return TIFFSetField(tiff, TIFFTAG_PAGENUMBER, (int)page, (int)pages);
}
