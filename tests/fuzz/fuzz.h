/* SPDX-License-Identifier: MIT */
/*
 * tests/fuzz/fuzz.h -- what every libFuzzer target of pvkit shares.
 *
 * An input is read as a stream of little-endian fields; a read past its
 * end yields zeros, so every input is a valid script (libFuzzer's
 * mutations never make an input useless, only short).
 *
 * Seeds: each target defines fuzz_seeds(), which emits well-formed inputs
 * through fz_seed().  `PVK_FUZZ_SEEDS=DIR fuzz-x` writes them into DIR and
 * exits (tests/fuzz/run.sh --seeds regenerates tests/fuzz/corpus/ so).
 *
 * A target checks its own invariants with FZ_CHECK, which aborts (a crash
 * libFuzzer records): those are facts about pvkit's code, never about the
 * peer bytes the input plays.
 */
#ifndef PVK_TESTS_FUZZ_H
#define PVK_TESTS_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fz {
	const uint8_t *p;
	size_t n;
};

static inline bool fz_more(const struct fz *f)
{
	return f->n > 0;
}

static inline void fz_bytes(struct fz *f, void *out, size_t len)
{
	size_t k = len < f->n ? len : f->n;

	memcpy(out, f->p, k);
	memset((uint8_t *)out + k, 0, len - k);
	f->p += k;
	f->n -= k;
}

static inline uint8_t fz_u8(struct fz *f)
{
	uint8_t v;

	fz_bytes(f, &v, 1);
	return v;
}

static inline uint16_t fz_u16(struct fz *f)
{
	uint8_t b[2];

	fz_bytes(f, b, 2);
	return (uint16_t)(b[0] | b[1] << 8);
}

static inline uint32_t fz_u32(struct fz *f)
{
	uint8_t b[4];

	fz_bytes(f, b, 4);
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
	       (uint32_t)b[3] << 24;
}

static inline uint64_t fz_u64(struct fz *f)
{
	uint64_t lo = fz_u32(f);

	return lo | (uint64_t)fz_u32(f) << 32;
}

/* The builder of seeds: append fields, then fz_seed_emit(). */
struct fz_out {
	uint8_t buf[65536];
	size_t n;
};

static inline void fzo_bytes(struct fz_out *o, const void *p, size_t len)
{
	if (len > sizeof(o->buf) - o->n)
		len = sizeof(o->buf) - o->n;
	memcpy(o->buf + o->n, p, len);
	o->n += len;
}

static inline void fzo_u8(struct fz_out *o, uint8_t v)
{
	fzo_bytes(o, &v, 1);
}

static inline void fzo_u16(struct fz_out *o, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)v, (uint8_t)(v >> 8) };

	fzo_bytes(o, b, 2);
}

static inline void fzo_u32(struct fz_out *o, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16),
			 (uint8_t)(v >> 24) };

	fzo_bytes(o, b, 4);
}

static inline void fzo_u64(struct fz_out *o, uint64_t v)
{
	fzo_u32(o, (uint32_t)v);
	fzo_u32(o, (uint32_t)(v >> 32));
}

/*
 * Page contents a target writes where pvkit must copy them exactly: page
 * @gen is FZ_PAGE bytes of a table of random bytes from an offset of
 * @gen's, so a byte from another page or another place of the page is
 * (almost always) another byte.  fz_pat_init() once, first.
 */
#define FZ_PTAB 65536u
#define FZ_PAGE 4096u
extern uint8_t fz_ptab[FZ_PTAB + FZ_PAGE];
void fz_pat_init(void);
static inline const uint8_t *fz_pat(uint32_t gen)
{
	return fz_ptab + (gen * 2654435761u) % FZ_PTAB;
}

/* Each target: emit its seeds with fz_seed_emit(). */
void fuzz_seeds(void);
void fz_seed_emit(const char *name, const struct fz_out *o);

#define FZ_CHECK(cond)                                                   \
	do {                                                             \
		if (!(cond)) {                                           \
			fprintf(stderr, "%s:%d: invariant broken: %s\n", \
				__FILE__, __LINE__, #cond);              \
			abort();                                         \
		}                                                        \
	} while (0)

#endif /* PVK_TESTS_FUZZ_H */
