// SPDX-License-Identifier: MIT
/*
 * pvkit-simd: HVM domains.  RAM (a memfd), vCPUs, the ioreq servers a
 * device model in domain 0 creates for them, and ISA lines, with the rules
 * of Xen's ioreq servers (xen/arch/x86/hvm/ioreq.c, as loop_dm.c does
 * them): at most 8 servers per guest, ranges that do not overlap across
 * a guest's servers, a server claims nothing until enabled.  Only set-up
 * comes here; an access goes between the guest and the device model
 * through the server's page and ordinary event channels (proto.h, "HVM").
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <pvkit/ioreq.h>

#include "simd.h"

#define NO_DOMID 0x7FF4u /* DOMID_INVALID: an unbound port nobody binds */
#define HVM_PAGE_SIZE                                             \
	((sizeof(struct pvk_simp_hvm_page) + PVK_SIMP_PAGE - 1) & \
	 ~(size_t)(PVK_SIMP_PAGE - 1))
#define IOREQ_SIZE ((size_t)PVK_SIMP_IOREQ_PAGES * PVK_SIMP_PAGE)

struct simd_hvm_srv {
	uint32_t owner; /* the connection that created it */
	int fd; /* the ioreq memfd */
	uint32_t buf_port; /* the guest's, 0 without a buffered page */
};

struct simd_hvm {
	uint64_t ram_size;
	uint32_t nr_vcpus;
	int ram_fd, page_fd, page_ro_fd;
	int irq_rd, irq_wr; /* ISA lines changed: a byte (proto.h) */
	struct pvk_simp_hvm_page *page; /* published */
	struct pvk_simp_hvm_server srv[PVK_SIMP_HVM_SERVERS]; /* ours */
	struct simd_hvm_srv x[PVK_SIMP_HVM_SERVERS];
	struct simd_handle *vcpu_h[PVK_SIMP_HVM_VCPUS];
	uint32_t next_id;
};

/* The server table as the guest sees it, under the seqlock. */
static void publish(struct simd_hvm *h)
{
	uint32_t gen = __atomic_load_n(&h->page->gen, __ATOMIC_RELAXED);

	__atomic_store_n(&h->page->gen, gen + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	memcpy(h->page->srv, h->srv, sizeof(h->srv));
	__atomic_store_n(&h->page->gen, gen + 2, __ATOMIC_RELEASE);
}

uint32_t simd_hvm_vcpus(const struct simd_dom *d)
{
	return d->hvm ? d->hvm->nr_vcpus : 0;
}

int simd_hvm_init(struct simd_dom *d, uint32_t memory_mib, uint32_t vcpus)
{
	struct simd_hvm *h;
	char name[64];
	int rc, p[2];

	if (memory_mib == 0 || memory_mib > PVK_SIMP_HVM_MEM_MAX ||
	    vcpus == 0 || vcpus > PVK_SIMP_HVM_VCPUS)
		return -EINVAL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->ram_fd = h->page_fd = h->page_ro_fd = h->irq_rd = h->irq_wr = -1;
	h->ram_size = (uint64_t)memory_mib << 20;
	h->nr_vcpus = vcpus;
	for (unsigned int i = 0; i < PVK_SIMP_HVM_SERVERS; i++)
		h->x[i].fd = -1;
	snprintf(name, sizeof(name), "pvk-ram-%u", d->domid);
	rc = h->ram_fd = simd_memfd_sized(name, h->ram_size);
	if (rc < 0)
		goto fail;
	snprintf(name, sizeof(name), "pvk-hvm-%u", d->domid);
	rc = h->page_fd = simd_memfd_sized(name, HVM_PAGE_SIZE);
	if (rc < 0)
		goto fail;
	snprintf(name, sizeof(name), "/proc/self/fd/%d", h->page_fd);
	h->page_ro_fd = open(name, O_RDONLY | O_CLOEXEC);
	if (h->page_ro_fd < 0) {
		rc = -errno;
		goto fail;
	}
	h->page = mmap(NULL, HVM_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		       h->page_fd, 0);
	if (h->page == MAP_FAILED) {
		h->page = NULL;
		rc = -errno;
		goto fail;
	}
	/* The write end is ours alone and non-blocking: a guest that never
	 * reads its end cannot block us, only lose coalesced bytes. */
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0) {
		rc = -errno;
		goto fail;
	}
	h->irq_rd = p[0];
	h->irq_wr = p[1];
	h->page->nr_vcpus = vcpus;
	h->page->ram_size = h->ram_size;
	d->hvm = h;
	return 0;
fail:
	d->hvm = h;
	simd_hvm_fini(d);
	return rc;
}

