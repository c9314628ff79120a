// SPDX-License-Identifier: MIT
/*
 * bench-hv: notification round trip between two simulated domains (a
 * grant-mapped page and an event channel, libxen semantics on pvkit-simd)
 * against the floor: a raw eventfd ping-pong between two processes,
 * measured in the same run.  Both sides block between messages; nothing
 * is pinned.  Two simulated cases: a thread blocking in
 * xenevtchn_pending() (the futex path: one system call to wait, one to
 * wake, like the floor), and an event loop polling the handle's fd first
 * (one more system call per side: the pollable-fd contract's cost).
 *
 *   bench-hv [--quick] [--count N]
 *
 * Uses the simulator in $PVKIT_SIM_DIR if one runs there, else starts a
 * private one (and stops it).  The two domains are `pvkit domain create`
 * children running this program in the --role back / --role front modes.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <xenstore.h>

#include <pvkit/sim.h>

#include "../hypercall/sim/simc.h"
#include "bench.h"

#define WARMUP_DIV 10 /* warm-up round trips: count / 10 */

static void die(const char *what)
{
	fprintf(stderr, "bench-hv: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* The floor: two processes, two eventfds, blocking reads. */
static int eventfd_rtt(uint64_t *ns, size_t count)
{
	int ping = eventfd(0, EFD_CLOEXEC), pong = eventfd(0, EFD_CLOEXEC);
	size_t warm = count / WARMUP_DIV, i;
	uint64_t v = 1;
	pid_t pid;

	if (ping < 0 || pong < 0)
		die("eventfd");
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		for (i = 0; i < warm + count; i++) {
			if (read(ping, &v, sizeof(v)) != sizeof(v) ||
			    write(pong, &v, sizeof(v)) != sizeof(v))
				_exit(1);
		}
		_exit(0);
	}
	for (i = 0; i < warm + count; i++) {
		uint64_t t0 = pvk_bench_now_ns();

		if (write(ping, &v, sizeof(v)) != sizeof(v) ||
		    read(pong, &v, sizeof(v)) != sizeof(v))
			die("eventfd ping-pong");
		if (i >= warm)
			ns[i - warm] = pvk_bench_now_ns() - t0;
	}
	waitpid(pid, NULL, 0);
	close(ping);
	close(pong);
	return 0;
}

struct page {
	volatile uint64_t ping, pong;
};

/* "poll" mode: an event loop polls the handle's fd, then takes the
 * event (what xenstored and fd-driven drivers do).  Otherwise a thread
 * dedicated to its channel blocks in pending(), as on Xen a blocking
 * read() of /dev/xen/evtchn does. */
static bool poll_mode;

static void wait_event(xenevtchn_handle *xce)
{
	int port;

	if (poll_mode) {
		struct pollfd pfd = { .fd = pvk_simx_evtchn_fd(xce),
				      .events = POLLIN };

		if (poll(&pfd, 1, 30000) != 1)
			die("no event within 30 s");
	}
	port = pvk_simx_evtchn_pending(xce);

	if (port < 0 || pvk_simx_evtchn_unmask(xce, (evtchn_port_t)port) < 0)
		die("pending/unmask");
}

static char *wait_node(struct xs_handle *xs, const char *path)
{
	unsigned int len;
	char *v;
	int i;

	for (i = 0; i < 3000; i++) {
		v = xs_read(xs, XBT_NULL, path, &len);
		if (v && len)
			return v;
		free(v);
		usleep(10000);
	}
	errno = ETIMEDOUT;
	die(path);
	return NULL;
}

/* Guest "back": publish an inbox, map the front's page, answer. */
static int role_back(void)
{
	struct xs_handle *xs = xs_open(0);
	struct pvk_sim *sim = pvk_simc_self();
	uint32_t me, fe, ref, port;
	struct xs_permissions inbox[1], state[1];
	xengnttab_handle *xgt;
	xenevtchn_handle *xce;
	struct page *pg;
	char path[96], *v;
	int lport;

	if (!xs || !sim)
		die("xenstore/simulator");
	me = pvk_sim_domid(sim);
	inbox[0] = (struct xs_permissions){ me, XS_PERM_READ | XS_PERM_WRITE };
	state[0] = (struct xs_permissions){ me, XS_PERM_READ };
	snprintf(path, sizeof(path), "/local/domain/%u/data/bench", me);
	if (!xs_write(xs, XBT_NULL, path, "", 0) ||
	    !xs_set_permissions(xs, XBT_NULL, path, inbox, 1))
		die("inbox");
	v = wait_node(xs, path);
	if (sscanf(v, "%u %u %u", &fe, &ref, &port) != 3)
		die("inbox contents");
	free(v);
	xgt = pvk_simx_gnttab_open(NULL, 0);
	xce = pvk_simx_evtchn_open(NULL, 0);
	if (!xgt || !xce)
		die("open");
	pg = pvk_simx_gnttab_map_grant_ref(xgt, fe, ref,
					   PROT_READ | PROT_WRITE);
	lport = pvk_simx_evtchn_bind_interdomain(xce, fe, port);
	if (!pg || lport < 0)
		die("map/bind");
	snprintf(path, sizeof(path), "/local/domain/%u/data/bench-state", me);
	if (!xs_write(xs, XBT_NULL, path, "bound", 5) ||
	    !xs_set_permissions(xs, XBT_NULL, path, state, 1))
		die("state");
	for (;;) {
		uint64_t p;

		wait_event(xce);
		p = __atomic_load_n(&pg->ping, __ATOMIC_ACQUIRE);
		if (p == UINT64_MAX)
			break;
		__atomic_store_n(&pg->pong, p, __ATOMIC_RELEASE);
		pvk_simx_evtchn_notify(xce, (evtchn_port_t)lport);
	}
	pvk_simx_gnttab_unmap(xgt, pg, 1);
	pvk_simx_evtchn_close(xce);
	pvk_simx_gnttab_close(xgt);
	xs_close(xs);
	return 0;
}

/* Guest "front": share a page, time each ping until its pong. */
static int role_front(uint32_t be, size_t count, const char *out)
{
	struct xs_handle *xs = xs_open(0);
	struct pvk_sim *sim = pvk_simc_self();
	size_t warm = count / WARMUP_DIV, i;
	xengntshr_handle *xgs;
	xenevtchn_handle *xce;
	uint64_t *ns;
	struct page *pg;
	char path[96], val[64];
	uint32_t ref;
	int port;
	FILE *f;

	ns = calloc(count, sizeof(*ns));
	if (!xs || !sim || !ns)
		die("xenstore/simulator");
	xgs = pvk_simx_gntshr_open(NULL, 0);
	xce = pvk_simx_evtchn_open(NULL, 0);
	if (!xgs || !xce)
		die("open");
	pg = pvk_simx_gntshr_share_pages(xgs, be, 1, &ref, 1);
	port = pvk_simx_evtchn_bind_unbound_port(xce, be);
	if (!pg || port < 0)
		die("share/alloc");
	snprintf(path, sizeof(path), "/local/domain/%u/data/bench", be);
	snprintf(val, sizeof(val), "%u %u %d", pvk_sim_domid(sim), ref, port);
	/* The back creates its inbox after its domain exists: retry. */
	for (i = 0; !xs_write(xs, XBT_NULL, path, val, strlen(val)); i++) {
		if (i == 3000 || (errno != EACCES && errno != ENOENT))
			die("inbox write");
		usleep(10000);
	}
	snprintf(path, sizeof(path), "/local/domain/%u/data/bench-state", be);
	free(wait_node(xs, path));
	for (i = 1; i <= warm + count; i++) {
		uint64_t t0 = pvk_bench_now_ns();

		__atomic_store_n(&pg->ping, i, __ATOMIC_RELEASE);
		pvk_simx_evtchn_notify(xce, (evtchn_port_t)port);
		wait_event(xce);
		if (__atomic_load_n(&pg->pong, __ATOMIC_ACQUIRE) != i) {
			errno = EPROTO;
			die("pong out of step");
		}
		if (i > warm)
			ns[i - warm - 1] = pvk_bench_now_ns() - t0;
	}
	__atomic_store_n(&pg->ping, UINT64_MAX, __ATOMIC_RELEASE);
	pvk_simx_evtchn_notify(xce, (evtchn_port_t)port);
	f = fopen(out, "we");
	if (!f || fwrite(ns, sizeof(*ns), count, f) != count || fclose(f))
		die(out);
	free(ns);
	xs_close(xs);
	return 0;
}

static int run(const char *cmd)
{
	int st = system(cmd);

	return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

static int sim_rtt(const char *self, uint64_t *ns, size_t count,
		   const char *mode)
{
	char pvkit[PATH_MAX], cmd[3 * PATH_MAX], line[256], out[PATH_MAX];
	char tmpdir[] = "/tmp/pvk-bench-hv.XXXXXX";
	bool own = false;
	struct pvk_sim *sim;
	uint32_t be;
	pid_t back;
	int rc;

	snprintf(pvkit, sizeof(pvkit), "%s", self);
	*strrchr(pvkit, '/') = 0;
	strcat(pvkit, "/../bin/pvkit");
	if (pvk_sim_open(&sim, NULL) == 0) {
		pvk_sim_close(sim);
	} else {
		if (!mkdtemp(tmpdir))
			die("mkdtemp");
		setenv("PVKIT_SIM_DIR", tmpdir, 1);
		snprintf(cmd, sizeof(cmd), "%s sim start >/dev/null", pvkit);
		if (run(cmd))
			die("pvkit sim start");
		own = true;
	}
	/* Both domains' supervisors are our children (like the floor's
	 * processes): the same scheduling group, and their CPU time counts
	 * as ours in the load accounting once waited for. */
	snprintf(line, sizeof(line), "hvbench-back-%d", (int)getpid());
	back = fork();
	if (back < 0)
		die("fork");
	if (back == 0) {
		execl(pvkit, "pvkit", "domain", "create", line, "--", self,
		      "--role", "back", mode, (char *)NULL);
		_exit(127);
	}
	if (pvk_sim_open(&sim, NULL) < 0)
		die("simulator");
	for (rc = 0; pvk_sim_domain_find(sim, line, &be) < 0; rc++) {
		if (rc == 3000)
			die("back domain");
		usleep(10000);
	}
	pvk_sim_close(sim);
	snprintf(out, sizeof(out), "%s/hvbench-%d.samples",
		 getenv("PVKIT_SIM_DIR") ? getenv("PVKIT_SIM_DIR") : "/tmp",
		 (int)getpid());
	snprintf(
		cmd, sizeof(cmd),
		"%s domain create hvbench-front-%d -- %s --role front %u %zu %s "
		"%s",
		pvkit, (int)getpid(), self, be, count, out, mode);
	rc = run(cmd);
	waitpid(back, NULL, 0);
	if (rc == 0) {
		FILE *f = fopen(out, "re");

		if (!f || fread(ns, sizeof(*ns), count, f) != count)
			rc = 1;
		if (f)
			fclose(f);
	}
	unlink(out);
	if (own) {
		snprintf(cmd, sizeof(cmd), "%s sim stop >/dev/null; rm -rf %s",
			 pvkit, tmpdir);
		run(cmd);
	}
	return rc ? -EIO : 0;
}

static void record(struct pvk_bench *b, const char *name,
		   const struct pvk_bench_stats *st, const char *base,
		   const struct pvk_bench_stats *bst)
{
	char n[96], bn[96];

	snprintf(n, sizeof(n), "%s.p50", name);
	snprintf(bn, sizeof(bn), "%s.p50", base ? base : "");
	pvk_bench_case(b, n, "latency", "ns", (double)st->p50, base ? bn : NULL,
		       bst ? (double)bst->p50 : 0);
	snprintf(n, sizeof(n), "%s.p99", name);
	snprintf(bn, sizeof(bn), "%s.p99", base ? base : "");
	pvk_bench_case(b, n, "latency", "ns", (double)st->p99, base ? bn : NULL,
		       bst ? (double)bst->p99 : 0);
}

int main(int argc, char **argv)
{
	struct pvk_bench_stats sfloor, ssim;
	struct pvk_bench_load load;
	size_t count = 100000;
	struct pvk_bench *b;
	char self[PATH_MAX];
	uint64_t *ns;
	ssize_t n;
	int i;

	if (argc >= 4 && !strcmp(argv[1], "--role")) {
		/* --role back MODE | --role front BACKEND COUNT OUT MODE */
		poll_mode = !strcmp(argv[argc - 1], "poll");
		if (!strcmp(argv[2], "back") && argc == 4)
			return role_back();
		if (!strcmp(argv[2], "front") && argc == 7)
			return role_front((uint32_t)strtoul(argv[3], NULL, 10),
					  strtoul(argv[4], NULL, 10), argv[5]);
		fprintf(stderr, "bench-hv: bad --role arguments\n");
		return 2;
	}
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick"))
			count = 10000;
		else if (!strcmp(argv[i], "--count") && i + 1 < argc)
			count = strtoul(argv[++i], NULL, 10);
		else {
			fprintf(stderr,
				"usage: bench-hv [--quick] [--count N]\n");
			return 2;
		}
	}
	if (count < 100)
		count = 100;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0)
		die("/proc/self/exe");
	self[n] = 0;
	ns = calloc(count, sizeof(*ns));
	b = pvk_bench_open("hv");
	if (!ns || !b)
		die("setup");
	printf("bench-hv: %zu round trips per case; others' CPU use before: "
	       "%.2f\n",
	       count, pvk_bench_idle_check(500));

	pvk_bench_load_begin(&load);
	eventfd_rtt(ns, count);
	pvk_bench_set_load(b, pvk_bench_load_end(&load));
	pvk_bench_stats(ns, count, &sfloor);
	record(b, "rtt.eventfd", &sfloor, NULL, NULL);

	pvk_bench_load_begin(&load);
	if (sim_rtt(self, ns, count, "block") < 0) {
		fprintf(stderr, "bench-hv: the simulated case failed\n");
		pvk_bench_close(b);
		return 1;
	}
	pvk_bench_set_load(b, pvk_bench_load_end(&load));
	pvk_bench_stats(ns, count, &ssim);
	record(b, "rtt.sim-grant-evtchn", &ssim, "rtt.eventfd", &sfloor);

	/* The same through the handles' fds: poll, then pending(). */
	pvk_bench_load_begin(&load);
	if (sim_rtt(self, ns, count, "poll") < 0) {
		fprintf(stderr, "bench-hv: the simulated case failed\n");
		pvk_bench_close(b);
		return 1;
	}
	pvk_bench_set_load(b, pvk_bench_load_end(&load));
	pvk_bench_stats(ns, count, &ssim);
	record(b, "rtt.sim-grant-evtchn-polled", &ssim, "rtt.eventfd", &sfloor);
	free(ns);
	return pvk_bench_close(b) ? 1 : 0;
}
