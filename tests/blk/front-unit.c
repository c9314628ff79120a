/* SPDX-License-Identifier: MIT */
/*
 * tests/blk/front-unit.c -- blkfront against a test-double backend on the
 * loop hypervisor: negotiation of every feature combination with data
 * integrity (random offsets and sizes, every byte verified), a backend
 * offering nothing optional, flush/discard, read-only, argument checks,
 * reconnect with requests in flight, and hostile backends.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <pvkit/blkfront.h>
#include <pvkit/hv.h>

#include "front_double.h"

#define T_DISK (4u << 20)
#define T_XVDA 51712u

struct t_env {
	struct pvk_loop *loop;
	uint32_t guest;
	struct pvk_hv *ghv;
	struct t_dbl *dbl;
	struct pvk_blkfront *bf;
};

static struct t_dbl_cfg t_cfg_all(void)
{
	struct t_dbl_cfg c = {
		.disk_bytes = T_DISK,
		.max_ring_order = 4,
		.max_queues = 4,
		.max_indirect = 256,
		.persistent = true,
		.flush = true,
		.barrier = true,
		.discard = true,
	};
	return c;
}

static int t_up(struct t_env *e, const struct t_dbl_cfg *cfg,
		const struct pvk_blkfront_opts *opts)
{
	int rc;

	memset(e, 0, sizeof(*e));
	assert_int_equal(pvk_loop_create(&e->loop), 0);
	assert_int_equal(pvk_loop_domain_create(e->loop, "guest", &e->guest),
			 0);
	assert_int_equal(pvk_hv_open_loop(&e->ghv, e->loop, e->guest), 0);
	assert_int_equal(t_dbl_start(&e->dbl, e->loop, e->guest, T_XVDA, cfg),
			 0);
	rc = pvk_blkfront_open(&e->bf, e->ghv, "xvda", opts);
	return rc;
}

static void t_down(struct t_env *e)
{
	pvk_blkfront_close(e->bf);
	t_dbl_stop(e->dbl);
	pvk_hv_close(e->ghv);
	pvk_loop_destroy(e->loop);
}

static uint64_t t_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

struct t_slot {
	struct pvk_blkfront_io io;
	uint8_t *buf;
	bool busy;
};

static bool t_overlaps(const struct t_slot *slots, unsigned int n, uint64_t off,
		       uint64_t len)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if (slots[i].busy &&
		    off < slots[i].io.offset + slots[i].io.len &&
		    slots[i].io.offset < off + len)
			return true;
	return false;
}

static void t_check_read(const struct t_slot *s, const uint8_t *model)
{
	if (memcmp(s->buf, model + s->io.offset, s->io.len)) {
		fail_msg("read at %llu len %llu differs from what was written",
			 (unsigned long long)s->io.offset,
			 (unsigned long long)s->io.len);
	}
}

/*
 * @nops random reads and writes (sector-aligned offsets, one sector to
 * @maxlen), up to @qd in flight, never two overlapping at once so that
 * every byte has one expected value; reads are checked against the model
 * on completion, then the whole disk is read back and compared.
 */
static void t_integrity(struct pvk_blkfront *bf, const uint8_t *ramdisk,
			unsigned int nops, uint64_t maxlen, unsigned int qd,
			uint64_t seed)
{
	uint64_t size = pvk_blkfront_size(bf), s = seed;
	uint64_t blk = pvk_blkfront_sector_size(bf);
	struct pvk_blkfront_io *done[64];
	struct t_slot *slots = calloc(qd, sizeof(*slots));
	uint8_t *model = calloc(1, size), *all = malloc(size);
	unsigned int issued = 0, inflight = 0, i, k;
	int n;

	assert_non_null(slots);
	assert_non_null(model);
	assert_non_null(all);
	/* Start from what the disk holds. */
	assert_int_equal(pvk_blkfront_pread(bf, model, size, 0), (ssize_t)size);
	for (i = 0; i < qd; i++) {
		slots[i].buf = malloc(maxlen);
		slots[i].io.user = &slots[i];
		assert_non_null(slots[i].buf);
	}
	while (issued < nops || inflight) {
		for (i = 0; i < qd && issued < nops; i++) {
			struct t_slot *sl = &slots[i];
			uint64_t off, len;

			if (sl->busy)
				continue;
			do {
				len = (t_rand(&s) % (maxlen / blk) + 1) * blk;
				off = (t_rand(&s) % ((size - len) / blk + 1)) *
				      blk;
			} while (t_overlaps(slots, qd, off, len));
			sl->io.offset = off;
			sl->io.len = len;
			sl->io.buf = sl->buf;
			sl->io.op = t_rand(&s) & 1 ? PVK_BLKFRONT_WRITE :
						     PVK_BLKFRONT_READ;
			if (sl->io.op == PVK_BLKFRONT_WRITE) {
				for (k = 0; k < len; k += 8) {
					uint64_t v = t_rand(&s);
					memcpy(sl->buf + k, &v, 8);
				}
				memcpy(model + off, sl->buf, len);
			}
			assert_int_equal(pvk_blkfront_submit(bf, &sl->io), 0);
			sl->busy = true;
			issued++;
			inflight++;
		}
		n = pvk_blkfront_reap(bf, done, 1, 64, 10000);
		assert_true(n > 0);
		for (k = 0; k < (unsigned int)n; k++) {
			struct t_slot *sl = done[k]->user;

			assert_int_equal(done[k]->result, 0);
			if (sl->io.op == PVK_BLKFRONT_READ)
				t_check_read(sl, model);
			sl->busy = false;
			inflight--;
		}
	}
	assert_int_equal(pvk_blkfront_pread(bf, all, size, 0), (ssize_t)size);
	assert_memory_equal(all, model, size);
	if (ramdisk)
		assert_memory_equal(ramdisk, model, size);
	for (i = 0; i < qd; i++)
		free(slots[i].buf);
	free(slots);
	free(model);
	free(all);
}

/* ---- the feature matrix ---------------------------------------------- */

struct t_combo {
	uint32_t order, queues;
	bool indirect, persistent;
	bool backend_caps; /* cap by what the backend offers, else by opts */
};

static struct t_combo t_combos[16];