/* The vCPU ports of a server that goes: the device model's ends revert to
 * unbound; a port with an owner stays allocated to it (unbound to nobody)
 * and is raised, so a vCPU waiting on it wakes and finds its server gone;
 * the guest unbinds it then. */
static void port_retire(struct simd_dom *g, uint32_t port)
{
	struct simd_handle *h;

	if (!port || port >= PVK_SIMP_NR_PORTS || !g->ports[port].hvm)
		return;
	h = g->ports[port].h;
	simd_port_close(g, port);
	if (!h || g->state != SIMD_DOM_RUNNING)
		return;
	g->ports[port] = (struct simd_port){ .state = PVK_SIMP_PORT_UNBOUND,
					     .rdom = NO_DOMID,
					     .h = h };
	simd_port_rebind(g, port, false);
	simd_port_raise(g, port);
}

static void server_destroy(struct simd_dom *g, unsigned int i, const char *why)
{
	struct simd_hvm *h = g->hvm;
	struct pvk_simp_hvm_server *s = &h->srv[i];
	uint32_t ports[PVK_SIMP_HVM_VCPUS], buf = h->x[i].buf_port;

	if (!s->uid)
		return;
	simd_log("domain %u: ioreq server %u destroyed (%s)", g->domid, s->id,
		 why);
	memcpy(ports, s->port, sizeof(ports));
	/* Gone from the table first: a vCPU woken below sees it so. */
	memset(s, 0, sizeof(*s));
	publish(h);
	for (unsigned int v = 0; v < h->nr_vcpus; v++)
		port_retire(g, ports[v]);
	if (buf && g->ports[buf].hvm)
		simd_port_close(g, buf);
	if (h->x[i].fd >= 0)
		close(h->x[i].fd);
	h->x[i] = (struct simd_hvm_srv){ .fd = -1 };
}

void simd_hvm_kill(struct simd_dom *d)
{
	if (!d->hvm)
		return;
	for (unsigned int i = 0; i < PVK_SIMP_HVM_SERVERS; i++)
		server_destroy(d, i, "the domain died");
}

void simd_hvm_fini(struct simd_dom *d)
{
	struct simd_hvm *h = d->hvm;

	if (!h)
		return;
	for (unsigned int i = 0; i < PVK_SIMP_HVM_SERVERS; i++)
		if (h->x[i].fd >= 0)
			close(h->x[i].fd);
	if (h->page)
		munmap(h->page, HVM_PAGE_SIZE);
	if (h->page_ro_fd >= 0)
		close(h->page_ro_fd);
	if (h->page_fd >= 0)
		close(h->page_fd);
	if (h->ram_fd >= 0)
		close(h->ram_fd);
	if (h->irq_rd >= 0)
		close(h->irq_rd);
	if (h->irq_wr >= 0)
		close(h->irq_wr);
	free(h);
	d->hvm = NULL;
}

void simd_hvm_conn_gone(struct simd_conn *c)
{
	struct simd_dom *d;

	if (!c->hello || c->domid != 0)
		return;
	for (d = simd.doms; d; d = d->next) {
		if (!d->hvm)
			continue;
		for (unsigned int i = 0; i < PVK_SIMP_HVM_SERVERS; i++)
			if (d->hvm->srv[i].uid && d->hvm->x[i].owner == c->id)
				server_destroy(d, i,
					       "its device model went away");
	}
}

