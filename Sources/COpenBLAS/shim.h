#ifndef UNET_CKPT_COPENBLAS_SHIM_H
#define UNET_CKPT_COPENBLAS_SHIM_H
/* The OpenBLAS entry points the forward pass uses. UNetInference loads libopenblas with dlopen
   on first use (BLAS.swift), so the commands that never run a network never load it, nor start
   the threads it starts when it loads. The constants are CBLAS's standard values. */
enum {
    UNET_CBLAS_ROW_MAJOR = 101,
    UNET_CBLAS_NO_TRANS = 111,
    UNET_CBLAS_TRANS = 112
};
typedef void (*unet_cblas_sgemm)(int order, int transA, int transB, int m, int n, int k, float alpha,
                                 const float *a, int lda, const float *b, int ldb, float beta, float *c,
                                 int ldc);
typedef void (*unet_openblas_set_num_threads)(int threads);
typedef int (*unet_openblas_get_num_threads)(void);
typedef char *(*unet_openblas_get_corename)(void);
/* oneDNN's row-major sgemm (dnnl.h: dnnl_sgemm) and its version, also loaded with dlopen. */
typedef int (*unet_dnnl_sgemm)(char transa, char transb, long m, long n, long k, float alpha, const float *a,
                               long lda, const float *b, long ldb, float beta, float *c, long ldc);
typedef struct {
    int major, minor, patch;
    const char *hash;
    unsigned cpu_runtime, gpu_runtime;
} unet_dnnl_version_t;
typedef const unet_dnnl_version_t *(*unet_dnnl_version)(void);
#endif
