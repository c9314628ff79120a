// SPDX-License-Identifier: MIT
/*
 * fuzz-blkfront: pvkit's blkfront against a hostile blkif backend, on the
 * loop hypervisor.  The backend is this target: it maps the frontend's
 * ring itself and writes every response slot and rsp_prod from the input
 * (not the thread of tests/blk/front_double.c, so runs are deterministic).
 *
 * One fixture for the whole run (built at the first input): a guest with
 * two disks, each its own blkfront handle -- xvda with the grant pool
 * (persistent grants by default), xvdb with PVK_BLKFRONT_GRANT_PER_REQUEST
 * (no persistent grants by default, so every request has grants of its
 * own).  The input's first byte picks the disk.  An input is a script:
 * the frontend submits reads, writes, flushes, discards (any range, some
 * invalid); the backend takes the requests and writes responses (a pick
 * among the requests in flight with any status, read data of a pattern
 * the input seeds or prefixed with input bytes, the inner operation of an
 * indirect request), publishes them (or a producer index beyond them),
 * scribbles on granted pages, restarts with other features (InitWait
 * again: the frontend tears its rings down and re-issues what is left).
 * At its end every request is answered and every io reaped, and a disk
 * whose features changed is restarted with its defaults, so inputs start
 * alike.  Protocol violations -- a raw id, a duplicate, a wrong operation,
 * a producer index ahead, a malformed node at a restart -- are played by
 * one input in EVIL_ONE_IN only (by a hash of its bytes), for each costs
 * a close and an open of the disk (milliseconds); in the others the same
 * bytes play an honest answer.  A restart costs two 1 ms waits (the
 * handshake's steps, taken by reap()), so restarts are played by one
 * input in RESTART_ONE_IN.  Each disk has one queue: the order of
 * requests on it is what the model follows.
 *
 * The target models blkfront (what pvkit/blkfront.h promises): ios are
 * split in submission order into requests of at most max_segments pages,
 * so each request taken is attributed to the oldest io not fully sent;
 * responses are processed at publication in ring order from the slot
 * bytes themselves, as the frontend reads them.  Checked:
 *  - every request is the next piece of an io (sector, size, segments,
 *    indirect pages, flush and discard operations, discard trimmed to
 *    granules), ids are unique among those in flight, and a write's
 *    granted pages hold the io's bytes;
 *  - every io completes exactly once: OK only if each of its requests
 *    was answered OKAY by a response with its id and its operation (or,
 *    for an indirect request, its inner one), else with the first error
 *    status (-EIO, -EOPNOTSUPP); a read completed OK holds exactly the
 *    bytes the backend left in its granted pages; nothing is lost across
 *    a restart;
 *  - the frontend is latched broken exactly when the backend broke the
 *    protocol (an id not in flight, a wrong operation, a producer index
 *    ahead of the requests, a malformed node), and then fails every io
 *    not completed with -EIO and refuses new ones;
 *  - submit()'s answer is the one the header promises; counters add up;
 *    negotiation gives what the backend offered;
 *  - with grants per request: a write's pages are read-only to the
 *    backend, and once a request is answered none of its grants is left
 *    granted (the backend's copy from it fails).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <pvkit/blkfront.h>
#include <pvkit/blkif.h>
#include <pvkit/hv.h>
#include <pvkit/xenbus.h>

#include "../common/t_toolstack.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define DISK_BYTES (16ull << 20)
#define NSECT (DISK_BYTES / 512)
#define MAX_IOS 64 /* model slots: above every queue_depth */
#define MAX_REQS 1024 /* above the largest ring (512 entries) */
#define MAX_SEGS PVK_BLKFRONT_MAX_INDIRECT_SEGS
#define MAX_IND PVK_BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST
#define MAX_OPS 64
#define IO_SECTORS 640 /* a read or write: at most 320 KiB */
#define IO_BYTES (IO_SECTORS * 512u)
#define MAX_RESTARTS 2
#define MAXD 64 /* ios per reap */
#define PUMP_MS 1
#define PUMPS_MAX 1000
#define EVIL_ONE_IN 16u
#define RESTART_ONE_IN 4u
#define GREF_MAX 16384u /* the loop hypervisor's grant table */
#define NHIST 16

enum {
	OP_SUBMIT,
	OP_KICK,
	OP_ANSWER,
	OP_PUBLISH,
	OP_REAP,
	OP_SCRIBBLE,
	OP_RESTART,
	OP_COUNT,
	/* Only these exact op bytes, in evil inputs. */
	OP_PROD_AHEAD = 0xf0,
	OP_EVIL_RESTART = 0xf1,
};

/* OP_ANSWER ctl bits */
#define AC_STATUS 0x03 /* OKAY, OKAY, ERROR, EOPNOTSUPP */
#define AC_PREFIX 0x04 /* read data starts with input bytes */
#define AC_KIND 0x30 /* evil inputs: */
#define AC_RAW 0x10 /* raw id and operation */
#define AC_BAD_OP 0x20 /* a pick, with a raw operation */
#define AC_DUP 0x30 /* the id of an answered request */
#define AC_RAW_STATUS 0x40 /* any 16-bit status */
#define AC_INNER 0x80 /* indirect: answer with its READ/WRITE */

/* What a backend offers; written before InitWait. */
struct feat {
	uint8_t order;
	uint16_t indirect;
	bool persistent, flush, barrier, discard, secure, ro;
	uint32_t gran, align;
	uint32_t sector_size; /* 0: 512 */
	const char *bad_name, *bad_value; /* evil: one malformed node */
};

/* A request taken from the ring and not yet answered (processed). */
struct mreq {
	bool live, pending; /* pending: an honest answer written */
	uint64_t id;
	uint8_t op, inner;
	int io;
	uint64_t io_off;
	uint32_t len, nseg, nind;
	uint32_t gref[MAX_SEGS], igref[MAX_IND];
	/* What the backend last wrote in each data page: a pattern
	 * generation (0: nothing, the page holds what it held), and
	 * page 0's prefix. */
	uint32_t gen[MAX_SEGS];
	const uint8_t *prefix;
	uint32_t plen;
};

/* An io, as the model sees it. */
struct mio {
	int state; /* 0 free, 1 submitted, 2 completed by the model */
	struct pvk_blkfront_io io;
	uint8_t op;
	uint8_t *buf, *exp;
	uint64_t cursor, seq;
	uint32_t frags;
	bool sent, unknown;
	int result;
	/* Last, kept from one io to the next (fresh pages cost more than
	 * the rest of an input); an io's buffer ends where its block does,
	 * so ASan sees a byte written past it. */
	uint8_t *blk, *eblk;
};

struct bfx {
	const char *vdev;
	uint32_t devid;
	struct pvk_hv *ghv, *bhv; /* the guest's (frontend) and dom0's */
	struct pvk_evtchn *ev;
	struct pvk_blkfront *bf;
	struct pvk_blkfront_opts opts;
	struct feat def, cur;
	char be_dir[96], fe_dir[96];
	/* the backend's end of the ring */
	void *sring;
	uint32_t pages, refs[16], nr_ents, port;
	uint32_t req_cons, rsp_pvt;
	uint32_t fe_cons, fe_pushed; /* the frontend's, as of the last look */
	uint32_t connects;
	int thr_err;
	/* model */
	struct mio io[MAX_IOS];
	uint32_t unreaped;
	uint64_t seq;
	struct mreq req[MAX_REQS];
	uint32_t nlive;
	/* Slots at and above req_hi were never used (each request takes
	 * the first free slot): the model's loops over requests stop there
	 * (scanning all of them cost a third of an execution). */
	uint32_t req_hi;
	/* per-request grants: refs of answered requests, to check */
	bool per_req; /* this connection grants per request */
	uint32_t retired[GREF_MAX];
	uint32_t nretired;
	/* counters, as pvk_blkfront_stats must show them */
	uint64_t ios, errors, bytes_read, bytes_written;
};

static struct {
	bool up;
	struct pvk_loop *loop;
	struct pvk_hv *tool;
	uint32_t guest;
	struct bfx d[2];
} fx;

/* Per input. */
static struct {
	bool evil, restarts_ok, violation;
	uint32_t gen, restarts;
	uint64_t hist[NHIST];
	uint8_t hist_op[NHIST];
	uint32_t nhist;
} in;