void simd_hvm_handle_gone(struct simd_dom *d, struct simd_handle *h)
{
	if (!d->hvm)
		return;
	for (unsigned int v = 0; v < PVK_SIMP_HVM_VCPUS; v++)
		if (d->hvm->vcpu_h[v] == h)
			d->hvm->vcpu_h[v] = NULL;
	for (uint32_t p = 1; p < PVK_SIMP_NR_PORTS; p++)
		if (d->ports[p].h == h && d->ports[p].hvm)
			d->ports[p].h = NULL;
}

bool simd_hvm_op(uint32_t op)
{
	return op >= PVK_SIMP_HVM_INFO && op <= PVK_SIMP_FOREIGN_RAM;
}

/* A device model's target: a running HVM guest, asked from domain 0. */
static int target(struct simd_conn *c, uint32_t domid, struct simd_dom **out)
{
	struct simd_dom *g;

	if (c->domid != 0)
		return -EPERM;
	g = domid ? simd_dom_find(domid) : NULL;
	if (!g || g->state != SIMD_DOM_RUNNING)
		return -ESRCH;
	if (!g->hvm)
		return -EOPNOTSUPP;
	*out = g;
	return 0;
}

/* Slot of server @id of @h, or -ENOENT. */
static int server_slot(struct simd_hvm *h, uint32_t id)
{
	for (unsigned int i = 0; i < PVK_SIMP_HVM_SERVERS; i++)
		if (h->srv[i].uid && h->srv[i].id == id)
			return (int)i;
	return -ENOENT;
}

static int guest_port(struct simd_dom *g, struct simd_handle *owner)
{
	int p = simd_port_alloc(g);

	if (p < 0)
		return p;
	g->ports[p] = (struct simd_port){ .state = PVK_SIMP_PORT_UNBOUND,
					  .rdom = 0,
					  .h = owner,
					  .hvm = true };
	simd_port_rebind(g, (uint32_t)p, false);
	return p;
}

static int ioreq_create(struct simd_conn *c, const struct pvk_simp_req *req,
			struct pvk_simp_rep *rep)
{
	struct pvk_simp_hvm_server *s;
	struct pvk_ioreq *slots;
	struct simd_dom *g;
	struct simd_hvm *h;
	char name[64];
	int rc, i, fd;

	rc = target(c, req->u.hvm.domid, &g);
	if (rc < 0)
		return rc;
	if (req->u.hvm.flags & ~PVK_SIMP_IOREQ_BUF)
		return -EINVAL;
	h = g->hvm;
	for (i = 0; i < (int)PVK_SIMP_HVM_SERVERS && h->srv[i].uid; i++)
		;
	if (i == (int)PVK_SIMP_HVM_SERVERS)
		return -ENOSPC;
	snprintf(name, sizeof(name), "pvk-ioreq-%u", g->domid);
	fd = simd_memfd_sized(name, IOREQ_SIZE);
	if (fd < 0)
		return fd;
	slots = mmap(NULL, PVK_SIMP_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED,
		     fd, PVK_SIMP_PAGE);
	if (slots == MAP_FAILED) {
		rc = -errno;
		close(fd);
		return rc;
	}
	s = &h->srv[i];
	memset(s, 0, sizeof(*s));
	h->x[i] = (struct simd_hvm_srv){ .owner = c->id, .fd = fd };
	for (unsigned int v = 0; v < h->nr_vcpus; v++) {
		rc = guest_port(g, h->vcpu_h[v]);
		if (rc < 0)
			goto undo;
		s->port[v] = (uint32_t)rc;
		slots[v].vp_eport = (uint32_t)rc;
	}
	if (req->u.hvm.flags & PVK_SIMP_IOREQ_BUF) {
		rc = guest_port(g, NULL);
		if (rc < 0)
			goto undo;
		h->x[i].buf_port = (uint32_t)rc;
	}
	munmap(slots, PVK_SIMP_PAGE);
	/* Ids are small, as Xen's; never two alike in a guest. */
	do
		s->id = h->next_id++ & 0xffff;
	while (server_slot(h, s->id) >= 0);
	s->uid = simd.next_uid++;
	publish(h);
	rep->u.hvm.id = s->id;
	simd_log("domain %u: ioreq server %u created by pid %d", g->domid,
		 s->id, (int)c->pid);
	return 0;

undo:
	munmap(slots, PVK_SIMP_PAGE);
	for (unsigned int v = 0; v < h->nr_vcpus; v++)
		if (s->port[v])
			simd_port_close(g, s->port[v]);
	if (h->x[i].buf_port)
		simd_port_close(g, h->x[i].buf_port);
	memset(s, 0, sizeof(*s));
	close(fd);
	h->x[i] = (struct simd_hvm_srv){ .fd = -1 };
	return rc;
}

