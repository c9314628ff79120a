// SPDX-License-Identifier: MIT
/*
 * libxen semantics on pvkit-simd: libxenevtchn, libxengnttab, libxengntshr
 * and the xc_* domain queries, as pvk_xenlib_sim (for libpvkit-hv) and,
 * through xensim_preload.c, under libxen's own names.  Returns follow
 * libxen: -1 / NULL with errno.
 *
 * Notify and grant copy never talk to pvkit-simd: they use the shared
 * evtchn words and pool memfds it handed out (see proto.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../xenlib.h"
#include "simc.h"

/*
 * Peer evtchn pages, mapped once per process and kept: they are small and
 * a notify must not have to ask the daemon.  Keyed by the domain's uid,
 * which is never reused.
 */
struct peer_page {
	uint64_t uid;
	uint64_t *words;
	struct peer_page *next;
};
static pthread_mutex_t peer_lock = PTHREAD_MUTEX_INITIALIZER;
static struct peer_page *peer_pages;

static uint64_t *peer_page_get(uint64_t uid, int fd)
{
	struct peer_page *p;
	void *m;

	pthread_mutex_lock(&peer_lock);
	for (p = peer_pages; p; p = p->next)
		if (p->uid == uid)
			goto out;
	p = calloc(1, sizeof(*p));
	if (!p)
		goto out;
	m = mmap(NULL, PVK_SIMP_EV_PAGE_SIZE, PROT_READ | PROT_WRITE,
		 MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		free(p);
		p = NULL;
		goto out;
	}
	p->uid = uid;
	p->words = m;
	p->next = peer_pages;
	peer_pages = p;
out:
	pthread_mutex_unlock(&peer_lock);
	return p ? p->words : NULL;
}

/*
 * Event channels.
 */
#define EV_CAS_TRIES 1024u

static uint32_t *waiter_words(uint64_t *page)
{
	return (uint32_t *)(page + PVK_SIMP_NR_PORTS);
}

static long futex(uint32_t *uaddr, int op, uint32_t val)
{
	/* Shared (not _PRIVATE): the word is in a memfd other processes
	 * map too. */
	return syscall(SYS_futex, uaddr, op, val, NULL, NULL, 0);
}
struct evport {
	uint32_t port;
	bool known; /* the fields below reflect binding own_seq */
	uint32_t own_seq;
	uint32_t peer_port, peer_seq;
	int peer_efd; /* our own write end of the peer handle's pipe; -1:
		       * nobody to wake, so notifies are dropped */
	int peer_keep; /* our own read end of it: never read, keeps the
			* pipe from losing its last reader */
	uint64_t *peer_words;
	uint32_t *peer_waiter; /* the peer handle's futex word */
};

/*
 * A handle's wake-up is a pipe: the handle polls and drains its read end
 * (efd); notifiers write one byte to the write end (kick).  Each notifier
 * writes through an open file of its own (re-opened through /proc), never
 * through the owner's: O_NONBLOCK belongs to the open file, and an owner
 * that shared it could clear it, fill the pipe and hang every notifier in
 * write() -- as it could with an eventfd, which cannot be re-opened.
 * Each notifier also holds a read end of its own, so the pipe never loses
 * its last reader under a write: no SIGPIPE, whatever the owner does.
 */
struct xenevtchn_handle {
	struct pvk_sim *sim;
	uint32_t id;
	int efd, kick;
	bool polled; /* the fd was handed out: wake-ups go through it */
	bool nonblock; /* pending() fails with EAGAIN rather than block */
	uint32_t *waiter; /* ours: set while we sleep in a futex */
	struct evport *ports;
	uint32_t nports, cap;
	uint32_t cursor;
};

static struct evport *evport_find(xenevtchn_handle *h, uint32_t port)
{
	uint32_t i;

	for (i = 0; i < h->nports; i++)
		if (h->ports[i].port == port)
			return &h->ports[i];
	return NULL;
}

static void evport_forget(struct evport *p)
{
	if (p->peer_efd >= 0)
		close(p->peer_efd);
	if (p->peer_keep >= 0)
		close(p->peer_keep);
	p->peer_efd = p->peer_keep = -1;
	p->peer_words = NULL;
	p->known = false;
}

