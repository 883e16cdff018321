#include "unet_kernels.h"

#include <string.h>

#if defined(__x86_64__) && defined(__clang__)
#define UNET_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define UNET_CLONES
#endif

/* Tiles are walked in segments of one tile row: at most this many tiles per segment. */
enum { SEGMENT = 64 };

size_t unet_winograd4_scratch(ptrdiff_t count) {
    (void)count;
    /* input: 6 rows of 4 * SEGMENT + 2 values and 36 rows of SEGMENT; output: 24 rows and 4 rows
       of 4 * SEGMENT. */
    return 6 * (4 * SEGMENT + 8) + 36 * SEGMENT + 64;
}

/* One segment of n tiles of one tile row, one channel: rows is 6 rows of 4n + 2 values (the
   input, zero-padded), written to v[xi * xi_stride + t]. */
__attribute__((always_inline)) static inline void input_segment(const float *restrict rows, ptrdiff_t pitch, ptrdiff_t n, float *restrict tmp,
                                 float *restrict v, ptrdiff_t xi_stride) {
    /* d B along each row: tmp[(i * 6 + j) * SEGMENT + t]. */
    for (int i = 0; i < 6; i++) {
        const float *restrict r = rows + i * pitch;
        float *restrict o = tmp + i * 6 * SEGMENT;
        for (ptrdiff_t t = 0; t < n; t++) {
            const float d0 = r[4 * t], d1 = r[4 * t + 1], d2 = r[4 * t + 2], d3 = r[4 * t + 3],
                        d4 = r[4 * t + 4], d5 = r[4 * t + 5];
            o[0 * SEGMENT + t] = 4 * d0 - 5 * d2 + d4;
            o[1 * SEGMENT + t] = -4 * d1 - 4 * d2 + d3 + d4;
            o[2 * SEGMENT + t] = 4 * d1 - 4 * d2 - d3 + d4;
            o[3 * SEGMENT + t] = -2 * d1 - d2 + 2 * d3 + d4;
            o[4 * SEGMENT + t] = 2 * d1 - d2 - 2 * d3 + d4;
            o[5 * SEGMENT + t] = 4 * d1 - 5 * d3 + d5;
        }
    }
    /* Bt (d B) down each column. */
    for (int j = 0; j < 6; j++) {
        const float *restrict c0 = tmp + (0 * 6 + j) * SEGMENT, *restrict c1 = tmp + (1 * 6 + j) * SEGMENT,
                             *restrict c2 = tmp + (2 * 6 + j) * SEGMENT, *restrict c3 = tmp + (3 * 6 + j) * SEGMENT,
                             *restrict c4 = tmp + (4 * 6 + j) * SEGMENT, *restrict c5 = tmp + (5 * 6 + j) * SEGMENT;
        float *restrict o0 = v + (0 * 6 + j) * xi_stride, *restrict o1 = v + (1 * 6 + j) * xi_stride,
                        *restrict o2 = v + (2 * 6 + j) * xi_stride, *restrict o3 = v + (3 * 6 + j) * xi_stride,
                        *restrict o4 = v + (4 * 6 + j) * xi_stride, *restrict o5 = v + (5 * 6 + j) * xi_stride;
        for (ptrdiff_t t = 0; t < n; t++) {
            const float d0 = c0[t], d1 = c1[t], d2 = c2[t], d3 = c3[t], d4 = c4[t], d5 = c5[t];
            o0[t] = 4 * d0 - 5 * d2 + d4;
            o1[t] = -4 * d1 - 4 * d2 + d3 + d4;
            o2[t] = 4 * d1 - 4 * d2 - d3 + d4;
            o3[t] = -2 * d1 - d2 + 2 * d3 + d4;
            o4[t] = 2 * d1 - d2 - 2 * d3 + d4;
            o5[t] = 4 * d1 - 5 * d3 + d5;
        }
    }
}

