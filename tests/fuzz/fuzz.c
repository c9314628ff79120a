// SPDX-License-Identifier: MIT
/* tests/fuzz/fuzz.c -- seed writing, shared by every fuzz target. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);

static const char *seed_dir;

void fz_seed_emit(const char *name, const struct fz_out *o)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", seed_dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(o->buf, 1, o->n, f) != o->n || fclose(f)) {
		fprintf(stderr, "cannot write seed %s: %s\n", path,
			strerror(errno));
		exit(1);
	}
}

/* PVK_FUZZ_SEEDS=DIR: write this target's seeds into DIR and exit. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* Backends offer a device again at once, however often: an input
	 * must not depend on the clock (pvkit/xenbus.h). */
	setenv("PVKIT_RECONNECT_MS", "0", 1);
	seed_dir = getenv("PVK_FUZZ_SEEDS");
	if (seed_dir) {
		fuzz_seeds();
		exit(0);
	}
	return 0;
}

uint8_t fz_ptab[FZ_PTAB + FZ_PAGE];

void fz_pat_init(void)
{
	uint32_t x = 2463534242u, i;

	for (i = 0; i < sizeof(fz_ptab); i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		fz_ptab[i] = (uint8_t)x;
	}
}
