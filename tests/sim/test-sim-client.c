// SPDX-License-Identifier: MIT
/*
 * test-sim-client: the guest- and dom0-side roles of the simulator's
 * integration tests (the scripts in tests/sim/), using libxen semantics (the sim
 * provider, as libpvkit-hv's xen backend does) and the real libxenstore.
 *
 *   test-sim-client                 self-contained: a private simulator,
 *                                   bad input to every call (exit 77 if
 *                                   the simulator cannot run here)
 *   test-sim-client ROLE [ARGS]     one role; see usage()
 *
 * Exit 0 when every check held; a failed check prints "FAIL: ..." and
 * exits 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <xenstore.h>

#include <pvkit/hv.h>
#include <pvkit/sim.h>

#include "../../hypercall/sim/simc.h"

static const char *role = "test-sim-client";

#define CHECK(cond, ...)                                      \
	do {                                                  \
		if (!(cond)) {                                \
			t_fail(__LINE__, #cond, __VA_ARGS__); \
		}                                             \
	} while (0)

static void t_fail(int line, const char *cond, const char *fmt, ...)
	__attribute__((format(printf, 3, 4), noreturn));
static void t_fail(int line, const char *cond, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "FAIL: %s (line %d, %s): ", role, line, cond);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " [errno %d %s]\n", errno, strerror(errno));
	exit(1);
}

static void t_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void t_say(const char *fmt, ...)
{
	va_list ap;

	printf("%s: ", role);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static struct xs_handle *t_xs(void)
{
	struct xs_handle *xs = xs_open(0);

	CHECK(xs, "xs_open (XENSTORED_PATH=%s)", getenv("XENSTORED_PATH"));
	return xs;
}

static uint32_t t_domid(void)
{
	struct pvk_sim *sim = pvk_simc_self();

	CHECK(sim, "connect to the simulator");
	return pvk_sim_domid(sim);
}

/* Block in pending() without polling the fd (the futex path), consume
 * and unmask. */
static int t_block_event(xenevtchn_handle *xce)
{
	int port = pvk_simx_evtchn_pending(xce);

	CHECK(port > 0, "pending");
	CHECK(pvk_simx_evtchn_unmask(xce, (evtchn_port_t)port) == 0, "unmask");
	return port;
}

/* Wait for an event on @xce (up to @ms), consume and unmask it. */
static int t_wait_event(xenevtchn_handle *xce, int ms)
{
	struct pollfd pfd = { .fd = pvk_simx_evtchn_fd(xce), .events = POLLIN };
	int port;

	if (poll(&pfd, 1, ms) <= 0)
		return -ETIMEDOUT;
	port = pvk_simx_evtchn_pending(xce);
	CHECK(port > 0, "pending");
	CHECK(pvk_simx_evtchn_unmask(xce, (evtchn_port_t)port) == 0, "unmask");
	return port;
}

/* Wait until @path reads non-empty; return the value (malloc'ed). */
static char *t_wait_node(struct xs_handle *xs, const char *path, int secs)
{
	unsigned int len;
	char **ev, *v;
	int i;

	CHECK(xs_watch(xs, path, "w"), "watch %s", path);
	for (i = 0; i < secs * 10; i++) {
		struct pollfd pfd = { .fd = xs_fileno(xs), .events = POLLIN };

		v = xs_read(xs, XBT_NULL, path, &len);
		if (v && len) {
			xs_unwatch(xs, path, "w");
			return v;
		}
		free(v);
		if (poll(&pfd, 1, 100) > 0) {
			ev = xs_read_watch(xs, &len);
			free(ev);
		}
	}
	t_fail(__LINE__, "timeout", "%s never appeared", path);
}

/* The shared page of the ping-pong. */
struct pp_page {
	volatile uint64_t ping, pong;
};

/* Backend side: publish an inbox, map the front's page, answer pings. */
static int role_pp_back(int argc, char **argv)
{
	struct xs_handle *xs = t_xs();
	uint32_t me = t_domid(), fe, ref, port;
	struct xs_permissions inbox_perms[1] = {
		{ me, XS_PERM_READ | XS_PERM_WRITE }
	};
	struct xs_permissions state_perms[1] = { { me, XS_PERM_READ } };
	xenevtchn_handle *xce;
	xengnttab_handle *xgt;
	struct pp_page *pg;
	char path[128], *v;
	uint64_t n = 0, events = 0;
	int lport;

	snprintf(path, sizeof(path), "/local/domain/%u/data/pp", me);
	CHECK(xs_write(xs, XBT_NULL, path, "", 0), "create inbox");
	CHECK(xs_set_permissions(xs, XBT_NULL, path, inbox_perms, 1),
	      "inbox perms");
	v = t_wait_node(xs, path, 30);
	CHECK(sscanf(v, "%u %u %u", &fe, &ref, &port) == 3, "inbox '%s'", v);
	free(v);
	xgt = pvk_simx_gnttab_open(NULL, 0);
	CHECK(xgt, "gnttab open");
	pg = pvk_simx_gnttab_map_grant_ref(xgt, fe, ref,
					   PROT_READ | PROT_WRITE);
	CHECK(pg, "map dom%u ref %u", fe, ref);
	xce = pvk_simx_evtchn_open(NULL, 0);
	CHECK(xce, "evtchn open");
	lport = pvk_simx_evtchn_bind_interdomain(xce, fe, port);
	CHECK(lport > 0, "bind to dom%u port %u", fe, port);
	snprintf(path, sizeof(path), "/local/domain/%u/data/pp-state", me);
	CHECK(xs_write(xs, XBT_NULL, path, "bound", 5), "state");
	CHECK(xs_set_permissions(xs, XBT_NULL, path, state_perms, 1),
	      "state perms");
	t_say("mapped dom%u ref %u, bound port %d", fe, ref, lport);
	for (;;) {
		uint64_t ping;

		CHECK(t_wait_event(xce, 30000) == lport, "event from front");
		events++;
		ping = __atomic_load_n(&pg->ping, __ATOMIC_ACQUIRE);
		if (ping == UINT64_MAX)
			break;
		CHECK(ping == n + 1, "ping %llu after %llu: lost or duplicated",
		      (unsigned long long)ping, (unsigned long long)n);
		n = ping;
		__atomic_store_n(&pg->pong, n, __ATOMIC_RELEASE);
		CHECK(pvk_simx_evtchn_notify(xce, (evtchn_port_t)lport) == 0,
		      "notify front");
	}
	t_say("answered %llu pings, %llu events", (unsigned long long)n,
	      (unsigned long long)events);
	CHECK(events == n + 1, "events %llu for %llu pings",
	      (unsigned long long)events, (unsigned long long)n);
	CHECK(pvk_simx_gnttab_unmap(xgt, pg, 1) == 0, "unmap");
	pvk_simx_evtchn_close(xce);
	pvk_simx_gnttab_close(xgt);
	xs_close(xs);
	return 0;
}

