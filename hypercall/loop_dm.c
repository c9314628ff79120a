/* SPDX-License-Identifier: MIT */
/*
 * The loop hypervisor's ioreq servers (pvkit/dm.h).  Both sides run in
 * this process: a device model thread on domain 0's handle, guest vCPU
 * threads on the guest's.  The ioreq pages are plain memory; each vCPU's
 * port is a real loop event channel of the guest, allocated unbound for
 * the device model, which binds it as on Xen.  A server goes with the
 * handle that created it (or pvk_dm_server_destroy).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "loop_priv.h"

#define DM_VCPUS 4u
#define DM_SERVERS 8u /* per guest, as Xen */
#define DM_RANGES 64u /* per server */
#define DM_RAM (16ull << 20) /* each guest's RAM */

struct dm_range {
	enum pvk_dm_space space;
	uint64_t start, end;
};

struct dm_server {
	struct dm_server *next;
	struct pvk_hv *owner;
	uint32_t domid;
	pvk_ioservid_t id;
	bool enabled, dead;
	unsigned int users; /* vCPU calls inside */
	struct pvk_ioreq *page;
	struct pvk_buf_iopage *buf;
	struct pvk_hv *ghv; /* the guest's end of the ports */
	struct pvk_evtchn *ev[DM_VCPUS], *buf_ev;
	uint32_t port[DM_VCPUS], buf_port;
	bool posted[DM_VCPUS];
	int kill_fd; /* destroyed while a vCPU waits */
	struct dm_range range[DM_RANGES];
	unsigned int nr_ranges;
};

struct dm_guest {
	struct dm_guest *next;
	uint32_t domid;
	int memfd;
	void *ram;
	uint16_t lines;
	int irq_fd;
};

struct loop_dm {
	pthread_mutex_t lock;
	struct dm_server *servers;
	struct dm_guest *guests;
	pvk_ioservid_t next_id;
};

struct loop_dm *loop_dm_new(void)
{
	struct loop_dm *dm = calloc(1, sizeof(*dm));

	if (dm)
		pthread_mutex_init(&dm->lock, NULL);
	return dm;
}

static void server_free(struct dm_server *s)
{
	for (unsigned int v = 0; v < DM_VCPUS; v++)
		pvk_evtchn_close(s->ev[v]);
	pvk_evtchn_close(s->buf_ev);
	pvk_hv_close(s->ghv);
	if (s->kill_fd >= 0)
		close(s->kill_fd);
	free(s->page);
	free(s->buf);
	free(s);
}

void loop_dm_free(struct loop_dm *dm)
{
	struct dm_guest *g, *gn;

	if (!dm)
		return;
	/* Servers went with their handles, all closed by now. */
	for (g = dm->guests; g; g = gn) {
		gn = g->next;
		if (g->ram)
			munmap(g->ram, DM_RAM);
		if (g->memfd >= 0)
			close(g->memfd);
		if (g->irq_fd >= 0)
			close(g->irq_fd);
		free(g);
	}
	pthread_mutex_destroy(&dm->lock);
	free(dm);
}

static struct loop_dm *dm_of(struct pvk_hv *hv)
{
	return loop_dm_get(loop_of(hv));
}

/* A device model acts on an existing guest from domain 0. */
static int dm_check(struct pvk_hv *hv, uint32_t domid)
{
	struct pvk_domain_info info;
	int err;

	if (hv->domid != 0)
		return -EPERM;
	if (domid == 0)
		return -EINVAL;
	err = pvk_hv_domain_info(hv, domid, &info);
	if (err < 0)
		return err == -ENOENT ? -ESRCH : err;
	return info.dying ? -ESRCH : 0;
}

/* A device model's call on guest @domid: the loop's state, locked; NULL
 * with *@err set when the caller may not. */
static struct loop_dm *dm_enter(struct pvk_hv *hv, uint32_t domid, int *err)
{
	struct loop_dm *dm = dm_of(hv);

	*err = dm ? dm_check(hv, domid) : -ENOMEM;
	if (*err < 0)
		return NULL;
	pthread_mutex_lock(&dm->lock);
	return dm;
}

static struct dm_server *server_find(struct loop_dm *dm, uint32_t domid,
				     pvk_ioservid_t id)
{
	struct dm_server *s;

	for (s = dm->servers; s; s = s->next)
		if (s->domid == domid && s->id == id && !s->dead)
			return s;
	return NULL;
}

