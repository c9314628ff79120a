/* SPDX-License-Identifier: MIT */
/* Kernel build: pvkit's freestanding headers' <stdint.h>, from Linux. */
#ifndef PVK_COMPAT_STDINT_H
#define PVK_COMPAT_STDINT_H
#include <linux/types.h>
#endif