static int role_pp_front(int argc, char **argv)
{
	struct xs_handle *xs = t_xs();
	uint32_t me = t_domid(), be, ref;
	unsigned long n, i;
	xenevtchn_handle *xce;
	xengntshr_handle *xgs;
	struct pp_page *pg;
	char path[128], val[64], *v;
	int port;

	CHECK(argc == 3, "usage: pp-front BACKEND_DOMID COUNT");
	be = (uint32_t)strtoul(argv[1], NULL, 10);
	n = strtoul(argv[2], NULL, 10);
	xgs = pvk_simx_gntshr_open(NULL, 0);
	CHECK(xgs, "gntshr open");
	pg = pvk_simx_gntshr_share_pages(xgs, be, 1, &ref, 1);
	CHECK(pg, "share a page with dom%u", be);
	xce = pvk_simx_evtchn_open(NULL, 0);
	CHECK(xce, "evtchn open");
	port = pvk_simx_evtchn_bind_unbound_port(xce, be);
	CHECK(port > 0, "alloc unbound for dom%u", be);
	snprintf(path, sizeof(path), "/local/domain/%u/data/pp", be);
	snprintf(val, sizeof(val), "%u %u %d", me, ref, port);
	/* The back creates its inbox after its domain exists: retry. */
	for (i = 0; !xs_write(xs, XBT_NULL, path, val, strlen(val)); i++) {
		CHECK(i < 3000 && (errno == EACCES || errno == ENOENT),
		      "write %s (the back's inbox)", path);
		usleep(10000);
	}
	snprintf(path, sizeof(path), "/local/domain/%u/data/pp-state", be);
	v = t_wait_node(xs, path, 30);
	free(v);
	t_say("shared ref %u, port %d with dom%u; %lu round trips", ref, port,
	      be, n);
	for (i = 1; i <= n; i++) {
		__atomic_store_n(&pg->ping, i, __ATOMIC_RELEASE);
		CHECK(pvk_simx_evtchn_notify(xce, (evtchn_port_t)port) == 0,
		      "notify");
		CHECK(t_block_event(xce) == port, "ack %lu never came", i);
		CHECK(__atomic_load_n(&pg->pong, __ATOMIC_ACQUIRE) == i,
		      "pong %llu for ping %lu", (unsigned long long)pg->pong,
		      i);
	}
	__atomic_store_n(&pg->ping, UINT64_MAX, __ATOMIC_RELEASE);
	CHECK(pvk_simx_evtchn_notify(xce, (evtchn_port_t)port) == 0, "notify");
	t_say("%lu pings acknowledged, none lost", n);
	/* The back may still map it: the end of access is deferred. */
	CHECK(pvk_simx_gntshr_munmap(xgs, pg, 1) == 0, "end access");
	pvk_simx_evtchn_close(xce);
	pvk_simx_gntshr_close(xgs);
	xs_close(xs);
	return 0;
}

/* A guest that grants dom0 a page and an event channel, then waits to be
 * killed. */
static int role_grant_hold(int argc, char **argv)
{
	struct xs_handle *xs = t_xs();
	uint32_t me = t_domid(), ref, ref2;
	xengntshr_handle *xgs = pvk_simx_gntshr_open(NULL, 0);
	xenevtchn_handle *xce = pvk_simx_evtchn_open(NULL, 0);
	char path[128], val[64], *page, *page2;
	int port;

	CHECK(xgs && xce, "open");
	page = pvk_simx_gntshr_share_pages(xgs, 0, 1, &ref, 0);
	CHECK(page, "share with dom0");
	snprintf(page, 4096, "hello from domain %u", me);
	/* A second page dom0 only copies from, never maps. */
	page2 = pvk_simx_gntshr_share_pages(xgs, 0, 1, &ref2, 1);
	CHECK(page2, "share with dom0");
	strcpy(page2, "copy me");
	port = pvk_simx_evtchn_bind_unbound_port(xce, 0);
	CHECK(port > 0, "alloc unbound");
	snprintf(path, sizeof(path), "/local/domain/%u/data/hold", me);
	snprintf(val, sizeof(val), "%u %d %u", ref, port, ref2);
	CHECK(xs_write(xs, XBT_NULL, path, val, strlen(val)), "publish");
	t_say("granted ref %u (read-only) and port %d to dom0", ref, port);
	for (;;)
		pause();
}

