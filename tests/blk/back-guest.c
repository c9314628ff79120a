/* SPDX-License-Identifier: MIT */
/*
 * back-guest: the guest program of the blkback simulator tests
 * (tests/blk/back-sim.sh), run inside a guest domain with
 * `pvkit domain create NAME -- back-guest MODE ...`.  It drives the
 * domain's xvda through the raw TEST frontend (back_tfront.c), so what is
 * tested is pvkit-backd, not libpvkit-front.  Prints one result line per
 * step; exit 0 = every check held.
 *
 *   integrity SEED ROUNDS   random writes and reads, every byte verified
 *   readonly                writes refused (BLKIF_RSP_ERROR), reads work
 *   beyond                  a request past the end fails, the next works
 *   scribble GO             connect, write garbage into the ring, then
 *                           stay until the file GO exists
 *   flush GO PATTERN        write 4 MiB at 0, flush; print FLUSHED; wait
 *                           for GO; reconnect; read back (VERIFIED); the
 *                           pattern is saved to PATTERN
 *   stream GO               32 writes in flight then a flush, batch after
 *                           batch, until GO exists; across backend
 *                           restarts re-issue what was not answered;
 *                           verify everything
 *   storm SECS              an event storm: notify the backend as fast as
 *                           possible for SECS seconds with nothing on the
 *                           ring; then one read must still work
 */
#include <errno.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pvkit/xenbus.h>

#include "back_tfront.h"

#define DEVID 51712u

static uint32_t rnd(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(*s >> 33);
}

static void fill(uint8_t *p, size_t n, uint64_t *s)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rnd(s);
}

static bool exists(const char *p)
{
	return access(p, F_OK) == 0;
}

static int do_integrity(struct t_fe *fe, uint64_t seed, int rounds)
{
	uint64_t disk = fe->sectors < 65536 ? fe->sectors : 65536;
	uint8_t *model = calloc(disk, 512), *buf = malloc(88 * 512),
		*back = malloc(88 * 512);
	int r, rc = 1;

	/* Start from what is there: read the region into the model. */
	for (uint64_t s = 0; s < disk; s += 88) {
		uint32_t n = disk - s < 88 ? (uint32_t)(disk - s) : 88;

		if (t_fe_io(fe, 0, PVK_BLKIF_OP_READ, s, model + s * 512, n,
			    0) != PVK_BLKIF_RSP_OKAY) {
			printf("FAIL initial read at %lu\n", (unsigned long)s);
			goto out;
		}
	}
	for (r = 0; r < rounds; r++) {
		uint32_t q = rnd(&seed) % fe->nr_queues, f = rnd(&seed) % 8;
		uint32_t n = 1 + rnd(&seed) % (88 - f);
		uint64_t s = rnd(&seed) % (disk - n);
		int st;

		fill(buf, (size_t)n * 512, &seed);
		st = t_fe_io(fe, q, PVK_BLKIF_OP_WRITE, s, buf, n, f);
		if (st != PVK_BLKIF_RSP_OKAY) {
			printf("FAIL write %d: status %d\n", r, st);
			goto out;
		}
		memcpy(model + s * 512, buf, (size_t)n * 512);
		s = rnd(&seed) % (disk - 88);
		st = t_fe_io(fe, q, PVK_BLKIF_OP_READ, s, back, 88, 0);
		if (st != PVK_BLKIF_RSP_OKAY ||
		    memcmp(back, model + s * 512, 88 * 512)) {
			printf("FAIL read %d: status %d or data differs\n", r,
			       st);
			goto out;
		}
	}
	printf("integrity ok: %d rounds on %u queue(s)\n", rounds,
	       fe->nr_queues);
	rc = 0;
out:
	free(model);
	free(buf);
	free(back);
	return rc;
}

