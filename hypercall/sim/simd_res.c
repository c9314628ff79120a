// SPDX-License-Identifier: MIT
/*
 * pvkit-simd resources: event-channel routing and grant tables, with
 * Xen's rules (xen/common/event_channel.c and grant_table.c semantics, as
 * documented in xen/include/public/{event_channel,grant_table}.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "simd.h"

#define MAX_HANDLES_PER_CONN 64
#define SIMD_MAX_POOLS 128 /* per granter: 64 peers, rw and ro */
#define POOL_SIZE ((off_t)PVK_SIMP_NR_GRANTS * PVK_SIMP_PAGE)

static uint32_t *waiter_word(struct simd_dom *d, uint32_t slot)
{
	return (uint32_t *)(d->ev_page + PVK_SIMP_NR_PORTS) + slot;
}

int simd_memfd_sized(const char *name, size_t size)
{
	int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) <
		    0) {
		int e = -errno;

		close(fd);
		return e;
	}
	return fd;
}

/* Another open file of what @fd is (a memfd, a pipe end), with @flags. */
static int reopen(int fd, int flags)
{
	char path[64];
	int nfd;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	nfd = open(path, flags | O_CLOEXEC);
	return nfd < 0 ? -errno : nfd;
}

static int reopen_ro(int fd)
{
	return reopen(fd, O_RDONLY);
}

/* The pool of pages @g grants to @peer (read-only ones apart).  NULL with
 * errno set; ENOSPC past SIMD_MAX_POOLS, which bounds the descriptors a
 * guest can make pvkit-simd hold (domain 0 is trusted).  Pools to a
 * domain that is gone are dropped once unused (simd_res_peer_gone). */
static struct simd_pool *pool_get(struct simd_dom *g, uint32_t peer, bool ro)
{
	struct simd_pool *p;
	unsigned int n = 0;
	char name[64];
	int fd;

