/* SPDX-License-Identifier: MIT */
/* The benchmark harness: cases, a table, a JSON file, percentiles. */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"

struct pvk_bench_case {
	char *name, *metric, *unit, *baseline_name;
	double value, baseline_value, others_cpu;
};

struct pvk_bench {
	char *name;
	char *dir, *json_path;
	struct pvk_bench_case *cases;
	size_t nr, cap;
	double others_cpu;
};

static bool bench_name_ok(const char *s)
{
	if (!s || !*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_'))
			return false;
	return true;
}

struct pvk_bench *pvk_bench_open(const char *name)
{
	const char *build = getenv("PVK_BUILD");
	struct pvk_bench *b;

	if (!bench_name_ok(name)) {
		errno = EINVAL;
		return NULL;
	}
	if (!build || !*build)
		build = "build";
	b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->others_cpu = -1;
	b->name = strdup(name);
	if (!b->name)
		goto free_bench;
	if (asprintf(&b->dir, "%s/bench", build) < 0)
		goto free_name;
	if (asprintf(&b->json_path, "%s/%s.json", b->dir, name) < 0)
		goto free_dir;
	return b;

free_dir:
	free(b->dir);
free_name:
	free(b->name);
free_bench:
	free(b);
	errno = ENOMEM;
	return NULL;
}

const char *pvk_bench_json_path(const struct pvk_bench *b)
{
	return b->json_path;
}

void pvk_bench_set_load(struct pvk_bench *b, double others_cpu)
{
	b->others_cpu = others_cpu;
}

static void bench_case_free(struct pvk_bench_case *c)
{
	free(c->name);
	free(c->metric);
	free(c->unit);
	free(c->baseline_name);
}

int pvk_bench_case(struct pvk_bench *b, const char *name, const char *metric,
		   const char *unit, double value, const char *baseline_name,
		   double baseline_value)
{
	struct pvk_bench_case *c;

	if (!b || !name || !metric || !unit)
		return -EINVAL;
	if (b->nr == b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 16;
		void *p = realloc(b->cases, cap * sizeof(*b->cases));

		if (!p)
			return -ENOMEM;
		b->cases = p;
		b->cap = cap;
	}
	c = &b->cases[b->nr];
	*c = (struct pvk_bench_case){
		.name = strdup(name),
		.metric = strdup(metric),
		.unit = strdup(unit),
		.baseline_name = baseline_name ? strdup(baseline_name) : NULL,
		.value = value,
		.baseline_value = baseline_value,
		.others_cpu = b->others_cpu,
	};
	if (!c->name || !c->metric || !c->unit ||
	    (baseline_name && !c->baseline_name)) {
		bench_case_free(c);
		return -ENOMEM;
	}
	b->nr++;
	return 0;
}

static bool bench_has_ratio(const struct pvk_bench_case *c)
{
	return c->baseline_name && c->baseline_value != 0 &&
	       isfinite(c->value) && isfinite(c->baseline_value);
}

/* Three significant digits, as a reader compares them. */
static void bench_fmt(char *buf, size_t len, double v)
{
	if (!isfinite(v))
		snprintf(buf, len, "-");
	else if (fabs(v) >= 100 || v == floor(v))
		snprintf(buf, len, "%.0f", v);
	else if (fabs(v) >= 10)
		snprintf(buf, len, "%.1f", v);
	else
		snprintf(buf, len, "%.3g", v);
}

static void bench_print(const struct pvk_bench *b)
{
	size_t i, wn = 4, wb = 8, loaded = 0;

	for (i = 0; i < b->nr; i++) {
		size_t n = strlen(b->cases[i].name) +
			   strlen(b->cases[i].metric) + 1;

		if (n > wn)
			wn = n;
		if (b->cases[i].baseline_name &&
		    strlen(b->cases[i].baseline_name) > wb)
			wb = strlen(b->cases[i].baseline_name);
	}
	printf("%-*s  %10s %-7s  %-*s %10s  %7s  %s\n", (int)wn, "case",
	       "value", "unit", (int)wb, "baseline", "(value)", "ratio",
	       "others' CPU");
	for (i = 0; i < b->nr; i++) {
		const struct pvk_bench_case *c = &b->cases[i];
		char name[512], val[32], bval[32] = "", ratio[32] = "",
					 load[48] = "";

		snprintf(name, sizeof(name), "%s %s", c->name, c->metric);
		bench_fmt(val, sizeof(val), c->value);
		if (c->baseline_name)
			bench_fmt(bval, sizeof(bval), c->baseline_value);
		if (bench_has_ratio(c))
			snprintf(ratio, sizeof(ratio), "%.2fx",
				 c->value / c->baseline_value);
		if (c->others_cpu >= 0) {
			bool hot = c->others_cpu > PVK_BENCH_LOADED_CPUS;

			snprintf(load, sizeof(load), "%.2f%s", c->others_cpu,
				 hot ? "  LOADED" : "");
			loaded += hot;
		}
		printf("%-*s  %10s %-7s  %-*s %10s  %7s  %s\n", (int)wn, name,
		       val, c->unit, (int)wb,
		       c->baseline_name ? c->baseline_name : "-", bval, ratio,
		       load);
	}
	if (loaded)
		printf("note: other processes used more than %.2f CPU during "
		       "%zu case(s) marked LOADED; their figures are not "
		       "representative of an idle machine.\n",
		       PVK_BENCH_LOADED_CPUS, loaded);
}

void pvk_bench_json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

static void bench_json_num(FILE *f, double v)
{
	if (isfinite(v))
		fprintf(f, "%.6g", v);
	else
		fputs("null", f);
}

static int bench_write_json(const struct pvk_bench *b)
{
	char *tmp = NULL;
	FILE *f;
	size_t i;
	int rc = 0;

	/* $PVK_BUILD, then $PVK_BUILD/bench: a fresh tree has neither. */
	tmp = strdup(b->dir);
	if (!tmp)
		return -ENOMEM;
	*strrchr(tmp, '/') = '\0';
	if (*tmp && mkdir(tmp, 0777) < 0 && errno != EEXIST)
		rc = -errno;
	free(tmp);
	tmp = NULL;
	if (rc)
		return rc;
	if (mkdir(b->dir, 0777) < 0 && errno != EEXIST)
		return -errno;
	if (asprintf(&tmp, "%s.tmp", b->json_path) < 0)
		return -ENOMEM;
	f = fopen(tmp, "w");
	if (!f) {
		rc = -errno;
		goto free_tmp;
	}
	fputs("[\n", f);
	for (i = 0; i < b->nr; i++) {
		const struct pvk_bench_case *c = &b->cases[i];

		fputs("  {\"name\": ", f);
		pvk_bench_json_str(f, c->name);
		fputs(", \"metric\": ", f);
		pvk_bench_json_str(f, c->metric);
		fputs(", \"unit\": ", f);
		pvk_bench_json_str(f, c->unit);
		fputs(", \"value\": ", f);
		bench_json_num(f, c->value);
		fputs(", \"baseline\": ", f);
		if (c->baseline_name) {
			fputs("{\"name\": ", f);
			pvk_bench_json_str(f, c->baseline_name);
			fputs(", \"value\": ", f);
			bench_json_num(f, c->baseline_value);
			fputs("}", f);
		} else {
			fputs("null", f);
		}
		fputs(", \"ratio\": ", f);
		bench_json_num(f, bench_has_ratio(c) ?
					  c->value / c->baseline_value :
					  NAN);
		fputs(", \"others_cpu\": ", f);
		bench_json_num(f, c->others_cpu >= 0 ? c->others_cpu : NAN);
		fprintf(f, "}%s\n", i + 1 < b->nr ? "," : "");
	}
	fputs("]\n", f);
	if (ferror(f))
		rc = -EIO;
	if (fclose(f) && !rc)
		rc = -errno;
	if (!rc && rename(tmp, b->json_path) < 0)
		rc = -errno;
	if (rc)
		unlink(tmp);
free_tmp:
	free(tmp);
	return rc;
}

int pvk_bench_close(struct pvk_bench *b)
{
	size_t i;
	int rc;

	if (!b)
		return 0;
	bench_print(b);
	rc = bench_write_json(b);
	if (rc)
		fprintf(stderr, "bench %s: cannot write %s: %s\n", b->name,
			b->json_path, strerror(-rc));
	else
		printf("results: %s\n", b->json_path);
	for (i = 0; i < b->nr; i++)
		bench_case_free(&b->cases[i]);
	free(b->cases);
	free(b->json_path);
	free(b->dir);
	free(b->name);
	free(b);
	return rc;
}

static int bench_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

uint64_t pvk_bench_percentile(const uint64_t *sorted, size_t n, double pct)
{
	double rank;
	size_t k;

	if (!n)
		return 0;
	/* Nearest rank: the smallest sample with pct% at or below it. */
	rank = ceil(pct / 100.0 * (double)n);
	k = rank < 1 ? 0 : (size_t)rank - 1;
	return sorted[k < n ? k : n - 1];
}

int pvk_bench_stats(uint64_t *ns, size_t n, struct pvk_bench_stats *st)
{
	double sum = 0;
	size_t i;

	if (!n)
		return -EINVAL;
	qsort(ns, n, sizeof(*ns), bench_cmp_u64);
	for (i = 0; i < n; i++)
		sum += (double)ns[i];
	*st = (struct pvk_bench_stats){
		.n = n,
		.min = ns[0],
		.p50 = pvk_bench_percentile(ns, n, 50),
		.p99 = pvk_bench_percentile(ns, n, 99),
		.p999 = pvk_bench_percentile(ns, n, 99.9),
		.max = ns[n - 1],
		.mean = sum / (double)n,
	};
	return 0;
}

/* Ticks all CPUs spent not idle: user nice system (idle iowait) irq
 * softirq steal.  Steal counts: it is CPU another tenant took from us. */
static uint64_t bench_busy_ticks(void)
{
	unsigned long long v[8] = { 0 };
	FILE *f = fopen("/proc/stat", "r");
	int n;

	if (!f)
		return 0;
	n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
		   &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
	fclose(f);
	if (n < 4)
		return 0;
	/* user, nice, system, steal; not irq and softirq, which the
	 * benchmark's own I/O causes. */
	return v[0] + v[1] + v[2] + v[7];
}

/* CPU seconds of the processes in $PVK_BENCH_PEERS ("PID PID ..."): the
 * other half of a benchmark (a backend daemon), counted as ours. */
static double bench_peers_s(void)
{
	const char *e = getenv("PVK_BENCH_PEERS");
	double hz = (double)sysconf(_SC_CLK_TCK), sum = 0;
	char path[64], buf[1024], *p, *end;
	unsigned long long ut, st;
	long pid;
	FILE *f;
	size_t n;

	while (e && *e && hz > 0) {
		pid = strtol(e, &end, 10);
		if (end == e)
			break;
		e = end;
		snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
		f = fopen(path, "r");
		if (!f)
			continue;
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = 0;
		/* After "(comm) ": state, then utime and stime are the
		 * 12th and 13th fields. */
		p = strrchr(buf, ')');
		if (p && sscanf(p + 2,
				"%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
				"%llu %llu",
				&ut, &st) == 2)
			sum += (double)(ut + st) / hz;
	}
	return sum;
}

static double bench_tv_s(const struct timeval *a, const struct timeval *b)
{
	return (double)(b->tv_sec - a->tv_sec) +
	       (double)(b->tv_usec - a->tv_usec) / 1e6;
}

static double bench_rusage_s(const struct rusage *a, const struct rusage *b)
{
	return bench_tv_s(&a->ru_utime, &b->ru_utime) +
	       bench_tv_s(&a->ru_stime, &b->ru_stime);
}

void pvk_bench_load_begin(struct pvk_bench_load *l)
{
	getrusage(RUSAGE_SELF, &l->self);
	getrusage(RUSAGE_CHILDREN, &l->children);
	l->busy_ticks = bench_busy_ticks();
	l->peers_s = bench_peers_s();
	l->wall_ns = pvk_bench_now_ns();
}

double pvk_bench_load_end(const struct pvk_bench_load *l)
{
	struct rusage self, children;
	uint64_t busy = bench_busy_ticks(), wall = pvk_bench_now_ns();
	double hz = (double)sysconf(_SC_CLK_TCK), ours, all, secs;

	getrusage(RUSAGE_SELF, &self);
	getrusage(RUSAGE_CHILDREN, &children);
	if (!busy || !l->busy_ticks || hz <= 0 ||
	    wall < l->wall_ns + PVK_BENCH_LOAD_MIN_MS * 1000000ull)
		return -1;
	secs = (double)(wall - l->wall_ns) / 1e9;
	all = (double)(busy - l->busy_ticks) / hz;
	ours = bench_rusage_s(&l->self, &self) +
	       bench_rusage_s(&l->children, &children) +
	       (bench_peers_s() - l->peers_s);
	/* /proc/stat ticks are coarse (1/HZ per CPU): never below 0, never
	 * above the CPUs there are. */
	if (all <= ours)
		return 0;
	return fmin((all - ours) / secs, (double)sysconf(_SC_NPROCESSORS_ONLN));
}

double pvk_bench_idle_check(unsigned int ms)
{
	struct pvk_bench_load l;
	struct timespec ts = { .tv_sec = ms / 1000,
			       .tv_nsec = (long)(ms % 1000) * 1000000 };

	pvk_bench_load_begin(&l);
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	return pvk_bench_load_end(&l);
}