static int do_readonly(struct t_fe *fe)
{
	uint8_t buf[4096];
	int w, b, f, rd;

	memset(buf, 0xa5, sizeof(buf));
	w = t_fe_io(fe, 0, PVK_BLKIF_OP_WRITE, 0, buf, 8, 0);
	b = t_fe_io(fe, 0, PVK_BLKIF_OP_WRITE_BARRIER, 0, buf, 8, 0);
	f = t_fe_io(fe, 0, PVK_BLKIF_OP_FLUSH_DISKCACHE, 0, buf, 8, 0);
	rd = t_fe_io(fe, 0, PVK_BLKIF_OP_READ, 0, buf, 8, 0);
	printf("readonly: info=%#x write=%d barrier=%d flush=%d read=%d\n",
	       fe->info, w, b, f, rd);
	return !((fe->info & PVK_VDISK_READONLY) && w == PVK_BLKIF_RSP_ERROR &&
		 b == PVK_BLKIF_RSP_ERROR && f == PVK_BLKIF_RSP_ERROR &&
		 rd == PVK_BLKIF_RSP_OKAY);
}

static int do_beyond(struct t_fe *fe)
{
	uint8_t buf[8192], back[8192];
	uint64_t seed = 5;
	int a, b, c, d;

	fill(buf, sizeof(buf), &seed);
	a = t_fe_io(fe, 0, PVK_BLKIF_OP_READ, fe->sectors - 4, back, 16, 0);
	b = t_fe_io(fe, 0, PVK_BLKIF_OP_WRITE, fe->sectors, buf, 1, 0);
	c = t_fe_io(fe, 0, PVK_BLKIF_OP_WRITE, fe->sectors - 16, buf, 16, 0);
	d = t_fe_io(fe, 0, PVK_BLKIF_OP_READ, fe->sectors - 16, back, 16, 0);
	printf("beyond: read-past-end=%d write-at-end=%d last-write=%d "
	       "last-read=%d\n",
	       a, b, c, d);
	return !(a == PVK_BLKIF_RSP_ERROR && b == PVK_BLKIF_RSP_ERROR &&
		 c == PVK_BLKIF_RSP_OKAY && d == PVK_BLKIF_RSP_OKAY &&
		 !memcmp(buf, back, sizeof(buf)));
}

static int do_scribble(struct t_fe *fe, const char *go)
{
	t_fe_scribble(fe, 0, 4242);
	printf("SCRIBBLED\n");
	fflush(stdout);
	while (!exists(go))
		usleep(20000);
	return 0;
}

static int wait_reconnect(struct t_fe *fe)
{
	int i, st;

	/* The backend leaves Connected (Closing, Closed or InitWait). */
	for (i = 0; i < 2000; i++) {
		st = t_fe_backend_state(fe);
		if (st != PVK_XENBUS_CONNECTED)
			break;
		usleep(5000);
	}
	return t_fe_reconnect(fe);
}

static int do_flush(struct t_fe *fe, const char *go, const char *pattern)
{
	size_t len = 4u << 20;
	uint8_t *buf = malloc(len), *back = malloc(len);
	uint64_t seed = 1234, s;
	FILE *f;
	int st, rc = 1;

	fill(buf, len, &seed);
	f = fopen(pattern, "w");
	if (!f || fwrite(buf, 1, len, f) != len || fclose(f))
		goto out;
	/* 64 KiB requests (16 segments: indirect when offered). */
	for (s = 0; s < len / 512; s += 128) {
		st = t_fe_io(fe, 0, PVK_BLKIF_OP_WRITE, s, buf + s * 512, 128,
			     0);
		if (st != PVK_BLKIF_RSP_OKAY) {
			printf("FAIL write: %d\n", st);
			goto out;
		}
	}
	st = t_fe_io(fe, 0, PVK_BLKIF_OP_FLUSH_DISKCACHE, 0, buf, 0, 0);
	if (st != PVK_BLKIF_RSP_OKAY) {
		printf("FAIL flush: %d\n", st);
		goto out;
	}
	printf("FLUSHED\n");
	fflush(stdout);
	while (!exists(go))
		usleep(5000);
	/* A backend that recovered the rings from its crash journal stays
	 * Connected; one without a journal asks us to reconnect. */
	for (st = 0; st < 400; st++) {
		if (t_fe_backend_state(fe) != PVK_XENBUS_CONNECTED)
			break;
		usleep(5000);
	}
	if (t_fe_backend_state(fe) != PVK_XENBUS_CONNECTED) {
		st = wait_reconnect(fe);
		if (st < 0) {
			printf("FAIL reconnect: %s\n", strerror(-st));
			goto out;
		}
	}
	for (s = 0; s < len / 512; s += 128) {
		st = t_fe_io(fe, 0, PVK_BLKIF_OP_READ, s, back + s * 512, 128,
			     0);
		if (st != PVK_BLKIF_RSP_OKAY)
			goto out;
	}
	if (memcmp(buf, back, len)) {
		printf("FAIL data differs after reconnect\n");
		goto out;
	}
	printf("VERIFIED after %u connects\n", fe->connects);
	rc = 0;
out:
	free(buf);
	free(back);
	return rc;
}

