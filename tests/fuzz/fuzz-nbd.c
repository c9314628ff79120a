// SPDX-License-Identifier: MIT
/*
 * fuzz-nbd: the request path of `pvkit disk serve-nbd`.  nbdkit parses
 * the NBD protocol and calls pvkit's plugin, whose core is tools/
 * nbd_disk.c; this target plays the calls nbdkit would make for hostile
 * clients -- nbd_disk_pread/pwrite/zero/trim/flush at any offset and
 * length (aligned, unaligned, empty, at the end, past it, offset + length
 * overflowing), with or without FUA -- from 1 to 4 client threads at
 * once, against the blkif test double (tests/blk/front_double.h) on the
 * loop hypervisor.
 *
 * One fixture for the whole run (built at the first input), four disks an
 * input picks from: 512-byte sectors with flush, discard, persistent
 * grants, indirect requests, two queues and a queue depth of 4, 1 MiB +
 * 64 KiB (a write-zeroes of more than its 1 MiB chunk fits); read-only;
 * 4 KiB sectors, no flush, discard in 8 KiB granules 4 KiB into the disk,
 * a grant per request; and 198144 bytes (not a multiple of 4 KiB) with
 * barriers instead of flush, no discard, one-page ring, no indirect.
 * The double's RAM disk and a shadow (what it must hold) start each input
 * as the same image and are restored after it, so an input replays
 * alone.
 *
 * An input is a script of steps (at most MAX_CALLS calls, BUDGET bytes
 * moved: the double grant-copies every page); a step is up to 8 calls,
 * each naming the client thread that makes it.  The threads run the step
 * at once (each its own calls in order), and meet at its end (a thread
 * with no calls in it sits the step out; one with all of them is played
 * by the main thread); an input ends with every client idle (started
 * once and reused, or started and joined for each input with
 * -DFZ_NBD_JOIN=1, see below).  In 1 input in
 * SILENT_ONE_IN (by a hash of its bytes) one step may be played instead
 * on a fifth disk with a 10 ms timeout while the backend does not answer
 * (t_dbl_silence()), by the main thread alone.
 *
 * PVK_FUZZ_NBD_TRACE=1 prints every call, its result and its time.
 *
 * Checked (facts about nbd_disk and blkfront, whatever the calls):
 *  - every call returns 0 or its documented error: -EINVAL exactly for a
 *    range outside the disk, -EROFS for a write, zero or trim of a
 *    read-only disk, -EOPNOTSUPP for flush (and FUA) without flush or
 *    barrier and for trim without discard; -ETIMEDOUT only from the
 *    silenced disk, and there from every call that needs the backend,
 *    after the timeout and not much later;
 *  - a read returns exactly the shadow's bytes, except bytes another
 *    thread writes, zeroes or trims in the same step;
 *  - after each step every byte is one a legal order of the step's calls
 *    leaves: a byte one thread changed is what its last call left; one
 *    several threads changed is one of their last values; zero makes
 *    zeroes; trim changes nothing outside the whole discard granules
 *    inside its range (inside, the double may zero); nothing else near
 *    the calls changed, and at the end of the input the whole RAM disk is
 *    the shadow;
 *  - a step with a successful flush or FUA call sent a flush; the
 *    frontend never sent the double a request it counts as bad; a disk
 *    that never timed out is never "gone";
 *  - the silenced disk serves again (a flush lands every abandoned write
 *    first) once the backend answers; no hang (each call bounded by the
 *    disk's timeout), no leak, no bad access (ASan).
 */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <pvkit/blkfront.h>
#include <pvkit/hv.h>

#include "../../tools/nbd_disk.h"
#include "../blk/front_double.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NDISK 5
#define SILENT 4 /* the disk silent steps play on */
#define SILENT_MS 10 /* its timeout */
#define SILENT_ONE_IN 32
#define MAX_SILENT 1 /* silent steps per input */
#define MAX_THREADS 4
#define MAX_OPS 8 /* per step */
#define MAX_STEPS 12
#define MAX_CALLS 32 /* per input */
#define BUDGET (512u << 10) /* bytes read, written or zeroed per input */
/* 1: start the client threads for each input and join them at its end,
 * as a test would; 0: start them once, and end each input when all of
 * them are idle again.  Under ASan starting and joining three threads
 * costs some 3 ms (their allocator caches and stacks are mapped and
 * unmapped), more than the rest of a typical input. */
#ifndef FZ_NBD_JOIN
#define FZ_NBD_JOIN 0
#endif
#define EDGE 8192 /* bytes either side of a change checked unchanged */
/* The model's loops over bytes: no coverage (slow, and no signal); not
 * inlined, as coverage is added after inlining, by the caller's rules. */
#define MODEL __attribute__((no_sanitize("coverage"), noinline))

enum { OP_READ, OP_WRITE, OP_ZERO, OP_TRIM, OP_FLUSH };
static const uint8_t kinds[8] = { OP_READ,  OP_READ, OP_WRITE, OP_WRITE,
				  OP_WRITE, OP_ZERO, OP_TRIM,  OP_FLUSH };

struct op {
	uint8_t tid, kind;
	bool fua;
	uint64_t off;
	uint32_t len, seed;
	int rc;
	uint8_t *buf; /* a read: what came back */
	/* judged */
	bool effect; /* the disk may change in [elo, ehi) */
	uint64_t elo, ehi;
};

