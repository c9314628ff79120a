/* SPDX-License-Identifier: MIT */
/*
 * bench-ring: a blkif ring between two processes on shared memory (a
 * memfd mapped MAP_SHARED, as a granted page is), the frontend in this
 * process and the backend in a forked child, each pinned to its own CPU
 * and busy-polling.  The same workload runs through pvkit's ring and
 * through Xen's own io/ring.h macros (used as a hardened Linux driver
 * uses them: RING_COPY_*, *_PROD_OVERFLOW checks), in the same run:
 *
 *   throughput  the frontend keeps the ring full, the backend answers
 *               every request it finds and pushes once per batch;
 *   latency     one request in flight, round trip per sample;
 *   cache line  two processes bouncing one cache line: the physical
 *               floor for any shared-memory exchange on this machine.
 *
 * Throughput alternates Xen and pvkit runs; pvkit is compared with Xen
 * run by run (each pvkit run with the Xen run just before it), the
 * median of those ratios, so that a change in the host's speed during
 * the benchmark falls on both sides of a pair.
 *
 *   bench-ring [--quick] [--reps N] [--seconds S] [--single N [--single-batch K]]
 */
#define __XEN_TOOLS__ 1 /* Xen's ring.h in userspace: the tools' barriers */

#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <xenctrl.h>
#include <xen/io/ring.h>
#include <xen/io/blkif.h>

#include <pvkit/blkif.h>

#include "bench.h"

#define BR_OP_STOP 0xff /* in-band: the backend answers it and exits */
#define BR_SAMPLES_MAX (2u << 20)

enum br_impl { BR_PVK, BR_PVK_COPY, BR_XEN, BR_LINE };
static const char *const br_impl_name[] = { "pvkit", "pvkit-copy", "xen-macros",
					    "cacheline" };

/* The shared memory: a control page, then the ring page. */
struct br_ctl {
	_Alignas(64) uint32_t line; /* the ping-pong cache line */
	_Alignas(64) uint32_t ready; /* child attached and spinning */
	_Alignas(64) uint32_t pad;
};

struct br {
	struct br_ctl *ctl;
	blkif_sring_t *sring;
	int cpu_front, cpu_back; /* -1: not pinned */
	bool yield; /* one CPU only: spinning would measure the scheduler */
	uint64_t *samples;
	pid_t child;
	/* Notifications the push asked for.  Both rings' loops count them,
	 * as a driver acts on them (notify_remote_via_irq): a loop that
	 * drops the answer lets the compiler skip reading the event index. */
	unsigned long kicks;
};

/* One poll-loop pause; also a compiler barrier, so shared indices are
 * re-read on every iteration. */
static inline void br_relax(const struct br *br)
{
	if (br->yield)
		sched_yield();
#if defined(__x86_64__) || defined(__i386__)
	else
		__builtin_ia32_pause();
#elif defined(__aarch64__)
	else
		__asm__ __volatile__("yield");
#endif
	__asm__ __volatile__("" ::: "memory");
}

static inline RING_IDX br_read_idx(const RING_IDX *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static void br_pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		perror("bench-ring: sched_setaffinity");
}

/* ------------------------------------------------------------------ */
/* Backends (the child)                                                */

/* The loops of both rings are kept out of line (noinline), so that each is
 * compiled on its own, not into one function where they share registers. */

/* The backend's check of a copied request, the same for every ring. */
static inline int16_t br_status(const struct pvk_blkif_request *req)
{
	return (req->operation <= PVK_BLKIF_OP_WRITE && req->nr_segments >= 1 &&
		req->nr_segments <= PVK_BLKIF_MAX_SEGMENTS_PER_REQUEST) ?
		       PVK_BLKIF_RSP_OKAY :
		       PVK_BLKIF_RSP_ERROR;
}

/*
 * @copy: one request at a time (pvk_ring_get, pvk_ring_put), else the
 * batched API ring.h recommends: the requests of one snapshot copied out
 * at once, the answers built in runs of free slots.
 */
static inline __attribute__((always_inline)) void br_back_pvk(struct br *br,
							      bool copy)
{
	struct pvk_ring r;
	unsigned long idle = 0;

	if (pvk_blkif_back_attach(&r, (struct pvk_blkif_sring *)br->sring,
				  PVK_PAGE_SIZE))
		_exit(2);
	__atomic_store_n(&br->ctl->ready, 1, __ATOMIC_RELEASE);
	for (;;) {
		struct pvk_blkif_request reqs[1], *req, one;
		struct pvk_blkif_response rsp, *p;
		struct pvk_ring_batch b;
		int n = 0;
		bool stop = false;

		if (copy) {
			/* One snapshot per batch, each request copied once. */
			int avail = pvk_ring_peek(&r);

			if (avail < 0)
				_exit(3);
			for (; avail > 0 &&
			       pvk_blkif_get_request(&r, &reqs[0]) == 1;
			     avail--, n++) {
				req = &reqs[0];
				rsp.id = req->id;
				rsp.operation = req->operation;
				rsp.status = br_status(req);
				pvk_blkif_put_response(&r, &rsp);
				stop |= req->operation == BR_OP_STOP;
			}
		} else {
			/* One snapshot per batch; each request copied once,
			 * answered in its slot. */
			if (pvk_blkif_batch_begin(&r, &b) < 0)
				_exit(3);
			while (pvk_blkif_batch_get_request(&b, &one) == 1) {
				p = pvk_blkif_batch_prepare_response(&b);
				if (!p)
					_exit(3);
				p->id = one.id;
				p->operation = one.operation;
				p->status = br_status(&one);
				pvk_ring_batch_commit(&b);
				stop |= one.operation == BR_OP_STOP;
				n++;
			}
			pvk_ring_batch_end(&r, &b);
		}
		if (n) {
			/* busy-polled peer: counted, no event sent */
			br->kicks += pvk_ring_push(&r);
			idle = 0;
		} else if (++idle > (1ul << 30)) {
			_exit(4); /* the frontend is gone */
		} else {
			br_relax(br);
		}
		if (stop)
			_exit(0);
	}
}