static void t_matrix(void **state)
{
	const struct t_combo *c = *state;
	struct pvk_blkfront_opts opts = { .max_indirect_segs = 256,
					  .max_queues = 4,
					  .queue_depth = 32 };
	struct t_dbl_cfg cfg = t_cfg_all();
	struct pvk_blkfront_info info;
	struct pvk_blkfront_stats fst;
	struct t_dbl_stats st;
	struct t_env e;

	if (c->backend_caps) {
		cfg.max_ring_order = c->order ? 4 : -1;
		cfg.max_queues = c->queues > 1 ? 8 : -1;
		cfg.max_indirect = c->indirect ? 256 : 0;
		cfg.persistent = c->persistent;
	} else {
		opts.max_ring_order = c->order;
		if (!c->order)
			opts.flags |= PVK_BLKFRONT_NO_MULTI_PAGE;
		opts.max_queues = c->queues;
		if (!c->indirect)
			opts.flags |= PVK_BLKFRONT_NO_INDIRECT;
		if (!c->persistent)
			opts.flags |= PVK_BLKFRONT_NO_PERSISTENT;
	}
	assert_int_equal(t_up(&e, &cfg, &opts), 0);
	pvk_blkfront_info(e.bf, &info);
	assert_int_equal(info.ring_order, c->order);
	assert_int_equal(info.nr_queues, c->queues);
	assert_int_equal(info.max_indirect_segs, c->indirect ? 256 : 0);
	assert_int_equal(info.persistent, c->persistent);
	assert_int_equal(info.size_bytes, T_DISK);
	assert_int_equal(info.sector_size, 512);
	assert_int_equal(info.physical_sector_size, 4096);
	assert_true(info.flush);
	assert_false(info.read_only);
	assert_int_equal(info.ring_entries, c->order ? 512 : 32);

	t_integrity(e.bf, t_dbl_disk(e.dbl), 160, 384 << 10, 16,
		    0x9e3779b97f4a7c15ull ^ (c->order * 131 + c->queues * 7 +
					     c->indirect * 3 + c->persistent));

	t_dbl_stats(e.dbl, &st);
	assert_int_equal(st.bad_requests, 0);
	assert_int_equal(st.ring_order, c->order);
	assert_int_equal(st.nr_queues, c->queues);
	assert_int_equal(st.fe_persistent, c->backend_caps || c->persistent);
	if (c->indirect) {
		assert_true(st.indirect > 0);
		assert_true(st.max_segs_seen > 11);
	} else {
		assert_int_equal(st.indirect, 0);
		assert_true(st.max_segs_seen <= 11);
	}
	pvk_blkfront_stats(e.bf, &fst);
	/* Persistent or not, bounce pages come from a pool granted in
	 * chunks; only the backend's mapping differs. */
	assert_true(info.grant_pool);
	assert_true(fst.grant_allocs * 8 < fst.ring_requests);
	assert_int_equal(fst.grants_busy, 0);
	t_down(&e);
}

/* ---- a backend offering nothing optional ------------------------------- */

static void t_no_features(void **state)
{
	struct t_dbl_cfg cfg = {
		.disk_bytes = T_DISK,
		.max_ring_order = -1,
		.max_queues = -1,
		.max_indirect = 0,
	};
	struct pvk_blkfront_info info;
	struct t_env e;
	char buf[4096];

	(void)state;
	assert_int_equal(t_up(&e, &cfg, NULL), 0);
	pvk_blkfront_info(e.bf, &info);
	assert_int_equal(info.ring_order, 0);
	assert_int_equal(info.nr_queues, 1);
	assert_int_equal(info.max_indirect_segs, 0);
	assert_int_equal(info.max_segments, 11);
	assert_false(info.persistent);
	assert_false(info.flush);
	assert_false(info.barrier);
	assert_false(info.discard);
	t_integrity(e.bf, t_dbl_disk(e.dbl), 100, 128 << 10, 8, 42);
	assert_int_equal(pvk_blkfront_flush(e.bf), -EOPNOTSUPP);
	assert_int_equal(pvk_blkfront_discard(e.bf, 0, 4096), -EOPNOTSUPP);
	assert_int_equal(pvk_blkfront_pread(e.bf, buf, sizeof(buf), 0), 4096);
	t_down(&e);
}

/* ---- flush, barrier, discard ------------------------------------------- */

static void t_flush_discard(void **state)
{
	struct t_dbl_cfg cfg = t_cfg_all();
	struct pvk_blkfront_info info;
	struct t_dbl_stats st;
	static uint8_t buf[65536], zero[65536];
	struct t_env e;

	(void)state;
	assert_int_equal(t_up(&e, &cfg, NULL), 0);
	memset(buf, 0xa5, sizeof(buf));
	assert_int_equal(pvk_blkfront_pwrite(e.bf, buf, sizeof(buf), 8192),
			 (ssize_t)sizeof(buf));
	assert_int_equal(pvk_blkfront_flush(e.bf), 0);
	pvk_blkfront_info(e.bf, &info);
	assert_true(info.discard);
	assert_int_equal(info.discard_granularity, 4096);
	assert_int_equal(pvk_blkfront_discard(e.bf, 8192, 32768), 0);
	assert_int_equal(pvk_blkfront_pread(e.bf, buf, sizeof(buf), 8192),
			 (ssize_t)sizeof(buf));
	assert_memory_equal(buf, zero, 32768);
	assert_int_equal(buf[32768], 0xa5);
	t_dbl_stats(e.dbl, &st);
	assert_int_equal(st.flushes, 1);
	assert_int_equal(st.discards, 1);
	t_down(&e);

	/* Barrier only: a flush goes out as an empty WRITE_BARRIER. */
	cfg.flush = false;
	assert_int_equal(t_up(&e, &cfg, NULL), 0);
	assert_int_equal(pvk_blkfront_flush(e.bf), 0);
	t_dbl_stats(e.dbl, &st);
	assert_int_equal(st.flushes, 1);
	assert_int_equal(st.bad_requests, 0);
	t_down(&e);
}

/* ---- read-only --------------------------------------------------------- */

static void t_read_only(void **state)
{
	struct t_dbl_cfg cfg = t_cfg_all();
	struct t_dbl_stats st;
	char buf[4096];
	struct t_env e;

	(void)state;
	cfg.read_only = true;
	assert_int_equal(t_up(&e, &cfg, NULL), 0);
	assert_true(pvk_blkfront_read_only(e.bf));
	assert_int_equal(pvk_blkfront_pread(e.bf, buf, sizeof(buf), 0), 4096);
	assert_int_equal(pvk_blkfront_pwrite(e.bf, buf, sizeof(buf), 0),
			 -EROFS);
	assert_int_equal(pvk_blkfront_discard(e.bf, 0, 4096), -EROFS);
	t_dbl_stats(e.dbl, &st);
	assert_int_equal(st.writes, 0);
	t_down(&e);
}

/* ---- arguments ---------------------------------------------------------- */