/*
 * Batches of 32 writes of 4 KiB on slots that rotate over 1024 slots;
 * slot contents are derived from (slot, generation).  A batch whose
 * responses stop coming (the backend went away) is re-issued, unanswered
 * requests and all, once reconnected; a backend that hands its rings over
 * to its next instance is simply waited for.
 */
static int do_stream(struct t_fe *fe, const char *go)
{
	static uint32_t gen[1024];
	struct pvk_blkif_response rsp;
	struct t_fe_io ios[32];
	uint8_t bufs[32][4096], back[4096];
	uint64_t seed;
	uint32_t round = 0, i, got, reissued = 0, answered_late = 0;
	uint32_t flushes = 0;
	int err;

	while (!exists(go) || round < 8) {
		for (i = 0; i < 32; i++) {
			uint32_t slot = (round * 32 + i) % 1024;

			seed = ((uint64_t)slot << 32) | (gen[slot] + 1);
			fill(bufs[i], 4096, &seed);
			ios[i] = (struct t_fe_io){ .op = PVK_BLKIF_OP_WRITE,
						   .sector = (uint64_t)slot * 8,
						   .buf = bufs[i],
						   .nsect = 8,
						   .status = 1 };
		}
		err = t_fe_submit(fe, 0, ios, 32);
		for (got = 0; !err && got < 32; got++) {
			int tries = 0;

			/* A backend that stays Connected is restarting and
			 * will resume the ring (or, after a crash, ask us to
			 * reconnect): keep waiting meanwhile. */
			do
				err = t_fe_wait_rsp(fe, 0, &rsp, 3000);
			while (err == -ETIMEDOUT && ++tries < 10 &&
			       t_fe_backend_state(fe) == PVK_XENBUS_CONNECTED);
			if (!err && (rsp.id >= 32 || ios[rsp.id].status != 1)) {
				/* One answer per request, across restarts. */
				printf("FAIL response id %llu: %s\n",
				       (unsigned long long)rsp.id,
				       rsp.id >= 32 ? "never sent" :
						      "answered twice");
				return 1;
			}
			if (!err)
				ios[rsp.id].status = rsp.status;
		}
		if (err) {
			/* Answered before the backend left: those count. */
			for (i = 0; i < 32; i++)
				answered_late += ios[i].status == 0;
			err = wait_reconnect(fe);
			if (err < 0) {
				printf("FAIL reconnect: %s\n", strerror(-err));
				return 1;
			}
			for (i = 0; i < 32; i++) {
				if (ios[i].status == 0)
					continue;
				reissued++;
				ios[i].status = t_fe_io(fe, 0, ios[i].op,
							ios[i].sector,
							ios[i].buf, 8, 0);
			}
		}
		for (i = 0; i < 32; i++) {
			if (ios[i].status != PVK_BLKIF_RSP_OKAY) {
				printf("FAIL write status %d\n", ios[i].status);
				return 1;
			}
			gen[(round * 32 + i) % 1024]++;
		}
		/* Each batch made durable, as a journaling filesystem does:
		 * the flush is in flight across the restarts too. */
		err = t_fe_io(fe, 0, PVK_BLKIF_OP_FLUSH_DISKCACHE, 0, bufs[0],
			      0, 0);
		if (err < 0) {
			/* No answer: the backend went away (a restart with
			 * no journal closes the rings).  Reconnect and flush
			 * again: what was written is in the image. */
			err = wait_reconnect(fe);
			if (err < 0) {
				printf("FAIL reconnect: %s\n", strerror(-err));
				return 1;
			}
			reissued++;
			err = t_fe_io(fe, 0, PVK_BLKIF_OP_FLUSH_DISKCACHE, 0,
				      bufs[0], 0, 0);
		}
		if (err != PVK_BLKIF_RSP_OKAY) {
			printf("FAIL flush after batch %u: %d\n", round, err);
			return 1;
		}
		flushes++;
		round++;
	}
	for (i = 0; i < 1024; i++) {
		uint8_t want[4096];

		if (!gen[i])
			continue;
		seed = ((uint64_t)i << 32) | gen[i];
		fill(want, sizeof(want), &seed);
		if (t_fe_io(fe, 0, PVK_BLKIF_OP_READ, (uint64_t)i * 8, back, 8,
			    0) != PVK_BLKIF_RSP_OKAY ||
		    memcmp(want, back, sizeof(want))) {
			printf("FAIL slot %u differs\n", i);
			return 1;
		}
	}
	printf("stream ok: %u batches of 32 writes and a flush (%u flushed), "
	       "connects=%u, answered before a restart=%u, re-issued=%u, all "
	       "verified\n",
	       round, flushes, fe->connects, answered_late, reissued);
	return 0;
}

