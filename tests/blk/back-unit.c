/* SPDX-License-Identifier: MIT */
/*
 * test-blkback: pvkit's blkback (libpvkit-back) on the loop hypervisor,
 * driven by the raw test frontend of back_tfront.c.  Real image files
 * through io_uring; domains are handles of this process.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <pvkit/blkback.h>
#include <pvkit/xenbus.h>

#include "../../backend/blkback_priv.h"
#include "back_tfront.h"

#define T_DISK_BYTES (8u << 20)
#define T_DEVID 51712u /* xvda */

struct t_env {
	struct pvk_loop *loop;
	struct pvk_hv *hv0, *tool;
	struct pvk_blkback *bb;
	struct pvk_blkback_config cfg;
	pthread_t thread;
	bool running;
	int stop_fd;
	pthread_mutex_t lock;
	uint32_t dom[2];
	struct pvk_hv *hvu[2];
	char img[2][64];
};

/* Every backend log line of the running test, for tests that check what
 * an operator is told. */
static pthread_mutex_t t_log_lock = PTHREAD_MUTEX_INITIALIZER;
static char t_log_buf[16384];

static void t_quiet_log(void *arg, const char *line)
{
	size_t n;

	if (getenv("T_VERBOSE"))
		fprintf(stderr, "backend: %s\n", line);
	pthread_mutex_lock(&t_log_lock);
	n = strlen(t_log_buf);
	if (n + strlen(line) + 2 < sizeof(t_log_buf))
		snprintf(t_log_buf + n, sizeof(t_log_buf) - n, "%s\n", line);
	pthread_mutex_unlock(&t_log_lock);
}

static bool t_logged(const char *needle)
{
	bool found;

	pthread_mutex_lock(&t_log_lock);
	found = strstr(t_log_buf, needle) != NULL;
	pthread_mutex_unlock(&t_log_lock);
	return found;
}

static void *t_backend_main(void *arg)
{
	struct t_env *e = arg;
	struct pollfd pfd[2];

	for (;;) {
		pfd[0] = (struct pollfd){ .fd = pvk_blkback_fd(e->bb),
					  .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = e->stop_fd, .events = POLLIN };
		if (poll(pfd, 2, 1000) < 0)
			continue;
		if (pfd[1].revents)
			return NULL;
		pthread_mutex_lock(&e->lock);
		pvk_blkback_handle_events(e->bb);
		pthread_mutex_unlock(&e->lock);
	}
}

static void t_backend_start(struct t_env *e)
{
	assert_int_equal(pvk_blkback_create(&e->bb, e->hv0, &e->cfg), 0);
	assert_int_equal(pthread_create(&e->thread, NULL, t_backend_main, e),
			 0);
	e->running = true;
}

/* Stop the control thread; the backend object stays. */
static void t_backend_pause(struct t_env *e)
{
	uint64_t one = 1;

	if (!e->running)
		return;
	assert_int_equal(write(e->stop_fd, &one, sizeof(one)), sizeof(one));
	pthread_join(e->thread, NULL);
	assert_int_equal(read(e->stop_fd, &one, sizeof(one)), sizeof(one));
	e->running = false;
}

static void t_make_image(char *path, size_t len, uint64_t bytes)
{
	const char *dir = getenv("TMPDIR");
	int fd;

	snprintf(path, len, "%s/pvk-blkback-XXXXXX",
		 dir && *dir ? dir : "/tmp");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)bytes), 0);
	close(fd);
}

static void t_env_up(struct t_env *e, const struct pvk_blkback_config *cfg,
		     int ndoms)
{
	static const char *const names[] = { "guest0", "guest1" };
	int i;

	memset(e, 0, sizeof(*e));
	pthread_mutex_lock(&t_log_lock);
	t_log_buf[0] = '\0';
	pthread_mutex_unlock(&t_log_lock);
	if (cfg)
		e->cfg = *cfg;
	else
		e->cfg.max_ring_order = PVK_BLKBACK_DEF_RING_ORDER;
	e->cfg.log = t_quiet_log;
	pthread_mutex_init(&e->lock, NULL);
	e->stop_fd = eventfd(0, EFD_CLOEXEC);
	assert_true(e->stop_fd >= 0);
	assert_int_equal(pvk_loop_create(&e->loop), 0);
	assert_int_equal(pvk_hv_open_loop(&e->hv0, e->loop, 0), 0);
	assert_int_equal(pvk_hv_open_loop(&e->tool, e->loop, 0), 0);
	for (i = 0; i < ndoms; i++) {
		assert_int_equal(pvk_loop_domain_create(e->loop, names[i],
							&e->dom[i]),
				 0);
		assert_int_equal(
			pvk_hv_open_loop(&e->hvu[i], e->loop, e->dom[i]), 0);
		t_make_image(e->img[i], sizeof(e->img[i]), T_DISK_BYTES);
	}
	t_backend_start(e);
}

static void t_env_down(struct t_env *e)
{
	int i;

	t_backend_pause(e);
	pvk_blkback_destroy(e->bb);
	for (i = 0; i < 2; i++) {
		pvk_hv_close(e->hvu[i]);
		if (e->img[i][0])
			unlink(e->img[i]);
	}
	pvk_hv_close(e->tool);
	pvk_hv_close(e->hv0);
	pvk_loop_destroy(e->loop);
	close(e->stop_fd);
	pthread_mutex_destroy(&e->lock);
}

/* The backend's stats text, taken on its control thread's lock. */
static void t_stats(struct t_env *e, char **buf)
{
	size_t len = 0;
	FILE *f;

	*buf = NULL;
	f = open_memstream(buf, &len);
	assert_non_null(f);
	pthread_mutex_lock(&e->lock);
	pvk_blkback_stats(e->bb, f);
	pthread_mutex_unlock(&e->lock);
	fclose(f);
}

/* The stats line "counters ..." of device @name: the value of @key. */
static long t_counter(struct t_env *e, const char *name, const char *key)
{
	char *s, *p, want[64], k[48];
	long v = -1;

	t_stats(e, &s);
	snprintf(want, sizeof(want), "device %s ", name);
	p = strstr(s, want);
	if (p) {
		snprintf(k, sizeof(k), " %s=", key);
		p = strstr(p, k);
		if (p)
			v = strtol(p + strlen(k), NULL, 10);
	}
	free(s);
	return v;
}

static uint32_t t_rand(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(*s >> 33);
}

static void t_fill(uint8_t *p, size_t n, uint64_t *seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)t_rand(seed);
}

static void t_attach_open(struct t_env *e, int g, struct t_fe *fe,
			  const struct t_fe_cfg *fc, bool ro)
{
	assert_int_equal(
		t_attach(e->tool, 0, e->dom[g], T_DEVID, e->img[g], ro), 0);
	assert_int_equal(t_fe_open(fe, e->hvu[g], T_DEVID, fc), 0);
}

/*
 * Random offsets and sizes, every byte checked against a model of the
 * disk, then the image file itself against the model.
 */
