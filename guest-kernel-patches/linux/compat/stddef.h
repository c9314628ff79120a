/* SPDX-License-Identifier: MIT */
/* Kernel build: pvkit's freestanding headers' <stddef.h>, from Linux. */
#ifndef PVK_COMPAT_STDDEF_H
#define PVK_COMPAT_STDDEF_H
#include <linux/types.h>
#include <linux/stddef.h>
#endif