/* dom0: map the holder's page, kill the holder, check Xen's rules. */
static int role_survive(int argc, char **argv)
{
	struct xs_handle *xs = t_xs();
	struct pvk_sim *sim = pvk_simc_self();
	struct pvk_sim_domain *doms;
	uint32_t g = 0, ref, ref2;
	xengnttab_grant_copy_segment_t seg;
	char copied[16] = "";
	int gport, lport, n, i, pid = 0;
	xengnttab_handle *xgt = pvk_simx_gnttab_open(NULL, 0);
	xenevtchn_handle *xce = pvk_simx_evtchn_open(NULL, 0);
	char path[128], *v, expect[64], **ev;
	unsigned int len, pins;
	uint16_t flags;
	const char *page;
	bool released = false;

	CHECK(argc == 2, "usage: survive NAME");
	CHECK(sim && xgt && xce, "open");
	CHECK(pvk_sim_domain_find(sim, argv[1], &g) == 0, "find %s", argv[1]);
	n = pvk_sim_domain_list(sim, &doms);
	for (i = 0; i < n; i++)
		if (doms[i].domid == g)
			pid = doms[i].pid;
	free(doms);
	CHECK(pid > 0, "supervisor of %s", argv[1]);
	snprintf(path, sizeof(path), "/local/domain/%u/data/hold", g);
	v = t_wait_node(xs, path, 30);
	CHECK(sscanf(v, "%u %d %u", &ref, &gport, &ref2) == 3, "hold '%s'", v);
	free(v);
	memset(&seg, 0, sizeof(seg));
	seg.source.foreign.domid = (uint16_t)g;
	seg.source.foreign.ref = ref2;
	seg.dest.virt = copied;
	seg.len = 8;
	seg.flags = GNTCOPY_source_gref;
	CHECK(pvk_simx_gnttab_grant_copy(xgt, 1, &seg) == 0 &&
		      seg.status == GNTST_okay && !strcmp(copied, "copy me"),
	      "copy from a live granter: status %d", seg.status);
	page = pvk_simx_gnttab_map_grant_ref(xgt, g, ref, PROT_READ);
	CHECK(page, "map dom%u ref %u", g, ref);
	snprintf(expect, sizeof(expect), "hello from domain %u", g);
	CHECK(!strcmp(page, expect), "page reads '%.40s'", page);
	errno = 0;
	CHECK(!pvk_simx_gnttab_map_grant_ref(xgt, g, ref,
					     PROT_READ | PROT_WRITE) &&
		      errno == EACCES,
	      "writable map of a read-only grant must fail with EACCES");
	lport = pvk_simx_evtchn_bind_interdomain(xce, g, (evtchn_port_t)gport);
	CHECK(lport > 0, "bind");
	CHECK(xs_watch(xs, "@releaseDomain", "rel"), "watch @releaseDomain");
	ev = xs_read_watch(xs, &len); /* the initial event */
	free(ev);

	t_say("killing domain %u (supervisor pid %d) with SIGKILL", g, pid);
	CHECK(kill(pid, SIGKILL) == 0, "kill");
	for (i = 0; i < 100 && !released; i++) {
		struct pollfd pfd = { .fd = xs_fileno(xs), .events = POLLIN };

		if (poll(&pfd, 1, 100) > 0) {
			ev = xs_read_watch(xs, &len);
			free(ev);
		}
		released = !xs_is_domain_introduced(xs, g);
	}
	CHECK(released, "@releaseDomain for %u never fired", g);
	snprintf(path, sizeof(path), "/local/domain/%u", g);
	errno = 0;
	v = xs_read(xs, XBT_NULL, path, &len);
	CHECK(!v && errno == ENOENT, "%s still exists", path);
	CHECK(!strcmp(page, expect), "mapping after death reads '%.40s'", page);
	CHECK(pvk_sim_grant_query(sim, g, ref, &flags, &pins) == 0,
	      "query dom%u ref %u", g, ref);
	CHECK((flags & GTF_reading) && pins == 1,
	      "entry of the dead granter: flags 0x%x pins %u", flags, pins);
	CHECK(pvk_simx_evtchn_notify(xce, (evtchn_port_t)lport) == 0,
	      "notify to a dead peer must be dropped without error");
	CHECK(pvk_simx_evtchn_notify(xce, (evtchn_port_t)lport) == 0, "again");
	/* Its unmapped grants died with it: a copy through the table we
	 * mapped before must not reach the dead domain's page. */
	seg.status = 0;
	CHECK(pvk_simx_gnttab_grant_copy(xgt, 1, &seg) == 0 &&
		      seg.status == GNTST_bad_gntref,
	      "copy from a dead granter's grant: status %d", seg.status);
	t_say("after death: page readable, entry flags 0x%x (in use), "
	      "notify dropped, %s gone",
	      flags, path);
	/* The zombie goes once the last mapping does. */
	CHECK(pvk_simx_gnttab_unmap(xgt, (void *)page, 1) == 0, "unmap");
	for (i = 0; i < 100; i++) {
		uint32_t d;

		n = pvk_sim_domain_list(sim, &doms);
		CHECK(n > 0, "list");
		for (d = 0; d < (uint32_t)n; d++)
			if (doms[d].domid == g)
				break;
		free(doms);
		if (d == (uint32_t)n)
			break;
		usleep(20000);
	}
	CHECK(i < 100, "domain %u still listed after its last unmap", g);
	t_say("domain %u reaped after the last unmap", g);
	pvk_simx_evtchn_close(xce);
	pvk_simx_gnttab_close(xgt);
	xs_close(xs);
	return 0;
}

static int role_eacces(int argc, char **argv)
{
	struct xs_handle *xs = t_xs();
	uint32_t me = t_domid();
	unsigned int len;
	char path[64], *v;

	CHECK(me != 0, "run me in a guest");
	errno = 0;
	CHECK(!xs_write(xs, XBT_NULL, "/local/domain/0/intruder", "x", 1) &&
		      errno == EACCES,
	      "a guest's write to dom0's node must fail with EACCES");
	errno = 0;
	v = xs_read(xs, XBT_NULL, "/local/domain/0/name", &len);
	CHECK(!v && errno == EACCES, "reading dom0's name");
	errno = 0;
	CHECK(!xs_introduce_domain(xs, 99, 0, 1) && errno == EACCES,
	      "XS_INTRODUCE from a guest");
	snprintf(path, sizeof(path), "/local/domain/%u/data/mine", me);
	CHECK(xs_write(xs, XBT_NULL, path, "ok", 2), "own node");
	v = xs_read(xs, XBT_NULL, "name", &len);
	CHECK(v, "relative read of own name");
	t_say("EACCES on dom0's nodes; own nodes writable; name '%s'", v);
	free(v);
	xs_close(xs);
	return 0;
}

/* A conflict between a transaction and a plain write: EAGAIN, then a
 * retried transaction commits. */
static int role_txn(int argc, char **argv)
{
	struct xs_handle *a = t_xs(), *b = t_xs();
	char path[64], *v;
	unsigned int len;
	xs_transaction_t t;
	bool ok;

	snprintf(path, sizeof(path), "/local/domain/%u/data/txn", t_domid());
	CHECK(xs_write(a, XBT_NULL, path, "0", 1), "init");
	t = xs_transaction_start(a);
	CHECK(t != XBT_NULL, "start");
	v = xs_read(a, t, path, &len);
	CHECK(v, "read in txn");
	free(v);
	CHECK(xs_write(a, t, path, "1", 1), "write in txn");
	CHECK(xs_write(b, XBT_NULL, path, "2", 1), "conflicting write");
	errno = 0;
	ok = xs_transaction_end(a, t, false);
	CHECK(!ok && errno == EAGAIN, "commit after a conflict must EAGAIN");
	t = xs_transaction_start(a);
	CHECK(t != XBT_NULL, "restart");
	v = xs_read(a, t, path, &len);
	CHECK(v && !strcmp(v, "2"), "read the other write");
	free(v);
	CHECK(xs_write(a, t, path, "3", 1), "write in txn");
	CHECK(xs_transaction_end(a, t, false), "retry commits");
	v = xs_read(b, XBT_NULL, path, &len);
	CHECK(v && !strcmp(v, "3"), "committed value");
	free(v);
	t_say("conflict -> EAGAIN, retry committed (domain %u)", t_domid());
	xs_close(a);
	xs_close(b);
	return 0;
}

/* Another running domain than @me (domain 0 for a guest), or
 * PVK_SIMP_NO_DOMID. */