static bool overlaps(const struct pvk_simp_hvm_range *r, uint32_t type,
		     uint64_t start, uint64_t end)
{
	return r->type == type && start <= r->end && r->start <= end;
}

static int ioreq_range(struct simd_hvm *h, int i,
		       const struct pvk_simp_req *req)
{
	struct pvk_simp_hvm_server *s = &h->srv[i];
	uint64_t start = req->u.hvm.start, end = req->u.hvm.end;
	uint32_t type = req->u.hvm.type;

	if (type > PVK_SIMP_RANGE_PCI || start > end ||
	    (type == PVK_SIMP_RANGE_PORT && end > 0xffff) ||
	    req->u.hvm.flags > 1)
		return -EINVAL;
	if (!req->u.hvm.flags) {
		for (uint32_t k = 0; k < s->nr_ranges; k++) {
			struct pvk_simp_hvm_range *r = &s->range[k];

			if (r->type == type && r->start == start &&
			    r->end == end) {
				*r = s->range[--s->nr_ranges];
				memset(&s->range[s->nr_ranges], 0, sizeof(*r));
				return 0;
			}
		}
		return -ENOENT;
	}
	for (unsigned int j = 0; j < PVK_SIMP_HVM_SERVERS; j++)
		for (uint32_t k = 0; h->srv[j].uid && k < h->srv[j].nr_ranges;
		     k++)
			if (overlaps(&h->srv[j].range[k], type, start, end))
				return -EEXIST;
	if (s->nr_ranges == PVK_SIMP_HVM_RANGES)
		return -ENOSPC;
	s->range[s->nr_ranges++] = (struct pvk_simp_hvm_range){ .start = start,
								.end = end,
								.type = type };
	return 0;
}

/* Domain 0's requests on a server of guest u.hvm.domid. */
static int ioreq_op(struct simd_conn *c, const struct pvk_simp_req *req,
		    struct pvk_simp_rep *rep, int *fds)
{
	struct simd_dom *g;
	struct simd_hvm *h;
	int rc, i;

	rc = target(c, req->u.hvm.domid, &g);
	if (rc < 0)
		return rc;
	h = g->hvm;
	i = server_slot(h, req->u.hvm.id);
	if (i < 0)
		return i;
	switch (req->op) {
	case PVK_SIMP_IOREQ_MAP:
		/* The pages are their creator's, as Xen's resource. */
		if (h->x[i].owner != c->id)
			return -EPERM;
		rep->u.hvm.id = h->srv[i].id;
		rep->u.hvm.nr_vcpus = h->nr_vcpus;
		rep->u.hvm.buf_port = h->x[i].buf_port;
		fds[0] = h->x[i].fd;
		return 1;
	case PVK_SIMP_IOREQ_RANGE:
		rc = ioreq_range(h, i, req);
		break;
	case PVK_SIMP_IOREQ_STATE:
		if (req->u.hvm.flags > 1)
			return -EINVAL;
		h->srv[i].enabled = req->u.hvm.flags;
		rc = 0;
		break;
	case PVK_SIMP_IOREQ_DESTROY:
		server_destroy(g, (unsigned int)i, "by its device model");
		return 0;
	default:
		return -EINVAL;
	}
	if (rc == 0)
		publish(h);
	return rc;
}

