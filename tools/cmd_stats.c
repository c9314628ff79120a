/* SPDX-License-Identifier: MIT */
/*
 * pvkit stats: per-device counters and the latency histogram of the
 * running pvkit-backd, read from its control socket (pvkit/blkback.h,
 * pvk_blkback_control_path).  The daemon's answer is line-oriented text;
 * this command prints it as tables, or verbatim with --raw.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <pvkit/blkback.h>

#include "cmd.h"
#include "devcmd.h"

static bool on_xen(void)
{
	char buf[8] = "";
	FILE *f = fopen("/sys/hypervisor/type", "r");

	if (!f)
		return false;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	return !strncmp(buf, "xen", 3);
}

static FILE *connect_backd(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return NULL;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return NULL;
	}
	return fdopen(fd, "r");
}

/* "key=value" from a space-separated line, or NULL. */
static const char *field(const char *line, const char *key, char *buf,
			 size_t len)
{
	size_t kl = strlen(key);
	const char *p = line;

	while ((p = strstr(p, key))) {
		if ((p == line || p[-1] == ' ') && p[kl] == '=') {
			size_t n = strcspn(p + kl + 1, " \n");

			if (n >= len)
				n = len - 1;
			memcpy(buf, p + kl + 1, n);
			buf[n] = '\0';
			return buf;
		}
		p += kl;
	}
	return NULL;
}

/*
 * One "latency <kind> unit=us count=N p50<=.. ... lo-hius:n ..." line:
 * the percentiles, then the buckets folded into powers of two as bars.
 */
static void print_hist(const char *line)
{
	uint64_t lo, hi, n, oct[64] = { 0 }, max = 0;
	char kind[16], a[24], b[24], c[24], d[24], e[24];
	const char *p;
	int k, i, top = -1, bot = 64;

	if (sscanf(line, "latency %15s", kind) != 1)
		return;
	printf("  %s latency, us (taken off the ring -> response on it): "
	       "%s requests, p50 <= %s, p90 <= %s, p99 <= %s, p99.9 <= %s\n",
	       kind, field(line, "count", a, sizeof(a)) ?: "?",
	       field(line, "p50<", b, sizeof(b)) ?: "?",
	       field(line, "p90<", c, sizeof(c)) ?: "?",
	       field(line, "p99<", d, sizeof(d)) ?: "?",
	       field(line, "p99.9<", e, sizeof(e)) ?: "?");
	for (p = line; (p = strchr(p, ' ')); p++) {
		if (sscanf(p, " %" SCNu64 "-%" SCNu64 "us:%" SCNu64, &lo, &hi,
			   &n) != 3)
			continue;
		i = lo ? 63 - __builtin_clzll(lo) + 1 : 0;
		if (i > 63)
			i = 63;
		oct[i] += n;
		max = oct[i] > max ? oct[i] : max;
		top = i > top ? i : top;
		bot = i < bot ? i : bot;
	}
	for (i = bot; i <= top; i++) {
		printf("    %8" PRIu64 " - %-8" PRIu64 " us %10" PRIu64 " ",
		       i ? (uint64_t)1 << (i - 1) : 0, (uint64_t)1 << i,
		       oct[i]);
		for (k = 0; max && k < (int)(40 * oct[i] / max); k++)
			putchar('#');
		putchar('\n');
	}
}