static void t_args(void **state)
{
	struct pvk_blkfront_opts opts = { .queue_depth = 2 };
	struct t_dbl_cfg cfg = t_cfg_all();
	struct pvk_blkfront_io io[3], *done[4];
	static char buf[3][4096];
	struct pvk_blkfront *bf;
	struct t_env e;
	int i, n;

	(void)state;
	assert_int_equal(pvk_blkfront_vdev_to_devid("xvda"), 51712);
	assert_int_equal(pvk_blkfront_vdev_to_devid("xvdb"), 51728);
	assert_int_equal(pvk_blkfront_vdev_to_devid("xvdq"),
			 (1 << 28) | (16 << 8));
	assert_int_equal(pvk_blkfront_vdev_to_devid("xvdaa"),
			 (1 << 28) | (26 << 8));
	assert_int_equal(pvk_blkfront_vdev_to_devid("sda"), 2048);
	assert_int_equal(pvk_blkfront_vdev_to_devid("hdc"), 22 << 8);
	assert_int_equal(pvk_blkfront_vdev_to_devid("768"), 768);
	assert_int_equal(pvk_blkfront_vdev_to_devid("xvd"), -EINVAL);
	assert_int_equal(pvk_blkfront_vdev_to_devid("xvdA"), -EINVAL);
	assert_int_equal(pvk_blkfront_vdev_to_devid("12x"), -EINVAL);
	assert_int_equal(pvk_blkfront_vdev_to_devid("nvme0"), -EINVAL);
	{
		char name[16];
		const char *names[] = { "xvda",	 "xvdp",  "xvdq", "xvdz",
					"xvdaa", "xvdzz", "hda",  "hdb",
					"hdc",	 "hdd",	  "sda",  "sdp" };

		for (i = 0; i < 12; i++) {
			assert_int_equal(
				pvk_blkfront_devid_name(
					(uint32_t)pvk_blkfront_vdev_to_devid(
						names[i]),
					name, sizeof(name)),
				0);
			assert_string_equal(name, names[i]);
		}
		/* A partition is named by its number. */
		assert_int_equal(
			pvk_blkfront_devid_name(51713, name, sizeof(name)), 0);
		assert_string_equal(name, "51713");
		assert_int_equal(pvk_blkfront_devid_name((3 << 8) | 1, name,
							 sizeof(name)),
				 0);
		assert_string_equal(name, "769");
	}

	assert_int_equal(t_up(&e, &cfg, &opts), 0);
	bf = e.bf;
	assert_int_equal(pvk_blkfront_pread(bf, buf[0], 4096, 100), -EINVAL);
	assert_int_equal(pvk_blkfront_pread(bf, buf[0], 100, 0), -EINVAL);
	assert_int_equal(pvk_blkfront_pread(bf, buf[0], 4096, T_DISK), -EINVAL);
	assert_int_equal(pvk_blkfront_pread(bf, buf[0], 0, 0), -EINVAL);
	assert_int_equal(pvk_blkfront_discard(bf, T_DISK - 512, 1024), -EINVAL);
	assert_int_equal(pvk_blkfront_reap(bf, done, 1, 4, 0), -ENOENT);
	for (i = 0; i < 3; i++) {
		memset(&io[i], 0, sizeof(io[i]));
		io[i].op = PVK_BLKFRONT_READ;
		io[i].offset = (uint64_t)i * 4096;
		io[i].len = 4096;
		io[i].buf = buf[i];
	}
	assert_int_equal(pvk_blkfront_submit(bf, &io[0]), 0);
	assert_int_equal(pvk_blkfront_submit(bf, &io[1]), 0);
	assert_int_equal(pvk_blkfront_submit(bf, &io[2]), -EAGAIN);
	assert_int_equal(pvk_blkfront_in_flight(bf), 2);
	n = pvk_blkfront_reap(bf, done, 2, 4, 10000);
	assert_int_equal(n, 2);
	assert_int_equal(done[0]->result, 0);
	assert_int_equal(done[1]->result, 0);
	assert_int_equal(pvk_blkfront_submit(bf, &io[2]), 0);
	assert_int_equal(pvk_blkfront_reap(bf, done, 1, 4, 10000), 1);
	assert_ptr_equal(done[0], &io[2]);
	t_down(&e);

	/* No such device. */
	assert_int_equal(pvk_loop_create(&e.loop), 0);
	assert_int_equal(pvk_loop_domain_create(e.loop, "g", &e.guest), 0);
	assert_int_equal(pvk_hv_open_loop(&e.ghv, e.loop, e.guest), 0);
	assert_int_equal(pvk_blkfront_open(&bf, e.ghv, "xvdb", NULL), -ENOENT);
	assert_int_equal(pvk_blkfront_open(&bf, e.ghv, "bogus", NULL), -EINVAL);
	pvk_hv_close(e.ghv);
	pvk_loop_destroy(e.loop);
}

/* ---- reconnect with requests in flight ----------------------------------- */

/* The frontend's node @name: 0 if it is there, or -errno. */
static int t_fe_node(struct t_env *e, const char *name, const char *write)
{
	char p[128], *v = NULL;
	int rc;

	snprintf(p, sizeof(p), "/local/domain/%u/device/vbd/%u/%s", e->guest,
		 T_XVDA, name);
	if (write)
		return pvk_xs_write(e->ghv, PVK_XS_NO_TXN, p, write);
	rc = pvk_xs_read(e->ghv, PVK_XS_NO_TXN, p, &v);
	free(v);
	return rc < 0 ? rc : 0;
}

