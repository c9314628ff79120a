/* SPDX-License-Identifier: MIT */
/*
 * tests/blk/front-sim-io.c -- the guest side of the blkfront simulator
 * tests (tests/blk/front-sim-*.sh run it inside a guest domain).
 *
 *   front-sim-io [--vdev xvda] [frontend caps] [--expect K=V,...]
 *                [--ops N] [--until FILE] [--seed S] [--min-connects N]
 *                [--flush-then-wait FILE] [--grant-per-request]
 *                [--discard-check]
 *
 * Default: a data-integrity run -- random reads and writes of random
 * sector-aligned offsets and sizes (512 B .. 512 KiB), 16 in flight, never
 * two overlapping, every read checked against a model of the disk, then
 * the whole disk read back and compared.  --until keeps it going until
 * FILE exists (the script restarts pvkit-backd meanwhile).
 * --flush-then-wait: write a 4 MiB pattern at offset 0 (and to
 * --pattern-out's file), flush, print "FLUSHED", wait for FILE, then read
 * the pattern back through the (reconnected) device.
 * --discard-check: after the integrity run, fill 1 MiB, discard a range
 * with unaligned ends, and check that every byte outside it kept its
 * value and the whole granules inside read back as zeroes (pvkit-backd
 * punches holes), and that a range holding no whole granule is a no-op.
 * Exit 0 on success, 1 on a failed check, 2 on usage.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pvkit/blkfront.h>
#include <pvkit/hv.h>

#define QD 16u
#define MAXLEN (512u << 10)

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static bool exists(const char *p)
{
	struct stat st;

	return p && stat(p, &st) == 0;
}

struct slot {
	struct pvk_blkfront_io io;
	uint8_t *buf;
	bool busy;
};

static bool overlaps(const struct slot *s, uint64_t off, uint64_t len)
{
	unsigned int i;

	for (i = 0; i < QD; i++)
		if (s[i].busy && off < s[i].io.offset + s[i].io.len &&
		    s[i].io.offset < off + len)
			return true;
	return false;
}

static int integrity(struct pvk_blkfront *bf, uint64_t ops, const char *until,
		     uint64_t seed)
{
	uint64_t size = pvk_blkfront_size(bf), issued = 0, s = seed, k;
	struct pvk_blkfront_io *done[QD];
	uint8_t *model = malloc(size), *all = malloc(size);
	struct slot sl[QD];
	unsigned int i, inflight = 0;
	bool go = true;
	int n, rc = 1;

	memset(sl, 0, sizeof(sl));
	if (!model || !all)
		goto out;
	for (i = 0; i < QD; i++) {
		sl[i].buf = malloc(MAXLEN);
		sl[i].io.user = &sl[i];
		if (!sl[i].buf)
			goto out;
	}
	if (pvk_blkfront_pread(bf, model, size, 0) != (ssize_t)size) {
		fprintf(stderr, "initial read failed\n");
		goto out;
	}
	while (go || inflight) {
		go = issued < ops || (until && !exists(until));
		for (i = 0; i < QD && go; i++) {
			struct slot *x = &sl[i];
			uint64_t off, len;

			if (x->busy)
				continue;
			do {
				len = (xorshift(&s) % (MAXLEN / 512) + 1) * 512;
				off = (xorshift(&s) %
				       ((size - len) / 512 + 1)) *
				      512;
			} while (overlaps(sl, off, len));
			x->io.op = xorshift(&s) & 1 ? PVK_BLKFRONT_WRITE :
						      PVK_BLKFRONT_READ;
			x->io.offset = off;
			x->io.len = len;
			x->io.buf = x->buf;
			if (x->io.op == PVK_BLKFRONT_WRITE) {
				for (k = 0; k < len; k += 8) {
					uint64_t v = xorshift(&s);
					memcpy(x->buf + k, &v, 8);
				}
				memcpy(model + off, x->buf, len);
			}
			n = pvk_blkfront_submit(bf, &x->io);
			if (n < 0) {
				fprintf(stderr, "submit: %s\n", strerror(-n));
				goto out;
			}
			x->busy = true;
			issued++;
			inflight++;
		}
		if (!inflight)
			break;
		n = pvk_blkfront_reap(bf, done, 1, QD, 30000);
		if (n <= 0) {
			fprintf(stderr, "reap: %s (%u in flight)\n",
				n ? strerror(-n) : "timed out", inflight);
			goto out;
		}
		for (i = 0; i < (unsigned int)n; i++) {
			struct slot *x = done[i]->user;

			if (done[i]->result) {
				fprintf(stderr,
					"%s at %" PRIu64 " len %" PRIu64
					": %s\n",
					x->io.op ? "write" : "read",
					x->io.offset, x->io.len,
					strerror(-done[i]->result));
				goto out;
			}
			if (x->io.op == PVK_BLKFRONT_READ &&
			    memcmp(x->buf, model + x->io.offset, x->io.len)) {
				fprintf(stderr,
					"read at %" PRIu64 " len %" PRIu64
					" differs from what was written\n",
					x->io.offset, x->io.len);
				goto out;
			}
			x->busy = false;
			inflight--;
		}
	}
	if (pvk_blkfront_pread(bf, all, size, 0) != (ssize_t)size ||
	    memcmp(all, model, size)) {
		fprintf(stderr, "final read-back differs from the model\n");
		goto out;
	}
	printf("integrity: %" PRIu64 " random I/Os, every byte verified\n",
	       issued);
	rc = 0;
out:
	for (i = 0; i < QD; i++)
		free(sl[i].buf);
	free(model);
	free(all);
	return rc;
}

static int flush_then_wait(struct pvk_blkfront *bf, const char *file,
			   const char *pattern_out, uint64_t seed)
{
	const size_t len = 4u << 20;
	uint8_t *w = malloc(len), *r = malloc(len);
	uint64_t s = seed, i;
	int rc = 1, t;

	if (!w || !r || pvk_blkfront_size(bf) < len)
		goto out;
	for (i = 0; i < len; i += 8) {
		uint64_t v = xorshift(&s);
		memcpy(w + i, &v, 8);
	}
	if (pvk_blkfront_pwrite(bf, w, len, 0) != (ssize_t)len ||
	    pvk_blkfront_flush(bf) < 0) {
		fprintf(stderr, "write+flush failed\n");
		goto out;
	}
	if (pattern_out) {
		FILE *f = fopen(pattern_out, "wb");

		if (!f || fwrite(w, 1, len, f) != len || fclose(f)) {
			fprintf(stderr, "cannot write %s\n", pattern_out);
			goto out;
		}
	}
	printf("FLUSHED\n");
	fflush(stdout);
	for (t = 0; t < 600 && !exists(file); t++)
		usleep(50000);
	if (pvk_blkfront_pread(bf, r, len, 0) != (ssize_t)len ||
	    memcmp(w, r, len)) {
		fprintf(stderr, "flushed data not read back\n");
		goto out;
	}
	printf("VERIFIED\n");
	rc = 0;
out:
	free(w);
	free(r);
	return rc;
}

/* --expect order=4,queues=1,indirect=1,persistent=0,ro=0 */
static int check_expect(const struct pvk_blkfront_info *i, char *spec)
{
	char *tok, *save = NULL;

	for (tok = strtok_r(spec, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		unsigned long want, got;

		if (!eq)
			return 2;
		*eq = '\0';
		want = strtoul(eq + 1, NULL, 10);
		if (!strcmp(tok, "order"))
			got = i->ring_order;
		else if (!strcmp(tok, "queues"))
			got = i->nr_queues;
		else if (!strcmp(tok, "indirect"))
			got = i->max_indirect_segs != 0;
		else if (!strcmp(tok, "persistent"))
			got = i->persistent;
		else if (!strcmp(tok, "ro"))
			got = i->read_only;
		else if (!strcmp(tok, "pool"))
			got = i->grant_pool;
		else
			return 2;
		if (got != want) {
			fprintf(stderr, "negotiated %s=%lu, expected %lu\n",
				tok, got, want);
			return 1;
		}
	}
	return 0;
}

static bool all_equal(const uint8_t *b, size_t len, uint8_t c)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (b[i] != c)
			return false;
	return true;
}

