// SPDX-License-Identifier: MIT
/*
 * fuzz-blkback: pvkit's blkback against a hostile frontend, on the loop
 * hypervisor, so grants and event channels are real objects and the disks
 * real files driven through io_uring.
 *
 * One fixture for the whole run (built at the first input): a guest with
 * two disks connected through the raw test frontend (tests/blk/
 * back_tfront.c) -- A read-write with persistent grants and indirect
 * requests, B read-only with transient mappings.  Each input is a batch
 * of raw 112-byte requests put on one ring at once.  Fix-up bits let the
 * fuzzer aim a request at real things (segment and indirect grefs mapped
 * onto the frontend's granted pages, the sector onto the disk, indirect
 * page contents) while every other byte stays its own.
 *
 * Checked: every request is answered exactly once, with its id, its
 * operation (an indirect one's as the operation it carries) and a status
 * a frontend knows; the ring is never declared broken (a bad request is
 * an error answer, not a protocol violation); the read-only disk is
 * never written, nor answered OKAY for a write, flush, barrier or a
 * non-empty discard.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <pvkit/blkback.h>
#include <pvkit/xenbus.h>

#include "../blk/back_tfront.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define DISK_BYTES (1u << 20)
#define DISK_SECTORS (DISK_BYTES / 512u)
#define NDEV 2
#define MAX_INDIRECT 64 /* what blkback offers */

enum {
	FIX_GREFS = 1, /* segment grefs -> the frontend's pool pages */
	FIX_SECTOR = 2, /* sector_number modulo the disk */
	FIX_IND_GREFS = 4, /* indirect_grefs -> the indirect pages */
	FIX_IND_PAGE = 8, /* indirect page contents from the input */
	FIX_ID = 16, /* a unique id */
	FIX_NSEG = 32, /* nr_segments kept valid for its operation */
};

static struct {
	struct pvk_loop *loop;
	struct pvk_hv *hv0, *tool, *hvu;
	struct pvk_blkback *bb;
	pthread_t thread;
	pthread_mutex_t lock;
	uint32_t dom;
	char img[NDEV][64];
	struct t_fe fe[NDEV];
	uint8_t *ro_copy;
	int ro_fd;
} fx;

static void quiet(void *arg, const char *line)
{
	if (getenv("FUZZ_VERBOSE"))
		fprintf(stderr, "blkback: %s\n", line);
}

static void *control(void *arg)
{
	struct pollfd p = { .fd = pvk_blkback_fd(fx.bb), .events = POLLIN };

	for (;;) {
		if (poll(&p, 1, 1000) < 0)
			continue;
		pthread_mutex_lock(&fx.lock);
		pvk_blkback_handle_events(fx.bb);
		pthread_mutex_unlock(&fx.lock);
	}
	return NULL;
}

static void image(char *path, size_t len, int dev)
{
	const char *dir = getenv("TMPDIR");
	uint8_t buf[4096];
	uint32_t i;
	int fd;

	snprintf(path, len, "%s/pvk-fuzz-blkback-XXXXXX",
		 dir && *dir ? dir : "/tmp");
	fd = mkstemp(path);
	FZ_CHECK(fd >= 0);
	for (i = 0; i < DISK_BYTES / sizeof(buf); i++) {
		memset(buf, (int)(i * 7 + (uint32_t)dev), sizeof(buf));
		FZ_CHECK(write(fd, buf, sizeof(buf)) == sizeof(buf));
	}
	close(fd);
}

static void setup(void)
{
	struct pvk_blkback_config cfg = { .log = quiet,
					  .no_direct = true,
					  .max_ring_order = 1,
					  .max_indirect_segs = MAX_INDIRECT };
	struct t_fe_cfg fc[NDEV] = {
		{ .persistent = true, .indirect = true, .nr_queues = 2 },
		{ .persistent = false, .indirect = false, .nr_queues = 1 },
	};
	int i;

	pthread_mutex_init(&fx.lock, NULL);
	FZ_CHECK(pvk_loop_create(&fx.loop) == 0);
	FZ_CHECK(pvk_hv_open_loop(&fx.hv0, fx.loop, 0) == 0);
	FZ_CHECK(pvk_hv_open_loop(&fx.tool, fx.loop, 0) == 0);
	FZ_CHECK(pvk_loop_domain_create(fx.loop, "fuzz", &fx.dom) == 0);
	FZ_CHECK(pvk_hv_open_loop(&fx.hvu, fx.loop, fx.dom) == 0);
	FZ_CHECK(pvk_blkback_create(&fx.bb, fx.hv0, &cfg) == 0);
	FZ_CHECK(pthread_create(&fx.thread, NULL, control, NULL) == 0);
	for (i = 0; i < NDEV; i++) {
		image(fx.img[i], sizeof(fx.img[i]), i);
		FZ_CHECK(t_attach(fx.tool, 0, fx.dom,
				  51712u + 16u * (uint32_t)i, fx.img[i],
				  i == 1) == 0);
		FZ_CHECK(t_fe_open(&fx.fe[i], fx.hvu,
				   51712u + 16u * (uint32_t)i, &fc[i]) == 0);
	}
	fx.ro_copy = malloc(DISK_BYTES);
	fx.ro_fd = open(fx.img[1], O_RDONLY);
	FZ_CHECK(fx.ro_copy && fx.ro_fd >= 0);
	FZ_CHECK(pread(fx.ro_fd, fx.ro_copy, DISK_BYTES, 0) == DISK_BYTES);
	/* The backend holds them open; nothing is left behind at exit,
	 * even when libFuzzer ends the process on a crash. */
	for (i = 0; i < NDEV; i++)
		unlink(fx.img[i]);
}