static void t_reconnect(bool via_close)
{
	struct pvk_blkfront_opts opts = { .queue_depth = 32 };
	struct t_dbl_cfg cfg = t_cfg_all();
	static struct pvk_blkfront_io io[32];
	static uint8_t buf[32][65536], back[65536];
	struct pvk_blkfront_io *done[32];
	struct pvk_blkfront_info info;
	struct pvk_blkfront_stats fst;
	struct t_dbl_stats st;
	unsigned int got = 0, i;
	struct t_env e;
	int n;

	cfg.restart_after = 10;
	cfg.restart_via_close = via_close;
	cfg.max_queues = 1;
	assert_int_equal(t_up(&e, &cfg, &opts), 0);
	/* Nodes a connection with more queues would have left go at the
	 * reconnect; others stay. */
	assert_int_equal(t_fe_node(&e, "queue-3", "x"), 0);
	assert_int_equal(t_fe_node(&e, "multi-queue-num-queues", "4"), 0);
	assert_int_equal(t_fe_node(&e, "ring-ref16", "x"), 0);
	assert_int_equal(t_fe_node(&e, "queue-03", "x"), 0);
	for (i = 0; i < 32; i++) {
		memset(buf[i], (int)(i + 1), sizeof(buf[i]));
		memset(&io[i], 0, sizeof(io[i]));
		io[i].op = PVK_BLKFRONT_WRITE;
		io[i].offset = (uint64_t)i * sizeof(buf[i]);
		io[i].len = sizeof(buf[i]);
		io[i].buf = buf[i];
		assert_int_equal(pvk_blkfront_submit(e.bf, &io[i]), 0);
	}
	while (got < 32) {
		n = pvk_blkfront_reap(e.bf, done, 1, 32, 10000);
		assert_true(n > 0);
		for (i = 0; i < (unsigned int)n; i++)
			assert_int_equal(done[i]->result, 0);
		got += (unsigned int)n;
	}
	pvk_blkfront_info(e.bf, &info);
	assert_int_equal(info.connects, 2);
	assert_int_equal(t_fe_node(&e, "queue-3", NULL), -ENOENT);
	assert_int_equal(t_fe_node(&e, "multi-queue-num-queues", NULL),
			 -ENOENT);
	assert_int_equal(t_fe_node(&e, "ring-ref16", NULL), 0);
	assert_int_equal(t_fe_node(&e, "queue-03", NULL), 0);
	pvk_blkfront_stats(e.bf, &fst);
	t_dbl_stats(e.dbl, &st);
	assert_int_equal(st.restarts, 1);
	assert_int_equal(st.bad_requests, 0);
	/* Every io not answered before the crash (at least the 23 the
	 * backend never answered) went to the new backend exactly once:
	 * each is one ring request (16 segments, indirect). */
	assert_true(fst.reissued >= 32 - 9);
	assert_int_equal(st.requests_since_restart, fst.reissued);
	assert_int_equal(fst.ring_requests, 32 + fst.reissued);
	for (i = 0; i < 32; i++) {
		assert_int_equal(pvk_blkfront_pread(e.bf, back, sizeof(back),
						    (uint64_t)i * sizeof(back)),
				 (ssize_t)sizeof(back));
		assert_memory_equal(back, buf[i], sizeof(back));
	}
	t_down(&e);
}

/* The backend comes back with half the disk: ios beyond the new end fail
 * with -EIO, the rest complete; with another sector size, the device is
 * broken (its ios were split for the old one). */
static void t_reconnect_geometry(void **state)
{
	struct pvk_blkfront_opts opts = { .queue_depth = 32 };
	struct t_dbl_cfg cfg = t_cfg_all();
	static struct pvk_blkfront_io io[32];
	static uint8_t buf[32][65536];
	struct pvk_blkfront_io *done[32];
	struct pvk_blkfront_info info;
	unsigned int got = 0, i, eio = 0;
	struct t_env e;
	int n;

	(void)state;
	cfg.restart_after = 4;
	cfg.restart_disk_bytes = T_DISK / 2;
	cfg.max_queues = 1;
	assert_int_equal(t_up(&e, &cfg, &opts), 0);
	for (i = 0; i < 32; i++) {
		memset(&io[i], 0, sizeof(io[i]));
		io[i].op = PVK_BLKFRONT_WRITE;
		io[i].offset = (uint64_t)i * (T_DISK / 32);
		io[i].len = sizeof(buf[i]);
		io[i].buf = buf[i];
		assert_int_equal(pvk_blkfront_submit(e.bf, &io[i]), 0);
	}
	while (got < 32) {
		n = pvk_blkfront_reap(e.bf, done, 1, 32, 10000);
		assert_true(n > 0);
		for (i = 0; i < (unsigned int)n; i++) {
			if (done[i]->offset >= T_DISK / 2)
				eio += done[i]->result == -EIO;
			else
				assert_int_equal(done[i]->result, 0);
		}
		got += (unsigned int)n;
	}
	assert_true(eio > 0);
	pvk_blkfront_info(e.bf, &info);
	assert_int_equal(info.size_bytes, T_DISK / 2);
	assert_int_equal(info.connects, 2);
	assert_null(pvk_blkfront_broken_reason(e.bf));
	/* Resized while connected. */
	assert_int_equal(t_dbl_resize(e.dbl, T_DISK / 4), 0);
	for (i = 0; i < 200 && pvk_blkfront_size(e.bf) != T_DISK / 4; i++)
		assert_int_equal(pvk_blkfront_pread(e.bf, buf[0], 4096, 0),
				 4096);
	assert_int_equal(pvk_blkfront_size(e.bf), T_DISK / 4);
	assert_int_equal(pvk_blkfront_pread(e.bf, buf[0], 4096, T_DISK / 4),
			 -EINVAL);
	t_down(&e);

	cfg.restart_disk_bytes = 0;
	cfg.restart_sector_size = 4096;
	assert_int_equal(t_up(&e, &cfg, &opts), 0);
	for (i = 0; i < 32; i++)
		assert_int_equal(pvk_blkfront_submit(e.bf, &io[i]), 0);
	for (got = 0; got < 32; got += (unsigned int)n) {
		n = pvk_blkfront_reap(e.bf, done, 1, 32, 10000);
		assert_true(n > 0);
	}
	assert_non_null(pvk_blkfront_broken_reason(e.bf));
	assert_non_null(
		strstr(pvk_blkfront_broken_reason(e.bf), "sector-size"));
	t_down(&e);
}

static void t_reconnect_initwait(void **state)
{
	(void)state;
	t_reconnect(false);
}

static void t_reconnect_close(void **state)
{
	(void)state;
	t_reconnect(true);
}

/* ---- hostile backends ------------------------------------------------------ */

/* The log callback: lines go to the caller, not stderr. */
static void t_log(void *arg, const char *line)
{
	char *buf = arg;
	size_t n = strlen(buf);

	snprintf(buf + n, 1024 - n, "%s\n", line);
}

