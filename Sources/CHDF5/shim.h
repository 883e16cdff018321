/* HDF5 for Swift: the library's headers, plus one static inline function per macro that Swift
 * cannot import (HDF5's object-like macros expand to global ids or casts). Prefix: chdf5_. */
#ifndef UNET_CKPT_CHDF5_SHIM_H
#define UNET_CKPT_CHDF5_SHIM_H

/* Debian's serial build, whose static library the module map links (docs/performance.md,
 * "Start-up"); elsewhere the headers on the include path. */
#if __has_include(<hdf5/serial/hdf5.h>)
#include <hdf5/serial/hdf5.h>
#include <hdf5/serial/H5PLpublic.h>
#else
#include <hdf5.h>
#include <H5PLpublic.h>
#endif
#include <stdio.h>
#include <string.h>

static inline hid_t chdf5_p_default(void) { return H5P_DEFAULT; }
static inline hid_t chdf5_s_all(void) { return H5S_ALL; }
static inline hid_t chdf5_e_default(void) { return H5E_DEFAULT; }

static inline unsigned chdf5_acc_rdonly(void) { return H5F_ACC_RDONLY; }
static inline unsigned chdf5_acc_rdwr(void) { return H5F_ACC_RDWR; }
static inline unsigned chdf5_acc_trunc(void) { return H5F_ACC_TRUNC; }
static inline unsigned chdf5_acc_excl(void) { return H5F_ACC_EXCL; }
static inline unsigned chdf5_obj_all(void) { return H5F_OBJ_ALL; }

static inline hid_t chdf5_p_file_access(void) { return H5P_FILE_ACCESS; }
static inline hid_t chdf5_p_file_create(void) { return H5P_FILE_CREATE; }
static inline hid_t chdf5_p_dataset_create(void) { return H5P_DATASET_CREATE; }
static inline hid_t chdf5_p_group_create(void) { return H5P_GROUP_CREATE; }
static inline hid_t chdf5_p_link_create(void) { return H5P_LINK_CREATE; }

static inline hid_t chdf5_t_ieee_f32le(void) { return H5T_IEEE_F32LE; }
static inline hid_t chdf5_t_ieee_f64le(void) { return H5T_IEEE_F64LE; }
static inline hid_t chdf5_t_std_u16le(void) { return H5T_STD_U16LE; }
static inline hid_t chdf5_t_std_u32le(void) { return H5T_STD_U32LE; }
static inline hid_t chdf5_t_std_i64le(void) { return H5T_STD_I64LE; }
static inline hid_t chdf5_t_native_float(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t chdf5_t_native_double(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t chdf5_t_native_uint16(void) { return H5T_NATIVE_UINT16; }
static inline hid_t chdf5_t_native_uint32(void) { return H5T_NATIVE_UINT32; }
static inline hid_t chdf5_t_native_int64(void) { return H5T_NATIVE_INT64; }
static inline hid_t chdf5_t_native_uint8(void) { return H5T_NATIVE_UINT8; }
static inline hid_t chdf5_t_c_s1(void) { return H5T_C_S1; }
static inline size_t chdf5_t_variable(void) { return H5T_VARIABLE; }
static inline haddr_t chdf5_haddr_undef(void) { return HADDR_UNDEF; }

static inline H5Z_filter_t chdf5_z_filter_deflate(void) { return H5Z_FILTER_DEFLATE; }
static inline H5Z_filter_t chdf5_z_filter_shuffle(void) { return H5Z_FILTER_SHUFFLE; }

/* Turns HDF5's automatic printing of its error stack off for this thread and forbids loading
 * filter plugins (a file must never make the library load code). */
static inline void chdf5_quiet_and_no_plugins(void) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    H5PLset_loading_state(0);
}

typedef struct { char *buffer; size_t capacity; size_t used; } chdf5_error_text;

static herr_t chdf5_error_walker(unsigned n, const H5E_error2_t *err, void *data) {
    chdf5_error_text *text = (chdf5_error_text *)data;
    if (err == NULL || err->desc == NULL || text->used + 1 >= text->capacity) return 0;
    const char *separator = text->used == 0 ? "" : "; ";
    int written = snprintf(text->buffer + text->used, text->capacity - text->used, "%s%s (%s)",
                           separator, err->desc, err->func_name ? err->func_name : "?");
    if (written > 0) {
        size_t w = (size_t)written;
        text->used = text->used + w < text->capacity ? text->used + w : text->capacity - 1;
    }
    (void)n;
    return 0;
}

/* Writes the current thread's HDF5 error stack, innermost first, into buffer; returns its length. */
static inline size_t chdf5_error_stack_text(char *buffer, size_t capacity) {
    if (capacity == 0) return 0;
    buffer[0] = 0;
    chdf5_error_text text = {buffer, capacity, 0};
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, chdf5_error_walker, &text);
    return text.used;
}

static inline void chdf5_error_clear(void) { H5Eclear2(H5E_DEFAULT); }



/* Version-independent helpers (HDF5 maps some names to different functions per API version). */

/* 1 when `name` under `loc` is a hard link, 0 for soft or external links, negative on error. */
static inline int chdf5_is_hard_link(hid_t loc, const char *name) {
    H5L_info_t info;
    if (H5Lget_info(loc, name, &info, H5P_DEFAULT) < 0) return -1;
    return info.type == H5L_TYPE_HARD ? 1 : 0;
}

static herr_t chdf5_attribute_counter(hid_t loc, const char *name, const H5A_info_t *info, void *data) {
    (void)loc; (void)name; (void)info;
    *(hsize_t *)data += 1;
    return 0;
}

/* The number of attributes of an object, or a negative value on error. */
static inline long long chdf5_attribute_count(hid_t object) {
    hsize_t count = 0;
    hsize_t index = 0;
    if (H5Aiterate2(object, H5_INDEX_NAME, H5_ITER_INC, &index, chdf5_attribute_counter, &count) < 0) return -1;
    return (long long)count;
}
#endif