static void t_integrity(struct t_env *e, struct t_fe *fe, uint64_t seed0,
			int rounds)
{
	uint64_t seed = seed0, sectors = fe->sectors;
	uint32_t maxs = fe->max_indirect ? 200 * 8 : 88;
	uint8_t *model = calloc(1, T_DISK_BYTES);
	uint8_t *buf = malloc((size_t)T_FE_MAX_SEGS * PVK_PAGE_SIZE);
	uint8_t *back = malloc((size_t)T_FE_MAX_SEGS * PVK_PAGE_SIZE);
	struct t_fe_io ios[16];
	uint8_t *bufs[16];
	int r, i, fd;

	assert_non_null(model);
	assert_int_equal(sectors, T_DISK_BYTES / 512);
	for (r = 0; r < rounds; r++) {
		uint32_t q = t_rand(&seed) % fe->nr_queues;
		uint32_t first = t_rand(&seed) % 8;
		uint32_t n = 1 + t_rand(&seed) % (maxs - first);
		uint64_t sec = t_rand(&seed) % (sectors - n);

		t_fill(buf, (size_t)n * 512, &seed);
		assert_int_equal(t_fe_io(fe, q, PVK_BLKIF_OP_WRITE, sec, buf, n,
					 first),
				 PVK_BLKIF_RSP_OKAY);
		memcpy(model + sec * 512, buf, (size_t)n * 512);
		/* Read back a random range overlapping it. */
		q = t_rand(&seed) % fe->nr_queues;
		first = t_rand(&seed) % 8;
		n = 1 + t_rand(&seed) % (maxs - first);
		sec = t_rand(&seed) % (sectors - n);
		assert_int_equal(t_fe_io(fe, q, PVK_BLKIF_OP_READ, sec, back, n,
					 first),
				 PVK_BLKIF_RSP_OKAY);
		assert_memory_equal(back, model + sec * 512, (size_t)n * 512);
	}
	/* Queue depth 16 on every queue: disjoint writes, then reads. */
	for (i = 0; i < 16; i++)
		bufs[i] = malloc(11 * PVK_PAGE_SIZE);
	for (uint32_t q = 0; q < fe->nr_queues; q++) {
		for (i = 0; i < 16; i++) {
			ios[i] = (struct t_fe_io){
				.op = PVK_BLKIF_OP_WRITE,
				.sector = (uint64_t)(q * 16 + i) * 88,
				.buf = bufs[i],
				.nsect = 1 + t_rand(&seed) % 88,
			};
			t_fill(bufs[i], ios[i].nsect * 512u, &seed);
			memcpy(model + ios[i].sector * 512, bufs[i],
			       ios[i].nsect * 512u);
		}
		assert_int_equal(t_fe_batch(fe, q, ios, 16), 0);
		for (i = 0; i < 16; i++) {
			assert_int_equal(ios[i].status, PVK_BLKIF_RSP_OKAY);
			ios[i].op = PVK_BLKIF_OP_READ;
			memset(bufs[i], 0, ios[i].nsect * 512u);
		}
		assert_int_equal(t_fe_batch(fe, q, ios, 16), 0);
		for (i = 0; i < 16; i++) {
			assert_int_equal(ios[i].status, PVK_BLKIF_RSP_OKAY);
			assert_memory_equal(bufs[i],
					    model + ios[i].sector * 512,
					    ios[i].nsect * 512u);
		}
	}
	for (i = 0; i < 16; i++)
		free(bufs[i]);
	/* The file holds exactly the model. */
	fd = open(e->img[0], O_RDONLY);
	assert_true(fd >= 0);
	for (size_t off = 0; off < T_DISK_BYTES; off += PVK_PAGE_SIZE * 64) {
		assert_int_equal(pread(fd, back, PVK_PAGE_SIZE * 64,
				       (off_t)off),
				 PVK_PAGE_SIZE * 64);
		assert_memory_equal(back, model + off, PVK_PAGE_SIZE * 64);
	}
	close(fd);
	free(model);
	free(buf);
	free(back);
}

static void test_integrity_matrix(void **state)
{
	static const uint32_t orders[] = { 0, 4 }, queues[] = { 1, 4 };
	unsigned int o, q, p, ind;

	for (o = 0; o < 2; o++)
		for (q = 0; q < 2; q++)
			for (p = 0; p < 2; p++)
				for (ind = 0; ind < 2; ind++) {
					struct t_fe_cfg fc = {
						.ring_order = orders[o],
						.nr_queues = queues[q],
						.persistent = p,
						.indirect = ind,
					};
					struct t_env e;
					struct t_fe fe;

					t_env_up(&e, NULL, 1);
					t_attach_open(&e, 0, &fe, &fc, false);
					assert_int_equal(fe.ring_order,
							 orders[o]);
					assert_int_equal(fe.nr_queues,
							 queues[q]);
					assert_int_equal(fe.be_persistent, p);
					assert_int_equal(fe.max_indirect,
							 ind ? 256 : 0);
					t_integrity(&e, &fe,
						    o * 8 + q * 4 + p * 2 + ind,
						    40);
					t_fe_close(&fe);
					t_env_down(&e);
				}
}

/* A backend offering none of the optional features still serves. */
static void test_backend_offers_nothing(void **state)
{
	struct pvk_blkback_config cfg = {
		.max_ring_order = 0,
		.no_indirect = true,
		.no_persistent = true,
		.no_discard = true,
		.no_flush = true,
		.no_barrier = true,
		.no_mq = true,
	};
	struct t_fe_cfg fc = { .ring_order = 4,
			       .nr_queues = 4,
			       .persistent = true,
			       .indirect = true };
	char path[320];
	unsigned long v;
	struct t_env e;
	struct t_fe fe;
	uint8_t buf[512] = { 0 };

	t_env_up(&e, &cfg, 1);
	t_attach_open(&e, 0, &fe, &fc, false);
	assert_int_equal(fe.ring_order, 0);
	assert_int_equal(fe.nr_queues, 1);
	assert_false(fe.be_persistent);
	assert_int_equal(fe.max_indirect, 0);
	assert_false(fe.flush);
	assert_false(fe.discard);
	snprintf(path, sizeof(path), "%s/multi-queue-max-queues", fe.be_path);
	assert_int_equal(pvk_xs_read_uint(e.tool, 0, path, &v), -ENOENT);
	assert_int_equal(t_fe_io(&fe, 0, PVK_BLKIF_OP_FLUSH_DISKCACHE, 0, buf,
				 0, 0),
			 PVK_BLKIF_RSP_EOPNOTSUPP);
	assert_int_equal(t_fe_discard(&fe, 0, 0, 8, 0),
			 PVK_BLKIF_RSP_EOPNOTSUPP);
	t_integrity(&e, &fe, 99, 20);
	t_fe_close(&fe);
	t_env_down(&e);
}

static void test_readonly(void **state)
{
	struct t_fe_cfg fc = { .nr_queues = 1 };
	uint8_t buf[4096], zero[4096] = { 0 };
	struct t_env e;
	struct t_fe fe;
	int fd;

	t_env_up(&e, NULL, 1);
	fd = open(e.img[0], O_WRONLY);
	memset(buf, 0x5a, sizeof(buf));
	assert_int_equal(pwrite(fd, buf, sizeof(buf), 4096), sizeof(buf));
	close(fd);
	t_attach_open(&e, 0, &fe, &fc, true);
	assert_true(fe.info & PVK_VDISK_READONLY);
	assert_false(fe.discard);
	memset(buf, 0xee, sizeof(buf));
	assert_int_equal(t_fe_io(&fe, 0, PVK_BLKIF_OP_WRITE, 8, buf, 8, 0),
			 PVK_BLKIF_RSP_ERROR);
	assert_int_equal(t_fe_io(&fe, 0, PVK_BLKIF_OP_WRITE_BARRIER, 8, buf, 8,
				 0),
			 PVK_BLKIF_RSP_ERROR);
	assert_int_equal(t_fe_io(&fe, 0, PVK_BLKIF_OP_FLUSH_DISKCACHE, 8, buf,
				 8, 0),
			 PVK_BLKIF_RSP_ERROR);
	assert_int_not_equal(t_fe_discard(&fe, 0, 0, 8, 0), PVK_BLKIF_RSP_OKAY);
	assert_int_equal(t_fe_io(&fe, 0, PVK_BLKIF_OP_READ, 8, buf, 8, 0),
			 PVK_BLKIF_RSP_OKAY);
	memset(zero, 0x5a, sizeof(zero));
	assert_memory_equal(buf, zero, sizeof(buf));
	assert_int_equal(t_counter(&e, "1/51712", "writes"), 0);
	t_fe_close(&fe);
	t_env_down(&e);
}

static union pvk_blkif_any_request t_rw(struct t_fe *fe, uint8_t op,
					uint64_t sec, uint8_t nsegs)
{
	union pvk_blkif_any_request r;
	uint8_t i;

	memset(&r, 0, sizeof(r));
	r.rw.operation = op;
	r.rw.nr_segments = nsegs;
	r.rw.id = 0x1234;
	r.rw.sector_number = sec;
	for (i = 0; i < nsegs && i < 11; i++) {
		r.rw.seg[i].gref = fe->pool_refs[i];
		r.rw.seg[i].first_sect = 0;
		r.rw.seg[i].last_sect = 7;
	}
	return r;
}