static uint32_t t_other_domain(uint32_t me)
{
	struct pvk_sim_domain *doms;
	uint32_t other = PVK_SIMP_NO_DOMID;
	int n, i;

	if (me != 0)
		return 0;
	n = pvk_sim_domain_list(pvk_simc_self(), &doms);
	CHECK(n > 0, "domain list");
	for (i = 0; i < n; i++)
		if (doms[i].domid != me && !doms[i].dying)
			other = doms[i].domid;
	free(doms);
	return other;
}

/* Map one grant until its pin count is full: the next map is refused
 * with EBUSY (the 16-bit count used to wrap to 0 and clear the in-use bits
 * of a mapped entry), and the count is exact afterwards.  Raw requests:
 * 65535 client mappings would pass the kernel's max_map_count. */
static void t_pin_limit(xengntshr_handle *xgs, uint32_t me)
{
	struct pvk_sim *sim = pvk_simc_self();
	struct pvk_simp_req req = { .op = PVK_SIMP_GNT_MAP };
	struct pvk_simp_rep rep;
	uint32_t ref, i, n = 0;
	unsigned int pins;
	int fds[4], nfds, rc;
	uint16_t fl;
	char *page;

	page = pvk_simx_gntshr_share_pages(xgs, me, 1, &ref, 0);
	CHECK(page, "share for the pin limit");
	req.u.gnt.domid = me;
	req.u.gnt.count = PVK_SIMP_MAX_REFS;
	for (i = 0; i < PVK_SIMP_MAX_REFS; i++)
		req.u.gnt.refs[i] = ref;
	for (;;) {
		rc = pvk_simc_call(sim, &req, NULL, 0, &rep, fds, 4, &nfds);
		while (nfds > 0)
			close(fds[--nfds]);
		if (n + PVK_SIMP_MAX_REFS > UINT16_MAX)
			break;
		CHECK(rc == 0, "map %u..: %d", n, rc);
		n += PVK_SIMP_MAX_REFS;
	}
	CHECK(rc == -EBUSY, "a map past 65535 pins must fail with EBUSY: %d",
	      rc);
	CHECK(pvk_sim_grant_query(sim, me, ref, &fl, &pins) == 0 && pins == n &&
		      (fl & GTF_reading),
	      "after the refused map: pins %u (want %u), flags 0x%x", pins, n,
	      fl);
	req.op = PVK_SIMP_GNT_UNMAP;
	for (i = 0; i < n / PVK_SIMP_MAX_REFS; i++)
		CHECK(pvk_simc_call(sim, &req, NULL, 0, &rep, NULL, 0, NULL) ==
			      0,
		      "unmap");
	CHECK(pvk_sim_grant_query(sim, me, ref, &fl, &pins) == 0 && pins == 0 &&
		      !(fl & GTF_reading),
	      "all unmapped: pins %u flags 0x%x", pins, fl);
	CHECK(pvk_simx_gntshr_munmap(xgs, page, 1) == 0, "end");
}

/*
 * A grant copy in flight holds the entry as Xen's pin does: ending access
 * fails with EBUSY meanwhile, and gntalloc's deferred end waits for it.
 * The copy is played by hand: the grantee's copy pin (proto.h), raised as
 * copy_side() raises it.  It used to be ignored: access ended under the
 * copy, and the page could be granted anew while it was being written.
 */
static void t_copy_pin(xengntshr_handle *xgs, uint32_t me)
{
	struct pvk_sim *sim = pvk_simc_self();
	struct pvk_simp_req req = { .op = PVK_SIMP_GNT_TABLE };
	struct pvk_simp_rep rep;
	int fds[3], nfds = 0, i;
	unsigned int pins;
	uint16_t *cpins, fl;
	uint32_t ref;
	char *page;

	page = pvk_simx_gntshr_share_pages(xgs, me, 1, &ref, 1);
	CHECK(page, "share for the copy pin");
	req.u.gnt.domid = me;
	CHECK(pvk_simc_call(sim, &req, NULL, 0, &rep, fds, 3, &nfds) == 0 &&
		      nfds == 3,
	      "table");
	cpins = mmap(NULL, PVK_SIMP_COPY_PINS_SIZE, PROT_READ | PROT_WRITE,
		     MAP_SHARED, fds[1],
		     (off_t)PVK_SIMP_NR_GRANTS * PVK_SIMP_PAGE);
	CHECK(cpins != MAP_FAILED, "map the copy pins");
	while (nfds > 0)
		close(fds[--nfds]);
	__atomic_fetch_add(&cpins[ref], 1, __ATOMIC_SEQ_CST);

	memset(&req, 0, sizeof(req));
	req.op = PVK_SIMP_GNT_END;
	req.u.gnt.count = 1;
	req.u.gnt.refs[0] = ref;
	CHECK(pvk_simc_call(sim, &req, NULL, 0, &rep, NULL, 0, NULL) == -EBUSY,
	      "ending access under a copy must fail with EBUSY");
	CHECK(pvk_sim_grant_query(sim, me, ref, &fl, &pins) == 0 &&
		      (fl & GTF_type_mask) == GTF_permit_access,
	      "the entry after the refused end: flags 0x%x", fl);
	/* gntalloc's unshare: done for us, ended once the copy is. */
	CHECK(pvk_simx_gntshr_munmap(xgs, page, 1) == 0, "unshare");
	CHECK(pvk_sim_grant_query(sim, me, ref, &fl, &pins) == 0 &&
		      (fl & GTF_type_mask) == GTF_permit_access,
	      "unshared under a copy: flags 0x%x", fl);
	__atomic_fetch_sub(&cpins[ref], 1, __ATOMIC_SEQ_CST);
	for (i = 0; i < 500; i++) {
		CHECK(pvk_sim_grant_query(sim, me, ref, &fl, &pins) == 0,
		      "query");
		if (!fl)
			break;
		usleep(10000);
	}
	CHECK(!fl, "access never ended after the copy: flags 0x%x", fl);
	munmap(cpins, PVK_SIMP_COPY_PINS_SIZE);
}