/* The guest's RAM and lines, made on first use; under dm->lock. */
static struct dm_guest *guest_get(struct loop_dm *dm, uint32_t domid)
{
	struct dm_guest *g;

	for (g = dm->guests; g; g = g->next)
		if (g->domid == domid)
			return g;
	g = calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	g->domid = domid;
	g->irq_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	g->memfd = memfd_create("pvk-loop-ram", MFD_CLOEXEC);
	if (g->irq_fd < 0 || g->memfd < 0 || ftruncate(g->memfd, DM_RAM) < 0)
		goto fail;
	g->ram = mmap(NULL, DM_RAM, PROT_READ | PROT_WRITE, MAP_SHARED,
		      g->memfd, 0);
	if (g->ram == MAP_FAILED) {
		g->ram = NULL;
		goto fail;
	}
	g->next = dm->guests;
	dm->guests = g;
	return g;
fail:
	if (g->irq_fd >= 0)
		close(g->irq_fd);
	if (g->memfd >= 0)
		close(g->memfd);
	free(g);
	return NULL;
}

/* The guest's end: a port per vCPU (and one for the buffered page),
 * unbound for the device model's domain to bind. */
static int server_ports(struct dm_server *s, struct pvk_loop *l, uint32_t emu,
			bool buffered)
{
	int ret;

	ret = pvk_hv_open_loop(&s->ghv, l, s->domid);
	for (unsigned int v = 0; ret >= 0 && v < DM_VCPUS; v++) {
		ret = pvk_evtchn_open(s->ghv, &s->ev[v]);
		if (ret >= 0)
			ret = pvk_evtchn_alloc_unbound(s->ev[v], emu);
		if (ret >= 0) {
			s->port[v] = (uint32_t)ret;
			s->page[v].vp_eport = (uint32_t)ret;
		}
	}
	if (ret >= 0 && buffered) {
		ret = pvk_evtchn_open(s->ghv, &s->buf_ev);
		if (ret >= 0)
			ret = pvk_evtchn_alloc_unbound(s->buf_ev, emu);
		if (ret >= 0)
			s->buf_port = (uint32_t)ret;
	}
	return ret < 0 ? ret : 0;
}

int loop_dm_server_create(struct pvk_hv *hv, uint32_t domid, unsigned int flags,
			  pvk_ioservid_t *id)
{
	struct loop_dm *dm = dm_of(hv);
	struct dm_server *s, *it;
	unsigned int n = 0;
	int ret;

	if (!dm)
		return -ENOMEM;
	ret = dm_check(hv, domid);
	if (ret < 0)
		return ret;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->owner = hv;
	s->domid = domid;
	s->kill_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	s->page = aligned_alloc(PVK_PAGE_SIZE, PVK_PAGE_SIZE);
	s->buf = flags & PVK_DM_BUFIOREQ ?
			 aligned_alloc(PVK_PAGE_SIZE, PVK_PAGE_SIZE) :
			 NULL;
	if (s->kill_fd < 0 || !s->page ||
	    (flags & PVK_DM_BUFIOREQ && !s->buf)) {
		ret = -ENOMEM;
		goto free_server;
	}
	memset(s->page, 0, PVK_PAGE_SIZE);
	if (s->buf)
		memset(s->buf, 0, PVK_PAGE_SIZE);
	ret = server_ports(s, loop_of(hv), hv->domid, s->buf);
	if (ret < 0)
		goto free_server;
	pthread_mutex_lock(&dm->lock);
	for (it = dm->servers; it; it = it->next)
		n += it->domid == domid && !it->dead;
	if (n >= DM_SERVERS) {
		pthread_mutex_unlock(&dm->lock);
		ret = -ENOSPC;
		goto free_server;
	}
	do
		s->id = dm->next_id++;
	while (server_find(dm, domid, s->id));
	s->next = dm->servers;
	dm->servers = s;
	*id = s->id;
	pthread_mutex_unlock(&dm->lock);
	return 0;

free_server:
	server_free(s);
	return ret;
}

int loop_dm_server_map(struct pvk_hv *hv, uint32_t domid, pvk_ioservid_t id,
		       struct pvk_dm_server *out)
{
	struct loop_dm *dm;
	struct dm_server *s;
	int ret;

	dm = dm_enter(hv, domid, &ret);
	if (!dm)
		return ret;
	s = server_find(dm, domid, id);
	ret = !s ? -ENOENT : s->owner != hv ? -EPERM : 0;
	if (!ret)
		*out = (struct pvk_dm_server){ .domid = domid,
					       .id = id,
					       .nr_vcpus = DM_VCPUS,
					       .ioreq = s->page,
					       .buf = s->buf,
					       .buf_port = s->buf_port };
	pthread_mutex_unlock(&dm->lock);
	return ret;
}