UNET_CLONES
void unet_winograd4_weights(const float *weight, ptrdiff_t out_channels, ptrdiff_t in_channels, ptrdiff_t depth,
                            ptrdiff_t first_out, ptrdiff_t end_out, float *u, float *scratch) {
    const ptrdiff_t row = depth * in_channels, matrix = out_channels * row;
    /* scratch: the 9 taps of one output channel as 9 rows of `row` (then G g as 18, in place of
       nothing: the 36 results go straight to u, row by row). */
    float *restrict taps = scratch, *restrict left = scratch + 9 * row;
    for (ptrdiff_t o = first_out; o < end_out; o++) {
        const float *w = weight + o * in_channels * depth * 9;
        for (ptrdiff_t c = 0; c < in_channels; c++)
            for (ptrdiff_t kz = 0; kz < depth; kz++)
                for (int tap = 0; tap < 9; tap++) taps[tap * row + kz * in_channels + c] = w[(c * depth + kz) * 9 + tap];
        /* G g: left[(i * 3 + b) * row + r], rows i of G, columns b of g. */
        for (int b = 0; b < 3; b++) {
            const float *restrict g0 = taps + b * row, *restrict g1 = taps + (3 + b) * row,
                                 *restrict g2 = taps + (6 + b) * row;
            for (ptrdiff_t r = 0; r < row; r++) {
                const float a0 = g0[r], a1 = g1[r], a2 = g2[r];
                left[(0 * 3 + b) * row + r] = a0 * 0.25f;
                left[(1 * 3 + b) * row + r] = (a0 + a1 + a2) * (-1.0f / 6);
                left[(2 * 3 + b) * row + r] = (a0 - a1 + a2) * (-1.0f / 6);
                left[(3 * 3 + b) * row + r] = a0 * (1.0f / 24) + a1 * (1.0f / 12) + a2 * (1.0f / 6);
                left[(4 * 3 + b) * row + r] = a0 * (1.0f / 24) - a1 * (1.0f / 12) + a2 * (1.0f / 6);
                left[(5 * 3 + b) * row + r] = a2;
            }
        }
        /* (G g) Gt: u[(i * 6 + j) * matrix + o * row + r]. */
        for (int i = 0; i < 6; i++) {
            const float *restrict l0 = left + (i * 3) * row, *restrict l1 = left + (i * 3 + 1) * row,
                                 *restrict l2 = left + (i * 3 + 2) * row;
            float *restrict u0 = u + (i * 6 + 0) * matrix + o * row, *restrict u1 = u + (i * 6 + 1) * matrix + o * row,
                            *restrict u2 = u + (i * 6 + 2) * matrix + o * row,
                            *restrict u3 = u + (i * 6 + 3) * matrix + o * row,
                            *restrict u4 = u + (i * 6 + 4) * matrix + o * row,
                            *restrict u5 = u + (i * 6 + 5) * matrix + o * row;
            for (ptrdiff_t r = 0; r < row; r++) {
                const float a0 = l0[r], a1 = l1[r], a2 = l2[r];
                u0[r] = a0 * 0.25f;
                u1[r] = (a0 + a1 + a2) * (-1.0f / 6);
                u2[r] = (a0 - a1 + a2) * (-1.0f / 6);
                u3[r] = a0 * (1.0f / 24) + a1 * (1.0f / 12) + a2 * (1.0f / 6);
                u4[r] = a0 * (1.0f / 24) - a1 * (1.0f / 12) + a2 * (1.0f / 6);
                u5[r] = a2;
            }
        }
    }
}

UNET_CLONES
void unet_winograd4_input(const float *input, ptrdiff_t channels, ptrdiff_t plane_stride, ptrdiff_t height,
                          ptrdiff_t width, ptrdiff_t pad_top, ptrdiff_t pad_left, ptrdiff_t tiles_x,
                          ptrdiff_t first, ptrdiff_t count, float *v, ptrdiff_t xi_stride, ptrdiff_t ld,
                          float *scratch) {
    const ptrdiff_t pitch = 4 * SEGMENT + 8;
    float *rows = scratch, *tmp = scratch + 6 * pitch;
    ptrdiff_t k = 0;
    while (k < count) {
        const ptrdiff_t tile = first + k, ty = tile / tiles_x, tx = tile % tiles_x;
        ptrdiff_t n = tiles_x - tx;
        if (n > count - k) n = count - k;
        if (n > SEGMENT) n = SEGMENT;
        const ptrdiff_t top = 4 * ty - pad_top, left = 4 * tx - pad_left, span = 4 * n + 2;
        /* The columns left ..< left + span that are inside the plane. */
        ptrdiff_t x0 = left < 0 ? -left : 0, x1 = width - left < span ? width - left : span;
        if (x0 > span) x0 = span;
        if (x1 < x0) x1 = x0;
        for (ptrdiff_t c = 0; c < channels; c++) {
            const float *plane = input + c * plane_stride;
            for (int i = 0; i < 6; i++) {
                float *row = rows + i * pitch;
                const ptrdiff_t y = top + i;
                if (y < 0 || y >= height || x0 == x1) {
                    memset(row, 0, (size_t)span * sizeof(float));
                    continue;
                }
                if (x0 > 0) memset(row, 0, (size_t)x0 * sizeof(float));
                memcpy(row + x0, plane + y * width + left + x0, (size_t)(x1 - x0) * sizeof(float));
                if (x1 < span) memset(row + x1, 0, (size_t)(span - x1) * sizeof(float));
            }
            input_segment(rows, pitch, n, tmp, v + c * ld + k, xi_stride);
        }
        k += n;
    }
}