/* Each bad request gets an error response; the device keeps working. */
static void test_bad_requests(void **state)
{
	struct t_fe_cfg fc = { .nr_queues = 1, .indirect = true };
	union pvk_blkif_any_request r;
	uint8_t buf[8192], back[8192];
	uint64_t seed = 7;
	struct t_env e;
	struct t_fe fe;
	long errors;

	memset(buf, 0, sizeof(buf));
	t_env_up(&e, NULL, 1);
	t_attach_open(&e, 0, &fe, &fc, false);

	/* Beyond the end of the disk, and wrapping around 2^64. */
	assert_int_equal(t_fe_io(&fe, 0, PVK_BLKIF_OP_READ, fe.sectors - 1, buf,
				 2, 0),
			 PVK_BLKIF_RSP_ERROR);
	assert_int_equal(t_fe_io(&fe, 0, PVK_BLKIF_OP_WRITE, fe.sectors, buf, 1,
				 0),
			 PVK_BLKIF_RSP_ERROR);
	r = t_rw(&fe, PVK_BLKIF_OP_READ, UINT64_MAX - 3, 1);
	assert_int_equal(t_fe_raw(&fe, 0, &r), PVK_BLKIF_RSP_ERROR);
	/* Bad segments. */
	r = t_rw(&fe, PVK_BLKIF_OP_READ, 0, 2);
	r.rw.seg[1].first_sect = 5;
	r.rw.seg[1].last_sect = 2;
	assert_int_equal(t_fe_raw(&fe, 0, &r), PVK_BLKIF_RSP_ERROR);
	r = t_rw(&fe, PVK_BLKIF_OP_WRITE, 0, 1);
	r.rw.seg[0].last_sect = 8;
	assert_int_equal(t_fe_raw(&fe, 0, &r), PVK_BLKIF_RSP_ERROR);
	r = t_rw(&fe, PVK_BLKIF_OP_READ, 0, 0);
	assert_int_equal(t_fe_raw(&fe, 0, &r), PVK_BLKIF_RSP_ERROR);
	r = t_rw(&fe, PVK_BLKIF_OP_READ, 0, 12);
	assert_int_equal(t_fe_raw(&fe, 0, &r), PVK_BLKIF_RSP_ERROR);
	/* A grant that does not exist, and one of the ring itself used
	 * read-write by a READ: only the bad one fails. */
	r = t_rw(&fe, PVK_BLKIF_OP_READ, 0, 2);
	r.rw.seg[1].gref = 0xdeadbeef;
	assert_int_equal(t_fe_raw(&fe, 0, &r), PVK_BLKIF_RSP_ERROR);
	/* Unknown operation. */
	r = t_rw(&fe, 99, 0, 1);
	assert_int_equal(t_fe_raw(&fe, 0, &r), PVK_BLKIF_RSP_EOPNOTSUPP);
	/* Indirect: too many segments, a bad indirect gref, a bad segment
	 * inside the indirect page, a bad indirect_op. */
	memset(&r, 0, sizeof(r));
	r.indirect.operation = PVK_BLKIF_OP_INDIRECT;
	r.indirect.indirect_op = PVK_BLKIF_OP_READ;
	r.indirect.id = 0x1234;
	r.indirect.nr_segments = 257;
	r.indirect.indirect_grefs[0] = fe.ind_refs[0];
	assert_int_equal(t_fe_raw(&fe, 0, &r), PVK_BLKIF_RSP_ERROR);
	r.indirect.nr_segments = 20;
	r.indirect.indirect_grefs[0] = 0xfffffff0u;
	assert_int_equal(t_fe_raw(&fe, 0, &r), PVK_BLKIF_RSP_ERROR);
	{
		struct pvk_blkif_request_segment *s = (void *)fe.ind;

		for (int i = 0; i < 20; i++)
			s[i] = (struct pvk_blkif_request_segment){
				fe.pool_refs[i], 0, 7
			};
		s[13].first_sect = 7;
		s[13].last_sect = 3;
	}
	r.indirect.indirect_grefs[0] = fe.ind_refs[0];
	assert_int_equal(t_fe_raw(&fe, 0, &r), PVK_BLKIF_RSP_ERROR);
	r.indirect.indirect_op = PVK_BLKIF_OP_FLUSH_DISKCACHE;
	assert_int_equal(t_fe_raw(&fe, 0, &r), PVK_BLKIF_RSP_ERROR);
	/* Discard beyond the end, and secure discard (not offered). */
	assert_int_equal(t_fe_discard(&fe, 0, fe.sectors - 8, 16, 0),
			 PVK_BLKIF_RSP_ERROR);
	assert_int_equal(t_fe_discard(&fe, 0, 0, 8, PVK_BLKIF_DISCARD_SECURE),
			 PVK_BLKIF_RSP_EOPNOTSUPP);

	errors = t_counter(&e, "1/51712", "errors");
	assert_int_equal(errors, 13);
	assert_int_equal(t_counter(&e, "1/51712", "broken"), 0);
	/* Still serving. */
	t_fill(buf, sizeof(buf), &seed);
	assert_int_equal(t_fe_io(&fe, 0, PVK_BLKIF_OP_WRITE, 100, buf, 16, 3),
			 PVK_BLKIF_RSP_OKAY);
	assert_int_equal(t_fe_io(&fe, 0, PVK_BLKIF_OP_READ, 100, back, 16, 0),
			 PVK_BLKIF_RSP_OKAY);
	assert_memory_equal(buf, back, sizeof(buf));
	t_fe_close(&fe);
	t_env_down(&e);
}

/*
 * One guest writes garbage into its ring: its device is latched broken,
 * the backend survives, and another guest's disk is neither stopped nor
 * touched.
 */
static void test_hostile_ring(void **state)
{
	struct t_fe_cfg fc = { .ring_order = 1,
			       .nr_queues = 2,
			       .indirect = true,
			       .persistent = true };
	struct t_fe bad, good;
	uint8_t buf[4096], back[4096];
	uint64_t seed = 42;
	struct t_env e;
	int i, err;

	t_env_up(&e, NULL, 2);
	t_attach_open(&e, 0, &bad, &fc, false);
	t_attach_open(&e, 1, &good, &fc, false);
	t_fill(buf, sizeof(buf), &seed);
	assert_int_equal(t_fe_io(&good, 1, PVK_BLKIF_OP_WRITE, 64, buf, 8, 0),
			 PVK_BLKIF_RSP_OKAY);

	/* A ring full of random slots with a valid index first: every one
	 * answered (error or not), nothing crashes. */
	for (i = 0; i < 200; i++) {
		union pvk_blkif_any_request r;
		uint8_t *p = (uint8_t *)&r;

		for (size_t k = 0; k < sizeof(r); k++)
			p[k] = (uint8_t)t_rand(&seed);
		/* Keep the data pages away from our own disk contents:
		 * random grefs mostly fail to map, which is the point. */
		r.rw.id = 0x1234;
		err = t_fe_raw(&bad, i & 1, &r);
		assert_true(err == PVK_BLKIF_RSP_OKAY ||
			    err == PVK_BLKIF_RSP_ERROR ||
			    err == PVK_BLKIF_RSP_EOPNOTSUPP);
	}
	/* Then an impossible producer index. */
	t_fe_scribble(&bad, 0, 1234);
	for (i = 0; i < 2000 && t_counter(&e, "1/51712", "broken") != 1; i++)
		usleep(1000);
	assert_int_equal(t_counter(&e, "1/51712", "broken"), 1);
	/* Its kicks no longer wake the backend: a frontend that notifies
	 * in a loop costs nothing (at most one wake-up already under way
	 * when the ring broke). */
	{
		long ev0 = t_counter(&e, "1/51712", "events");

		for (i = 0; i < 1000; i++) {
			pvk_evtchn_notify(bad.q[0].ev, (uint32_t)bad.q[0].port);
			pvk_evtchn_notify(bad.q[1].ev, (uint32_t)bad.q[1].port);
			usleep(50);
		}
		assert_true(t_counter(&e, "1/51712", "events") <= ev0 + 2);
	}

	/* The other guest is served, its data intact. */
	assert_int_equal(t_fe_io(&good, 0, PVK_BLKIF_OP_READ, 64, back, 8, 0),
			 PVK_BLKIF_RSP_OKAY);
	assert_memory_equal(buf, back, sizeof(buf));
	assert_int_equal(t_counter(&e, "2/51712", "broken"), 0);
	/* The broken device can still be closed and reconnected. */
	t_fe_close(&good);
	t_fe_drop_rings(&bad);
	t_env_down(&e);
}