void loop_dm_server_unmap(struct pvk_hv *hv, struct pvk_dm_server *s)
{
	/* The pages are the server's: nothing was mapped for the caller. */
	memset(s, 0, sizeof(*s));
}

static bool overlaps(const struct dm_range *r, enum pvk_dm_space space,
		     uint64_t start, uint64_t end)
{
	return r->space == space && start <= r->end && r->start <= end;
}

int loop_dm_range(struct pvk_hv *hv, uint32_t domid, pvk_ioservid_t id,
		  enum pvk_dm_space space, uint64_t start, uint64_t end,
		  bool map)
{
	struct loop_dm *dm;
	struct dm_server *s, *it;
	unsigned int i;
	int ret;

	dm = dm_enter(hv, domid, &ret);
	if (!dm)
		return ret;
	s = server_find(dm, domid, id);
	if (!s) {
		ret = -ENOENT;
		goto unlock;
	}
	if (!map) {
		ret = -ENOENT;
		for (i = 0; i < s->nr_ranges; i++) {
			struct dm_range *r = &s->range[i];

			if (r->space == space && r->start == start &&
			    r->end == end) {
				*r = s->range[--s->nr_ranges];
				ret = 0;
				break;
			}
		}
		goto unlock;
	}
	for (it = dm->servers; it; it = it->next) {
		if (it->domid != domid || it->dead)
			continue;
		for (i = 0; i < it->nr_ranges; i++) {
			if (overlaps(&it->range[i], space, start, end)) {
				ret = -EEXIST;
				goto unlock;
			}
		}
	}
	if (s->nr_ranges == DM_RANGES) {
		ret = -ENOSPC;
		goto unlock;
	}
	s->range[s->nr_ranges++] =
		(struct dm_range){ .space = space, .start = start, .end = end };
unlock:
	pthread_mutex_unlock(&dm->lock);
	return ret;
}

int loop_dm_server_enable(struct pvk_hv *hv, uint32_t domid, pvk_ioservid_t id,
			  bool enabled)
{
	struct loop_dm *dm;
	struct dm_server *s;
	int ret;

	dm = dm_enter(hv, domid, &ret);
	if (!dm)
		return ret;
	s = server_find(dm, domid, id);
	if (s)
		s->enabled = enabled;
	pthread_mutex_unlock(&dm->lock);
	return s ? 0 : -ENOENT;
}

/* Unlink @s (under dm->lock); true if the caller frees it now, false if
 * a vCPU inside will when it leaves. */
static bool server_kill(struct loop_dm *dm, struct dm_server *s)
{
	uint64_t one = 1;

	for (struct dm_server **pp = &dm->servers; *pp; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	}
	__atomic_store_n(&s->dead, true, __ATOMIC_RELEASE);
	if (!s->users)
		return true;
	(void)!write(s->kill_fd, &one, sizeof(one));
	return false;
}

int loop_dm_server_destroy(struct pvk_hv *hv, uint32_t domid, pvk_ioservid_t id)
{
	struct loop_dm *dm = dm_of(hv);
	struct dm_server *s;
	bool free_now = false;

	if (!dm)
		return -ENOMEM;
	if (hv->domid != 0)
		return -EPERM;
	pthread_mutex_lock(&dm->lock);
	s = server_find(dm, domid, id);
	if (s)
		free_now = server_kill(dm, s);
	pthread_mutex_unlock(&dm->lock);
	if (free_now)
		server_free(s);
	return s ? 0 : -ENOENT;
}

void loop_dm_handle_close(struct pvk_hv *hv)
{
	struct loop_dm *dm = dm_of(hv);
	struct dm_server *s, *next, *gone = NULL;

	if (!dm)
		return;
	pthread_mutex_lock(&dm->lock);
	for (s = dm->servers; s; s = next) {
		next = s->next;
		if (s->owner == hv && server_kill(dm, s)) {
			s->next = gone;
			gone = s;
		}
	}
	pthread_mutex_unlock(&dm->lock);
	for (s = gone; s; s = next) {
		next = s->next;
		server_free(s);
	}
}