static void pretty(FILE *in)
{
	char line[4096], a[64], b[64], c[64], d[64], e[64], f[64];
	char g[64], h[64], i[64], j[64], name[64], state[32];
	int devices = 0, lat = 0;
	bool vif = false;

	while (fgets(line, sizeof(line), in)) {
		if (sscanf(line, "device vif %63s %31s", name, state) == 2) {
			/* netback's: no latency histogram. */
			if (devices && !lat && !vif)
				printf("  (no completed requests)\n");
			vif = true;
			devices++;
			printf("vif %s  %s  tap=%s bridge=%s mac=%s queues=%s\n",
			       name, state,
			       field(line, "tap", a, sizeof(a)) ?: "-",
			       field(line, "bridge", b, sizeof(b)) ?: "-",
			       field(line, "mac", c, sizeof(c)) ?: "-",
			       field(line, "queues", d, sizeof(d)) ?: "-");
		} else if (vif && !strncmp(line, "counters ", 9)) {
			printf("  from the guest %s packets (%s bytes), dropped "
			       "%s  to the guest %s packets (%s bytes), dropped "
			       "%s\n",
			       field(line, "tx_packets", a, sizeof(a)) ?: "0",
			       field(line, "tx_bytes", b, sizeof(b)) ?: "0",
			       field(line, "tx_dropped", c, sizeof(c)) ?: "0",
			       field(line, "rx_packets", d, sizeof(d)) ?: "0",
			       field(line, "rx_bytes", e, sizeof(e)) ?: "0",
			       field(line, "rx_dropped", f, sizeof(f)) ?: "0");
			printf("  errors %s  broken %s  events taken %s  "
			       "notifications sent %s\n",
			       field(line, "errors", g, sizeof(g)) ?: "0",
			       field(line, "broken", h, sizeof(h)) ?: "0",
			       field(line, "events", i, sizeof(i)) ?: "0",
			       field(line, "notifies", j, sizeof(j)) ?: "0");
		} else if (sscanf(line, "device %63s %31s", name, state) == 2) {
			if (devices && !lat && !vif)
				printf("  (no completed requests)\n");
			vif = false;
			if (devices && !lat)
				printf("  (no completed requests)\n");
			lat = 0;
			devices++;
			printf("vbd %s  %s  %s mode=%s queues=%s ring-page-order=%s "
			       "persistent=%s indirect=%s\n",
			       name, state,
			       field(line, "params", a, sizeof(a)) ?: "-",
			       field(line, "mode", b, sizeof(b)) ?: "-",
			       field(line, "queues", c, sizeof(c)) ?: "-",
			       field(line, "ring-page-order", d, sizeof(d)) ?:
									      "-",
			       field(line, "persistent", e, sizeof(e)) ?: "-",
			       field(line, "indirect", f, sizeof(f)) ?: "-");
		} else if (!strncmp(line, "counters ", 9)) {
			printf("  reads %s (%s bytes)  writes %s (%s bytes)  "
			       "flushes %s  barriers %s  discards %s\n",
			       field(line, "reads", a, sizeof(a)) ?: "0",
			       field(line, "bytes_read", b, sizeof(b)) ?: "0",
			       field(line, "writes", c, sizeof(c)) ?: "0",
			       field(line, "bytes_written", d, sizeof(d)) ?:
									    "0",
			       field(line, "flushes", e, sizeof(e)) ?: "0",
			       field(line, "barriers", f, sizeof(f)) ?: "0",
			       field(line, "discards", g, sizeof(g)) ?: "0");
			printf("  errors %s  unsupported %s  in flight %s  "
			       "broken %s  events taken %s  notifications "
			       "sent %s\n",
			       field(line, "errors", h, sizeof(h)) ?: "0",
			       field(line, "eopnotsupp", i, sizeof(i)) ?: "0",
			       field(line, "inflight", j, sizeof(j)) ?: "0",
			       field(line, "broken", a, sizeof(a)) ?: "0",
			       field(line, "events", b, sizeof(b)) ?: "0",
			       field(line, "notifies", c, sizeof(c)) ?: "0");
		} else if (!strncmp(line, "latency ", 8)) {
			print_hist(line);
			lat++;
		}
	}
	if (devices && !lat && !vif)
		printf("  (no completed requests)\n");
	if (!devices)
		printf("pvkit-backd serves no devices\n");
}

/* A "key=value" token as a JSON member: numbers as numbers. */
static void json_kv(const char *tok, size_t len, bool *first)
{
	char k[64], v[512];
	const char *eq = memchr(tok, '=', len);
	size_t kl, vl, i;
	bool num;

	if (!eq || eq == tok)
		return;
	kl = (size_t)(eq - tok) < sizeof(k) - 1 ? (size_t)(eq - tok) :
						  sizeof(k) - 1;
	memcpy(k, tok, kl);
	k[kl] = 0;
	/* "p50<=12": the key is "p50_us" (a bound, in microseconds). */
	if (kl && k[kl - 1] == '<') {
		k[kl - 1] = 0;
		snprintf(k + kl - 1, sizeof(k) - kl + 1, "_us");
	}
	vl = len - (size_t)(eq + 1 - tok);
	vl = vl < sizeof(v) - 1 ? vl : sizeof(v) - 1;
	memcpy(v, eq + 1, vl);
	v[vl] = 0;
	for (i = 0, num = vl > 0 && vl < 20; i < vl && num; i++)
		num = v[i] >= '0' && v[i] <= '9';
	printf("%s", *first ? "" : ", ");
	*first = false;
	if (num) {
		printf("\"%s\": %s", k, v);
	} else {
		pvk_cmd_json_str(k, v, false);
	}
}

/* Every key=value token of @p, and "lo-hius:n" histogram buckets into
 * "buckets". */
static void json_tokens(const char *p)
{
	bool first = true, bfirst = true;
	uint64_t lo, hi, n;
	size_t len;

	for (; *p; p += len) {
		p += strspn(p, " \n");
		len = strcspn(p, " \n");
		if (!len)
			break;
		if (sscanf(p, "%" SCNu64 "-%" SCNu64 "us:%" SCNu64, &lo, &hi,
			   &n) == 3) {
			printf("%s%s[%" PRIu64 ", %" PRIu64 ", %" PRIu64 "]",
			       bfirst ? (first ? "\"buckets\": [" :
						 ", \"buckets\": [") :
					", ",
			       "", lo, hi, n);
			bfirst = false;
			continue;
		}
		if (!bfirst) {
			printf("]");
			bfirst = true;
			first = false;
		}
		json_kv(p, len, &first);
	}
	if (!bfirst)
		printf("]");
}

