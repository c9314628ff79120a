/* SPDX-License-Identifier: MIT */
/* blkback statistics: per-device counters and latency histograms as text. */
#include <inttypes.h>
#include <stdio.h>

#include "blkback_priv.h"

static const char *const lat_names[BB_LAT_KINDS] = {
	[BB_LAT_READ] = "read",
	[BB_LAT_WRITE] = "write",
	[BB_LAT_SYNC] = "flush",
};

/* The bucket holding the @pct-th percentile of @h (of @n samples): its
 * upper bound, in microseconds. */
static uint64_t hist_pct(const uint64_t *h, uint64_t n, double pct)
{
	uint64_t want = (uint64_t)((double)n * pct / 100.0 + 0.999999), sum = 0;
	unsigned int b;

	for (b = 0; b < BB_HIST_BUCKETS; b++) {
		sum += h[b];
		if (sum >= want && sum)
			return bb_hist_lo(b + 1);
	}
	return bb_hist_lo(BB_HIST_BUCKETS);
}

static void print_latency(FILE *f, const char *kind, const uint64_t *h)
{
	uint64_t n = 0;
	unsigned int b;

	for (b = 0; b < BB_HIST_BUCKETS; b++)
		n += h[b];
	if (!n)
		return;
	fprintf(f,
		"latency %s unit=us count=%" PRIu64 " p50<=%" PRIu64
		" p90<=%" PRIu64 " p99<=%" PRIu64 " p99.9<=%" PRIu64,
		kind, n, hist_pct(h, n, 50), hist_pct(h, n, 90),
		hist_pct(h, n, 99), hist_pct(h, n, 99.9));
	for (b = 0; b < BB_HIST_BUCKETS; b++)
		if (h[b])
			fprintf(f, " %" PRIu64 "-%" PRIu64 "us:%" PRIu64,
				bb_hist_lo(b), bb_hist_lo(b + 1), h[b]);
	fprintf(f, "\n");
}

int pvk_blkback_stats(struct pvk_blkback *bb, FILE *f)
{
	struct pvk_xenbus_backdev *bd = NULL;
	struct bb_counters c;
	struct bb_dev *d;
	uint32_t inflight;
	bool broken;
	unsigned int k;

	while ((bd = pvk_xenbus_bus_next(bb->bus, &bb->drv, bd))) {
		d = bd->priv;
		if (!d)
			continue;
		bb_dev_counters(d, &c, &broken, &inflight);
		fprintf(f,
			"device %s %s params=%s mode=%s queues=%u "
			"ring-page-order=%u persistent=%d indirect=%u "
			"sectors=%" PRIu64 " direct=%d\n",
			d->name, pvk_xenbus_phase_name(bd->phase),
			d->params ?: "-", d->mode, d->nr_queues, d->ring_order,
			d->persistent, d->lim.max_indirect_segs,
			d->disk.sectors, d->disk.direct);
		fprintf(f,
			"counters reads=%" PRIu64 " writes=%" PRIu64
			" flushes=%" PRIu64 " barriers=%" PRIu64
			" discards=%" PRIu64 " bytes_read=%" PRIu64
			" bytes_written=%" PRIu64 " errors=%" PRIu64
			" eopnotsupp=%" PRIu64 " events=%" PRIu64
			" notifies=%" PRIu64 " inflight=%u broken=%d"
			" broken_events=%" PRIu64 "\n",
			c.reads, c.writes, c.flushes, c.barriers, c.discards,
			c.bytes_read, c.bytes_written, c.errors, c.eopnotsupp,
			c.events, c.notifies, inflight, broken,
			__atomic_load_n(&d->broken_count, __ATOMIC_RELAXED));
		for (k = 0; k < BB_LAT_KINDS; k++)
			print_latency(f, lat_names[k], c.hist[k]);
	}
	return 0;
}