/* Each variant compiled on its own, as the Xen loop is. */
static __attribute__((noinline)) void br_back_pvk_batch(struct br *br)
{
	br_back_pvk(br, false);
}

static __attribute__((noinline)) void br_back_pvk_copy(struct br *br)
{
	br_back_pvk(br, true);
}

static __attribute__((noinline)) void br_back_xen(struct br *br)
{
	blkif_back_ring_t xb;
	unsigned long idle = 0;

	BACK_RING_INIT(&xb, br->sring, PVK_PAGE_SIZE);
	__atomic_store_n(&br->ctl->ready, 1, __ATOMIC_RELEASE);
	for (;;) {
		RING_IDX rp = br->sring->req_prod;
		unsigned int n = 0;
		bool stop = false;
		int notify;

		xen_rmb(); /* requests after the index, as blkback */
		if (RING_REQUEST_PROD_OVERFLOW(&xb, rp))
			_exit(3);
		while (xb.req_cons != rp) {
			blkif_request_t req;
			blkif_response_t *p;

			if (RING_REQUEST_CONS_OVERFLOW(&xb, xb.req_cons))
				break;
			RING_COPY_REQUEST(&xb, xb.req_cons, &req);
			xb.req_cons++;
			p = RING_GET_RESPONSE(&xb, xb.rsp_prod_pvt);
			p->id = req.id;
			p->operation = req.operation;
			p->status = (req.operation <= BLKIF_OP_WRITE &&
				     req.nr_segments >= 1 &&
				     req.nr_segments <=
					     BLKIF_MAX_SEGMENTS_PER_REQUEST) ?
					    BLKIF_RSP_OKAY :
					    BLKIF_RSP_ERROR;
			xb.rsp_prod_pvt++;
			stop |= req.operation == BR_OP_STOP;
			n++;
		}
		if (n) {
			RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&xb, notify);
			br->kicks += notify;
			idle = 0;
		} else if (++idle > (1ul << 30)) {
			_exit(4);
		} else {
			br_relax(br);
		}
		if (stop)
			_exit(0);
	}
}

static void br_back_line(struct br *br)
{
	uint32_t *line = &br->ctl->line, v;
	unsigned long idle = 0;

	__atomic_store_n(&br->ctl->ready, 1, __ATOMIC_RELEASE);
	for (;;) {
		v = __atomic_load_n(line, __ATOMIC_ACQUIRE);
		if (v == UINT32_MAX)
			_exit(0);
		if (v & 1) {
			__atomic_store_n(line, v + 1, __ATOMIC_RELEASE);
			idle = 0;
		} else if (++idle > (1ul << 30)) {
			_exit(4);
		} else {
			br_relax(br);
		}
	}
}

/* ------------------------------------------------------------------ */
/* Frontends (this process)                                            */

struct br_result {
	uint64_t msgs, ns; /* throughput */
	size_t nsamples; /* latency, in br->samples */
	int err;
};

/* Fork the backend for @impl, pinned, and wait until it spins. */
static int br_start(struct br *br, enum br_impl impl)
{
	uint64_t deadline = pvk_bench_now_ns() + 10000000000ull;

	memset(br->ctl, 0, sizeof(*br->ctl));
	memset(br->sring, 0, PVK_PAGE_SIZE);
	br->child = fork();
	if (br->child < 0)
		return -errno;
	if (!br->child) {
		br_pin(br->cpu_back);
		if (impl == BR_PVK || impl == BR_PVK_COPY)
			if (impl == BR_PVK_COPY)
				br_back_pvk_copy(br);
			else
				br_back_pvk_batch(br);
		else if (impl == BR_XEN)
			br_back_xen(br);
		else
			br_back_line(br);
		_exit(1);
	}
	while (!__atomic_load_n(&br->ctl->ready, __ATOMIC_ACQUIRE)) {
		if (pvk_bench_now_ns() > deadline)
			return -ETIMEDOUT;
		sched_yield();
	}
	return 0;
}

