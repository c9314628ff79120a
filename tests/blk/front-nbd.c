/* SPDX-License-Identifier: MIT */
/*
 * tests/blk/front-nbd.c -- the disk behind `pvkit disk serve-nbd`
 * (tools/nbd_disk.c, what the nbdkit plugin calls) on the loop hypervisor,
 * against the test-double backend: byte-addressed I/O at any alignment
 * from many threads at once (unaligned writes to one sector from two
 * threads lose neither's bytes), write-zeroes, trim, flush and FUA,
 * read-only disks, bad ranges, and a backend that stops answering (the
 * caller gets -ETIMEDOUT in time, and the request completes later) or
 * goes away (-ENODEV).  Stock NBD clients against the real plugin in
 * nbdkit: tests/blk/front-sim-nbd.sh.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../tools/nbd_disk.h"
#include "front_double.h"

#define T_DISK (4u << 20)

static struct {
	struct pvk_loop *loop;
	uint32_t guest;
	struct pvk_hv *ghv;
	struct t_dbl *dbl;
	struct nbd_disk *d;
	uint8_t shadow[T_DISK];
} g;

static int t_open(const struct t_dbl_cfg *cfg, int timeout_ms)
{
	struct nbd_disk_opts o = { .bf = { .queue_depth = 16 },
				   .timeout_ms = timeout_ms };

	memset(g.shadow, 0, sizeof(g.shadow));
	if (pvk_loop_create(&g.loop) ||
	    pvk_loop_domain_create(g.loop, "guest", &g.guest) ||
	    pvk_hv_open_loop(&g.ghv, g.loop, g.guest) ||
	    t_dbl_start(&g.dbl, g.loop, g.guest, 51712, cfg))
		return -1;
	return nbd_disk_open(&g.d, g.ghv, "xvda", &o);
}

static int t_setup(void **state)
{
	struct t_dbl_cfg cfg = {
		.disk_bytes = T_DISK,
		.max_ring_order = 2,
		.max_queues = 2,
		.max_indirect = 64,
		.persistent = true,
		.flush = true,
		.discard = true,
	};

	(void)state;
	return t_open(&cfg, 2000);
}

static int t_setup_ro(void **state)
{
	struct t_dbl_cfg cfg = { .disk_bytes = T_DISK,
				 .max_ring_order = -1,
				 .max_queues = -1,
				 .read_only = true };

	(void)state;
	return t_open(&cfg, 2000);
}

static int t_teardown(void **state)
{
	(void)state;
	nbd_disk_close(g.d);
	t_dbl_stop(g.dbl);
	pvk_hv_close(g.ghv);
	pvk_loop_destroy(g.loop);
	memset(&g, 0, offsetof(typeof(g), shadow));
	return 0;
}

static uint64_t ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Thread @k of 4 writes and reads back random unaligned pieces of its own
 * quarter of the disk. */
struct worker {
	unsigned int k, seed;
	int bad;
};

static void *t_worker(void *arg)
{
	struct worker *w = arg;
	uint64_t base = w->k * (T_DISK / 4), off;
	static __thread uint8_t buf[70000], back[70000];
	uint32_t len, i, j;

	for (i = 0; i < 60; i++) {
		off = base + (uint64_t)rand_r(&w->seed) % (T_DISK / 4 - 70000);
		len = 1 + (uint32_t)rand_r(&w->seed) % 69999;
		for (j = 0; j < len; j++)
			buf[j] = (uint8_t)rand_r(&w->seed);
		if (nbd_disk_pwrite(g.d, buf, len, off, i % 7 == 0) ||
		    nbd_disk_pread(g.d, back, len, off) ||
		    memcmp(buf, back, len))
			w->bad++;
		memcpy(g.shadow + off, buf, len);
	}
	return NULL;
}

