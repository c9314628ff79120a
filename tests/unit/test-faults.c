// SPDX-License-Identifier: MIT
/*
 * test-faults: what pvkit's block split driver does when the hypervisor
 * says no (pvk_hv_fault_set, hv.h) -- on the loop hypervisor, pvkit's
 * blkfront against pvkit's blkback with a real image file through
 * io_uring:
 *  - grant table full: blkfront's open fails with -ENOSPC and a log line
 *    saying so; once there is room, the device opens and works;
 *  - grant maps failing in the backend: those requests are answered with
 *    an error (the writer sees -EIO), never acknowledged; the others
 *    complete and every acknowledged write reads back; the device stays
 *    connected;
 *  - no free event-channel port: open fails with -ENOSPC, then works;
 *  - a storm of transaction conflicts: a transaction gives up with -EAGAIN
 *    after its 16 tries and bounded time; at one conflict in two,
 *    everything still connects and works.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <pvkit/blkback.h>
#include <pvkit/blkfront.h>

#include "../blk/back_tfront.h"

#define T_DISK (4u << 20)
#define T_DEVID 51712u

struct env {
	struct pvk_loop *loop;
	struct pvk_hv *hv0, *tool, *ghv;
	struct pvk_blkback *bb;
	pthread_t thread;
	int stop_fd;
	uint32_t guest;
	char img[64];
	char log[8192];
	pthread_mutex_t log_lock;
};

static void quiet(void *arg, const char *line)
{
	struct env *e = arg;
	size_t n;

	if (getenv("T_VERBOSE"))
		fprintf(stderr, "%s\n", line);
	pthread_mutex_lock(&e->log_lock);
	n = strlen(e->log);
	if (n + strlen(line) + 2 < sizeof(e->log))
		snprintf(e->log + n, sizeof(e->log) - n, "%s\n", line);
	pthread_mutex_unlock(&e->log_lock);
}

static bool logged(struct env *e, const char *needle)
{
	bool found;

	pthread_mutex_lock(&e->log_lock);
	found = strstr(e->log, needle) != NULL;
	pthread_mutex_unlock(&e->log_lock);
	return found;
}

static void *control(void *arg)
{
	struct env *e = arg;
	struct pollfd p[2];

	for (;;) {
		p[0] = (struct pollfd){ .fd = pvk_blkback_fd(e->bb),
					.events = POLLIN };
		p[1] = (struct pollfd){ .fd = e->stop_fd, .events = POLLIN };
		if (poll(p, 2, 1000) < 0)
			continue;
		if (p[1].revents)
			return NULL;
		pvk_blkback_handle_events(e->bb);
	}
}

/* No fault injected: each test starts and ends so, even after a failed
 * one (cmocka leaves a failed test before its clean-up). */
static void faults_off(void)
{
	int f;

	for (f = 0; f < PVK_HV_FAULT_COUNT; f++)
		pvk_hv_fault_set((enum pvk_hv_fault)f, 0);
}

static void up(struct env *e)
{
	struct pvk_blkback_config cfg = { .log = quiet, .log_arg = e };
	const char *dir = getenv("TMPDIR");
	int fd;

	memset(e, 0, sizeof(*e));
	faults_off();
	pthread_mutex_init(&e->log_lock, NULL);
	cfg.log_arg = e;
	e->stop_fd = eventfd(0, EFD_CLOEXEC);
	assert_true(e->stop_fd >= 0);
	assert_int_equal(pvk_loop_create(&e->loop), 0);
	assert_int_equal(pvk_hv_open_loop(&e->hv0, e->loop, 0), 0);
	assert_int_equal(pvk_hv_open_loop(&e->tool, e->loop, 0), 0);
	assert_int_equal(pvk_loop_domain_create(e->loop, "guest", &e->guest),
			 0);
	assert_int_equal(pvk_hv_open_loop(&e->ghv, e->loop, e->guest), 0);
	snprintf(e->img, sizeof(e->img), "%s/pvk-faults-XXXXXX",
		 dir && *dir ? dir : "/tmp");
	fd = mkstemp(e->img);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, T_DISK), 0);
	close(fd);
	assert_int_equal(pvk_blkback_create(&e->bb, e->hv0, &cfg), 0);
	assert_int_equal(pthread_create(&e->thread, NULL, control, e), 0);
	assert_int_equal(t_attach(e->tool, 0, e->guest, T_DEVID, e->img, false),
			 0);
}