/* Reap the backend; kill it if it does not exit on its own. */
static int br_finish(struct br *br, int err)
{
	uint64_t deadline = pvk_bench_now_ns() + 5000000000ull;
	int status = 0;
	pid_t p;

	while ((p = waitpid(br->child, &status, WNOHANG)) == 0) {
		if (err || pvk_bench_now_ns() > deadline) {
			kill(br->child, SIGKILL);
			waitpid(br->child, &status, 0);
			br->child = -1;
			return err ? err : -ETIMEDOUT;
		}
		usleep(1000);
	}
	br->child = -1;
	if (p < 0)
		return -errno;
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		return err ? err : -EPROTO;
	return err;
}

/* A spin that gives up after 5 s without progress (the child died). */
#define BR_SPIN_LIMIT (5000000000ull)
#define BR_SPIN(br, cond, t_stall)                                          \
	do {                                                                \
		unsigned int spin_ = 0;                                     \
		while (!(cond)) {                                           \
			br_relax(br);                                       \
			if (!(++spin_ & 0xffff) &&                          \
			    pvk_bench_now_ns() - (t_stall) > BR_SPIN_LIMIT) \
				return -ETIMEDOUT;                          \
		}                                                           \
	} while (0)

static void br_req_init(struct pvk_blkif_request *req)
{
	memset(req, 0, sizeof(*req));
	req->operation = PVK_BLKIF_OP_READ;
	req->nr_segments = 1;
	req->handle = 0;
	req->seg[0].first_sect = 0;
	req->seg[0].last_sect = 7;
}

/* Build a request in its slot (write-only shared memory). */
static inline void br_pvk_build(struct pvk_blkif_request *q, uint8_t op,
				uint64_t id)
{
	q->operation = op;
	q->nr_segments = 1;
	q->handle = 0;
	q->id = id;
	q->sector_number = id * 8;
	q->seg[0].gref = (uint32_t)id;
	q->seg[0].first_sect = 0;
	q->seg[0].last_sect = 7;
}

/* pvkit's zero-copy producer, one entry: built in its slot. */
static inline void br_pvk_prepare(struct pvk_ring *r, uint8_t op, uint64_t id)
{
	br_pvk_build(pvk_blkif_prepare_request(r), op, id);
	pvk_ring_commit(r);
}

/*
 * Throughput, pvkit: requests built in their slot (prepare/commit), or,
 * with @copy, built privately and copied by pvk_ring_put, the pattern of
 * a frontend that keeps a private shadow of each request.
 */
static inline __attribute__((always_inline)) int
br_tput_pvk(struct br *br, uint64_t dur_ns, struct br_result *res, bool copy)
{
	struct pvk_ring r;
	struct pvk_blkif_request req;
	struct pvk_blkif_response rsp;
	struct pvk_blkif_request *q;
	struct pvk_ring_batch b;
	uint64_t sent = 0, done = 0, t0, now, stall, end;
	unsigned int iter = 0;
	int rc;

	rc = pvk_blkif_front_init(&r, (struct pvk_blkif_sring *)br->sring,
				  PVK_PAGE_SIZE);
	if (rc)
		return rc;
	br_req_init(&req);
	t0 = stall = now = pvk_bench_now_ns();
	end = t0 + dur_ns;
	for (;;) {
		uint64_t before = done;

		while (copy && pvk_ring_space(&r)) {
			req.id = sent;
			req.sector_number = sent * 8;
			req.seg[0].gref = (uint32_t)sent;
			pvk_blkif_put_request(&r, &req);
			sent++;
		}
		if (!copy) {
			/* One batch, the same order as the Xen loop: reap
			 * the responses of one snapshot of rsp_prod, each
			 * copied once, refill the freed slots in place. */
			rc = pvk_blkif_batch_begin(&r, &b);
			if (rc < 0)
				return rc;
			while (pvk_blkif_batch_get_response(&b, &rsp) == 1) {
				if (rsp.id != done ||
				    rsp.status != PVK_BLKIF_RSP_OKAY)
					return -EPROTO;
				done++;
			}
			while ((q = pvk_blkif_batch_prepare_request(&b))) {
				br_pvk_build(q, PVK_BLKIF_OP_READ, sent++);
				pvk_ring_batch_commit(&b);
			}
			pvk_ring_batch_end(&r, &b);
		}
		br->kicks += pvk_ring_push(&r);
		if (copy) {
			/* The responses of one snapshot, one at a time. */
			rc = pvk_ring_peek(&r);
			if (rc < 0)
				return rc;
			for (; rc > 0 && pvk_blkif_get_response(&r, &rsp) == 1;
			     rc--) {
				if (rsp.id != done ||
				    rsp.status != PVK_BLKIF_RSP_OKAY)
					return -EPROTO;
				done++;
			}
		}
		if (done == before) {
			br_relax(br);
			if (!(++iter & 0xffff) &&
			    pvk_bench_now_ns() - stall > BR_SPIN_LIMIT)
				return -ETIMEDOUT;
			continue;
		}
		if (!(++iter & 15)) {
			now = pvk_bench_now_ns();
			stall = now;
			if (now >= end)
				break;
		}
	}
	res->msgs = done;
	res->ns = now - t0;

	/* Stop the backend in-band and drain. */
	BR_SPIN(br,
		pvk_ring_space(&r) > 0 ||
			(pvk_blkif_get_response(&r, &rsp) == 1 && ++done),
		now);
	req.operation = BR_OP_STOP;
	req.id = sent;
	pvk_blkif_put_request(&r, &req);
	sent++;
	pvk_ring_push(&r);
	while (done < sent) {
		BR_SPIN(br, (rc = pvk_blkif_get_response(&r, &rsp)) != 0, now);
		if (rc < 0)
			return rc;
		done++;
	}
	return 0;
}