struct disk {
	const char *vdev;
	uint32_t devid;
	struct t_dbl_cfg cfg;
	struct nbd_disk_opts o;
	struct pvk_hv *hv;
	struct t_dbl *dbl;
	struct nbd_disk *d;
	struct pvk_blkfront_info info;
	uint64_t size;
	uint8_t *base, *shadow;
	uint64_t dlo, dhi; /* changed this input */
};

static struct disk dk[NDISK] = {
	{ "xvda", 51712,
	  .cfg = { .disk_bytes = (1u << 20) + (64u << 10),
		   .max_ring_order = 2,
		   .max_queues = 2,
		   .max_indirect = 64,
		   .persistent = true,
		   .flush = true,
		   .discard = true },
	  .o = { .bf = { .queue_depth = 4 }, .timeout_ms = 10000 } },
	{ "xvdb", 51728,
	  .cfg = { .disk_bytes = 128u << 10,
		   .max_ring_order = -1,
		   .max_queues = -1,
		   .read_only = true },
	  .o = { .bf = { .queue_depth = 16 }, .timeout_ms = 10000 } },
	{ "xvdc", 51744,
	  .cfg = { .disk_bytes = 512u << 10,
		   .max_ring_order = 1,
		   .max_queues = 1,
		   .max_indirect = 32,
		   .discard = true,
		   .sector_size = 4096,
		   .discard_granularity = 8192,
		   .discard_alignment = 4096 },
	  .o = { .bf = { .queue_depth = 8,
			 .flags = PVK_BLKFRONT_GRANT_PER_REQUEST },
		 .timeout_ms = 10000 } },
	{ "xvdd", 51760,
	  .cfg = { .disk_bytes = (192u << 10) + 1536,
		   .max_ring_order = 0,
		   .max_queues = -1,
		   .max_indirect = -1,
		   .barrier = true },
	  .o = { .bf = { .queue_depth = 16 }, .timeout_ms = 10000 } },
	{ "xvde", 51776,
	  .cfg = { .disk_bytes = 64u << 10,
		   .max_ring_order = -1,
		   .max_queues = -1,
		   .flush = true,
		   .discard = true },
	  .o = { .bf = { .queue_depth = 8 }, .timeout_ms = SILENT_MS } },
};

static struct {
	bool up;
	pthread_attr_t attr; /* client threads: small stacks, cheap to start */
	struct pvk_loop *loop;
	uint32_t guest;
} g;

/* The step being played, shared with the client threads. */
static struct {
	struct disk *k;
	struct op ops[MAX_OPS];
	unsigned int n;
	sem_t go[MAX_THREADS], done;
	pthread_t th[MAX_THREADS];
	unsigned int nth; /* client threads running */
	bool quit;
} R;

/* Data: a call's seed picks where in a table of random bytes it starts
 * (the model keeps what each write sent). */
#define PTAB (1u << 20)
static uint8_t ptab[PTAB + (2u << 20)];

static const uint8_t *pat(uint32_t seed)
{
	return ptab + seed * 2654435761u % PTAB;
}

MODEL static void pat_init(void)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;

	for (size_t i = 0; i < sizeof(ptab); i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		ptab[i] = (uint8_t)(x >> 32);
	}
}

static uint64_t ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void fixture_fail(const char *what, int rc)
{
	fprintf(stderr, "fuzz-nbd: fixture: %s: %d\n", what, rc);
	abort();
}

static void disk_up(struct disk *k, unsigned int i)
{
	int rc;

	if ((rc = pvk_hv_open_loop(&k->hv, g.loop, g.guest)) < 0 ||
	    (rc = t_dbl_start(&k->dbl, g.loop, g.guest, k->devid, &k->cfg)) <
		    0 ||
	    (rc = nbd_disk_open(&k->d, k->hv, k->vdev, &k->o)) < 0)
		fixture_fail(k->vdev, rc);
	nbd_disk_info(k->d, &k->info);
	k->size = k->info.size_bytes;
	if (k->size != k->cfg.disk_bytes)
		fixture_fail("size", (int)k->size);
	k->base = malloc(k->size);
	k->shadow = malloc(k->size);
	if (!k->base || !k->shadow)
		fixture_fail("malloc", -ENOMEM);
	memcpy(k->base, pat(0xba5e0000u + i), k->size);
	/* The double is idle: nothing is in flight. */
	memcpy(t_dbl_disk(k->dbl), k->base, k->size);
	memcpy(k->shadow, k->base, k->size);
	k->dlo = k->size;
}

static void fixture(void)
{
	int rc;

	pat_init();
	if ((rc = pvk_loop_create(&g.loop)) < 0 ||
	    (rc = pvk_loop_domain_create(g.loop, "guest", &g.guest)) < 0)
		fixture_fail("loop", rc);
	for (unsigned int i = 0; i < NDISK; i++)
		disk_up(&dk[i], i);
	pthread_attr_init(&g.attr);
	pthread_attr_setstacksize(&g.attr, 256u << 10);
	for (unsigned int t = 0; t < MAX_THREADS; t++)
		sem_init(&R.go[t], 0, 0);
	sem_init(&R.done, 0, 0);
	g.up = true;
}

/* ---- playing ------------------------------------------------------------ */