int loop_dm_set_isa_irq(struct pvk_hv *hv, uint32_t domid, unsigned int irq,
			unsigned int level)
{
	struct loop_dm *dm;
	struct dm_guest *g;
	uint64_t one = 1;
	uint16_t old;
	int ret;

	dm = dm_enter(hv, domid, &ret);
	if (!dm)
		return ret;
	g = guest_get(dm, domid);
	if (g) {
		old = g->lines;
		if (level)
			g->lines |= (uint16_t)(1u << irq);
		else
			g->lines &= (uint16_t) ~(1u << irq);
		if (g->lines != old)
			(void)!write(g->irq_fd, &one, sizeof(one));
	}
	pthread_mutex_unlock(&dm->lock);
	return g ? 0 : -ENOMEM;
}

int loop_dm_foreign_map(struct pvk_hv *hv, uint32_t domid, const uint64_t *gfns,
			uint32_t count, bool writable, void **addr)
{
	struct loop_dm *dm = dm_of(hv);
	int prot = PROT_READ | (writable ? PROT_WRITE : 0);
	size_t len = (size_t)count * PVK_PAGE_SIZE;
	struct dm_guest *g;
	uint8_t *base;
	int ret, fd;

	if (!dm)
		return -ENOMEM;
	ret = dm_check(hv, domid);
	if (ret < 0)
		return ret;
	for (uint32_t i = 0; i < count; i++)
		if (gfns[i] >= DM_RAM / PVK_PAGE_SIZE)
			return -EFAULT;
	pthread_mutex_lock(&dm->lock);
	g = guest_get(dm, domid);
	fd = g ? dup(g->memfd) : -1;
	pthread_mutex_unlock(&dm->lock);
	if (fd < 0)
		return -ENOMEM;
	base = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED) {
		ret = -errno;
		goto close_fd;
	}
	for (uint32_t i = 0; i < count; i++) {
		if (mmap(base + (size_t)i * PVK_PAGE_SIZE, PVK_PAGE_SIZE, prot,
			 MAP_SHARED | MAP_FIXED, fd,
			 (off_t)(gfns[i] * PVK_PAGE_SIZE)) == MAP_FAILED) {
			ret = -errno;
			munmap(base, len);
			goto close_fd;
		}
	}
	*addr = base;
	ret = 0;
close_fd:
	close(fd);
	return ret;
}

int loop_dm_foreign_unmap(struct pvk_hv *hv, void *addr, uint32_t count)
{
	return munmap(addr, (size_t)count * PVK_PAGE_SIZE) < 0 ? -errno : 0;
}

/* ------------------------------------------------------------------ */
/* the hypervisor's side: a vCPU's trapped access                      */

/* The enabled server claiming @r's first byte (under dm->lock). */
static struct dm_server *claim(struct loop_dm *dm, uint32_t domid,
			       const struct pvk_ioreq *r)
{
	enum pvk_dm_space space = r->type == PVK_IOREQ_TYPE_PIO ? PVK_DM_PORT :
								  PVK_DM_MMIO;
	struct dm_server *s;

	for (s = dm->servers; s; s = s->next) {
		if (s->domid != domid || !s->enabled || s->dead)
			continue;
		for (unsigned int i = 0; i < s->nr_ranges; i++)
			if (overlaps(&s->range[i], space, r->addr, r->addr))
				return s;
	}
	return NULL;
}

static long ms_left(const struct timespec *end)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (end->tv_sec - now.tv_sec) * 1000 +
	       (end->tv_nsec - now.tv_nsec) / 1000000;
}

/* Wait for the device model to answer vCPU @v's posted request, as Xen
 * does (states only move forward; NONE means the device model gave up:
 * all-ones).  The slot is the device model's to write: read each value
 * once. */
static int await(struct dm_server *s, unsigned int v, struct pvk_ioreq *req,
		 int timeout_ms)
{
	struct pvk_ioreq *slot = &s->page[v];
	unsigned int prev = PVK_IOREQ_READY;
	struct timespec end;
	struct pollfd p[2];
	long left = -1;
	int port, rc;

	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += timeout_ms / 1000;
	end.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (end.tv_nsec >= 1000000000) {
		end.tv_sec++;
		end.tv_nsec -= 1000000000;
	}
	for (;;) {
		if (__atomic_load_n(&s->dead, __ATOMIC_ACQUIRE)) {
			req->data = pvk_ioreq_size_mask(req->size);
			break;
		}
		rc = pvk_ioreq_answer(slot, req, &prev);
		if (rc > 0)
			break;
		if (rc < 0) {
			s->posted[v] = false;
			return rc;
		}
		if (timeout_ms >= 0) {
			left = ms_left(&end);
			if (left <= 0)
				return -ETIMEDOUT;
		}
		p[0] = (struct pollfd){ .fd = pvk_evtchn_fd(s->ev[v]),
					.events = POLLIN };
		p[1] = (struct pollfd){ .fd = s->kill_fd, .events = POLLIN };
		if (poll(p, 2, (int)left) < 0 && errno != EINTR)
			return -errno;
		while ((port = pvk_evtchn_pending(s->ev[v])) >= 0)
			pvk_evtchn_unmask(s->ev[v], (uint32_t)port);
	}
	s->posted[v] = false;
	return 0;
}