/* Xen's idiom: build the request in its slot. */
static inline void br_xen_put(blkif_front_ring_t *xf, uint8_t op, uint64_t id)
{
	blkif_request_t *q = RING_GET_REQUEST(xf, xf->req_prod_pvt);

	q->operation = op;
	q->nr_segments = 1;
	q->handle = 0;
	q->id = id;
	q->sector_number = id * 8;
	q->seg[0].gref = (uint32_t)id;
	q->seg[0].first_sect = 0;
	q->seg[0].last_sect = 7;
	xf->req_prod_pvt++;
}

/* Skip unread responses (draining at the end of a run). */
static bool br_xen_reap(blkif_front_ring_t *xf)
{
	xf->rsp_cons = br_read_idx(&xf->sring->rsp_prod);
	return !RING_FULL(xf);
}

/* Throughput, Xen's macros: requests built in the slot, as the macros
 * are meant to be used; responses copied with RING_COPY_RESPONSE. */
static __attribute__((noinline)) int br_tput_xen(struct br *br, uint64_t dur_ns,
						 struct br_result *res)
{
	blkif_sring_t *s = br->sring;
	blkif_front_ring_t xf;
	uint64_t sent = 0, done = 0, t0, now, stall, end;
	unsigned int iter = 0;
	int notify;

	SHARED_RING_INIT(s);
	FRONT_RING_INIT(&xf, s, PVK_PAGE_SIZE);
	t0 = stall = now = pvk_bench_now_ns();
	end = t0 + dur_ns;
	for (;;) {
		uint64_t before = done;
		RING_IDX rp;

		/* As blkfront: reap the responses (blkif_interrupt), refill
		 * the freed slots, push once (flush_requests). */
		rp = s->rsp_prod;
		xen_rmb(); /* responses after the index, as blkfront */
		if (RING_RESPONSE_PROD_OVERFLOW(&xf, rp))
			return -EPROTO;
		while (xf.rsp_cons != rp) {
			blkif_response_t rsp;

			RING_COPY_RESPONSE(&xf, xf.rsp_cons, &rsp);
			xf.rsp_cons++;
			if (rsp.id != done || rsp.status != BLKIF_RSP_OKAY)
				return -EPROTO;
			done++;
		}
		while (!RING_FULL(&xf))
			br_xen_put(&xf, BLKIF_OP_READ, sent++);
		RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&xf, notify);
		br->kicks += notify;
		if (done == before) {
			br_relax(br);
			if (!(++iter & 0xffff) &&
			    pvk_bench_now_ns() - stall > BR_SPIN_LIMIT)
				return -ETIMEDOUT;
			continue;
		}
		if (!(++iter & 15)) {
			now = pvk_bench_now_ns();
			stall = now;
			if (now >= end)
				break;
		}
	}
	res->msgs = done;
	res->ns = now - t0;

	/* Stop the backend in-band; the answers are no longer checked. */
	BR_SPIN(br, !RING_FULL(&xf) || br_xen_reap(&xf), now);
	br_xen_put(&xf, BR_OP_STOP, sent++);
	RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&xf, notify);
	BR_SPIN(br, br_read_idx(&s->rsp_prod) == xf.req_prod_pvt, now);
	return 0;
}

/* Latency: one request in flight; a sample is one round trip. */
static int br_lat_pvk(struct br *br, uint64_t dur_ns, struct br_result *res)
{
	struct pvk_ring r;
	struct pvk_blkif_request req;
	struct pvk_blkif_response rsp;
	uint64_t t, prev, end;
	size_t i;
	int rc;

	rc = pvk_blkif_front_init(&r, (struct pvk_blkif_sring *)br->sring,
				  PVK_PAGE_SIZE);
	if (rc)
		return rc;
	br_req_init(&req);
	prev = pvk_bench_now_ns();
	end = prev + dur_ns;
	for (i = 0; i < BR_SAMPLES_MAX; i++) {
		br_pvk_prepare(&r, PVK_BLKIF_OP_READ, i);
		br->kicks += pvk_ring_push(&r);
		BR_SPIN(br, (rc = pvk_blkif_get_response(&r, &rsp)) != 0, prev);
		if (rc < 0 || rsp.id != i)
			return -EPROTO;
		t = pvk_bench_now_ns();
		br->samples[i] = t - prev;
		prev = t;
		if (t >= end) {
			i++;
			break;
		}
	}
	res->nsamples = i;
	req.operation = BR_OP_STOP;
	pvk_blkif_put_request(&r, &req);
	pvk_ring_push(&r);
	BR_SPIN(br, pvk_blkif_get_response(&r, &rsp) != 0, prev);
	return 0;
}

