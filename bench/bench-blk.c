/* SPDX-License-Identifier: MIT */
/*
 * bench/bench-blk.c -- 4 KiB random read and write at QD1 and QD32 on one
 * image file: native io_uring on the file (the baseline) against the same
 * file as a PV disk through blkfront -> pvkit-backd, measured in the same
 * run (the two alternate in short rounds within each case).  IOPS and
 * latency p50/p99/p99.9, PV as a ratio of native.
 *
 * Runs inside a guest domain that has the image attached as VDEV
 * (bench/blk-bench.sh sets that up on the simulator):
 *   bench-blk --image PATH [--vdev xvda] [--seconds S] [--quick]
 *             [--poll-us N] [--max-queues N] [--no-persistent]
 *             [--grant-per-request] [--only WORKLOAD.qdN] [--demo]
 * --demo: also write and read back a verification pattern first, print
 * what was negotiated, and measure reads only (`make demo`).
 *
 * The native side opens the image with O_DIRECT when the file system
 * allows it, as pvkit-backd does, so both sides reach the same storage.
 * Each PV case also reports what an I/O cost in signalling -- event-channel
 * notifications sent and events taken per I/O -- counts that, unlike the
 * times, do not depend on how loaded the machine is.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <liburing.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pvkit/blkfront.h>
#include <pvkit/hv.h>

#include "bench.h"

#define BS 4096u
#define MAX_QD 32u
#define MAX_SAMPLES (4u << 20)
#define ROUNDS 4u /* native and PV alternate, this many times per case */

struct run {
	uint64_t ops;
	bool write;
	unsigned int qd;
	uint64_t span; /* bytes addressed */
	uint64_t ns_budget;
	uint64_t *lat;
	size_t n;
	uint64_t ns; /* time run, summed over the rounds */
	double iops;
	uint64_t seed;
};

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static uint64_t rand_off(struct run *r)
{
	return (xorshift(&r->seed) % (r->span / BS)) * BS;
}

static void record(struct run *r, uint64_t ns)
{
	if (r->n < MAX_SAMPLES)
		r->lat[r->n++] = ns;
}