static void t_any_alignment_many_threads(void **state)
{
	struct worker w[4];
	pthread_t th[4];
	struct t_dbl_stats st;
	uint8_t *back = malloc(T_DISK);
	unsigned int k;

	(void)state;
	for (k = 0; k < 4; k++) {
		w[k] = (struct worker){ .k = k, .seed = 7 + k };
		assert_int_equal(pthread_create(&th[k], NULL, t_worker, &w[k]),
				 0);
	}
	for (k = 0; k < 4; k++) {
		pthread_join(th[k], NULL);
		assert_int_equal(w[k].bad, 0);
	}
	/* What every client wrote is on the backend's disk, and reads
	 * back whole. */
	assert_non_null(back);
	assert_int_equal(nbd_disk_pread(g.d, back, T_DISK, 0), 0);
	assert_memory_equal(back, g.shadow, T_DISK);
	assert_memory_equal(t_dbl_disk(g.dbl), g.shadow, T_DISK);
	t_dbl_stats(g.dbl, &st);
	assert_true(st.flushes > 0); /* FUA writes were followed by one */
	free(back);
}

/*
 * One thread writes [500, 600) unaligned -- a read-modify-write of sectors
 * 0 and 1 -- while another writes sector 0 whole, 200 times each.  Bytes
 * only the second writes ([0, 500)) must end as its last write left them:
 * a read-modify-write that read sector 0 before such a write and wrote it
 * back after would undo it.
 */
struct patcher {
	uint32_t at, len;
	uint8_t byte;
};

static void *t_patch(void *arg)
{
	struct patcher *p = arg;
	uint8_t b[512];
	int i;

	for (i = 0; i < 200; i++) {
		memset(b, p->byte + i, sizeof(b));
		if (nbd_disk_pwrite(g.d, b, p->len, p->at, false))
			return (void *)1;
	}
	return NULL;
}

static void t_unaligned_writes_never_lose_bytes(void **state)
{
	struct patcher a = { 500, 100, 0x10 }, b = { 0, 512, 0x80 };
	pthread_t ta, tb;
	void *ra, *rb;
	uint8_t back[1024];
	int i;

	(void)state;
	assert_int_equal(pthread_create(&ta, NULL, t_patch, &a), 0);
	assert_int_equal(pthread_create(&tb, NULL, t_patch, &b), 0);
	pthread_join(ta, &ra);
	pthread_join(tb, &rb);
	assert_null(ra);
	assert_null(rb);
	assert_int_equal(nbd_disk_pread(g.d, back, sizeof(back), 0), 0);
	for (i = 0; i < 500; i++)
		assert_int_equal(back[i], (uint8_t)(0x80 + 199));
	for (i = 512; i < 600; i++)
		assert_int_equal(back[i], (uint8_t)(0x10 + 199));
	for (i = 600; i < 1024; i++)
		assert_int_equal(back[i], 0);
}

static void t_zero_trim_flush(void **state)
{
	uint8_t buf[8192], back[8192];
	struct t_dbl_stats st0, st;

	(void)state;
	memset(buf, 0xab, sizeof(buf));
	assert_int_equal(nbd_disk_pwrite(g.d, buf, sizeof(buf), 4096, false),
			 0);
	/* Zeroes, unaligned at both ends: exactly those bytes. */
	assert_int_equal(nbd_disk_zero(g.d, 5000, 4096 + 100, false), 0);
	assert_int_equal(nbd_disk_pread(g.d, back, sizeof(back), 4096), 0);
	for (int i = 0; i < 8192; i++)
		assert_int_equal(back[i],
				 i >= 100 && i < 5100 ? 0 : (uint8_t)0xab);
	/* Trim is a hint: whole sectors inside the range reach the backend,
	 * and nothing outside it changes. */
	t_dbl_stats(g.dbl, &st0);
	assert_int_equal(nbd_disk_trim(g.d, 8192, 65536, false), 0);
	assert_int_equal(nbd_disk_trim(g.d, 100, 65536 + 10, false), 0);
	t_dbl_stats(g.dbl, &st);
	assert_int_equal(st.discards, st0.discards + 1);
	assert_int_equal(nbd_disk_flush(g.d), 0);
	assert_int_equal(nbd_disk_zero(g.d, 4096, 0, true), 0);
	t_dbl_stats(g.dbl, &st0);
	assert_true(st0.flushes >= st.flushes + 2);
}