/* Every call with bad input fails cleanly with the right errno. */
static int role_badinput(int argc, char **argv)
{
	uint32_t me = t_domid(), ref, refs[2];
	xengnttab_handle *xgt = pvk_simx_gnttab_open(NULL, 0);
	xengntshr_handle *xgs = pvk_simx_gntshr_open(NULL, 0);
	xenevtchn_handle *xce = pvk_simx_evtchn_open(NULL, 0);
	uint32_t other;
	unsigned int pins;
	uint16_t fl;
	char *mine, *m;
	int p1, p2;

	CHECK(xgt && xgs && xce, "open");
	errno = 0;
	CHECK(!pvk_simx_evtchn_open(NULL, 0x80) && errno == EINVAL,
	      "unknown open flag");
	if (me != 0) {
		struct pvk_sim_domain *doms;

		CHECK(pvk_sim_domain_list(pvk_simc_self(), &doms) == -EPERM,
		      "a guest listing the domains");
	}
	/* Grants. */
	mine = pvk_simx_gntshr_share_pages(xgs, me, 1, &ref, 1);
	CHECK(mine, "share with myself");
	strcpy(mine, "loop");
	m = pvk_simx_gnttab_map_grant_ref(xgt, me, ref, PROT_READ | PROT_WRITE);
	CHECK(m && !strcmp(m, "loop"), "map own grant");
	/* Unsharing a mapped page (gntalloc): it leaves us at once, but
	 * Xen cannot end access while it is mapped, so the entry stays in
	 * use and the mapping works until the grantee's unmap ends it. */
	CHECK(pvk_simx_gntshr_munmap(xgs, mine, 1) == 0,
	      "unsharing a mapped page is deferred, not refused");
	CHECK(pvk_sim_grant_query(pvk_simc_self(), me, ref, &fl, &pins) == 0,
	      "query");
	CHECK((fl & GTF_type_mask) == GTF_permit_access && (fl & GTF_reading) &&
		      (fl & GTF_writing) && pins == 1,
	      "the unshared but mapped entry: flags 0x%x pins %u", fl, pins);
	CHECK(!strcmp(m, "loop"), "the mapping outlives the unshare");
	m[0] = 'L';
	CHECK(pvk_simx_gnttab_unmap(xgt, m, 1) == 0, "unmap");
	CHECK(pvk_sim_grant_query(pvk_simc_self(), me, ref, &fl, &pins) == 0 &&
		      fl == 0 && pins == 0,
	      "access ends at the last unmap: flags 0x%x pins %u", fl, pins);
	errno = 0;
	CHECK(pvk_simx_gnttab_unmap(xgt, m, 1) < 0 && errno == EINVAL,
	      "double unmap must fail with EINVAL");
	errno = 0;
	CHECK(!pvk_simx_gnttab_map_grant_ref(xgt, me, 99999, PROT_READ) &&
		      errno == EINVAL,
	      "ref out of range");
	errno = 0;
	CHECK(!pvk_simx_gnttab_map_grant_ref(xgt, me, 5000, PROT_READ) &&
		      errno == EINVAL,
	      "ref never granted");
	errno = 0;
	CHECK(!pvk_simx_gnttab_map_grant_ref(xgt, 4242, 8, PROT_READ) &&
		      errno == ENOENT,
	      "unknown domain");
	refs[0] = ref;
	refs[1] = 99999;
	errno = 0;
	CHECK(!pvk_simx_gnttab_map_domain_grant_refs(xgt, 2, me, refs,
						     PROT_READ) &&
		      errno == EINVAL,
	      "one bad ref fails the whole batch");
	errno = 0;
	CHECK(pvk_simx_gntshr_munmap(xgs, mine, 1) < 0 && errno == EINVAL,
	      "double end access");
	/* A grant for another domain. */
	other = t_other_domain(me);
	if (other != PVK_SIMP_NO_DOMID) {
		mine = pvk_simx_gntshr_share_pages(xgs, other, 1, &ref, 1);
		CHECK(mine, "share with dom%u", other);
		errno = 0;
		CHECK(!pvk_simx_gnttab_map_grant_ref(xgt, me, ref, PROT_READ) &&
			      errno == EINVAL,
		      "mapping a grant meant for another domain must fail");
		CHECK(pvk_simx_gntshr_munmap(xgs, mine, 1) == 0, "end");
	}
	/* Pins do not wrap: 65535 mappings of one page, then EBUSY. */
	t_pin_limit(xgs, me);
	t_copy_pin(xgs, me);
	/* Grant copy, both directions, and its per-segment errors. */
	{
		xengnttab_grant_copy_segment_t seg[4];
		char local[64] = "copied in", back[64] = { 0 };
		uint32_t roref;
		char *ro;

		mine = pvk_simx_gntshr_share_pages(xgs, me, 1, &ref, 1);
		ro = pvk_simx_gntshr_share_pages(xgs, me, 1, &roref, 0);
		CHECK(mine && ro, "share for copy");
		strcpy(ro, "read-only");
		memset(seg, 0, sizeof(seg));
		seg[0].source.virt = local;
		seg[0].dest.foreign.domid = (uint16_t)me;
		seg[0].dest.foreign.ref = ref;
		seg[0].dest.foreign.offset = 100;
		seg[0].len = 10;
		seg[0].flags = GNTCOPY_dest_gref;
		seg[1].source.foreign.domid = (uint16_t)me;
		seg[1].source.foreign.ref = roref;
		seg[1].dest.virt = back;
		seg[1].len = 10;
		seg[1].flags = GNTCOPY_source_gref;
		seg[2] = seg[0];
		seg[2].dest.foreign.ref =
			roref; /* write to a read-only grant */
		seg[3] = seg[0];
		seg[3].dest.foreign.offset = 4090; /* crosses the page end */
		CHECK(pvk_simx_gnttab_grant_copy(xgt, 4, seg) == 0, "copy");
		CHECK(seg[0].status == GNTST_okay && !strcmp(mine + 100, local),
		      "copy into a grant: status %d", seg[0].status);
		CHECK(seg[1].status == GNTST_okay && !strcmp(back, "read-only"),
		      "copy out of a grant: status %d", seg[1].status);
		CHECK(seg[2].status == GNTST_permission_denied,
		      "copy into a read-only grant: status %d", seg[2].status);
		CHECK(seg[3].status == GNTST_bad_copy_arg,
		      "copy across a page: status %d", seg[3].status);
		seg[0].dest.foreign.ref = 99999;
		seg[1].source.foreign.domid = 4242;
		CHECK(pvk_simx_gnttab_grant_copy(xgt, 2, seg) == 0, "copy");
		CHECK(seg[0].status == GNTST_bad_gntref, "bad ref: status %d",
		      seg[0].status);
		CHECK(seg[1].status == GNTST_bad_domain,
		      "bad domain: status %d", seg[1].status);
		CHECK(pvk_simx_gntshr_munmap(xgs, mine, 1) == 0, "end");
		CHECK(pvk_simx_gntshr_munmap(xgs, ro, 1) == 0, "end");
	}
	/* Event channels. */
	errno = 0;
	CHECK(pvk_simx_evtchn_notify(xce, 100000) < 0 && errno == EINVAL,
	      "port out of range");
	errno = 0;
	CHECK(pvk_simx_evtchn_notify(xce, 7) < 0 && errno == ENOTCONN,
	      "port not bound by this handle");
	errno = 0;
	CHECK(pvk_simx_evtchn_bind_unbound_port(xce, 4242) < 0 &&
		      errno == ESRCH,
	      "unbound port for an unknown domain");
	p1 = pvk_simx_evtchn_bind_unbound_port(xce, me);
	CHECK(p1 > 0, "loopback alloc");
	errno = 0;
	CHECK(pvk_simx_evtchn_bind_interdomain(xce, me, 100000) < 0 &&
		      errno == EINVAL,
	      "bind to a port out of range");
	p2 = pvk_simx_evtchn_bind_interdomain(xce, me, (evtchn_port_t)p1);
	CHECK(p2 > 0, "loopback bind");
	errno = 0;
	CHECK(pvk_simx_evtchn_bind_interdomain(xce, me, (evtchn_port_t)p1) <
			      0 &&
		      errno == EINVAL,
	      "binding an already-bound port");
	/* Coalescing: three notifies, one event. */
	CHECK(pvk_simx_evtchn_notify(xce, (evtchn_port_t)p2) == 0, "n1");
	CHECK(pvk_simx_evtchn_notify(xce, (evtchn_port_t)p2) == 0, "n2");
	CHECK(pvk_simx_evtchn_notify(xce, (evtchn_port_t)p2) == 0, "n3");
	CHECK(t_wait_event(xce, 1000) == p1, "event on the loopback");
	CHECK(t_wait_event(xce, 100) == -ETIMEDOUT, "notifies coalesce");
	/* Closing one end: notifies on the other are dropped. */
	CHECK(pvk_simx_evtchn_unbind(xce, (evtchn_port_t)p1) == 0, "unbind");
	CHECK(pvk_simx_evtchn_notify(xce, (evtchn_port_t)p2) == 0,
	      "notify to a closed peer is dropped silently");
	errno = 0;
	CHECK(pvk_simx_evtchn_unbind(xce, (evtchn_port_t)p1) < 0 &&
		      errno == ENOTCONN,
	      "double unbind");
	/* A re-bound port does not receive the old binding's events. */
	p1 = pvk_simx_evtchn_bind_unbound_port(xce, me);
	CHECK(p1 > 0, "re-alloc");
	CHECK(pvk_simx_evtchn_notify(xce, (evtchn_port_t)p2) == 0, "stale");
	CHECK(t_wait_event(xce, 100) == -ETIMEDOUT,
	      "a stale notify reached a new binding");
	/* A guest granting to ever more domains (any domid, as on Xen)
	 * cannot make pvkit-simd hold ever more descriptors: a page pool
	 * per peer, at most 128 pools per guest.  Last: it stays so. */
	if (me != 0) {
		uint32_t i, peer;
		char *pg[256];

		for (i = 0; i < 256; i++) {
			peer = 5000 + i;
			pg[i] = pvk_simx_gntshr_share_pages(xgs, peer, 1, &ref,
							    1);
			if (!pg[i])
				break;
		}
		CHECK(i > 64 && i < 128 && errno == ENOSPC,
		      "sharing with %u peers: stopped after %u", 256, i);
		while (i--)
			CHECK(pvk_simx_gntshr_munmap(xgs, pg[i], 1) == 0,
			      "end");
		CHECK(pvk_simx_gntshr_share_pages(xgs, 0, 1, &ref, 1),
		      "an existing pool still serves");
	}
	pvk_simx_evtchn_close(xce);
	pvk_simx_gnttab_close(xgt);
	pvk_simx_gntshr_close(xgs);
	t_say("bad input rejected with the right errno (domain %u)", me);
	return 0;
}