static void t_hostile(void **state)
{
	enum t_dbl_hostile how = (enum t_dbl_hostile)(uintptr_t)*state;
	static char lines[1024];
	struct pvk_blkfront_opts opts = { .queue_depth = 16,
					  .log = t_log,
					  .log_arg = lines };
	struct t_dbl_cfg cfg = t_cfg_all();
	static struct pvk_blkfront_io io[16];
	static uint8_t buf[16][8192];
	struct pvk_blkfront_io *done[16];
	unsigned int got = 0, failed = 0, i;
	struct t_env e;
	int n;

	cfg.hostile = how;
	cfg.hostile_after = 3;
	cfg.max_queues = 1;
	assert_int_equal(t_up(&e, &cfg, &opts), 0);
	for (i = 0; i < 16; i++) {
		memset(&io[i], 0, sizeof(io[i]));
		io[i].op = i & 1 ? PVK_BLKFRONT_WRITE : PVK_BLKFRONT_READ;
		io[i].offset = (uint64_t)i * 8192;
		io[i].len = 8192;
		io[i].buf = buf[i];
		assert_int_equal(pvk_blkfront_submit(e.bf, &io[i]), 0);
	}
	while (got < 16) {
		n = pvk_blkfront_reap(e.bf, done, 1, 16, 10000);
		assert_true(n > 0);
		for (i = 0; i < (unsigned int)n; i++)
			failed += done[i]->result == -EIO;
		got += (unsigned int)n;
	}
	assert_true(failed > 0);
	assert_non_null(pvk_blkfront_broken_reason(e.bf));
	/* Said once, through the callback, with the reason. */
	assert_non_null(strstr(lines, pvk_blkfront_broken_reason(e.bf)));
	lines[0] = '\0';
	assert_int_equal(pvk_blkfront_pread(e.bf, buf[0], 4096, 0), -EIO);
	assert_int_equal(pvk_blkfront_submit(e.bf, &io[0]), -EIO);
	t_down(&e);
}

/*
 * Random responses, 64 seeds: whatever the backend writes, every io
 * completes (some may succeed before the garbage is noticed), nothing
 * crashes or hangs, and the device ends up broken or still correct.
 */
static void t_hostile_garbage(void **state)
{
	struct pvk_blkfront_opts opts = { .queue_depth = 16, .max_queues = 1 };
	struct t_dbl_cfg cfg = t_cfg_all();
	static struct pvk_blkfront_io io[16];
	static uint8_t buf[16][8192];
	struct pvk_blkfront_io *done[16];
	unsigned int got, i, broken = 0;
	uint64_t seed;
	struct t_env e;
	int n;

	(void)state;
	cfg.hostile = T_DBL_GARBAGE;
	cfg.hostile_after = 2;
	cfg.max_queues = 1;
	cfg.max_ring_order = 0;
	for (seed = 1; seed <= 64; seed++) {
		cfg.hostile_seed = seed * 0x9e3779b97f4a7c15ull;
		assert_int_equal(t_up(&e, &cfg, &opts), 0);
		for (i = 0; i < 16; i++) {
			memset(&io[i], 0, sizeof(io[i]));
			io[i].op = i & 1 ? PVK_BLKFRONT_WRITE :
					   PVK_BLKFRONT_READ;
			io[i].offset = (uint64_t)i * 8192;
			io[i].len = 8192;
			io[i].buf = buf[i];
			assert_int_equal(pvk_blkfront_submit(e.bf, &io[i]), 0);
		}
		pvk_blkfront_kick(e.bf);
		for (got = 0; got < 16; got += (unsigned int)n) {
			n = pvk_blkfront_reap(e.bf, done, 1, 16, 10000);
			assert_true(n > 0);
		}
		broken += pvk_blkfront_broken_reason(e.bf) != NULL;
		t_down(&e);
	}
	/* Random bytes almost never make a valid response. */
	assert_true(broken >= 60);
}

/* ---- hostile xenstore nodes ------------------------------------------------ */

struct t_node_case {
	const char *label, *name, *value;
	int rc; /* what pvk_blkfront_open() returns */
	/* on success, what was negotiated */
	uint32_t ring_order, nr_queues, max_indirect;
	bool discard;
	uint32_t discard_granularity;
};

static const struct t_node_case t_nodes[] = {
	{ "node max-ring-page-order=99 (clamped)", "max-ring-page-order", "99",
	  0, 4, 4, 256, true, 4096 },
	{ "node max-ring-pages=2^64-1 (clamped)", "max-ring-pages",
	  "18446744073709551615", 0, 4, 4, 256, true, 4096 },
	{ "node multi-queue-max-queues=1000000 (clamped)",
	  "multi-queue-max-queues", "1000000", 0, 4, 4, 256, true, 4096 },
	{ "node feature-max-indirect-segments=2^32-1 (clamped)",
	  "feature-max-indirect-segments", "4294967295", 0, 4, 4, 256, true,
	  4096 },
	{ "node discard-granularity=1000 (discard off)", "discard-granularity",
	  "1000", 0, 4, 4, 256, false, 0 },
	{ "node discard-granularity=0 (one sector)", "discard-granularity", "0",
	  0, 4, 4, 256, true, 512 },
#define T_BAD(l, n, v)                                                 \
	{                                                              \
		.label = (l), .name = (n), .value = (v), .rc = -EPROTO \
	}
	T_BAD("node max-ring-page-order=abc", "max-ring-page-order", "abc"),
	T_BAD("node max-ring-page-order=2^70", "max-ring-page-order",
	      "1180591620717411303424"),
	T_BAD("node sectors=0", "sectors", "0"),
	T_BAD("node sectors=2^64-1", "sectors", "18446744073709551615"),
	T_BAD("node sectors=2^54 (2^63 bytes)", "sectors", "18014398509481984"),
	T_BAD("node sectors missing", "sectors", NULL),
	T_BAD("node sectors=-1", "sectors", "-1"),
	T_BAD("node sector-size=3", "sector-size", "3"),
	T_BAD("node sector-size=0", "sector-size", "0"),
	T_BAD("node sector-size=65536", "sector-size", "65536"),
	T_BAD("node physical-sector-size=1000", "physical-sector-size", "1000"),
	T_BAD("node feature-persistent=2", "feature-persistent", "2"),
	T_BAD("node info=2^32", "info", "4294967296"),
	T_BAD("node feature-flush-cache=yes", "feature-flush-cache", "yes"),
#undef T_BAD
};

/* A backend writing garbage into its nodes: limits are clamped, anything
 * else fails open() with -EPROTO -- never a crash, never a hang. */