static int evport_add(xenevtchn_handle *h, uint32_t port)
{
	if (h->nports == h->cap) {
		uint32_t cap = h->cap ? h->cap * 2 : 8;
		struct evport *n = realloc(h->ports, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		h->ports = n;
		h->cap = cap;
	}
	h->ports[h->nports++] = (struct evport){ .port = port,
						 .peer_efd = -1,
						 .peer_keep = -1 };
	return 0;
}

xenevtchn_handle *pvk_simx_evtchn_open(struct xentoollog_logger *logger,
				       unsigned int flags)
{
	struct pvk_simp_req req = { .op = PVK_SIMP_EVTCHN_OPEN };
	struct pvk_simp_rep rep;
	xenevtchn_handle *h;
	struct pvk_sim *sim;
	int rc, sv[2];

	if (flags & ~XENEVTCHN_NO_CLOEXEC)
		return pvk_simx_fail_null(-EINVAL);
	sim = pvk_simc_self();
	if (!sim)
		return NULL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return pvk_simx_fail_null(-ENOMEM);
	h->sim = sim;
	if (pipe2(sv,
		  O_NONBLOCK | (flags & XENEVTCHN_NO_CLOEXEC ? 0 : O_CLOEXEC)) <
	    0) {
		rc = -errno;
		goto free_h;
	}
	h->efd = sv[0];
	h->kick = sv[1];
	rc = pvk_simc_call(sim, &req, &h->kick, 1, &rep, NULL, 0, NULL);
	if (rc < 0)
		goto close_efd;
	if (rep.u.ev.slot >= PVK_SIMP_NR_WAITERS) {
		rc = -EPROTO;
		goto close_efd;
	}
	h->id = rep.u.ev.handle;
	h->waiter = waiter_words(sim->ev_page) + rep.u.ev.slot;
	return h;

close_efd:
	close(h->efd);
	close(h->kick);
free_h:
	free(h);
	return pvk_simx_fail_null(rc);
}

int pvk_simx_evtchn_close(xenevtchn_handle *h)
{
	struct pvk_simp_req req = { .op = PVK_SIMP_EVTCHN_CLOSE };
	struct pvk_simp_rep rep;
	uint32_t i;

	if (!h)
		return 0;
	req.u.ev.handle = h->id;
	pvk_simc_call(h->sim, &req, NULL, 0, &rep, NULL, 0, NULL);
	for (i = 0; i < h->nports; i++)
		evport_forget(&h->ports[i]);
	free(h->ports);
	close(h->efd);
	close(h->kick);
	free(h);
	return 0;
}

int pvk_simx_evtchn_nonblock(xenevtchn_handle *h)
{
	/* A non-blocking caller polls the fd (as /dev/xen/evtchn's users
	 * do): wake-ups and re-signals after unmask go through it. */
	h->nonblock = true;
	h->polled = true;
	return 0;
}

int pvk_simx_evtchn_fd(xenevtchn_handle *h)
{
	h->polled = true;
	return h->efd;
}

static xenevtchn_port_or_error_t ev_bind(xenevtchn_handle *h, uint32_t op,
					 uint32_t domid, uint32_t port)
{
	struct pvk_simp_req req = { .op = op };
	struct pvk_simp_rep rep;
	int rc;

	req.u.ev.handle = h->id;
	req.u.ev.domid = domid;
	req.u.ev.port = port;
	rc = pvk_simc_call(h->sim, &req, NULL, 0, &rep, NULL, 0, NULL);
	if (rc < 0)
		return pvk_simx_fail(rc);
	if (rep.u.ev.port == 0 || rep.u.ev.port >= PVK_SIMP_NR_PORTS)
		return pvk_simx_fail(-EPROTO);
	rc = evport_add(h, rep.u.ev.port);
	if (rc < 0) {
		req.op = PVK_SIMP_EVTCHN_UNBIND;
		req.u.ev.port = rep.u.ev.port;
		pvk_simc_call(h->sim, &req, NULL, 0, &rep, NULL, 0, NULL);
		return pvk_simx_fail(rc);
	}
	return (xenevtchn_port_or_error_t)rep.u.ev.port;
}

xenevtchn_port_or_error_t pvk_simx_evtchn_bind_unbound_port(xenevtchn_handle *h,
							    uint32_t domid)
{
	return ev_bind(h, PVK_SIMP_EVTCHN_ALLOC_UNBOUND, domid, 0);
}

xenevtchn_port_or_error_t
pvk_simx_evtchn_bind_interdomain(xenevtchn_handle *h, uint32_t domid,
				 evtchn_port_t remote_port)
{
	return ev_bind(h, PVK_SIMP_EVTCHN_BIND_INTERDOMAIN, domid, remote_port);
}

xenevtchn_port_or_error_t pvk_simx_evtchn_bind_virq(xenevtchn_handle *h,
						    unsigned int virq)
{
	return ev_bind(h, PVK_SIMP_EVTCHN_BIND_VIRQ, 0, virq);
}

int pvk_simx_evtchn_unbind(xenevtchn_handle *h, evtchn_port_t port)
{
	struct pvk_simp_req req = { .op = PVK_SIMP_EVTCHN_UNBIND };
	struct pvk_simp_rep rep;
	struct evport *p = evport_find(h, port);
	int rc;

	if (!p)
		return pvk_simx_fail(port >= PVK_SIMP_NR_PORTS ? -EINVAL :
								 -ENOTCONN);
	req.u.ev.handle = h->id;
	req.u.ev.port = port;
	rc = pvk_simc_call(h->sim, &req, NULL, 0, &rep, NULL, 0, NULL);
	if (rc < 0)
		return pvk_simx_fail(rc);
	evport_forget(p);
	*p = h->ports[--h->nports];
	return 0;
}

/* A new open file of @fd's pipe end, non-blocking, of our own. */
static int reopen_fd(int fd, int mode)
{
	char path[64];
	int nfd;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	nfd = open(path, mode | O_NONBLOCK | O_CLOEXEC);
	return nfd < 0 ? -errno : nfd;
}

/* Learn where @p leads now (its binding changed since we last looked). */
static int evport_refresh(xenevtchn_handle *h, struct evport *p)
{
	struct pvk_simp_req req = { .op = PVK_SIMP_EVTCHN_PEER };
	struct pvk_simp_rep rep;
	int fds[2], n, rc;

	evport_forget(p);
	req.u.ev.handle = h->id;
	req.u.ev.port = p->port;
	rc = pvk_simc_call(h->sim, &req, NULL, 0, &rep, fds, 2, &n);
	if (rc < 0) {
		while (n--)
			close(fds[n]);
		return rc;
	}
	p->own_seq = rep.u.peer.seq;
	p->known = true;
	if (n != 2) {
		while (n--)
			close(fds[n]);
		return 0; /* no one to notify */
	}
	if (rep.u.peer.peer_port == 0 ||
	    rep.u.peer.peer_port >= PVK_SIMP_NR_PORTS ||
	    rep.u.peer.peer_slot >= PVK_SIMP_NR_WAITERS) {
		close(fds[0]);
		close(fds[1]);
		return -EPROTO;
	}
	p->peer_words = peer_page_get(rep.u.peer.peer_uid, fds[1]);
	close(fds[1]);
	if (!p->peer_words) {
		close(fds[0]);
		return -ENOMEM;
	}
	/* Our own open files of the peer's pipe (see struct evport); the
	 * read end first, so that it has a reader before we can write. */
	p->peer_keep = reopen_fd(fds[0], O_RDONLY);
	p->peer_efd = reopen_fd(fds[0], O_WRONLY);
	close(fds[0]);
	if (p->peer_efd < 0 || p->peer_keep < 0) {
		rc = p->peer_efd < 0 ? p->peer_efd : p->peer_keep;
		evport_forget(p);
		return rc;
	}
	p->peer_waiter = waiter_words(p->peer_words) + rep.u.peer.peer_slot;
	p->peer_port = rep.u.peer.peer_port;
	p->peer_seq = rep.u.peer.peer_seq;
	return 0;
}

static void efd_kick(int kick)
{
	char one = 1;

	if (write(kick, &one, 1) < 0) {
		/* EAGAIN: the pipe is full, so it is readable anyway */
	}
}

/* Drop the queued wake-ups (one read: a peer may keep writing); true if
 * there was one. */
static bool efd_drain(int efd)
{
	char buf[256];

	return read(efd, buf, sizeof(buf)) > 0;
}

int pvk_simx_evtchn_notify(xenevtchn_handle *h, evtchn_port_t port)
{
	struct evport *p = evport_find(h, port);
	uint64_t own, old, *w;
	unsigned int tries;
	int rc;

	if (!p)
		return pvk_simx_fail(port >= PVK_SIMP_NR_PORTS ? -EINVAL :
								 -ENOTCONN);
	/* Acquire: pairs with the daemon's release when it re-binds the
	 * port, so a changed seq means our cached peer is stale. */
	own = __atomic_load_n(&h->sim->ev_page[port], __ATOMIC_ACQUIRE);
	if (!p->known || PVK_SIMP_EV_SEQ(own) != p->own_seq) {
		rc = evport_refresh(h, p);
		if (rc < 0)
			return pvk_simx_fail(rc);
	}
	if (p->peer_efd < 0)
		return 0; /* unbound or peer gone: dropped, as on Xen */
	w = &p->peer_words[p->peer_port];
	old = __atomic_load_n(w, __ATOMIC_ACQUIRE);
	/* The word is in the peer's memory: a peer rewriting it in a loop
	 * must not hold us here, so the retries are bounded (an honest peer
	 * only ever races us once or twice). */
	for (tries = 0;; tries++) {
		if (PVK_SIMP_EV_SEQ(old) != p->peer_seq)
			return 0; /* the peer closed or re-bound its end */
		if (old & PVK_SIMP_EV_PENDING)
			return 0; /* coalesced with an undelivered one */
		if (tries == EV_CAS_TRIES)
			return 0; /* hostile peer: dropped */
		/* Release: the caller's ring writes are visible before the
		 * peer can observe PENDING. */
		if (__atomic_compare_exchange_n(
			    w, &old, old | PVK_SIMP_EV_PENDING, false,
			    __ATOMIC_SEQ_CST, __ATOMIC_ACQUIRE))
			break;
	}
	if (old & PVK_SIMP_EV_MASKED)
		return 0; /* unmask delivers it */
	/* Seq-cst with the waiter's store of its word and re-scan (in
	 * pending()): either it sees PENDING, or we see its word set.  We
	 * clear the word, so a FUTEX_WAIT that has not started yet returns
	 * at once instead of missing this wake-up. */
	if (__atomic_exchange_n(p->peer_waiter, 0, __ATOMIC_SEQ_CST))
		futex(p->peer_waiter, FUTEX_WAKE, 1);
	else
		efd_kick(p->peer_efd);
	return 0;
}

/* Take PENDING and set MASKED on one of our ports, round robin. */
static int ev_take(xenevtchn_handle *h, bool any_bound)
{
	uint32_t i;

	for (i = 0; i < h->nports; i++) {
		uint32_t k = (h->cursor + i) % h->nports;
		uint64_t *w = &h->sim->ev_page[h->ports[k].port];
		uint64_t old = __atomic_load_n(w, __ATOMIC_ACQUIRE);
		unsigned int tries;

		/* Peers CAS our words too; bounded as in notify(). */
		for (tries = 0; tries < EV_CAS_TRIES; tries++) {
			if (!any_bound && (!(old & PVK_SIMP_EV_PENDING) ||
					   (old & PVK_SIMP_EV_MASKED)))
				break;
			if (__atomic_compare_exchange_n(
				    w, &old,
				    (old & ~PVK_SIMP_EV_PENDING) |
					    PVK_SIMP_EV_MASKED,
				    false, __ATOMIC_ACQ_REL,
				    __ATOMIC_ACQUIRE)) {
				h->cursor = k + 1;
				return (int)h->ports[k].port;
			}
		}
	}
	return -1;
}

static bool ev_any_ready(xenevtchn_handle *h)
{
	uint32_t i;

	for (i = 0; i < h->nports; i++) {
		uint64_t w = __atomic_load_n(&h->sim->ev_page[h->ports[i].port],
					     __ATOMIC_ACQUIRE);

		if ((w & PVK_SIMP_EV_PENDING) && !(w & PVK_SIMP_EV_MASKED))
			return true;
	}
	return false;
}

xenevtchn_port_or_error_t pvk_simx_evtchn_pending(xenevtchn_handle *h)
{
	struct pollfd pfd = { .fd = h->efd, .events = POLLIN };
	bool woken;
	int port;

	if (!h->polled) {
		/*
		 * Nobody polls our fd: sleep on our futex word instead of
		 * the eventfd, which makes waiting one system call as a
		 * blocking read() of an eventfd is.
		 */
		for (;;) {
			port = ev_take(h, false);
			if (port >= 0)
				return port;
			__atomic_store_n(h->waiter, 1, __ATOMIC_SEQ_CST);
			/* Pairs with the notifier's seq-cst CAS then load of
			 * our word: our re-scan sees its PENDING, or it sees
			 * us asleep and wakes the futex. */
			__atomic_thread_fence(__ATOMIC_SEQ_CST);
			port = ev_take(h, false);
			if (port >= 0) {
				__atomic_store_n(h->waiter, 0,
						 __ATOMIC_RELAXED);
				return port;
			}
			if (h->nonblock) {
				__atomic_store_n(h->waiter, 0,
						 __ATOMIC_RELAXED);
				return pvk_simx_fail(-EAGAIN);
			}
			if (futex(h->waiter, FUTEX_WAIT, 1) < 0 &&
			    errno != EAGAIN && errno != EINTR)
				return -1;
			__atomic_store_n(h->waiter, 0, __ATOMIC_RELAXED);
		}
	}
	for (;;) {
		/* Clear the wake-up first, then look: a notify after the
		 * read re-arms the fd. */
		woken = efd_drain(h->efd);
		port = ev_take(h, false);
		if (port >= 0) {
			if (ev_any_ready(h))
				efd_kick(h->kick); /* more to deliver */
			return port;
		}
		/*
		 * Woken with nothing pending: a notifier set PENDING (and an
		 * earlier call took it) before its write() arrived.  A caller
		 * that polled first (xenstored does, then treats -1 as fatal)
		 * must not block here: report a spurious event on a bound
		 * port, which Xen's consumers tolerate.  Without a wake-up,
		 * block as /dev/xen/evtchn does.
		 */
		if (woken && h->nports) {
			port = ev_take(h, true);
			if (port >= 0)
				return port;
		}
		if (h->nonblock)
			return pvk_simx_fail(-EAGAIN);
		if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
			return -1;
	}
}

int pvk_simx_evtchn_unmask(xenevtchn_handle *h, evtchn_port_t port)
{
	uint64_t *w, old;

	if (!evport_find(h, port))
		return pvk_simx_fail(port >= PVK_SIMP_NR_PORTS ? -EINVAL :
								 -ENOTCONN);
	w = &h->sim->ev_page[port];
	old = __atomic_fetch_and(w, ~PVK_SIMP_EV_MASKED, __ATOMIC_ACQ_REL);
	/* Arrived while masked: re-signal the fd.  An unpolled handle's
	 * pending() finds it by scanning. */
	if ((old & PVK_SIMP_EV_PENDING) && h->polled)
		efd_kick(h->kick);
	return 0;
}

/*
 * For an HVM guest's vCPUs (dm_sim.c): a handle that owns ports the daemon
 * gave it (HVM_VCPU), and a wait with a timeout that also ends when a word
 * of the daemon's changes.  The handle's fd is never handed out: waits
 * sleep on its futex word.
 */
uint32_t pvk_simx_evtchn_id(xenevtchn_handle *h)
{
	return h->id;
}

int pvk_simx_evtchn_adopt(xenevtchn_handle *h, evtchn_port_t port)
{
	if (port == 0 || port >= PVK_SIMP_NR_PORTS)
		return -EINVAL;
	return evport_find(h, port) ? 0 : evport_add(h, port);
}

void pvk_simx_evtchn_forget(xenevtchn_handle *h, evtchn_port_t port)
{
	struct evport *p = evport_find(h, port);

	if (p) {
		evport_forget(p);
		*p = h->ports[--h->nports];
	}
}

int pvk_simx_evtchn_wait(xenevtchn_handle *h, const uint32_t *word,
			 uint32_t seen, int timeout_ms)
{
	struct timespec ts, *tp = NULL;
	long r;
	int port;

	port = ev_take(h, false);
	if (port < 0) {
		__atomic_store_n(h->waiter, 1, __ATOMIC_SEQ_CST);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		port = ev_take(h, false);
		if (port < 0 &&
		    (!word ||
		     __atomic_load_n(word, __ATOMIC_ACQUIRE) == seen)) {
			if (timeout_ms >= 0) {
				ts.tv_sec = timeout_ms / 1000;
				ts.tv_nsec =
					(long)(timeout_ms % 1000) * 1000000;
				tp = &ts;
			}
			r = syscall(SYS_futex, h->waiter, FUTEX_WAIT, 1, tp,
				    NULL, 0);
			__atomic_store_n(h->waiter, 0, __ATOMIC_RELAXED);
			return r < 0 && errno == ETIMEDOUT ? -ETIMEDOUT : 0;
		}
		__atomic_store_n(h->waiter, 0, __ATOMIC_RELAXED);
	}
	if (port >= 0)
		__atomic_fetch_and(&h->sim->ev_page[port], ~PVK_SIMP_EV_MASKED,
				   __ATOMIC_ACQ_REL);
	return 0;
}

/*
 * Grant tables: the grantee side (gnttab) and the granter side (gntshr)
 * share one handle type, as in libxen.
 */
struct gmapping {
	void *addr;
	uint32_t count;
	bool writable;
	bool shared; /* gntshr: our pages */
	uint32_t *domids; /* per page (gnttab) */
	uint32_t *refs;
	struct gmapping *next;
};

/* Grant copy's view of a granter: its entries (read-only) and whole
 * pools, mapped once. */
struct gview {
	uint32_t domid;
	uint64_t uid;
	const grant_entry_v1_t *table;
	uint8_t *pool_rw, *pool_ro;
	uint16_t *copy_pins; /* after pool_rw's pages (proto.h) */
	struct gview *next;
};

struct xengntdev_handle {
	struct pvk_sim *sim;
	pthread_mutex_t lock;
	struct gmapping *maps;
	struct gview *views;
};

static struct xengntdev_handle *gnt_open(unsigned int flags)
{
	struct xengntdev_handle *h;
	struct pvk_sim *sim;

	if (flags)
		return pvk_simx_fail_null(-EINVAL);
	sim = pvk_simc_self();
	if (!sim)
		return NULL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return pvk_simx_fail_null(-ENOMEM);
	h->sim = sim;
	pthread_mutex_init(&h->lock, NULL);
	return h;
}

xengnttab_handle *pvk_simx_gnttab_open(struct xentoollog_logger *logger,
				       unsigned int flags)
{
	return gnt_open(flags);
}

xengntshr_handle *pvk_simx_gntshr_open(struct xentoollog_logger *logger,
				       unsigned int flags)
{
	return gnt_open(flags);
}

static int gnt_rpc(struct pvk_sim *sim, uint32_t op, uint32_t domid,
		   uint32_t count, const uint32_t *refs, bool writable,
		   struct pvk_simp_rep *rep, int *fds, int *nfds)
{
	struct pvk_simp_req req = { .op = op };

	req.u.gnt.domid = domid;
	req.u.gnt.count = count;
	req.u.gnt.writable = writable;
	/* Our granter side is gntalloc's: unsharing a page the peer still
	 * maps succeeds, and the end of access waits for its unmap. */
	if (op == PVK_SIMP_GNT_END)
		req.u.gnt.flags = PVK_SIMP_GNT_END_DEFER;
	if (refs)
		memcpy(req.u.gnt.refs, refs, count * sizeof(*refs));
	return pvk_simc_call(sim, &req, NULL, 0, rep, fds, fds ? 2 : 0, nfds);
}

/* mmap @n pages of @fd at page @frames[i] into @base, merging runs. */
static int map_pages(uint8_t *base, uint32_t n, const uint32_t *frames,
		     const uint8_t *which, const int *fds, int prot)
{
	uint32_t i = 0;

	while (i < n) {
		uint32_t j = i + 1;

		while (j < n && frames[j] == frames[j - 1] + 1 &&
		       (!which || which[j] == which[i]))
			j++;
		if (mmap(base + (size_t)i * PVK_SIMP_PAGE,
			 (size_t)(j - i) * PVK_SIMP_PAGE, prot,
			 MAP_SHARED | MAP_FIXED, fds[which ? which[i] : 0],
			 (off_t)frames[i] * PVK_SIMP_PAGE) == MAP_FAILED)
			return -errno;
		i = j;
	}
	return 0;
}

static void gnt_unmap_rpc(struct pvk_sim *sim, const uint32_t *domids,
			  const uint32_t *refs, uint32_t count, bool writable)
{
	struct pvk_simp_rep rep;
	uint32_t i = 0;

	while (i < count) {
		uint32_t j = i + 1;

		while (j < count && j - i < PVK_SIMP_MAX_REFS &&
		       domids[j] == domids[i])
			j++;
		gnt_rpc(sim, PVK_SIMP_GNT_UNMAP, domids[i], j - i, refs + i,
			writable, &rep, NULL, NULL);
		i = j;
	}
}

void *pvk_simx_gnttab_map_grant_refs(xengnttab_handle *h, uint32_t count,
				     uint32_t *domids, uint32_t domids_stride,
				     uint32_t *refs, int prot)
{
	bool w = prot & PROT_WRITE;
	struct gmapping *m;
	uint32_t i = 0, done = 0;
	uint8_t *base;
	int rc;

	if (!count || count > (1u << 20) || (prot & ~(PROT_READ | PROT_WRITE)))
		return pvk_simx_fail_null(-EINVAL);
	m = calloc(1, sizeof(*m));
	if (!m)
		return pvk_simx_fail_null(-ENOMEM);
	m->domids = calloc(count, sizeof(uint32_t));
	m->refs = calloc(count, sizeof(uint32_t));
	if (!m->domids || !m->refs) {
		rc = -ENOMEM;
		goto free_m;
	}
	for (i = 0; i < count; i++) {
		m->domids[i] = domids[(size_t)i * domids_stride];
		m->refs[i] = refs[i];
	}
	/* Reserve the whole range, then place each run of pages in it. */
	base = mmap(NULL, (size_t)count * PVK_SIMP_PAGE, PROT_NONE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED) {
		rc = -errno;
		goto free_m;
	}
	while (done < count) {
		struct pvk_simp_rep rep;
		uint32_t j = done + 1, n;
		int fds[2], nfds = 0;

		while (j < count && j - done < PVK_SIMP_MAX_REFS &&
		       m->domids[j] == m->domids[done])
			j++;
		n = j - done;
		rc = gnt_rpc(h->sim, PVK_SIMP_GNT_MAP, m->domids[done], n,
			     m->refs + done, w, &rep, fds, &nfds);
		if (rc < 0) {
			while (nfds--)
				close(fds[nfds]);
			goto unmap;
		}
		done = j; /* pinned by the daemon from here on */
		if (nfds != 2 || rep.u.gnt.count != n)
			rc = -EPROTO;
		for (i = 0; rc >= 0 && i < n; i++)
			if (rep.u.gnt.refs[i] >= PVK_SIMP_NR_GRANTS ||
			    rep.u.gnt.which[i] > 1)
				rc = -EPROTO;
		if (rc >= 0)
			rc = map_pages(
				base + (size_t)(done - n) * PVK_SIMP_PAGE, n,
				rep.u.gnt.refs, rep.u.gnt.which, fds, prot);
		while (nfds--)
			close(fds[nfds]);
		if (rc < 0)
			goto unmap;
	}
	m->addr = base;
	m->count = count;
	m->writable = w;
	pthread_mutex_lock(&h->lock);
	m->next = h->maps;
	h->maps = m;
	pthread_mutex_unlock(&h->lock);
	return base;

unmap:
	if (done)
		gnt_unmap_rpc(h->sim, m->domids, m->refs, done, w);
	munmap(base, (size_t)count * PVK_SIMP_PAGE);
free_m:
	free(m->domids);
	free(m->refs);
	free(m);
	return pvk_simx_fail_null(rc);
}

void *pvk_simx_gnttab_map_domain_grant_refs(xengnttab_handle *h, uint32_t count,
					    uint32_t domid, uint32_t *refs,
					    int prot)
{
	return pvk_simx_gnttab_map_grant_refs(h, count, &domid, 0, refs, prot);
}

void *pvk_simx_gnttab_map_grant_ref(xengnttab_handle *h, uint32_t domid,
				    uint32_t ref, int prot)
{
	return pvk_simx_gnttab_map_grant_refs(h, 1, &domid, 0, &ref, prot);
}

static struct gmapping *gmap_take(struct xengntdev_handle *h, void *addr,
				  uint32_t count, bool shared)
{
	struct gmapping **pp, *m;

	pthread_mutex_lock(&h->lock);
	for (pp = &h->maps; (m = *pp); pp = &m->next) {
		if (m->addr == addr && m->count == count &&
		    m->shared == shared) {
			*pp = m->next;
			break;
		}
	}
	pthread_mutex_unlock(&h->lock);
	return m;
}

static void gmap_put_back(struct xengntdev_handle *h, struct gmapping *m)
{
	pthread_mutex_lock(&h->lock);
	m->next = h->maps;
	h->maps = m;
	pthread_mutex_unlock(&h->lock);
}

int pvk_simx_gnttab_unmap(xengnttab_handle *h, void *addr, uint32_t count)
{
	struct gmapping *m = gmap_take(h, addr, count, false);

	if (!m)
		return pvk_simx_fail(
			-EINVAL); /* not mapped, or already unmapped */
	munmap(m->addr, (size_t)m->count * PVK_SIMP_PAGE);
	gnt_unmap_rpc(h->sim, m->domids, m->refs, m->count, m->writable);
	free(m->domids);
	free(m->refs);
	free(m);
	return 0;
}

int pvk_simx_gnttab_set_max_grants(xengnttab_handle *h, uint32_t nr)
{
	return 0;
}

static struct gview *gview_get(struct xengntdev_handle *h, uint32_t domid)
{
	struct pvk_simp_req req = { .op = PVK_SIMP_GNT_TABLE };
	struct pvk_simp_rep rep;
	struct gview *v;
	size_t poolsz = (size_t)PVK_SIMP_NR_GRANTS * PVK_SIMP_PAGE;
	int fds[3], n = 0, rc;

	for (v = h->views; v; v = v->next)
		if (v->domid == domid)
			return v;
	req.u.gnt.domid = domid;
	rc = pvk_simc_call(h->sim, &req, NULL, 0, &rep, fds, 3, &n);
	if (rc < 0 || n != 3 || rep.u.table.nr_grants != PVK_SIMP_NR_GRANTS)
		goto close_fds;
	v = calloc(1, sizeof(*v));
	if (!v)
		goto close_fds;
	v->domid = domid;
	v->uid = rep.u.table.uid;
	v->table = mmap(NULL, PVK_SIMP_NR_GRANTS * sizeof(grant_entry_v1_t),
			PROT_READ, MAP_SHARED, fds[0], 0);
	v->pool_rw = mmap(NULL, poolsz + PVK_SIMP_COPY_PINS_SIZE,
			  PROT_READ | PROT_WRITE, MAP_SHARED, fds[1], 0);
	v->copy_pins = (uint16_t *)(v->pool_rw + poolsz);
	v->pool_ro = mmap(NULL, poolsz, PROT_READ, MAP_SHARED, fds[2], 0);
	if (v->table == MAP_FAILED || v->pool_rw == MAP_FAILED ||
	    v->pool_ro == MAP_FAILED) {
		if (v->table != MAP_FAILED)
			munmap((void *)v->table,
			       PVK_SIMP_NR_GRANTS * sizeof(grant_entry_v1_t));
		if (v->pool_rw != MAP_FAILED)
			munmap(v->pool_rw, poolsz + PVK_SIMP_COPY_PINS_SIZE);
		if (v->pool_ro != MAP_FAILED)
			munmap(v->pool_ro, poolsz);
		free(v);
		v = NULL;
		goto close_fds;
	}
	v->next = h->views;
	h->views = v;
close_fds:
	while (n--)
		close(fds[n]);
	return v;
}

/*
 * Resolve one side of a copy to local memory, as Xen does: pin the entry,
 * then copy it once, validate the copy and use it.  The pin (proto.h) is
 * taken before the entry is read, with seq-cst atomics against the
 * daemon's clear-then-check in gnt_try_end(): access cannot end while we
 * copy.  *@pin is what copy_unpin() releases, NULL if nothing is held.
 */
static int16_t copy_side(struct xengntdev_handle *h, uint16_t domid,
			 uint32_t ref, uint16_t off, uint16_t len, bool write,
			 uint8_t **out, uint16_t **pin)
{
	struct gview *v;
	grant_entry_v1_t e;
	uint64_t raw;
	int16_t st = GNTST_okay;

	*pin = NULL;
	if ((uint32_t)off + len > PVK_SIMP_PAGE)
		return GNTST_bad_copy_arg;
	v = gview_get(h, domid);
	if (!v)
		return GNTST_bad_domain;
	if (ref >= PVK_SIMP_NR_GRANTS)
		return GNTST_bad_gntref;
	__atomic_fetch_add(&v->copy_pins[ref], 1, __ATOMIC_SEQ_CST);
	_Static_assert(sizeof(e) == sizeof(raw), "grant entry is 64 bits");
	raw = __atomic_load_n((const uint64_t *)&v->table[ref],
			      __ATOMIC_SEQ_CST);
	memcpy(&e, &raw, sizeof(e));
	if ((e.flags & GTF_type_mask) != GTF_permit_access ||
	    e.domid != h->sim->domid || e.frame >= PVK_SIMP_NR_GRANTS)
		st = GNTST_bad_gntref;
	else if (write && (e.flags & GTF_readonly))
		st = GNTST_permission_denied;
	if (st != GNTST_okay) {
		__atomic_fetch_sub(&v->copy_pins[ref], 1, __ATOMIC_RELEASE);
		return st;
	}
	*pin = &v->copy_pins[ref];
	*out = ((e.flags & GTF_readonly) ? v->pool_ro : v->pool_rw) +
	       (size_t)e.frame * PVK_SIMP_PAGE + off;
	return GNTST_okay;
}

/* Release: the copy's accesses to the page are done before the daemon
 * can see the pin dropped and end access. */
static void copy_unpin(uint16_t *pin)
{
	if (pin)
		__atomic_fetch_sub(pin, 1, __ATOMIC_RELEASE);
}

int pvk_simx_gnttab_grant_copy(xengnttab_handle *h, uint32_t count,
			       xengnttab_grant_copy_segment_t *segs)
{
	uint32_t i;

	pthread_mutex_lock(&h->lock);
	for (i = 0; i < count; i++) {
		xengnttab_grant_copy_segment_t *s = &segs[i];
		uint16_t *spin = NULL, *dpin = NULL;
		uint8_t *src, *dst;
		int16_t st = GNTST_okay;

		if (s->flags & ~(GNTCOPY_source_gref | GNTCOPY_dest_gref)) {
			s->status = GNTST_general_error;
			continue;
		}
		if (s->flags & GNTCOPY_source_gref)
			st = copy_side(h, s->source.foreign.domid,
				       s->source.foreign.ref,
				       s->source.foreign.offset, s->len, false,
				       &src, &spin);
		else
			src = s->source.virt;
		if (st == GNTST_okay && (s->flags & GNTCOPY_dest_gref))
			st = copy_side(h, s->dest.foreign.domid,
				       s->dest.foreign.ref,
				       s->dest.foreign.offset, s->len, true,
				       &dst, &dpin);
		else if (st == GNTST_okay)
			dst = s->dest.virt;
		if (st == GNTST_okay)
			memmove(dst, src, s->len);
		copy_unpin(dpin);
		copy_unpin(spin);
		s->status = st;
	}
	pthread_mutex_unlock(&h->lock);
	return 0;
}

static void gnt_close(struct xengntdev_handle *h)
{
	struct gmapping *m;
	struct gview *v;
	size_t poolsz = (size_t)PVK_SIMP_NR_GRANTS * PVK_SIMP_PAGE;

	while ((m = h->maps)) {
		h->maps = m->next;
		if (m->shared) {
			/* gntalloc on close: end access, deferred for a
			 * page the peer still maps. */
			struct pvk_simp_rep rep;
			uint32_t i, n;

			munmap(m->addr, (size_t)m->count * PVK_SIMP_PAGE);
			for (i = 0; i < m->count; i += n) {
				n = m->count - i;
				if (n > PVK_SIMP_MAX_REFS)
					n = PVK_SIMP_MAX_REFS;
				gnt_rpc(h->sim, PVK_SIMP_GNT_END, 0, n,
					m->refs + i, false, &rep, NULL, NULL);
			}
		} else {
			munmap(m->addr, (size_t)m->count * PVK_SIMP_PAGE);
			gnt_unmap_rpc(h->sim, m->domids, m->refs, m->count,
				      m->writable);
		}
		free(m->domids);
		free(m->refs);
		free(m);
	}
	while ((v = h->views)) {
		h->views = v->next;
		munmap((void *)v->table,
		       PVK_SIMP_NR_GRANTS * sizeof(grant_entry_v1_t));
		munmap(v->pool_rw, poolsz + PVK_SIMP_COPY_PINS_SIZE);
		munmap(v->pool_ro, poolsz);
		free(v);
	}
	pthread_mutex_destroy(&h->lock);
	free(h);
}

int pvk_simx_gnttab_close(xengnttab_handle *h)
{
	if (h)
		gnt_close(h);
	return 0;
}

void *pvk_simx_gntshr_share_pages(xengntshr_handle *h, uint32_t domid,
				  int count, uint32_t *refs, int writable)
{
	struct gmapping *m;
	uint32_t done = 0, n;
	uint8_t *base;
	int rc;

	if (count <= 0 || count > (1 << 20) || domid > 0x7FEF)
		return pvk_simx_fail_null(-EINVAL);
	m = calloc(1, sizeof(*m));
	if (!m)
		return pvk_simx_fail_null(-ENOMEM);
	m->refs = calloc((size_t)count, sizeof(uint32_t));
	if (!m->refs) {
		rc = -ENOMEM;
		goto free_m;
	}
	base = mmap(NULL, (size_t)count * PVK_SIMP_PAGE, PROT_NONE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED) {
		rc = -errno;
		goto free_m;
	}
	while (done < (uint32_t)count) {
		struct pvk_simp_rep rep;
		int fds[2], nfds = 0;
		uint32_t i;

		n = (uint32_t)count - done;
		if (n > PVK_SIMP_MAX_REFS)
			n = PVK_SIMP_MAX_REFS;
		rc = gnt_rpc(h->sim, PVK_SIMP_GNT_SHARE, domid, n, NULL,
			     writable, &rep, fds, &nfds);
		if (rc >= 0 && (nfds != 1 || rep.u.gnt.count != n))
			rc = -EPROTO;
		for (i = 0; rc >= 0 && i < n; i++)
			if (rep.u.gnt.refs[i] >= PVK_SIMP_NR_GRANTS)
				rc = -EPROTO;
		if (rc >= 0) {
			memcpy(m->refs + done, rep.u.gnt.refs,
			       n * sizeof(uint32_t));
			done += n;
			rc = map_pages(base + (size_t)(done - n) *
						       PVK_SIMP_PAGE,
				       n, rep.u.gnt.refs, NULL, fds,
				       PROT_READ | PROT_WRITE);
		}
		while (nfds--)
			close(fds[nfds]);
		if (rc < 0)
			goto end_access;
	}
	memcpy(refs, m->refs, (size_t)count * sizeof(uint32_t));
	m->addr = base;
	m->count = (uint32_t)count;
	m->shared = true;
	gmap_put_back(h, m);
	return base;

end_access:
	while (done) {
		struct pvk_simp_rep rep;

		n = done > PVK_SIMP_MAX_REFS ? PVK_SIMP_MAX_REFS : done;
		done -= n;
		gnt_rpc(h->sim, PVK_SIMP_GNT_END, 0, n, m->refs + done, false,
			&rep, NULL, NULL);
	}
	munmap(base, (size_t)count * PVK_SIMP_PAGE);
free_m:
	free(m->refs);
	free(m);
	return pvk_simx_fail_null(rc);
}

/*
 * As Linux's gntalloc: the pages leave this process at once; a page the
 * peer still maps stays granted (its entry in use) until the peer's last
 * unmap, when the hypervisor ends access.  Only an address and count that
 * share_pages() did not return fail (EINVAL).
 */
int pvk_simx_gntshr_munmap(xengntshr_handle *h, void *addr, uint32_t count)
{
	struct pvk_simp_rep rep;
	struct gmapping *m;
	uint32_t i;

	if (!h)
		return 0;
	m = gmap_take(h, addr, count, true);
	if (!m)
		return pvk_simx_fail(-EINVAL);
	munmap(m->addr, (size_t)m->count * PVK_SIMP_PAGE);
	for (i = 0; i < count; i += PVK_SIMP_MAX_REFS) {
		uint32_t n = count - i > PVK_SIMP_MAX_REFS ? PVK_SIMP_MAX_REFS :
							     count - i;

		/* Cannot fail for refs we own but on a dead connection,
		 * where the daemon ends them anyway. */
		gnt_rpc(h->sim, PVK_SIMP_GNT_END, 0, n, m->refs + i, false,
			&rep, NULL, NULL);
	}
	free(m->refs);
	free(m);
	return 0;
}

int pvk_simx_gntshr_close(xengntshr_handle *h)
{
	return pvk_simx_gnttab_close(h);
}

/*
 * Domain information (xc_*).
 */
struct xc_interface_core {
	struct pvk_sim *sim;
};

xc_interface *pvk_simx_xc_open(struct xentoollog_logger *logger,
			       struct xentoollog_logger *dombuild_logger,
			       unsigned int open_flags)
{
	xc_interface *xch;
	struct pvk_sim *sim = pvk_simc_self();

	if (!sim)
		return NULL;
	xch = calloc(1, sizeof(*xch));
	if (!xch)
		return pvk_simx_fail_null(-ENOMEM);
	xch->sim = sim;
	return xch;
}

int pvk_simx_xc_close(xc_interface *xch)
{
	free(xch);
	return 0;
}

/* Up to @max domains from @first on, as the getdomaininfo sysctl does. */
static int dom_scan(xc_interface *xch, uint32_t first, unsigned int max,
		    struct pvk_simp_dominfo *out)
{
	struct pvk_simp_req req = { .op = PVK_SIMP_DOMAIN_LIST };
	struct pvk_simp_rep rep;
	unsigned int n = 0;
	int rc;

	req.u.list.first = first;
	while (n < max) {
		uint32_t i;

		rc = pvk_simc_call(xch->sim, &req, NULL, 0, &rep, NULL, 0,
				   NULL);
		if (rc < 0)
			return rc;
		if (rep.u.list.count > PVK_SIMP_LIST_MAX)
			return -EPROTO;
		for (i = 0; i < rep.u.list.count && n < max; i++)
			out[n++] = rep.u.list.d[i];
		if (!rep.u.list.more || !rep.u.list.count)
			break;
		req.u.list.first = rep.u.list.d[rep.u.list.count - 1].domid + 1;
	}
	return (int)n;
}

int pvk_simx_xc_domain_getinfo(xc_interface *xch, uint32_t first_domid,
			       unsigned int max_doms, xc_dominfo_t *info)
{
	struct pvk_simp_dominfo *d;
	int n, i;

	if (max_doms > 65536)
		max_doms = 65536;
	d = calloc(max_doms ? max_doms : 1, sizeof(*d));
	if (!d)
		return pvk_simx_fail(-ENOMEM);
	n = dom_scan(xch, first_domid, max_doms, d);
	for (i = 0; i < n; i++) {
		memset(&info[i], 0, sizeof(info[i]));
		info[i].domid = d[i].domid;
		info[i].dying = !!(d[i].flags & PVK_SIMP_DOM_DYING);
		info[i].shutdown = !!(d[i].flags & PVK_SIMP_DOM_SHUTDOWN);
		info[i].running = !info[i].dying && !info[i].shutdown;
		info[i].hvm = !!(d[i].flags & PVK_SIMP_DOM_HVM);
		info[i].nr_online_vcpus = d[i].vcpus ? d[i].vcpus : 1;
		info[i].max_vcpu_id = d[i].vcpus ? d[i].vcpus - 1 : 0;
		info[i].max_memkb = 0;
		info[i].cpupool = 0;
	}
	free(d);
	return n < 0 ? pvk_simx_fail(n) : n;
}

int pvk_simx_xc_domain_getinfolist(xc_interface *xch, uint32_t first_domain,
				   unsigned int max_domains,
				   xc_domaininfo_t *info)
{
	struct pvk_simp_dominfo *d;
	int n, i;

	if (max_domains > 65536)
		max_domains = 65536;
	d = calloc(max_domains ? max_domains : 1, sizeof(*d));
	if (!d)
		return pvk_simx_fail(-ENOMEM);
	n = dom_scan(xch, first_domain, max_domains, d);
	for (i = 0; i < n; i++) {
		memset(&info[i], 0, sizeof(info[i]));
		info[i].domain = (domid_t)d[i].domid;
		if (d[i].flags & PVK_SIMP_DOM_DYING)
			info[i].flags |= XEN_DOMINF_dying;
		else if (d[i].flags & PVK_SIMP_DOM_SHUTDOWN)
			info[i].flags |= XEN_DOMINF_shutdown;
		else
			info[i].flags |= XEN_DOMINF_running;
		if (d[i].flags & PVK_SIMP_DOM_HVM)
			info[i].flags |= XEN_DOMINF_hvm_guest;
		info[i].max_vcpu_id = d[i].vcpus ? d[i].vcpus - 1 : 0;
		info[i].nr_online_vcpus = d[i].vcpus ? d[i].vcpus : 1;
	}
	free(d);
	return n < 0 ? pvk_simx_fail(n) : n;
}

/*
 * The provider table for libpvkit-hv.
 */
static int sim_prepare(void)
{
	struct pvk_sim *sim = pvk_simc_self();
	char path[PATH_MAX];

	if (!sim)
		return errno == ENOENT || errno == ECONNREFUSED ? -ENODEV :
								  -errno;
	/* This process's xenstore: xenstored's socket (domain 0) or the
	 * domain's xenbus socket; never another's. */
	if (pvk_sim_xenstore_path(sim, path, sizeof(path)) == 0)
		setenv("XENSTORED_PATH", path, 1);
	return 0;
}

static int sim_self_domid(uint32_t *domid)
{
	struct pvk_sim *sim = pvk_simc_self();

	if (!sim)
		return -errno;
	*domid = sim->domid;
	return 0;
}

const struct pvk_xenlib pvk_xenlib_sim = {
	.name = "sim",
	.prepare = sim_prepare,
	.self_domid = sim_self_domid,
	.evtchn_open = pvk_simx_evtchn_open,
	.evtchn_close = pvk_simx_evtchn_close,
	.evtchn_fd = pvk_simx_evtchn_fd,
	.evtchn_notify = pvk_simx_evtchn_notify,
	.evtchn_bind_unbound_port = pvk_simx_evtchn_bind_unbound_port,
	.evtchn_bind_interdomain = pvk_simx_evtchn_bind_interdomain,
	.evtchn_unbind = pvk_simx_evtchn_unbind,
	.evtchn_pending = pvk_simx_evtchn_pending,
	.evtchn_nonblock = pvk_simx_evtchn_nonblock,
	.evtchn_unmask = pvk_simx_evtchn_unmask,
	.gnttab_open = pvk_simx_gnttab_open,
	.gnttab_close = pvk_simx_gnttab_close,
	.gnttab_map_domain_grant_refs = pvk_simx_gnttab_map_domain_grant_refs,
	.gnttab_unmap = pvk_simx_gnttab_unmap,
	.gnttab_grant_copy = pvk_simx_gnttab_grant_copy,
	.gnttab_set_max_grants = pvk_simx_gnttab_set_max_grants,
	.gntshr_open = pvk_simx_gntshr_open,
	.gntshr_close = pvk_simx_gntshr_close,
	.gntshr_share_pages = pvk_simx_gntshr_share_pages,
	.gntshr_munmap = pvk_simx_gntshr_munmap,
	.xc_open = pvk_simx_xc_open,
	.xc_close = pvk_simx_xc_close,
	.xc_domain_getinfolist = pvk_simx_xc_domain_getinfolist,

	.dm_open = pvk_simx_dm_open,
	.dm_close = pvk_simx_dm_close,
	.dm_create_ioreq_server = pvk_simx_dm_create_ioreq_server,
	.dm_get_ioreq_server_info = pvk_simx_dm_get_ioreq_server_info,
	.dm_map_io_range = pvk_simx_dm_map_io_range,
	.dm_unmap_io_range = pvk_simx_dm_unmap_io_range,
	.dm_set_ioreq_server_state = pvk_simx_dm_set_ioreq_server_state,
	.dm_destroy_ioreq_server = pvk_simx_dm_destroy_ioreq_server,
	.dm_set_isa_irq_level = pvk_simx_dm_set_isa_irq_level,
	.fmem_open = pvk_simx_fmem_open,
	.fmem_close = pvk_simx_fmem_close,
	.fmem_map = pvk_simx_fmem_map,
	.fmem_unmap = pvk_simx_fmem_unmap,
	.fmem_map_resource = pvk_simx_fmem_map_resource,
	.fmem_unmap_resource = pvk_simx_fmem_unmap_resource,

	.guest_io = pvk_simx_guest_io,
	.guest_irq_fd = pvk_simx_guest_irq_fd,
	.guest_irqs = pvk_simx_guest_irqs,
	.guest_memory = pvk_simx_guest_memory,
};