/* Flush, barrier, discard. */
static void test_flush_barrier_discard(void **state)
{
	struct t_fe_cfg fc = { .nr_queues = 1, .indirect = true };
	uint8_t buf[65536], back[65536], zero[65536] = { 0 };
	struct t_fe_io ios[8];
	uint64_t seed = 3;
	struct stat st0, st1;
	struct t_env e;
	struct t_fe fe;
	int i;

	t_env_up(&e, NULL, 1);
	t_attach_open(&e, 0, &fe, &fc, false);
	assert_true(fe.flush && fe.barrier);
	t_fill(buf, sizeof(buf), &seed);
	assert_int_equal(t_fe_io(&fe, 0, PVK_BLKIF_OP_FLUSH_DISKCACHE, 0, buf,
				 0, 0),
			 PVK_BLKIF_RSP_OKAY);
	assert_int_equal(t_fe_io(&fe, 0, PVK_BLKIF_OP_FLUSH_DISKCACHE, 256, buf,
				 88, 0),
			 PVK_BLKIF_RSP_OKAY);
	assert_int_equal(t_fe_io(&fe, 0, PVK_BLKIF_OP_READ, 256, back, 88, 0),
			 PVK_BLKIF_RSP_OKAY);
	assert_memory_equal(buf, back, 88 * 512);
	/* A barrier among writes: all answered OK. */
	for (i = 0; i < 8; i++)
		ios[i] = (struct t_fe_io){
			.op = i == 4 ? PVK_BLKIF_OP_WRITE_BARRIER :
				       PVK_BLKIF_OP_WRITE,
			.sector = 1024 + (uint64_t)i * 16,
			.buf = buf + i * 8192,
			.nsect = 16,
		};
	assert_int_equal(t_fe_batch(&fe, 0, ios, 8), 0);
	for (i = 0; i < 8; i++)
		assert_int_equal(ios[i].status, PVK_BLKIF_RSP_OKAY);
	assert_int_equal(t_fe_io(&fe, 0, PVK_BLKIF_OP_READ, 1024, back, 128, 0),
			 PVK_BLKIF_RSP_OKAY);
	assert_memory_equal(buf, back, sizeof(buf));
	/* Discard punches a hole: zeros read back, blocks released. */
	if (fe.discard) {
		int fd = open(e.img[0], O_RDONLY);

		fstat(fd, &st0);
		assert_int_equal(t_fe_discard(&fe, 0, 1024, 128, 0),
				 PVK_BLKIF_RSP_OKAY);
		fstat(fd, &st1);
		close(fd);
		assert_true(st1.st_blocks < st0.st_blocks);
		assert_int_equal(t_fe_io(&fe, 0, PVK_BLKIF_OP_READ, 1024, back,
					 128, 0),
				 PVK_BLKIF_RSP_OKAY);
		assert_memory_equal(back, zero, sizeof(zero));
	}
	assert_true(t_counter(&e, "1/51712", "flushes") >= 2);
	assert_int_equal(t_counter(&e, "1/51712", "barriers"), 1);
	t_fe_close(&fe);
	t_env_down(&e);
}

/*
 * A backend that comes back (after a crash: no clean shutdown) finds the
 * device connected by its previous instance: it asks the frontend to
 * reconnect, and data written before is there.
 */
static void test_restart_picks_up(void **state)
{
	struct t_fe_cfg fc = { .ring_order = 2,
			       .nr_queues = 2,
			       .persistent = true,
			       .indirect = true };
	uint8_t buf[8192], back[8192];
	uint64_t seed = 11;
	struct t_env e;
	struct t_fe fe;

	t_env_up(&e, NULL, 1);
	t_attach_open(&e, 0, &fe, &fc, false);
	t_fill(buf, sizeof(buf), &seed);
	assert_int_equal(t_fe_io(&fe, 1, PVK_BLKIF_OP_WRITE, 8, buf, 16, 0),
			 PVK_BLKIF_RSP_OKAY);

	t_backend_pause(&e);
	pvk_blkback_destroy(e.bb); /* no xenstore writes: like a crash */
	e.bb = NULL;
	t_backend_start(&e);
	assert_int_equal(t_wait_node(e.tool,
				     "/local/domain/0/backend/vbd/1/"
				     "51712/state",
				     PVK_XENBUS_CLOSING, 10000),
			 0);
	assert_int_equal(t_fe_reconnect(&fe), 0);
	assert_int_equal(fe.connects, 2);
	assert_int_equal(t_fe_io(&fe, 0, PVK_BLKIF_OP_READ, 8, back, 16, 0),
			 PVK_BLKIF_RSP_OKAY);
	assert_memory_equal(buf, back, sizeof(buf));

	/* A clean shutdown closes the device; a new instance serves it. */
	t_backend_pause(&e);
	pvk_blkback_shutdown(e.bb, 0);
	assert_int_equal(t_fe_backend_state(&fe), PVK_XENBUS_CLOSING);
	pvk_blkback_destroy(e.bb);
	e.bb = NULL;
	t_backend_start(&e);
	assert_int_equal(t_fe_reconnect(&fe), 0);
	assert_int_equal(t_fe_io(&fe, 1, PVK_BLKIF_OP_READ, 8, back, 16, 0),
			 PVK_BLKIF_RSP_OKAY);
	assert_memory_equal(buf, back, sizeof(buf));
	t_fe_close(&fe);
	t_env_down(&e);
}

/* Detach as libxl does it: online=0, our state Closing; the backend
 * closes with the frontend, and drops the device. */
static void test_detach(void **state)
{
	const char *be = "/local/domain/0/backend/vbd/1/51712";
	struct t_fe_cfg fc = { .nr_queues = 1 };
	char p[128];
	struct t_env e;
	struct t_fe fe;
	int i;

	t_env_up(&e, NULL, 1);
	t_attach_open(&e, 0, &fe, &fc, false);
	snprintf(p, sizeof(p), "%s/online", be);
	assert_int_equal(pvk_xs_write(e.tool, 0, p, "0"), 0);
	snprintf(p, sizeof(p), "%s/state", be);
	assert_int_equal(pvk_xs_write(e.tool, 0, p, "5"), 0);
	/* The frontend follows: Closing, Closed. */
	t_fe_close(&fe);
	assert_int_equal(t_wait_node(e.tool, p, PVK_XENBUS_CLOSED, 10000), 0);
	for (i = 0; i < 2000; i++) {
		int n;

		pthread_mutex_lock(&e.lock);
		n = pvk_blkback_count(e.bb, NULL);
		pthread_mutex_unlock(&e.lock);
		if (!n)
			break;
		usleep(1000);
	}
	assert_true(i < 2000);
	t_env_down(&e);
}

/* The frontend's domain dies: the backend lets go and removes the
 * backend directory, as libxl would. */
static void test_frontend_gone(void **state)
{
	struct t_fe_cfg fc = { .nr_queues = 2 };
	char *v;
	struct t_env e;
	struct t_fe fe;
	int i, err = 0;

	t_env_up(&e, NULL, 1);
	t_attach_open(&e, 0, &fe, &fc, false);
	for (i = 0; i < T_FE_MAX_QUEUES; i++)
		pvk_evtchn_close(fe.q[i].ev);
	pvk_hv_close(e.hvu[0]);
	e.hvu[0] = NULL;
	assert_int_equal(pvk_loop_domain_destroy(e.loop, e.dom[0]), 0);
	for (i = 0; i < 2000; i++) {
		err = pvk_xs_read(e.tool, 0,
				  "/local/domain/0/backend/vbd/1/"
				  "51712",
				  &v);
		if (err == -ENOENT)
			break;
		free(v);
		usleep(1000);
	}
	assert_int_equal(err, -ENOENT);
	t_env_down(&e);
}

/*
 * A frontend publishing garbage in xenstore (ring refs, event channel,
 * ring order, queue count, protocol): each attempt is refused with the
 * backend going Closing, and a correct connection afterwards works.
 */
static void test_hostile_xenstore(void **state)
{
	static const char *const cases[][2] = {
		{ "ring-page-order", "99" },
		{ "ring-page-order", "-1" },
		{ "ring-ref", "banana" },
		{ "ring-ref", "4294967296" },
		{ "ring-ref", "7" }, /* a grant that does not exist */
		{ "event-channel", "4000" }, /* not an unbound port of ours */
		{ "multi-queue-num-queues", "1000" },
		{ "multi-queue-num-queues", "0" },
		{ "protocol", "x86_32-abi" },
		{ "feature-persistent", "yes" },
	};
	const char *fp = "/local/domain/1/device/vbd/51712";
	const char *bs = "/local/domain/0/backend/vbd/1/51712/state";
	struct t_fe_cfg fc = { .nr_queues = 1 };
	struct pvk_evtchn *ev;
	uint32_t refs[1];
	void *page;
	char p[128], v[32];
	struct t_env e;
	struct t_fe fe;
	size_t i;
	int port;

	t_env_up(&e, NULL, 1);
	assert_int_equal(
		t_attach(e.tool, 0, e.dom[0], T_DEVID, e.img[0], false), 0);
	/* A real ring and port, so that only the named node is wrong. */
	assert_int_equal(pvk_hv_grant_alloc(e.hvu[0], 0, 1, true, refs, &page),
			 0);
	assert_int_equal(pvk_evtchn_open(e.hvu[0], &ev), 0);
	port = pvk_evtchn_alloc_unbound(ev, 0);
	assert_true(port >= 0);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(
			t_wait_node(e.tool, bs, PVK_XENBUS_INITWAIT, 10000), 0);
		snprintf(p, sizeof(p), "%s/ring-ref", fp);
		snprintf(v, sizeof(v), "%u", refs[0]);
		assert_int_equal(pvk_xs_write(e.hvu[0], 0, p, v), 0);
		snprintf(p, sizeof(p), "%s/event-channel", fp);
		snprintf(v, sizeof(v), "%d", port);
		assert_int_equal(pvk_xs_write(e.hvu[0], 0, p, v), 0);
		snprintf(p, sizeof(p), "%s/%s", fp, cases[i][0]);
		assert_int_equal(pvk_xs_write(e.hvu[0], 0, p, cases[i][1]), 0);
		snprintf(p, sizeof(p), "%s/state", fp);
		assert_int_equal(pvk_xs_write(e.hvu[0], 0, p, "3"), 0);
		assert_int_equal(
			t_wait_node(e.tool, bs, PVK_XENBUS_CLOSING, 10000), 0);
		/* Clean up as a frontend would, and go again. */
		snprintf(p, sizeof(p), "%s/%s", fp, cases[i][0]);
		pvk_xs_rm(e.hvu[0], 0, p);
		snprintf(p, sizeof(p), "%s/state", fp);
		assert_int_equal(pvk_xs_write(e.hvu[0], 0, p, "6"), 0);
	}
	assert_int_equal(t_counter(&e, "1/51712", "broken"), 0);
	pvk_evtchn_close(ev);
	pvk_hv_grant_free(e.hvu[0], page, 1);
	/* Now a correct frontend. */
	assert_int_equal(t_fe_open(&fe, e.hvu[0], T_DEVID, &fc), 0);
	t_integrity(&e, &fe, 17, 10);
	t_fe_close(&fe);
	t_env_down(&e);
}