static void quiet(void *arg, const char *line)
{
	(void)arg;
	if (getenv("FUZZ_VERBOSE"))
		fprintf(stderr, "blkfront: %s\n", line);
}

/* Page contents: fz_pat() (fuzz.h). */

static uint32_t next_gen(void)
{
	if (!++in.gen)
		in.gen = 1;
	return in.gen;
}

/* ---- grants, from the backend's side ------------------------------------- */

/* Copy @len bytes between a granted page of the guest and @buf. */
static int16_t gcopy(struct bfx *x, uint32_t ref, void *buf, uint16_t len,
		     bool to_guest)
{
	struct pvk_grant_copy c;

	memset(&c, 0, sizeof(c));
	if (to_guest) {
		c.src.virt = buf;
		c.dst.is_gref = true;
		c.dst.domid = fx.guest;
		c.dst.ref = ref;
	} else {
		c.src.is_gref = true;
		c.src.domid = fx.guest;
		c.src.ref = ref;
		c.dst.virt = buf;
	}
	c.len = len;
	FZ_CHECK(pvk_hv_grant_copy(x->bhv, &c, 1) == 0);
	return c.status;
}

/* ---- xenstore ------------------------------------------------------------ */

static int be_write(struct bfx *x, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int be_write(struct bfx *x, const char *name, const char *fmt, ...)
{
	char path[160], v[64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(v, sizeof(v), fmt, ap);
	va_end(ap);
	snprintf(path, sizeof(path), "%s/%s", x->be_dir, name);
	return pvk_xs_write(x->bhv, PVK_XS_NO_TXN, path, v);
}

static int fe_uint(struct bfx *x, const char *name, unsigned long *v)
{
	char path[160];

	snprintf(path, sizeof(path), "%s/%s", x->fe_dir, name);
	return pvk_xs_read_uint(x->bhv, PVK_XS_NO_TXN, path, v);
}

static unsigned long fe_state(struct bfx *x)
{
	unsigned long v = 0;

	return fe_uint(x, "state", &v) ? 0 : v;
}

/* The backend's first half: its nodes, then InitWait. */
static void be_publish(struct bfx *x, const struct feat *f)
{
	uint32_t ss = f->sector_size ? f->sector_size : 512;
	int rc;

	rc = be_write(x, "max-ring-page-order", "%u", f->order) ?:
		     be_write(x, "multi-queue-max-queues", "1") ?:
		     be_write(x, "feature-max-indirect-segments", "%u", f->indirect) ?:
		     be_write(x, "feature-persistent", "%d", f->persistent) ?:
		     be_write(x, "feature-flush-cache", "%d", f->flush)	    ?:
		     be_write(x, "feature-barrier", "%d", f->barrier)	    ?:
		     be_write(x, "feature-discard", "%d", f->discard)	    ?:
		     be_write(x, "discard-granularity", "%u", f->gran)	    ?:
		     be_write(x, "discard-alignment", "%u", f->align)	    ?:
		     be_write(x, "discard-secure", "%d", f->secure)	    ?:
		     be_write(x, "sectors", "%llu", (unsigned long long)NSECT) ?:
		     be_write(x, "sector-size", "%u", ss)	 ?:
		     be_write(x, "physical-sector-size", "4096") ?:
		     be_write(x, "info", "%d", f->ro ? PVK_VDISK_READONLY : 0) ?:
		     be_write(x, "mode", "%s", f->ro ? "r" : "w");
	if (!rc && f->bad_name)
		rc = be_write(x, f->bad_name, "%s", f->bad_value);
	FZ_CHECK(rc == 0);
	FZ_CHECK(be_write(x, "state", "%d", PVK_XENBUS_INITWAIT) == 0);
}

/* The second half, once the frontend is Initialised: map its ring. */
static int be_connect(struct bfx *x)
{
	struct pvk_blkif_sring *s;
	unsigned long order = 0, v;
	char name[32];
	uint32_t i;
	int rc;

	rc = fe_uint(x, "ring-page-order", &order);
	if ((rc && rc != -ENOENT) || order > 4)
		return -EPROTO;
	x->pages = 1u << order;
	for (i = 0; i < x->pages; i++) {
		if (order)
			snprintf(name, sizeof(name), "ring-ref%u", i);
		else
			snprintf(name, sizeof(name), "ring-ref");
		if ((rc = fe_uint(x, name, &v)))
			return rc;
		x->refs[i] = (uint32_t)v;
	}
	if ((rc = fe_uint(x, "event-channel", &v)))
		return rc;
	rc = pvk_hv_grant_map(x->bhv, fx.guest, x->pages, x->refs, true,
			      &x->sring);
	if (rc)
		return rc;
	x->nr_ents = pvk_blkif_ring_size((size_t)x->pages * PVK_PAGE_SIZE);
	rc = pvk_evtchn_bind(x->ev, fx.guest, (uint32_t)v);
	if (rc < 0)
		return rc;
	x->port = (uint32_t)rc;
	s = x->sring;
	x->req_cons = x->rsp_pvt = x->fe_cons = x->fe_pushed =
		__atomic_load_n(&s->rsp_prod, __ATOMIC_ACQUIRE);
	return be_write(x, "state", "%d", PVK_XENBUS_CONNECTED);
}

static void be_disconnect(struct bfx *x)
{
	if (!x->sring)
		return;
	pvk_evtchn_unbind(x->ev, x->port);
	FZ_CHECK(pvk_hv_grant_unmap(x->bhv, x->sring, x->pages) == 0);
	x->sring = NULL;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Beside pvk_blkfront_open(), which blocks until Connected. */
static void *be_thread(void *arg)
{
	struct bfx *x = arg;
	uint64_t t0 = now_ms();

	while (fe_state(x) != PVK_XENBUS_INITIALISED) {
		if (now_ms() - t0 > 5000) {
			x->thr_err = -ETIMEDOUT;
			return NULL;
		}
		usleep(50);
	}
	x->thr_err = be_connect(x);
	return NULL;
}

/* ---- the model ----------------------------------------------------------- */

static struct pvk_blkfront_info info_of(struct bfx *x)
{
	struct pvk_blkfront_info i;

	pvk_blkfront_info(x->bf, &i);
	return i;
}

static bool broken(struct bfx *x)
{
	return pvk_blkfront_broken_reason(x->bf) != NULL;
}

/* The part of a discard sent (blkfront.h "Discard"): false if none. */
static bool discard_range(const struct pvk_blkfront_info *bi,
			  const struct mio *m, uint64_t *start, uint64_t *end)
{
	uint64_t g = bi->discard_granularity, a = bi->discard_alignment;

	*start = m->io.offset;
	*end = m->io.offset + m->io.len;
	if (m->op == PVK_BLKFRONT_SECURE_DISCARD || g <= bi->sector_size)
		return *end > *start;
	*start = *start > a ? a + (*start - a + g - 1) / g * g : a;
	if (*end < a + g)
		return false;
	*end = a + (*end - a) / g * g;
	return *end > *start;
}

static bool is_discard(const struct mio *m)
{
	return m->op == PVK_BLKFRONT_DISCARD ||
	       m->op == PVK_BLKFRONT_SECURE_DISCARD;
}

static void complete(struct mio *m)
{
	m->state = 2;
}

static void retire(struct bfx *x, const struct mreq *r)
{
	uint32_t i;

	for (i = 0;
	     x->per_req && i < r->nseg + r->nind && x->nretired < GREF_MAX; i++)
		x->retired[x->nretired++] = i < r->nseg ? r->gref[i] :
							  r->igref[i - r->nseg];
}

static void req_free(struct bfx *x, struct mreq *r)
{
	retire(x, r);
	r->live = r->pending = false;
	x->nlive--;
}

static struct mreq *req_by_id(struct bfx *x, uint64_t id)
{
	uint32_t i;

	for (i = 0; i < x->req_hi; i++)
		if (x->req[i].live && x->req[i].id == id)
			return &x->req[i];
	return NULL;
}

/* The @k-th (mod their number) live request with no answer written. */
static struct mreq *req_pick(struct bfx *x, uint32_t k)
{
	uint32_t i, n = 0;

	for (i = 0; i < x->req_hi; i++)
		n += x->req[i].live && !x->req[i].pending;
	if (!n)
		return NULL;
	k %= n;
	for (i = 0; i < x->req_hi; i++)
		if (x->req[i].live && !x->req[i].pending && !k--)
			return &x->req[i];
	return NULL;
}

static bool data_read(const struct mreq *r)
{
	return r->len &&
	       (r->op == PVK_BLKIF_OP_READ || (r->op == PVK_BLKIF_OP_INDIRECT &&
					       r->inner == PVK_BLKIF_OP_READ));
}

static uint32_t chunk(const struct mreq *r, uint32_t i)
{
	uint32_t off = i * PVK_PAGE_SIZE;

	return r->len - off > PVK_PAGE_SIZE ? PVK_PAGE_SIZE : r->len - off;
}

/* What data page @i of @r holds, if the backend wrote it. */
static void page_content(const struct mreq *r, uint32_t i, uint8_t *out)
{
	memcpy(out, fz_pat(r->gen[i]), PVK_PAGE_SIZE);
	if (i == 0 && r->plen)
		memcpy(out, r->prefix, r->plen);
}

/* The oldest io not fully split into requests, past the discards that
 * need none under the current parameters; NULL if none. */
static struct mio *dispatch_head(struct bfx *x,
				 const struct pvk_blkfront_info *bi)
{
	struct mio *best = NULL, *m;
	uint64_t s, e;
	uint32_t i;

	for (i = 0; i < MAX_IOS; i++) {
		m = &x->io[i];
		if (m->state != 1 || m->sent)
			continue;
		if (is_discard(m) && !m->frags && !discard_range(bi, m, &s, &e))
			continue;
		if (!best || m->seq < best->seq)
			best = m;
	}
	return best;
}

/* Request @q was taken: it must be the next piece of the oldest io. */
static void attribute(struct bfx *x, const struct pvk_blkfront_info *bi,
		      const union pvk_blkif_any_request *q)
{
	static uint8_t page[PVK_PAGE_SIZE];
	struct pvk_blkif_request_segment segs[MAX_SEGS];
	struct mio *m = dispatch_head(x, bi);
	struct mreq *r = NULL;
	uint64_t left, bytes, start, end;
	uint32_t i, n;

	FZ_CHECK(m != NULL);
	for (i = 0; i < MAX_REQS && !r; i++)
		if (!x->req[i].live)
			r = &x->req[i];
	FZ_CHECK(r != NULL);
	if (i > x->req_hi)
		x->req_hi = i;
	FZ_CHECK(!req_by_id(x, q->rw.id));
	memset(r, 0, offsetof(struct mreq, gref));
	memset(r->gen, 0, sizeof(r->gen));
	r->io = (int)(m - x->io);
	r->op = q->hdr.operation;
	r->io_off = m->cursor;
	switch (m->op) {
	case PVK_BLKFRONT_FLUSH:
		FZ_CHECK(r->op == (bi->flush ? PVK_BLKIF_OP_FLUSH_DISKCACHE :
					       PVK_BLKIF_OP_WRITE_BARRIER));
		FZ_CHECK(q->rw.nr_segments == 0 && q->rw.sector_number == 0);
		FZ_CHECK(q->rw.handle == (uint16_t)x->devid);
		r->id = q->rw.id;
		m->sent = true;
		break;
	case PVK_BLKFRONT_DISCARD:
	case PVK_BLKFRONT_SECURE_DISCARD:
		FZ_CHECK(discard_range(bi, m, &start, &end));
		FZ_CHECK(r->op == PVK_BLKIF_OP_DISCARD);
		FZ_CHECK(q->discard.flag ==
			 (m->op == PVK_BLKFRONT_SECURE_DISCARD ?
				  PVK_BLKIF_DISCARD_SECURE :
				  0));
		FZ_CHECK(q->discard.handle == (uint16_t)x->devid);
		FZ_CHECK(q->discard.sector_number == start / 512);
		FZ_CHECK(q->discard.nr_sectors == (end - start) / 512);
		r->id = q->discard.id;
		m->cursor = m->io.len;
		m->sent = true;
		break;
	default:
		left = m->io.len - m->cursor;
		bytes = (uint64_t)bi->max_segments * PVK_PAGE_SIZE;
		if (bytes > left)
			bytes = left;
		n = (uint32_t)((bytes + PVK_PAGE_SIZE - 1) / PVK_PAGE_SIZE);
		FZ_CHECK(n <= MAX_SEGS);
		r->len = (uint32_t)bytes;
		r->nseg = n;
		if (n > PVK_BLKIF_MAX_SEGMENTS_PER_REQUEST) {
			FZ_CHECK(r->op == PVK_BLKIF_OP_INDIRECT);
			r->inner = q->indirect.indirect_op;
			FZ_CHECK(r->inner == (m->op == PVK_BLKFRONT_READ ?
						      PVK_BLKIF_OP_READ :
						      PVK_BLKIF_OP_WRITE));
			FZ_CHECK(q->indirect.nr_segments == n);
			FZ_CHECK(q->indirect.handle == (uint16_t)x->devid);
			FZ_CHECK(q->indirect.sector_number ==
				 (m->io.offset + m->cursor) / 512);
			r->id = q->indirect.id;
			r->nind = pvk_blkif_indirect_pages(n);
			for (i = 0; i < r->nind; i++) {
				uint32_t
					k = i *
					    PVK_BLKIF_SEGS_PER_INDIRECT_PAGE,
					c = n - k < PVK_BLKIF_SEGS_PER_INDIRECT_PAGE ?
						    n - k :
						    PVK_BLKIF_SEGS_PER_INDIRECT_PAGE;

				r->igref[i] = q->indirect.indirect_grefs[i];
				FZ_CHECK(gcopy(x, r->igref[i], segs + k,
					       (uint16_t)(c * sizeof(segs[0])),
					       false) == 0);
			}
		} else {
			FZ_CHECK(r->op == (m->op == PVK_BLKFRONT_READ ?
						   PVK_BLKIF_OP_READ :
						   PVK_BLKIF_OP_WRITE));
			FZ_CHECK(q->rw.nr_segments == n);
			FZ_CHECK(q->rw.handle == (uint16_t)x->devid);
			FZ_CHECK(q->rw.sector_number ==
				 (m->io.offset + m->cursor) / 512);
			r->id = q->rw.id;
			memcpy(segs, q->rw.seg, n * sizeof(segs[0]));
		}
		for (i = 0; i < n; i++) {
			uint32_t c = chunk(r, i);

			FZ_CHECK(segs[i].first_sect == 0);
			FZ_CHECK(segs[i].last_sect == c / 512 - 1);
			r->gref[i] = segs[i].gref;
			if (m->op != PVK_BLKFRONT_WRITE)
				continue;
			/* The io's bytes, in the page granted for them. */
			FZ_CHECK(gcopy(x, r->gref[i], page, (uint16_t)c,
				       false) == 0);
			FZ_CHECK(!memcmp(page,
					 m->buf + m->cursor +
						 (uint64_t)i * PVK_PAGE_SIZE,
					 c));
		}
		m->cursor += bytes;
		if (m->cursor >= m->io.len)
			m->sent = true;
		break;
	}
	m->frags++;
	r->live = true;
	x->nlive++;
}

/* Take every request published (after a kick: none is left unpushed). */
static void take_all(struct bfx *x)
{
	struct pvk_blkif_sring *s = x->sring;
	union pvk_blkif_any_request q;
	struct pvk_blkfront_info bi;
	uint32_t prod;
	int port;

	if (!s)
		return;
	while ((port = pvk_evtchn_pending(x->ev)) >= 0)
		pvk_evtchn_unmask(x->ev, (uint32_t)port);
	bi = info_of(x);
	prod = __atomic_load_n(&s->req_prod, __ATOMIC_ACQUIRE);
	/* The frontend never publishes more than the ring holds. */
	FZ_CHECK((uint32_t)(prod - x->fe_cons) <= x->nr_ents);
	while (x->req_cons != prod) {
		memcpy(&q, &s->ring[x->req_cons & (x->nr_ents - 1)].req,
		       sizeof(q));
		x->req_cons++;
		attribute(x, &bi, &q);
	}
	x->fe_pushed = prod;
	__atomic_store_n(&s->req_event, prod + 1, __ATOMIC_RELEASE);
}

/* One response as the frontend reads it; false: a violation. */
static bool process(struct bfx *x, const struct pvk_blkif_response *rsp)
{
	static uint8_t page[PVK_PAGE_SIZE];
	struct mreq *r = req_by_id(x, rsp->id);
	struct mio *m;
	uint32_t i;
	int err = 0;

	if (!r)
		return false;
	if (rsp->operation != r->op &&
	    (r->op != PVK_BLKIF_OP_INDIRECT || rsp->operation != r->inner))
		return false;
	m = &x->io[r->io];
	if (rsp->status == PVK_BLKIF_RSP_OKAY && data_read(r)) {
		for (i = 0; i < r->nseg; i++) {
			if (!r->gen[i]) {
				m->unknown = true;
				continue;
			}
			page_content(r, i, page);
			memcpy(m->exp + r->io_off + (uint64_t)i * PVK_PAGE_SIZE,
			       page, chunk(r, i));
		}
		x->bytes_read += r->len;
	} else if (rsp->status == PVK_BLKIF_RSP_OKAY && r->len) {
		x->bytes_written += r->len;
	} else if (rsp->status != PVK_BLKIF_RSP_OKAY) {
		err = rsp->status == PVK_BLKIF_RSP_EOPNOTSUPP ? -EOPNOTSUPP :
								-EIO;
	}
	in.hist[in.nhist % NHIST] = r->id;
	in.hist_op[in.nhist++ % NHIST] = rsp->operation;
	req_free(x, r);
	m->frags--;
	if (err) {
		if (!m->result)
			m->result = err;
		m->sent = true;
	}
	if (!m->frags && m->sent)
		complete(m);
	return true;
}

/* ---- the frontend's side: submit, reap ----------------------------------- */

static int expect_submit(struct bfx *x, uint8_t op, uint64_t off, uint64_t len)
{
	struct pvk_blkfront_info bi = info_of(x);
	uint64_t ss = bi.sector_size;

	if (broken(x))
		return -EIO;
	switch (op) {
	case PVK_BLKFRONT_READ:
	case PVK_BLKFRONT_WRITE:
	case PVK_BLKFRONT_DISCARD:
	case PVK_BLKFRONT_SECURE_DISCARD:
		if ((op < PVK_BLKFRONT_DISCARD && !len) || off % ss ||
		    len % ss || off > bi.size_bytes ||
		    len > bi.size_bytes - off)
			return -EINVAL;
		if (op != PVK_BLKFRONT_READ && bi.read_only)
			return -EROFS;
		if (op < PVK_BLKFRONT_DISCARD)
			break;
		if (!len)
			return -EINVAL;
		if (!bi.discard ||
		    (op == PVK_BLKFRONT_SECURE_DISCARD && !bi.discard_secure))
			return -EOPNOTSUPP;
		break;
	default:
		if (!bi.flush && !bi.barrier)
			return -EOPNOTSUPP;
		if (len)
			return -EINVAL;
		break;
	}
	return x->unreaped >= x->opts.queue_depth ? -EAGAIN : 0;
}

static void mio_free(struct bfx *x, struct mio *m)
{
	m->buf = m->exp = NULL;
	m->state = 0;
	x->unreaped--;
}

static int submit(struct bfx *x, uint8_t op, uint64_t off, uint64_t len)
{
	int want = expect_submit(x, op, off, len), rc, i;
	struct mio *m = NULL;
	uint64_t k;

	for (i = 0; i < MAX_IOS && !m; i++)
		if (!x->io[i].state)
			m = &x->io[i];
	FZ_CHECK(m != NULL);
	memset(m, 0, offsetof(struct mio, blk));
	if (!m->blk) {
		m->blk = malloc(IO_BYTES);
		m->eblk = malloc(IO_BYTES);
		FZ_CHECK(m->blk && m->eblk);
	}
	m->op = op;
	m->io.op = op;
	m->io.offset = off;
	m->io.len = len;
	m->io.user = m;
	m->seq = x->seq++;
	if (op == PVK_BLKFRONT_READ || op == PVK_BLKFRONT_WRITE) {
		FZ_CHECK(len <= IO_BYTES);
		m->buf = m->blk + IO_BYTES - len;
		m->io.buf = m->buf;
		for (k = 0; k < len; k += PVK_PAGE_SIZE)
			memcpy(m->buf + k, fz_pat(next_gen()),
			       len - k < PVK_PAGE_SIZE ? len - k :
							 PVK_PAGE_SIZE);
		if (op == PVK_BLKFRONT_READ) {
			m->exp = m->eblk + IO_BYTES - len;
			memcpy(m->exp, m->buf, len);
		}
	}
	m->state = 1;
	x->unreaped++;
	rc = pvk_blkfront_submit(x->bf, &m->io);
	if (getenv("FUZZ_VERBOSE"))
		fprintf(stderr, "submit io %llu: op %u %llu+%llu: %d\n",
			(unsigned long long)m->seq, op, (unsigned long long)off,
			(unsigned long long)len, rc);
	FZ_CHECK(rc == want);
	if (rc) {
		mio_free(x, m);
		return rc;
	}
	x->ios++;
	return 0;
}

/* An io handed back by reap(). */
static void check_reaped(struct bfx *x, struct pvk_blkfront_io *io)
{
	struct mio *m = io->user;
	struct pvk_blkfront_info bi = info_of(x);
	uint64_t s, e;

	FZ_CHECK(m >= x->io && m < x->io + MAX_IOS && &m->io == io);
	FZ_CHECK(m->state == 1 || m->state == 2);
	if (getenv("FUZZ_VERBOSE"))
		fprintf(stderr,
			"reaped io %llu: op %u %llu+%llu result %d; model: "
			"state %d result %d frags %u sent %d\n",
			(unsigned long long)m->seq, m->op,
			(unsigned long long)io->offset,
			(unsigned long long)io->len, io->result, m->state,
			m->result, m->frags, m->sent);
	if (m->state == 2) {
		/* Completed by its responses (or a restart's teardown). */
		FZ_CHECK(io->result == m->result);
		if (!io->result && m->op == PVK_BLKFRONT_READ && !m->unknown)
			FZ_CHECK(!memcmp(m->buf, m->exp, io->len));
	} else if (is_discard(m) && !m->frags && !m->sent && !io->result &&
		   !discard_range(&bi, m, &s, &e)) {
		/* A discard with no whole granule: no request. */
	} else {
		/* Not every request answered: only a broken device fails
		 * it, with its first error or -EIO; a discard that needs no
		 * request may have completed first. */
		FZ_CHECK(in.violation);
		FZ_CHECK(io->result == (m->result ? m->result : -EIO) ||
			 (is_discard(m) && !m->frags && !io->result));
	}
	if (io->result)
		x->errors++;
	mio_free(x, m);
}

/* Reap what is done (@timeout_ms 0), or wait that long for events. */
static void collect(struct bfx *x, int timeout_ms)
{
	struct pvk_blkfront_io *done[MAXD];
	int rc, i;

	for (;;) {
		rc = pvk_blkfront_reap(x->bf, done, timeout_ms ? MAXD : 1, MAXD,
				       timeout_ms);
		if (rc == -ENOENT) {
			FZ_CHECK(x->unreaped == 0);
			break;
		}
		FZ_CHECK(rc >= 0 && rc <= MAXD);
		for (i = 0; i < rc; i++)
			check_reaped(x, done[i]);
		if (timeout_ms || rc < MAXD)
			break;
	}
	FZ_CHECK(pvk_blkfront_in_flight(x->bf) == x->unreaped);
}

/* ---- the backend's ops --------------------------------------------------- */

/* Write data page contents for @r's answer: a pattern, maybe a prefix. */
static void write_data(struct bfx *x, struct mreq *r, const uint8_t *prefix,
		       uint32_t plen)
{
	static uint8_t page[PVK_PAGE_SIZE];
	uint32_t i;

	r->prefix = prefix;
	r->plen = plen;
	for (i = 0; i < r->nseg; i++) {
		r->gen[i] = next_gen();
		page_content(r, i, page);
		FZ_CHECK(gcopy(x, r->gref[i], page, (uint16_t)chunk(r, i),
			       true) == 0);
	}
}

static void put_rsp(struct bfx *x, const struct pvk_blkif_response *rsp)
{
	struct pvk_blkif_sring *s = x->sring;

	memcpy(&s->ring[x->rsp_pvt & (x->nr_ents - 1)].rsp, rsp, sizeof(*rsp));
	x->rsp_pvt++;
}

static void answer(struct bfx *x, struct mreq *r, uint8_t ctl, int16_t status,
		   const uint8_t *prefix, uint32_t plen)
{
	struct pvk_blkif_response rsp = { .id = r->id, .operation = r->op };

	if ((ctl & AC_INNER) && r->op == PVK_BLKIF_OP_INDIRECT)
		rsp.operation = r->inner;
	rsp.status = status;
	if (status == PVK_BLKIF_RSP_OKAY && data_read(r))
		write_data(x, r, prefix, plen);
	r->pending = true;
	put_rsp(x, &rsp);
}

static void op_answer(struct fz *f, struct bfx *x)
{
	static const int16_t st[4] = { PVK_BLKIF_RSP_OKAY, PVK_BLKIF_RSP_OKAY,
				       PVK_BLKIF_RSP_ERROR,
				       PVK_BLKIF_RSP_EOPNOTSUPP };
	uint32_t n = 1 + fz_u8(f) % 16, i, plen;
	struct pvk_blkif_response rsp;
	const uint8_t *prefix;
	struct mreq *r;
	int16_t status;
	uint8_t ctl, kind;

	/* Nothing unpushed may sit in a slot we write. */
	pvk_blkfront_kick(x->bf);
	take_all(x);
	for (i = 0; i < n; i++) {
		ctl = fz_u8(f);
		kind = in.evil ? ctl & AC_KIND : 0;
		status = ctl & AC_RAW_STATUS ? (int16_t)fz_u16(f) :
					       st[ctl & AC_STATUS];
		prefix = NULL;
		plen = 0;
		if (ctl & AC_PREFIX) {
			plen = fz_u8(f);
			if (plen > f->n)
				plen = (uint32_t)f->n;
			prefix = f->p;
			f->p += plen;
			f->n -= plen;
		}
		memset(&rsp, 0, sizeof(rsp));
		rsp.status = status;
		if (kind == AC_RAW) {
			rsp.id = fz_u64(f);
			rsp.operation = fz_u8(f);
			put_rsp(x, &rsp);
			continue;
		}
		if (kind == AC_DUP) {
			uint8_t k = fz_u8(f);

			if (!in.nhist)
				continue;
			k %= in.nhist < NHIST ? in.nhist : NHIST;
			rsp.id = in.hist[k];
			rsp.operation = in.hist_op[k];
			put_rsp(x, &rsp);
			continue;
		}
		r = req_pick(x, fz_u8(f));
		if (!r)
			break;
		if (kind == AC_BAD_OP) {
			rsp.id = r->id;
			rsp.operation = fz_u8(f);
			put_rsp(x, &rsp);
			continue;
		}
		answer(x, r, ctl, status, prefix, plen);
	}
}

/*
 * Grants per request: every grant of a request answered must be gone,
 * unless the same ref now serves a request in flight (taken: call after
 * take_all()) or the ring.
 */
static void grant_checkpoint(struct bfx *x)
{
	static uint8_t live[GREF_MAX / 8];
	uint8_t b;
	uint32_t i, k, g;

	if (!x->per_req || !x->nretired)
		return;
	memset(live, 0, sizeof(live));
	for (i = 0; i < x->pages; i++)
		if (x->refs[i] < GREF_MAX)
			live[x->refs[i] / 8] |= (uint8_t)(1u << x->refs[i] % 8);
	for (i = 0; i < x->req_hi; i++) {
		const struct mreq *r = &x->req[i];

		for (k = 0; r->live && k < r->nseg + r->nind; k++) {
			g = k < r->nseg ? r->gref[k] : r->igref[k - r->nseg];
			if (g < GREF_MAX)
				live[g / 8] |= (uint8_t)(1u << g % 8);
		}
	}
	for (i = 0; i < x->nretired; i++) {
		g = x->retired[i];
		if (g < GREF_MAX && (live[g / 8] & (1u << g % 8)))
			continue;
		FZ_CHECK(gcopy(x, g, &b, 1, false) == PVK_GNTST_BAD_GNTREF);
	}
	x->nretired = 0;
}

/*
 * Publish the responses written (rsp_prod = what was written + @ahead)
 * and let the frontend take them; the model takes them first, from the
 * slots as the frontend will read them.
 */
static void publish(struct bfx *x, uint32_t ahead, bool notify)
{
	struct pvk_blkif_sring *s = x->sring;
	struct pvk_blkif_response rsp;
	uint32_t prod, i;
	bool busy;

	pvk_blkfront_kick(x->bf);
	take_all(x);
	busy = x->nlive > 0;
	prod = x->rsp_pvt + ahead;
	__atomic_store_n(&s->rsp_prod, prod, __ATOMIC_RELEASE);
	if (notify)
		pvk_evtchn_notify(x->ev, x->port);
	if (getenv("FUZZ_VERBOSE"))
		fprintf(stderr,
			"publish: prod %u (ahead %u) fe_cons %u fe_pushed %u "
			"live %u\n",
			prod, ahead, x->fe_cons, x->fe_pushed, x->nlive);
	if (!busy) {
		/* The frontend looks at a ring only with requests on it;
		 * anything published now answers none of them. */
		if (prod != x->fe_cons)
			in.violation = true;
	} else if ((uint32_t)(prod - x->fe_cons) >
		   (uint32_t)(x->fe_pushed - x->fe_cons)) {
		in.violation = true; /* more responses than requests */
	} else {
		/* Slots past what was written hold requests: their "id" is
		 * operation, nr_segments and handle, far out of range. */
		for (i = x->fe_cons; i != prod && !in.violation; i++) {
			memcpy(&rsp, &s->ring[i & (x->nr_ents - 1)].rsp,
			       sizeof(rsp));
			if (!process(x, &rsp)) {
				in.violation = true;
				if (getenv("FUZZ_VERBOSE"))
					fprintf(stderr,
						"violation at %u: id %#llx op %u\n",
						i, (unsigned long long)rsp.id,
						rsp.operation);
			}
		}
		x->fe_cons = prod;
	}
	collect(x, 0);
	if (in.violation)
		return;
	/* reap() flushes: the ios that waited for the slots and pages just
	 * freed are on the ring now, maybe with the same grant refs. */
	take_all(x);
	grant_checkpoint(x);
}

static void op_scribble(struct fz *f, struct bfx *x)
{
	static uint8_t page[PVK_PAGE_SIZE];
	struct mreq *r;
	uint32_t i, gen, g;
	bool ro;
	int16_t st;

	pvk_blkfront_kick(x->bf);
	take_all(x);
	r = req_pick(x, fz_u8(f));
	i = fz_u8(f);
	if (!r || !(r->nseg + r->nind))
		return;
	i %= r->nseg + r->nind;
	g = i < r->nseg ? r->gref[i] : r->igref[i - r->nseg];
	gen = next_gen();
	memcpy(page, fz_pat(gen), sizeof(page));
	st = gcopy(x, g, page, PVK_PAGE_SIZE, true);
	/* Per-request grants of a write are read-only (blkfront.h). */
	ro = !info_of(x).grant_pool && !data_read(r);
	FZ_CHECK(st == (ro ? PVK_GNTST_PERMISSION_DENIED : 0));
	if (!st && i < r->nseg) {
		r->gen[i] = gen;
		if (i == 0)
			r->plen = 0;
	}
}

static void op_submit(struct fz *f, struct bfx *x)
{
	uint32_t n = 1 + fz_u8(f) % 4, i;
	uint64_t off, len;
	uint8_t t, op;

	for (i = 0; i < n; i++) {
		t = fz_u8(f);
		off = fz_u16(f);
		len = fz_u16(f);
		op = t % 5;
		switch (op) {
		case PVK_BLKFRONT_READ:
		case PVK_BLKFRONT_WRITE:
			len = 1 + len % IO_SECTORS;
			break;
		case PVK_BLKFRONT_FLUSH:
			len = 0;
			break;
		default:
			len = 1 + len % 4096;
			break;
		}
		off = (off * 7) % NSECT;
		if (off + len > NSECT)
			off = NSECT - len;
		off *= 512;
		len *= 512;
		if (t & 0x80) {
			/* Raw: misaligned, beyond the disk, flush with a
			 * length. */
			off = (uint64_t)fz_u32(f) << (t & 0x40 ? 0 : 9);
			len = (uint64_t)(fz_u16(f) % 4096)
			      << (t & 0x20 ? 0 : 9);
			if (op <= PVK_BLKFRONT_WRITE && len > IO_BYTES)
				len = IO_BYTES;
		}
		submit(x, op, off, len);
	}
}

/* ---- restarts and reconnections ------------------------------------------ */

/* Let the frontend handle xenstore until @done(@x) or it is broken: it
 * does only while waiting for I/O, so give it one to wait for.  A change
 * the backend made is already signalled (the loop hypervisor's xenstore
 * is synchronous) and reap(..., 0) takes it; only a frontend that has not
 * got there yet is waited for, on its descriptor (up to PUMP_MS, ending
 * at the next change), never a fixed sleep per step. */
static void pump_until(struct bfx *x, bool (*done)(struct bfx *))
{
	struct pollfd p = { .fd = pvk_blkfront_fd(x->bf), .events = POLLIN };
	uint32_t i;

	for (i = 0; i < PUMPS_MAX && !broken(x) && !done(x); i++) {
		collect(x, 0);
		if (!x->unreaped)
			submit(x, PVK_BLKFRONT_READ, 0, 512);
		collect(x, 0);
		if (broken(x) || done(x))
			break;
		(void)poll(&p, 1, PUMP_MS);
	}
}

static bool fe_initialised(struct bfx *x)
{
	return fe_state(x) == PVK_XENBUS_INITIALISED;
}

static bool fe_connected_again(struct bfx *x)
{
	return info_of(x).connects != x->connects;
}

static void check_info(struct bfx *x)
{
	struct pvk_blkfront_info bi = info_of(x);
	const struct feat *f = &x->cur;
	bool per_req = x->opts.flags & PVK_BLKFRONT_GRANT_PER_REQUEST;
	uint32_t ind = f->indirect > x->opts.max_indirect_segs ?
			       x->opts.max_indirect_segs :
			       f->indirect;

	if (getenv("FUZZ_VERBOSE"))
		fprintf(stderr,
			"connected: order %u (offered %u), %u entries\n",
			bi.ring_order, f->order, bi.ring_entries);
	FZ_CHECK(bi.ring_order == f->order);
	FZ_CHECK(bi.ring_entries == x->nr_ents && bi.nr_queues == 1);
	FZ_CHECK(bi.persistent == f->persistent);
	FZ_CHECK(bi.grant_pool == (f->persistent || !per_req));
	FZ_CHECK(bi.max_segments ==
		 (ind > PVK_BLKIF_MAX_SEGMENTS_PER_REQUEST ?
			  ind :
			  PVK_BLKIF_MAX_SEGMENTS_PER_REQUEST));
	FZ_CHECK(bi.flush == f->flush && bi.barrier == f->barrier);
	FZ_CHECK(bi.read_only == f->ro && bi.discard <= f->discard);
	FZ_CHECK(bi.size_bytes == DISK_BYTES && bi.sector_size == 512);
	FZ_CHECK(bi.connects == x->connects);
	x->per_req = !bi.grant_pool;
}

/* The backend restarts with @f: rings gone, every request forgotten,
 * InitWait again; the frontend re-issues what is not complete. */
static void restart(struct bfx *x, const struct feat *f)
{
	uint32_t i;

	collect(x, 0);
	be_disconnect(x);
	for (i = 0; i < x->req_hi; i++)
		if (x->req[i].live)
			req_free(x, &x->req[i]);
	for (i = 0; i < MAX_IOS; i++) {
		struct mio *m = &x->io[i];

		if (m->state != 1)
			continue;
		m->frags = 0;
		if (m->result) {
			complete(m);
			continue;
		}
		m->cursor = 0;
		m->sent = false;
	}
	x->cur = *f;
	if (f->bad_name || f->sector_size)
		in.violation = true;
	be_publish(x, f);
	/* A wait can end before the frontend looked (a busy machine): as
	 * many as it takes, each one a step of the handshake. */
	pump_until(x, fe_initialised);
	if (!broken(x)) {
		FZ_CHECK(fe_state(x) == PVK_XENBUS_INITIALISED);
		FZ_CHECK(be_connect(x) == 0);
		pump_until(x, fe_connected_again);
	}
	FZ_CHECK(broken(x) == in.violation);
	if (in.violation)
		return;
	x->connects++;
	check_info(x);
	/* A pooled connection keeps its pages granted: nothing to check. */
	if (!x->per_req)
		x->nretired = 0;
}

static bool feat_eq(const struct feat *a, const struct feat *b)
{
	return a->order == b->order && a->indirect == b->indirect &&
	       a->persistent == b->persistent && a->flush == b->flush &&
	       a->barrier == b->barrier && a->discard == b->discard &&
	       a->secure == b->secure && a->ro == b->ro && a->gran == b->gran &&
	       a->align == b->align && a->sector_size == b->sector_size &&
	       a->bad_name == b->bad_name;
}

static const uint16_t ind_opts[8] = { 0, 11, 12, 16, 32, 64, 256, 1000 };
static const uint32_t gran_opts[8] = { 0,    512,   1024, 4096,
				       8192, 65536, 1536, 700 };
static const uint32_t align_opts[5] = { 0, 512, 4096, 300, 8192 + 512 };

static void feat_read(struct fz *f, struct feat *ft)
{
	uint8_t a = fz_u8(f), b = fz_u8(f), c = fz_u8(f);

	memset(ft, 0, sizeof(*ft));
	ft->order = a % 5;
	ft->persistent = a >> 3 & 1;
	ft->flush = a >> 4 & 1;
	ft->barrier = a >> 5 & 1;
	ft->discard = a >> 6 & 1;
	ft->secure = a >> 7;
	ft->indirect = ind_opts[b % 8];
	ft->gran = gran_opts[b >> 3 & 7];
	ft->align = align_opts[c % 5];
	ft->ro = (c >> 3 & 3) == 3;
}

static void op_restart(struct fz *f, struct bfx *x, bool evil)
{
	static const char *const bad[4][2] = {
		{ "max-ring-page-order", "1x" }, /* at talk */
		{ "sectors", "0" }, /* at connect */
		{ "feature-flush-cache", "2" },
		{ "sector-size", "4096" }, /* changed across a reconnect */
	};
	struct feat ft;
	uint8_t k;

	feat_read(f, &ft);
	k = fz_u8(f);
	if ((!in.restarts_ok && !evil) || in.restarts >= MAX_RESTARTS)
		return;
	in.restarts++;
	if (evil) {
		if (k % 4 == 3) {
			ft.sector_size = 4096;
		} else {
			ft.bad_name = bad[k % 4][0];
			ft.bad_value = bad[k % 4][1];
		}
	}
	restart(x, &ft);
}

/* ---- fixture ------------------------------------------------------------- */

static void model_reset(struct bfx *x)
{
	uint32_t i;

	for (i = 0; i < MAX_IOS; i++)
		if (x->io[i].state)
			mio_free(x, &x->io[i]);
	for (i = 0; i < x->req_hi; i++)
		x->req[i].live = x->req[i].pending = false;
	x->nlive = x->nretired = 0;
	x->ios = x->errors = x->bytes_read = x->bytes_written = 0;
	x->connects = 1;
}

/* InitWait, then the frontend's blocking open beside the backend's
 * second half. */
static void open_disk(struct bfx *x)
{
	pthread_t th;
	int rc;

	x->cur = x->def;
	be_publish(x, &x->def);
	x->thr_err = 0;
	FZ_CHECK(pthread_create(&th, NULL, be_thread, x) == 0);
	rc = pvk_blkfront_open(&x->bf, x->ghv, x->vdev, &x->opts);
	pthread_join(th, NULL);
	FZ_CHECK(rc == 0 && x->thr_err == 0);
	model_reset(x);
	check_info(x);
}

static void reopen_disk(struct bfx *x)
{
	be_disconnect(x);
	FZ_CHECK(be_write(x, "state", "%d", PVK_XENBUS_CLOSED) == 0);
	pvk_blkfront_close(x->bf);
	x->bf = NULL;
	open_disk(x);
}

static void setup(void)
{
	static const char *const be_nodes[] = { "params=ram", "mode=w",
						"device-type=disk", NULL };
	static const char *const fe_a[] = { "virtual-device=51712",
					    "device-type=disk", NULL };
	static const char *const fe_b[] = { "virtual-device=51728",
					    "device-type=disk", NULL };
	uint32_t i;

	fz_pat_init();
	FZ_CHECK(pvk_loop_create(&fx.loop) == 0);
	FZ_CHECK(pvk_hv_open_loop(&fx.tool, fx.loop, 0) == 0);
	FZ_CHECK(pvk_loop_domain_create(fx.loop, "guest", &fx.guest) == 0);
	/* xvda: the grant pool, persistent grants, indirect requests. */
	fx.d[0].vdev = "xvda";
	fx.d[0].devid = 51712;
	fx.d[0].opts.flags = PVK_BLKFRONT_NO_MULTI_QUEUE;
	fx.d[0].opts.max_indirect_segs = 64;
	fx.d[0].opts.queue_depth = 32;
	fx.d[0].def.order = 1;
	fx.d[0].def.indirect = 32;
	fx.d[0].def.persistent = true;
	fx.d[0].def.flush = true;
	fx.d[0].def.discard = true;
	fx.d[0].def.secure = true;
	fx.d[0].def.gran = 4096;
	/* xvdb: grants per request, one-page ring, 11 segments. */
	fx.d[1].vdev = "xvdb";
	fx.d[1].devid = 51728;
	fx.d[1].opts.flags = PVK_BLKFRONT_NO_MULTI_QUEUE |
			     PVK_BLKFRONT_GRANT_PER_REQUEST;
	fx.d[1].opts.max_indirect_segs = 256;
	fx.d[1].opts.queue_depth = 8;
	fx.d[1].def.barrier = true;
	fx.d[1].def.discard = true;
	fx.d[1].def.gran = 8192;
	fx.d[1].def.align = 4096;
	fx.d[0].opts.log = fx.d[1].opts.log = quiet;
	for (i = 0; i < 2; i++) {
		struct bfx *x = &fx.d[i];
		struct t_dev d = { .type = "vbd",
				   .fe_type = "vbd",
				   .fe = fx.guest,
				   .devid = x->devid,
				   .be_nodes = be_nodes,
				   .fe_nodes = i ? fe_b : fe_a };

		FZ_CHECK(t_dev_attach(fx.tool, &d) == 0);
		snprintf(x->be_dir, sizeof(x->be_dir),
			 "/local/domain/0/backend/vbd/%u/%u", fx.guest,
			 x->devid);
		snprintf(x->fe_dir, sizeof(x->fe_dir),
			 "/local/domain/%u/device/vbd/%u", fx.guest, x->devid);
		FZ_CHECK(pvk_hv_open_loop(&x->ghv, fx.loop, fx.guest) == 0);
		FZ_CHECK(pvk_hv_open_loop(&x->bhv, fx.loop, 0) == 0);
		FZ_CHECK(pvk_evtchn_open(x->bhv, &x->ev) == 0);
		open_disk(x);
	}
	fx.up = true;
}

/* ---- the end of an input ------------------------------------------------- */

static void check_stats(struct bfx *x)
{
	struct pvk_blkfront_stats st;

	pvk_blkfront_stats(x->bf, &st);
	FZ_CHECK(st.ios == x->ios);
	FZ_CHECK(st.errors == x->errors);
	FZ_CHECK(st.bytes_read == x->bytes_read);
	FZ_CHECK(st.bytes_written == x->bytes_written);
}

/* Answer everything, reap everything. */
static void quiesce(struct bfx *x)
{
	uint32_t round, i;

	for (round = 0; x->unreaped && round < 256; round++) {
		pvk_blkfront_kick(x->bf);
		take_all(x);
		for (i = 0; i < x->req_hi; i++)
			if (x->req[i].live && !x->req[i].pending)
				answer(x, &x->req[i], 0, PVK_BLKIF_RSP_OKAY,
				       NULL, 0);
		/* Evil answers written and not yet published show now. */
		publish(x, 0, round & 1);
		if (in.violation)
			return;
	}
	FZ_CHECK(!x->unreaped && !x->nlive);
	FZ_CHECK(!broken(x));
	check_stats(x);
}

/* The backend broke the protocol: the frontend must be (or become, once
 * it looks at its ring again) broken, fail what is left, refuse more. */
static void end_violation(struct bfx *x)
{
	char why[160];

	collect(x, 0);
	if (!broken(x) && submit(x, PVK_BLKFRONT_READ, 0, 512) == 0) {
		pvk_blkfront_kick(x->bf);
		collect(x, 0);
	}
	FZ_CHECK(broken(x));
	snprintf(why, sizeof(why), "%s", pvk_blkfront_broken_reason(x->bf));
	FZ_CHECK(submit(x, PVK_BLKFRONT_READ, 0, 512) == -EIO);
	FZ_CHECK(pvk_blkfront_kick(x->bf) == -EIO);
	collect(x, 0);
	FZ_CHECK(!x->unreaped);
	FZ_CHECK(!strcmp(why, pvk_blkfront_broken_reason(x->bf)));
	check_stats(x);
	reopen_disk(x);
}

/*
 * Does this input play its protocol violations?  One in EVIL_ONE_IN
 * does, by a hash of all its bytes: each costs a close and an open of
 * the disk, and an input that played one and its mutations would fill
 * the corpus.  In the others the same bytes play honest answers.  So
 * for restarts (two waits of a millisecond or two, and as many again to
 * restore the defaults): one input in RESTART_ONE_IN plays them.
 */
static uint32_t hash(const uint8_t *data, size_t size)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < size; i++)
		h = (h ^ data[i]) * 16777619u;
	return h;
}

static bool evil(const uint8_t *data, size_t size)
{
	return hash(data, size) % EVIL_ONE_IN == 0;
}

/* Other bits than evil()'s, mixed: the last byte of an input moves
 * only some bits of the hash. */
static bool restarts_ok(const uint8_t *data, size_t size)
{
	uint32_t h = hash(data, size);

	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	return (h >> 8) % RESTART_ONE_IN == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	struct bfx *x;
	int ops = 0;
	uint8_t op;

	if (!fx.up)
		setup();
	memset(&in, 0, sizeof(in));
	in.evil = evil(data, size);
	in.restarts_ok = restarts_ok(data, size);
	x = &fx.d[fz_u8(&f) & 1];
	in.gen = fz_u16(&f);
	if (getenv("FUZZ_VERBOSE"))
		fprintf(stderr, "input: %zu bytes, %s, %s\n", size, x->vdev,
			in.evil ? "evil" : "honest");
	while (fz_more(&f) && ops++ < MAX_OPS && !in.violation) {
		op = fz_u8(&f);
		if (!in.evil || (op != OP_PROD_AHEAD && op != OP_EVIL_RESTART))
			op %= OP_COUNT;
		switch (op) {
		case OP_SUBMIT:
			op_submit(&f, x);
			break;
		case OP_KICK:
			FZ_CHECK(pvk_blkfront_kick(x->bf) == 0);
			break;
		case OP_ANSWER:
			op_answer(&f, x);
			break;
		case OP_PUBLISH:
			publish(x, 0, fz_u8(&f) & 1);
			break;
		case OP_REAP:
			collect(x, 0);
			break;
		case OP_SCRIBBLE:
			op_scribble(&f, x);
			break;
		case OP_RESTART:
			op_restart(&f, x, false);
			break;
		case OP_PROD_AHEAD:
			publish(x, 1 + fz_u8(&f) % 64, true);
			FZ_CHECK(in.violation);
			break;
		case OP_EVIL_RESTART:
			op_restart(&f, x, true);
			break;
		}
	}
	if (!in.violation)
		quiesce(x);
	if (in.violation) {
		end_violation(x);
		return 0;
	}
	if (!feat_eq(&x->cur, &x->def)) {
		restart(x, &x->def);
		quiesce(x);
		FZ_CHECK(!in.violation);
	}
	return 0;
}

/* ---- seeds --------------------------------------------------------------- */

static void seed_io(struct fz_out *o, uint8_t t, uint16_t off, uint16_t len)
{
	fzo_u8(o, t);
	fzo_u16(o, off);
	fzo_u16(o, len);
}

/* Answer @n picks (0: the first left) with ctl @ctl. */
static void seed_answer(struct fz_out *o, uint32_t n, uint8_t ctl)
{
	uint32_t i;

	fzo_u8(o, OP_ANSWER);
	fzo_u8(o, (uint8_t)(n - 1));
	for (i = 0; i < n; i++) {
		fzo_u8(o, ctl);
		fzo_u8(o, 0);
	}
}

/* Emit @o with one more byte (one more op at most: a script ends
 * anywhere) that makes @pred true of it. */
static void seed_with(const char *name, struct fz_out *o,
		      bool (*pred)(const uint8_t *, size_t))
{
	size_t n = o->n;
	int b;

	for (b = 0; b < 256; b++) {
		o->n = n;
		fzo_u8(o, (uint8_t)b);
		if (pred(o->buf, o->n))
			break;
	}
	fz_seed_emit(name, o);
}

static void seed_evil(const char *name, struct fz_out *o)
{
	seed_with(name, o, evil);
}

void fuzz_seeds(void)
{
	struct fz_out o;
	int d;

	for (d = 0; d < 2; d++) {
		char name[64];

		/* Reads and writes of one, several, many pages. */
		o.n = 0;
		fzo_u8(&o, (uint8_t)d);
		fzo_u16(&o, 1);
		fzo_u8(&o, OP_SUBMIT);
		fzo_u8(&o, 4 - 1);
		seed_io(&o, PVK_BLKFRONT_READ, 10, 7);
		seed_io(&o, PVK_BLKFRONT_WRITE, 300, 99);
		seed_io(&o, PVK_BLKFRONT_READ, 1000, 600);
		seed_io(&o, PVK_BLKFRONT_WRITE, 2000, 639);
		seed_answer(&o, 16, 0);
		fzo_u8(&o, OP_PUBLISH);
		fzo_u8(&o, 1);
		fzo_u8(&o, OP_REAP);
		snprintf(name, sizeof(name), "seed-rw-%c", 'a' + d);
		fz_seed_emit(name, &o);

		/* Flush, discards, errors, a read with a prefix. */
		o.n = 0;
		fzo_u8(&o, (uint8_t)d);
		fzo_u16(&o, 2);
		fzo_u8(&o, OP_SUBMIT);
		fzo_u8(&o, 4 - 1);
		seed_io(&o, PVK_BLKFRONT_FLUSH, 0, 0);
		seed_io(&o, PVK_BLKFRONT_DISCARD, 100, 4000);
		seed_io(&o, PVK_BLKFRONT_SECURE_DISCARD, 5, 3);
		seed_io(&o, PVK_BLKFRONT_READ, 7, 40);
		fzo_u8(&o, OP_ANSWER);
		fzo_u8(&o, 4 - 1);
		fzo_u8(&o, 2); /* ERROR */
		fzo_u8(&o, 1);
		fzo_u8(&o, 3); /* EOPNOTSUPP */
		fzo_u8(&o, 0);
		fzo_u8(&o, AC_PREFIX);
		fzo_u8(&o, 5);
		fzo_bytes(&o, "hello", 5);
		fzo_u8(&o, 2);
		fzo_u8(&o, 0);
		fzo_u8(&o, 0);
		fzo_u8(&o, OP_PUBLISH);
		fzo_u8(&o, 0);
		snprintf(name, sizeof(name), "seed-ops-%c", 'a' + d);
		fz_seed_emit(name, &o);

		/* A restart with requests in flight, other features. */
		o.n = 0;
		fzo_u8(&o, (uint8_t)d);
		fzo_u16(&o, 3);
		fzo_u8(&o, OP_SUBMIT);
		fzo_u8(&o, 3 - 1);
		seed_io(&o, PVK_BLKFRONT_READ, 10, 300);
		seed_io(&o, PVK_BLKFRONT_WRITE, 20, 200);
		seed_io(&o, PVK_BLKFRONT_READ, 30, 100);
		seed_answer(&o, 2, 0);
		fzo_u8(&o, OP_PUBLISH);
		fzo_u8(&o, 1);
		fzo_u8(&o, OP_SCRIBBLE);
		fzo_u8(&o, 0);
		fzo_u8(&o, 1);
		fzo_u8(&o, OP_RESTART);
		fzo_u8(&o, 2 | 1 << 3 | 1 << 4 | 1 << 6); /* order 2, ... */
		fzo_u8(&o, 5 | 3 << 3); /* 64 indirect, 4 KiB granules */
		fzo_u8(&o, 1);
		fzo_u8(&o, 0);
		seed_answer(&o, 16, AC_INNER);
		fzo_u8(&o, OP_PUBLISH);
		fzo_u8(&o, 1);
		fzo_u8(&o, OP_KICK);
		snprintf(name, sizeof(name), "seed-restart-%c", 'a' + d);
		seed_with(name, &o, restarts_ok);
	}

	/* Violations, each in an input that plays them. */
	o.n = 0;
	fzo_u8(&o, 0);
	fzo_u16(&o, 4);
	fzo_u8(&o, OP_SUBMIT);
	fzo_u8(&o, 2 - 1);
	seed_io(&o, PVK_BLKFRONT_READ, 1, 8);
	seed_io(&o, PVK_BLKFRONT_READ, 2, 8);
	seed_answer(&o, 1, 0);
	fzo_u8(&o, OP_PUBLISH);
	fzo_u8(&o, 0);
	fzo_u8(&o, OP_ANSWER);
	fzo_u8(&o, 0);
	fzo_u8(&o, AC_DUP);
	fzo_u8(&o, 0);
	fzo_u8(&o, OP_PUBLISH);
	fzo_u8(&o, 1);
	seed_evil("seed-evil-dup", &o);

	o.n = 0;
	fzo_u8(&o, 1);
	fzo_u16(&o, 5);
	fzo_u8(&o, OP_SUBMIT);
	fzo_u8(&o, 0);
	seed_io(&o, PVK_BLKFRONT_WRITE, 1, 100);
	fzo_u8(&o, OP_ANSWER);
	fzo_u8(&o, 0);
	fzo_u8(&o, AC_BAD_OP);
	fzo_u8(&o, 0);
	fzo_u8(&o, PVK_BLKIF_OP_READ);
	fzo_u8(&o, OP_PUBLISH);
	fzo_u8(&o, 0);
	seed_evil("seed-evil-op", &o);

	o.n = 0;
	fzo_u8(&o, 0);
	fzo_u16(&o, 6);
	fzo_u8(&o, OP_SUBMIT);
	fzo_u8(&o, 0);
	seed_io(&o, PVK_BLKFRONT_READ, 1, 8);
	fzo_u8(&o, OP_ANSWER);
	fzo_u8(&o, 0);
	fzo_u8(&o, AC_RAW);
	fzo_u64(&o, 1ull << 32);
	fzo_u8(&o, PVK_BLKIF_OP_READ);
	fzo_u8(&o, OP_PUBLISH);
	fzo_u8(&o, 0);
	seed_evil("seed-evil-raw-id", &o);

	o.n = 0;
	fzo_u8(&o, 1);
	fzo_u16(&o, 7);
	fzo_u8(&o, OP_SUBMIT);
	fzo_u8(&o, 0);
	seed_io(&o, PVK_BLKFRONT_READ, 1, 8);
	fzo_u8(&o, OP_PROD_AHEAD);
	fzo_u8(&o, 0);
	seed_evil("seed-evil-prod-ahead", &o);

	o.n = 0;
	fzo_u8(&o, 0);
	fzo_u16(&o, 8);
	fzo_u8(&o, OP_SUBMIT);
	fzo_u8(&o, 0);
	seed_io(&o, PVK_BLKFRONT_WRITE, 1, 8);
	fzo_u8(&o, OP_EVIL_RESTART);
	fzo_u8(&o, 1);
	fzo_u8(&o, 0);
	fzo_u8(&o, 0);
	fzo_u8(&o, 3); /* sector-size changed */
	seed_evil("seed-evil-restart", &o);
}
