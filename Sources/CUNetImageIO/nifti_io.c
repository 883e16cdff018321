/* NIfTI-1 and NIfTI-2 through libnifti2 (nifti2_io, Debian's libnifti2-dev 3.0.1).
 *
 * libnifti prints its errors and warnings to stderr, many of them whatever the debug level, and
 * never exits. Each entry point here therefore runs with the process's C `stderr` (an assignable
 * variable in glibc) pointed at a memory stream, under one lock (libnifti's options are global),
 * and turns the first line it printed into `message`.
 *
 * Reading takes the header from nifti_read_header (the 348 or 540 bytes only, so extensions are
 * never read or allocated) and converts it with nifti_convert_n1hdr2nim / n2hdr2nim; the voxels
 * are then read piece by piece by the caller through znzlib, so a header that claims more data
 * than the file holds costs no more memory than the data there is, and NaN and infinities stay
 * as stored (nifti_read_buffer would set them to 0). Writing builds the header with
 * nifti_convert_nim2n1hdr / nim2n2hdr and writes it, an empty extender and the voxels with
 * znzlib: libnifti 3.0.1's nifti_image_write writes NIfTI-1 whenever the sizes fit (and an
 * `ni1` pair for a NIfTI-2 image), reports no write errors, and its NIfTI-2 magic is short. */
#include "unet_image_io.h"

#include <nifti/nifti2_io.h>

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

static pthread_mutex_t nifti_lock = PTHREAD_MUTEX_INITIALIZER;

typedef struct {
    FILE *saved;
    FILE *stream;
    char *text;
    size_t size;
} captured_stderr;

static void quiet_begin(captured_stderr *capture) {
    pthread_mutex_lock(&nifti_lock);
    fflush(stderr);
    capture->saved = stderr;
    capture->text = NULL;
    capture->size = 0;
    capture->stream = open_memstream(&capture->text, &capture->size);
    if (!capture->stream) capture->stream = fopen("/dev/null", "w");
    if (capture->stream) stderr = capture->stream;
    nifti_set_debug_level(1); /* the reasons for a refused header, into the capture */
    nifti_set_allow_upper_fext(1);
}

/* Ends the capture. When `message` is not empty it is kept and libnifti's first line is appended
 * after ": " if `append`; when it is empty it becomes that line. */
static void quiet_end(captured_stderr *capture, char *message, int append) {
    if (capture->stream) {
        fflush(capture->stream);
        stderr = capture->saved;
        fclose(capture->stream);
        const char *line = capture->text ? capture->text : "";
        while (*line == '*' || *line == '+' || *line == '-' || *line == ' ' || *line == '\n') line++;
        if (strncmp(line, "ERROR", 5) == 0 || strncmp(line, "WARNING", 7) == 0) {
            while (*line && *line != ' ') line++;
            while (*line == ' ' || *line == ':') line++;
        }
        size_t length = strcspn(line, "\n");
        if (message && length > 0) {
            size_t used = strlen(message);
            if (used == 0)
                snprintf(message, UNET_MESSAGE_CAPACITY, "%.*s", (int)length, line);
            else if (append)
                snprintf(message + used, UNET_MESSAGE_CAPACITY - used, " (libnifti: %.*s)", (int)length, line);
        }
        free(capture->text);
    }
    pthread_mutex_unlock(&nifti_lock);
}

struct unet_nifti_reader {
    znzFile file;
    int swapsize; /* bytes to swap per value, 0 when the file has this machine's byte order */
};

static void copy_matrix(double *target, const nifti_dmat44 *matrix) {
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++) target[r * 4 + c] = matrix->m[r][c];
}

/* The fields unet_nifti_header shares with nifti_image, by name (copied both ways). */
#define UNET_NIFTI_FIELDS(X)                                                                            \
    X(scl_slope) X(scl_inter) X(cal_min) X(cal_max) X(qform_code) X(sform_code) X(quatern_b) X(quatern_c) \
    X(quatern_d) X(qoffset_x) X(qoffset_y) X(qoffset_z) X(qfac) X(xyz_units) X(time_units) X(freq_dim)   \
    X(phase_dim) X(slice_dim) X(slice_code) X(slice_start) X(slice_end) X(slice_duration) X(toffset)     \
    X(intent_code)
#define UNET_TO_HEADER(field) h->field = nim->field;
#define UNET_TO_IMAGE(field) nim->field = h->field;

static void fill_header(unet_nifti_header *h, const nifti_image *nim, int version) {
    h->version = version;
    h->datatype = nim->datatype;
    h->bytes_per_voxel = nim->nbyper;
    for (int i = 0; i < 8; i++) h->dim[i] = nim->dim[i];
    for (int i = 1; i < 8; i++) h->pixdim[i] = nim->pixdim[i];
    h->pixdim[0] = nim->qform_code > 0 ? nim->qfac : 0;
    UNET_NIFTI_FIELDS(UNET_TO_HEADER)
    copy_matrix(h->qto_xyz, &nim->qto_xyz);
    copy_matrix(h->sto_xyz, &nim->sto_xyz);
    snprintf(h->descrip, sizeof h->descrip, "%.79s", nim->descrip);
    h->data_offset = nim->iname_offset;
}