/*
 * Many random requests with a valid producer index, including indirect
 * ones whose segment page is random: every one is answered, nothing else
 * happens (run it under ASan/UBSan and valgrind).
 */
static void test_random_requests(void **state)
{
	struct t_fe_cfg fc = { .ring_order = 0,
			       .nr_queues = 1,
			       .indirect = true,
			       .persistent = true };
	uint64_t seed = 2024;
	struct t_env e;
	struct t_fe fe;
	int i, err, answered = 0;

	t_env_up(&e, NULL, 1);
	t_attach_open(&e, 0, &fe, &fc, false);
	for (i = 0; i < 3000; i++) {
		union pvk_blkif_any_request r;
		uint8_t *p = (uint8_t *)&r;
		size_t k;

		for (k = 0; k < sizeof(r); k++)
			p[k] = (uint8_t)t_rand(&seed);
		/* Bias towards what gets past the first checks. */
		switch (i % 4) {
		case 0:
			r.hdr.operation = PVK_BLKIF_OP_INDIRECT;
			r.indirect.indirect_op = t_rand(&seed) & 1;
			r.indirect.nr_segments = 1 + t_rand(&seed) % 256;
			r.indirect.indirect_grefs[0] = fe.ind_refs[0];
			t_fill(fe.ind, PVK_PAGE_SIZE, &seed);
			break;
		case 1:
			r.rw.operation = t_rand(&seed) % 7;
			r.rw.nr_segments = t_rand(&seed) % 12;
			for (k = 0; k < 11; k++)
				r.rw.seg[k].gref =
					fe.pool_refs[t_rand(&seed) % 256];
			r.rw.sector_number %= fe.sectors + 16;
			break;
		default:
			break;
		}
		r.rw.id = 0x1234;
		err = t_fe_raw(&fe, 0, &r);
		assert_true(err == PVK_BLKIF_RSP_OKAY ||
			    err == PVK_BLKIF_RSP_ERROR ||
			    err == PVK_BLKIF_RSP_EOPNOTSUPP);
		answered++;
	}
	assert_int_equal(answered, 3000);
	assert_int_equal(t_counter(&e, "1/51712", "broken"), 0);
	t_fe_close(&fe);
	t_env_down(&e);
}

/* Read backend node @name of the device of guest 1 as a number. */
static long t_be_node(struct t_env *e, const char *name)
{
	char p[160];
	unsigned long v;

	snprintf(p, sizeof(p), "/local/domain/0/backend/vbd/1/51712/%s", name);
	return pvk_xs_read_uint(e->tool, 0, p, &v) < 0 ? -1 : (long)v;
}

/* The backend's sectors node as it read when it wrote Connected. */
static long t_sectors_at_connect;

/* Wait until the backend of guest 1 leaves InitWait for Connected or
 * Closing; returns that state or -ETIMEDOUT. */
static int t_wait_be_outcome(struct t_env *e)
{
	int i;
	long st;

	for (i = 0; i < 10000; i++) {
		st = t_be_node(e, "state");
		if (st == PVK_XENBUS_CONNECTED)
			t_sectors_at_connect = t_be_node(e, "sectors");
		if (st == PVK_XENBUS_CONNECTED || st == PVK_XENBUS_CLOSING)
			return (int)st;
		usleep(1000);
	}
	return -ETIMEDOUT;
}

/*
 * A frontend that connects by hand: a ring of 2^@order pages and an
 * two unbound ports, then the nodes of @nodes ("name=value", where the
 * value "@0".."@15" stands for the grant ref of that ring page and
 * "@port", "@port1" for the ports), then Initialised.  (Two queues may
 * share the ring pages: the backend cannot tell.)  Returns the backend's answer: Connected
 * or Closing.  Afterwards the frontend closes and the backend is back in
 * InitWait.
 */
static int t_manual_connect(struct t_env *e, uint32_t order,
			    const char *const *nodes)
{
	const char *fp = "/local/domain/1/device/vbd/51712";
	uint32_t refs[16], pages = 1u << order;
	struct pvk_evtchn *ev, *ev1;
	char p[160], v[32];
	void *ring;
	int port, port1, st, i;

	assert_int_equal(
		t_wait_node(e->tool,
			    "/local/domain/0/backend/vbd/1/51712/state",
			    PVK_XENBUS_INITWAIT, 10000),
		0);
	assert_int_equal(
		pvk_hv_grant_alloc(e->hvu[0], 0, pages, true, refs, &ring), 0);
	assert_int_equal(pvk_evtchn_open(e->hvu[0], &ev), 0);
	port = pvk_evtchn_alloc_unbound(ev, 0);
	assert_true(port >= 0);
	assert_int_equal(pvk_evtchn_open(e->hvu[0], &ev1), 0);
	port1 = pvk_evtchn_alloc_unbound(ev1, 0);
	assert_true(port1 >= 0);
	for (i = 0; nodes[i]; i++) {
		const char *eq = strchr(nodes[i], '=');

		assert_non_null(eq);
		snprintf(p, sizeof(p), "%s/%.*s", fp, (int)(eq - nodes[i]),
			 nodes[i]);
		if (!strcmp(eq + 1, "@port"))
			snprintf(v, sizeof(v), "%d", port);
		else if (!strcmp(eq + 1, "@port1"))
			snprintf(v, sizeof(v), "%d", port1);
		else if (eq[1] == '@')
			snprintf(v, sizeof(v), "%u", refs[atoi(eq + 2)]);
		else
			snprintf(v, sizeof(v), "%s", eq + 1);
		assert_int_equal(pvk_xs_write(e->hvu[0], 0, p, v), 0);
	}
	snprintf(p, sizeof(p), "%s/state", fp);
	assert_int_equal(pvk_xs_write(e->hvu[0], 0, p, "3"), 0);
	st = t_wait_be_outcome(e);
	/* Close as a frontend does, and take our nodes away again. */
	assert_int_equal(pvk_xs_write(e->hvu[0], 0, p, "6"), 0);
	assert_int_equal(
		t_wait_node(e->tool,
			    "/local/domain/0/backend/vbd/1/51712/state",
			    PVK_XENBUS_INITWAIT, 10000),
		0);
	for (i = 0; nodes[i]; i++) {
		const char *eq = strchr(nodes[i], '=');

		snprintf(p, sizeof(p), "%s/%.*s", fp, (int)(eq - nodes[i]),
			 nodes[i]);
		pvk_xs_rm(e->hvu[0], 0, p);
	}
	pvk_evtchn_close(ev);
	pvk_evtchn_close(ev1);
	pvk_hv_grant_free(e->hvu[0], ring, pages);
	return st;
}

/*
 * The node spellings stock frontends use, read as Linux's blkback reads
 * them: ring-page-order present (even 0) means ring-ref0..N-1; the
 * deprecated num-ring-pages; protocol missing or empty means native; a
 * 32-bit frontend is refused with a message saying why.
 */