static void t_hostile_node(void **state)
{
	const struct t_node_case *c = *state;
	struct pvk_blkfront_opts opts = { .max_queues = 4,
					  .max_indirect_segs = 256,
					  .connect_timeout_ms = 5000 };
	struct t_dbl_cfg cfg = t_cfg_all();
	struct pvk_blkfront_info info;
	struct t_env e;

	cfg.max_queues = 8;
	cfg.override[0].name = c->name;
	cfg.override[0].value = c->value;
	assert_int_equal(t_up(&e, &cfg, &opts), c->rc);
	if (c->rc == 0) {
		pvk_blkfront_info(e.bf, &info);
		assert_int_equal(info.ring_order, c->ring_order);
		assert_int_equal(info.nr_queues, c->nr_queues);
		assert_int_equal(info.max_indirect_segs, c->max_indirect);
		assert_int_equal(info.discard, c->discard);
		assert_int_equal(info.discard_granularity,
				 c->discard_granularity);
		t_integrity(e.bf, t_dbl_disk(e.dbl), 40, 256 << 10, 8, 5);
	} else {
		assert_null(e.bf);
	}
	t_down(&e);
}

/* ---- grants ------------------------------------------------------------------ */

/* PVK_BLKFRONT_GRANT_PER_REQUEST: fresh grants per request, as Linux. */
static void t_grant_per_request(void **state)
{
	struct pvk_blkfront_opts opts = {
		.flags = PVK_BLKFRONT_NO_PERSISTENT |
			 PVK_BLKFRONT_GRANT_PER_REQUEST,
		.queue_depth = 16
	};
	struct t_dbl_cfg cfg = t_cfg_all();
	struct pvk_blkfront_info info;
	struct pvk_blkfront_stats fst;
	struct t_env e;

	(void)state;
	assert_int_equal(t_up(&e, &cfg, &opts), 0);
	pvk_blkfront_info(e.bf, &info);
	assert_false(info.persistent);
	assert_false(info.grant_pool);
	t_integrity(e.bf, t_dbl_disk(e.dbl), 100, 256 << 10, 16, 77);
	pvk_blkfront_stats(e.bf, &fst);
	assert_true(fst.grant_allocs >= fst.ring_requests);
	assert_int_equal(fst.grants_busy, 0);
	t_down(&e);
}

/* A backend keeping a page mapped after answering: the frontend cannot end
 * access, keeps the page aside (never reused), and frees it once the
 * backend lets go. */
static void t_grant_held(void **state)
{
	struct pvk_blkfront_opts opts = {
		.flags = PVK_BLKFRONT_NO_PERSISTENT |
			 PVK_BLKFRONT_GRANT_PER_REQUEST,
		.queue_depth = 8
	};
	struct t_dbl_cfg cfg = t_cfg_all();
	struct pvk_blkfront_stats fst;
	struct t_dbl_stats st;
	static uint8_t buf[65536];
	struct t_env e;

	(void)state;
	cfg.persistent = false;
	cfg.hold_grant = true;
	assert_int_equal(t_up(&e, &cfg, &opts), 0);
	memset(buf, 0x3c, sizeof(buf));
	assert_int_equal(pvk_blkfront_pwrite(e.bf, buf, sizeof(buf), 0),
			 (ssize_t)sizeof(buf));
	t_dbl_stats(e.dbl, &st);
	assert_true(st.holding);
	pvk_blkfront_stats(e.bf, &fst);
	assert_true(fst.grants_busy > 0);
	/* More I/O works around the held pages, and the data is right. */
	t_integrity(e.bf, t_dbl_disk(e.dbl), 40, 64 << 10, 8, 3);
	t_dbl_release(e.dbl);
	assert_int_equal(pvk_blkfront_pread(e.bf, buf, 4096, 0), 4096);
	pvk_blkfront_stats(e.bf, &fst);
	assert_int_equal(fst.grants_busy, 0);
	t_down(&e);
}

/* ... and at close: close returns, the rest is freed (ASan/valgrind). */
static void t_grant_held_at_close(void **state)
{
	struct t_dbl_cfg cfg = t_cfg_all();
	static uint8_t buf[65536];
	struct t_env e;

	(void)state;
	cfg.hold_grant = true;
	assert_int_equal(t_up(&e, &cfg, NULL), 0);
	assert_int_equal(pvk_blkfront_pwrite(e.bf, buf, sizeof(buf), 0),
			 (ssize_t)sizeof(buf));
	pvk_blkfront_close(e.bf);
	e.bf = NULL;
	t_down(&e);
}

/* ---- discard ------------------------------------------------------------------ */

static void t_fill(struct pvk_blkfront *bf, uint64_t off, uint64_t len, int c)
{
	uint8_t *b = malloc(len);

	assert_non_null(b);
	memset(b, c, len);
	assert_int_equal(pvk_blkfront_pwrite(bf, b, len, off), (ssize_t)len);
	free(b);
}

/* Bytes [off, off + len) all equal @c? */
static bool t_all(struct pvk_blkfront *bf, uint64_t off, uint64_t len, int c)
{
	uint8_t *b = malloc(len);
	bool ok = true;
	uint64_t i;

	assert_non_null(b);
	assert_int_equal(pvk_blkfront_pread(bf, b, len, off), (ssize_t)len);
	for (i = 0; i < len && ok; i++)
		ok = b[i] == (uint8_t)c;
	free(b);
	return ok;
}

static void t_discard_granularity(void **state)
{
	struct t_dbl_cfg cfg = t_cfg_all();
	struct pvk_blkfront_info info;
	struct pvk_blkfront_stats fst;
	struct t_dbl_stats st;
	struct t_env e;

	(void)state;
	cfg.discard_granularity = 65536;
	cfg.discard_alignment = 65536 + 4096; /* reduced modulo granularity */
	assert_int_equal(t_up(&e, &cfg, NULL), 0);
	pvk_blkfront_info(e.bf, &info);
	assert_int_equal(info.discard_granularity, 65536);
	assert_int_equal(info.discard_alignment, 4096);
	t_fill(e.bf, 0, 512 << 10, 0x77);

	/* [0, 200 KiB) holds granules [4 KiB, 68 KiB) and [68, 132) and
	 * [132, 196): one request for 192 KiB at 4 KiB. */
	assert_int_equal(pvk_blkfront_discard(e.bf, 0, 200 << 10), 0);
	/* No whole granule: completes with no request. */
	assert_int_equal(pvk_blkfront_discard(e.bf, 8192, 65536), 0);
	assert_int_equal(pvk_blkfront_discard(e.bf, 0, 4096), 0);
	t_dbl_stats(e.dbl, &st);
	assert_int_equal(st.discards, 1);
	assert_int_equal(st.discard_log[0].sector, 4096 / 512);
	assert_int_equal(st.discard_log[0].nr_sectors, (192 << 10) / 512);
	assert_int_equal(st.discard_log[0].flag, 0);
	pvk_blkfront_stats(e.bf, &fst);
	assert_int_equal(fst.discards_skipped, 2);
	assert_true(t_all(e.bf, 0, 4096, 0x77));
	assert_true(t_all(e.bf, 4096, 192 << 10, 0));
	assert_true(t_all(e.bf, 196 << 10, 316 << 10, 0x77));

	/* The whole disk: 63 granules from 4 KiB. */
	assert_int_equal(pvk_blkfront_discard(e.bf, 0, T_DISK), 0);
	t_dbl_stats(e.dbl, &st);
	assert_int_equal(st.discards, 2);
	assert_int_equal(st.discard_log[1].sector, 8);
	assert_int_equal(st.discard_log[1].nr_sectors, 63u * 128);
	assert_int_equal(st.bad_requests, 0);
	t_down(&e);
}