MODEL static void play(struct disk *k, struct op *o)
{
	/* A buffer of exactly the length, or of 1 byte for a length no
	 * range of the disk has (nbd_disk must not touch it then). */
	uint32_t n = o->len && o->len <= k->size ? o->len : 1;
	uint8_t *b;

	switch (o->kind) {
	case OP_READ:
		o->buf = malloc(n);
		FZ_CHECK(o->buf);
		o->rc = nbd_disk_pread(k->d, o->buf, o->len, o->off);
		break;
	case OP_WRITE:
		b = malloc(n);
		FZ_CHECK(b);
		memcpy(b, pat(o->seed), n);
		o->rc = nbd_disk_pwrite(k->d, b, o->len, o->off, o->fua);
		o->buf = b; /* what the disk must now hold */
		break;
	case OP_ZERO:
		o->rc = nbd_disk_zero(k->d, o->len, o->off, o->fua);
		break;
	case OP_TRIM:
		o->rc = nbd_disk_trim(k->d, o->len, o->off, o->fua);
		break;
	default:
		o->rc = nbd_disk_flush(k->d);
		break;
	}
}

static bool trace; /* PVK_FUZZ_NBD_TRACE=1: each call on stderr */

static void do_ops(unsigned int tid)
{
	static const char *const name[] = { "read", "write", "zero", "trim",
					    "flush" };
	uint64_t t0;

	for (unsigned int i = 0; i < R.n; i++) {
		struct op *o = &R.ops[i];

		if (o->tid != tid)
			continue;
		t0 = trace ? ms_now() : 0;
		play(R.k, o);
		if (trace)
			fprintf(stderr,
				"fuzz-nbd: %s t%u %s%s [%llu, +%u): %d (%llu ms)\n",
				R.k->vdev, tid, name[o->kind],
				o->fua ? "+fua" : "",
				(unsigned long long)o->off, o->len, o->rc,
				(unsigned long long)(ms_now() - t0));
	}
}

static void *client(void *arg)
{
	unsigned int tid = (unsigned int)(uintptr_t)arg;

	for (;;) {
		while (sem_wait(&R.go[tid]))
			;
		if (R.quit)
			break;
		do_ops(tid);
		sem_post(&R.done);
	}
	return NULL;
}

/* Client threads 1 .. @n - 1 (the main thread is client 0). */
static void clients_start(unsigned int n)
{
	for (; R.nth + 1 < n; R.nth++)
		FZ_CHECK(!pthread_create(&R.th[R.nth + 1], &g.attr, client,
					 (void *)(uintptr_t)(R.nth + 1)));
}

static void clients_join(void)
{
	R.quit = true;
	for (unsigned int t = 1; t <= R.nth; t++)
		sem_post(&R.go[t]);
	for (unsigned int t = 1; t <= R.nth; t++)
		pthread_join(R.th[t], NULL);
	R.nth = 0;
	R.quit = false;
}

/* Play the step: each client its own calls, all at once.  Only clients
 * with calls in it are woken; calls all of one client's are made by the
 * main thread (nbd_disk keeps nothing per thread: the same calls in the
 * same order). */
static void clients_run(struct disk *k)
{
	unsigned int t, i, mask = 0, woken = 0;

	R.k = k;
	for (i = 0; i < R.n; i++)
		mask |= 1u << R.ops[i].tid;
	if (!(mask & (mask - 1))) {
		do_ops((unsigned int)__builtin_ctz(mask));
		return;
	}
	for (t = 1; t < MAX_THREADS; t++)
		if (mask & 1u << t) {
			sem_post(&R.go[t]);
			woken++;
		}
	do_ops(0);
	while (woken--)
		while (sem_wait(&R.done))
			;
}

/* ---- the model ---------------------------------------------------------- */

static bool has_flush(const struct disk *k)
{
	return k->info.flush || k->info.barrier;
}

static bool in_disk(const struct disk *k, const struct op *o)
{
	return o->off <= k->size && o->len <= k->size - o->off;
}

/* What nbd_disk.h documents @o returns (*alt: another answer as good,
 * when two errors apply), and whether it changes the disk. */
static int expect(const struct disk *k, const struct op *o, int *alt, bool *eff)
{
	bool in = in_disk(k, o);

	*alt = 1;
	*eff = false;
	if (o->kind == OP_READ)
		return in ? 0 : -EINVAL;
	if (o->kind == OP_FLUSH)
		return has_flush(k) ? 0 : -EOPNOTSUPP;
	if (k->info.read_only) {
		if (!in)
			*alt = -EINVAL;
		return -EROFS;
	}
	if (!in) {
		if (o->kind == OP_TRIM && !k->info.discard)
			*alt = -EOPNOTSUPP;
		return -EINVAL;
	}
	if (o->kind == OP_TRIM && !k->info.discard)
		return -EOPNOTSUPP;
	*eff = true;
	/* FUA: the flush that follows, after the change is made. */
	return o->fua && !has_flush(k) ? -EOPNOTSUPP : 0;
}

/* The bytes @o may change: a trim's whole discard granules (blkfront.h:
 * granule boundaries are alignment + k * granularity) in its whole
 * sectors (nbd_disk.h). */
static void effect_range(const struct disk *k, struct op *o)
{
	uint64_t ss = k->info.sector_size, gr = k->info.discard_granularity,
		 al = k->info.discard_alignment, a, b;

	o->elo = o->off;
	o->ehi = o->off + o->len;
	if (o->kind != OP_TRIM)
		return;
	a = (o->off + ss - 1) / ss * ss;
	b = (o->off + o->len) / ss * ss;
	if (gr > ss && a < b) {
		a = a > al ? al + (a - al + gr - 1) / gr * gr : al;
		b = b < al + gr ? a : al + (b - al) / gr * gr;
	}
	o->elo = a;
	o->ehi = b > a ? b : a;
}