static void test_connect_spellings(void **state)
{
	static const char *const order0[] = { "ring-page-order=0",
					      "ring-ref0=@0",
					      "event-channel=@port", NULL };
	static const char *const order1[] = {
		"ring-page-order=1",   "ring-ref0=@0",	      "ring-ref1=@1",
		"event-channel=@port", "protocol=x86_64-abi", NULL
	};
	static const char *const numpages[] = { "num-ring-pages=2",
						"ring-ref0=@0", "ring-ref1=@1",
						"event-channel=@port", NULL };
	static const char *const noproto[] = { "ring-ref=@0",
					       "event-channel=@port", NULL };
	static const char *const emptyproto[] = { "ring-ref=@0",
						  "event-channel=@port",
						  "protocol=", NULL };
	static const char *const abi32[] = { "ring-ref=@0",
					     "event-channel=@port",
					     "protocol=x86_32-abi", NULL };
	static const char *const numbad[] = { "num-ring-pages=3",
					      "ring-ref0=@0", "ring-ref1=@1",
					      "event-channel=@port", NULL };
	struct t_env e;

	t_env_up(&e, NULL, 1);
	assert_int_equal(
		t_attach(e.tool, 0, e.dom[0], T_DEVID, e.img[0], false), 0);
	assert_int_equal(t_manual_connect(&e, 0, order0), PVK_XENBUS_CONNECTED);
	assert_int_equal(t_manual_connect(&e, 1, order1), PVK_XENBUS_CONNECTED);
	assert_int_equal(t_be_node(&e, "max-ring-pages"),
			 1 << PVK_BLKBACK_DEF_RING_ORDER);
	assert_int_equal(t_manual_connect(&e, 1, numpages),
			 PVK_XENBUS_CONNECTED);
	assert_int_equal(t_manual_connect(&e, 0, noproto),
			 PVK_XENBUS_CONNECTED);
	assert_int_equal(t_manual_connect(&e, 0, emptyproto),
			 PVK_XENBUS_CONNECTED);
	assert_int_equal(t_manual_connect(&e, 0, abi32), PVK_XENBUS_CLOSING);
	assert_true(t_logged("x86_32-abi"));
	assert_true(t_logged("64-bit"));
	assert_int_equal(t_manual_connect(&e, 1, numbad), PVK_XENBUS_CLOSING);
	assert_true(t_logged("num-ring-pages"));
	t_env_down(&e);
}

/*
 * sectors, info and sector-size are rewritten at connect, as Linux's
 * blkback connect() does: an image that grew between probe and the
 * frontend's connection is announced at its new size.  And the
 * toolstack's discard-enable = 0 withdraws discard.
 */
static void test_connect_rewrites_size(void **state)
{
	static const char *const nodes[] = { "ring-ref=@0",
					     "event-channel=@port", NULL };
	char p[160];
	struct t_env e;
	int fd;

	t_env_up(&e, NULL, 1);
	assert_int_equal(
		t_attach(e.tool, 0, e.dom[0], T_DEVID, e.img[0], false), 0);
	assert_int_equal(
		t_wait_node(e.tool, "/local/domain/0/backend/vbd/1/51712/state",
			    PVK_XENBUS_INITWAIT, 10000),
		0);
	assert_int_equal(t_be_node(&e, "sectors"), T_DISK_BYTES / 512);
	assert_int_equal(t_be_node(&e, "feature-discard"), 1);
	fd = open(e.img[0], O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 2 * T_DISK_BYTES), 0);
	close(fd);
	assert_int_equal(t_manual_connect(&e, 0, nodes), PVK_XENBUS_CONNECTED);
	assert_int_equal(t_sectors_at_connect, 2 * T_DISK_BYTES / 512);
	assert_int_equal(t_be_node(&e, "sector-size"), 512);
	assert_int_equal(t_be_node(&e, "info"), 0);
	t_env_down(&e);

	/* discard-enable = 0 from the toolstack, before the backend looks. */
	t_env_up(&e, NULL, 1);
	snprintf(p, sizeof(p), "/local/domain/0/backend/vbd/1/51712");
	assert_int_equal(pvk_xs_mkdir(e.tool, 0, p), 0);
	snprintf(p, sizeof(p),
		 "/local/domain/0/backend/vbd/1/51712/discard-enable");
	assert_int_equal(pvk_xs_write(e.tool, 0, p, "0"), 0);
	assert_int_equal(
		t_attach(e.tool, 0, e.dom[0], T_DEVID, e.img[0], false), 0);
	assert_int_equal(
		t_wait_node(e.tool, "/local/domain/0/backend/vbd/1/51712/state",
			    PVK_XENBUS_INITWAIT, 10000),
		0);
	assert_int_equal(t_be_node(&e, "feature-discard"), 0);
	assert_int_equal(t_manual_connect(&e, 0, nodes), PVK_XENBUS_CONNECTED);
	assert_int_equal(t_be_node(&e, "feature-discard"), 0);
	t_env_down(&e);
}

/* The histogram's buckets tile the microseconds without gap or overlap,
 * each at most 25% wide, and the stats text gives unit and percentiles
 * per kind of request. */
static void test_stats_histogram(void **state)
{
	struct t_fe_cfg fc = { .nr_queues = 1 };
	uint8_t buf[4096] = { 0 };
	uint64_t us;
	unsigned int b;
	struct t_env e;
	struct t_fe fe;
	char *s, *p;
	int i;

	for (us = 0; us < (1ull << 26); us = us < 4096 ? us + 1 : us * 9 / 8) {
		b = bb_hist_bucket(us);
		assert_true(b < BB_HIST_BUCKETS);
		if (b == BB_HIST_BUCKETS - 1)
			break;
		assert_true(bb_hist_lo(b) <= us && us < bb_hist_lo(b + 1));
		assert_true((bb_hist_lo(b + 1) - bb_hist_lo(b)) * 4 <=
			    (bb_hist_lo(b) > 4 ? bb_hist_lo(b) : 4));
	}
	assert_int_equal(bb_hist_bucket(UINT64_MAX), BB_HIST_BUCKETS - 1);

	t_env_up(&e, NULL, 1);
	t_attach_open(&e, 0, &fe, &fc, false);
	for (i = 0; i < 20; i++)
		assert_int_equal(t_fe_io(&fe, 0, PVK_BLKIF_OP_WRITE, 8, buf, 8,
					 0),
				 PVK_BLKIF_RSP_OKAY);
	assert_int_equal(t_fe_io(&fe, 0, PVK_BLKIF_OP_READ, 8, buf, 8, 0),
			 PVK_BLKIF_RSP_OKAY);
	t_stats(&e, &s);
	p = strstr(s, "latency write unit=us count=20 p50<=");
	assert_non_null(p);
	assert_non_null(strstr(p, " p99.9<="));
	assert_non_null(strstr(s, "latency read unit=us count=1 p50<="));
	assert_null(strstr(s, "latency flush"));
	free(s);
	t_fe_close(&fe);
	t_env_down(&e);
}

/*
 * Responses name the operation a stock frontend expects: an indirect
 * request's response carries its indirect_op (READ or WRITE), as Linux's
 * blkback answers and Linux's blkfront (5.16 and later) insists, else it
 * disables the disk.
 */
static void test_indirect_response_op(void **state)
{
	struct t_fe_cfg fc = { .nr_queues = 1, .indirect = true };
	struct pvk_blkif_request_segment *sg;
	union pvk_blkif_any_request r;
	struct pvk_blkif_response rsp;
	struct t_env e;
	struct t_fe fe;
	uint8_t op;
	int i;

	t_env_up(&e, NULL, 1);
	t_attach_open(&e, 0, &fe, &fc, false);
	sg = (void *)fe.ind;
	for (i = 0; i < 16; i++)
		sg[i] = (struct pvk_blkif_request_segment){ fe.pool_refs[i], 0,
							    7 };
	for (op = PVK_BLKIF_OP_READ; op <= PVK_BLKIF_OP_WRITE; op++) {
		memset(&r, 0, sizeof(r));
		r.indirect.operation = PVK_BLKIF_OP_INDIRECT;
		r.indirect.indirect_op = op;
		r.indirect.nr_segments = 16;
		r.indirect.id = 0x77;
		r.indirect.sector_number = 64;
		r.indirect.indirect_grefs[0] = fe.ind_refs[0];
		assert_int_equal(pvk_blkif_put_any_request(&fe.q[0].ring, &r),
				 0);
		if (pvk_ring_push(&fe.q[0].ring))
			pvk_evtchn_notify(fe.q[0].ev, (uint32_t)fe.q[0].port);
		assert_int_equal(t_fe_wait_rsp(&fe, 0, &rsp, 10000), 0);
		assert_int_equal(rsp.id, 0x77);
		assert_int_equal(rsp.status, PVK_BLKIF_RSP_OKAY);
		assert_int_equal(rsp.operation, op);
	}
	t_fe_close(&fe);
	t_env_down(&e);
}