static void down(struct env *e)
{
	uint64_t one = 1;

	faults_off();
	assert_int_equal(write(e->stop_fd, &one, sizeof(one)), sizeof(one));
	pthread_join(e->thread, NULL);
	pvk_blkback_destroy(e->bb);
	pvk_hv_close(e->ghv);
	pvk_hv_close(e->tool);
	pvk_hv_close(e->hv0);
	pvk_loop_destroy(e->loop);
	unlink(e->img);
	close(e->stop_fd);
	pthread_mutex_destroy(&e->log_lock);
}

static int open_front(struct env *e, struct pvk_blkfront **bf,
		      unsigned int flags)
{
	struct pvk_blkfront_opts o = { .flags = flags,
				       .connect_timeout_ms = 5000,
				       .log = quiet,
				       .log_arg = e };

	return pvk_blkfront_open(bf, e->ghv, "xvda", &o);
}

/* Write, flush and read back a few MiB: the device works. */
static void works(struct pvk_blkfront *bf)
{
	static uint8_t a[65536], b[65536];
	size_t i;

	for (i = 0; i < sizeof(a); i++)
		a[i] = (uint8_t)(i * 13 + 7);
	assert_int_equal(pvk_blkfront_pwrite(bf, a, sizeof(a), 1 << 20),
			 sizeof(a));
	assert_int_equal(pvk_blkfront_flush(bf), 0);
	assert_int_equal(pvk_blkfront_pread(bf, b, sizeof(b), 1 << 20),
			 sizeof(b));
	assert_memory_equal(a, b, sizeof(a));
}

static void t_grant_table_full(void **state)
{
	struct pvk_blkfront *bf = NULL;
	struct env e;

	(void)state;
	up(&e);
	assert_int_equal(pvk_hv_fault_set(PVK_HV_FAULT_GRANT_ALLOC, 1), 0);
	assert_int_equal(open_front(&e, &bf, 0), -ENOSPC);
	assert_null(bf);
	assert_true(pvk_hv_fault_hits(PVK_HV_FAULT_GRANT_ALLOC) >= 1);
	assert_true(logged(&e, "No space left on device"));
	/* Room again: it opens and works; the backend waited meanwhile. */
	pvk_hv_fault_set(PVK_HV_FAULT_GRANT_ALLOC, 0);
	assert_int_equal(open_front(&e, &bf, 0), 0);
	works(bf);
	pvk_blkfront_close(bf);
	down(&e);
}