/*
 * The daemon's lines as JSON (README "Machine-readable output"): an array
 * with one object per device: "type" (vbd, vif), "device" ("<domid>/
 * <devid>"), "domain", "domain_name", "devid", "state", the device line's
 * key=value fields, "counters" {...} and, for a vbd, "latency" {"read":
 * {"count", "p50_us", ..., "buckets": [[lo_us, hi_us, n], ...]}, ...}.
 */
static void json_dump(FILE *in)
{
	char line[8192], name[64], state[32], type[8], kind[16], *sl;
	int devices = 0, lats = 0;
	bool open = false;
	const char *rest;
	struct pvk_hv *hv = NULL;

	if (pvk_hv_open(&hv, 0) < 0)
		hv = NULL;
	printf("[");
	while (fgets(line, sizeof(line), in)) {
		rest = NULL;
		if (sscanf(line, "device vif %63s %31s", name, state) == 2) {
			snprintf(type, sizeof(type), "vif");
			rest = line + strlen("device vif ");
		} else if (sscanf(line, "device %63s %31s", name, state) == 2) {
			snprintf(type, sizeof(type), "vbd");
			rest = line + strlen("device ");
		}
		if (rest) {
			char dom[16], *dn;

			if (open)
				printf("%s}", lats ? "}" : "");
			printf("%s{\"type\": \"%s\", ", devices++ ? ", " : "",
			       type);
			pvk_cmd_json_str("device", name, true);
			snprintf(dom, sizeof(dom), "%.*s",
				 (int)strcspn(name, "/"), name);
			sl = strchr(name, '/');
			printf("\"domain\": %s, \"devid\": %s, ",
			       dom[0] ? dom : "null", sl ? sl + 1 : "null");
			dn = hv ? pvk_dev_domain_name(hv, dom) : NULL;
			pvk_cmd_json_str("domain_name", dn, true);
			free(dn);
			pvk_cmd_json_str("state", state, false);
			/* the fields after name and state */
			rest += strlen(name);
			rest += strspn(rest, " ");
			rest += strlen(state);
			if (strchr(rest, '='))
				printf(", ");
			json_tokens(rest);
			open = true;
			lats = 0;
		} else if (open && !strncmp(line, "counters ", 9)) {
			printf(", \"counters\": {");
			json_tokens(line + 9);
			printf("}");
		} else if (open && sscanf(line, "latency %15s", kind) == 1) {
			printf("%s\"%s\": {",
			       lats++ ? "}, " : ", \"latency\": {", kind);
			json_tokens(line + 8 + strlen(kind));
		}
	}
	if (open)
		printf("%s}", lats ? "}}" : "");
	printf("]\n");
	if (hv)
		pvk_hv_close(hv);
}

static int cmd_show(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "raw", no_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ "control", required_argument, NULL, 's' },
		/* the old name, kept */
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	char path[256], buf[4096];
	const char *sock = NULL;
	bool raw = false, json = false;
	size_t n;
	FILE *in;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			raw = true;
			break;
		case 'j':
			json = true;
			break;
		case 's':
			sock = optarg;
			break;
		case 'h':
			printf("usage: pvkit stats show [--raw | --json] [--control PATH]\n");
			return 0;
		default:
			fprintf(stderr,
				"usage: pvkit stats show [--raw | --json] "
				"[--control PATH]\n");
			return 2;
		}
	}
	if (!sock) {
		/* pvkit's --dir (or $PVKIT_SIM_DIR) names the simulator. */
		if (!on_xen())
			setenv("PVKIT_SIM_DIR", pvk_cmd_sim_dir(), 0);
		if (pvk_blkback_control_path(path, sizeof(path), !on_xen()) < 0)
			return 1;
		sock = path;
	}
	in = connect_backd(sock);
	if (!in) {
		fprintf(stderr,
			"pvkit stats: %s: %s: is pvkit-backd running? (start it, "
			"or name its socket with --control (as pvkit-backd's); on the simulator "
			"--dir or PVKIT_SIM_DIR names the one to ask)\n",
			sock, strerror(errno));
		return 1;
	}
	if (raw) {
		while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
			fwrite(buf, 1, n, stdout);
	} else if (json) {
		json_dump(in);
	} else {
		pretty(in);
	}
	fclose(in);
	return 0;
}

static const struct pvk_cmd stats_cmds[] = {
	{ "show", "[--raw | --json] [--control PATH]",
	  "pvkit-backd's per-device counters and latency histogram", cmd_show },
	{ 0 },
};

static const struct pvk_cmd_group stats_group = {
	.name = "stats",
	.help = "counters of the running backends",
	.cmds = stats_cmds,
	/* `pvkit stats` and `pvkit stats --raw` show. */
	.default_cmd = "show",
};
PVK_CMD_GROUP(stats_group);