static void t_bad_ranges(void **state)
{
	uint8_t b[16];

	(void)state;
	assert_int_equal(nbd_disk_pread(g.d, b, 16, T_DISK - 8), -EINVAL);
	assert_int_equal(nbd_disk_pwrite(g.d, b, 16, UINT64_MAX - 4, false),
			 -EINVAL);
	assert_int_equal(nbd_disk_zero(g.d, 1, T_DISK, false), -EINVAL);
	assert_int_equal(nbd_disk_trim(g.d, 2, T_DISK - 1, false), -EINVAL);
	assert_int_equal(nbd_disk_pread(g.d, b, 0, T_DISK), 0);
	assert_int_equal(nbd_disk_pread(g.d, b, 16, T_DISK - 16), 0);
}

static void t_read_only(void **state)
{
	uint8_t b[512] = { 0 };
	struct pvk_blkfront_info info;

	(void)state;
	nbd_disk_info(g.d, &info);
	assert_true(info.read_only);
	assert_int_equal(nbd_disk_pwrite(g.d, b, 512, 0, false), -EROFS);
	assert_int_equal(nbd_disk_zero(g.d, 512, 0, false), -EROFS);
	assert_int_equal(nbd_disk_trim(g.d, 512, 0, false), -EROFS);
	assert_int_equal(nbd_disk_pread(g.d, b, 512, 0), 0);
	assert_int_equal(nbd_disk_flush(g.d), -EOPNOTSUPP);
}

/* A backend that stops answering costs the caller its timeout, not a
 * hang; the request completes later (its buffers are the disk's own),
 * and the disk serves again. */
static void t_backend_silent_then_back(void **state)
{
	uint8_t b[4096], back[4096];
	uint64_t t0;

	(void)state;
	memset(b, 0x5a, sizeof(b));
	t_dbl_silence(g.dbl, true);
	t0 = ms_now();
	assert_int_equal(nbd_disk_pwrite(g.d, b, sizeof(b), 8192, false),
			 -ETIMEDOUT);
	assert_true(ms_now() - t0 >= 1900 && ms_now() - t0 < 5000);
	assert_non_null(nbd_disk_gone(g.d));
	t_dbl_silence(g.dbl, false);
	/* The abandoned write lands; then the disk serves as before. */
	t0 = ms_now();
	while (memcmp(t_dbl_disk(g.dbl) + 8192, b, sizeof(b)))
		assert_true(ms_now() - t0 < 3000);
	assert_int_equal(nbd_disk_pread(g.d, back, sizeof(back), 8192), 0);
	assert_memory_equal(back, b, sizeof(b));
}

/* The disk detached under a caller: an error, at once. */
static void t_backend_gone(void **state)
{
	uint8_t b[512];
	uint64_t t0;
	int rc;

	(void)state;
	t_dbl_stop(g.dbl);
	g.dbl = NULL;
	t0 = ms_now();
	do
		rc = nbd_disk_pread(g.d, b, 512, 0);
	while (rc == 0 && ms_now() - t0 < 3000);
	assert_true(rc == -ENODEV || rc == -EIO || rc == -ETIMEDOUT);
	assert_non_null(nbd_disk_gone(g.d));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(t_any_alignment_many_threads,
						t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(
			t_unaligned_writes_never_lose_bytes, t_setup,
			t_teardown),
		cmocka_unit_test_setup_teardown(t_zero_trim_flush, t_setup,
						t_teardown),
		cmocka_unit_test_setup_teardown(t_bad_ranges, t_setup,
						t_teardown),
		cmocka_unit_test_setup_teardown(t_read_only, t_setup_ro,
						t_teardown),
		cmocka_unit_test_setup_teardown(t_backend_silent_then_back,
						t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(t_backend_gone, t_setup,
						t_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