static int do_storm(struct t_fe *fe, int secs)
{
	struct timespec t0, t;
	uint8_t buf[4096];
	uint64_t n = 0;
	double el;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		for (int i = 0; i < 1024; i++)
			pvk_evtchn_notify(fe->q[0].ev, (uint32_t)fe->q[0].port);
		n += 1024;
		clock_gettime(CLOCK_MONOTONIC, &t);
		el = (double)(t.tv_sec - t0.tv_sec) +
		     (double)(t.tv_nsec - t0.tv_nsec) / 1e9;
	} while (el < secs);
	printf("storm: %llu notifications in %.1f s\n", (unsigned long long)n,
	       el);
	if (t_fe_io(fe, 0, PVK_BLKIF_OP_READ, 0, buf, 8, 0) !=
	    PVK_BLKIF_RSP_OKAY) {
		printf("FAIL read after the storm\n");
		return 1;
	}
	printf("storm ok: served after it\n");
	return 0;
}

int main(int argc, char **argv)
{
	struct t_fe_cfg cfg = { .ring_order = 2,
				.nr_queues = 2,
				.persistent = true,
				.indirect = true,
				.timeout_ms = 20000 };
	struct pvk_hv *hv;
	struct t_fe fe;
	const char *mode;
	int err, rc = 2;

	if (argc < 2) {
		fprintf(stderr, "usage: back-guest MODE [ARGS]\n");
		return 2;
	}
	mode = argv[1];
	err = pvk_hv_open(&hv, 0);
	if (err < 0) {
		fprintf(stderr, "back-guest: pvk_hv_open: %s\n",
			strerror(-err));
		return 1;
	}
	/* The toolstack attaches after the domain starts: wait for it. */
	for (int i = 0; i < 400; i++) {
		char *v;

		if (pvk_xs_read(hv, 0, "device/vbd/51712/backend", &v) >= 0) {
			free(v);
			break;
		}
		usleep(25000);
	}
	err = t_fe_open(&fe, hv, DEVID, &cfg);
	if (err < 0) {
		printf("FAIL connect: %s\n", strerror(-err));
		return 1;
	}
	printf("connected: sectors=%lu queues=%u ring-order=%u "
	       "persistent=%d indirect=%u\n",
	       (unsigned long)fe.sectors, fe.nr_queues, fe.ring_order,
	       fe.be_persistent, fe.max_indirect);
	fflush(stdout);
	if (!strcmp(mode, "integrity") && argc == 4)
		rc = do_integrity(&fe, strtoull(argv[2], NULL, 0),
				  atoi(argv[3]));
	else if (!strcmp(mode, "storm") && argc == 3)
		rc = do_storm(&fe, atoi(argv[2]));
	else if (!strcmp(mode, "readonly"))
		rc = do_readonly(&fe);
	else if (!strcmp(mode, "beyond"))
		rc = do_beyond(&fe);
	else if (!strcmp(mode, "scribble") && argc == 3)
		rc = do_scribble(&fe, argv[2]);
	else if (!strcmp(mode, "flush") && argc == 4)
		rc = do_flush(&fe, argv[2], argv[3]);
	else if (!strcmp(mode, "stream") && argc == 3)
		rc = do_stream(&fe, argv[2]);
	else
		fprintf(stderr, "back-guest: bad mode or arguments\n");
	if (strcmp(mode, "scribble"))
		t_fe_close(&fe);
	pvk_hv_close(hv);
	fflush(stdout);
	return rc;
}
