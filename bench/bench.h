/* SPDX-License-Identifier: MIT */
/*
 * bench/bench.h -- the harness every pvkit benchmark links (bench_SRCS).
 *
 * A benchmark measures its cases, each against a baseline measured in the
 * same run on the same machine, and records them:
 *
 *	struct pvk_bench *b = pvk_bench_open("ring");
 *	pvk_bench_case(b, "throughput.xen-macros", "rate", "Mmsg/s", x,
 *		       NULL, 0);
 *	pvk_bench_case(b, "throughput.pvkit", "rate", "Mmsg/s", p,
 *		       "throughput.xen-macros", x);
 *	return pvk_bench_close(b) ? 1 : 0;
 *
 * pvk_bench_close() prints the cases as an aligned table and writes them
 * to $PVK_BUILD/bench/<name>.json (PVK_BUILD defaults to "build"): a JSON
 * list of
 *	{"name", "metric", "unit", "value",
 *	 "baseline": {"name", "value"} or null, "ratio": value/baseline or
 *	 null, "others_cpu": CPUs used by other processes during the case,
 *	 or null if not measured}
 * ratio is always value / baseline value; whether higher is better
 * follows from the metric (a rate: higher; a time: lower).
 *
 * Distributions: collect one uint64_t nanosecond sample per operation,
 * then pvk_bench_stats() (sorts in place) gives min/p50/p99/p99.9/max.
 * Percentiles are nearest-rank.
 *
 * Shared machines: pvk_bench_load_begin()/_end() around a case returns
 * how many CPUs *other* processes used meanwhile (from /proc/stat, minus
 * this process's and its waited-for children's rusage, the processes named
 * in $PVK_BENCH_PEERS -- the other half of the benchmark, a backend
 * daemon -- and interrupt time, which the benchmark's I/O causes); record
 * it with pvk_bench_set_load() and the table flags the cases it concerns.
 *
 * Not thread-safe; one struct pvk_bench per benchmark process.
 */
#ifndef PVKIT_BENCH_H
#define PVKIT_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/resource.h>
#include <time.h>

struct pvk_bench;

/* Others' CPU use above this many CPUs marks a case as loaded. */
#define PVK_BENCH_LOADED_CPUS 0.10

/* @name: [A-Za-z0-9_-]+, names the JSON file.  NULL with errno set on
 * failure (EINVAL, ENOMEM). */
struct pvk_bench *pvk_bench_open(const char *name);

/*
 * Record one case.  @baseline_name NULL means the case is itself a
 * baseline (no ratio).  Strings are copied.  0 or -ENOMEM / -EINVAL.
 */
int pvk_bench_case(struct pvk_bench *b, const char *name, const char *metric,
		   const char *unit, double value, const char *baseline_name,
		   double baseline_value);

/* Other processes' CPU use (in CPUs) for the cases recorded from now on;
 * negative = not measured. */
void pvk_bench_set_load(struct pvk_bench *b, double others_cpu);

/* Print the table, write the JSON, free @b (NULL: no-op, returns 0).
 * Returns 0 or -errno from writing the JSON file (the table is printed
 * regardless). */
int pvk_bench_close(struct pvk_bench *b);

/* Path the JSON will be written to (valid until close). */
const char *pvk_bench_json_path(const struct pvk_bench *b);

/* Write @s to @f as a JSON string (quotes, escapes). */
void pvk_bench_json_str(FILE *f, const char *s);

/* CLOCK_MONOTONIC in nanoseconds. */
static inline uint64_t pvk_bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct pvk_bench_stats {
	size_t n;
	uint64_t min, p50, p99, p999, max;
	double mean;
};

/* Sort @ns[0..n) in place and summarise it.  0, or -EINVAL if n == 0. */
int pvk_bench_stats(uint64_t *ns, size_t n, struct pvk_bench_stats *st);

/* Nearest-rank percentile (0 < @pct <= 100) of sorted @ns; 0 if n == 0. */
uint64_t pvk_bench_percentile(const uint64_t *sorted, size_t n, double pct);

/* Other processes' CPU use over an interval. */
struct pvk_bench_load {
	uint64_t busy_ticks; /* all CPUs, from /proc/stat; 0 if unreadable */
	uint64_t wall_ns;
	double peers_s; /* CPU seconds of $PVK_BENCH_PEERS */
	struct rusage self, children;
};

void pvk_bench_load_begin(struct pvk_bench_load *l);
/* CPUs (0 .. nr_cpus) used by other processes since _begin; children
 * count as ours only once waited for.  Negative (not measured) if
 * /proc/stat is unavailable, or if the interval is shorter than
 * PVK_BENCH_LOAD_MIN_MS: /proc/stat counts in ticks (1/HZ per CPU), so
 * over a few milliseconds one tick reads as several CPUs. */
#define PVK_BENCH_LOAD_MIN_MS 200
double pvk_bench_load_end(const struct pvk_bench_load *l);

/* Sleep @ms and return others' CPU use meanwhile: an idle check before a
 * run. */
double pvk_bench_idle_check(unsigned int ms);

#endif /* PVKIT_BENCH_H */