/* Whether @o waits for the backend (to judge it on a silenced disk);
 * *thread: whether it goes to the I/O thread at all. */
static bool needs_backend(const struct disk *k, const struct op *o,
			  bool *thread)
{
	uint64_t ss = k->info.sector_size;
	bool eff, fl = o->fua && has_flush(k);
	int alt;

	*thread = false;
	if (expect(k, o, &alt, &eff) && !eff)
		return false;
	switch (o->kind) {
	case OP_READ:
		return *thread = o->len > 0;
	case OP_FLUSH:
		return *thread = true;
	case OP_TRIM:
		*thread = fl || (o->off + ss - 1) / ss < (o->off + o->len) / ss;
		return fl || o->ehi > o->elo;
	default:
		return *thread = o->len > 0 || fl;
	}
}

/* How a step is judged: on the silenced disk, calls that need the
 * backend time out (t_dbl_silence() returns once the double takes
 * nothing more: no request of the step is ever answered in time). */
enum { J_NORMAL, J_SILENT };

/* Judge @o's return code; on the silenced disk, *stuck says an earlier
 * call timed out (the I/O thread may be waiting for the backend). */
static void judge(struct disk *k, struct op *o, int mode, bool *stuck)
{
	bool eff, thread;
	int alt, want = expect(k, o, &alt, &eff);

	o->effect = eff;
	effect_range(k, o);
	if (mode != J_NORMAL && needs_backend(k, o, &thread)) {
		if (o->rc != -ETIMEDOUT)
			fprintf(stderr,
				"fuzz-nbd: silenced op %u off %llu len %u fua %d: %d\n",
				o->kind, (unsigned long long)o->off, o->len,
				o->fua, o->rc);
		FZ_CHECK(o->rc == -ETIMEDOUT);
		*stuck = true;
		return;
	}
	if (mode != J_NORMAL && *stuck && thread && o->rc == -ETIMEDOUT)
		return;
	if (o->rc != want && o->rc != alt)
		fprintf(stderr,
			"fuzz-nbd: %s op %u off %llu len %u fua %d: %d, not %d\n",
			k->vdev, o->kind, (unsigned long long)o->off, o->len,
			o->fua, o->rc, want);
	FZ_CHECK(o->rc == want || o->rc == alt);
}

static bool covers(const struct op *o, uint64_t b)
{
	return o->effect && b >= o->elo && b < o->ehi;
}

/* The points where the set of a step's calls covering a byte changes:
 * between two of them, every call covers all bytes or none. */
struct segs {
	uint64_t p[4 * MAX_OPS];
	unsigned int n;
};

static void seg_add(struct segs *s, uint64_t v)
{
	unsigned int i = s->n;

	for (; i > 0 && s->p[i - 1] > v; i--)
		s->p[i] = s->p[i - 1];
	if (i > 0 && s->p[i - 1] == v) {
		memmove(&s->p[i], &s->p[i + 1], (s->n - i) * sizeof(v));
		return;
	}
	s->p[i] = v;
	s->n++;
}

static void seg_points(const struct op *ops, unsigned int n, struct segs *s)
{
	s->n = 0;
	for (unsigned int i = 0; i < n; i++) {
		const struct op *o = &ops[i];

		if (o->effect && o->ehi > o->elo) {
			seg_add(s, o->elo);
			seg_add(s, o->ehi);
		}
		if (o->kind == OP_READ && !o->rc && o->len) {
			seg_add(s, o->off);
			seg_add(s, o->off + o->len);
		}
	}
}

/* What thread @tid's own calls before ops[@upto] left at @at (and all of
 * its segment): *src, the last write or zero (NULL: none, the byte was
 * as the step found it); bit 0 of the result: or zero (a trim came
 * after); bit 1: *src is set. */
static int own(const struct op *ops, unsigned int upto, unsigned int tid,
	       uint64_t at, const struct op **src)
{
	int mz = 0;

	*src = NULL;
	for (unsigned int i = upto; i-- > 0;) {
		const struct op *o = &ops[i];

		if (o->tid != tid || !covers(o, at))
			continue;
		if (o->kind == OP_TRIM) {
			mz = 1;
			continue;
		}
		*src = o;
		return mz | 2;
	}
	return mz;
}

static bool is_zero(const uint8_t *p, uint64_t len)
{
	return !len || (!p[0] && !memcmp(p, p + 1, len - 1));
}

/* @p holds, for [@at, @at + @len), what @src (a write or zero) left. */
MODEL static bool match(const struct op *src, uint64_t at, const uint8_t *p,
			uint64_t len)
{
	if (src->kind == OP_ZERO)
		return is_zero(p, len);
	return !memcmp(p, src->buf + (at - src->off), len);
}

static inline __attribute__((always_inline)) uint8_t
src_byte(const struct op *src, uint64_t b)
{
	return src->kind == OP_WRITE ? src->buf[b - src->off] : 0;
}

/* A successful read: its bytes no other thread changed in the step are
 * what the thread's own calls before it left (the shadow still holds
 * what the step found). */