/* Garbage on the control socket: answered with an error, and the daemon
 * goes on serving (the caller checks other domains). */
static int role_garbage(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[PATH_MAX], buf[8192];
	struct pvk_simp_rep rep;
	size_t sizes[] = { 1,
			   7,
			   sizeof(struct pvk_simp_req) - 1,
			   sizeof(struct pvk_simp_req),
			   sizeof(struct pvk_simp_req) + 1,
			   8000 };
	unsigned int i;
	int fd;

	CHECK(pvk_sim_dir(dir, sizeof(dir), NULL) == 0, "dir");
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%.90s/simd.sock", dir);
	fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	CHECK(fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0,
	      "connect %s", sa.sun_path);
	srand(42);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t k;
		ssize_t n;

		for (k = 0; k < sizes[i]; k++)
			buf[k] = (char)rand();
		if (sizes[i] == sizeof(struct pvk_simp_req))
			memset(buf, 0xff, 8); /* bad op and version */
		CHECK(send(fd, buf, sizes[i], 0) == (ssize_t)sizes[i], "send");
		n = recv(fd, &rep, sizeof(rep), 0);
		CHECK(n == sizeof(rep) && rep.err == -EBADMSG,
		      "garbage of %zu bytes answered %d", sizes[i],
		      n == sizeof(rep) ? rep.err : -1);
	}
	/* A well-formed request before HELLO is refused, too. */
	memset(buf, 0, sizeof(struct pvk_simp_req));
	((struct pvk_simp_req *)buf)->op = PVK_SIMP_GNT_MAP;
	((struct pvk_simp_req *)buf)->version = PVK_SIMP_VERSION;
	CHECK(send(fd, buf, sizeof(struct pvk_simp_req), 0) > 0, "send");
	CHECK(recv(fd, &rep, sizeof(rep), 0) == sizeof(rep) &&
		      rep.err == -ENOTCONN,
	      "request before HELLO");
	close(fd);
	/* Clients that go away mid-request: their answers find no one. */
	for (i = 0; i < 50; i++) {
		struct pvk_simp_req req = { .op = PVK_SIMP_HELLO,
					    .version = PVK_SIMP_VERSION };

		req.u.hello.domid = PVK_SIMP_NO_DOMID;
		fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
		CHECK(fd >= 0 && connect(fd, (struct sockaddr *)&sa,
					 sizeof(sa)) == 0,
		      "connect");
		CHECK(send(fd, &req, sizeof(req), 0) == sizeof(req), "send");
		close(fd);
	}
	{
		struct pvk_sim_status st;

		CHECK(pvk_sim_status(pvk_simc_self(), &st) == 0,
		      "served after 50 clients hung up mid-request");
	}
	t_say("garbage answered with EBADMSG; hang-ups survived");
	return 0;
}

/*
 * A guest process that outlives its domain: a grandchild of the domain's
 * first process says "ready" in OUTFILE, waits for the supervisor to die
 * (SIGKILL: no time to kill the tree), then, out of the domain's ancestry
 * and with PVKIT_DOMID cleared, asks to connect.  It must be refused, not
 * taken for domain 0.  The result goes to OUTFILE too.
 */