/*
 * A barrier orders both ways: the requests before it are on the disk
 * before it is written, and those after it start only once it is
 * complete -- so a read queued right behind a barrier to the same
 * sectors returns the barrier's data, every time.
 */
static void test_barrier_orders(void **state)
{
	struct t_fe_cfg fc = { .nr_queues = 1 };
	static uint8_t old[44 * 512], bar[44 * 512], back[44 * 512];
	struct t_fe_io ios[3];
	uint64_t seed = 5;
	struct t_env e;
	struct t_fe fe;
	int round;

	t_env_up(&e, NULL, 1);
	t_attach_open(&e, 0, &fe, &fc, false);
	for (round = 0; round < 40; round++) {
		uint64_t sec = 64 + (uint64_t)(round % 8) * 64;

		t_fill(old, sizeof(old), &seed);
		t_fill(bar, sizeof(bar), &seed);
		memset(back, 0, sizeof(back));
		ios[0] =
			(struct t_fe_io){ PVK_BLKIF_OP_WRITE, sec, old, 44, 0 };
		ios[1] = (struct t_fe_io){ PVK_BLKIF_OP_WRITE_BARRIER, sec, bar,
					   44, 0 };
		ios[2] =
			(struct t_fe_io){ PVK_BLKIF_OP_READ, sec, back, 44, 0 };
		assert_int_equal(t_fe_batch(&fe, 0, ios, 3), 0);
		assert_int_equal(ios[0].status, PVK_BLKIF_RSP_OKAY);
		assert_int_equal(ios[1].status, PVK_BLKIF_RSP_OKAY);
		assert_int_equal(ios[2].status, PVK_BLKIF_RSP_OKAY);
		assert_memory_equal(back, bar, sizeof(bar));
	}
	assert_int_equal(t_counter(&e, "1/51712", "barriers"), 40);
	t_fe_close(&fe);
	t_env_down(&e);
}

static int t_count_fds(void)
{
	char p[64];
	int fd, n = 0;

	for (fd = 0; fd < 4096; fd++) {
		snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
		n += access(p, F_OK) == 0;
	}
	return n;
}

/*
 * A frontend that flaps its state (Initialised, Closed, Connected,
 * Closing, garbage...) as fast as it can write, and rewrites its ring-ref
 * and event-channel after connecting: the backend neither leaks (file
 * descriptors: rings, event channels, io_uring instances, threads' fds)
 * nor gets stuck; the disk works afterwards, and the other guest's disk
 * throughout.
 */
static void test_state_flapping(void **state)
{
	static const char *const states[] = { "6", "3",	 "5", "4",	"1",
					      "3", "99", "3", "banana", "2",
					      "3", "6",	 "3", "" };
	const char *fp = "/local/domain/1/device/vbd/51712";
	struct t_fe_cfg fc = { .nr_queues = 2, .ring_order = 1 };
	uint8_t buf[4096], back[4096];
	uint64_t seed = 77;
	struct t_fe fe, other;
	struct t_env e;
	char p[128];
	int fds0, fds1, i;

	t_env_up(&e, NULL, 2);
	t_attach_open(&e, 0, &fe, &fc, false);
	t_attach_open(&e, 1, &other, &fc, false);
	t_fill(buf, sizeof(buf), &seed);
	assert_int_equal(t_fe_io(&other, 1, PVK_BLKIF_OP_WRITE, 8, buf, 8, 0),
			 PVK_BLKIF_RSP_OKAY);
	fds0 = t_count_fds();

	/* Rewritten after connect: not looked at until a new connection. */
	snprintf(p, sizeof(p), "%s/queue-0/ring-ref0", fp);
	assert_int_equal(pvk_xs_write(e.hvu[0], 0, p, "banana"), 0);
	snprintf(p, sizeof(p), "%s/queue-1/event-channel", fp);
	assert_int_equal(pvk_xs_write(e.hvu[0], 0, p, "4000"), 0);
	assert_int_equal(t_fe_io(&fe, 0, PVK_BLKIF_OP_WRITE, 16, buf, 8, 0),
			 PVK_BLKIF_RSP_OKAY);

	snprintf(p, sizeof(p), "%s/state", fp);
	for (i = 0; i < 60 * (int)(sizeof(states) / sizeof(states[0])); i++)
		pvk_xs_write(e.hvu[0], 0, p,
			     states[i % (sizeof(states) / sizeof(states[0]))]);
	/* The other guest is served meanwhile. */
	assert_int_equal(t_fe_io(&other, 1, PVK_BLKIF_OP_READ, 8, back, 8, 0),
			 PVK_BLKIF_RSP_OKAY);
	assert_memory_equal(buf, back, sizeof(buf));

	/* Then an honest reconnection (fresh nodes) works. */
	assert_int_equal(pvk_xs_write(e.hvu[0], 0, p, "6"), 0);
	assert_int_equal(t_fe_reconnect(&fe), 0);
	assert_int_equal(t_fe_io(&fe, 1, PVK_BLKIF_OP_READ, 16, back, 8, 0),
			 PVK_BLKIF_RSP_OKAY);
	assert_memory_equal(buf, back, sizeof(buf));
	fds1 = t_count_fds();
	assert_int_equal(fds1, fds0);
	assert_int_equal(t_counter(&e, "1/51712", "broken"), 0);
	t_fe_close(&other);
	t_fe_close(&fe);
	t_env_down(&e);
}

/*
 * Handover for a restart: requests in flight when the backend stops are
 * answered, the device stays Connected, a request the frontend queues
 * while no backend runs is served by the next instance, which resumes the
 * same rings -- the frontend never reconnects.  A note that no longer
 * matches the frontend's rings is not trusted (the device is closed as
 * after a crash), and a note is used only once.
 */