MODEL static void check_read(const struct disk *k, const struct op *ops,
			     unsigned int n, unsigned int i,
			     const struct segs *s)
{
	const struct op *o = &ops[i], *src;
	uint64_t a, b, x;
	unsigned int j, m;
	const uint8_t *p;
	uint8_t v;
	int r;

	for (m = 0; m + 1 < s->n; m++) {
		a = s->p[m];
		b = s->p[m + 1];
		if (a < o->off || b > o->off + o->len)
			continue;
		for (j = 0; j < n; j++)
			if (ops[j].tid != o->tid && covers(&ops[j], a))
				break;
		if (j < n)
			continue;
		p = o->buf + (a - o->off);
		r = own(ops, i, o->tid, a, &src);
		if (src ? match(src, a, p, b - a) :
			  !memcmp(p, k->shadow + a, b - a))
			continue;
		/* After a trim of its own: the old bytes or zeroes. */
		for (x = a; x < b; x++) {
			v = src ? src_byte(src, x) : k->shadow[x];
			if (p[x - a] != v && !((r & 1) && !p[x - a]))
				fprintf(stderr,
					"fuzz-nbd: %s read [%llu, +%u) byte %llu is %#x, not %#x\n",
					k->vdev, (unsigned long long)o->off,
					o->len, (unsigned long long)x, p[x - a],
					v);
			FZ_CHECK(p[x - a] == v || ((r & 1) && !p[x - a]));
		}
	}
}

/* What the step left in [a, b) (a segment some call changed) is what a
 * legal order of its calls leaves: for each thread changing it, what its
 * last write or zero left (or zero, after a trim of its own); the bytes
 * as they were if no thread wrote or zeroed them (trims only). */
MODEL static void resolve(struct disk *k, const struct op *ops, unsigned int n,
			  uint64_t a, uint64_t b)
{
	const uint8_t *disk = t_dbl_disk(k->dbl);
	const struct op *src[MAX_THREADS], *one = NULL;
	unsigned int t, j, tm = 0, nsrc = 0;
	bool zero = false, ok;
	uint64_t x;
	int r;

	for (j = 0; j < n; j++)
		if (covers(&ops[j], a))
			tm |= 1u << ops[j].tid;
	if (!tm)
		return;
	for (t = 0; t < MAX_THREADS; t++) {
		src[t] = NULL;
		if (!(tm & 1u << t))
			continue;
		r = own(ops, n, t, a, &src[t]);
		zero |= r & 1;
		if (src[t]) {
			one = src[t];
			nsrc++;
		}
	}
	if (nsrc == 1 && !zero && match(one, a, disk + a, b - a))
		goto done;
	for (x = a; x < b; x++) {
		ok = (zero && !disk[x]) || (!nsrc && disk[x] == k->shadow[x]);
		for (t = 0; t < MAX_THREADS && !ok; t++)
			ok = src[t] && disk[x] == src_byte(src[t], x);
		if (!ok)
			fprintf(stderr, "fuzz-nbd: %s byte %llu is %#x\n",
				k->vdev, (unsigned long long)x, disk[x]);
		FZ_CHECK(ok);
	}
done:
	memcpy(k->shadow + a, disk + a, b - a);
	k->dlo = a < k->dlo ? a : k->dlo;
	k->dhi = b > k->dhi ? b : k->dhi;
}

static void check_same(const struct disk *k, uint64_t lo, uint64_t hi)
{
	const uint8_t *disk = t_dbl_disk(k->dbl);

	lo = lo > EDGE ? lo - EDGE : 0;
	hi = hi + EDGE < k->size ? hi + EDGE : k->size;
	if (lo < hi)
		FZ_CHECK(!memcmp(disk + lo, k->shadow + lo, hi - lo));
}

/* After a step (every call returned, nothing in flight): its calls'
 * results, its reads, and the disk, which the shadow then follows. */
static void check_step(struct disk *k, struct op *ops, unsigned int n, int mode,
		       const struct t_dbl_stats *st0)
{
	struct t_dbl_stats st;
	bool stuck = false, flushed = false;
	struct segs s;
	unsigned int i;

	for (i = 0; i < n; i++) {
		struct op *o = &ops[i];

		judge(k, o, mode, &stuck);
		if (!o->rc && (o->kind == OP_FLUSH || (o->fua && o->effect)))
			flushed = true;
	}
	seg_points(ops, n, &s);
	for (i = 0; i < n; i++)
		if (ops[i].kind == OP_READ && !ops[i].rc && ops[i].len)
			check_read(k, ops, n, i, &s);
	for (i = 0; i + 1 < s.n; i++)
		resolve(k, ops, n, s.p[i], s.p[i + 1]);
	/* Nothing changed next to the calls (a read-modify-write's or a
	 * trim's neighbours): the disk is the shadow there too. */
	for (i = 0; i < n; i++) {
		struct op *o = &ops[i];

		if (!o->effect)
			continue;
		check_same(k, o->off < o->elo ? o->off : o->elo, o->elo);
		check_same(k, o->ehi, o->off + o->len);
	}
	t_dbl_stats(k->dbl, &st);
	FZ_CHECK(st.bad_requests == 0);
	if (flushed)
		FZ_CHECK(st.flushes > st0->flushes);
	if (mode == J_NORMAL)
		FZ_CHECK(!nbd_disk_gone(k->d));
	for (i = 0; i < n; i++) {
		free(ops[i].buf);
		ops[i].buf = NULL;
	}
}