static void t_discard_secure(void **state)
{
	struct t_dbl_cfg cfg = t_cfg_all();
	struct pvk_blkfront_io io = { .op = PVK_BLKFRONT_SECURE_DISCARD,
				      .offset = 1536,
				      .len = 1024 },
			       *done;
	struct pvk_blkfront_info info;
	struct t_dbl_stats st;
	struct t_env e;

	(void)state;
	assert_int_equal(t_up(&e, &cfg, NULL), 0);
	pvk_blkfront_info(e.bf, &info);
	assert_false(info.discard_secure);
	assert_int_equal(pvk_blkfront_submit(e.bf, &io), -EOPNOTSUPP);
	t_down(&e);

	cfg.discard_secure = true;
	assert_int_equal(t_up(&e, &cfg, NULL), 0);
	pvk_blkfront_info(e.bf, &info);
	assert_true(info.discard_secure);
	t_fill(e.bf, 0, 4096, 0x11);
	/* Untrimmed, though smaller than a granule. */
	assert_int_equal(pvk_blkfront_submit(e.bf, &io), 0);
	assert_int_equal(pvk_blkfront_reap(e.bf, &done, 1, 1, 10000), 1);
	assert_ptr_equal(done, &io);
	assert_int_equal(io.result, 0);
	t_dbl_stats(e.dbl, &st);
	assert_int_equal(st.discards, 1);
	assert_int_equal(st.discard_log[0].sector, 3);
	assert_int_equal(st.discard_log[0].nr_sectors, 2);
	assert_int_equal(st.discard_log[0].flag, 1);
	assert_true(t_all(e.bf, 0, 1536, 0x11));
	assert_true(t_all(e.bf, 1536, 1024, 0));
	assert_true(t_all(e.bf, 2560, 1536, 0x11));
	t_down(&e);
}

/* ---- sector sizes ---------------------------------------------------------------- */

/* feature-large-sector-size: every sector quantity in 4096-byte units. */
static void t_large_sectors(void **state)
{
	struct pvk_blkfront_opts opts = { .flags = PVK_BLKFRONT_LARGE_SECTORS };
	struct t_dbl_cfg cfg = t_cfg_all();
	struct pvk_blkfront_info info;
	struct t_dbl_stats st;
	char buf[4096];
	struct t_env e;

	(void)state;
	cfg.sector_size = 4096;
	assert_int_equal(t_up(&e, &cfg, &opts), 0);
	pvk_blkfront_info(e.bf, &info);
	assert_true(info.large_sectors);
	assert_int_equal(info.sector_size, 4096);
	assert_int_equal(info.sectors, T_DISK / 4096);
	assert_int_equal(info.size_bytes, T_DISK);
	assert_int_equal(pvk_blkfront_pread(e.bf, buf, 512, 0), -EINVAL);
	assert_int_equal(pvk_blkfront_pread(e.bf, buf, 4096, 512), -EINVAL);
	t_integrity(e.bf, t_dbl_disk(e.dbl), 80, 256 << 10, 8, 11);
	assert_int_equal(pvk_blkfront_discard(e.bf, 8192, 65536), 0);
	t_dbl_stats(e.dbl, &st);
	assert_true(st.fe_large_sectors);
	assert_int_equal(st.discard_log[0].sector, 2);
	assert_int_equal(st.discard_log[0].nr_sectors, 16);
	assert_int_equal(st.bad_requests, 0);
	t_down(&e);
}

/* Without it (the default, as Linux): 512-byte units, 4 KiB alignment. */
static void t_linux_4k_sectors(void **state)
{
	struct t_dbl_cfg cfg = t_cfg_all();
	struct pvk_blkfront_info info;
	struct t_dbl_stats st;
	struct t_env e;

	(void)state;
	cfg.sector_size = 4096;
	assert_int_equal(t_up(&e, &cfg, NULL), 0);
	pvk_blkfront_info(e.bf, &info);
	assert_false(info.large_sectors);
	assert_int_equal(info.sector_size, 4096);
	assert_int_equal(info.sectors, T_DISK / 4096);
	assert_int_equal(info.size_bytes, T_DISK);
	t_integrity(e.bf, t_dbl_disk(e.dbl), 80, 256 << 10, 8, 12);
	t_dbl_stats(e.dbl, &st);
	assert_false(st.fe_large_sectors);
	assert_int_equal(st.bad_requests, 0);
	t_down(&e);
}

/* Linux's blkback answers INDIRECT with the inner READ/WRITE. */
static void t_indirect_inner_op(void **state)
{
	struct t_dbl_cfg cfg = t_cfg_all();
	struct t_dbl_stats st;
	struct t_env e;

	(void)state;
	cfg.indirect_rsp_inner = true;
	assert_int_equal(t_up(&e, &cfg, NULL), 0);
	t_integrity(e.bf, t_dbl_disk(e.dbl), 60, 512 << 10, 8, 13);
	assert_null(pvk_blkfront_broken_reason(e.bf));
	t_dbl_stats(e.dbl, &st);
	assert_true(st.indirect > 0);
	t_down(&e);
}

/* ---- an event loop on pvk_blkfront_fd() and reap(..., 0) ---------------- */

static int t_fd_ready(struct pvk_blkfront *bf, int timeout_ms)
{
	struct pollfd p = { .fd = pvk_blkfront_fd(bf), .events = POLLIN };

	return poll(&p, 1, timeout_ms);
}

/*
 * blkfront.h: pvk_blkfront_fd() polls readable when reap(..., 0) may have
 * work.  So reap(0) takes the notifications it polls readable for (no
 * busy loop once one is pending), puts the ios that waited for ring
 * slots on the ring (nothing else would: no kick here), and acts on a
 * backend state change with nothing in flight.
 */