static int discard_check(struct pvk_blkfront *bf)
{
	const size_t len = 1u << 20;
	struct pvk_blkfront_info info;
	struct pvk_blkfront_stats st;
	uint64_t g, a, lo, hi, s0, e0, skipped;
	uint8_t *b = malloc(len);
	int rc = 1;

	pvk_blkfront_info(bf, &info);
	if (!b)
		return 1;
	if (!info.discard) {
		printf("discard: not offered, skipped\n");
		free(b);
		return 0;
	}
	g = info.discard_granularity;
	a = info.discard_alignment;
	memset(b, 0xd5, len);
	if (pvk_blkfront_pwrite(bf, b, len, 0) != (ssize_t)len)
		goto out;
	/* [g/2 + 512, len - g/2 - 512): unaligned at both ends. */
	lo = g / 2 + 512;
	hi = len - g / 2 - 512;
	if (pvk_blkfront_discard(bf, lo, hi - lo) < 0)
		goto out;
	/* Less than a granule: no request, no change. */
	pvk_blkfront_stats(bf, &st);
	if (pvk_blkfront_discard(bf, 0, 512) < 0)
		goto out;
	skipped = st.discards_skipped;
	pvk_blkfront_stats(bf, &st);
	if (g > 512 && st.discards_skipped != skipped + 1) {
		fprintf(stderr, "discard: a range with no whole granule was "
				"sent\n");
		goto out;
	}
	if (pvk_blkfront_pread(bf, b, len, 0) != (ssize_t)len)
		goto out;
	s0 = lo <= a ? a : a + (lo - a + g - 1) / g * g;
	e0 = a + (hi - a) / g * g;
	if (!all_equal(b, s0, 0xd5) || !all_equal(b + e0, len - e0, 0xd5)) {
		fprintf(stderr, "discard: bytes outside the whole granules "
				"changed\n");
		goto out;
	}
	if (e0 > s0 && !all_equal(b + s0, e0 - s0, 0)) {
		fprintf(stderr, "discard: granules inside do not read back as "
				"zeroes\n");
		goto out;
	}
	printf("discard: granularity %" PRIu64 ", [%" PRIu64 ", %" PRIu64
	       ") of [%" PRIu64 ", %" PRIu64 ") discarded, edges kept\n",
	       g, s0, e0, lo, hi);
	rc = 0;
out:
	free(b);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "vdev", required_argument, NULL, 'v' },
		{ "max-ring-order", required_argument, NULL, 'o' },
		{ "max-queues", required_argument, NULL, 'q' },
		{ "no-indirect", no_argument, NULL, 'I' },
		{ "no-persistent", no_argument, NULL, 'P' },
		{ "expect", required_argument, NULL, 'e' },
		{ "ops", required_argument, NULL, 'n' },
		{ "until", required_argument, NULL, 'u' },
		{ "seed", required_argument, NULL, 's' },
		{ "min-connects", required_argument, NULL, 'c' },
		{ "flush-then-wait", required_argument, NULL, 'f' },
		{ "pattern-out", required_argument, NULL, 'w' },
		{ "grant-per-request", no_argument, NULL, 'G' },
		{ "discard-check", no_argument, NULL, 'D' },
		{ "poll-us", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	struct pvk_blkfront_opts o = { .queue_depth = 64 };
	const char *vdev = "xvda", *until = NULL, *flushf = NULL, *pat = NULL;
	unsigned long ops = 200, seed = 1, min_connects = 1;
	struct pvk_blkfront_info info;
	struct pvk_blkfront_stats st;
	struct pvk_blkfront *bf = NULL;
	struct pvk_hv *hv = NULL;
	char *expect = NULL;
	bool dcheck = false;
	int c, rc, tries;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'v':
			vdev = optarg;
			break;
		case 'o':
			o.max_ring_order = (unsigned int)atoi(optarg);
			if (!o.max_ring_order)
				o.flags |= PVK_BLKFRONT_NO_MULTI_PAGE;
			break;
		case 'q':
			o.max_queues = (unsigned int)atoi(optarg);
			break;
		case 'I':
			o.flags |= PVK_BLKFRONT_NO_INDIRECT;
			break;
		case 'P':
			o.flags |= PVK_BLKFRONT_NO_PERSISTENT;
			break;
		case 'e':
			expect = optarg;
			break;
		case 'n':
			ops = strtoul(optarg, NULL, 10);
			break;
		case 'u':
			until = optarg;
			break;
		case 's':
			seed = strtoul(optarg, NULL, 0) | 1;
			break;
		case 'c':
			min_connects = strtoul(optarg, NULL, 10);
			break;
		case 'f':
			flushf = optarg;
			break;
		case 'w':
			pat = optarg;
			break;
		case 'G':
			o.flags |= PVK_BLKFRONT_GRANT_PER_REQUEST;
			break;
		case 'D':
			dcheck = true;
			break;
		case 'p':
			o.poll_us = (unsigned int)atoi(optarg);
			break;
		default:
			return 2;
		}
	}
	rc = pvk_hv_open(&hv, 0);
	if (rc < 0) {
		fprintf(stderr, "front-sim-io: hv: %s\n", strerror(-rc));
		return 1;
	}
	for (tries = 0; tries < 100; tries++) {
		rc = pvk_blkfront_open(&bf, hv, vdev, &o);
		if (rc != -ENOENT)
			break;
		usleep(100000);
	}
	if (rc < 0) {
		fprintf(stderr, "front-sim-io: open %s: %s\n", vdev,
			strerror(-rc));
		pvk_hv_close(hv);
		return 1;
	}
	pvk_blkfront_info(bf, &info);
	printf("negotiated: order %u, %u queue(s), indirect %u, persistent %u, "
	       "flush %u, discard %u, ro %u, %" PRIu64 " bytes\n",
	       info.ring_order, info.nr_queues, info.max_indirect_segs,
	       info.persistent, info.flush, info.discard, info.read_only,
	       info.size_bytes);
	rc = expect ? check_expect(&info, expect) : 0;
	if (!rc)
		rc = flushf ? flush_then_wait(bf, flushf, pat, seed) :
			      integrity(bf, ops, until, seed);
	if (!rc && dcheck)
		rc = discard_check(bf);
	pvk_blkfront_info(bf, &info);
	pvk_blkfront_stats(bf, &st);
	printf("connects %u, re-issued %" PRIu64 ", ring requests %" PRIu64
	       ", indirect %" PRIu64 "\n",
	       info.connects, st.reissued, st.ring_requests,
	       st.indirect_requests);
	if (!rc && info.connects < min_connects) {
		fprintf(stderr, "connected %u times, expected >= %lu\n",
			info.connects, min_connects);
		rc = 1;
	}
	pvk_blkfront_close(bf);
	pvk_hv_close(hv);
	return rc;
}