/* ---- the script --------------------------------------------------------- */

static void read_op(struct fz *f, const struct disk *k, struct op *o,
		    unsigned int nthreads, uint32_t tag, uint32_t *budget)
{
	uint8_t a = fz_u8(f), lm = fz_u8(f);
	uint64_t size = k->size, ss = k->info.sector_size;

	o->tid = (uint8_t)((a >> 6) % nthreads);
	o->kind = kinds[a & 7];
	o->fua = a & 8;
	switch ((a >> 4) & 3) {
	case 0: /* a sector */
		o->off = fz_u16(f) % (size / ss + 1) * ss;
		break;
	case 1: /* any byte */
		o->off = fz_u32(f) % (size + 1);
		break;
	case 2: /* near the end */
		o->off = size - fz_u16(f) % (size + 1);
		break;
	default:
		o->off = fz_u64(f);
		break;
	}
	switch (lm & 7) {
	case 0:
		o->len = 1u + fz_u8(f);
		break;
	case 1: /* whole sectors */
		o->len = (1u + fz_u8(f) % 32) * (uint32_t)ss;
		break;
	case 2:
		o->len = fz_u16(f);
		break;
	case 3:
		o->len = 0;
		break;
	case 4: /* to the end */
		o->len = o->off <= size ? (uint32_t)(size - o->off) : fz_u16(f);
		break;
	case 5: /* past the end */
		o->len = (o->off <= size ? (uint32_t)(size - o->off) : 0) + 1u +
			 fz_u8(f);
		break;
	case 6:
		o->len = fz_u32(f);
		break;
	default: /* anything up to the disk (a large one rarely: slow) */
		o->len = (uint32_t)((lm & 0x80 ? fz_u32(f) : fz_u16(f)) %
				    (size + 1));
		break;
	}
	/* The double grant-copies every page (a system call each): an input
	 * moves at most BUDGET bytes, the rest of a call's range is cut --
	 * but its first call may be a write-zeroes of more than the 1 MiB
	 * nbd_disk_zero() writes at a time. */
	if (o->kind != OP_TRIM && o->kind != OP_FLUSH && o->off <= size &&
	    o->len <= size - o->off) {
		if (o->kind == OP_ZERO && *budget == BUDGET && o->len > BUDGET)
			*budget = 0;
		else if (o->len > *budget)
			o->len = *budget;
		*budget -= o->len < *budget ? o->len : *budget;
	}
	o->seed = tag ^ (uint32_t)fz_u8(f) << 24;
	o->rc = 0;
	o->buf = NULL;
}

/* Silence the backend for @n calls of the main thread on the silent disk;
 * then it answers again: a flush lands what was abandoned, and the disk
 * serves. */
static void silent_step(unsigned int n)
{
	struct disk *k = &dk[SILENT];
	struct t_dbl_stats st0, st;
	uint64_t t0, el, end;
	uint8_t *back;
	bool timed = false;
	int rc;

	/* Once this returns the double takes nothing: no wait for it. */
	t_dbl_silence(k->dbl, true);
	t_dbl_stats(k->dbl, &st0);
	for (unsigned int i = 0; i < n; i++) {
		struct op *o = &R.ops[i];

		o->tid = 0;
		t0 = ms_now();
		play(k, o);
		el = ms_now() - t0;
		/* The timeout, not a hang. */
		if (o->rc == -ETIMEDOUT) {
			FZ_CHECK(el + 2 >= SILENT_MS && el < 5000);
			timed = true;
		}
	}
	if (timed)
		FZ_CHECK(nbd_disk_gone(k->d));
	t_dbl_stats(k->dbl, &st);
	FZ_CHECK(st.requests == st0.requests);
	t_dbl_silence(k->dbl, false);
	/* The flush queues behind the abandoned calls, on the one ring.
	 * Under load an answer may still take longer than the timeout:
	 * what is checked is that one comes. */
	end = ms_now() + 5000;
	do
		rc = nbd_disk_flush(k->d);
	while (rc == -ETIMEDOUT && ms_now() < end);
	FZ_CHECK(rc == 0);
	check_step(k, R.ops, n, J_SILENT, &st0);
	back = malloc(k->size);
	FZ_CHECK(back);
	do
		rc = nbd_disk_pread(k->d, back, (uint32_t)k->size, 0);
	while (rc == -ETIMEDOUT && ms_now() < end);
	FZ_CHECK(rc == 0);
	FZ_CHECK(!memcmp(back, k->shadow, k->size));
	FZ_CHECK(!memcmp(t_dbl_disk(k->dbl), k->shadow, k->size));
	free(back);
}

MODEL static void restore(struct disk *k)
{
	if (k->dlo < k->dhi) {
		memcpy(t_dbl_disk(k->dbl) + k->dlo, k->base + k->dlo,
		       k->dhi - k->dlo);
		memcpy(k->shadow + k->dlo, k->base + k->dlo, k->dhi - k->dlo);
	}
	k->dlo = k->size;
	k->dhi = 0;
}

