// SPDX-License-Identifier: MIT
/*
 * test-hv: libpvkit-hv (hv.h, xenbus.h) as ONE suite run against each
 * implementation:
 *
 *   loop  always: domains are handles of one in-process pvk_loop; the two
 *         sides of a case run on two threads.
 *   xen   when a hypervisor is reachable: real Xen, or the simulator.  If
 *         none runs but build/bin/pvkit-simd exists, the test starts its
 *         own (`pvkit sim start` with PVKIT_SIM_DIR in $TMPDIR) and stops
 *         it at the end; the guest side of each case runs as this program
 *         (PVKIT_TEST_CHILD=<case>) inside `pvkit domain create`.
 *         Otherwise the xen cases are skipped.
 *
 * Most cases have two sides, a privileged "dom0" side (toolstack and
 * backend) and an unprivileged "guest" side, which only meet through
 * xenstore (a rendezvous directory under the guest's home), grants and
 * event channels -- so the same program runs split across two real
 * domains.  On a Xen host (the QEMU lane), with a PV guest <G> running:
 *
 *   dom0:  PVKIT_TEST_SIDE=dom0  PVKIT_TEST_PEER=<G> PVKIT_TEST_RUN=<R> test-hv
 *   domU:  PVKIT_TEST_SIDE=guest PVKIT_TEST_PEER=0   PVKIT_TEST_RUN=<R> test-hv
 *
 * <R> is any tag ([A-Za-z0-9_-]) the two sides share and no earlier run
 * used, e.g. the date in seconds: the rendezvous nodes live under
 * /local/domain/<G>/data/pvktest/<R>/ and are not removed.
 * Start both (in either order) with the same build; each side runs only
 * its halves of the two-sided cases against `xen` (cases that need to
 * create or destroy domains are skipped), and waits up to
 * PVKIT_TEST_TIMEOUT seconds (default 60) for the other.  The guest needs
 * xen-evtchn, xen-gntdev and xen-gntalloc loaded; dom0 runs xenstored.
 * PVKIT_TEST_XEN=0 skips the xen cases, =1 makes "no hypervisor" a
 * failure instead of a skip.  PVKIT_TEST_FILTER=<glob> runs only matching
 * cases (e.g. 'test_xenbus*'); PVKIT_TEST_KEEP=1 keeps the private
 * simulator's directory (logs); PVKIT_TEST_VERBOSE=1 reports each guest
 * side's result.
 *
 * The xen cases also pass with the simulator in the split mode above:
 *   pvkit sim start; PVKIT_TEST_SIDE=guest ... pvkit domain create g -- test-hv
 *   PVKIT_TEST_SIDE=dom0 PVKIT_TEST_PEER=<g's id> ... test-hv
 *
 * Case assertions run in the side functions, which return 0 or -1 after
 * printing the failed check (cmocka's asserts cannot leave a thread or a
 * child process); the cmocka test asserts both sides returned 0.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <pvkit/hv.h>
#include <pvkit/xenbus.h>

#define T_PAGE 4096u
#define T_NOTIFY_TOTAL 100000u /* notifications per ping-pong run */

/* PVKIT_TEST_NOTIFY overrides the count (both halves of a split run must
 * agree): under QEMU's TCG one round trip on real Xen costs about 1 ms. */
static uint32_t t_notify_total(void)
{
	const char *e = getenv("PVKIT_TEST_NOTIFY");
	unsigned long v;
	char *end;

	if (!e || !*e)
		return T_NOTIFY_TOTAL;
	v = strtoul(e, &end, 10);
	return (*end || v < 2 || v > 10000000ul) ? T_NOTIFY_TOTAL : (uint32_t)v;
}

/* ------------------------------------------------------------------ */
/* Checks usable in any thread or process                              */

#define T_CHECK(cond)                                                          \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
				__LINE__, #cond);                              \
			return -1;                                             \
		}                                                              \
	} while (0)