/* CPU time (user + system) of this process so far, in microseconds. */
static double cpu_us(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

/* ---- native io_uring ---------------------------------------------------- */

static int native_open(const char *path, bool *direct)
{
	int fd = open(path, O_RDWR | O_DIRECT | O_CLOEXEC);

	*direct = fd >= 0;
	if (fd < 0 && errno == EINVAL)
		fd = open(path, O_RDWR | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static int native_run(int fd, struct run *r, uint8_t *bufs)
{
	uint64_t start[MAX_QD], t0, end, ops = 0;
	struct io_uring ring;
	unsigned int i, inflight = 0;
	int rc;

	rc = io_uring_queue_init(MAX_QD * 2, &ring, 0);
	if (rc < 0)
		return rc;
	t0 = pvk_bench_now_ns();
	end = t0 + r->ns_budget;
	for (i = 0; i < r->qd; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

		if (r->write)
			io_uring_prep_write(sqe, fd, bufs + i * BS, BS,
					    rand_off(r));
		else
			io_uring_prep_read(sqe, fd, bufs + i * BS, BS,
					   rand_off(r));
		io_uring_sqe_set_data64(sqe, i);
		start[i] = pvk_bench_now_ns();
		inflight++;
	}
	io_uring_submit(&ring);
	while (inflight) {
		struct io_uring_cqe *cqe;
		uint64_t now;

		rc = io_uring_wait_cqe(&ring, &cqe);
		if (rc < 0)
			goto exit_ring;
		i = (unsigned int)io_uring_cqe_get_data64(cqe);
		if (cqe->res != (int)BS) {
			rc = cqe->res < 0 ? cqe->res : -EIO;
			io_uring_cqe_seen(&ring, cqe);
			goto exit_ring;
		}
		io_uring_cqe_seen(&ring, cqe);
		now = pvk_bench_now_ns();
		record(r, now - start[i]);
		ops++;
		inflight--;
		if (now < end) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

			if (r->write)
				io_uring_prep_write(sqe, fd, bufs + i * BS, BS,
						    rand_off(r));
			else
				io_uring_prep_read(sqe, fd, bufs + i * BS, BS,
						   rand_off(r));
			io_uring_sqe_set_data64(sqe, i);
			start[i] = pvk_bench_now_ns();
			inflight++;
			io_uring_submit(&ring);
		}
	}
	r->ops += ops;
	r->ns += pvk_bench_now_ns() - t0;
	r->iops = (double)r->ops * 1e9 / (double)r->ns;
	rc = 0;
exit_ring:
	io_uring_queue_exit(&ring);
	return rc;
}

/* ---- PV through blkfront -------------------------------------------------- */

static int pv_run(struct pvk_blkfront *bf, struct run *r, uint8_t *bufs)
{
	struct pvk_blkfront_io ios[MAX_QD], *done[MAX_QD];
	uint64_t start[MAX_QD], t0, end, ops = 0;
	unsigned int i, inflight = 0;
	int n, k, rc;

	t0 = pvk_bench_now_ns();
	end = t0 + r->ns_budget;
	for (i = 0; i < r->qd; i++) {
		memset(&ios[i], 0, sizeof(ios[i]));
		ios[i].op = r->write ? PVK_BLKFRONT_WRITE : PVK_BLKFRONT_READ;
		ios[i].len = BS;
		ios[i].buf = bufs + i * BS;
		ios[i].user = (void *)(uintptr_t)i;
		ios[i].offset = rand_off(r);
		start[i] = pvk_bench_now_ns();
		rc = pvk_blkfront_submit(bf, &ios[i]);
		if (rc < 0)
			return rc;
		inflight++;
	}
	pvk_blkfront_kick(bf);
	while (inflight) {
		n = pvk_blkfront_reap(bf, done, 1, MAX_QD, 10000);
		if (n <= 0)
			return n < 0 ? n : -ETIMEDOUT;
		for (k = 0; k < n; k++) {
			uint64_t now = pvk_bench_now_ns();

			i = (unsigned int)(uintptr_t)done[k]->user;
			if (done[k]->result < 0)
				return done[k]->result;
			record(r, now - start[i]);
			ops++;
			inflight--;
			if (now < end) {
				ios[i].offset = rand_off(r);
				start[i] = pvk_bench_now_ns();
				rc = pvk_blkfront_submit(bf, &ios[i]);
				if (rc < 0)
					return rc;
				inflight++;
			}
		}
		pvk_blkfront_kick(bf);
	}
	r->ops += ops;
	r->ns += pvk_bench_now_ns() - t0;
	r->iops = (double)r->ops * 1e9 / (double)r->ns;
	return 0;
}

/* ---- verification (demo) ------------------------------------------------ */

static int verify(struct pvk_blkfront *bf, uint64_t span)
{
	const size_t len = 1u << 20;
	uint8_t *w = malloc(len), *rd = malloc(len);
	uint64_t seed = 0x5eed, off, i;
	ssize_t n;
	int rc = 0, k;

	if (!w || !rd) {
		rc = -ENOMEM;
		goto free_bufs;
	}
	/* 16 writes of 1 MiB at random offsets (indirect requests when
	 * negotiated), a flush, and every byte read back. */
	for (k = 0; k < 16 && !rc; k++) {
		off = (xorshift(&seed) % ((span - len) / 4096)) * 4096;
		for (i = 0; i < len; i += 8) {
			uint64_t v = xorshift(&seed);
			memcpy(w + i, &v, 8);
		}
		n = pvk_blkfront_pwrite(bf, w, len, off);
		if (n == (ssize_t)len)
			n = pvk_blkfront_flush(bf) == -EOPNOTSUPP ?
				    (ssize_t)len :
				    n;
		if (n == (ssize_t)len)
			n = pvk_blkfront_pread(bf, rd, len, off);
		if (n != (ssize_t)len)
			rc = n < 0 ? (int)n : -EIO;
		else if (memcmp(w, rd, len))
			rc = -EILSEQ;
		if (rc)
			fprintf(stderr, "verify: 1 MiB at %" PRIu64 ": %s\n",
				off, strerror(-rc));
	}
	if (!rc)
		printf("verified: 16 x 1 MiB written at random offsets, "
		       "flushed, read back: every byte matches\n");
free_bufs:
	free(w);
	free(rd);
	return rc;
}

static void print_info(struct pvk_blkfront *bf)
{
	struct pvk_blkfront_info i;

	pvk_blkfront_info(bf, &i);
	printf("negotiated: %" PRIu64 " MiB, sector %u/%u, %s; "
	       "%u queue%s x ring order %u (%u slots); indirect %s; "
	       "persistent grants %s; flush %s, barrier %s, discard %s\n",
	       i.size_bytes >> 20, i.sector_size, i.physical_sector_size,
	       i.read_only ? "read-only" : "read-write", i.nr_queues,
	       i.nr_queues == 1 ? "" : "s", i.ring_order, i.ring_entries,
	       i.max_indirect_segs ? "yes" : "no",
	       i.persistent ? "yes" :
	       i.grant_pool ? "no (pages stay granted)" :
			      "no (granted per request)",
	       i.flush ? "yes" : "no", i.barrier ? "yes" : "no",
	       i.discard ? "yes" : "no");
	if (i.max_indirect_segs)
		printf("            up to %u segments (%u KiB) per request\n",
		       i.max_indirect_segs, i.max_indirect_segs * 4);
}

static int open_pv(struct pvk_hv *hv, const char *vdev,
		   const struct pvk_blkfront_opts *o, struct pvk_blkfront **bf)
{
	int rc, tries;

	/* The toolstack may attach the disk just after the domain starts. */
	for (tries = 0; tries < 100; tries++) {
		rc = pvk_blkfront_open(bf, hv, vdev, o);
		if (rc != -ENOENT)
			return rc;
		usleep(100000);
	}
	return rc;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bench-blk --image PATH [--vdev xvda] [--seconds S] "
		"[--quick] [--poll-us N] [--max-queues N] [--no-persistent] "
		"[--grant-per-request] [--only randread|randwrite.qd1|qd32] "
		"[--demo]\n"
		"  --only W.qdN  one case: randread.qd1, randread.qd32, "
		"randwrite.qd1, randwrite.qd32\n"
		"  --poll-us N   blkfront polls up to N us (0..%u) before "
		"sleeping\n",
		PVK_BLKFRONT_MAX_POLL_US);
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "image", required_argument, NULL, 'i' },
		{ "vdev", required_argument, NULL, 'v' },
		{ "seconds", required_argument, NULL, 's' },
		{ "quick", no_argument, NULL, 'q' },
		{ "poll-us", required_argument, NULL, 'p' },
		{ "demo", no_argument, NULL, 'd' },
		{ "max-queues", required_argument, NULL, 'm' },
		{ "no-persistent", no_argument, NULL, 'P' },
		{ "grant-per-request", no_argument, NULL, 'G' },
		{ "only", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct pvk_blkfront_opts o = { .queue_depth = MAX_QD };
	const char *image = NULL, *vdev = "xvda", *only = NULL;
	double secs = 2.0;
	bool demo = false, direct;
	struct pvk_blkfront *bf = NULL;
	struct pvk_bench *b = NULL;
	struct pvk_hv *hv = NULL;
	uint8_t *bufs = NULL;
	uint64_t span;
	struct stat st;
	int c, fd = -1, rc, w, q, ret = 1;

	while ((c = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
		switch (c) {
		case 'i':
			image = optarg;
			break;
		case 'v':
			vdev = optarg;
			break;
		case 's':
			secs = atof(optarg);
			break;
		case 'q':
			secs = 0.5;
			break;
		case 'p':
			o.poll_us = (unsigned int)strtoul(optarg, NULL, 10);
			break;
		case 'd':
			demo = true;
			break;
		case 'm':
			o.max_queues = (unsigned int)atoi(optarg);
			break;
		case 'P':
			o.flags |= PVK_BLKFRONT_NO_PERSISTENT;
			break;
		case 'G':
			o.flags |= PVK_BLKFRONT_GRANT_PER_REQUEST;
			break;
		case 'o':
			only = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!image || secs <= 0 || secs > 60) {
		usage(stderr);
		return 2;
	}
	if (o.poll_us > PVK_BLKFRONT_MAX_POLL_US) {
		fprintf(stderr, "bench-blk: --poll-us %u: at most %u\n",
			o.poll_us, PVK_BLKFRONT_MAX_POLL_US);
		return 2;
	}
	if (only && strcmp(only, "randread.qd1") &&
	    strcmp(only, "randread.qd32") && strcmp(only, "randwrite.qd1") &&
	    strcmp(only, "randwrite.qd32")) {
		fprintf(stderr,
			"bench-blk: --only %s: no such case (randread.qd1, "
			"randread.qd32, randwrite.qd1, randwrite.qd32)\n",
			only);
		return 2;
	}
	if (stat(image, &st) < 0) {
		fprintf(stderr, "bench-blk: %s: %s\n", image, strerror(errno));
		return 1;
	}
	rc = pvk_hv_open(&hv, 0);
	if (rc < 0) {
		fprintf(stderr, "bench-blk: %s\n",
			rc == -ENODEV ?
				"no Xen and no simulator: run `pvkit sim start` first" :
				strerror(-rc));
		return 1;
	}
	rc = open_pv(hv, vdev, &o, &bf);
	if (rc < 0) {
		fprintf(stderr, "bench-blk: open %s in domain %u: %s\n", vdev,
			pvk_hv_domid(hv), strerror(-rc));
		goto close_hv;
	}
	span = pvk_blkfront_size(bf) < (uint64_t)st.st_size ?
		       pvk_blkfront_size(bf) :
		       (uint64_t)st.st_size;
	span = span / BS * BS;
	if (span < (2u << 20)) {
		fprintf(stderr, "bench-blk: image too small (%" PRIu64 ")\n",
			span);
		goto close_bf;
	}
	print_info(bf);
	if (demo && verify(bf, span) < 0)
		goto close_bf;

	fd = native_open(image, &direct);
	if (fd < 0) {
		fprintf(stderr, "bench-blk: open %s: %s\n", image,
			strerror(-fd));
		goto close_bf;
	}
	printf("native: io_uring on %s (%s)\n", image,
	       direct ? "O_DIRECT" : "buffered: no O_DIRECT here");
	if (posix_memalign((void **)&bufs, 4096, (size_t)MAX_QD * BS))
		goto close_fd;
	memset(bufs, 0x5a, (size_t)MAX_QD * BS);
	b = pvk_bench_open(demo ? "blk-demo" : o.poll_us ? "blk-poll" : "blk");
	if (!b)
		goto free_bufs;

	for (w = 0; w < (demo ? 1 : 2); w++) {
		for (q = 0; q < 2; q++) {
			struct run nat = { .write = w, .qd = q ? 32 : 1 },
				   pv = { .write = w, .qd = q ? 32 : 1 };
			struct pvk_blkfront_stats st0, st1;
			struct pvk_bench_stats sn, sp;
			struct pvk_bench_load ld;
			double ios, c0, c1, c2, cn, cp;
			unsigned int r;
			char base[64], name[64];
			const char *wl = w ? "randwrite" : "randread";

			snprintf(name, sizeof(name), "%s.qd%u", wl, nat.qd);
			if (only && strcmp(only, name))
				continue;
			nat.span = pv.span = span;
			nat.ns_budget = pv.ns_budget = (uint64_t)(secs * 1e9);
			nat.seed = pv.seed = 0x1234567 + (uint64_t)(w * 2 + q);
			nat.lat = malloc(MAX_SAMPLES * sizeof(uint64_t));
			pv.lat = malloc(MAX_SAMPLES * sizeof(uint64_t));
			if (!nat.lat || !pv.lat) {
				free(nat.lat);
				free(pv.lat);
				goto close_bench;
			}
			/* Native and PV alternate in ROUNDS short runs, so that a
			 * change in the machine's speed during the case (a VM's
			 * disk is a shared one) falls on both alike. */
			nat.ns_budget = pv.ns_budget /= ROUNDS;
			pvk_bench_load_begin(&ld);
			pvk_blkfront_stats(bf, &st0);
			st1 = st0;
			rc = 0;
			for (r = 0, cn = cp = 0; r < ROUNDS && !rc; r++) {
				c0 = cpu_us();
				rc = native_run(fd, &nat, bufs);
				c1 = cpu_us();
				if (!rc)
					rc = pv_run(bf, &pv, bufs);
				c2 = cpu_us();
				cn += c1 - c0;
				cp += c2 - c1;
			}
			pvk_blkfront_stats(bf, &st1);
			pvk_bench_set_load(b, pvk_bench_load_end(&ld));
			if (rc < 0 || pvk_bench_stats(nat.lat, nat.n, &sn) ||
			    pvk_bench_stats(pv.lat, pv.n, &sp)) {
				fprintf(stderr, "bench-blk: %s qd%u: %s\n", wl,
					nat.qd, strerror(rc < 0 ? -rc : EIO));
				free(nat.lat);
				free(pv.lat);
				goto close_bench;
			}
#define CASE(impl, what, unit, v, bv)                                         \
	do {                                                                  \
		snprintf(base, sizeof(base), "%s.qd%u.native.%s", wl, nat.qd, \
			 what);                                               \
		snprintf(name, sizeof(name), "%s.qd%u.%s.%s", wl, nat.qd,     \
			 impl, what);                                         \
		pvk_bench_case(b, name, what, unit, v,                        \
			       strcmp(impl, "native") ? base : NULL, bv);     \
	} while (0)
			CASE("native", "iops", "IOPS", nat.iops, 0);
			CASE("pv", "iops", "IOPS", pv.iops, nat.iops);
			CASE("native", "p50", "us", sn.p50 / 1e3, 0);
			CASE("pv", "p50", "us", sp.p50 / 1e3, sn.p50 / 1e3);
			CASE("native", "p99", "us", sn.p99 / 1e3, 0);
			CASE("pv", "p99", "us", sp.p99 / 1e3, sn.p99 / 1e3);
			CASE("native", "p99.9", "us", sn.p999 / 1e3, 0);
			CASE("pv", "p99.9", "us", sp.p999 / 1e3, sn.p999 / 1e3);
#undef CASE
			printf("%s QD%-2u  native %8.0f IOPS p50 %7.1f us p99 %7.1f us | "
			       "PV %8.0f IOPS (%.2fx) p50 %7.1f us (%+.1f) p99 %7.1f us\n",
			       wl, nat.qd, nat.iops, sn.p50 / 1e3, sn.p99 / 1e3,
			       pv.iops, pv.iops / nat.iops, sp.p50 / 1e3,
			       (double)((int64_t)sp.p50 - (int64_t)sn.p50) /
				       1e3,
			       sp.p99 / 1e3);
			/* What each PV I/O cost in guest<->backend signalling:
			 * counts, not times, so they hold on a loaded machine. */
			ios = (double)(st1.ios - st0.ios);
			if (ios > 0 && nat.ops) {
				printf("%*s  CPU per I/O (this process): native %.1f us, PV %.1f us\n",
				       (int)strlen(wl), "",
				       cn / (double)nat.ops, cp / ios);
				printf("%*s  PV per I/O: %.2f notifications sent, %.2f events taken, %.2f ring requests\n",
				       (int)strlen(wl), "",
				       (double)(st1.notifies - st0.notifies) /
					       ios,
				       (double)(st1.events - st0.events) / ios,
				       (double)(st1.ring_requests -
						st0.ring_requests) /
					       ios);
				snprintf(name, sizeof(name),
					 "%s.qd%u.pv.notifies_per_io", wl,
					 nat.qd);
				pvk_bench_case(
					b, name, "notifies/io", "1",
					(double)(st1.notifies - st0.notifies) /
						ios,
					NULL, 0);
				snprintf(name, sizeof(name),
					 "%s.qd%u.pv.events_per_io", wl,
					 nat.qd);
				pvk_bench_case(
					b, name, "events/io", "1",
					(double)(st1.events - st0.events) / ios,
					NULL, 0);
				snprintf(base, sizeof(base),
					 "%s.qd%u.native.cpu_per_io", wl,
					 nat.qd);
				pvk_bench_case(b, base, "cpu/io", "us",
					       cn / (double)nat.ops, NULL, 0);
				snprintf(name, sizeof(name),
					 "%s.qd%u.pv.cpu_per_io", wl, nat.qd);
				pvk_bench_case(b, name, "cpu/io", "us",
					       cp / ios, base,
					       cn / (double)nat.ops);
			}
			fflush(stdout);
			free(nat.lat);
			free(pv.lat);
		}
	}
	ret = 0;
close_bench:
	if (pvk_bench_close(b) < 0)
		ret = 1;
free_bufs:
	free(bufs);
close_fd:
	close(fd);
close_bf:
	pvk_blkfront_close(bf);
close_hv:
	pvk_hv_close(hv);
	return ret;
}