	for (p = g->pools; p; p = p->next, n++)
		if (p->peer == peer && p->ro == ro)
			return p;
	if (n >= SIMD_MAX_POOLS && g->domid != 0) {
		simd_log("domain %u: grants to more than %u peers: refused",
			 g->domid, SIMD_MAX_POOLS / 2);
		errno = ENOSPC;
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	snprintf(name, sizeof(name), "pvk-pool-%u-to-%u%s", g->domid, peer,
		 ro ? "-ro" : "");
	fd = simd_memfd_sized(name,
			      POOL_SIZE + (ro ? 0 : PVK_SIMP_COPY_PINS_SIZE));
	if (fd < 0)
		goto free_p;
	p->fd_rw = fd;
	p->fd_ro = reopen_ro(fd);
	if (p->fd_ro < 0) {
		fd = p->fd_ro;
		goto close_rw;
	}
	if (!ro) {
		p->copy_pins = mmap(NULL, PVK_SIMP_COPY_PINS_SIZE,
				    PROT_READ | PROT_WRITE, MAP_SHARED,
				    p->fd_rw, POOL_SIZE);
		if (p->copy_pins == MAP_FAILED) {
			fd = -errno;
			close(p->fd_ro);
			goto close_rw;
		}
	}
	p->peer = peer;
	p->ro = ro;
	p->next = g->pools;
	g->pools = p;
	return p;

close_rw:
	close(p->fd_rw);
free_p:
	free(p);
	errno = -fd;
	return NULL;
}

static void pool_free(struct simd_pool *p)
{
	if (p->copy_pins)
		munmap(p->copy_pins, PVK_SIMP_COPY_PINS_SIZE);
	close(p->fd_rw);
	close(p->fd_ro);
	free(p);
}

int simd_res_dom_init(struct simd_dom *d)
{
	char name[64];
	size_t evsz = PVK_SIMP_EV_PAGE_SIZE;
	size_t gtsz = PVK_SIMP_NR_GRANTS * sizeof(grant_entry_v1_t);
	int rc;

	d->ev_fd = d->gt_fd = d->gt_ro_fd = -1;
	d->ports = calloc(PVK_SIMP_NR_PORTS, sizeof(*d->ports));
	d->gmeta = calloc(PVK_SIMP_NR_GRANTS, sizeof(*d->gmeta));
	if (!d->ports || !d->gmeta) {
		rc = -ENOMEM;
		goto free_arrays;
	}
	snprintf(name, sizeof(name), "pvk-evtchn-%u", d->domid);
	d->ev_fd = simd_memfd_sized(name, evsz);
	if (d->ev_fd < 0) {
		rc = d->ev_fd;
		goto free_arrays;
	}
	d->ev_page = mmap(NULL, evsz, PROT_READ | PROT_WRITE, MAP_SHARED,
			  d->ev_fd, 0);
	if (d->ev_page == MAP_FAILED) {
		rc = -errno;
		goto close_ev;
	}
	snprintf(name, sizeof(name), "pvk-gnttab-%u", d->domid);
	d->gt_fd = simd_memfd_sized(name, gtsz);
	if (d->gt_fd < 0) {
		rc = d->gt_fd;
		goto unmap_ev;
	}
	d->gt_ro_fd = reopen_ro(d->gt_fd);
	if (d->gt_ro_fd < 0) {
		rc = d->gt_ro_fd;
		goto close_gt;
	}
	d->gt = mmap(NULL, gtsz, PROT_READ | PROT_WRITE, MAP_SHARED, d->gt_fd,
		     0);
	if (d->gt == MAP_FAILED) {
		rc = -errno;
		goto close_gt_ro;
	}
	d->ref_hint = GNTTAB_NR_RESERVED_ENTRIES;
	if (d->domid != 0) {
		/* The xenstore ring: ref 1 (GNTTAB_RESERVED_XENSTORE), granted
		 * to domain 0 by the domain builder, as on Xen. */
		struct simd_pool *p = pool_get(d, 0, false);
		struct simd_gmeta *m = &d->gmeta[GNTTAB_RESERVED_XENSTORE];

		if (!p) {
			rc = -errno;
			goto unmap_gt;
		}
		m->used = true;
		d->gt[GNTTAB_RESERVED_XENSTORE].domid = 0;
		d->gt[GNTTAB_RESERVED_XENSTORE].frame =
			GNTTAB_RESERVED_XENSTORE;
		__atomic_store_n(&d->gt[GNTTAB_RESERVED_XENSTORE].flags,
				 (uint16_t)GTF_permit_access, __ATOMIC_RELEASE);
	}
	return 0;

unmap_gt:
	munmap(d->gt, gtsz);
close_gt_ro:
	close(d->gt_ro_fd);
close_gt:
	close(d->gt_fd);
unmap_ev:
	munmap(d->ev_page, evsz);
close_ev:
	close(d->ev_fd);
free_arrays:
	free(d->gmeta);
	free(d->ports);
	return rc;
}

void simd_res_dom_fini(struct simd_dom *d)
{
	struct simd_pool *p, *next;

	simd_hvm_fini(d);
	for (p = d->pools; p; p = next) {
		next = p->next;
		pool_free(p);
	}
	munmap(d->gt, PVK_SIMP_NR_GRANTS * sizeof(grant_entry_v1_t));
	close(d->gt_ro_fd);
	close(d->gt_fd);
	munmap(d->ev_page, PVK_SIMP_EV_PAGE_SIZE);
	close(d->ev_fd);
	free(d->gmeta);
	free(d->ports);
}

int simd_gnt_xenstore_fd(struct simd_dom *d, int *ring_fd)
{
	struct simd_pool *p = pool_get(d, 0, false);

	if (!p)
		return -errno;
	*ring_fd = p->fd_rw;
	return 0;
}

/*
 * Event channels.
 */

/* New binding on @port: bump its seq so that notifiers holding the old one
 * are refused; the flags survive only if @keep_flags. */
void simd_port_rebind(struct simd_dom *d, uint32_t port, bool keep_flags)
{
	uint64_t *w = &d->ev_page[port];
	uint64_t old = __atomic_load_n(w, __ATOMIC_ACQUIRE), nw;

	do {
		nw = (uint64_t)(PVK_SIMP_EV_SEQ(old) + 1) << 32;
		if (keep_flags)
			nw |= old & 0xffffffffull;
	} while (!__atomic_compare_exchange_n(
		w, &old, nw, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
}

void simd_port_raise(struct simd_dom *d, uint32_t port)
{
	uint64_t *w = &d->ev_page[port];
	uint64_t old = __atomic_load_n(w, __ATOMIC_ACQUIRE);
	char one = 1;

	do {
		if (old & PVK_SIMP_EV_PENDING)
			return; /* coalesced */
	} while (!__atomic_compare_exchange_n(
		w, &old, old | PVK_SIMP_EV_PENDING, false, __ATOMIC_ACQ_REL,
		__ATOMIC_ACQUIRE));
	if (!(old & PVK_SIMP_EV_MASKED) && d->ports[port].h) {
		uint32_t *wt = waiter_word(d, d->ports[port].h->slot);

		/* As a notifier does (xenlib_sim.c): clear, then wake. */
		if (__atomic_exchange_n(wt, 0, __ATOMIC_SEQ_CST))
			syscall(SYS_futex, wt, FUTEX_WAKE, 1, NULL, NULL, 0);
		else if (write(d->ports[port].h->efd, &one, 1) < 0) {
			/* pipe full: the handle is readable anyway */
		}
	}
}

void simd_virq_fire(uint32_t virq)
{
	struct simd_dom *d0 = simd_dom_find(0);
	uint32_t p;

	if (!d0)
		return;
	for (p = 1; p < PVK_SIMP_NR_PORTS; p++)
		if (d0->ports[p].state == PVK_SIMP_PORT_VIRQ &&
		    d0->ports[p].virq == virq)
			simd_port_raise(d0, p);
}

int simd_port_alloc(struct simd_dom *d)
{
	uint32_t p;

	for (p = 1; p < PVK_SIMP_NR_PORTS; p++)
		if (d->ports[p].state == PVK_SIMP_PORT_CLOSED)
			return (int)p;
	return -ENOSPC;
}

int simd_evtchn_alloc(struct simd_dom *d, struct simd_handle *h,
		      uint32_t remote)
{
	int p = simd_port_alloc(d);

	if (p < 0)
		return p;
	d->ports[p] = (struct simd_port){ .state = PVK_SIMP_PORT_UNBOUND,
					  .rdom = remote,
					  .h = h };
	simd_port_rebind(d, (uint32_t)p, false);
	return p;
}

/* Close @port of @d: the remote end of an interdomain channel reverts to
 * unbound (its notifies are dropped from now on), as evtchn_close does. */
void simd_port_close(struct simd_dom *d, uint32_t port)
{
	struct simd_port *sp = &d->ports[port];

	if (sp->state == PVK_SIMP_PORT_INTERDOMAIN) {
		struct simd_dom *r = simd_dom_find(sp->rdom);

		if (r && sp->rport < PVK_SIMP_NR_PORTS &&
		    r->ports[sp->rport].state == PVK_SIMP_PORT_INTERDOMAIN &&
		    r->ports[sp->rport].rdom == d->domid &&
		    r->ports[sp->rport].rport == port) {
			r->ports[sp->rport].state = PVK_SIMP_PORT_UNBOUND;
			r->ports[sp->rport].rport = 0;
			simd_port_rebind(r, sp->rport, true);
		}
	}
	memset(sp, 0, sizeof(*sp));
	simd_port_rebind(d, port, false);
}

struct simd_handle *simd_handle_find(struct simd_conn *c, uint32_t id)
{
	struct simd_handle *h;

	for (h = c->handles; h; h = h->next)
		if (h->id == id)
			return h;
	return NULL;
}

static void handle_close(struct simd_conn *c, struct simd_handle *h)
{
	struct simd_dom *d = simd_dom_find(c->domid);
	struct simd_handle **pp;
	uint32_t p;

	if (d) {
		simd_hvm_handle_gone(d, h);
		for (p = 1; p < PVK_SIMP_NR_PORTS; p++)
			if (d->ports[p].h == h)
				simd_port_close(d, p);
		__atomic_store_n(waiter_word(d, h->slot), 0, __ATOMIC_RELEASE);
		d->slot_used[h->slot] = 0;
	}
	for (pp = &c->handles; *pp; pp = &(*pp)->next) {
		if (*pp == h) {
			*pp = h->next;
			break;
		}
	}
	close(h->efd);
	free(h);
}

/* A handle's wake-up: the write end of a pipe (proto.h), which we
 * re-open as an open file of our own, non-blocking whatever its owner does
 * to its own.  -EINVAL for anything else. */
static int wakeup_reopen(int fd)
{
	struct stat st;
	int fl;

	fl = fcntl(fd, F_GETFL);
	if (fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode) || fl < 0 ||
	    (fl & O_ACCMODE) != O_WRONLY)
		return -EINVAL;
	fd = reopen(fd, O_WRONLY | O_NONBLOCK);
	return fd < 0 ? -EINVAL : fd;
}

static int ev_open(struct simd_conn *c, struct pvk_simp_rep *rep, int nfds_in,
		   const int *fds_in)
{
	struct simd_dom *d = simd_dom_find(c->domid);
	struct simd_handle *h;
	unsigned int n = 0;
	uint32_t slot;
	int efd;

	for (h = c->handles; h; h = h->next)
		n++;
	if (nfds_in != 1)
		return -EINVAL;
	if (n >= MAX_HANDLES_PER_CONN)
		return -EMFILE;
	if (!d || d->state != SIMD_DOM_RUNNING)
		return -ESRCH;
	for (slot = 0; slot < PVK_SIMP_NR_WAITERS; slot++)
		if (!d->slot_used[slot])
			break;
	if (slot == PVK_SIMP_NR_WAITERS)
		return -EMFILE;
	efd = wakeup_reopen(fds_in[0]);
	if (efd < 0)
		return efd;
	h = calloc(1, sizeof(*h));
	if (!h) {
		close(efd);
		return -ENOMEM;
	}
	d->slot_used[slot] = 1;
	h->slot = slot;
	__atomic_store_n(waiter_word(d, slot), 0, __ATOMIC_RELEASE);
	rep->u.ev.slot = slot;
	h->id = c->next_handle++;
	h->efd = efd;
	h->conn = c;
	h->next = c->handles;
	c->handles = h;
	rep->u.ev.handle = h->id;
	return 0;
}

static int ev_op(struct simd_conn *c, const struct pvk_simp_req *req,
		 struct pvk_simp_rep *rep, int *fds)
{
	struct simd_dom *d = simd_dom_find(c->domid), *r;
	struct simd_handle *h = simd_handle_find(c, req->u.ev.handle);
	uint32_t port = req->u.ev.port;
	struct simd_port *sp;
	int lp;

	if (!d || d->state != SIMD_DOM_RUNNING)
		return -ESRCH;
	if (!h)
		return -EBADF;
	switch (req->op) {
	case PVK_SIMP_EVTCHN_CLOSE:
		handle_close(c, h);
		return 0;
	case PVK_SIMP_EVTCHN_ALLOC_UNBOUND:
		r = simd_dom_find(req->u.ev.domid);
		if (!r || r->state != SIMD_DOM_RUNNING)
			return -ESRCH;
		lp = simd_evtchn_alloc(d, h, r->domid);
		if (lp < 0)
			return lp;
		rep->u.ev.port = (uint32_t)lp;
		return 0;
	case PVK_SIMP_EVTCHN_BIND_INTERDOMAIN:
		r = simd_dom_find(req->u.ev.domid);
		if (!r || r->state != SIMD_DOM_RUNNING)
			return -ESRCH;
		if (port == 0 || port >= PVK_SIMP_NR_PORTS)
			return -EINVAL;
		sp = &r->ports[port];
		if (sp->state != PVK_SIMP_PORT_UNBOUND || sp->rdom != d->domid)
			return -EINVAL;
		lp = simd_port_alloc(d);
		if (lp < 0)
			return lp;
		d->ports[lp] =
			(struct simd_port){ .state = PVK_SIMP_PORT_INTERDOMAIN,
					    .rdom = r->domid,
					    .rport = port,
					    .h = h };
		simd_port_rebind(d, (uint32_t)lp, false);
		sp->state = PVK_SIMP_PORT_INTERDOMAIN;
		sp->rport = (uint32_t)lp;
		simd_port_rebind(r, port, true);
		rep->u.ev.port = (uint32_t)lp;
		return 0;
	case PVK_SIMP_EVTCHN_BIND_VIRQ: {
		uint32_t p;

		if (d->domid != 0 || port != VIRQ_DOM_EXC)
			return -EINVAL;
		for (p = 1; p < PVK_SIMP_NR_PORTS; p++)
			if (d->ports[p].state == PVK_SIMP_PORT_VIRQ &&
			    d->ports[p].virq == port)
				return -EEXIST;
		lp = simd_port_alloc(d);
		if (lp < 0)
			return lp;
		d->ports[lp] = (struct simd_port){ .state = PVK_SIMP_PORT_VIRQ,
						   .virq = port,
						   .h = h };
		simd_port_rebind(d, (uint32_t)lp, false);
		rep->u.ev.port = (uint32_t)lp;
		return 0;
	}
	case PVK_SIMP_EVTCHN_UNBIND:
		if (port == 0 || port >= PVK_SIMP_NR_PORTS)
			return -EINVAL;
		if (d->ports[port].h != h ||
		    d->ports[port].state == PVK_SIMP_PORT_CLOSED)
			return -ENOTCONN;
		if (d->ports[port].hvm)
			return -EACCES; /* its ioreq server's, while it lives */
		simd_port_close(d, port);
		return 0;
	case PVK_SIMP_EVTCHN_PEER: {
		struct simd_port *rp;

		if (port == 0 || port >= PVK_SIMP_NR_PORTS)
			return -EINVAL;
		sp = &d->ports[port];
		if (sp->h != h || sp->state == PVK_SIMP_PORT_CLOSED)
			return -ENOTCONN;
		rep->u.peer.state = sp->state;
		rep->u.peer.seq = PVK_SIMP_EV_SEQ(
			__atomic_load_n(&d->ev_page[port], __ATOMIC_ACQUIRE));
		if (sp->state != PVK_SIMP_PORT_INTERDOMAIN)
			return 0;
		r = simd_dom_find(sp->rdom);
		if (!r || r->state != SIMD_DOM_RUNNING ||
		    sp->rport >= PVK_SIMP_NR_PORTS)
			return 0;
		rp = &r->ports[sp->rport];
		rep->u.peer.peer_domid = r->domid;
		rep->u.peer.peer_port = sp->rport;
		rep->u.peer.peer_uid = r->uid;
		rep->u.peer.peer_seq = PVK_SIMP_EV_SEQ(__atomic_load_n(
			&r->ev_page[sp->rport], __ATOMIC_ACQUIRE));
		if (!rp->h)
			return 0; /* nobody listens: notifies are dropped */
		rep->u.peer.peer_slot = rp->h->slot;
		fds[0] = rp->h->efd;
		fds[1] = r->ev_fd;
		return 2;
	}
	}
	return -EINVAL;
}

/*
 * Grant tables.
 */

static uint16_t gflags(struct simd_dom *g, uint32_t ref)
{
	return __atomic_load_n(&g->gt[ref].flags, __ATOMIC_ACQUIRE);
}

static void gnt_free(struct simd_dom *g, uint32_t ref)
{
	__atomic_store_n(&g->gt[ref].flags, (uint16_t)0, __ATOMIC_RELEASE);
	memset(&g->gmeta[ref], 0, sizeof(g->gmeta[ref]));
	if (ref < g->ref_hint)
		g->ref_hint = ref;
}

/* Pin counts are 16 bits; Xen's are 8 bits per kind and refuse to
 * overflow too. */
static bool gnt_pin_full(const struct simd_dom *g, uint32_t ref, bool w)
{
	const struct simd_gmeta *m = &g->gmeta[ref];

	return (w ? m->pins_w : m->pins_r) == UINT16_MAX;
}

/*
 * End access to @ref (no mapping pins it): clear the entry, then look at
 * the grantee's copy pin (proto.h); a copy in flight puts it back and
 * fails.  Seq-cst, pairs with copy_side() in xenlib_sim.c.
 */
static bool gnt_try_end(struct simd_dom *g, uint32_t ref)
{
	uint16_t fl = gflags(g, ref);
	struct simd_pool *p;

	__atomic_store_n(&g->gt[ref].flags, (uint16_t)0, __ATOMIC_SEQ_CST);
	for (p = g->pools; p; p = p->next)
		if (p->copy_pins && p->peer == g->gt[ref].domid)
			break;
	if (p && __atomic_load_n(&p->copy_pins[ref], __ATOMIC_SEQ_CST)) {
		__atomic_store_n(&g->gt[ref].flags, fl, __ATOMIC_SEQ_CST);
		return false;
	}
	gnt_free(g, ref);
	return true;
}

/* Hand @ref to the hypervisor: it ends at the last unmap, or, if only a
 * copy holds it, at a later try (simd_res_retry_ends). */
static void gnt_orphan(struct simd_dom *g, uint32_t ref)
{
	struct simd_gmeta *m = &g->gmeta[ref];

	m->orphan = true;
	m->owner = 0;
	if (!m->pins_r && !m->pins_w && !gnt_try_end(g, ref))
		g->ends_deferred = true;
}

void simd_res_retry_ends(void)
{
	static double next;
	struct simd_dom *g;
	uint32_t r;

	/* A whole table scan: not more than ten times a second. */
	if (simd_now() < next)
		return;
	next = simd_now() + 0.1;
	for (g = simd.doms; g; g = g->next) {
		if (!g->ends_deferred)
			continue;
		g->ends_deferred = false;
		for (r = 0; r < PVK_SIMP_NR_GRANTS; r++) {
			struct simd_gmeta *m = &g->gmeta[r];

			if (m->used && m->orphan && !m->pins_r && !m->pins_w &&
			    !gnt_try_end(g, r))
				g->ends_deferred = true;
		}
	}
}

static void gnt_pin(struct simd_dom *g, uint32_t ref, bool w)
{
	struct simd_gmeta *m = &g->gmeta[ref];
	uint16_t set = GTF_reading | (w ? GTF_writing : 0);

	if (!m->pins_r && !m->pins_w)
		g->npinned++;
	if (w)
		m->pins_w++;
	else
		m->pins_r++;
	__atomic_fetch_or(&g->gt[ref].flags, set, __ATOMIC_ACQ_REL);
}

static void gnt_unpin(struct simd_dom *g, uint32_t ref, bool w)
{
	struct simd_gmeta *m = &g->gmeta[ref];
	uint16_t clr = 0;

	if (w && m->pins_w)
		m->pins_w--;
	else if (!w && m->pins_r)
		m->pins_r--;
	if (!m->pins_w)
		clr |= GTF_writing;
	if (!m->pins_w && !m->pins_r) {
		clr |= GTF_reading;
		g->npinned--;
	}
	__atomic_fetch_and(&g->gt[ref].flags, (uint16_t)~clr, __ATOMIC_ACQ_REL);
	if (!m->pins_w && !m->pins_r && m->orphan && !gnt_try_end(g, ref))
		g->ends_deferred = true;
}

static int gnt_share(struct simd_conn *c, const struct pvk_simp_req *req,
		     struct pvk_simp_rep *rep, int *fds)
{
	struct simd_dom *d = simd_dom_find(c->domid);
	uint32_t count = req->u.gnt.count, peer = req->u.gnt.domid, n = 0, r;
	bool ro = !req->u.gnt.writable;
	struct simd_pool *p;

	if (!d || d->state != SIMD_DOM_RUNNING)
		return -ESRCH;
	if (count == 0 || count > PVK_SIMP_MAX_REFS || peer > 0x7FEF)
		return -EINVAL;
	p = pool_get(d, peer, ro);
	if (!p)
		return -errno;
	for (r = d->ref_hint; r < PVK_SIMP_NR_GRANTS && n < count; r++)
		if (!d->gmeta[r].used)
			rep->u.gnt.refs[n++] = r;
	if (n < count)
		return -ENOSPC;
	d->ref_hint = rep->u.gnt.refs[count - 1] + 1;
	if (d->ref_top < d->ref_hint)
		d->ref_top = d->ref_hint;
	for (n = 0; n < count; n++) {
		r = rep->u.gnt.refs[n];
		d->gmeta[r] = (struct simd_gmeta){ .used = true,
						   .owner = c->id,
						   .ro_pool = ro };
		/* A fresh page: whatever a previous grant left is dropped. */
		fallocate(p->fd_rw, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			  (off_t)r * PVK_SIMP_PAGE, PVK_SIMP_PAGE);
		d->gt[r].domid = (domid_t)peer;
		d->gt[r].frame = r;
		/* Entry contents before the type flag that validates them. */
		__atomic_store_n(&d->gt[r].flags,
				 (uint16_t)(GTF_permit_access |
					    (ro ? GTF_readonly : 0)),
				 __ATOMIC_RELEASE);
	}
	rep->u.gnt.count = count;
	rep->u.gnt.uid = d->uid;
	fds[0] = p->fd_rw;
	return 1;
}

/* Undo gnt_try_end() of an entry in a batch that failed. */
static void gnt_regrant(struct simd_dom *d, uint32_t ref, uint32_t owner,
			const grant_entry_v1_t *e)
{
	struct simd_gmeta *m = &d->gmeta[ref];

	*m = (struct simd_gmeta){ .used = true,
				  .owner = owner,
				  .ro_pool = (e->flags & GTF_readonly) != 0 };
	d->gt[ref].domid = e->domid;
	d->gt[ref].frame = e->frame;
	__atomic_store_n(&d->gt[ref].flags, e->flags, __ATOMIC_RELEASE);
}

static int gnt_end(struct simd_conn *c, const struct pvk_simp_req *req)
{
	struct simd_dom *d = simd_dom_find(c->domid);
	uint32_t count = req->u.gnt.count, i, r;
	bool defer = req->u.gnt.flags & PVK_SIMP_GNT_END_DEFER;
	grant_entry_v1_t saved[PVK_SIMP_MAX_REFS];

	if (!d)
		return -ESRCH;
	if (count == 0 || count > PVK_SIMP_MAX_REFS ||
	    (req->u.gnt.flags & ~PVK_SIMP_GNT_END_DEFER))
		return -EINVAL;
	/* All or nothing: every ref is checked before any is ended. */
	for (i = 0; i < count; i++) {
		uint32_t j;

		r = req->u.gnt.refs[i];
		if (r >= PVK_SIMP_NR_GRANTS || !d->gmeta[r].used ||
		    d->gmeta[r].owner != c->id)
			return -EINVAL;
		for (j = 0; j < i; j++)
			if (req->u.gnt.refs[j] == r)
				return -EINVAL;
		/* Xen: an entry in use cannot be invalidated. */
		if (!defer && (gflags(d, r) & (GTF_reading | GTF_writing)))
			return -EBUSY;
		saved[i] = d->gt[r];
		saved[i].flags = gflags(d, r);
	}
	if (defer) {
		/* gntalloc: what is in use ends at the last unmap (gnt_unpin)
		 * or once a copy is done (simd_res_retry_ends). */
		for (i = 0; i < count; i++)
			gnt_orphan(d, req->u.gnt.refs[i]);
		return 0;
	}
	for (i = 0; i < count; i++) {
		if (!gnt_try_end(d, req->u.gnt.refs[i])) {
			/* a copy in flight: Xen's pin, EBUSY; those ended
			 * already are given back, so nothing changes */
			while (i--)
				gnt_regrant(d, req->u.gnt.refs[i], c->id,
					    &saved[i]);
			return -EBUSY;
		}
	}
	return 0;
}

static int maps_add(struct simd_conn *c, const struct simd_map *m)
{
	if (c->nmaps == c->capmaps) {
		size_t cap = c->capmaps ? c->capmaps * 2 : 16;
		struct simd_map *n = realloc(c->maps, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		c->maps = n;
		c->capmaps = cap;
	}
	c->maps[c->nmaps++] = *m;
	return 0;
}

static int gnt_map(struct simd_conn *c, const struct pvk_simp_req *req,
		   struct pvk_simp_rep *rep, int *fds)
{
	struct simd_dom *g = simd_dom_find(req->u.gnt.domid);
	uint32_t count = req->u.gnt.count, i, r;
	bool w = req->u.gnt.writable != 0, need_rw = false, need_ro = false;
	struct simd_pool *prw = NULL, *pro = NULL;
	int nfds = 0;

	if (!g || g->state != SIMD_DOM_RUNNING)
		return -ENOENT;
	if (count == 0 || count > PVK_SIMP_MAX_REFS)
		return -EINVAL;
	if (c->nmaps + count > 65536)
		return -ENOSPC; /* maptrack full */
	for (i = 0; i < count; i++) {
		uint16_t fl;

		r = req->u.gnt.refs[i];
		if (r >= PVK_SIMP_NR_GRANTS)
			return -EINVAL;
		fl = gflags(g, r);
		if ((fl & GTF_type_mask) != GTF_permit_access ||
		    g->gt[r].domid != c->domid || g->gt[r].frame != r)
			return -EINVAL;
		if (w && (fl & GTF_readonly))
			return -EACCES;
		if (gnt_pin_full(g, r, w))
			return -EBUSY;
		if (g->gmeta[r].ro_pool)
			need_ro = true;
		else
			need_rw = true;
	}
	if (need_rw && !(prw = pool_get(g, c->domid, false)))
		return -errno;
	if (need_ro && !(pro = pool_get(g, c->domid, true)))
		return -errno;
	for (i = 0; i < count; i++) {
		struct simd_map m = { .granter = g->domid,
				      .uid = g->uid,
				      .ref = req->u.gnt.refs[i],
				      .writable = w };

		/* Checked above, but a batch may name one ref many times. */
		int rc = gnt_pin_full(g, m.ref, w) ? -EBUSY : maps_add(c, &m);

		if (rc < 0) {
			while (i--) {
				c->nmaps--;
				gnt_unpin(g, req->u.gnt.refs[i], w);
			}
			return rc;
		}
		gnt_pin(g, m.ref, w);
		rep->u.gnt.refs[i] = g->gt[m.ref].frame;
		rep->u.gnt.which[i] = g->gmeta[m.ref].ro_pool;
	}
	rep->u.gnt.count = count;
	rep->u.gnt.uid = g->uid;
	/* Read-only grants only ever travel as the O_RDONLY descriptor. */
	fds[nfds++] = prw ? prw->fd_rw : pro->fd_ro;
	fds[nfds++] = pro ? pro->fd_ro : prw->fd_rw;
	return nfds;
}

static void map_drop(struct simd_conn *c, size_t idx)
{
	struct simd_map m = c->maps[idx];
	struct simd_dom *g = simd_dom_find(m.granter);

	c->maps[idx] = c->maps[--c->nmaps];
	if (g && g->uid == m.uid) {
		gnt_unpin(g, m.ref, m.writable);
		simd_dom_maybe_reap(g);
	}
}

static int gnt_unmap(struct simd_conn *c, const struct pvk_simp_req *req)
{
	uint32_t count = req->u.gnt.count, i;
	bool w = req->u.gnt.writable != 0;
	size_t *idx;
	size_t k;

	if (count == 0 || count > PVK_SIMP_MAX_REFS)
		return -EINVAL;
	idx = calloc(count, sizeof(*idx));
	if (!idx)
		return -ENOMEM;
	/* All or nothing: find every mapping first (a double unmap fails
	 * without touching anything). */
	for (i = 0; i < count; i++) {
		for (k = 0; k < c->nmaps; k++) {
			const struct simd_map *m = &c->maps[k];
			uint32_t j;

			if (m->granter != req->u.gnt.domid ||
			    m->ref != req->u.gnt.refs[i] || m->writable != w)
				continue;
			for (j = 0; j < i; j++)
				if (idx[j] == k)
					break;
			if (j == i)
				break;
		}
		if (k == c->nmaps) {
			free(idx);
			return -EINVAL;
		}
		idx[i] = k;
	}
	/* Drop from the highest index so earlier indices stay valid. */
	for (i = 0; i < count; i++) {
		uint32_t j, best = 0;

		for (j = 1; j < count; j++)
			if (idx[j] != (size_t)-1 &&
			    (idx[best] == (size_t)-1 || idx[j] > idx[best]))
				best = j;
		map_drop(c, idx[best]);
		idx[best] = (size_t)-1;
	}
	free(idx);
	return 0;
}

static int gnt_table(struct simd_conn *c, const struct pvk_simp_req *req,
		     struct pvk_simp_rep *rep, int *fds)
{
	struct simd_dom *g = simd_dom_find(req->u.gnt.domid);
	struct simd_pool *prw, *pro;

	if (!g || g->state != SIMD_DOM_RUNNING)
		return -ENOENT;
	prw = pool_get(g, c->domid, false);
	pro = pool_get(g, c->domid, true);
	if (!prw || !pro)
		return -errno;
	rep->u.table.nr_grants = PVK_SIMP_NR_GRANTS;
	rep->u.table.uid = g->uid;
	fds[0] = g->gt_ro_fd;
	fds[1] = prw->fd_rw;
	fds[2] = pro->fd_ro;
	return 3;
}

static int gnt_query(struct simd_conn *c, const struct pvk_simp_req *req,
		     struct pvk_simp_rep *rep)
{
	struct simd_dom *g = simd_dom_find(req->u.gnt.domid);
	uint32_t r = req->u.gnt.refs[0];

	if (c->domid != 0 && c->domid != req->u.gnt.domid)
		return -EPERM;
	if (!g)
		return -ENOENT;
	if (r >= PVK_SIMP_NR_GRANTS)
		return -EINVAL;
	rep->u.query.flags = gflags(g, r);
	rep->u.query.domid = g->gt[r].domid;
	rep->u.query.frame = g->gt[r].frame;
	rep->u.query.pins = g->gmeta[r].pins_r + g->gmeta[r].pins_w;
	return 0;
}

int simd_res_handle(struct simd_conn *c, const struct pvk_simp_req *req,
		    struct pvk_simp_rep *rep, int *fds, int nfds_in,
		    const int *fds_in)
{
	int rc, i;

	if (req->op == PVK_SIMP_EVTCHN_OPEN) {
		rc = ev_open(c, rep, nfds_in, fds_in);
		goto close_in; /* it keeps an open file of its own */
	}
	if (simd_hvm_op(req->op)) {
		rc = simd_hvm_handle(c, req, rep, fds);
		goto close_in;
	}
	switch (req->op) {
	case PVK_SIMP_EVTCHN_CLOSE:
	case PVK_SIMP_EVTCHN_ALLOC_UNBOUND:
	case PVK_SIMP_EVTCHN_BIND_INTERDOMAIN:
	case PVK_SIMP_EVTCHN_BIND_VIRQ:
	case PVK_SIMP_EVTCHN_UNBIND:
	case PVK_SIMP_EVTCHN_PEER:
		rc = ev_op(c, req, rep, fds);
		break;
	case PVK_SIMP_GNT_SHARE:
		rc = gnt_share(c, req, rep, fds);
		break;
	case PVK_SIMP_GNT_END:
		rc = gnt_end(c, req);
		break;
	case PVK_SIMP_GNT_MAP:
		rc = gnt_map(c, req, rep, fds);
		break;
	case PVK_SIMP_GNT_UNMAP:
		rc = gnt_unmap(c, req);
		break;
	case PVK_SIMP_GNT_TABLE:
		rc = gnt_table(c, req, rep, fds);
		break;
	case PVK_SIMP_GNT_QUERY:
		rc = gnt_query(c, req, rep);
		break;
	default:
		rc = -EBADMSG;
		break;
	}
close_in:
	for (i = 0; i < nfds_in; i++)
		close(fds_in[i]);
	return rc;
}

void simd_res_conn_close(struct simd_conn *c)
{
	struct simd_dom *d;
	uint32_t r;

	simd_hvm_conn_gone(c);
	while (c->handles)
		handle_close(c, c->handles);
	while (c->nmaps)
		map_drop(c, c->nmaps - 1);
	/* Grants it shared end now, or, while mapped, at the last unmap
	 * (gntalloc's deferred end of access). */
	d = simd_dom_find(c->domid);
	if (!c->hello || !d)
		return;
	/* Only what was ever shared: not the whole table per hang-up. */
	for (r = GNTTAB_NR_RESERVED_ENTRIES; r < d->ref_top; r++) {
		struct simd_gmeta *m = &d->gmeta[r];

		if (m->used && m->owner == c->id)
			gnt_orphan(d, r);
	}
}

/* Domain @peer is gone for good: pools other domains kept for it go too,
 * unless one of their pages is still granted (its owner has not ended
 * access; a domain that reuses the id may still map it, as on Xen). */
void simd_res_peer_gone(uint32_t peer)
{
	struct simd_dom *g;

	for (g = simd.doms; g; g = g->next) {
		struct simd_pool **pp = &g->pools, *p;

		/* A dead domain copies nothing: pins it left (a process
		 * killed mid-copy) must not hold ends of access forever. */
		for (p = g->pools; p; p = p->next) {
			if (p->peer == peer && p->copy_pins) {
				memset(p->copy_pins, 0,
				       PVK_SIMP_COPY_PINS_SIZE);
				g->ends_deferred = true;
			}
		}
		while ((p = *pp)) {
			uint32_t r;

			for (r = 0; p->peer == peer && r < PVK_SIMP_NR_GRANTS;
			     r++)
				if (g->gmeta[r].used &&
				    g->gt[r].domid == (domid_t)peer &&
				    g->gmeta[r].ro_pool == p->ro)
					break;
			if (p->peer != peer || r < PVK_SIMP_NR_GRANTS) {
				pp = &p->next;
				continue;
			}
			*pp = p->next;
			pool_free(p);
		}
	}
}

void simd_res_dom_kill(struct simd_dom *d)
{
	uint32_t p;

	simd_hvm_kill(d);
	for (p = 1; p < PVK_SIMP_NR_PORTS; p++)
		if (d->ports[p].state != PVK_SIMP_PORT_CLOSED)
			simd_port_close(d, p);
}