#define T_CHECK_EQ(expr, want)                                           \
	do {                                                             \
		long _got = (long)(expr), _want = (long)(want);          \
		if (_got != _want) {                                     \
			fprintf(stderr, "%s:%d: %s = %ld, want %ld\n",   \
				__FILE__, __LINE__, #expr, _got, _want); \
			return -1;                                       \
		}                                                        \
	} while (0)

#define T_CHECK_OK(expr) T_CHECK_EQ(expr, 0)

/* ------------------------------------------------------------------ */
/* Environments: one per implementation                                */

struct t_env {
	const char *name; /* "loop" or "xen" */
	bool is_loop;
	bool available;
	bool split; /* real Xen, one side per domain */
	const char *split_side; /* "dom0" or "guest" */
	uint32_t split_peer;
	struct pvk_loop *loop;
	/* xen on our own simulator */
	char simdir[128];
	pid_t simd_pid;
	const char *pvkit_tool;
};

struct t_side {
	struct t_env *env;
	struct pvk_hv *hv;
	uint32_t self, peer, guest;
	char rdv[160]; /* rendezvous dir, under the guest's home */
	/* the dom0 side may make the guest die (loop: after its side) */
	int (*destroy_guest)(struct t_side *s);
	void *priv;
	/* left open on purpose (a domain that dies without cleaning up);
	 * closed by the runner once the side is over */
	struct pvk_evtchn *leftover;
};

typedef int (*t_side_fn)(struct t_side *s);

/* Real Xen, where a few errors are the kernel drivers' and not Xen's. */
static bool t_real_xen(const struct t_side *s)
{
	return strcmp(pvk_hv_backend(s->hv), "xen") == 0;
}

static int t_timeout_s(void)
{
	const char *e = getenv("PVKIT_TEST_TIMEOUT");

	return e && atoi(e) > 0 ? atoi(e) : 60;
}

static void t_sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static int64_t t_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Rendezvous: write @name under the case directory, or wait for it. */
static int t_put(struct t_side *s, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int t_put(struct t_side *s, const char *name, const char *fmt, ...)
{
	char path[224], val[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(val, sizeof(val), fmt, ap);
	va_end(ap);
	snprintf(path, sizeof(path), "%s/%s", s->rdv, name);
	return pvk_xs_write(s->hv, PVK_XS_NO_TXN, path, val);
}

static int t_get(struct t_side *s, const char *name, char **val)
{
	int64_t deadline = t_now_ms() + 1000LL * t_timeout_s();
	char path[224];
	int ret;

	snprintf(path, sizeof(path), "%s/%s", s->rdv, name);
	for (;;) {
		ret = pvk_xs_read(s->hv, PVK_XS_NO_TXN, path, val);
		if (ret != -ENOENT || t_now_ms() > deadline)
			break;
		t_sleep_ms(2);
	}
	if (ret < 0)
		fprintf(stderr, "rendezvous %s: %s\n", path, strerror(-ret));
	return ret < 0 ? ret : 0;
}

static int t_get_ulong(struct t_side *s, const char *name, unsigned long *v)
{
	char *val, *end;
	int ret = t_get(s, name, &val);

	if (ret)
		return ret;
	*v = strtoul(val, &end, 10);
	ret = *end ? -EPROTO : 0;
	free(val);
	return ret;
}

/* Wait until the watch queue holds an event with @token (and @path if
 * non-NULL); other events are consumed. */
static int t_wait_watch(struct pvk_hv *hv, const char *path, const char *token)
{
	int64_t deadline = t_now_ms() + 1000LL * t_timeout_s();
	struct pollfd pfd = { .fd = pvk_xs_watch_fd(hv), .events = POLLIN };
	char *p, *t;
	int ret;

	for (;;) {
		ret = pvk_xs_read_watch(hv, &p, &t);
		if (ret < 0)
			return ret;
		if (ret == 1) {
			bool match = strcmp(t, token) == 0 &&
				     (!path || strcmp(p, path) == 0);

			free(p);
			free(t);
			if (match)
				return 0;
			continue;
		}
		if (t_now_ms() > deadline)
			return -ETIMEDOUT;
		poll(&pfd, 1, 50);
	}
}

/* ------------------------------------------------------------------ */
/* Running the two sides of a case                                     */

struct t_thread_arg {
	t_side_fn fn;
	struct t_side *side;
	int ret;
};

static void *t_thread(void *p)
{
	struct t_thread_arg *a = p;

	a->ret = a->fn(a->side);
	return NULL;
}

struct t_loop_pair {
	pthread_t guest_thread;
	bool joined;
	struct t_thread_arg garg;
};

static int t_loop_destroy_guest(struct t_side *s)
{
	struct t_loop_pair *lp = s->priv;

	if (!lp->joined) {
		pthread_join(lp->guest_thread, NULL);
		lp->joined = true;
	}
	return pvk_loop_domain_destroy(s->env->loop, s->guest);
}

static void t_side_init(struct t_side *s, struct t_env *env, struct pvk_hv *hv,
			uint32_t self, uint32_t peer, uint32_t guest,
			const char *casename)
{
	memset(s, 0, sizeof(*s));
	s->env = env;
	s->hv = hv;
	s->self = self;
	s->peer = peer;
	s->guest = guest;
	snprintf(s->rdv, sizeof(s->rdv), "/local/domain/%u/data/pvktest/%s/%s",
		 guest,
		 getenv("PVKIT_TEST_RUN") ? getenv("PVKIT_TEST_RUN") : "r",
		 casename);
}

static int t_run_loop_pair(struct t_env *env, const char *casename,
			   t_side_fn dom0_fn, t_side_fn guest_fn)
{
	struct pvk_hv *h0 = NULL, *hg = NULL;
	struct t_side s0, sg;
	struct t_loop_pair lp = { 0 };
	uint32_t g;
	int ret0;

	assert_int_equal(pvk_loop_domain_create(env->loop, casename, &g), 0);
	assert_int_equal(pvk_hv_open_loop(&h0, env->loop, 0), 0);
	assert_int_equal(pvk_hv_open_loop(&hg, env->loop, g), 0);
	t_side_init(&s0, env, h0, 0, g, g, casename);
	t_side_init(&sg, env, hg, g, 0, g, casename);
	s0.destroy_guest = t_loop_destroy_guest;
	s0.priv = &lp;
	lp.garg.fn = guest_fn;
	lp.garg.side = &sg;
	assert_int_equal(
		pthread_create(&lp.guest_thread, NULL, t_thread, &lp.garg), 0);
	ret0 = dom0_fn(&s0);
	if (!lp.joined)
		pthread_join(lp.guest_thread, NULL);
	pvk_evtchn_close(sg.leftover);
	pvk_hv_close(hg);
	pvk_hv_close(h0);
	pvk_loop_domain_destroy(env->loop, g); /* may be gone already */
	assert_int_equal(ret0, 0);
	assert_int_equal(lp.garg.ret, 0);
	return 0;
}

static int t_run_sim_pair(struct t_env *env, const char *casename,
			  t_side_fn dom0_fn, t_side_fn guest_fn);
static struct t_env xen_env;

static int t_run_split(struct t_env *env, const char *casename,
		       t_side_fn dom0_fn, t_side_fn guest_fn)
{
	bool dom0 = strcmp(env->split_side, "dom0") == 0;
	struct pvk_hv *hv = NULL;
	struct t_side s;
	uint32_t self, guest;
	int ret;

	assert_int_equal(pvk_hv_open(&hv, PVK_HV_XEN), 0);
	self = pvk_hv_domid(hv);
	guest = dom0 ? env->split_peer : self;
	t_side_init(&s, env, hv, self, env->split_peer, guest, casename);
	ret = dom0 ? dom0_fn(&s) : guest_fn(&s);
	/* The guest lingers until dom0 is done reading its home: a guest
	 * that powers off after the test must not take it away early. */
	if (dom0) {
		t_put(&s, "finished", "1");
	} else {
		char *v;

		if (t_get(&s, "finished", &v) == 0)
			free(v);
	}
	pvk_evtchn_close(s.leftover);
	pvk_hv_close(hv);
	assert_int_equal(ret, 0);
	return 0;
}

static void t_run_pair(void **state, const char *casename, t_side_fn dom0_fn,
		       t_side_fn guest_fn)
{
	struct t_env *env = *state;

	if (!env->available)
		skip();
	if (env->is_loop)
		t_run_loop_pair(env, casename, dom0_fn, guest_fn);
	else if (env->split)
		t_run_split(env, casename, dom0_fn, guest_fn);
	else
		t_run_sim_pair(env, casename, dom0_fn, guest_fn);
}

/* A dom0-only handle for single-sided cases. */
static struct pvk_hv *t_open_dom0(struct t_env *env)
{
	struct pvk_hv *hv = NULL;

	if (env->is_loop)
		assert_int_equal(pvk_hv_open_loop(&hv, env->loop, 0), 0);
	else
		assert_int_equal(pvk_hv_open(&hv, PVK_HV_XEN), 0);
	return hv;
}

/* ------------------------------------------------------------------ */
/* Case: a shared page and 100k event notifications, nothing lost      */

struct t_pingpong {
	_Atomic uint32_t seq; /* guest -> dom0 */
	_Atomic uint32_t ack; /* dom0 -> guest */
};

/* Wait for our port, unmask it; bounded by the test timeout. */
static int t_evwait(struct pvk_evtchn *ev, int port)
{
	int got = pvk_evtchn_wait(ev, 1000 * t_timeout_s());

	if (got != port) {
		fprintf(stderr, "evtchn wait: got %d, want port %d\n", got,
			port);
		return -1;
	}
	return pvk_evtchn_unmask(ev, (uint32_t)port);
}

static int pingpong_guest(struct t_side *s)
{
	struct t_pingpong *pp;
	struct pvk_evtchn *ev;
	uint32_t ref, i, rounds = t_notify_total() / 2;
	void *page;
	char *done;
	int port;

	T_CHECK_OK(pvk_hv_grant_alloc(s->hv, s->peer, 1, true, &ref, &page));
	T_CHECK(((uintptr_t)page % T_PAGE) == 0);
	T_CHECK(((uint8_t *)page)[100] == 0); /* zeroed */
	pp = page;
	T_CHECK_OK(pvk_evtchn_open(s->hv, &ev));
	port = pvk_evtchn_alloc_unbound(ev, s->peer);
	T_CHECK(port > 0);
	T_CHECK_OK(t_put(s, "ring-ref", "%u", ref));
	T_CHECK_OK(t_put(s, "port", "%d", port));
	T_CHECK_OK(t_put(s, "ready", "1"));
	T_CHECK_OK(t_get(s, "bound", &done));
	free(done);

	for (i = 1; i <= rounds; i++) {
		/* release: dom0 sees seq == i only with what preceded it;
		 * pairs with dom0's acquire load. */
		atomic_store_explicit(&pp->seq, i, memory_order_release);
		T_CHECK_OK(pvk_evtchn_notify(ev, (uint32_t)port));
		while (atomic_load_explicit(&pp->ack, memory_order_acquire) !=
		       i)
			T_CHECK_OK(t_evwait(ev, port));
	}

	/* dom0 unmaps after the last ack; until then the grant is busy
	 * (loop; on Xen gntalloc defers the end instead). */
	T_CHECK_OK(t_get(s, "unmapped", &done));
	free(done);
	T_CHECK_OK(pvk_hv_grant_free(s->hv, page, 1));
	pvk_evtchn_close(ev);
	return 0;
}

static int pingpong_dom0(struct t_side *s)
{
	unsigned long ref, port, rounds = t_notify_total() / 2, seen = 0;
	struct t_pingpong *pp;
	struct pvk_evtchn *ev;
	uint32_t r, want = 1;
	void *page;
	int lport;
	char *v;

	T_CHECK_OK(t_get(s, "ready", &v));
	free(v);
	T_CHECK_OK(t_get_ulong(s, "ring-ref", &ref));
	T_CHECK_OK(t_get_ulong(s, "port", &port));
	r = (uint32_t)ref;
	T_CHECK_OK(pvk_hv_grant_map(s->hv, s->peer, 1, &r, true, &page));
	pp = page;
	T_CHECK_OK(pvk_evtchn_open(s->hv, &ev));
	lport = pvk_evtchn_bind(ev, s->peer, (uint32_t)port);
	T_CHECK(lport > 0);

	T_CHECK_OK(t_put(s, "bound", "1"));

	while (want <= rounds) {
		/* acquire: pairs with the guest's release of seq */
		uint32_t seq =
			atomic_load_explicit(&pp->seq, memory_order_acquire);

		if (seq != want) {
			/* checked before sleeping: no wake-up is lost */
			T_CHECK_OK(t_evwait(ev, lport));
			seen++;
			continue;
		}
		atomic_store_explicit(&pp->ack, seq, memory_order_release);
		T_CHECK_OK(pvk_evtchn_notify(ev, (uint32_t)lport));
		want++;
	}
	/* Every guest notify was answered: none was lost. */
	T_CHECK_EQ(want, rounds + 1);
	/* Woken at most once per guest notify, plus the event Xen raises on
	 * a newly bound interdomain port: no storm of spurious events. */
	T_CHECK(seen <= rounds + 1);
	if (s->env->is_loop) {
		uint32_t gref = (uint32_t)ref;
		void *again;

		/* The guest can't free a grant we hold: check from here
		 * that the entry is still in use by mapping it twice. */
		T_CHECK_OK(pvk_hv_grant_map(s->hv, s->peer, 1, &gref, false,
					    &again));
		T_CHECK_OK(pvk_hv_grant_unmap(s->hv, again, 1));
	}
	T_CHECK_OK(pvk_hv_grant_unmap(s->hv, page, 1));
	T_CHECK_OK(t_put(s, "unmapped", "1"));
	pvk_evtchn_close(ev);
	return 0;
}

static void test_grant_evtchn_pingpong(void **state)
{
	t_run_pair(state, "pingpong", pingpong_dom0, pingpong_guest);
}

/* ------------------------------------------------------------------ */
/* Case: grant semantics (read-only, wrong domain, bad ref, copy, busy) */

static int grants_guest(struct t_side *s)
{
	struct pvk_domain_info info;
	uint32_t ro[2], rw, other;
	void *pro, *prw, *pother;
	char *v;

	/* Domain information is domain 0's (Xen: XSM_XS_PRIV). */
	T_CHECK_EQ(pvk_hv_domain_info(s->hv, 0, &info), -EPERM);

	T_CHECK_OK(pvk_hv_grant_alloc(s->hv, s->peer, 2, false, ro, &pro));
	T_CHECK_OK(pvk_hv_grant_alloc(s->hv, s->peer, 1, true, &rw, &prw));
	/* granted to some other domain: dom0 may not use it */
	T_CHECK_OK(pvk_hv_grant_alloc(s->hv, s->guest + 100, 1, true, &other,
				      &pother));
	memset(pro, 0xA5, T_PAGE);
	memset((uint8_t *)pro + T_PAGE, 0x5A, T_PAGE);
	strcpy(prw, "guest wrote this");
	T_CHECK_OK(t_put(s, "refs", "%u %u %u %u", ro[0], ro[1], rw, other));

	T_CHECK_OK(t_get(s, "mapped", &v));
	free(v);
	/* loop refuses; xen (Xen's gntalloc, and the simulator, which
	 * follows it) frees at once and ends access at the peer's unmap */
	if (s->env->is_loop)
		T_CHECK_EQ(pvk_hv_grant_free(s->hv, pro, 2), -EBUSY);
	else
		T_CHECK_OK(pvk_hv_grant_free(s->hv, pro, 2));
	T_CHECK_OK(t_put(s, "tried-free", "1"));

	T_CHECK_OK(t_get(s, "copied", &v));
	free(v);
	T_CHECK(strcmp(prw, "copied by dom0") == 0);
	T_CHECK_OK(t_get(s, "unmapped", &v));
	free(v);
	if (s->env->is_loop)
		T_CHECK_OK(pvk_hv_grant_free(s->hv, pro, 2));
	T_CHECK_OK(pvk_hv_grant_free(s->hv, prw, 1));
	T_CHECK_OK(pvk_hv_grant_free(s->hv, pother, 1));
	return 0;
}

static int grants_dom0(struct t_side *s)
{
	int ret;
	uint32_t ro[2], rw, other, bad = 100000;
	struct pvk_grant_copy seg[2];
	uint8_t buf[64];
	uint8_t *p;
	void *q;
	char *v;

	T_CHECK_OK(t_get(s, "refs", &v));
	T_CHECK_EQ(sscanf(v, "%u %u %u %u", &ro[0], &ro[1], &rw, &other), 4);
	free(v);

	/* read-only grants: a writable map fails as a whole */
	ret = pvk_hv_grant_map(s->hv, s->peer, 2, ro, true, &q);
	/* Linux's gntdev reports every failed map as EINVAL. */
	if (t_real_xen(s))
		T_CHECK(ret == -EACCES || ret == -EINVAL);
	else
		T_CHECK_EQ(ret, -EACCES);
	T_CHECK(q == NULL);
	T_CHECK(pvk_hv_grant_map(s->hv, s->peer, 1, &other, false, &q) < 0);
	T_CHECK(pvk_hv_grant_map(s->hv, s->peer, 1, &bad, false, &q) < 0);
	if (s->env->is_loop) {
		T_CHECK_EQ(pvk_hv_grant_map(s->hv, s->peer, 1, &other, false,
					    &q),
			   -EINVAL);
		T_CHECK_EQ(pvk_hv_grant_map(s->hv, s->peer, 1, &bad, false, &q),
			   -EINVAL);
		T_CHECK_EQ(pvk_hv_grant_map(s->hv, 0x7000, 1, ro, false, &q),
			   -ENOENT);
	}
	T_CHECK_OK(pvk_hv_grant_map(s->hv, s->peer, 2, ro, false, &q));
	p = q;
	T_CHECK(p[0] == 0xA5 && p[T_PAGE - 1] == 0xA5);
	T_CHECK(p[T_PAGE] == 0x5A && p[2 * T_PAGE - 1] == 0x5A);
	T_CHECK_OK(t_put(s, "mapped", "1"));
	free(NULL);
	T_CHECK_OK(t_get(s, "tried-free", &v));
	free(v);

	/* grant copy: out of the guest's page, into its writable one, and
	 * into a read-only one (per-segment status) */
	memset(seg, 0, sizeof(seg));
	seg[0].src.is_gref = true;
	seg[0].src.domid = s->peer;
	seg[0].src.ref = rw;
	seg[0].dst.virt = buf;
	seg[0].len = 17;
	T_CHECK_OK(pvk_hv_grant_copy(s->hv, seg, 1));
	T_CHECK_EQ(seg[0].status, 0);
	T_CHECK(memcmp(buf, "guest wrote this", 17) == 0);

	strcpy((char *)buf, "copied by dom0");
	memset(seg, 0, sizeof(seg));
	seg[0].src.virt = buf;
	seg[0].dst.is_gref = true;
	seg[0].dst.domid = s->peer;
	seg[0].dst.ref = rw;
	seg[0].len = 15;
	seg[1] = seg[0];
	seg[1].dst.ref = ro[0];
	T_CHECK_OK(pvk_hv_grant_copy(s->hv, seg, 2));
	T_CHECK_EQ(seg[0].status, 0);
	T_CHECK(seg[1].status < 0);
	if (s->env->is_loop)
		T_CHECK_EQ(seg[1].status, PVK_GNTST_PERMISSION_DENIED);
	/* the read-only page is untouched, and still mapped even where the
	 * guest has freed it */
	T_CHECK(p[0] == 0xA5 && p[2 * T_PAGE - 1] == 0x5A);
	T_CHECK_OK(t_put(s, "copied", "1"));

	T_CHECK_OK(pvk_hv_grant_unmap(s->hv, q, 2));
	T_CHECK_OK(t_put(s, "unmapped", "1"));
	return 0;
}

static void test_grant_semantics(void **state)
{
	t_run_pair(state, "grants", grants_dom0, grants_guest);
}

/* ------------------------------------------------------------------ */
/* Case: event channel semantics                                       */

static int evtchn_guest(struct t_side *s)
{
	struct pvk_evtchn *ev;
	struct pollfd pfd;
	int port, got;
	char *v;

	T_CHECK_OK(pvk_evtchn_open(s->hv, &ev));
	port = pvk_evtchn_alloc_unbound(ev, s->peer);
	T_CHECK(port > 0);
	T_CHECK_EQ(pvk_evtchn_pending(ev), -EAGAIN);
	T_CHECK_OK(t_put(s, "port", "%d", port));

	/* dom0 notifies three times before we look: coalesced into one */
	T_CHECK_OK(t_get(s, "notified", &v));
	free(v);
	pfd.fd = pvk_evtchn_fd(ev);
	pfd.events = POLLIN;
	T_CHECK_EQ(poll(&pfd, 1, 1000 * t_timeout_s()), 1);
	got = pvk_evtchn_pending(ev);
	T_CHECK_EQ(got, port);
	T_CHECK_EQ(pvk_evtchn_pending(ev), -EAGAIN);
	T_CHECK_OK(pvk_evtchn_unmask(ev, (uint32_t)port));
	/* whatever came while masked is delivered once more at most */
	got = pvk_evtchn_pending(ev);
	T_CHECK(got == -EAGAIN || got == port);
	if (got == port)
		T_CHECK_OK(pvk_evtchn_unmask(ev, (uint32_t)port));
	T_CHECK_EQ(pvk_evtchn_pending(ev), -EAGAIN);
	T_CHECK_EQ(pvk_evtchn_wait(ev, 0), -ETIMEDOUT);

	/* close our end: dom0's notifies are now dropped */
	T_CHECK_OK(pvk_evtchn_unbind(ev, (uint32_t)port));
	T_CHECK_OK(t_put(s, "closed", "1"));
	T_CHECK_OK(t_get(s, "done", &v));
	free(v);
	T_CHECK_EQ(pvk_evtchn_pending(ev), -EAGAIN);
	pvk_evtchn_close(ev);
	return 0;
}

static int evtchn_dom0(struct t_side *s)
{
	int ret;
	struct pvk_evtchn *ev;
	unsigned long port;
	int lport;
	char *v;

	T_CHECK_OK(t_get_ulong(s, "port", &port));
	T_CHECK_OK(pvk_evtchn_open(s->hv, &ev));
	/* a port that is not unbound-for-us cannot be bound */
	T_CHECK(pvk_evtchn_bind(ev, s->peer, (uint32_t)port + 1000) < 0);
	lport = pvk_evtchn_bind(ev, s->peer, (uint32_t)port);
	T_CHECK(lport > 0);
	/* ... nor bound twice */
	T_CHECK(pvk_evtchn_bind(ev, s->peer, (uint32_t)port) < 0);
	for (int i = 0; i < 3; i++)
		T_CHECK_OK(pvk_evtchn_notify(ev, (uint32_t)lport));
	T_CHECK_OK(t_put(s, "notified", "1"));
	T_CHECK_OK(t_get(s, "closed", &v));
	free(v);
	/* the peer closed: our port is unbound and notify is dropped */
	T_CHECK_OK(pvk_evtchn_notify(ev, (uint32_t)lport));
	/* Real Xen may leave a spurious event on our port (drivers must
	 * tolerate those); the simulator and loop deliver none. */
	ret = pvk_evtchn_pending(ev);
	if (t_real_xen(s))
		T_CHECK(ret == -EAGAIN || ret == lport);
	else
		T_CHECK_EQ(ret, -EAGAIN);
	T_CHECK_OK(t_put(s, "done", "1"));
	T_CHECK_OK(pvk_evtchn_unbind(ev, (uint32_t)lport));
	pvk_evtchn_close(ev);
	return 0;
}

static void test_evtchn_semantics(void **state)
{
	t_run_pair(state, "evtchn", evtchn_dom0, evtchn_guest);
}

/* ------------------------------------------------------------------ */
/* Case: xenstore permissions                                          */

static int perms_dom0(struct t_side *s)
{
	struct pvk_xs_perm p[2] = { { 0, 'n' }, { s->peer, 'r' } };
	char path[128], *v;

	T_CHECK_OK(pvk_xs_write(s->hv, PVK_XS_NO_TXN,
				"/local/domain/0/pvktest-secret", "s3cret"));
	snprintf(path, sizeof(path), "/local/domain/0/pvktest-shared");
	T_CHECK_OK(pvk_xs_write(s->hv, PVK_XS_NO_TXN, path, "for-guest"));
	T_CHECK_OK(pvk_xs_set_perms(s->hv, PVK_XS_NO_TXN, path, p, 2));
	T_CHECK_OK(t_put(s, "setup", "1"));

	T_CHECK_OK(t_get(s, "guest-done", &v));
	free(v);
	/* dom0 reads what the guest wrote under its home */
	snprintf(path, sizeof(path), "/local/domain/%u/data/pvktest-own",
		 s->peer);
	T_CHECK_EQ(pvk_xs_read(s->hv, PVK_XS_NO_TXN, path, &v), 4);
	T_CHECK(strcmp(v, "mine") == 0);
	free(v);
	T_CHECK_EQ(pvk_xs_read(s->hv, PVK_XS_NO_TXN,
			       "/local/domain/0/pvktest-secret", &v),
		   6);
	T_CHECK(strcmp(v, "s3cret") == 0);
	free(v);
	pvk_xs_rm(s->hv, PVK_XS_NO_TXN, "/local/domain/0/pvktest-secret");
	pvk_xs_rm(s->hv, PVK_XS_NO_TXN, "/local/domain/0/pvktest-shared");
	return 0;
}

static int perms_guest(struct t_side *s)
{
	struct pvk_xs_perm give[1] = { { 0, 'b' } };
	char **names, *v;
	bool found = false;
	int n;

	T_CHECK_OK(t_get(s, "setup", &v));
	free(v);
	/* another domain's nodes */
	T_CHECK_EQ(pvk_xs_read(s->hv, PVK_XS_NO_TXN,
			       "/local/domain/0/pvktest-secret", &v),
		   -EACCES);
	T_CHECK_EQ(pvk_xs_write(s->hv, PVK_XS_NO_TXN,
				"/local/domain/0/pvktest-secret", "x"),
		   -EACCES);
	T_CHECK_EQ(pvk_xs_write(s->hv, PVK_XS_NO_TXN,
				"/local/domain/0/pvktest-new", "x"),
		   -EACCES);
	T_CHECK_EQ(pvk_xs_rm(s->hv, PVK_XS_NO_TXN,
			     "/local/domain/0/pvktest-secret"),
		   -EACCES);
	/* an ACL entry gives read, not write */
	T_CHECK_EQ(pvk_xs_read(s->hv, PVK_XS_NO_TXN,
			       "/local/domain/0/pvktest-shared", &v),
		   9);
	free(v);
	T_CHECK_EQ(pvk_xs_write(s->hv, PVK_XS_NO_TXN,
				"/local/domain/0/pvktest-shared", "x"),
		   -EACCES);
	/* its own home, by relative path */
	T_CHECK_OK(
		pvk_xs_write(s->hv, PVK_XS_NO_TXN, "data/pvktest-own", "mine"));
	T_CHECK_EQ(pvk_xs_read(s->hv, PVK_XS_NO_TXN, "data/pvktest-own", &v),
		   4);
	free(v);
	n = pvk_xs_directory(s->hv, PVK_XS_NO_TXN, "data", &names);
	T_CHECK(n >= 1);
	for (int i = 0; i < n; i++)
		found |= strcmp(names[i], "pvktest-own") == 0;
	free(names);
	T_CHECK(found);
	/* may not give its node away */
	give[0].domid = 0;
	T_CHECK(pvk_xs_set_perms(s->hv, PVK_XS_NO_TXN, "data/pvktest-own", give,
				 1) < 0);
	T_CHECK_OK(t_put(s, "guest-done", "1"));
	return 0;
}

static void test_xs_permissions(void **state)
{
	t_run_pair(state, "perms", perms_dom0, perms_guest);
}

/* ------------------------------------------------------------------ */
/* Case: watches                                                       */

static int watch_guest(struct t_side *s)
{
	bool dup;
	int ret;
	struct pollfd pfd;
	char *p, *t, *v;

	T_CHECK_OK(pvk_xs_mkdir(s->hv, PVK_XS_NO_TXN, "data/pvkwatch"));
	T_CHECK_OK(pvk_xs_watch(s->hv, "data/pvkwatch", "tok"));
	/* fires once at registration, with the path as given */
	pfd.fd = pvk_xs_watch_fd(s->hv);
	pfd.events = POLLIN;
	T_CHECK_EQ(poll(&pfd, 1, 1000 * t_timeout_s()), 1);
	T_CHECK_EQ(pvk_xs_read_watch(s->hv, &p, &t), 1);
	T_CHECK(strcmp(p, "data/pvkwatch") == 0 && strcmp(t, "tok") == 0);
	free(p);
	free(t);
	/* A guest's watches go through the kernel's /dev/xen/xenbus on real
	 * Xen, which accepts a duplicate; xenstored itself refuses it. */
	ret = pvk_xs_watch(s->hv, "data/pvkwatch", "tok");
	if (t_real_xen(s))
		T_CHECK(ret == 0 || ret == -EEXIST);
	else
		T_CHECK_EQ(ret, -EEXIST);
	dup = ret == 0; /* the kernel's: then there are two to remove */
	T_CHECK_OK(t_put(s, "watching", "1"));

	/* dom0 writes below it: reported relative to our home */
	T_CHECK_OK(t_wait_watch(s->hv, "data/pvkwatch/a", "tok"));
	T_CHECK_OK(t_get(s, "removed", &v));
	free(v);
	T_CHECK_OK(t_wait_watch(s->hv, "data/pvkwatch", "tok"));
	T_CHECK_OK(pvk_xs_unwatch(s->hv, "data/pvkwatch", "tok"));
	if (dup)
		T_CHECK_OK(pvk_xs_unwatch(s->hv, "data/pvkwatch", "tok"));
	/* Linux's /dev/xen/xenbus answers OK to any unwatch. */
	ret = pvk_xs_unwatch(s->hv, "data/pvkwatch", "tok");
	if (t_real_xen(s))
		T_CHECK(ret == 0 || ret == -ENOENT);
	else
		T_CHECK_EQ(ret, -ENOENT);
	return 0;
}

static int watch_dom0(struct t_side *s)
{
	char path[128], *v;

	T_CHECK_OK(t_get(s, "watching", &v));
	free(v);
	snprintf(path, sizeof(path), "/local/domain/%u/data/pvkwatch/a",
		 s->peer);
	T_CHECK_OK(pvk_xs_write(s->hv, PVK_XS_NO_TXN, path, "1"));
	snprintf(path, sizeof(path), "/local/domain/%u/data/pvkwatch", s->peer);
	T_CHECK_OK(pvk_xs_rm(s->hv, PVK_XS_NO_TXN, path));
	T_CHECK_OK(t_put(s, "removed", "1"));
	return 0;
}

static void test_xs_watch(void **state)
{
	t_run_pair(state, "watch", watch_dom0, watch_guest);
}

/* ------------------------------------------------------------------ */
/* Case: transaction conflict retried                                  */

struct txn_arg {
	struct pvk_hv *other; /* a second connection: the other writer */
	const char *path;
	int runs;
	int conflicts; /* runs in which to interfere */
};

static int txn_fn(struct pvk_hv *hv, pvk_xs_txn_t txn, void *p)
{
	struct txn_arg *a = p;
	unsigned long v;
	char val[32];
	int ret;

	a->runs++;
	ret = pvk_xs_read_uint(hv, txn, a->path, &v);
	if (ret)
		return ret;
	if (a->runs <= a->conflicts) {
		/* someone else changes what we read, mid-transaction */
		snprintf(val, sizeof(val), "%lu", v + 100);
		ret = pvk_xs_write(a->other, PVK_XS_NO_TXN, a->path, val);
		if (ret)
			return ret;
	}
	return pvk_xs_printf(hv, txn, a->path, "%lu", v + 1);
}

static int txn_fail_fn(struct pvk_hv *hv, pvk_xs_txn_t txn, void *p)
{
	struct txn_arg *a = p;

	a->runs++;
	pvk_xs_write(hv, txn, a->path, "999");
	return -ENOTSUP;
}

static void test_xs_transaction(void **state)
{
	struct t_env *env = *state;
	struct pvk_hv *hv, *other;
	const char *path = "/local/domain/0/pvktest-txn";
	struct txn_arg a = { .path = path };
	unsigned long v;

	if (!env->available || env->split)
		skip();
	hv = t_open_dom0(env);
	other = t_open_dom0(env);
	a.other = other;
	assert_int_equal(pvk_xs_write(hv, PVK_XS_NO_TXN, path, "1"), 0);

	/* one conflict: the second run commits */
	a.conflicts = 1;
	assert_int_equal(pvk_xs_transaction(hv, 0, txn_fn, &a), 0);
	assert_int_equal(a.runs, 2);
	assert_int_equal(pvk_xs_read_uint(hv, PVK_XS_NO_TXN, path, &v), 0);
	assert_int_equal(v, 102); /* 1 + 100 by the other writer, + 1 */

	/* always conflicting: gives up after max_tries */
	a.runs = 0;
	a.conflicts = 1000;
	assert_int_equal(pvk_xs_transaction(hv, 3, txn_fn, &a), -EAGAIN);
	assert_int_equal(a.runs, 3);

	/* the callback's error aborts: nothing written */
	assert_int_equal(pvk_xs_write(hv, PVK_XS_NO_TXN, path, "7"), 0);
	a.runs = 0;
	assert_int_equal(pvk_xs_transaction(hv, 0, txn_fail_fn, &a), -ENOTSUP);
	assert_int_equal(a.runs, 1);
	assert_int_equal(pvk_xs_read_uint(hv, PVK_XS_NO_TXN, path, &v), 0);
	assert_int_equal(v, 7);

	assert_int_equal(pvk_xs_rm(hv, PVK_XS_NO_TXN, path), 0);
	pvk_hv_close(other);
	pvk_hv_close(hv);
}

/* ------------------------------------------------------------------ */
/* Case: xenbus state machine walk and reconnect                       */

/* The toolstack's part (xl block-attach): both directories, owned by the
 * side that writes them, readable by the other. */
static int t_toolstack_attach(struct t_side *s, const char *type,
			      uint32_t devid)
{
	char fe[PVK_XENBUS_PATH_MAX], be[PVK_XENBUS_PATH_MAX], path[300];
	struct pvk_xs_perm fe_perm[2] = { { s->guest, 'n' }, { 0, 'r' } };
	struct pvk_xs_perm be_perm[2] = { { 0, 'n' }, { s->guest, 'r' } };

	T_CHECK_OK(pvk_xenbus_frontend_path(fe, sizeof(fe), type, s->guest,
					    devid));
	T_CHECK_OK(pvk_xenbus_backend_path(be, sizeof(be), type, 0, s->guest,
					   devid));
	T_CHECK_OK(pvk_xs_mkdir(s->hv, PVK_XS_NO_TXN, fe));
	T_CHECK_OK(pvk_xs_set_perms(s->hv, PVK_XS_NO_TXN, fe, fe_perm, 2));
	T_CHECK_OK(pvk_xs_mkdir(s->hv, PVK_XS_NO_TXN, be));
	T_CHECK_OK(pvk_xs_set_perms(s->hv, PVK_XS_NO_TXN, be, be_perm, 2));
	snprintf(path, sizeof(path), "%s/backend", fe);
	T_CHECK_OK(pvk_xs_write(s->hv, PVK_XS_NO_TXN, path, be));
	snprintf(path, sizeof(path), "%s/backend-id", fe);
	T_CHECK_OK(pvk_xs_write(s->hv, PVK_XS_NO_TXN, path, "0"));
	snprintf(path, sizeof(path), "%s/state", fe);
	T_CHECK_OK(pvk_xs_write(s->hv, PVK_XS_NO_TXN, path, "1"));
	snprintf(path, sizeof(path), "%s/frontend", be);
	T_CHECK_OK(pvk_xs_write(s->hv, PVK_XS_NO_TXN, path, fe));
	snprintf(path, sizeof(path), "%s/frontend-id", be);
	T_CHECK_OK(pvk_xs_printf(s->hv, PVK_XS_NO_TXN, path, "%u", s->guest));
	snprintf(path, sizeof(path), "%s/online", be);
	T_CHECK_OK(pvk_xs_write(s->hv, PVK_XS_NO_TXN, path, "1"));
	snprintf(path, sizeof(path), "%s/state", be);
	T_CHECK_OK(pvk_xs_write(s->hv, PVK_XS_NO_TXN, path, "1"));
	return 0;
}

/* Wait for the peer to reach @want, checking every state seen on the way
 * is a legal transition. */
static int t_wait_peer_state(struct pvk_xenbus_dev *dev, int *last, int want)
{
	int64_t deadline = t_now_ms() + 1000LL * t_timeout_s();
	int st;

	for (;;) {
		st = pvk_xenbus_read_state(dev, true);
		if (st < 0)
			return st;
		if (st != *last) {
			if (!pvk_xenbus_transition_ok(*last, st)) {
				fprintf(stderr, "peer went %s -> %s\n",
					pvk_xenbus_state_name(*last),
					pvk_xenbus_state_name(st));
				return -EPROTO;
			}
			*last = st;
		}
		if (st == want)
			return 0;
		if (t_now_ms() > deadline) {
			fprintf(stderr, "peer state %s, want %s\n",
				pvk_xenbus_state_name(st),
				pvk_xenbus_state_name(want));
			return -ETIMEDOUT;
		}
		t_sleep_ms(1);
	}
}

static int xenbus_dom0(struct t_side *s)
{
	struct pvk_xenbus_dev dev;
	char name[16];
	unsigned long v;
	int last = PVK_XENBUS_UNKNOWN;

	if (t_toolstack_attach(s, "vpvk", 7))
		return -1;
	T_CHECK_OK(t_put(s, "attached", "1"));
	T_CHECK_OK(pvk_xenbus_backend_init(&dev, s->hv, "vpvk", s->guest, 7));
	T_CHECK(strcmp(pvk_xenbus_peer_path(&dev), dev.fe_path) == 0);
	for (int round = 0; round < 2; round++) {
		T_CHECK_OK(pvk_xenbus_printf(&dev, PVK_XS_NO_TXN,
					     "feature-pvktest", "%d", 1));
		T_CHECK_OK(pvk_xenbus_switch_state(&dev, PVK_XENBUS_INITWAIT));
		T_CHECK_EQ(pvk_xenbus_read_state(&dev, false),
			   PVK_XENBUS_INITWAIT);
		T_CHECK_OK(
			t_wait_peer_state(&dev, &last, PVK_XENBUS_INITIALISED));
		T_CHECK_OK(pvk_xenbus_read_feature(&dev, PVK_XS_NO_TXN,
						   "ring-ref", 0, &v));
		T_CHECK_EQ(v, 42);
		T_CHECK_OK(pvk_xenbus_switch_state(&dev, PVK_XENBUS_CONNECTED));
		T_CHECK_OK(
			t_wait_peer_state(&dev, &last, PVK_XENBUS_CONNECTED));
		snprintf(name, sizeof(name), "close-%d", round);
		T_CHECK_OK(t_put(s, name, "1"));
		T_CHECK_OK(t_wait_peer_state(&dev, &last, PVK_XENBUS_CLOSING));
		T_CHECK_OK(pvk_xenbus_switch_state(&dev, PVK_XENBUS_CLOSING));
		T_CHECK_OK(pvk_xenbus_switch_state(&dev, PVK_XENBUS_CLOSED));
		T_CHECK_OK(t_wait_peer_state(&dev, &last, PVK_XENBUS_CLOSED));
		/* reconnect from Closed: the frontend starts over */
		if (round == 0) {
			T_CHECK_OK(t_put(s, "reopen", "1"));
			T_CHECK_OK(t_wait_peer_state(&dev, &last,
						     PVK_XENBUS_INITIALISING));
		}
	}
	return 0;
}

static int xenbus_guest(struct t_side *s)
{
	struct pvk_xenbus_dev dev;
	unsigned long feat;
	int last = PVK_XENBUS_UNKNOWN;
	char name[16], *v;

	T_CHECK_OK(t_get(s, "attached", &v));
	free(v);
	T_CHECK_OK(pvk_xenbus_frontend_init(&dev, s->hv, "vpvk", 7));
	T_CHECK_EQ(dev.be_domid, 0);
	T_CHECK_EQ(pvk_xenbus_read_state(&dev, false), PVK_XENBUS_INITIALISING);
	for (int round = 0; round < 2; round++) {
		T_CHECK_OK(t_wait_peer_state(&dev, &last, PVK_XENBUS_INITWAIT));
		T_CHECK_OK(pvk_xenbus_read_feature(
			&dev, PVK_XS_NO_TXN, "feature-pvktest", 0, &feat));
		T_CHECK_EQ(feat, 1);
		T_CHECK_OK(pvk_xenbus_read_feature(&dev, PVK_XS_NO_TXN,
						   "feature-absent", 5, &feat));
		T_CHECK_EQ(feat, 5);
		T_CHECK_OK(pvk_xenbus_printf(&dev, PVK_XS_NO_TXN, "ring-ref",
					     "%u", 42));
		T_CHECK_OK(
			pvk_xenbus_switch_state(&dev, PVK_XENBUS_INITIALISED));
		T_CHECK_OK(
			t_wait_peer_state(&dev, &last, PVK_XENBUS_CONNECTED));
		T_CHECK_OK(pvk_xenbus_switch_state(&dev, PVK_XENBUS_CONNECTED));
		/* stay Connected until the backend has seen it */
		snprintf(name, sizeof(name), "close-%d", round);
		T_CHECK_OK(t_get(s, name, &v));
		free(v);
		T_CHECK_OK(pvk_xenbus_switch_state(&dev, PVK_XENBUS_CLOSING));
		T_CHECK_OK(t_wait_peer_state(&dev, &last, PVK_XENBUS_CLOSED));
		T_CHECK_OK(pvk_xenbus_switch_state(&dev, PVK_XENBUS_CLOSED));
		if (round == 0) {
			T_CHECK_OK(t_get(s, "reopen", &v));
			free(v);
			T_CHECK_OK(pvk_xenbus_switch_state(
				&dev, PVK_XENBUS_INITIALISING));
		}
	}
	return 0;
}

static void test_xenbus_state_machine(void **state)
{
	t_run_pair(state, "xenbus", xenbus_dom0, xenbus_guest);
}

/* ------------------------------------------------------------------ */
/* Case: hostile xenbus values                                         */

static int hostile_dom0(struct t_side *s)
{
	char path[300], big[4001], fe[PVK_XENBUS_PATH_MAX];
	struct pvk_xenbus_dev dev;
	unsigned long v;
	char *val;

	for (uint32_t devid = 1; devid <= 6; devid++)
		if (t_toolstack_attach(s, "vpvk", devid))
			return -1;
	memset(big, '1', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
#define FE_NODE(devid, node, val)                                          \
	do {                                                               \
		snprintf(path, sizeof(path),                               \
			 "/local/domain/%u/device/vpvk/%u/%s", s->guest,   \
			 devid, node);                                     \
		T_CHECK_OK(pvk_xs_write(s->hv, PVK_XS_NO_TXN, path, val)); \
	} while (0)
	/* 1: backend path pointing at another domain's backend */
	FE_NODE(1, "backend", "/local/domain/0/backend/vpvk/99/1");
	/* 2: backend-id not a number */
	FE_NODE(2, "backend-id", "0x");
	/* 3: a huge backend path */
	FE_NODE(3, "backend", big);
	/* 4: a backend state that is not a state */
	snprintf(path, sizeof(path), "/local/domain/0/backend/vpvk/%u/4/state",
		 s->guest);
	T_CHECK_OK(pvk_xs_write(s->hv, PVK_XS_NO_TXN, path, "7x"));
	/* 5: backend-id out of range */
	FE_NODE(5, "backend-id", "99999999999999999999999");
	/* 6: a feature with junk */
	snprintf(path, sizeof(path),
		 "/local/domain/0/backend/vpvk/%u/6/feature-x", s->guest);
	T_CHECK_OK(pvk_xs_write(s->hv, PVK_XS_NO_TXN, path, " 1"));
#undef FE_NODE
	T_CHECK_OK(t_put(s, "attached", "1"));

	/* and the other way: a frontend writing nonsense as its state */
	T_CHECK_OK(t_get(s, "fe-state-written", &val));
	free(val);
	T_CHECK_OK(pvk_xenbus_backend_init(&dev, s->hv, "vpvk", s->guest, 4));
	T_CHECK_EQ(pvk_xenbus_read_state(&dev, true), -EPROTO);
	T_CHECK_OK(pvk_xenbus_read_feature(&dev, PVK_XS_NO_TXN, "ring-ref", 0,
					   &v));
	T_CHECK_EQ(v, 0);
	/* a backend whose frontend path points elsewhere */
	snprintf(path, sizeof(path),
		 "/local/domain/0/backend/vpvk/%u/5/frontend", s->guest);
	T_CHECK_OK(pvk_xenbus_frontend_path(fe, sizeof(fe), "vpvk", 0, 5));
	T_CHECK_OK(pvk_xs_write(s->hv, PVK_XS_NO_TXN, path, fe));
	T_CHECK_EQ(pvk_xenbus_backend_init(&dev, s->hv, "vpvk", s->guest, 5),
		   -EPROTO);
	return 0;
}

static int hostile_guest(struct t_side *s)
{
	struct pvk_xenbus_dev dev;
	unsigned long v;
	char *val;

	T_CHECK_OK(t_get(s, "attached", &val));
	free(val);
	T_CHECK_EQ(pvk_xenbus_frontend_init(&dev, s->hv, "vpvk", 1), -EPROTO);
	T_CHECK(dev.be_path[0] == '\0'); /* nothing half-initialised */
	T_CHECK_EQ(pvk_xenbus_frontend_init(&dev, s->hv, "vpvk", 2), -EPROTO);
	T_CHECK_EQ(pvk_xenbus_frontend_init(&dev, s->hv, "vpvk", 3), -EPROTO);
	T_CHECK_EQ(pvk_xenbus_frontend_init(&dev, s->hv, "vpvk", 5), -EPROTO);
	T_CHECK_EQ(pvk_xenbus_frontend_init(&dev, s->hv, "vpvk", 99), -ENOENT);
	T_CHECK_OK(pvk_xenbus_frontend_init(&dev, s->hv, "vpvk", 4));
	T_CHECK_EQ(pvk_xenbus_read_state(&dev, true), -EPROTO);
	T_CHECK_OK(pvk_xenbus_frontend_init(&dev, s->hv, "vpvk", 6));
	T_CHECK_EQ(pvk_xenbus_read_feature(&dev, PVK_XS_NO_TXN, "feature-x", 0,
					   &v),
		   -EPROTO);
	T_CHECK_EQ(pvk_xenbus_read_feature(&dev, PVK_XS_NO_TXN, "../x", 0, &v),
		   -EINVAL);
	T_CHECK_EQ(pvk_xenbus_read_feature(&dev, PVK_XS_NO_TXN, "/x", 0, &v),
		   -EINVAL);
	T_CHECK_EQ(pvk_xenbus_read_feature(&dev, PVK_XS_NO_TXN, "x/", 0, &v),
		   -EINVAL);
	T_CHECK_EQ(pvk_xenbus_read_feature(&dev, PVK_XS_NO_TXN, "a//b", 0, &v),
		   -EINVAL);
	/* Multi-queue nodes live one directory down: queue-N/ring-ref. */
	T_CHECK_OK(pvk_xenbus_printf(&dev, PVK_XS_NO_TXN, "queue-1/ring-ref",
				     "%u", 77u));
	{
		char *q = NULL;

		T_CHECK_EQ(pvk_xenbus_read(&dev, PVK_XS_NO_TXN, false,
					   "queue-1/ring-ref", &q),
			   2);
		T_CHECK(q && strcmp(q, "77") == 0);
		free(q);
	}
	/* our own state node, written as nonsense, for dom0 to reject */
	T_CHECK_OK(
		pvk_xs_write(s->hv, PVK_XS_NO_TXN, "device/vpvk/4/state", "9"));
	T_CHECK_OK(t_put(s, "fe-state-written", "1"));
	return 0;
}

static void test_xenbus_hostile(void **state)
{
	t_run_pair(state, "hostile", hostile_dom0, hostile_guest);
}

/* ------------------------------------------------------------------ */
/* Case: a domain dies with its page mapped                            */

static int death_guest(struct t_side *s)
{
	struct pvk_evtchn *ev;
	uint32_t ref;
	void *page;
	char *v;
	int port;

	T_CHECK_OK(pvk_hv_grant_alloc(s->hv, s->peer, 1, true, &ref, &page));
	strcpy(page, "last words");
	T_CHECK_OK(pvk_evtchn_open(s->hv, &ev));
	port = pvk_evtchn_alloc_unbound(ev, s->peer);
	T_CHECK(port > 0);
	T_CHECK_OK(pvk_xs_write(s->hv, PVK_XS_NO_TXN, "data/pvkdeath/x", "1"));
	T_CHECK_OK(t_put(s, "ref", "%u", ref));
	T_CHECK_OK(t_put(s, "port", "%d", port));
	T_CHECK_OK(t_get(s, "mapped", &v));
	free(v);
	/* and now the domain dies, without cleaning up */
	s->leftover = ev;
	return 0;
}

static int death_dom0(struct t_side *s)
{
	struct pvk_domain_info info;
	unsigned long ref, port;
	struct pvk_evtchn *ev;
	char path[96], *v;
	void *page, *again;
	uint32_t r;
	int lport, ret;

	T_CHECK_OK(pvk_xs_watch(s->hv, "@releaseDomain", "rel"));
	T_CHECK_OK(t_wait_watch(s->hv, "@releaseDomain", "rel"));
	T_CHECK_OK(t_get_ulong(s, "ref", &ref));
	T_CHECK_OK(t_get_ulong(s, "port", &port));
	r = (uint32_t)ref;
	T_CHECK_OK(pvk_hv_grant_map(s->hv, s->peer, 1, &r, false, &page));
	T_CHECK_OK(pvk_evtchn_open(s->hv, &ev));
	lport = pvk_evtchn_bind(ev, s->peer, (uint32_t)port);
	T_CHECK(lport > 0);
	T_CHECK_OK(pvk_hv_domain_info(s->hv, s->peer, &info));
	T_CHECK_EQ(info.domid, s->peer);
	T_CHECK_OK(t_put(s, "mapped", "1"));

	T_CHECK_OK(s->destroy_guest(s));
	T_CHECK_OK(t_wait_watch(s->hv, "@releaseDomain", "rel"));
	/* the mapping survives its granter */
	T_CHECK(strcmp(page, "last words") == 0);
	/* our port is unbound now: notify is silently dropped */
	T_CHECK_OK(pvk_evtchn_notify(ev, (uint32_t)lport));
	/* gone, or (Xen, the simulator) a zombie while we map its page */
	ret = pvk_hv_domain_info(s->hv, s->peer, &info);
	T_CHECK(ret == -ENOENT || (ret == 0 && info.dying));
	snprintf(path, sizeof(path), "/local/domain/%u", s->peer);
	T_CHECK_EQ(pvk_xs_read(s->hv, PVK_XS_NO_TXN, path, &v), -ENOENT);
	T_CHECK(pvk_hv_grant_map(s->hv, s->peer, 1, &r, false, &again) < 0);
	T_CHECK_OK(pvk_hv_grant_unmap(s->hv, page, 1));
	T_CHECK_OK(pvk_evtchn_unbind(ev, (uint32_t)lport));
	pvk_evtchn_close(ev);
	T_CHECK_OK(pvk_xs_unwatch(s->hv, "@releaseDomain", "rel"));
	return 0;
}

static void test_domain_destroy(void **state)
{
	struct t_env *env = *state;

	if (env->split)
		skip(); /* needs a toolstack that can kill the peer */
	t_run_pair(state, "death", death_dom0, death_guest);
}

/* ------------------------------------------------------------------ */
/* Case: bad arguments                                                 */

static void test_bad_args(void **state)
{
	struct t_env *env = *state;
	struct pvk_domain_info info;
	struct pvk_evtchn *ev;
	struct pvk_hv *hv;
	uint32_t ref = 8;
	void *addr;
	char *v, **names, big[4200];
	struct pvk_xs_perm perm = { 0, 'x' };

	/* without a handle */
	assert_int_equal(pvk_hv_open(&hv, 0x80), -EINVAL);
	assert_int_equal(pvk_hv_open(NULL, 0), -EINVAL);
	assert_int_equal(pvk_hv_open_loop(&hv, NULL, 0), -EINVAL);
	assert_int_equal(pvk_loop_create(NULL), -EINVAL);
	pvk_hv_close(NULL);
	pvk_evtchn_close(NULL);
	pvk_loop_destroy(NULL);
	assert_int_equal(pvk_xs_read(NULL, 0, "x", &v), -EINVAL);
	assert_int_equal(pvk_evtchn_notify(NULL, 1), -EINVAL);
	if (!env->available || env->split)
		skip();
	if (env->is_loop) {
		assert_int_equal(pvk_hv_open_loop(&hv, env->loop, 0x8000),
				 -EINVAL);
		assert_int_equal(pvk_hv_open_loop(&hv, env->loop, 0x7000),
				 -ENOENT);
		assert_int_equal(pvk_loop_domain_destroy(env->loop, 0),
				 -EINVAL);
		assert_int_equal(pvk_loop_domain_destroy(env->loop, 0x7000),
				 -ENOENT);
	}
	hv = t_open_dom0(env);
	assert_int_equal(pvk_hv_grant_alloc(hv, 1, 0, true, &ref, &addr),
			 -EINVAL);
	assert_int_equal(pvk_hv_grant_alloc(hv, 0x8000, 1, true, &ref, &addr),
			 -EINVAL);
	assert_int_equal(pvk_hv_grant_alloc(hv, 1, 1, true, NULL, &addr),
			 -EINVAL);
	assert_int_equal(pvk_hv_grant_alloc(hv, 1, 1, true, &ref, NULL),
			 -EINVAL);
	assert_int_equal(pvk_hv_grant_map(hv, 1, 0, &ref, false, &addr),
			 -EINVAL);
	assert_int_equal(pvk_hv_grant_map(hv, PVK_DOMID_SELF, 1, &ref, false,
					  &addr),
			 -EINVAL);
	assert_int_equal(pvk_hv_grant_map(hv, 1, 1, NULL, false, &addr),
			 -EINVAL);
	assert_int_equal(pvk_hv_grant_copy(hv, NULL, 1), -EINVAL);
	assert_int_equal(pvk_hv_domain_info(hv, 0x8000, &info), -EINVAL);
	assert_int_equal(pvk_hv_domain_info(hv, 0, NULL), -EINVAL);
	assert_int_equal(pvk_hv_domain_info(hv, 0, &info), 0);

	assert_int_equal(pvk_xs_read(hv, 0, NULL, &v), -EINVAL);
	assert_int_equal(pvk_xs_read(hv, 0, "a//b", &v), -EINVAL);
	assert_int_equal(pvk_xs_read(hv, 0, "/a/", &v), -EINVAL);
	assert_int_equal(pvk_xs_read(hv, 0, "/a b", &v), -EINVAL);
	assert_int_equal(pvk_xs_read(hv, 0, "@releaseDomain", &v), -EINVAL);
	assert_int_equal(pvk_xs_read(hv, 0, "/local/domain/0/pvk-none", &v),
			 -ENOENT);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(pvk_xs_write(hv, 0, "/local/domain/0/pvk-big", big),
			 -E2BIG);
	assert_int_equal(pvk_xs_write(hv, 0, "/local/domain/0/x", NULL),
			 -EINVAL);
	assert_int_equal(pvk_xs_directory(hv, 0, "/", NULL), -EINVAL);
	names = NULL;
	assert_true(pvk_xs_directory(hv, 0, "/local/domain", &names) >= 1);
	free(names);
	assert_int_equal(pvk_xs_set_perms(hv, 0, "/local/domain/0", &perm, 1),
			 -EINVAL);
	assert_int_equal(pvk_xs_set_perms(hv, 0, "/local/domain/0", &perm, 0),
			 -EINVAL);
	assert_int_equal(pvk_xs_transaction(hv, 0, NULL, NULL), -EINVAL);
	assert_int_equal(pvk_xs_watch(hv, "/x", NULL), -EINVAL);
	assert_int_equal(pvk_xs_watch(hv, "@bad@", "t"), -EINVAL);

	assert_int_equal(pvk_evtchn_open(hv, &ev), 0);
	assert_int_equal(pvk_evtchn_alloc_unbound(ev, 0x8000), -EINVAL);
	assert_int_equal(pvk_evtchn_bind(ev, 1, 0), -EINVAL);
	assert_int_equal(pvk_evtchn_notify(ev, 0), -EINVAL);
	assert_int_equal(pvk_evtchn_wait(ev, -2), -EINVAL);
	assert_int_equal(pvk_evtchn_pending(ev), -EAGAIN);
	assert_int_equal(pvk_evtchn_wait(ev, 1), -ETIMEDOUT);
	pvk_evtchn_close(ev);

	/* xenbus */
	{
		struct pvk_xenbus_dev dev;
		char buf[16];

		assert_int_equal(pvk_xenbus_frontend_path(buf, sizeof(buf),
							  "vbd", 1, 51712),
				 -ENAMETOOLONG);
		assert_int_equal(pvk_xenbus_frontend_path(buf, sizeof(buf),
							  "v/bd", 1, 1),
				 -EINVAL);
		assert_int_equal(pvk_xenbus_backend_path(buf, sizeof(buf),
							 "vbd", 0, 0x8000, 1),
				 -EINVAL);
		assert_int_equal(pvk_xenbus_frontend_init(
					 &dev, hv, "much-too-long-type", 1),
				 -EINVAL);
		assert_int_equal(pvk_xenbus_frontend_init(&dev, NULL, "vbd", 1),
				 -EINVAL);
		assert_int_equal(pvk_xenbus_backend_init(&dev, hv, "vbd",
							 0x8000, 1),
				 -EINVAL);
		assert_int_equal(pvk_xenbus_read_state(NULL, true), -EINVAL);
		assert_string_equal(pvk_xenbus_state_name(4), "Connected");
		assert_string_equal(pvk_xenbus_state_name(9), "Invalid");
		assert_true(pvk_xenbus_transition_ok(1, 2));
		assert_true(pvk_xenbus_transition_ok(4, 5));
		assert_true(pvk_xenbus_transition_ok(6, 1));
		assert_true(pvk_xenbus_transition_ok(0, 4));
		assert_false(pvk_xenbus_transition_ok(4, 2));
		assert_false(pvk_xenbus_transition_ok(3, 1));
		assert_false(pvk_xenbus_transition_ok(4, 9));
		assert_false(pvk_xenbus_transition_ok(-1, 1));
	}
	pvk_hv_close(hv);
}

/* ------------------------------------------------------------------ */
/* loop only: xenstore corner cases and domain lifecycle               */

static int txn_foreign_fn(struct pvk_hv *hv, pvk_xs_txn_t txn, void *other)
{
	char *v;
	int ret = pvk_xs_read(other, txn, "/tx/a", &v);

	if (ret >= 0)
		free(v);
	return ret >= 0 ? -EEXIST : ret;
}

static void test_loop_xenstore_rules(void **state)
{
	struct t_env *env = *state;
	struct pvk_hv *h0, *hg, *h0b;
	uint32_t g;
	char *v, *p, *t;
	int n;

	if (!env->is_loop)
		skip();
	assert_int_equal(pvk_loop_domain_create(env->loop, "rules", &g), 0);
	assert_int_equal(pvk_hv_open_loop(&h0, env->loop, 0), 0);
	assert_int_equal(pvk_hv_open_loop(&h0b, env->loop, 0), 0);
	assert_int_equal(pvk_hv_open_loop(&hg, env->loop, g), 0);
	assert_string_equal(pvk_hv_backend(hg), "loop");
	assert_int_equal(pvk_hv_domid(hg), g);

	/* home: name, owned by the domain */
	assert_int_equal(pvk_xs_read(hg, 0, "name", &v), 5);
	assert_string_equal(v, "rules");
	free(v);
	/* a backend directory of its own type, serving an ordinary vbd */
	{
		struct pvk_xenbus_dev dev;
		char be[96], fe[96], node[128];

		snprintf(be, sizeof(be), "/local/domain/0/backend/pvkvbd/%u/9",
			 g);
		snprintf(fe, sizeof(fe), "/local/domain/%u/device/vbd/9", g);
		snprintf(node, sizeof(node), "%s/frontend", be);
		assert_int_equal(pvk_xs_write(h0, 0, node, fe), 0);
		snprintf(node, sizeof(node), "%s/frontend-id", be);
		assert_int_equal(pvk_xs_printf(h0, 0, node, "%u", g), 0);
		assert_int_equal(pvk_xenbus_backend_init_as(&dev, h0, "pvkvbd",
							    "vbd", g, 9),
				 0);
		assert_string_equal(pvk_xenbus_own_path(&dev), be);
		assert_string_equal(pvk_xenbus_peer_path(&dev), fe);
		/* the plain form expects device/pvkvbd/: not this device */
		assert_int_equal(pvk_xenbus_backend_init(&dev, h0, "pvkvbd", g,
							 9),
				 -EPROTO);
		assert_int_equal(pvk_xenbus_backend_init_as(&dev, h0, "pvkvbd",
							    "v/bd", g, 9),
				 -EINVAL);
		assert_int_equal(pvk_xs_rm(h0, 0, "/local/domain/0/backend"),
				 0);
	}
	/* intermediate nodes are created, owned by the creator */
	assert_int_equal(pvk_xs_write(hg, 0, "a/b/c", "v"), 0);
	assert_int_equal(pvk_xs_read(hg, 0, "a/b", &v), 0);
	free(v);
	/* rm: recursive; a missing node under an existing parent is fine */
	assert_int_equal(pvk_xs_rm(hg, 0, "a/b/zz"), 0);
	assert_int_equal(pvk_xs_rm(hg, 0, "a/q/zz"), -ENOENT);
	assert_int_equal(pvk_xs_rm(hg, 0, "a"), 0);
	assert_int_equal(pvk_xs_read(hg, 0, "a/b/c", &v), -ENOENT);
	/* mkdir of an existing node is a no-op */
	assert_int_equal(pvk_xs_mkdir(hg, 0, "name"), 0);
	assert_int_equal(pvk_xs_read(hg, 0, "name", &v), 5);
	free(v);

	/* a dom0-only directory */
	assert_int_equal(pvk_xs_write(h0, 0, "/tx/a", "0"), 0);
	{
		struct pvk_xs_perm p0 = { 0, 'n' };

		assert_int_equal(pvk_xs_set_perms(h0, 0, "/tx", &p0, 1), 0);
	}
	/* transaction ids belong to their connection */
	assert_int_equal(pvk_xs_transaction(h0, 1, txn_foreign_fn, h0b),
			 -ENOENT);

	/* watches: dom0's write of a node the guest may not read is not
	 * reported to it */
	assert_int_equal(pvk_xs_watch(hg, "/tx", "w"), 0);
	assert_int_equal(pvk_xs_read_watch(hg, &p, &t), 1);
	free(p);
	free(t);
	assert_int_equal(pvk_xs_write(h0, 0, "/tx/a", "1"), 0);
	assert_int_equal(pvk_xs_read_watch(hg, &p, &t), 0);
	/* relative and absolute watches; @introduceDomain */
	assert_int_equal(pvk_xs_watch(h0, "@introduceDomain", "intro"), 0);
	assert_int_equal(pvk_xs_read_watch(h0, &p, &t), 1);
	assert_string_equal(p, "@introduceDomain");
	free(p);
	free(t);
	{
		uint32_t g2;

		assert_int_equal(pvk_loop_domain_create(env->loop, "x", &g2),
				 0);
		assert_true(g2 != g && g2 != 0);
		assert_int_equal(pvk_xs_read_watch(h0, &p, &t), 1);
		assert_string_equal(t, "intro");
		free(p);
		free(t);
		assert_int_equal(pvk_loop_domain_destroy(env->loop, g2), 0);
		assert_int_equal(pvk_loop_domain_destroy(env->loop, g2),
				 -ENOENT);
	}
	assert_int_equal(pvk_xs_unwatch(h0, "@introduceDomain", "intro"), 0);

	/* quota: a guest can't fill the store */
	for (n = 0; n < 2000; n++) {
		char path[32];
		int ret;

		snprintf(path, sizeof(path), "q/%d", n);
		ret = pvk_xs_write(hg, 0, path, "x");
		if (ret) {
			assert_int_equal(ret, -ENOSPC);
			break;
		}
	}
	assert_true(n < 1000);
	assert_int_equal(pvk_xs_rm(hg, 0, "q"), 0);
	assert_int_equal(pvk_xs_write(hg, 0, "q/again", "x"), 0);

	/* the destroyed domain's handle fails, and closes cleanly */
	assert_int_equal(pvk_loop_domain_destroy(env->loop, g), 0);
	assert_int_equal(pvk_xs_read(hg, 0, "name", &v), -ESRCH);
	pvk_hv_close(hg);
	pvk_hv_close(h0b);
	pvk_hv_close(h0);
}

/* A transaction that only read a node conflicts when it changes; one
 * that touched unrelated nodes does not. */
struct txn_ro_arg {
	struct pvk_hv *other;
	int runs;
	const char *touch; /* written by the other side in run 1 */
};

static int txn_ro_fn(struct pvk_hv *hv, pvk_xs_txn_t txn, void *p)
{
	struct txn_ro_arg *a = p;
	char *v;
	int ret;

	a->runs++;
	ret = pvk_xs_read(hv, txn, "/tx2/watched", &v);
	if (ret < 0)
		return ret;
	free(v);
	if (a->runs == 1)
		pvk_xs_write(a->other, 0, a->touch, "changed");
	/* our write is visible to us inside, not outside */
	ret = pvk_xs_write(hv, txn, "/tx2/out", "mine");
	if (ret)
		return ret;
	ret = pvk_xs_read(a->other, 0, "/tx2/out", &v);
	if (ret >= 0) {
		free(v);
		return -EEXIST;
	}
	ret = pvk_xs_read(hv, txn, "/tx2/out", &v);
	if (ret < 0)
		return ret;
	free(v);
	return 0;
}

static int txn_mkdir2_fn(struct pvk_hv *hv, pvk_xs_txn_t txn, void *p)
{
	int *runs = p, ret;

	(*runs)++;
	ret = pvk_xs_write(hv, txn, "/tx3/dir/a", "1");
	if (!ret)
		ret = pvk_xs_write(hv, txn, "/tx3/dir/b", "2");
	return ret;
}

static void test_loop_transactions(void **state)
{
	struct t_env *env = *state;
	struct txn_ro_arg a = { 0 };
	struct pvk_hv *h0, *h1;
	char *v;

	if (!env->is_loop)
		skip();
	assert_int_equal(pvk_hv_open_loop(&h0, env->loop, 0), 0);
	assert_int_equal(pvk_hv_open_loop(&h1, env->loop, 0), 0);
	assert_int_equal(pvk_xs_write(h0, 0, "/tx2/watched", "0"), 0);
	assert_int_equal(pvk_xs_write(h0, 0, "/tx2/unrelated", "0"), 0);
	a.other = h1;
	a.touch = "/tx2/unrelated";
	assert_int_equal(pvk_xs_transaction(h0, 0, txn_ro_fn, &a), 0);
	assert_int_equal(a.runs, 1);
	assert_int_equal(pvk_xs_rm(h0, 0, "/tx2/out"), 0);
	a.runs = 0;
	a.touch = "/tx2/watched";
	assert_int_equal(pvk_xs_transaction(h0, 0, txn_ro_fn, &a), 0);
	assert_int_equal(a.runs, 2);
	assert_int_equal(pvk_xs_read(h1, 0, "/tx2/out", &v), 4);
	free(v);
	assert_int_equal(pvk_xs_rm(h0, 0, "/tx2"), 0);
	/* Creating a directory and two nodes in it, in one transaction,
	 * commits first time (it once conflicted with itself). */
	assert_int_equal(pvk_xs_transaction(h0, 0, txn_mkdir2_fn, &a.runs), 0);
	assert_int_equal(pvk_xs_read(h1, 0, "/tx3/dir/b", &v), 1);
	free(v);
	assert_int_equal(pvk_xs_rm(h0, 0, "/tx3"), 0);
	pvk_hv_close(h1);
	pvk_hv_close(h0);
}

/* loop copies a transaction's tree as the transaction walks it, so what
 * another writer changes after the start and the transaction reads later
 * must still fail the commit, and a change elsewhere must not. */
struct txn_lazy_arg {
	struct pvk_hv *other;
	int step;
};

static int txn_lazy_fn(struct pvk_hv *hv, pvk_xs_txn_t txn, void *p)
{
	struct txn_lazy_arg *a = p;
	char *v, **names;
	int ret = 0;

	switch (a->step) {
	case 0: /* changed outside after the start, then read inside */
		if (pvk_xs_write(a->other, 0, "/tl/a/b/c", "new"))
			return -EIO;
		ret = pvk_xs_read(hv, txn, "/tl/a/b/c", &v);
		if (ret >= 0)
			free(v);
		break;
	case 1: /* created outside, then its directory listed inside */
		if (pvk_xs_write(a->other, 0, "/tl/d/new", "x"))
			return -EIO;
		ret = pvk_xs_directory(hv, txn, "/tl/d", &names);
		if (ret >= 0)
			free(names);
		break;
	case 2: /* removed outside, then written under inside */
		if (pvk_xs_rm(a->other, 0, "/tl/e/gone"))
			return -EIO;
		ret = pvk_xs_write(hv, txn, "/tl/e/gone/x", "1");
		break;
	case 3: /* a change elsewhere: commits */
		if (pvk_xs_write(a->other, 0, "/tl/f/other", "1"))
			return -EIO;
		ret = pvk_xs_read(hv, txn, "/tl/a/b/c", &v);
		if (ret >= 0) {
			free(v);
			ret = pvk_xs_write(hv, txn, "/tl/g/mine", "1");
		}
		break;
	case 4: /* a removal inside takes the whole subtree, copied or not */
		ret = pvk_xs_read(hv, txn, "/tl/a/b", &v);
		if (ret >= 0) {
			free(v);
			ret = pvk_xs_rm(hv, txn, "/tl");
		}
		if (!ret)
			ret = pvk_xs_read(hv, txn, "/tl/e/keep", &v) ==
					      -ENOENT ?
				      0 :
				      -EIO;
		break;
	}
	return ret < 0 ? ret : 0;
}

static void test_loop_transaction_lazy_copy(void **state)
{
	struct t_env *env = *state;
	struct txn_lazy_arg a = { 0 };
	struct pvk_hv *h0;
	char *v;

	if (!env->is_loop)
		skip();
	assert_int_equal(pvk_hv_open_loop(&h0, env->loop, 0), 0);
	assert_int_equal(pvk_hv_open_loop(&a.other, env->loop, 0), 0);
	assert_int_equal(pvk_xs_write(h0, 0, "/tl/a/b/c", "old"), 0);
	assert_int_equal(pvk_xs_write(h0, 0, "/tl/d/x", "1"), 0);
	assert_int_equal(pvk_xs_write(h0, 0, "/tl/e/gone/y", "1"), 0);
	assert_int_equal(pvk_xs_write(h0, 0, "/tl/e/keep", "1"), 0);
	assert_int_equal(pvk_xs_write(h0, 0, "/tl/f/x", "1"), 0);
	assert_int_equal(pvk_xs_write(h0, 0, "/tl/g/x", "1"), 0);
	for (a.step = 0; a.step < 3; a.step++)
		assert_int_equal(pvk_xs_transaction(h0, 1, txn_lazy_fn, &a),
				 -EAGAIN);
	/* None of the refused transactions' writes landed. */
	assert_int_equal(pvk_xs_read(h0, 0, "/tl/e/gone/x", &v), -ENOENT);
	assert_int_equal(pvk_xs_transaction(h0, 1, txn_lazy_fn, &a), 0);
	assert_int_equal(pvk_xs_read(h0, 0, "/tl/g/mine", &v), 1);
	free(v);
	a.step = 4;
	assert_int_equal(pvk_xs_transaction(h0, 1, txn_lazy_fn, &a), 0);
	assert_int_equal(pvk_xs_read(h0, 0, "/tl/e/keep", &v), -ENOENT);
	assert_int_equal(pvk_xs_read(h0, 0, "/tl", &v), -ENOENT);
	pvk_hv_close(a.other);
	pvk_hv_close(h0);
}

/* A guest's node quota holds inside transactions too, and a commit is
 * all or nothing: loop used to skip the check inside, then apply the
 * commit's writes until the quota stopped one, and report success. */
struct txn_quota_arg {
	struct pvk_hv *plain; /* same domain, outside the transaction */
	int nwritten, runs;
	bool fill; /* fill the quota with plain writes before returning */
};

static int txn_quota_fn(struct pvk_hv *hv, pvk_xs_txn_t txn, void *p)
{
	struct txn_quota_arg *a = p;
	char path[32];
	int ret, n;

	a->runs++;
	if (!a->fill) {
		for (a->nwritten = 0; a->nwritten < 2000; a->nwritten++) {
			snprintf(path, sizeof(path), "t/%d", a->nwritten);
			ret = pvk_xs_write(hv, txn, path, "x");
			if (ret)
				return ret;
		}
		return 0;
	}
	ret = pvk_xs_write(hv, txn, "t/a", "x");
	if (!ret)
		ret = pvk_xs_write(hv, txn, "u/b", "x");
	if (ret)
		return ret;
	/* Unrelated nodes, so no conflict: only the quota can stop it. */
	for (n = 0; n < 2000; n++) {
		snprintf(path, sizeof(path), "p/%d", n);
		if (pvk_xs_write(a->plain, 0, path, "x"))
			break;
	}
	return pvk_xs_rm(a->plain, 0, "p/0");
}

static void test_loop_transaction_quota(void **state)
{
	struct t_env *env = *state;
	struct txn_quota_arg a = { 0 };
	struct pvk_hv *hg, *hg2;
	uint32_t g;
	char *v;

	if (!env->is_loop)
		skip();
	assert_int_equal(pvk_loop_domain_create(env->loop, "quota", &g), 0);
	assert_int_equal(pvk_hv_open_loop(&hg, env->loop, g), 0);
	assert_int_equal(pvk_hv_open_loop(&hg2, env->loop, g), 0);
	a.plain = hg2;
	/* Their parents exist: a transaction writing under t/ and u/ does
	 * not conflict with plain writes under p/. */
	assert_int_equal(pvk_xs_mkdir(hg, 0, "t"), 0);
	assert_int_equal(pvk_xs_mkdir(hg, 0, "u"), 0);
	assert_int_equal(pvk_xs_mkdir(hg, 0, "p"), 0);

	/* Inside one transaction the guest cannot pass its quota. */
	assert_int_equal(pvk_xs_transaction(hg, 1, txn_quota_fn, &a), -ENOSPC);
	assert_true(a.nwritten > 0 && a.nwritten < 1000);
	assert_int_equal(pvk_xs_read(hg, 0, "t/0", &v), -ENOENT);

	/* Within the quota when written, past it at commit (plain writes
	 * filled the rest meanwhile): refused, and none of it applied. */
	a.fill = true;
	assert_int_equal(pvk_xs_transaction(hg, 1, txn_quota_fn, &a), -ENOSPC);
	assert_int_equal(pvk_xs_read(hg, 0, "t/a", &v), -ENOENT);
	assert_int_equal(pvk_xs_read(hg, 0, "u/b", &v), -ENOENT);
	assert_int_equal(pvk_xs_rm(hg, 0, "p"), 0);
	assert_int_equal(pvk_loop_domain_destroy(env->loop, g), 0);
	pvk_hv_close(hg2);
	pvk_hv_close(hg);
}

/* ------------------------------------------------------------------ */
/* Environments                                                        */

static struct t_env loop_env = { .name = "loop", .is_loop = true };
static struct t_env xen_env = { .name = "xen" };

static int setup_loop(void **state)
{
	if (pvk_loop_create(&loop_env.loop))
		return -1;
	loop_env.available = true;
	*state = &loop_env;
	return 0;
}

static int teardown_loop(void **state)
{
	pvk_loop_destroy(loop_env.loop);
	loop_env.loop = NULL;
	return 0;
}

/* ------------------------------------------------------------------ */
/* xen on pvkit-simd                                                   */

struct t_case {
	const char *name;
	t_side_fn dom0, guest;
};

static const struct t_case t_cases[] = {
	{ "pingpong", pingpong_dom0, pingpong_guest },
	{ "grants", grants_dom0, grants_guest },
	{ "evtchn", evtchn_dom0, evtchn_guest },
	{ "perms", perms_dom0, perms_guest },
	{ "watch", watch_dom0, watch_guest },
	{ "xenbus", xenbus_dom0, xenbus_guest },
	{ "hostile", hostile_dom0, hostile_guest },
	{ "death", death_dom0, death_guest },
};

static const struct t_case *t_case_find(const char *name)
{
	for (size_t i = 0; i < sizeof(t_cases) / sizeof(t_cases[0]); i++)
		if (strcmp(t_cases[i].name, name) == 0)
			return &t_cases[i];
	return NULL;
}

static char t_exe[PATH_MAX], t_bindir[PATH_MAX];

/* build/tests/test-hv -> build/bin (or $PVK_BUILD/bin) */
static int t_find_bindir(void)
{
	const char *b = getenv("PVK_BUILD");
	ssize_t n = readlink("/proc/self/exe", t_exe, sizeof(t_exe) - 1);
	char *slash;

	if (n <= 0)
		return -errno;
	t_exe[n] = '\0';
	if (b) {
		snprintf(t_bindir, sizeof(t_bindir), "%s/bin", b);
	} else {
		snprintf(t_bindir, sizeof(t_bindir), "%s", t_exe);
		slash = strrchr(t_bindir, '/');
		if (!slash)
			return -ENOENT;
		strcpy(slash, "/../bin");
	}
	return 0;
}

/* Run `pvkit ARGS...` and wait; its output goes to our stderr. */
static int t_pvkit(const char *a1, const char *a2)
{
	char tool[PATH_MAX + 8];
	int status;
	pid_t pid;

	snprintf(tool, sizeof(tool), "%s/pvkit", t_bindir);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		dup2(2, 1);
		execl(tool, "pvkit", a1, a2, (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

static int t_sim_start(struct t_env *env)
{
	char simd[PATH_MAX + 16], tool[PATH_MAX + 8];
	const char *tmp = getenv("TMPDIR");
	struct pvk_hv *hv;
	int ret;

	if (t_find_bindir())
		return -ENOENT;
	snprintf(simd, sizeof(simd), "%s/pvkit-simd", t_bindir);
	snprintf(tool, sizeof(tool), "%s/pvkit", t_bindir);
	if (access(simd, X_OK) || access(tool, X_OK))
		return -ENOENT;
	snprintf(env->simdir, sizeof(env->simdir), "%s/pvkit-test-hv.XXXXXX",
		 tmp ? tmp : "/tmp");
	if (!mkdtemp(env->simdir))
		return -errno;
	setenv("PVKIT_SIM_DIR", env->simdir, 1);
	unsetenv("PVKIT_DOMID");
	unsetenv("XENSTORED_PATH");
	ret = t_pvkit("sim", "start");
	if (ret == 0)
		ret = pvk_hv_open(&hv, PVK_HV_XEN);
	if (ret) {
		fprintf(stderr, "simulator in %s did not start: %s\n",
			env->simdir, strerror(-ret));
		t_pvkit("sim", "stop");
		rmdir(env->simdir);
		env->simdir[0] = '\0';
		return ret;
	}
	fprintf(stderr, "xen cases run on %s (simulator in %s)\n",
		pvk_hv_backend(hv), env->simdir);
	pvk_hv_close(hv);
	return 0;
}

static void t_sim_stop(struct t_env *env)
{
	char cmd[PATH_MAX + 16];

	if (!env->simdir[0])
		return;
	t_pvkit("sim", "stop");
	if (getenv("PVKIT_TEST_KEEP")) {
		fprintf(stderr, "kept %s\n", env->simdir);
		return;
	}
	/* the state directory holds sockets and logs only */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", env->simdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", env->simdir);
	env->simdir[0] = '\0';
}

struct t_sim_pair {
	pid_t child; /* `pvkit domain create` running our guest side */
	int status;
	bool reaped;
};

static int t_sim_reap(struct t_sim_pair *sp)
{
	if (!sp->reaped) {
		if (waitpid(sp->child, &sp->status, 0) < 0)
			return -errno;
		sp->reaped = true;
	}
	return WIFEXITED(sp->status) && WEXITSTATUS(sp->status) == 0 ? 0 : -EIO;
}

/* The guest's side returns, its process exits, the domain ends. */
static int t_sim_destroy_guest(struct t_side *s)
{
	int ret = t_put(s, "finished", "1");

	return ret ? ret : t_sim_reap(s->priv);
}

/* Find the domain the toolstack created under @name. */
static int t_sim_find_domain(struct pvk_hv *hv, const char *name,
			     uint32_t *domid)
{
	int64_t deadline = t_now_ms() + 1000LL * t_timeout_s();
	char path[64], **names, *v;
	int n;

	while (t_now_ms() < deadline) {
		n = pvk_xs_directory(hv, PVK_XS_NO_TXN, "/local/domain",
				     &names);
		for (int i = 0; i < n; i++) {
			snprintf(path, sizeof(path), "/local/domain/%s/name",
				 names[i]);
			if (pvk_xs_read(hv, PVK_XS_NO_TXN, path, &v) < 0)
				continue;
			if (strcmp(v, name) == 0) {
				*domid = (uint32_t)atoi(names[i]);
				free(v);
				free(names);
				return 0;
			}
			free(v);
		}
		if (n >= 0)
			free(names);
		t_sleep_ms(5);
	}
	return -ETIMEDOUT;
}

static int t_run_sim_pair(struct t_env *env, const char *casename,
			  t_side_fn dom0_fn, t_side_fn guest_fn)
{
	struct t_sim_pair sp = { 0 };
	struct pvk_hv *hv = NULL;
	char tool[PATH_MAX + 8], name[64];
	struct t_side s;
	uint32_t g = 0;
	int ret;

	snprintf(tool, sizeof(tool), "%s/pvkit", t_bindir);
	snprintf(name, sizeof(name), "pvktest-%s-%d", casename, (int)getpid());
	assert_int_equal(pvk_hv_open(&hv, PVK_HV_XEN), 0);
	sp.child = fork();
	assert_true(sp.child >= 0);
	if (sp.child == 0) {
		setenv("PVKIT_TEST_CHILD", casename, 1);
		dup2(2, 1);
		execl(tool, "pvkit", "domain", "create", name, "--", t_exe,
		      (char *)NULL);
		_exit(127);
	}
	ret = t_sim_find_domain(hv, name, &g);
	if (ret == 0) {
		t_side_init(&s, env, hv, 0, g, g, casename);
		s.destroy_guest = t_sim_destroy_guest;
		s.priv = &sp;
		ret = dom0_fn(&s);
		/* the guest's home (and our rendezvous) lives as long as
		 * the guest: it waits for this before exiting */
		if (!sp.reaped)
			t_put(&s, "finished", "1");
	} else {
		fprintf(stderr, "domain %s did not appear\n", name);
		kill(sp.child, SIGTERM);
	}
	if (t_sim_reap(&sp))
		fprintf(stderr, "guest side of %s failed (status %#x)\n",
			casename, sp.status);
	pvk_hv_close(hv);
	assert_int_equal(ret, 0);
	assert_int_equal(t_sim_reap(&sp), 0);
	(void)guest_fn;
	return 0;
}

/* In a domain created by t_run_sim_pair: run one case's guest side. */
static int t_child_main(const char *casename)
{
	const struct t_case *c = t_case_find(casename);
	struct pvk_hv *hv;
	struct t_side s;
	int ret;

	if (!c) {
		fprintf(stderr, "unknown case %s\n", casename);
		return 2;
	}
	ret = pvk_hv_open(&hv, PVK_HV_XEN);
	if (ret) {
		fprintf(stderr, "guest: pvk_hv_open: %s\n", strerror(-ret));
		return 1;
	}
	t_side_init(&s, &xen_env, hv, pvk_hv_domid(hv), 0, pvk_hv_domid(hv),
		    casename);
	ret = c->guest(&s);
	if (getenv("PVKIT_TEST_VERBOSE"))
		fprintf(stderr, "guest side of %s in domain %u: %d\n", casename,
			s.self, ret);
	/* Our exit ends the domain and removes its home, where dom0 may
	 * still be reading: wait until it is done with us. */
	{
		char *v;

		if (t_get(&s, "finished", &v) == 0)
			free(v);
	}
	pvk_evtchn_close(s.leftover);
	pvk_hv_close(hv);
	return ret ? 1 : 0;
}

static int setup_xen(void **state)
{
	const char *want = getenv("PVKIT_TEST_XEN");
	const char *side = getenv("PVKIT_TEST_SIDE");
	struct pvk_hv *hv;
	int ret;

	*state = &xen_env;
	if (want && strcmp(want, "0") == 0)
		return 0;
	if (side) {
		const char *peer = getenv("PVKIT_TEST_PEER");

		if (strcmp(side, "dom0") && strcmp(side, "guest")) {
			fprintf(stderr,
				"PVKIT_TEST_SIDE must be dom0 or guest\n");
			return -1;
		}
		xen_env.split = true;
		xen_env.split_side = side;
		xen_env.split_peer = peer ? (uint32_t)atoi(peer) : 0;
	}
	ret = pvk_hv_open(&hv, PVK_HV_XEN);
	if (ret == 0) {
		bool real = strcmp(pvk_hv_backend(hv), "xen") == 0;

		pvk_hv_close(hv);
		if (real && !xen_env.split) {
			/* real Xen, one process: nothing to pair with */
			fprintf(stderr, "real Xen: run split (see header)\n");
			return 0;
		}
		xen_env.available = true;
		return 0;
	}
	if (!xen_env.split && t_sim_start(&xen_env) == 0) {
		xen_env.available = true;
		return 0;
	}
	fprintf(stderr, "xen cases skipped: no Xen and no simulator (%s)\n",
		strerror(-ret));
	return want && strcmp(want, "1") == 0 ? -1 : 0;
}

static int teardown_xen(void **state)
{
	t_sim_stop(&xen_env);
	return 0;
}

/* Polling budget (struct pvk_spin): starts at the maximum; halves after
 * each sleep longer than it, down to 0 after a few; grows back, doubling
 * from 1/8, after short sleeps; never above the maximum; 0 stays 0. */
static void test_spin_sizing(void **state)
{
	struct pvk_spin s;
	uint64_t b;
	int i;

	(void)state;
	pvk_spin_init(&s, 80);
	assert_int_equal(pvk_spin_budget(&s), 80000);
	pvk_spin_slept(&s, 1000000); /* idle peer */
	assert_int_equal(pvk_spin_budget(&s), 40000);
	pvk_spin_slept(&s, 1000000);
	pvk_spin_slept(&s, 1000000);
	assert_int_equal(pvk_spin_budget(&s), 10000);
	pvk_spin_slept(&s, 1000000);
	assert_int_equal(pvk_spin_budget(&s), 0);
	pvk_spin_slept(&s, 1000000);
	assert_int_equal(pvk_spin_budget(&s), 0);
	pvk_spin_slept(&s, 30000); /* the event came soon: poll again */
	assert_int_equal(pvk_spin_budget(&s), 10000);
	for (i = 0, b = 0; i < 10; i++) {
		pvk_spin_slept(&s, 80000);
		assert_true(pvk_spin_budget(&s) >= b);
		b = pvk_spin_budget(&s);
	}
	assert_int_equal(b, 80000);
	pvk_spin_init(&s, 0);
	pvk_spin_slept(&s, 0);
	assert_int_equal(pvk_spin_budget(&s), 0);
	pvk_spin_slept(&s, 5);
	assert_int_equal(pvk_spin_budget(&s), 0);
}

#define T_CASES                                                    \
	cmocka_unit_test(test_bad_args),                           \
		cmocka_unit_test(test_grant_evtchn_pingpong),      \
		cmocka_unit_test(test_grant_semantics),            \
		cmocka_unit_test(test_evtchn_semantics),           \
		cmocka_unit_test(test_xs_permissions),             \
		cmocka_unit_test(test_xs_watch),                   \
		cmocka_unit_test(test_xs_transaction),             \
		cmocka_unit_test(test_xenbus_state_machine),       \
		cmocka_unit_test(test_xenbus_hostile),             \
		cmocka_unit_test(test_domain_destroy),             \
		cmocka_unit_test(test_loop_xenstore_rules),        \
		cmocka_unit_test(test_loop_transactions),          \
		cmocka_unit_test(test_loop_transaction_lazy_copy), \
		cmocka_unit_test(test_loop_transaction_quota)

int main(void)
{
	const struct CMUnitTest unit_tests[] = {
		cmocka_unit_test(test_spin_sizing),
	};
	const struct CMUnitTest loop_tests[] = { T_CASES };
	const struct CMUnitTest xen_tests[] = { T_CASES };
	const char *child = getenv("PVKIT_TEST_CHILD");
	int failed = 0;

	if (child)
		return t_child_main(child);
	if (getenv("PVKIT_TEST_FILTER"))
		cmocka_set_test_filter(getenv("PVKIT_TEST_FILTER"));
	if (!getenv("PVKIT_TEST_SIDE")) {
		failed += cmocka_run_group_tests_name("unit", unit_tests, NULL,
						      NULL);
		failed += cmocka_run_group_tests_name(
			"loop", loop_tests, setup_loop, teardown_loop);
	}
	failed += cmocka_run_group_tests_name("xen", xen_tests, setup_xen,
					      teardown_xen);
	return failed ? 1 : 0;
}
