#include "unet_kernels.h"

#if defined(__x86_64__) && defined(__clang__)
#define UNET_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define UNET_CLONES
#endif

UNET_CLONES
double unet_sum(const float *x, ptrdiff_t n) {
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    ptrdiff_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += (double)x[i + j];
    double total = 0;
    for (; i < n; i++) total += (double)x[i];
    return total + ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

UNET_CLONES
double unet_squared_deviations(const float *x, ptrdiff_t n, double mean) {
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    ptrdiff_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) {
            const double d = (double)x[i + j] - mean;
            acc[j] += d * d;
        }
    double total = 0;
    for (; i < n; i++) {
        const double d = (double)x[i] - mean;
        total += d * d;
    }
    return total + ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

UNET_CLONES
void unet_scale_shift(float *x, ptrdiff_t n, float scale, float shift, int activate, float slope) {
    if (activate) {
        for (ptrdiff_t i = 0; i < n; i++) {
            const float y = x[i] * scale + shift;
            x[i] = y < 0 ? y * slope : y;
        }
    } else {
        for (ptrdiff_t i = 0; i < n; i++) x[i] = x[i] * scale + shift;
    }
}

UNET_CLONES
void unet_leaky(float *x, ptrdiff_t n, float slope) {
    for (ptrdiff_t i = 0; i < n; i++) x[i] = x[i] < 0 ? x[i] * slope : x[i];
}
