/* SPDX-License-Identifier: MIT */
/* Kernel build: ring.h includes <errno.h> in a hosted compilation, which
 * a kernel build is (x86-64 Linux does not pass -ffreestanding). */
#ifndef PVK_COMPAT_ERRNO_H
#define PVK_COMPAT_ERRNO_H
#include <linux/errno.h>
#endif