struct sent {
	uint64_t id;
	uint8_t op, ind_op;
	uint8_t rsp_op; /* the operation its response must name */
	bool answered;
};

/* Read one request off the input, with its fix-ups applied. */
static void build(struct fz *f, struct t_fe *fe, uint32_t n,
		  union pvk_blkif_any_request *req)
{
	uint8_t fix = fz_u8(f);
	uint32_t i, k, nseg;

	fz_bytes(f, req, sizeof(*req));
	if (fix & FIX_ID)
		req->rw.id = n;
	if (req->hdr.operation == PVK_BLKIF_OP_INDIRECT) {
		struct pvk_blkif_request_indirect *ind = &req->indirect;

		if (fix & FIX_NSEG)
			ind->nr_segments =
				(uint16_t)(1 + ind->nr_segments % 64);
		if (fix & FIX_SECTOR)
			ind->sector_number %= DISK_SECTORS;
		nseg = ind->nr_segments;
		for (i = 0; i < PVK_BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST; i++) {
			if (fix & FIX_IND_GREFS)
				ind->indirect_grefs[i] =
					fe->ind_refs
						[ind->indirect_grefs[i] %
						 PVK_BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST];
		}
		if (fix & FIX_IND_PAGE) {
			struct pvk_blkif_request_segment *s = (void *)fe->ind;

			k = nseg < 512 ? nseg : 512;
			fz_bytes(f, s, k * sizeof(*s));
			for (i = 0; i < k && (fix & FIX_GREFS); i++)
				s[i].gref = fe->pool_refs[s[i].gref %
							  T_FE_POOL_PAGES];
		}
		return;
	}
	if (req->hdr.operation == PVK_BLKIF_OP_DISCARD) {
		if (fix & FIX_SECTOR) {
			req->discard.sector_number %= DISK_SECTORS;
			req->discard.nr_sectors %= DISK_SECTORS;
		}
		return;
	}
	if (fix & FIX_NSEG)
		req->rw.nr_segments =
			(uint8_t)(req->rw.nr_segments %
					  PVK_BLKIF_MAX_SEGMENTS_PER_REQUEST +
				  (req->hdr.operation <= PVK_BLKIF_OP_WRITE));
	if (fix & FIX_SECTOR)
		req->rw.sector_number %= DISK_SECTORS;
	for (i = 0; i < PVK_BLKIF_MAX_SEGMENTS_PER_REQUEST && (fix & FIX_GREFS);
	     i++)
		req->rw.seg[i].gref =
			fe->pool_refs[req->rw.seg[i].gref % T_FE_POOL_PAGES];
}

static bool known_status(int16_t st)
{
	return st == PVK_BLKIF_RSP_OKAY || st == PVK_BLKIF_RSP_ERROR ||
	       st == PVK_BLKIF_RSP_EOPNOTSUPP;
}

