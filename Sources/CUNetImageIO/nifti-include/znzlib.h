/* nifti2_io.h includes <znzlib.h>, which Debian installs as /usr/include/nifti/znzlib.h without
 * a pkg-config file that would put that folder on the search path; this forwards to it. Only
 * nifti_io.c sees this folder (Package.swift: headerSearchPath). */
#include <nifti/znzlib.h>