int loop_dm_guest_io(struct pvk_hv *hv, unsigned int vcpu,
		     struct pvk_ioreq *req, int timeout_ms)
{
	struct loop_dm *dm = dm_of(hv);
	struct pvk_ioreq *slot, stale;
	struct dm_server *s;
	bool free_now = false;
	int ret;

	if (!dm)
		return -ENOMEM;
	if (vcpu >= DM_VCPUS ||
	    (req->type != PVK_IOREQ_TYPE_PIO &&
	     req->type != PVK_IOREQ_TYPE_COPY) ||
	    pvk_ioreq_check(req) < 0)
		return -EINVAL;
	pthread_mutex_lock(&dm->lock);
	s = claim(dm, hv->domid, req);
	if (s)
		s->users++;
	pthread_mutex_unlock(&dm->lock);
	if (!s) {
		if (pvk_ioreq_is_read(req))
			req->data = pvk_ioreq_size_mask(req->size);
		return 1;
	}
	slot = &s->page[vcpu];
	if (s->posted[vcpu]) {
		/* The one that timed out first: its answer is dropped. */
		stale = *req;
		ret = await(s, vcpu, &stale, timeout_ms);
		if (ret < 0)
			goto leave;
	}
	/* An answer nobody asked for (a device model answering twice) is
	 * overwritten: the slot is the hypervisor's while no request is
	 * posted. */
	slot->addr = req->addr;
	slot->data = req->data;
	slot->count = req->count;
	slot->size = req->size;
	slot->vp_eport = s->port[vcpu];
	slot->pad0 = 0;
	slot->type = req->type;
	__atomic_store_n(&slot->flags,
			 (uint8_t)(req->flags &
				   (PVK_IOREQ_F_DATA_IS_PTR |
				    PVK_IOREQ_F_DIR_READ | PVK_IOREQ_F_DF)),
			 __ATOMIC_RELAXED);
	pvk_ioreq_store_state(slot, PVK_IOREQ_READY);
	s->posted[vcpu] = true;
	pvk_evtchn_notify(s->ev[vcpu], s->port[vcpu]);
	ret = await(s, vcpu, req, timeout_ms);
leave:
	pthread_mutex_lock(&dm->lock);
	free_now = --s->users == 0 && s->dead;
	pthread_mutex_unlock(&dm->lock);
	if (free_now)
		server_free(s);
	return ret;
}

int loop_dm_guest_irq_fd(struct pvk_hv *hv)
{
	struct loop_dm *dm = dm_of(hv);
	struct dm_guest *g;

	if (!dm)
		return -ENOMEM;
	pthread_mutex_lock(&dm->lock);
	g = guest_get(dm, hv->domid);
	pthread_mutex_unlock(&dm->lock);
	return g ? g->irq_fd : -ENOMEM;
}

int loop_dm_guest_irqs(struct pvk_hv *hv, uint16_t *lines)
{
	struct loop_dm *dm = dm_of(hv);
	struct dm_guest *g;
	uint64_t v;

	if (!dm)
		return -ENOMEM;
	pthread_mutex_lock(&dm->lock);
	g = guest_get(dm, hv->domid);
	if (g) {
		(void)!read(g->irq_fd, &v, sizeof(v));
		*lines = g->lines;
	}
	pthread_mutex_unlock(&dm->lock);
	return g ? 0 : -ENOMEM;
}

int loop_dm_guest_memory(struct pvk_hv *hv, void **addr, uint64_t *size)
{
	struct loop_dm *dm = dm_of(hv);
	struct dm_guest *g;

	if (!dm)
		return -ENOMEM;
	if (hv->domid == 0)
		return -EINVAL;
	pthread_mutex_lock(&dm->lock);
	g = guest_get(dm, hv->domid);
	if (g) {
		*addr = g->ram;
		*size = DM_RAM;
	}
	pthread_mutex_unlock(&dm->lock);
	return g ? 0 : -ENOMEM;
}