static void test_handover(void **state)
{
	const char *be = "/local/domain/0/backend/vbd/1/51712";
	struct t_fe_cfg fc = { .ring_order = 2,
			       .nr_queues = 2,
			       .persistent = true,
			       .indirect = true };
	struct pvk_blkif_response rsp;
	static uint8_t bufs[16][4096];
	uint8_t back[4096];
	struct t_fe_io ios[16];
	uint64_t seed = 9;
	struct t_env e;
	struct t_fe fe;
	char p[128], *v;
	uint32_t got, i;

	t_env_up(&e, NULL, 1);
	t_attach_open(&e, 0, &fe, &fc, false);
	for (i = 0; i < 16; i++) {
		t_fill(bufs[i], sizeof(bufs[i]), &seed);
		ios[i] = (struct t_fe_io){ PVK_BLKIF_OP_WRITE, 8 * (uint64_t)i,
					   bufs[i], 8, 1 };
	}
	/* 16 writes in flight, then the backend stops for a restart.  It
	 * has taken them all once it asks to be told of request 17 (or has
	 * answered them): a stop that came first would leave them on the
	 * ring for the next instance, which is another test. */
	assert_int_equal(t_fe_submit(&fe, 1, ios, 16), 0);
	{
		struct pvk_sring *sr = fe.q[1].sring;

		for (i = 0; i < 10000; i++) {
			if (__atomic_load_n(&sr->req_event, __ATOMIC_ACQUIRE) ==
				    sr->req_prod + 1 ||
			    __atomic_load_n(&sr->rsp_prod, __ATOMIC_ACQUIRE) ==
				    sr->req_prod)
				break;
			usleep(1000);
		}
	}
	t_backend_pause(&e);
	assert_int_equal(pvk_blkback_handover(e.bb), 0);
	pvk_blkback_destroy(e.bb);
	e.bb = NULL;
	assert_int_equal(t_fe_backend_state(&fe), PVK_XENBUS_CONNECTED);
	snprintf(p, sizeof(p), "%s/pvkit-handover", be);
	assert_true(pvk_xs_read(e.tool, 0, p, &v) >= 0);
	assert_string_equal(v, "queues=2 ring-page-order=2");
	free(v);
	/* Every one answered before the backend went. */
	for (got = 0; got < 16; got++) {
		assert_int_equal(t_fe_wait_rsp(&fe, 1, &rsp, 10000), 0);
		assert_int_equal(rsp.status, PVK_BLKIF_RSP_OKAY);
	}
	/* Queued while no backend runs; its notification goes nowhere. */
	ios[0] = (struct t_fe_io){ PVK_BLKIF_OP_READ, 8 * 5, back, 8, 1 };
	assert_int_equal(t_fe_submit(&fe, 1, ios, 1), 0);

	t_backend_start(&e);
	assert_int_equal(t_fe_wait_rsp(&fe, 1, &rsp, 10000), 0);
	assert_int_equal(rsp.status, PVK_BLKIF_RSP_OKAY);
	assert_true(t_logged("resumed the rings"));
	assert_int_equal(pvk_xs_read(e.tool, 0, p, &v), -ENOENT);
	/* Both queues keep working, on the rings of the first connection. */
	assert_int_equal(t_fe_io(&fe, 0, PVK_BLKIF_OP_READ, 8 * 7, back, 8, 0),
			 PVK_BLKIF_RSP_OKAY);
	assert_memory_equal(back, bufs[7], sizeof(back));
	assert_int_equal(t_fe_io(&fe, 1, PVK_BLKIF_OP_READ, 8 * 9, back, 8, 0),
			 PVK_BLKIF_RSP_OKAY);
	assert_memory_equal(back, bufs[9], sizeof(back));
	assert_int_equal(fe.connects, 1);
	assert_int_equal(t_fe_backend_state(&fe), PVK_XENBUS_CONNECTED);

	/* Hand over again, but the frontend's nodes no longer describe the
	 * rings: the next instance does not resume, it closes. */
	t_backend_pause(&e);
	assert_int_equal(pvk_blkback_handover(e.bb), 0);
	pvk_blkback_destroy(e.bb);
	e.bb = NULL;
	snprintf(p, sizeof(p), "%s/ring-page-order",
		 "/local/domain/1/device/vbd/51712");
	assert_int_equal(pvk_xs_write(e.hvu[0], 0, p, "1"), 0);
	t_backend_start(&e);
	snprintf(p, sizeof(p), "%s/state", be);
	assert_int_equal(t_wait_node(e.tool, p, PVK_XENBUS_CLOSING, 10000), 0);
	assert_true(t_logged("not resuming"));
	assert_int_equal(t_fe_reconnect(&fe), 0);
	/* A note found while the frontend is not Connected is dropped: a
	 * crash later must not resume rings it no longer describes. */
	t_backend_pause(&e);
	assert_int_equal(pvk_blkback_handover(e.bb), 0);
	pvk_blkback_destroy(e.bb);
	e.bb = NULL;
	snprintf(p, sizeof(p), "%s/state", "/local/domain/1/device/vbd/51712");
	assert_int_equal(pvk_xs_write(e.hvu[0], 0, p, "3"), 0);
	t_backend_start(&e);
	snprintf(p, sizeof(p), "%s/state", be);
	assert_int_equal(t_wait_node(e.tool, p, PVK_XENBUS_CLOSING, 10000), 0);
	snprintf(p, sizeof(p), "%s/pvkit-handover", be);
	assert_int_equal(pvk_xs_read(e.tool, 0, p, &v), -ENOENT);
	assert_int_equal(t_fe_reconnect(&fe), 0);
	assert_int_equal(t_fe_io(&fe, 1, PVK_BLKIF_OP_READ, 8 * 3, back, 8, 0),
			 PVK_BLKIF_RSP_OKAY);
	assert_memory_equal(back, bufs[3], sizeof(back));
	t_fe_close(&fe);
	t_env_down(&e);
}

/*
 * The mode node as Linux's blkback reads it: writable if it holds a 'w'
 * ("w", "w!", "rw"), read-only otherwise ("r", "ro"); anything else is
 * refused with hotplug-status = error and a hotplug-error saying why.
 */
static void test_modes(void **state)
{
	static const struct {
		const char *mode;
		int info;
	} cases[] = { { "rw", 0 },
		      { "ro", PVK_VDISK_READONLY },
		      { "w!", 0 },
		      { "r", PVK_VDISK_READONLY } };
	const char *be = "/local/domain/0/backend/vbd/1/51712";
	char p[128], *v = NULL;
	struct t_env e;
	size_t i;
	int k;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		t_env_up(&e, NULL, 1);
		assert_int_equal(t_attach_mode(e.tool, 0, e.dom[0], T_DEVID,
					       e.img[0], cases[i].mode),
				 0);
		snprintf(p, sizeof(p), "%s/state", be);
		assert_int_equal(
			t_wait_node(e.tool, p, PVK_XENBUS_INITWAIT, 10000), 0);
		assert_int_equal(t_be_node(&e, "info"), cases[i].info);
		t_env_down(&e);
	}
	t_env_up(&e, NULL, 1);
	assert_int_equal(t_attach_mode(e.tool, 0, e.dom[0], T_DEVID, e.img[0],
				       "x\n"),
			 0);
	snprintf(p, sizeof(p), "%s/hotplug-error", be);
	for (k = 0; k < 10000 && pvk_xs_read(e.tool, 0, p, &v) < 0; k++)
		usleep(1000);
	assert_non_null(v);
	assert_non_null(strstr(v, "bad mode 'x?'"));
	free(v);
	snprintf(p, sizeof(p), "%s/hotplug-status", be);
	assert_true(pvk_xs_read(e.tool, 0, p, &v) >= 0);
	assert_string_equal(v, "error");
	free(v);
	t_env_down(&e);
}

/*
 * Garbage in every node the backend reads from the frontend, one at a
 * time, in a multi-queue, multi-page connection: each attempt ends in
 * Connected or Closing (never a crash, hang or broken device), and an
 * honest frontend connects afterwards.
 */
static void test_xenstore_garbage(void **state)
{
	static const char *const names[] = {
		"ring-page-order",
		"num-ring-pages",
		"multi-queue-num-queues",
		"queue-0/ring-ref0",
		"queue-1/ring-ref1",
		"queue-1/event-channel",
		"protocol",
		"feature-persistent",
	};
	static const char *const values[] = {
		"",	      " ",   "-1",   "0x10", "18446744073709551616",
		"4294967295", "1 2", "\x01", "07",   "3",
	};
	static char big[3000];
	const char *nodes[] = { "ring-page-order=1",
				"multi-queue-num-queues=2",
				"queue-0/ring-ref0=@0",
				"queue-0/ring-ref1=@1",
				"queue-0/event-channel=@port",
				"queue-1/ring-ref0=@0",
				"queue-1/ring-ref1=@1",
				"queue-1/event-channel=@port1",
				NULL,
				NULL };
	struct t_fe_cfg fc = { .nr_queues = 2 };
	char bad[sizeof(big) + 64];
	struct t_env e;
	struct t_fe fe;
	size_t n, v;
	int st;

	memset(big, '7', sizeof(big) - 1);
	t_env_up(&e, NULL, 1);
	assert_int_equal(
		t_attach(e.tool, 0, e.dom[0], T_DEVID, e.img[0], false), 0);
	for (n = 0; n < sizeof(names) / sizeof(names[0]); n++) {
		for (v = 0; v <= sizeof(values) / sizeof(values[0]); v++) {
			snprintf(bad, sizeof(bad), "%s=%s", names[n],
				 v < sizeof(values) / sizeof(values[0]) ?
					 values[v] :
					 big);
			nodes[8] = bad;
			st = t_manual_connect(&e, 1, nodes);
			assert_true(st == PVK_XENBUS_CONNECTED ||
				    st == PVK_XENBUS_CLOSING);
		}
	}
	assert_int_equal(t_counter(&e, "1/51712", "broken"), 0);
	assert_int_equal(t_fe_open(&fe, e.hvu[0], T_DEVID, &fc), 0);
	t_integrity(&e, &fe, 23, 10);
	t_fe_close(&fe);
	t_env_down(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_integrity_matrix),
		cmocka_unit_test(test_backend_offers_nothing),
		cmocka_unit_test(test_readonly),
		cmocka_unit_test(test_bad_requests),
		cmocka_unit_test(test_hostile_ring),
		cmocka_unit_test(test_hostile_xenstore),
		cmocka_unit_test(test_random_requests),
		cmocka_unit_test(test_flush_barrier_discard),
		cmocka_unit_test(test_restart_picks_up),
		cmocka_unit_test(test_detach),
		cmocka_unit_test(test_frontend_gone),
		cmocka_unit_test(test_connect_spellings),
		cmocka_unit_test(test_connect_rewrites_size),
		cmocka_unit_test(test_stats_histogram),
		cmocka_unit_test(test_indirect_response_op),
		cmocka_unit_test(test_barrier_orders),
		cmocka_unit_test(test_state_flapping),
		cmocka_unit_test(test_handover),
		cmocka_unit_test(test_modes),
		cmocka_unit_test(test_xenstore_garbage),
	};

	/* Hostile frontends here reconnect hundreds of times on purpose;
	 * the rate limit has its own test (test-xenbus-back). */
	setenv("PVKIT_RECONNECT_MS", "0", 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
