/* libnifti2 (Debian: libnifti2-dev, which also installs libniftiio-dev and libznz-dev) for Swift:
 * the format's constants (NIFTI_TYPE_*, NIFTI_XFORM_*, NIFTI_UNITS_*) from nifti1.h. The library
 * itself is called only from CUNetImageIO/nifti_io.c: its nifti2_io.h includes <znzlib.h> from
 * /usr/include/nifti, which no pkg-config file puts on the search path, and its errors are
 * printed to stderr, which that file captures. No .pc file ships, so the libraries are linked
 * by name: libnifti2 reads and writes NIfTI-1 and NIfTI-2 (libniftiio only NIfTI-1), libznz is its
 * gzip layer. */
#ifndef UNET_CKPT_CNIFTI_SHIM_H
#define UNET_CKPT_CNIFTI_SHIM_H
#include <nifti/nifti1.h>
#endif