static void t_grant_map_fails(void **state)
{
	static uint8_t buf[4096], back[4096];
	struct pvk_blkfront *bf = NULL;
	bool ok[256] = { false };
	unsigned int i, nok = 0, nerr = 0;
	ssize_t n;
	struct env e;

	(void)state;
	up(&e);
	/* No persistent grants: every request maps its pages. */
	assert_int_equal(open_front(&e, &bf, PVK_BLKFRONT_NO_PERSISTENT), 0);
	assert_int_equal(pvk_hv_fault_set(PVK_HV_FAULT_GRANT_MAP, 3), 0);
	for (i = 0; i < 256; i++) {
		memset(buf, (int)(i + 1), sizeof(buf));
		n = pvk_blkfront_pwrite(bf, buf, sizeof(buf), (off_t)i * 4096);
		if (n == (ssize_t)sizeof(buf)) {
			ok[i] = true;
			nok++;
		} else {
			assert_int_equal(n, -EIO);
			nerr++;
		}
	}
	assert_true(pvk_hv_fault_hits(PVK_HV_FAULT_GRANT_MAP) > 0);
	assert_true(nok > 0);
	assert_true(nerr > 0);
	print_message(
		"grant map failures: %u writes acknowledged, %u refused "
		"with EIO, %llu maps failed\n",
		nok, nerr,
		(unsigned long long)pvk_hv_fault_hits(PVK_HV_FAULT_GRANT_MAP));
	pvk_hv_fault_set(PVK_HV_FAULT_GRANT_MAP, 0);
	/* Every acknowledged write is there; the device is still up. */
	for (i = 0; i < 256; i++) {
		if (!ok[i])
			continue;
		memset(buf, (int)(i + 1), sizeof(buf));
		assert_int_equal(pvk_blkfront_pread(bf, back, sizeof(back),
						    (off_t)i * 4096),
				 sizeof(back));
		assert_memory_equal(buf, back, sizeof(buf));
	}
	works(bf);
	pvk_blkfront_close(bf);
	down(&e);
}

static void t_evtchn_alloc_fails(void **state)
{
	struct pvk_blkfront *bf = NULL;
	struct env e;

	(void)state;
	up(&e);
	assert_int_equal(pvk_hv_fault_set(PVK_HV_FAULT_EVTCHN_ALLOC, 1), 0);
	assert_int_equal(open_front(&e, &bf, 0), -ENOSPC);
	assert_true(pvk_hv_fault_hits(PVK_HV_FAULT_EVTCHN_ALLOC) >= 1);
	assert_true(logged(&e, "No space left on device"));
	pvk_hv_fault_set(PVK_HV_FAULT_EVTCHN_ALLOC, 0);
	assert_int_equal(open_front(&e, &bf, 0), 0);
	works(bf);
	pvk_blkfront_close(bf);
	down(&e);
}

static int count_txn(struct pvk_hv *hv, pvk_xs_txn_t t, void *arg)
{
	(void)t;
	(void)hv;
	(*(int *)arg)++;
	return 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void t_xs_commit_storm(void **state)
{
	struct pvk_blkfront *bf = NULL;
	struct env e;
	double t0, t;
	int calls = 0;

	(void)state;
	up(&e);
	/* Every commit conflicts: 16 tries, backed off, then -EAGAIN. */
	assert_int_equal(pvk_hv_fault_set(PVK_HV_FAULT_XS_COMMIT, 1), 0);
	t0 = now_s();
	assert_int_equal(pvk_xs_transaction(e.ghv, 0, count_txn, &calls),
			 -EAGAIN);
	t = now_s() - t0;
	assert_int_equal(calls, 16);
	assert_true(t >= 0.1 && t < 2.0);
	print_message("16 conflicting tries gave up after %.3f s\n", t);
	/* One commit in two conflicts: everything still gets through. */
	assert_int_equal(pvk_hv_fault_set(PVK_HV_FAULT_XS_COMMIT, 2), 0);
	assert_int_equal(open_front(&e, &bf, 0), 0);
	works(bf);
	assert_true(pvk_hv_fault_hits(PVK_HV_FAULT_XS_COMMIT) > 0);
	pvk_blkfront_close(bf);
	down(&e);
}

static void t_fault_args(void **state)
{
	(void)state;
	assert_int_equal(pvk_hv_fault_set(PVK_HV_FAULT_COUNT, 1), -EINVAL);
	assert_int_equal(pvk_hv_fault_set((enum pvk_hv_fault) - 1, 1), -EINVAL);
	assert_int_equal(pvk_hv_fault_hits(PVK_HV_FAULT_COUNT), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_fault_args),
		cmocka_unit_test(t_grant_table_full),
		cmocka_unit_test(t_grant_map_fails),
		cmocka_unit_test(t_evtchn_alloc_fails),
		cmocka_unit_test(t_xs_commit_storm),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
