#ifndef UNET_CKPT_KERNELS_H
#define UNET_CKPT_KERNELS_H
/* The input and output transforms of Winograd's F(4x4, 3x3) (UNetInference/Layers/Winograd.swift
   runs the matrix products between them). Each is compiled for AVX-512, AVX2 and baseline x86-64
   (or the target's own vectors elsewhere) and picks the variant for the CPU when first called
   (target_clones), so one binary runs at its best on any x86-64 CPU, Intel or AMD. */
#include <stddef.h>

/* Floats of scratch one call needs for a block of `count` tiles. */
size_t unet_winograd4_scratch(ptrdiff_t count);

/* U = G g Gt for OI[D]HW 3x3 weights of `depth` planes:
   u[xi * (out_channels * depth * in_channels) + o * depth * in_channels + kz * in_channels + c], for the
   output channels first_out ..< end_out; scratch holds 27 * depth * in_channels floats. */
void unet_winograd4_weights(const float *weight, ptrdiff_t out_channels, ptrdiff_t in_channels, ptrdiff_t depth,
                            ptrdiff_t first_out, ptrdiff_t end_out, float *u, float *scratch);

/* V = Bt d B for `channels` planes of `height` x `width` (one every `plane_stride` floats) and the
   tiles first ..< first + count (row-major over tiles_x tiles per row; tile (ty, tx) reads rows
   4 ty - pad_top ..< + 6 and columns 4 tx - pad_left ..< + 6, zero outside the plane). Writes
   v[xi * xi_stride + c * ld + k] for the 36 positions xi, channel c, tile k of the block. */
void unet_winograd4_input(const float *input, ptrdiff_t channels, ptrdiff_t plane_stride, ptrdiff_t height,
                          ptrdiff_t width, ptrdiff_t pad_top, ptrdiff_t pad_left, ptrdiff_t tiles_x,
                          ptrdiff_t first, ptrdiff_t count, float *v, ptrdiff_t xi_stride, ptrdiff_t ld,
                          float *scratch);

/* Y = At m A for `channels` output channels from m[xi * xi_stride + o * ld + k], plus bias[o], then
   y < 0 ? y * slope : y when `activate` (ReLU: slope 0, LeakyReLU), into planes of
   out_height x out_width (one every `plane_stride` floats); tile (ty, tx) writes rows 4 ty ..< + 4
   and columns 4 tx ..< + 4 that are inside the plane. */
void unet_winograd4_output(const float *m, ptrdiff_t channels, ptrdiff_t xi_stride, ptrdiff_t ld,
                           ptrdiff_t out_height, ptrdiff_t out_width, ptrdiff_t tiles_x, ptrdiff_t first,
                           ptrdiff_t count, const float *bias, int activate, float slope, float *output,
                           ptrdiff_t plane_stride, float *scratch);

/* The sum of x[0 ..< n] and of (x - mean)^2, in double precision (eight partial sums, so the
   compiler can use vectors). */
double unet_sum(const float *x, ptrdiff_t n);
double unet_squared_deviations(const float *x, ptrdiff_t n, double mean);

/* x = x * scale + shift, then x < 0 ? x * slope : x when `activate`, for x[0 ..< n]. */
void unet_scale_shift(float *x, ptrdiff_t n, float scale, float shift, int activate, float slope);

/* x < 0 ? x * slope : x for x[0 ..< n] (ReLU: slope 0). */
void unet_leaky(float *x, ptrdiff_t n, float slope);
#endif