/* Whether `magic` is NIfTI-`version`'s single-file magic ("n+1", "n+2"); else the reason. */
static int single_file_magic(const char *magic, int version, char *message) {
    const char pair[4] = {'n', 'i', (char)('0' + version), 0}, single[4] = {'n', '+', (char)('0' + version), 0};
    if (memcmp(magic, pair, 4) == 0)
        snprintf(message, UNET_MESSAGE_CAPACITY,
                 "a two-file NIfTI-%d header (magic ni%d, data in a .img); only single-file .nii and .nii.gz are "
                 "read", version, version);
    else if (memcmp(magic, single, 4) != 0)
        snprintf(message, UNET_MESSAGE_CAPACITY, "not a NIfTI-%d header (no n+%d magic)", version, version);
    else
        return 1;
    return 0;
}

/* libnifti casts NIfTI-1's float vox_offset to int (2^40 becomes INT_MIN, then 352): whether the
 * offset it uses is the one stated, rather than read the voxels from elsewhere. */
static int offset_as_stated(const nifti_1_header *n1, const nifti_image *nim, char *message) {
    nifti_1_header swapped = *n1;
    if (nim->byteorder != nifti_short_order()) swap_nifti_header(&swapped, 1);
    double stated = swapped.vox_offset;
    if (isfinite(stated) && (stated < (double)sizeof(nifti_1_header) || stated == (double)nim->iname_offset)) return 1;
    snprintf(message, UNET_MESSAGE_CAPACITY, "vox_offset %g is not a usable data offset", stated);
    return 0;
}

/* The header as libnifti converted it, or NULL with the reason in message. */
static nifti_image *read_header(const char *path, int *version, char *message) {
    void *raw = nifti_read_header(path, version, 0);
    nifti_image *nim = NULL;
    if (!raw) {
        snprintf(message, UNET_MESSAGE_CAPACITY, "cannot read the NIfTI header%s",
                 nifti_is_gzfile(path) ? " (gzip data that is damaged or truncated?)" : "");
        return NULL;
    }
    nifti_1_header *n1 = raw;
    nifti_2_header *n2 = raw;
    if (*version == 1 || *version == 2) {
        if (single_file_magic(*version == 1 ? n1->magic : n2->magic, *version, message)) {
            if (!(*version == 1 ? nifti_hdr1_looks_good(n1) : nifti_hdr2_looks_good(n2)))
                snprintf(message, UNET_MESSAGE_CAPACITY, "an invalid NIfTI-%d header", *version);
            else
                nim = *version == 1 ? nifti_convert_n1hdr2nim(*n1, path) : nifti_convert_n2hdr2nim(*n2, path);
        }
        if (nim && *version == 1 && !offset_as_stated(n1, nim, message)) {
            nifti_image_free(nim);
            nim = NULL;
        }
    } else if (*version == 0) {
        snprintf(message, UNET_MESSAGE_CAPACITY, "an ANALYZE 7.5 header, not NIfTI");
    } else {
        snprintf(message, UNET_MESSAGE_CAPACITY, "not a NIfTI-1 or NIfTI-2 header");
    }
    free(raw);
    if (!nim && message[0] == 0) snprintf(message, UNET_MESSAGE_CAPACITY, "libnifti cannot use the header");
    return nim;
}

unet_nifti_reader *unet_nifti_open(const char *path, unet_nifti_header *header, char *message) {
    memset(header, 0, sizeof *header);
    message[0] = 0;
    captured_stderr capture;
    quiet_begin(&capture);
    unet_nifti_reader *reader = NULL;
    int version = -1;
    nifti_image *nim = read_header(path, &version, message);
    if (nim && nim->nifti_type != NIFTI_FTYPE_NIFTI1_1 && nim->nifti_type != NIFTI_FTYPE_NIFTI2_1) {
        snprintf(message, UNET_MESSAGE_CAPACITY, "not a single-file NIfTI (type %d)", nim->nifti_type);
    } else if (nim) {
        fill_header(header, nim, version);
        int gz = nifti_is_gzfile(path);
        header->file_size = gz ? -1 : nifti_get_filesize(path);
        reader = calloc(1, sizeof *reader);
        if (!reader) {
            snprintf(message, UNET_MESSAGE_CAPACITY, "out of memory");
        } else {
            reader->swapsize = nim->swapsize > 1 && nim->byteorder != nifti_short_order() ? nim->swapsize : 0;
            reader->file = znzopen(path, "rb", gz);
            if (znz_isnull(reader->file)) {
                snprintf(message, UNET_MESSAGE_CAPACITY, "cannot open the data: %s", strerror(errno));
                free(reader);
                reader = NULL;
            } else if (znzseek(reader->file, (znz_off_t)nim->iname_offset, SEEK_SET) < 0) {
                snprintf(message, UNET_MESSAGE_CAPACITY, "cannot reach the data at offset %lld",
                         (long long)nim->iname_offset);
                znzclose(reader->file);
                free(reader);
                reader = NULL;
            }
        }
    }
    if (nim) nifti_image_free(nim);
    quiet_end(&capture, message, 1);
    return reader;
}

