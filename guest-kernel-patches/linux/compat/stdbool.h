/* SPDX-License-Identifier: MIT */
/* Kernel build: pvkit's freestanding headers' <stdbool.h>, from Linux. */
#ifndef PVK_COMPAT_STDBOOL_H
#define PVK_COMPAT_STDBOOL_H
#include <linux/types.h>
#include <linux/stddef.h>
#endif