static int role_escapee(int argc, char **argv)
{
	int sup = (int)syscall(SYS_pidfd_open, getppid(), 0);
	struct pollfd pfd = { .fd = sup, .events = POLLIN };
	struct pvk_sim *sim;
	pid_t pid;
	FILE *f;
	int rc;

	CHECK(argc == 2, "usage: escapee OUTFILE");
	CHECK(sup >= 0, "pidfd of the supervisor");
	pid = fork();
	CHECK(pid >= 0, "fork");
	if (pid > 0) {
		for (;;)
			pause(); /* dies with the supervisor (PDEATHSIG) */
	}
	setsid();
	f = fopen(argv[1], "w");
	CHECK(f, "open %s", argv[1]);
	fprintf(f, "escapee: ready\n");
	fclose(f);
	rc = poll(&pfd, 1, 30000);
	unsetenv("PVKIT_DOMID");
	rc = rc == 1 ? pvk_sim_open(&sim, NULL) : -ETIMEDOUT;
	if (rc == 0) {
		rc = (int)pvk_sim_domid(sim);
		pvk_sim_close(sim);
	}
	f = fopen(argv[1], "w");
	CHECK(f, "open %s", argv[1]);
	fprintf(f, "escapee: pvk_sim_open: %d\n", rc);
	fclose(f);
	return 0;
}

/*
 * A hostile guest: it turns its event-channel fd blocking and saturates
 * it (an eventfd's counter at its maximum makes every writer block), or,
 * with "close", closes it (a pipe without a reader fails, or signals, a
 * writer), then publishes an unbound port for domain 0 and waits.
 */
static int role_evil_evtchn(int argc, char **argv)
{
	uint64_t max = UINT64_MAX - 1;
	xenevtchn_handle *xce;
	struct xs_handle *xs;
	char path[64], val[16];
	struct stat wst;
	int fd, port, i;

	signal(SIGPIPE, SIG_IGN);
	xs = t_xs();
	xce = pvk_simx_evtchn_open(NULL, 0);
	CHECK(xce, "evtchn open");
	port = pvk_simx_evtchn_bind_unbound_port(xce, 0);
	CHECK(port > 0, "alloc unbound");
	fd = pvk_simx_evtchn_fd(xce);
	CHECK(fstat(fd, &wst) == 0, "fstat");
	/* Whatever the wake-up is made of (the descriptors on the inode of
	 * the handle's fd: an eventfd, or both ends of a pipe), make each
	 * blocking and full -- an eventfd at its maximum, a pipe to the
	 * brim -- so that a writer sharing its open file would block.  Only
	 * those: others (inherited pipes, say) are not ours to break. */
	for (i = 3; i < 1024; i++) {
		int fl = fcntl(i, F_GETFL);
		struct stat st;

		if (fl < 0 || fstat(i, &st) < 0 || st.st_ino != wst.st_ino ||
		    st.st_dev != wst.st_dev)
			continue;
		if (argc > 1 && !strcmp(argv[1], "close")) {
			close(i); /* nobody reads it any more */
			continue;
		}
		fcntl(i, F_SETFL, fl | O_NONBLOCK);
		if (write(i, &max, sizeof(max)) == sizeof(max)) {
			while (write(i, &max, 1) == 1)
				;
		}
		fcntl(i, F_SETFL, fl & ~O_NONBLOCK);
	}
	snprintf(path, sizeof(path), "/local/domain/%u/data/evil", t_domid());
	snprintf(val, sizeof(val), "%d", port);
	CHECK(xs_write(xs, XBT_NULL, path, val, strlen(val)), "publish");
	t_say("port %d published, fd %d blocking and saturated", port, fd);
	for (;;)
		pause();
}

/* dom0: notify the hostile guest NAME; a notify must never block. */
static int role_notify_evil(int argc, char **argv)
{
	struct xs_handle *xs = t_xs();
	xenevtchn_handle *xce = pvk_simx_evtchn_open(NULL, 0);
	struct pvk_sim *sim = pvk_simc_self();
	uint32_t g;
	char path[64], *v;
	int port, lport, i;

	CHECK(argc == 2 && sim && xce, "usage: notify-evil NAME");
	CHECK(pvk_sim_domain_find(sim, argv[1], &g) == 0, "find %s", argv[1]);
	snprintf(path, sizeof(path), "/local/domain/%u/data/evil", g);
	v = t_wait_node(xs, path, 30);
	port = atoi(v);
	free(v);
	lport = pvk_simx_evtchn_bind_interdomain(xce, g, (evtchn_port_t)port);
	CHECK(lport > 0, "bind");
	/* A blocked notify never returns: the alarm fails the test. */
	alarm(20);
	for (i = 0; i < 1000; i++)
		CHECK(pvk_simx_evtchn_notify(xce, (evtchn_port_t)lport) == 0,
		      "notify");
	alarm(0);
	t_say("1000 notifies to a hostile guest returned");
	pvk_simx_evtchn_close(xce);
	xs_close(xs);
	return 0;
}

/* pvk_hv_open() as this process: print its return value. */
static int role_hv_open(int argc, char **argv)
{
	struct pvk_hv *hv;
	int rc = pvk_hv_open(&hv, 0);

	printf("hv-open: %d\n", rc);
	if (rc == 0)
		pvk_hv_close(hv);
	return 0;
}

/* Send @nfds descriptors (eventfds) with request @op; return the reply's
 * error.  The connection has said HELLO. */