static int br_lat_xen(struct br *br, uint64_t dur_ns, struct br_result *res)
{
	blkif_sring_t *s = br->sring;
	blkif_front_ring_t xf;
	blkif_response_t rsp;
	uint64_t t, prev, end;
	size_t i;
	int notify;

	SHARED_RING_INIT(s);
	FRONT_RING_INIT(&xf, s, PVK_PAGE_SIZE);
	prev = pvk_bench_now_ns();
	end = prev + dur_ns;
	for (i = 0; i < BR_SAMPLES_MAX; i++) {
		br_xen_put(&xf, BLKIF_OP_READ, i);
		RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&xf, notify);
		br->kicks += notify;
		BR_SPIN(br, br_read_idx(&s->rsp_prod) != xf.rsp_cons, prev);
		xen_rmb(); /* the response after the index */
		RING_COPY_RESPONSE(&xf, xf.rsp_cons, &rsp);
		xf.rsp_cons++;
		if (rsp.id != i)
			return -EPROTO;
		t = pvk_bench_now_ns();
		br->samples[i] = t - prev;
		prev = t;
		if (t >= end) {
			i++;
			break;
		}
	}
	res->nsamples = i;
	br_xen_put(&xf, BR_OP_STOP, i);
	RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&xf, notify);
	BR_SPIN(br, br_read_idx(&s->rsp_prod) != xf.rsp_cons, prev);
	return 0;
}

static int br_lat_line(struct br *br, uint64_t dur_ns, struct br_result *res)
{
	uint32_t *line = &br->ctl->line, v = 1;
	uint64_t t, prev, end;
	size_t i;

	prev = pvk_bench_now_ns();
	end = prev + dur_ns;
	for (i = 0; i < BR_SAMPLES_MAX; i++, v += 2) {
		__atomic_store_n(line, v, __ATOMIC_RELEASE);
		BR_SPIN(br, __atomic_load_n(line, __ATOMIC_ACQUIRE) == v + 1,
			prev);
		t = pvk_bench_now_ns();
		br->samples[i] = t - prev;
		prev = t;
		if (t >= end) {
			i++;
			break;
		}
	}
	res->nsamples = i;
	__atomic_store_n(line, UINT32_MAX, __ATOMIC_RELEASE);
	return 0;
}

static __attribute__((noinline)) int
br_tput_pvk_batch(struct br *br, uint64_t dur_ns, struct br_result *res)
{
	return br_tput_pvk(br, dur_ns, res, false);
}

static __attribute__((noinline)) int
br_tput_pvk_copy(struct br *br, uint64_t dur_ns, struct br_result *res)
{
	return br_tput_pvk(br, dur_ns, res, true);
}

/* Run one case in a fresh backend process; others' CPU use in *load. */
static int br_run(struct br *br, enum br_impl impl, bool latency,
		  uint64_t dur_ns, struct br_result *res, double *load)
{
	struct pvk_bench_load l;
	int rc;

	memset(res, 0, sizeof(*res));
	pvk_bench_load_begin(&l);
	rc = br_start(br, impl);
	if (rc)
		return br->child > 0 ? br_finish(br, rc) : rc;
	if (latency)
		rc = impl == BR_PVK ? br_lat_pvk(br, dur_ns, res) :
		     impl == BR_XEN ? br_lat_xen(br, dur_ns, res) :
				      br_lat_line(br, dur_ns, res);
	else
		rc = impl == BR_XEN	 ? br_tput_xen(br, dur_ns, res) :
		     impl == BR_PVK_COPY ? br_tput_pvk_copy(br, dur_ns, res) :
					   br_tput_pvk_batch(br, dur_ns, res);
	rc = br_finish(br, rc);
	*load = pvk_bench_load_end(&l);
	return rc;
}