static int isa_irq(struct simd_conn *c, const struct pvk_simp_req *req)
{
	uint32_t line = req->u.hvm.index, old, nw;
	struct simd_dom *g;
	char one = 1;
	int rc;

	rc = target(c, req->u.hvm.domid, &g);
	if (rc < 0)
		return rc;
	if (line > 15 || req->u.hvm.flags > 1)
		return -EINVAL;
	old = __atomic_load_n(&g->hvm->page->lines, __ATOMIC_RELAXED);
	nw = req->u.hvm.flags ? old | 1u << line : old & ~(1u << line);
	if (nw == old)
		return 0;
	__atomic_store_n(&g->hvm->page->lines, nw, __ATOMIC_RELEASE);
	if (write(g->hvm->irq_wr, &one, 1) < 0) {
		/* full: the guest's end is readable anyway */
	}
	return 0;
}

/* The guest's own requests. */
static int guest_op(struct simd_conn *c, const struct pvk_simp_req *req,
		    struct pvk_simp_rep *rep, int *fds)
{
	struct simd_dom *d = simd_dom_find(c->domid);
	struct simd_handle *hd;
	struct simd_hvm *h;
	uint32_t v = req->u.hvm.index;

	if (!d || d->state != SIMD_DOM_RUNNING)
		return -ESRCH;
	if (!d->hvm)
		return -EOPNOTSUPP;
	h = d->hvm;
	switch (req->op) {
	case PVK_SIMP_HVM_INFO:
		rep->u.hvm.nr_vcpus = h->nr_vcpus;
		rep->u.hvm.ram_size = h->ram_size;
		rep->u.hvm.uid = d->uid;
		fds[0] = h->ram_fd;
		fds[1] = h->page_ro_fd;
		fds[2] = h->irq_rd;
		return 3;
	case PVK_SIMP_HVM_VCPU:
		hd = simd_handle_find(c, req->u.hvm.handle);
		if (!hd)
			return -EBADF;
		if (v >= h->nr_vcpus)
			return -EINVAL;
		h->vcpu_h[v] = hd;
		for (unsigned int i = 0; i < PVK_SIMP_HVM_SERVERS; i++) {
			uint32_t p = h->srv[i].port[v];

			if (h->srv[i].uid && p && p < PVK_SIMP_NR_PORTS &&
			    d->ports[p].hvm)
				d->ports[p].h = hd;
		}
		return 0;
	case PVK_SIMP_HVM_SERVER_PAGE:
		if (v >= PVK_SIMP_HVM_SERVERS || !h->srv[v].uid ||
		    h->srv[v].uid != req->u.hvm.uid)
			return -ESRCH;
		fds[0] = h->x[v].fd;
		return 1;
	}
	return -EINVAL;
}

static int foreign_ram(struct simd_conn *c, const struct pvk_simp_req *req,
		       struct pvk_simp_rep *rep, int *fds)
{
	struct simd_dom *g;
	int rc = target(c, req->u.hvm.domid, &g);

	if (rc < 0)
		return rc;
	rep->u.hvm.ram_size = g->hvm->ram_size;
	rep->u.hvm.nr_vcpus = g->hvm->nr_vcpus;
	rep->u.hvm.uid = g->uid;
	fds[0] = g->hvm->ram_fd;
	return 1;
}

int simd_hvm_handle(struct simd_conn *c, const struct pvk_simp_req *req,
		    struct pvk_simp_rep *rep, int *fds)
{
	switch (req->op) {
	case PVK_SIMP_HVM_INFO:
	case PVK_SIMP_HVM_VCPU:
	case PVK_SIMP_HVM_SERVER_PAGE:
		return guest_op(c, req, rep, fds);
	case PVK_SIMP_IOREQ_CREATE:
		return ioreq_create(c, req, rep);
	case PVK_SIMP_IOREQ_MAP:
	case PVK_SIMP_IOREQ_RANGE:
	case PVK_SIMP_IOREQ_STATE:
	case PVK_SIMP_IOREQ_DESTROY:
		return ioreq_op(c, req, rep, fds);
	case PVK_SIMP_ISA_IRQ:
		return isa_irq(c, req);
	case PVK_SIMP_FOREIGN_RAM:
		return foreign_ram(c, req, rep, fds);
	}
	return -EBADMSG;
}
