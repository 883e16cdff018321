#ifndef UNET_CKPT_CFILESYNC_SHIM_H
#define UNET_CKPT_CFILESYNC_SHIM_H
/* Linux's sync_file_range, which Swift's Glibc module does not show (it is behind _GNU_SOURCE). */
#ifdef __linux__
#include <sys/types.h>
extern int sync_file_range(int fd, long long offset, long long count, unsigned int flags);
/* Asks the kernel to start writing the file's dirty pages to disk now, without waiting. */
static inline int unet_start_writeback(int fd) { return sync_file_range(fd, 0, 0, 2 /* SYNC_FILE_RANGE_WRITE */); }
#else
static inline int unet_start_writeback(int fd) { (void)fd; return 0; }
#endif
#endif