static int br_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double br_median(double *v, unsigned int n)
{
	qsort(v, n, sizeof(*v), br_cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/*
 * The median of the repetitions during which other processes stayed
 * under PVK_BENCH_LOADED_CPUS; of all of them if none did.  *load: the
 * worst others' CPU among those used; *used: how many.
 */
static double br_select(double *v, const double *load, unsigned int n,
			double *worst, unsigned int *used)
{
	double quiet[16];
	unsigned int i, q = 0;

	*worst = 0;
	for (i = 0; i < n; i++)
		if (load[i] >= 0 && load[i] <= PVK_BENCH_LOADED_CPUS)
			quiet[q++] = v[i];
	for (i = 0; i < n; i++)
		if ((!q ||
		     (load[i] >= 0 && load[i] <= PVK_BENCH_LOADED_CPUS)) &&
		    load[i] > *worst)
			*worst = load[i];
	*used = q ? q : n;
	return q ? br_median(quiet, q) : br_median(v, n);
}

/*
 * --single N: both ends in this thread, N rounds of the throughput
 * workload (reap, refill, push; the backend answers all it finds), for
 * counting instructions per message deterministically:
 *   valgrind --tool=callgrind bench-ring --single 20000
 *   callgrind_annotate --inclusive=yes callgrind.out.* | grep br_single
 * Each round moves 32 messages, or K with --single-batch K (1..32):
 * the threads' batches are that small when the two ends chase each
 * other, so the per-batch costs count too.  The two loops are the
 * threads' loops above, fused.
 */
static unsigned int br_single_k = 32;

static __attribute__((noinline)) uint64_t
br_single_xen(blkif_sring_t *s, uint64_t rounds, unsigned long *kicks)
{
	blkif_front_ring_t xf;
	blkif_back_ring_t xb;
	uint64_t sent = 0, sum = 0, k;
	const unsigned int kmax = br_single_k; /* a global may alias a slot */
	unsigned int j;
	int notify;

	SHARED_RING_INIT(s);
	FRONT_RING_INIT(&xf, s, PVK_PAGE_SIZE);
	BACK_RING_INIT(&xb, s, PVK_PAGE_SIZE);
	for (k = 0; k < rounds; k++) {
		RING_IDX rp = s->rsp_prod;

		xen_rmb();
		if (RING_RESPONSE_PROD_OVERFLOW(&xf, rp))
			return 0;
		while (xf.rsp_cons != rp) {
			blkif_response_t rsp;

			RING_COPY_RESPONSE(&xf, xf.rsp_cons, &rsp);
			xf.rsp_cons++;
			sum += rsp.id + (uint64_t)rsp.status;
		}
		for (j = 0; j < kmax && !RING_FULL(&xf); j++)
			br_xen_put(&xf, BLKIF_OP_READ, sent++);
		RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&xf, notify);
		*kicks += notify;

		rp = s->req_prod;
		xen_rmb();
		if (RING_REQUEST_PROD_OVERFLOW(&xb, rp))
			return 0;
		while (xb.req_cons != rp) {
			blkif_request_t req;
			blkif_response_t *p;

			if (RING_REQUEST_CONS_OVERFLOW(&xb, xb.req_cons))
				break;
			RING_COPY_REQUEST(&xb, xb.req_cons, &req);
			xb.req_cons++;
			p = RING_GET_RESPONSE(&xb, xb.rsp_prod_pvt);
			p->id = req.id;
			p->operation = req.operation;
			p->status = (req.operation <= BLKIF_OP_WRITE &&
				     req.nr_segments >= 1 &&
				     req.nr_segments <=
					     BLKIF_MAX_SEGMENTS_PER_REQUEST) ?
					    BLKIF_RSP_OKAY :
					    BLKIF_RSP_ERROR;
			xb.rsp_prod_pvt++;
		}
		RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&xb, notify);
		*kicks += notify;
	}
	return sum;
}

static __attribute__((noinline)) uint64_t
br_single_pvk(blkif_sring_t *s, uint64_t rounds, unsigned long *kicks)
{
	struct pvk_ring f, r;
	struct pvk_ring_batch fb, bb;
	uint64_t sent = 0, sum = 0, k;
	const unsigned int kmax = br_single_k; /* a global may alias a slot */
	unsigned int j;

	memset(s, 0, PVK_PAGE_SIZE);
	if (pvk_blkif_front_init(&f, (struct pvk_blkif_sring *)s,
				 PVK_PAGE_SIZE) ||
	    pvk_blkif_back_attach(&r, (struct pvk_blkif_sring *)s,
				  PVK_PAGE_SIZE))
		return 0;
	for (k = 0; k < rounds; k++) {
		struct pvk_blkif_request req, *q;
		struct pvk_blkif_response rsp, *p;

		if (pvk_blkif_batch_begin(&f, &fb) < 0)
			return 0;
		while (pvk_blkif_batch_get_response(&fb, &rsp) == 1)
			sum += rsp.id + (uint64_t)rsp.status;
		for (j = 0;
		     j < kmax && (q = pvk_blkif_batch_prepare_request(&fb));
		     j++) {
			br_pvk_build(q, PVK_BLKIF_OP_READ, sent++);
			pvk_ring_batch_commit(&fb);
		}
		pvk_ring_batch_end(&f, &fb);
		*kicks += pvk_ring_push(&f);

		if (pvk_blkif_batch_begin(&r, &bb) < 0)
			return 0;
		while (pvk_blkif_batch_get_request(&bb, &req) == 1) {
			p = pvk_blkif_batch_prepare_response(&bb);
			if (!p)
				return 0;
			p->id = req.id;
			p->operation = req.operation;
			p->status = br_status(&req);
			pvk_ring_batch_commit(&bb);
		}
		pvk_ring_batch_end(&r, &bb);
		*kicks += pvk_ring_push(&r);
	}
	return sum;
}

static int br_single(struct br *br, uint64_t rounds)
{
	unsigned long kx = 0, kp = 0;
	uint64_t x = br_single_xen(br->sring, rounds, &kx);
	uint64_t p = br_single_pvk(br->sring, rounds, &kp);
	bool same = x == p && kx == kp;

	printf("single-thread, %" PRIu64 " rounds of %u messages: "
	       "checksums xen %" PRIu64 " pvkit %" PRIu64 ", kicks %lu %lu%s\n",
	       rounds, br_single_k, x, p, kx, kp, same ? "" : "  MISMATCH");
	return same ? 0 : 1;
}

static void br_usage(void)
{
	fprintf(stderr, "usage: bench-ring [--quick] [--reps N] [--seconds S] "
			"[--single N [--single-batch K]]\n"
			"  --quick      a short run (about 5 s)\n"
			"  --reps N     throughput repetitions per ring "
			"(median reported)\n"
			"  --seconds S  duration of each repetition\n"
			"  --single N   N rounds of both ends in one thread, "
			"for callgrind\n"
			"  --single-batch K  K messages per round (1..32, "
			"default 32)\n");
}