int64_t unet_nifti_read(unet_nifti_reader *reader, void *buffer, size_t bytes, char *message) {
    message[0] = 0;
    captured_stderr capture;
    quiet_begin(&capture);
    size_t got = znzread(buffer, 1, bytes, reader->file);
    int64_t result = (int64_t)got;
    if ((ssize_t)got < 0) {
        snprintf(message, UNET_MESSAGE_CAPACITY, "the compressed data is damaged");
        result = -1;
    } else if (reader->swapsize > 0) {
        nifti_swap_Nbytes((int64_t)(got / (size_t)reader->swapsize), reader->swapsize, buffer);
    }
    quiet_end(&capture, result < 0 ? message : NULL, 0);
    return result;
}

void unet_nifti_close(unet_nifti_reader *reader) {
    if (!reader) return;
    captured_stderr capture;
    quiet_begin(&capture);
    znzclose(reader->file);
    quiet_end(&capture, NULL, 0);
    free(reader);
}

static void copy_to_matrix(nifti_dmat44 *matrix, const double *source) {
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++) matrix->m[r][c] = source[r * 4 + c];
}

/* The header's fields on a nifti_image made by libnifti for its dimensions and datatype. */
static nifti_image *image_for(const unet_nifti_header *h) {
    nifti_image *nim = nifti_make_new_nim(h->dim, h->datatype, 0);
    if (!nim) return NULL;
    double *spacings[8] = {NULL, &nim->dx, &nim->dy, &nim->dz, &nim->dt, &nim->du, &nim->dv, &nim->dw};
    for (int i = 1; i < 8; i++) *spacings[i] = nim->pixdim[i] = h->pixdim[i];
    UNET_NIFTI_FIELDS(UNET_TO_IMAGE)
    copy_to_matrix(&nim->qto_xyz, h->qto_xyz);
    copy_to_matrix(&nim->sto_xyz, h->sto_xyz);
    snprintf(nim->descrip, sizeof nim->descrip, "%.79s", h->descrip);
    nim->nifti_type = h->version == 2 ? NIFTI_FTYPE_NIFTI2_1 : NIFTI_FTYPE_NIFTI1_1;
    /* the header, then the 4-byte extender (no extensions): 352 or 544, both multiples of 16 */
    nim->iname_offset = (h->version == 2 ? (int64_t)sizeof(nifti_2_header) : (int64_t)sizeof(nifti_1_header)) + 4;
    return nim;
}

int unet_nifti_write(const char *path, int compress, const unet_nifti_header *header, const void *data,
                     size_t bytes, char *message) {
    message[0] = 0;
    captured_stderr capture;
    quiet_begin(&capture);
    union {
        nifti_1_header n1;
        nifti_2_header n2;
    } binary;
    size_t header_size = header->version == 2 ? sizeof binary.n2 : sizeof binary.n1;
    nifti_image *nim = image_for(header);
    znzFile file = NULL;
    int status = 1;
    if (!nim) {
        snprintf(message, UNET_MESSAGE_CAPACITY, "libnifti cannot make an image of these dimensions");
    } else if ((int64_t)bytes != nim->nvox * nim->nbyper) {
        snprintf(message, UNET_MESSAGE_CAPACITY, "%zu bytes of voxels for %lld voxels of %d bytes", bytes,
                 (long long)nim->nvox, nim->nbyper);
    } else if ((header->version == 2 ? nifti_convert_nim2n2hdr(nim, &binary.n2)
                                     : nifti_convert_nim2n1hdr(nim, &binary.n1)) != 0) {
        snprintf(message, UNET_MESSAGE_CAPACITY, "libnifti cannot make a NIfTI-%d header", header->version);
    } else {
        /* libnifti 3.0.1 sets only "n+2" of NIfTI-2's 8-byte magic, and then refuses what it wrote
         * (fixed upstream after 3.0.1): the rest is "\r\n\032\n", as the format says. */
        if (header->version == 2) memcpy(binary.n2.magic + 4, "\r\n\032\n", 4);
        file = znzopen(path, "wb", compress);
        if (znz_isnull(file)) {
            snprintf(message, UNET_MESSAGE_CAPACITY, "cannot create the file: %s", strerror(errno));
        } else {
            const char extender[4] = {0, 0, 0, 0};
            int written = znzwrite(&binary, 1, header_size, file) == header_size
                          && znzwrite(extender, 1, 4, file) == 4
                          && (bytes == 0 || znzwrite(data, 1, bytes, file) == bytes);
            int closed = znzclose(file) == 0;
            if (!written || !closed)
                snprintf(message, UNET_MESSAGE_CAPACITY, "cannot write the file: %s", strerror(errno));
            else
                status = 0;
        }
    }
    if (nim) nifti_image_free(nim);
    quiet_end(&capture, message, status != 0);
    return status;
}

const char *unet_nifti_datatype_name(int datatype) { return nifti_datatype_string(datatype); }