UNET_CLONES
void unet_winograd4_output(const float *m, ptrdiff_t channels, ptrdiff_t xi_stride, ptrdiff_t ld,
                           ptrdiff_t out_height, ptrdiff_t out_width, ptrdiff_t tiles_x, ptrdiff_t first,
                           ptrdiff_t count, const float *bias, int activate, float slope, float *output,
                           ptrdiff_t plane_stride, float *scratch) {
    float *restrict s = scratch;                 /* 24 rows of SEGMENT */
    float *restrict line = scratch + 24 * SEGMENT; /* 4 rows of 4 * SEGMENT */
    ptrdiff_t k = 0;
    while (k < count) {
        const ptrdiff_t tile = first + k, ty = tile / tiles_x, tx = tile % tiles_x;
        ptrdiff_t n = tiles_x - tx;
        if (n > count - k) n = count - k;
        if (n > SEGMENT) n = SEGMENT;
        const ptrdiff_t y0 = 4 * ty, x0 = 4 * tx;
        ptrdiff_t columns = out_width - x0 < 4 * n ? out_width - x0 : 4 * n;
        for (ptrdiff_t o = 0; o < channels; o++) {
            const float *mo = m + o * ld + k;
            /* At m down each column j: s[(i * 6 + j) * SEGMENT + t]. */
            for (int j = 0; j < 6; j++) {
                const float *restrict m0 = mo + (0 * 6 + j) * xi_stride, *restrict m1 = mo + (1 * 6 + j) * xi_stride,
                                     *restrict m2 = mo + (2 * 6 + j) * xi_stride,
                                     *restrict m3 = mo + (3 * 6 + j) * xi_stride,
                                     *restrict m4 = mo + (4 * 6 + j) * xi_stride,
                                     *restrict m5 = mo + (5 * 6 + j) * xi_stride;
                float *restrict s0 = s + (0 * 6 + j) * SEGMENT, *restrict s1 = s + (1 * 6 + j) * SEGMENT,
                                *restrict s2 = s + (2 * 6 + j) * SEGMENT, *restrict s3 = s + (3 * 6 + j) * SEGMENT;
                for (ptrdiff_t t = 0; t < n; t++) {
                    const float a1 = m1[t] + m2[t], a2 = m1[t] - m2[t], b1 = m3[t] + m4[t], b2 = m3[t] - m4[t];
                    s0[t] = m0[t] + a1 + b1;
                    s1[t] = a2 + 2 * b2;
                    s2[t] = a1 + 4 * b1;
                    s3[t] = a2 + 8 * b2 + m5[t];
                }
            }
            const float b = bias[o];
            /* (At m) A along each row, bias and activation: line[i * 4 * SEGMENT + 4 t + j]. */
            for (int i = 0; i < 4; i++) {
                const float *restrict r0 = s + (i * 6 + 0) * SEGMENT, *restrict r1 = s + (i * 6 + 1) * SEGMENT,
                                     *restrict r2 = s + (i * 6 + 2) * SEGMENT, *restrict r3 = s + (i * 6 + 3) * SEGMENT,
                                     *restrict r4 = s + (i * 6 + 4) * SEGMENT, *restrict r5 = s + (i * 6 + 5) * SEGMENT;
                float *restrict out = line + i * 4 * SEGMENT;
                for (ptrdiff_t t = 0; t < n; t++) {
                    const float a1 = r1[t] + r2[t], a2 = r1[t] - r2[t], b1 = r3[t] + r4[t], b2 = r3[t] - r4[t];
                    float y0v = r0[t] + a1 + b1 + b, y1v = a2 + 2 * b2 + b, y2v = a1 + 4 * b1 + b,
                          y3v = a2 + 8 * b2 + r5[t] + b;
                    if (activate) {
                        y0v = y0v < 0 ? y0v * slope : y0v;
                        y1v = y1v < 0 ? y1v * slope : y1v;
                        y2v = y2v < 0 ? y2v * slope : y2v;
                        y3v = y3v < 0 ? y3v * slope : y3v;
                    }
                    out[4 * t] = y0v;
                    out[4 * t + 1] = y1v;
                    out[4 * t + 2] = y2v;
                    out[4 * t + 3] = y3v;
                }
            }
            float *plane = output + o * plane_stride;
            for (int i = 0; i < 4 && y0 + i < out_height; i++)
                memcpy(plane + (y0 + i) * out_width + x0, line + i * 4 * SEGMENT, (size_t)columns * sizeof(float));
        }
        k += n;
    }
}