static void t_fd_reap0(void **state)
{
	struct pvk_blkfront_opts opts = { .flags = PVK_BLKFRONT_NO_INDIRECT,
					  .queue_depth = 64 };
	struct t_dbl_cfg cfg = t_cfg_all();
	static struct pvk_blkfront_io io[64];
	static uint8_t buf[64][4096];
	struct pvk_blkfront_io *done[64];
	struct pvk_blkfront_info info;
	unsigned int got = 0, wakeups = 0, i;
	struct t_env e;
	int n;

	(void)state;
	cfg.max_ring_order = -1; /* 32 slots: half the ios wait for one */
	cfg.max_queues = -1;
	assert_int_equal(t_up(&e, &cfg, &opts), 0);
	pvk_blkfront_info(e.bf, &info);
	assert_int_equal(info.ring_entries, 32);
	assert_int_equal(t_fd_ready(e.bf, 0), 0);

	/* One read: once its completion is reaped, the fd is quiet. */
	memset(&io[0], 0, sizeof(io[0]));
	io[0].op = PVK_BLKFRONT_READ;
	io[0].len = 4096;
	io[0].buf = buf[0];
	assert_int_equal(pvk_blkfront_submit(e.bf, &io[0]), 0);
	assert_int_equal(pvk_blkfront_kick(e.bf), 0);
	while (!got && wakeups++ < 100) {
		assert_int_equal(t_fd_ready(e.bf, 5000), 1);
		n = pvk_blkfront_reap(e.bf, done, 1, 1, 0);
		assert_true(n == 0 || n == 1);
		got += (unsigned int)n;
	}
	assert_int_equal(got, 1);
	assert_int_equal(done[0]->result, 0);
	assert_int_equal(t_fd_ready(e.bf, 0), 0);

	/* Twice the ring: a wake-up each time the backend answers, none
	 * for nothing, and the ios held back go out from reap. */
	for (i = 0; i < 64; i++) {
		memset(&io[i], 0, sizeof(io[i]));
		io[i].op = PVK_BLKFRONT_READ;
		io[i].offset = (uint64_t)i * 4096;
		io[i].len = 4096;
		io[i].buf = buf[i];
		assert_int_equal(pvk_blkfront_submit(e.bf, &io[i]), 0);
	}
	assert_int_equal(pvk_blkfront_kick(e.bf), 0);
	for (got = 0, wakeups = 0; got < 64 && wakeups < 200; wakeups++) {
		assert_int_equal(t_fd_ready(e.bf, 5000), 1);
		n = pvk_blkfront_reap(e.bf, done, 1, 64, 0);
		assert_true(n >= 0);
		for (i = 0; i < (unsigned int)n; i++)
			assert_int_equal(done[i]->result, 0);
		got += (unsigned int)n;
	}
	assert_int_equal(got, 64);
	/* A notification that came while the last ones were processed. */
	assert_int_equal(pvk_blkfront_reap(e.bf, done, 1, 64, 0), -ENOENT);
	assert_int_equal(t_fd_ready(e.bf, 0), 0);

	/* Idle: the backend says the disk shrank (a state change). */
	assert_int_equal(t_dbl_resize(e.dbl, T_DISK / 2), 0);
	assert_int_equal(t_fd_ready(e.bf, 5000), 1);
	assert_int_equal(pvk_blkfront_reap(e.bf, done, 1, 64, 0), -ENOENT);
	assert_int_equal(pvk_blkfront_size(e.bf), T_DISK / 2);
	assert_int_equal(t_fd_ready(e.bf, 0), 0);
	t_down(&e);
}

int main(void)
{
	struct CMUnitTest tests[64];
	unsigned int n = 0, i;
	static const char *const names[16] = {
		"matrix o0 q1 ind- per-", "matrix o0 q1 ind- per+",
		"matrix o0 q1 ind+ per-", "matrix o0 q1 ind+ per+",
		"matrix o0 q4 ind- per-", "matrix o0 q4 ind- per+",
		"matrix o0 q4 ind+ per-", "matrix o0 q4 ind+ per+",
		"matrix o4 q1 ind- per-", "matrix o4 q1 ind- per+",
		"matrix o4 q1 ind+ per-", "matrix o4 q1 ind+ per+",
		"matrix o4 q4 ind- per-", "matrix o4 q4 ind- per+",
		"matrix o4 q4 ind+ per-", "matrix o4 q4 ind+ per+",
	};

	for (i = 0; i < 16; i++) {
		t_combos[i].order = i & 8 ? 4 : 0;
		t_combos[i].queues = i & 4 ? 4 : 1;
		t_combos[i].indirect = i & 2;
		t_combos[i].persistent = i & 1;
		/* Half the cases cap from the backend's side. */
		t_combos[i].backend_caps = (i ^ (i >> 2)) & 1;
		tests[n++] =
			(struct CMUnitTest){ .name = names[i],
					     .test_func = t_matrix,
					     .initial_state = &t_combos[i] };
	}
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(t_no_features);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(t_flush_discard);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(t_read_only);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(t_args);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(t_reconnect_initwait);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(t_reconnect_close);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(t_reconnect_geometry);
	tests[n++] =
		(struct CMUnitTest){ .name = "hostile bad id",
				     .test_func = t_hostile,
				     .initial_state = (void *)T_DBL_BAD_ID };
	tests[n++] =
		(struct CMUnitTest){ .name = "hostile duplicate id",
				     .test_func = t_hostile,
				     .initial_state = (void *)T_DBL_DUP_ID };
	tests[n++] = (struct CMUnitTest){ .name = "hostile rsp_prod ahead",
					  .test_func = t_hostile,
					  .initial_state =
						  (void *)T_DBL_PROD_AHEAD };
	tests[n++] =
		(struct CMUnitTest){ .name = "hostile operation",
				     .test_func = t_hostile,
				     .initial_state = (void *)T_DBL_BAD_OP };
	tests[n++] =
		(struct CMUnitTest){ .name = "hostile stale id (generation)",
				     .test_func = t_hostile,
				     .initial_state = (void *)T_DBL_STALE_ID };
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(t_hostile_garbage);
	for (i = 0; i < sizeof(t_nodes) / sizeof(t_nodes[0]); i++)
		tests[n++] = (struct CMUnitTest){ .name = t_nodes[i].label,
						  .test_func = t_hostile_node,
						  .initial_state =
							  (void *)&t_nodes[i] };
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(t_grant_per_request);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(t_grant_held);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(t_grant_held_at_close);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(t_discard_granularity);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(t_discard_secure);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(t_large_sectors);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(t_linux_4k_sectors);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(t_indirect_inner_op);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(t_fd_reap0);
	return _cmocka_run_group_tests("blkfront", tests, n, NULL, NULL);
}