static uint32_t hash(const uint8_t *p, size_t n)
{
	uint32_t h = 2166136261u;

	while (n--)
		h = (h ^ *p++) * 16777619u;
	return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	bool may_silence = hash(data, size) % SILENT_ONE_IN == 0, sil;
	unsigned int nthreads, step, i, calls = 0, nsilent = 0;
	uint32_t budget = BUDGET;
	struct t_dbl_stats st0;
	uint8_t cfg, hdr;
	struct disk *k;

	if (!g.up) {
		trace = getenv("PVK_FUZZ_NBD_TRACE");
		fixture();
	}
	cfg = fz_u8(&f);
	k = &dk[cfg & 3];
	nthreads = 1u + (cfg >> 2 & 3);
	clients_start(FZ_NBD_JOIN ? nthreads : MAX_THREADS);
	for (step = 0; step < MAX_STEPS && calls < MAX_CALLS && fz_more(&f);
	     step++) {
		hdr = fz_u8(&f);
		sil = may_silence && (hdr & 0x80);
		R.n = 1u + (hdr & 7);
		if (R.n > MAX_CALLS - calls)
			R.n = MAX_CALLS - calls;
		calls += R.n;
		for (i = 0; i < R.n; i++)
			read_op(&f, sil ? &dk[SILENT] : k, &R.ops[i], nthreads,
				step << 8 | i, &budget);
		if (sil && nsilent < MAX_SILENT) {
			nsilent++;
			silent_step(R.n < 2 ? R.n : 2);
		} else if (!sil) {
			t_dbl_stats(k->dbl, &st0);
			clients_run(k);
			check_step(k, R.ops, R.n, J_NORMAL, &st0);
		}
	}
	if (FZ_NBD_JOIN)
		clients_join();
	FZ_CHECK(!memcmp(t_dbl_disk(k->dbl), k->shadow, k->size));
	restore(k);
	restore(&dk[SILENT]);
	return 0;
}

/* ---- seeds -------------------------------------------------------------- */

enum { OM_SECTOR, OM_BYTE, OM_END, OM_RAW };
enum {
	LM_SMALL,
	LM_SECTORS,
	LM_U16,
	LM_ZERO,
	LM_TO_END,
	LM_PAST,
	LM_RAW,
	LM_ANY
};

/* An op: @k the index in kinds[] (0 read, 2 write, 5 zero, 6 trim,
 * 7 flush); offset value and length value as the modes read them. */
static void sop(struct fz_out *o, unsigned int tid, unsigned int k, bool fua,
		unsigned int om, uint64_t off, unsigned int lm, uint32_t len)
{
	fzo_u8(o, (uint8_t)(tid << 6 | om << 4 | (fua ? 8 : 0) | k));
	fzo_u8(o, (uint8_t)lm);
	if (om == OM_SECTOR || om == OM_END)
		fzo_u16(o, (uint16_t)off);
	else if (om == OM_BYTE)
		fzo_u32(o, (uint32_t)off);
	else
		fzo_u64(o, off);
	if (lm == LM_SMALL || lm == LM_SECTORS || lm == LM_PAST)
		fzo_u8(o, (uint8_t)len);
	else if (lm == LM_U16)
		fzo_u16(o, (uint16_t)len);
	else if (lm == LM_RAW || lm == LM_ANY)
		fzo_u32(o, len);
	fzo_u8(o, 0x5a);
}