/* A read-only disk answers OKAY to reads and empty discards alone. */
static bool ro_may_succeed(const struct sent *s, uint64_t discard_sectors)
{
	if (s->op == PVK_BLKIF_OP_READ)
		return true;
	if (s->op == PVK_BLKIF_OP_INDIRECT)
		return s->ind_op == PVK_BLKIF_OP_READ;
	return s->op == PVK_BLKIF_OP_DISCARD && !discard_sectors;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	uint8_t hdr = fz_u8(&f);
	int dev = hdr & 1;
	struct t_fe *fe = &fx.fe[dev];
	uint32_t q, n, i, got, nents;
	union pvk_blkif_any_request req;
	struct sent sent[32];
	uint64_t dsect[32];
	struct pvk_blkif_response rsp;
	const char *why;

	if (!fx.loop)
		setup();
	q = (hdr >> 1) % fe->nr_queues;
	nents = fe->q[q].ring.nr_ents;
	n = 1 + (uint32_t)fz_u8(&f) % (nents < 32 ? nents : 32);
	for (i = 0; i < n && fz_more(&f); i++) {
		build(&f, fe, i, &req);
		sent[i] = (struct sent){ .id = req.rw.id,
					 .op = req.hdr.operation,
					 .ind_op = req.indirect.indirect_op };
		if (req.hdr.operation == PVK_BLKIF_OP_DISCARD)
			sent[i].id = req.discard.id;
		if (req.hdr.operation == PVK_BLKIF_OP_INDIRECT)
			sent[i].id = req.indirect.id;
		/* A valid indirect request is answered as the operation it
		 * carries (as Linux's blkback), anything else as itself. */
		sent[i].rsp_op = req.hdr.operation;
		if (req.hdr.operation == PVK_BLKIF_OP_INDIRECT &&
		    pvk_blkif_check_request(&req, MAX_INDIRECT, &why) == 0)
			sent[i].rsp_op = req.indirect.indirect_op;
		dsect[i] = req.discard.nr_sectors;
		FZ_CHECK(pvk_blkif_put_any_request(&fe->q[q].ring, &req) == 0);
	}
	n = i;
	t_fe_kick(fe, q);
	for (got = 0; got < n; got++) {
		FZ_CHECK(t_fe_wait_rsp(fe, q, &rsp, 10000) == 0);
		FZ_CHECK(known_status(rsp.status));
		/* Requests with the same id and operation are
		 * interchangeable: any unanswered one will do. */
		for (i = 0; i < n; i++)
			if (!sent[i].answered && sent[i].id == rsp.id &&
			    sent[i].rsp_op == rsp.operation)
				break;
		/* A response to a request we sent, not answered before. */
		FZ_CHECK(i < n);
		sent[i].answered = true;
		if (dev == 1 && rsp.status == PVK_BLKIF_RSP_OKAY)
			FZ_CHECK(ro_may_succeed(&sent[i], dsect[i]));
	}
	/* Nothing more: every request had exactly one answer. */
	FZ_CHECK(pvk_blkif_get_response(&fe->q[q].ring, &rsp) == 0);
	FZ_CHECK(!pvk_ring_is_broken(&fe->q[q].ring));
	if (dev == 1) {
		static uint8_t now[DISK_BYTES];

		FZ_CHECK(pread(fx.ro_fd, now, DISK_BYTES, 0) == DISK_BYTES);
		FZ_CHECK(!memcmp(now, fx.ro_copy, DISK_BYTES));
	}
	return 0;
}

static void seed_rw(struct fz_out *o, uint8_t op, uint8_t nseg, uint64_t sector)
{
	union pvk_blkif_any_request req = { 0 };
	uint8_t i;

	fzo_u8(o, FIX_GREFS | FIX_SECTOR | FIX_ID);
	req.rw.operation = op;
	req.rw.nr_segments = nseg;
	req.rw.sector_number = sector;
	for (i = 0; i < nseg; i++)
		req.rw.seg[i] = (struct pvk_blkif_request_segment){
			.gref = i, .first_sect = 0, .last_sect = 7
		};
	fzo_bytes(o, &req, sizeof(req));
}

/* Seeds: reads, writes, flush, barrier, discard, indirect, per disk. */
void fuzz_seeds(void)
{
	union pvk_blkif_any_request req;
	struct fz_out o;
	char name[64];
	int dev, i;

	for (dev = 0; dev < NDEV; dev++) {
		o.n = 0;
		fzo_u8(&o, (uint8_t)dev);
		fzo_u8(&o, 5);
		seed_rw(&o, PVK_BLKIF_OP_WRITE, 2, 8);
		seed_rw(&o, PVK_BLKIF_OP_READ, 11, 64);
		seed_rw(&o, PVK_BLKIF_OP_FLUSH_DISKCACHE, 1, 128);
		seed_rw(&o, PVK_BLKIF_OP_WRITE_BARRIER, 0, 0);
		memset(&req, 0, sizeof(req));
		req.discard.operation = PVK_BLKIF_OP_DISCARD;
		req.discard.id = 4;
		req.discard.sector_number = 256;
		req.discard.nr_sectors = 16;
		fzo_u8(&o, FIX_SECTOR);
		fzo_bytes(&o, &req, sizeof(req));
		snprintf(name, sizeof(name), "seed-dev%d-mixed", dev);
		fz_seed_emit(name, &o);

		o.n = 0;
		fzo_u8(&o, (uint8_t)dev);
		fzo_u8(&o, 0);
		memset(&req, 0, sizeof(req));
		req.indirect.operation = PVK_BLKIF_OP_INDIRECT;
		req.indirect.indirect_op = PVK_BLKIF_OP_WRITE;
		req.indirect.nr_segments = 20;
		req.indirect.sector_number = 512;
		fzo_u8(&o, FIX_GREFS | FIX_SECTOR | FIX_IND_GREFS |
				   FIX_IND_PAGE | FIX_ID);
		fzo_bytes(&o, &req, sizeof(req));
		for (i = 0; i < 20; i++) {
			fzo_u32(&o, (uint32_t)i);
			fzo_u8(&o, 0);
			fzo_u8(&o, 7);
			fzo_u16(&o, 0);
		}
		snprintf(name, sizeof(name), "seed-dev%d-indirect", dev);
		fz_seed_emit(name, &o);
	}
}