int main(int argc, char **argv)
{
	bool quick = false;
	uint64_t single = 0;
	unsigned int reps = 15, i, k;
	double secs = 0.5, lat_secs, others;
	/* throughput: [0] xen-macros, [1] pvkit, [2] pvkit-copy */
	static const enum br_impl timpl[3] = { BR_XEN, BR_PVK, BR_PVK_COPY };
	static const char *const tname[3] = { "throughput.xen-macros",
					      "throughput.pvkit",
					      "throughput.pvkit-copy" };
	static const char *const cname[3] = { "cost.xen-macros", "cost.pvkit",
					      "cost.pvkit-copy" };
	double tput[3][16], tload[3][16], load_tput[3], load_lat[3] = { 0 };
	unsigned int used[3];
	double rate[3], cost[3], paired[16], paired_ratio;
	struct pvk_bench_stats lat[3];
	struct pvk_bench *b;
	struct br br = { .cpu_front = -1, .cpu_back = -1 };
	cpu_set_t set;
	void *mem;
	int fd, rc = 0, ncpu = 0, cpus[2] = { -1, -1 };

	for (i = 1; i < (unsigned int)argc; i++) {
		if (!strcmp(argv[i], "--quick")) {
			quick = true;
			reps = 5;
			secs = 0.15;
		} else if (!strcmp(argv[i], "--reps") &&
			   i + 1 < (unsigned)argc) {
			reps = (unsigned int)atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--single-batch") &&
			   i + 1 < (unsigned)argc) {
			br_single_k = (unsigned int)strtoul(argv[++i], NULL, 0);
			if (br_single_k < 1 || br_single_k > 32u) {
				fprintf(stderr,
					"bench-ring: --single-batch %s: must be "
					"1..32 (messages per round)\n",
					argv[i]);
				return 2;
			}
		} else if (!strcmp(argv[i], "--single") &&
			   i + 1 < (unsigned)argc) {
			single = strtoull(argv[++i], NULL, 0);
		} else if (!strcmp(argv[i], "--seconds") &&
			   i + 1 < (unsigned)argc) {
			secs = atof(argv[++i]);
		} else {
			br_usage();
			return 2;
		}
	}
	if (reps < 1 || reps > 16 || !(secs > 0 && secs <= 60)) {
		br_usage();
		return 2;
	}
	lat_secs = quick ? 0.5 : 2 * secs;

	/* Two CPUs we may run on: front on the first, back on the second. */
	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		for (i = 0; i < CPU_SETSIZE && ncpu < 2; i++)
			if (CPU_ISSET(i, &set))
				cpus[ncpu++] = (int)i;
	if (ncpu >= 2) {
		br.cpu_front = cpus[0];
		br.cpu_back = cpus[1];
	} else {
		br.yield = true;
	}

	fd = memfd_create("pvk-bench-ring", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, 2 * PVK_PAGE_SIZE) < 0) {
		perror("bench-ring: memfd");
		return 1;
	}
	mem = mmap(NULL, 2 * PVK_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		   fd, 0);
	close(fd);
	if (mem == MAP_FAILED) {
		perror("bench-ring: mmap");
		return 1;
	}
	br.ctl = mem;
	br.sring = (blkif_sring_t *)((char *)mem + PVK_PAGE_SIZE);
	if (single) {
		rc = br_single(&br, single);
		munmap(mem, 2 * PVK_PAGE_SIZE);
		return rc;
	}
	br.samples = calloc(BR_SAMPLES_MAX, sizeof(*br.samples));
	b = pvk_bench_open("ring");
	if (!br.samples || !b) {
		perror("bench-ring");
		return 1;
	}

	printf("pvkit ring benchmark%s: a one-page blkif ring (32 slots of "
	       "112 bytes)\nshared by two processes through a memfd: "
	       "frontend here, backend in a child,\n",
	       quick ? " (--quick)" : "");
	if (ncpu >= 2)
		printf("pinned to CPUs %d and %d, both busy-polling.  ",
		       br.cpu_front, br.cpu_back);
	else
		printf("on ONE CPU (yielding while polling: figures measure "
		       "the scheduler).  ");
	printf("The same workload runs\nthrough pvkit's ring and through "
	       "Xen's io/ring.h macros; a bare cache line\nbounced between "
	       "the two processes is the physical floor.\n");
	others = pvk_bench_idle_check(quick ? 300 : 1000);
	if (!quick)
		for (k = 0; k < 30 && others > PVK_BENCH_LOADED_CPUS; k++)
			others = pvk_bench_idle_check(1000);
	if (others >= 0)
		printf("Before the run, other processes used %.2f CPU%s\n",
		       others,
		       others > PVK_BENCH_LOADED_CPUS ?
			       ": the machine is LOADED, expect noisy figures." :
			       " (idle).");
	fflush(stdout);
	br_pin(br.cpu_front);

	/* Throughput, the rings interleaved so that drift hits them all. */
	for (k = 0; k < reps; k++) {
		for (i = 0; i < 3; i++) {
			enum br_impl impl = timpl[i];
			struct br_result res;
			double l;

			rc = br_run(&br, impl, false, (uint64_t)(secs * 1e9),
				    &res, &l);
			if (rc) {
				fprintf(stderr,
					"bench-ring: %s throughput: %s\n",
					br_impl_name[impl], strerror(-rc));
				goto out;
			}
			tput[i][k] = (double)res.msgs * 1e3 / (double)res.ns;
			tload[i][k] = l;
		}
	}
	for (i = 0; i < 3; i++) {
		rate[i] = br_select(tput[i], tload[i], reps, &load_tput[i],
				    &used[i]);
		cost[i] = 1e3 / rate[i];
	}
	/* Each pvkit run against the Xen run just before it: vCPU placement
	 * on the host drifts between runs, a neighbour shares it. */
	for (k = 0; k < reps; k++)
		paired[k] = tput[1][k] / tput[0][k];
	paired_ratio = br_median(paired, reps);

	/* Latency: the floor first, then the two rings. */
	for (i = 0; i < 3; i++) {
		enum br_impl impl = i == 0 ? BR_LINE : i == 1 ? BR_XEN : BR_PVK;
		struct br_result res;

		rc = br_run(&br, impl, true, (uint64_t)(lat_secs * 1e9), &res,
			    &load_lat[i]);
		if (!rc)
			rc = pvk_bench_stats(br.samples, res.nsamples, &lat[i]);
		if (rc) {
			fprintf(stderr, "bench-ring: %s latency: %s\n",
				br_impl_name[impl], strerror(-rc));
			goto out;
		}
	}

	printf("\n");
	for (i = 0; i < 3; i++) {
		pvk_bench_set_load(b, load_tput[i]);
		pvk_bench_case(b, tname[i], "rate", "Mmsg/s", rate[i],
			       i ? tname[0] : NULL, i ? rate[0] : 0);
	}
	pvk_bench_set_load(b, load_tput[1]);
	pvk_bench_case(b, "throughput.pvkit.paired", "ratio", "x", paired_ratio,
		       NULL, 0);
	for (i = 0; i < 3; i++) {
		pvk_bench_set_load(b, load_tput[i]);
		pvk_bench_case(b, cname[i], "per-msg", "ns", cost[i],
			       "latency.cacheline p50", (double)lat[0].p50);
	}
	for (i = 0; i < 3; i++) {
		static const char *const name[] = { "latency.cacheline",
						    "latency.xen-macros",
						    "latency.pvkit" };
		static const char *const base[] = { NULL, "latency.cacheline",
						    "latency.xen-macros" };
		const struct pvk_bench_stats *st = &lat[i],
					     *bs = i ? &lat[i - 1] : NULL;

		pvk_bench_set_load(b, load_lat[i]);
		pvk_bench_case(b, name[i], "p50", "ns", (double)st->p50,
			       base[i], bs ? (double)bs->p50 : 0);
		pvk_bench_case(b, name[i], "p99", "ns", (double)st->p99,
			       base[i], bs ? (double)bs->p99 : 0);
		pvk_bench_case(b, name[i], "p99.9", "ns", (double)st->p999,
			       base[i], bs ? (double)bs->p999 : 0);
	}
	printf("throughput: messages (a request and its response) per second "
	       "with the ring kept\nfull; the median of %u runs of %.2g s "
	       "(of the quiet ones when there are any;\nused: xen %u, pvkit "
	       "%u, pvkit-copy %u).  pvkit uses the batch API ring.h\n"
	       "recommends (name_batch_*: ring state in locals, one snapshot "
	       "per batch, each\nentry copied once or built in its slot); "
	       "pvkit-copy copies one entry at a\ntime (pvk_ring_put/get).  cost = 1/throughput.\nlatency: one request "
	       "in flight, %zu+ round trips each, including one clock\n"
	       "read (about 30 ns here).\n\n",
	       reps, secs, used[0], used[1], used[2],
	       lat[0].n < lat[2].n ? lat[0].n : lat[2].n);
	pvk_bench_close(b);
	b = NULL;
	/* The target is judged on the pairs: a pvkit run and the Xen run just
	 * before it see the same machine, while the two medians may come
	 * from different states of a shared host (a VM's CPUs move between
	 * cores during a run, and the cache-line cost with them). */
	printf("\npvkit vs Xen's macros, throughput, run by run (each pvkit "
	       "run / the Xen run\n  before it): median %.2fx (target >= "
	       "1.00x)%s, %.2fx .. %.2fx;\n  ratio of the medians %.2fx\n",
	       paired_ratio, paired_ratio >= 1.0 ? "" : "  BELOW TARGET",
	       paired[0], paired[reps - 1], rate[1] / rate[0]);
	printf("pvkit batched cost per message vs one cache-line round trip: "
	       "%.2fx (target <= 3x)%s\n",
	       cost[1] / (double)lat[0].p50,
	       cost[1] <= 3 * (double)lat[0].p50 ? "" : "  ABOVE TARGET");
out:
	pvk_bench_close(b);
	free(br.samples);
	munmap(mem, 2 * PVK_PAGE_SIZE);
	return rc ? 1 : 0;
}