void fuzz_seeds(void)
{
	struct fz_out o;
	unsigned int t, s;

	/* Disk 0, one client: aligned write, read back, FUA, flush, zero,
	 * trim, an unaligned write over them. */
	o.n = 0;
	fzo_u8(&o, 0);
	fzo_u8(&o, 0);
	sop(&o, 0, 2, false, OM_SECTOR, 8, LM_SECTORS, 15);
	fzo_u8(&o, 1);
	sop(&o, 0, 0, false, OM_SECTOR, 8, LM_SECTORS, 15);
	sop(&o, 0, 2, true, OM_BYTE, 70000, LM_U16, 9000);
	fzo_u8(&o, 3);
	sop(&o, 0, 7, false, OM_SECTOR, 0, LM_ZERO, 0);
	sop(&o, 0, 5, true, OM_BYTE, 4100, LM_U16, 20000);
	sop(&o, 0, 6, false, OM_BYTE, 100, LM_U16, 60000);
	sop(&o, 0, 0, false, OM_SECTOR, 0, LM_U16, 65535);
	fzo_u8(&o, 1);
	sop(&o, 0, 2, false, OM_BYTE, 4000, LM_SMALL, 200);
	sop(&o, 0, 0, false, OM_BYTE, 3000, LM_U16, 10000);
	fz_seed_emit("seed-one-client", &o);

	/* Disk 0 (two queues), four clients: two write sectors 0-3 and 8-11
	 * whole, two write pieces of the same sectors (read-modify-writes,
	 * which must run alone: one that read a sector before the other's
	 * write and wrote it back after would undo it). */
	o.n = 0;
	fzo_u8(&o, 3 << 2);
	for (s = 0; s < 4; s++) {
		fzo_u8(&o, 7);
		for (t = 0; t < 4; t++) {
			for (unsigned int j = 0; j < 2; j++) {
				if (t % 2 == 0)
					sop(&o, t, 2, false, OM_SECTOR, t * 4,
					    LM_SECTORS, 3);
				else
					sop(&o, t, 2, false, OM_BYTE,
					    (t - 1) * 2048 + 100 +
						    (s * 2 + j) * 240,
					    LM_SMALL, 49);
			}
		}
	}
	fzo_u8(&o, 7);
	for (t = 0; t < 4; t++) {
		sop(&o, t, 2, t & 1, OM_SECTOR, t * 2, LM_SECTORS, 1);
		sop(&o, t, 0, false, OM_SECTOR, 0, LM_SECTORS, 15);
	}
	fz_seed_emit("seed-four-clients", &o);

	/* Disk 0: a write-zeroes of more than 1 MiB, to the end. */
	o.n = 0;
	fzo_u8(&o, 1 << 2);
	fzo_u8(&o, 1);
	sop(&o, 0, 5, false, OM_BYTE, 1000, LM_TO_END, 0);
	sop(&o, 1, 0, false, OM_END, 300, LM_TO_END, 0);
	fz_seed_emit("seed-zero-big", &o);

	/* Disk 3 (odd size, barriers, no discard): bad ranges -- past the
	 * end, offset + length wrapping, at the end, empty beyond it --
	 * trims, FUA. */
	o.n = 0;
	fzo_u8(&o, 3);
	fzo_u8(&o, 7);
	sop(&o, 0, 0, false, OM_END, 10, LM_PAST, 0);
	sop(&o, 0, 2, false, OM_RAW, UINT64_MAX - 4, LM_SMALL, 15);
	sop(&o, 0, 5, false, OM_END, 0, LM_SMALL, 0);
	sop(&o, 0, 6, false, OM_END, 1, LM_SMALL, 1);
	sop(&o, 0, 0, false, OM_END, 0, LM_ZERO, 0);
	sop(&o, 0, 0, false, OM_END, 16, LM_TO_END, 0);
	sop(&o, 0, 2, true, OM_END, 700, LM_TO_END, 0);
	sop(&o, 0, 6, true, OM_BYTE, 0, LM_RAW, 0xffffffff);
	fzo_u8(&o, 4);
	sop(&o, 0, 0, false, OM_RAW, 1ull << 40, LM_ZERO, 0);
	sop(&o, 0, 6, false, OM_SECTOR, 2, LM_ZERO, 0);
	sop(&o, 0, 6, false, OM_SECTOR, 2, LM_SECTORS, 15);
	sop(&o, 0, 7, false, OM_SECTOR, 0, LM_ZERO, 0);
	sop(&o, 0, 2, true, OM_BYTE, 1, LM_SMALL, 1);
	fz_seed_emit("seed-odd-size-ranges", &o);

	/* The read-only disk: every call. */
	o.n = 0;
	fzo_u8(&o, 1 | 1 << 2);
	fzo_u8(&o, 5);
	sop(&o, 0, 2, false, OM_SECTOR, 0, LM_SECTORS, 0);
	sop(&o, 1, 5, true, OM_BYTE, 7, LM_SMALL, 9);
	sop(&o, 0, 6, false, OM_SECTOR, 0, LM_SECTORS, 7);
	sop(&o, 1, 7, false, OM_SECTOR, 0, LM_ZERO, 0);
	sop(&o, 0, 0, false, OM_BYTE, 511, LM_U16, 1026);
	sop(&o, 1, 2, false, OM_END, 1, LM_PAST, 1);
	fzo_u8(&o, 2);
	sop(&o, 0, 5, false, OM_SECTOR, 1, LM_ZERO, 0);
	sop(&o, 0, 6, false, OM_SECTOR, 1, LM_ZERO, 0);
	sop(&o, 0, 2, true, OM_SECTOR, 1, LM_ZERO, 0);
	fz_seed_emit("seed-read-only", &o);

	/* 4 KiB sectors, no flush: unaligned read-modify-writes from two
	 * clients, FUA (refused), trims of partial granules. */
	o.n = 0;
	fzo_u8(&o, 2 | 1 << 2);
	fzo_u8(&o, 5);
	sop(&o, 0, 2, false, OM_BYTE, 4000, LM_SMALL, 200);
	sop(&o, 1, 2, false, OM_BYTE, 4300, LM_U16, 4000);
	sop(&o, 0, 2, true, OM_SECTOR, 3, LM_SECTORS, 1);
	sop(&o, 1, 6, false, OM_BYTE, 4096, LM_U16, 12288);
	sop(&o, 0, 6, false, OM_BYTE, 20000, LM_U16, 30000);
	sop(&o, 1, 0, false, OM_BYTE, 0, LM_U16, 65535);
	fzo_u8(&o, 1);
	sop(&o, 0, 7, false, OM_SECTOR, 0, LM_ZERO, 0);
	sop(&o, 1, 5, false, OM_BYTE, 8190, LM_SMALL, 9);
	fz_seed_emit("seed-4k-sectors", &o);

	/* The silent disk: a write and an unaligned write the backend does
	 * not answer in time; the seed byte of the last op makes the input
	 * one of those that may silence. */
	for (s = 0; s < 256; s++) {
		o.n = 0;
		fzo_u8(&o, 0);
		fzo_u8(&o, 0x80 | 1);
		sop(&o, 0, 2, false, OM_SECTOR, 4, LM_SECTORS, 3);
		sop(&o, 0, 2, true, OM_BYTE, 1000, LM_U16, 3000);
		fzo_u8(&o, 0);
		sop(&o, 0, 0, false, OM_SECTOR, 0, LM_SECTORS, 31);
		o.buf[o.n - 1] = (uint8_t)s;
		if (hash(o.buf, o.n) % SILENT_ONE_IN == 0)
			break;
	}
	fz_seed_emit("seed-silent", &o);
}