static int t_send_fds(int fd, uint32_t op, int nfds)
{
	char cbuf[CMSG_SPACE(sizeof(int) * 16)];
	struct pvk_simp_req req = { .op = op, .version = PVK_SIMP_VERSION };
	struct iovec iov = { &req, sizeof(req) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct pvk_simp_rep rep;
	struct cmsghdr *cm;
	int fds[16], i;

	CHECK(nfds > 0 && nfds <= 16, "nfds");
	for (i = 0; i < nfds; i++) {
		fds[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		CHECK(fds[i] >= 0, "eventfd");
	}
	memset(cbuf, 0, sizeof(cbuf));
	mh.msg_control = cbuf;
	mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
	memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	CHECK(sendmsg(fd, &mh, 0) == sizeof(req), "sendmsg");
	for (i = 0; i < nfds; i++)
		close(fds[i]);
	CHECK(recv(fd, &rep, sizeof(rep), 0) == sizeof(rep), "reply");
	return rep.err;
}

static unsigned int t_count_fds(pid_t pid)
{
	char path[64];
	unsigned int n = 0;
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	CHECK(d, "%s", path);
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

/* Descriptors the daemon does not want: too many, on requests that take
 * none, of the wrong kind.  Each is answered with an error and closed:
 * pvkit-simd's descriptor count is the same afterwards. */
static int role_fdspam(int argc, char **argv)
{
	struct pvk_sim *sim = pvk_simc_self();
	struct pvk_sim_status st;
	unsigned int before, after;
	int i, rc;

	CHECK(sim && pvk_sim_status(sim, &st) == 0, "status");
	before = t_count_fds(st.simd_pid);
	/* Fewer than 16 bad requests: more and it would be disconnected. */
	for (i = 0; i < 4; i++) {
		rc = t_send_fds(sim->fd, PVK_SIMP_EVTCHN_OPEN, 16);
		CHECK(rc == -EMFILE, "16 descriptors: %d", rc);
		rc = t_send_fds(sim->fd, PVK_SIMP_GNT_QUERY, 3);
		CHECK(rc == 0, "descriptors with a query: %d", rc);
		rc = t_send_fds(sim->fd, PVK_SIMP_EVTCHN_OPEN, 2);
		CHECK(rc == -EINVAL, "two descriptors to open: %d", rc);
		rc = t_send_fds(sim->fd, PVK_SIMP_DOMAIN_LIST, 4);
		CHECK(rc == 0, "a list with descriptors: %d", rc);
	}
	/* A wake-up must be a pipe's write end: not an eventfd (its writers
	 * could be made to block), a socket, nor a read end. */
	{
		int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), n, sv[2];
		struct pvk_simp_req req = { .op = PVK_SIMP_EVTCHN_OPEN };
		struct pvk_simp_rep rep;

		rc = pvk_simc_call(sim, &req, &efd, 1, &rep, NULL, 0, &n);
		CHECK(rc == -EINVAL, "an eventfd: %d", rc);
		close(efd);
		CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "pair");
		rc = pvk_simc_call(sim, &req, sv, 1, &rep, NULL, 0, &n);
		CHECK(rc == -EINVAL, "a socket: %d", rc);
		close(sv[0]);
		close(sv[1]);
		CHECK(pipe(sv) == 0, "pipe");
		rc = pvk_simc_call(sim, &req, sv, 1, &rep, NULL, 0, &n);
		CHECK(rc == -EINVAL, "a pipe's read end: %d", rc);
		close(sv[0]);
		close(sv[1]);
	}
	CHECK(pvk_sim_status(sim, &st) == 0, "still served");
	after = t_count_fds(st.simd_pid);
	CHECK(after == before, "pvkit-simd held %u descriptors, now %u", before,
	      after);
	t_say("malformed SCM_RIGHTS refused; pvkit-simd holds %u descriptors "
	      "as before",
	      after);
	return 0;
}

/* Hold as many connections as the daemon lets us open (up to N) until
 * FILE appears; print how many connected. */
static int role_connflood(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[PATH_MAX];
	unsigned int n, i, held = 0;
	int *fds;

	CHECK(argc == 3, "usage: connflood N FILE");
	n = (unsigned int)strtoul(argv[1], NULL, 10);
	fds = calloc(n, sizeof(*fds));
	CHECK(fds, "calloc");
	CHECK(pvk_sim_dir(dir, sizeof(dir), NULL) == 0, "dir");
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%.90s/simd.sock", dir);
	for (i = 0; i < n; i++) {
		fds[i] = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0);
		CHECK(fds[i] >= 0, "socket");
		if (connect(fds[i], (struct sockaddr *)&sa, sizeof(sa)) == 0)
			held++;
	}
	t_say("%u of %u connections made", held, n);
	for (i = 0; i < 3000 && access(argv[2], F_OK); i++)
		usleep(10000);
	for (i = 0; i < n; i++)
		close(fds[i]);
	free(fds);
	return 0;
}

/* No arguments: a private simulator, bad input, stop. */
static int self_contained(const char *argv0)
{
	char dir[] = "/tmp/pvk-test-sim.XXXXXX", pvkit[PATH_MAX],
	     cmd[PATH_MAX * 2];
	const char *b = getenv("PVK_BUILD");
	int rc;

	if (access("/usr/lib/xen-4.17/bin/xenstored", X_OK)) {
		printf("SKIP: xenstored (xen-utils-4.17) is not installed\n");
		return 77;
	}
	if (!mkdtemp(dir))
		return 1;
	snprintf(pvkit, sizeof(pvkit), "%s/bin/pvkit", b ? b : "build");
	setenv("PVKIT_SIM_DIR", dir, 1);
	unsetenv("PVKIT_DOMID");
	snprintf(cmd, sizeof(cmd), "%s sim start", pvkit);
	if (system(cmd) != 0) {
		printf("FAIL: could not start a simulator in %s\n", dir);
		return 1;
	}
	snprintf(cmd, sizeof(cmd), "%s badinput && %s garbage", argv0, argv0);
	rc = system(cmd);
	snprintf(cmd, sizeof(cmd), "%s sim stop; rm -rf %s", pvkit, dir);
	if (system(cmd) != 0)
		rc = 1;
	return rc == 0 ? 0 : 1;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: test-sim-client [ROLE ARGS]\n"
		"  pp-back                      answer pings (guest)\n"
		"  pp-front BACKEND_DOMID N     N ping-pongs over grant+evtchn\n"
		"  grant-hold                   grant dom0 a page, wait\n"
		"  survive NAME                 dom0: map NAME's page, kill it\n"
		"  eacces                       guest: others' nodes refused\n"
		"  txn                          transaction conflict + retry\n"
		"  badinput                     every call's bad input\n"
		"  garbage                      garbage on the control socket\n"
		"  escapee FILE                 guest: outlive the domain, connect\n"
		"  evil-evtchn [close]          guest: saturate (close) its evtchn fd\n"
		"  notify-evil NAME             dom0: notify it; must not block\n"
		"  hv-open                      print pvk_hv_open()'s result\n"
		"  fdspam                       unwanted descriptors to the daemon\n"
		"  connflood N FILE             hold N connections until FILE\n");
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} roles[] = {
		{ "pp-back", role_pp_back },
		{ "pp-front", role_pp_front },
		{ "grant-hold", role_grant_hold },
		{ "survive", role_survive },
		{ "eacces", role_eacces },
		{ "txn", role_txn },
		{ "badinput", role_badinput },
		{ "garbage", role_garbage },
		{ "escapee", role_escapee },
		{ "evil-evtchn", role_evil_evtchn },
		{ "notify-evil", role_notify_evil },
		{ "hv-open", role_hv_open },
		{ "fdspam", role_fdspam },
		{ "connflood", role_connflood },
	};
	unsigned int i;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2)
		return self_contained(argv[0]);
	for (i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
		if (!strcmp(argv[1], roles[i].name)) {
			role = roles[i].name;
			return roles[i].fn(argc - 1, argv + 1);
		}
	}
	usage();
	return 2;
}
