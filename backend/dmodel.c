/* SPDX-License-Identifier: MIT */
/*
 * A device model's core (pvkit/dmodel.h): the ioreq server, dispatch by
 * range, string accesses through guest memory, and a small map cache of
 * guest frames for DMA (as QEMU's mapcache on Xen).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <pvkit/dmodel.h>

#define DM_MAX_DEVS 32
#define DM_MAX_REP 4096u /* items per string request */
#define DM_MAP_CACHE 64u /* guest frames kept mapped */
#define EV_KEY 0 /* epoll key of the vCPUs' event channels */

struct dm_dev {
	const struct pvk_dmodel_dev_ops *ops;
	void *dev;
	enum pvk_dm_space space;
	uint64_t start, end;
};

struct dm_map {
	uint64_t gfn;
	void *addr; /* NULL: empty */
};

struct pvk_dmodel {
	struct pvk_hv *hv;
	uint32_t domid;
	pvk_ioservid_t id;
	bool created, mapped;
	struct pvk_dm_server srv;
	struct pvk_evtchn *ev;
	uint32_t local[PVK_IOREQ_MAX_VCPUS];
	int epfd;
	struct dm_dev devs[DM_MAX_DEVS];
	unsigned int nr_devs;
	struct dm_map cache[DM_MAP_CACHE];
	struct pvk_dmodel_stats st;
};

int pvk_dmodel_create(struct pvk_dmodel **out, struct pvk_hv *hv,
		      uint32_t domid)
{
	struct epoll_event e = { .events = EPOLLIN, .data.u64 = EV_KEY };
	struct pvk_dmodel *dm;
	int ret, port;

	*out = NULL;
	dm = calloc(1, sizeof(*dm));
	if (!dm)
		return -ENOMEM;
	dm->hv = hv;
	dm->domid = domid;
	dm->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (dm->epfd < 0) {
		ret = -errno;
		goto free_dm;
	}
	ret = pvk_dm_server_create(hv, domid, 0, &dm->id);
	if (ret < 0)
		goto destroy;
	dm->created = true;
	ret = pvk_dm_server_map(hv, domid, dm->id, &dm->srv);
	if (ret < 0)
		goto destroy;
	dm->mapped = true;
	ret = pvk_evtchn_open(hv, &dm->ev);
	if (ret < 0)
		goto destroy;
	for (unsigned int v = 0; v < dm->srv.nr_vcpus; v++) {
		/* Read once: the page is shared with the guest's side. */
		uint32_t remote =
			*(volatile uint32_t *)&dm->srv.ioreq[v].vp_eport;

		port = pvk_evtchn_bind(dm->ev, domid, remote);
		if (port < 0) {
			ret = port;
			goto destroy;
		}
		dm->local[v] = (uint32_t)port;
	}
	if (epoll_ctl(dm->epfd, EPOLL_CTL_ADD, pvk_evtchn_fd(dm->ev), &e) < 0) {
		ret = -errno;
		goto destroy;
	}
	*out = dm;
	return 0;

destroy:
	pvk_dmodel_destroy(dm);
	return ret;
free_dm:
	free(dm);
	return ret;
}

void pvk_dmodel_destroy(struct pvk_dmodel *dm)
{
	if (!dm)
		return;
	for (unsigned int i = 0; i < DM_MAP_CACHE; i++)
		if (dm->cache[i].addr)
			pvk_dm_foreign_unmap(dm->hv, dm->cache[i].addr, 1);
	if (dm->created)
		pvk_dm_server_destroy(dm->hv, dm->domid, dm->id);
	pvk_evtchn_close(dm->ev);
	if (dm->mapped)
		pvk_dm_server_unmap(dm->hv, &dm->srv);
	close(dm->epfd);
	free(dm);
}

int pvk_dmodel_add(struct pvk_dmodel *dm, const struct pvk_dmodel_dev_ops *ops,
		   void *dev, enum pvk_dm_space space, uint64_t start,
		   uint64_t end)
{
	struct epoll_event e = { .events = EPOLLIN };
	struct dm_dev *d;
	int ret, fd;

	if (!ops || !ops->read || !ops->write || start > end)
		return -EINVAL;
	if (dm->nr_devs == DM_MAX_DEVS)
		return -ENOSPC;
	ret = pvk_dm_range_map(dm->hv, dm->domid, dm->id, space, start, end);
	if (ret < 0)
		return ret;
	d = &dm->devs[dm->nr_devs];
	*d = (struct dm_dev){ .ops = ops,
			      .dev = dev,
			      .space = space,
			      .start = start,
			      .end = end };
	fd = ops->fd ? ops->fd(dev) : -1;
	if (fd >= 0) {
		e.data.u64 = dm->nr_devs + 1;
		if (epoll_ctl(dm->epfd, EPOLL_CTL_ADD, fd, &e) < 0 &&
		    errno != EEXIST) {
			ret = -errno;
			pvk_dm_range_unmap(dm->hv, dm->domid, dm->id, space,
					   start, end);
			return ret;
		}
	}
	dm->nr_devs++;
	return 0;
}

int pvk_dmodel_enable(struct pvk_dmodel *dm)
{
	return pvk_dm_server_enable(dm->hv, dm->domid, dm->id, true);
}

int pvk_dmodel_fd(struct pvk_dmodel *dm)
{
	return dm->epfd;
}

int pvk_dmodel_set_irq(struct pvk_dmodel *dm, unsigned int irq,
		       unsigned int level)
{
	return pvk_dm_set_isa_irq(dm->hv, dm->domid, irq, level);
}

void pvk_dmodel_stats(const struct pvk_dmodel *dm, struct pvk_dmodel_stats *st)
{
	*st = dm->st;
}

/* ------------------------------------------------------------------ */
/* guest memory                                                         */

static uint8_t *frame(struct pvk_dmodel *dm, uint64_t gfn)
{
	struct dm_map *m = &dm->cache[gfn % DM_MAP_CACHE];
	void *addr;

	if (m->addr && m->gfn == gfn)
		return m->addr;
	if (pvk_dm_foreign_map(dm->hv, dm->domid, &gfn, 1, true, &addr) < 0)
		return NULL;
	if (m->addr)
		pvk_dm_foreign_unmap(dm->hv, m->addr, 1);
	m->gfn = gfn;
	m->addr = addr;
	return addr;
}

static int dma(struct pvk_dmodel *dm, uint64_t gpa, void *buf, size_t len,
	       bool to_guest)
{
	uint8_t *b = buf, *f;
	size_t n;

	if (gpa + len < gpa)
		return -EFAULT;
	while (len) {
		f = frame(dm, gpa / PVK_PAGE_SIZE);
		if (!f)
			return -EFAULT;
		n = PVK_PAGE_SIZE - gpa % PVK_PAGE_SIZE;
		n = n < len ? n : len;
		if (to_guest)
			memcpy(f + gpa % PVK_PAGE_SIZE, b, n);
		else
			memcpy(b, f + gpa % PVK_PAGE_SIZE, n);
		dm->st.dma_bytes += n;
		gpa += n;
		b += n;
		len -= n;
	}
	return 0;
}

int pvk_dmodel_dma_read(struct pvk_dmodel *dm, uint64_t gpa, void *buf,
			size_t len)
{
	return dma(dm, gpa, buf, len, false);
}

int pvk_dmodel_dma_write(struct pvk_dmodel *dm, uint64_t gpa, const void *buf,
			 size_t len)
{
	return dma(dm, gpa, (void *)buf, len, true);
}

/* ------------------------------------------------------------------ */
/* requests                                                             */

static struct dm_dev *decoder(struct pvk_dmodel *dm, enum pvk_dm_space space,
			      uint64_t addr)
{
	for (unsigned int i = 0; i < dm->nr_devs; i++) {
		struct dm_dev *d = &dm->devs[i];

		if (d->space == space && addr >= d->start && addr <= d->end)
			return d;
	}
	return NULL;
}

static uint64_t item_read(struct pvk_dmodel *dm, struct dm_dev *d,
			  enum pvk_dm_space space, uint64_t addr,
			  unsigned int size)
{
	dm->st.items++;
	if (!d) {
		dm->st.unclaimed++;
		return ~0ull;
	}
	return d->ops->read(d->dev, space, addr, size) &
	       pvk_ioreq_size_mask(size);
}

static void item_write(struct pvk_dmodel *dm, struct dm_dev *d,
		       enum pvk_dm_space space, uint64_t addr,
		       unsigned int size, uint64_t val)
{
	dm->st.items++;
	if (!d) {
		dm->st.unclaimed++;
		return;
	}
	d->ops->write(d->dev, space, addr, size,
		      val & pvk_ioreq_size_mask(size));
}

/* rep ins/outs (and rep movs to or from MMIO): item i moves between the
 * register (the same port; the next MMIO address) and guest memory at
 * data +/- i * size.  A fault in guest memory ends it. */
static void string_op(struct pvk_dmodel *dm, struct pvk_ioreq *r,
		      enum pvk_dm_space space, struct dm_dev *d)
{
	bool down = r->flags & PVK_IOREQ_F_DF, rd = pvk_ioreq_is_read(r);
	uint64_t v, step, gpa, addr;

	for (uint32_t i = 0; i < r->count; i++) {
		step = (uint64_t)i * r->size;
		gpa = down ? r->data - step : r->data + step;
		addr = space == PVK_DM_PORT ? r->addr :
		       down		    ? r->addr - step :
					      r->addr + step;
		if (space == PVK_DM_MMIO)
			d = decoder(dm, space, addr);
		if (rd) {
			v = item_read(dm, d, space, addr, r->size);
			if (dma(dm, gpa, &v, r->size, true) < 0)
				return;
		} else {
			v = 0;
			if (dma(dm, gpa, &v, r->size, false) < 0)
				return;
			item_write(dm, d, space, addr, r->size, v);
		}
	}
}

static void serve(struct pvk_dmodel *dm, unsigned int v)
{
	struct pvk_ioreq *slot = &dm->srv.ioreq[v], r;
	enum pvk_dm_space space;
	struct dm_dev *d;
	uint64_t data = 0;

	if (pvk_ioreq_load_state(slot) != PVK_IOREQ_READY)
		return; /* a spurious or coalesced event */
	pvk_ioreq_get(slot, &r);
	pvk_ioreq_store_state(slot, PVK_IOREQ_INPROCESS);
	if (pvk_ioreq_check(&r) < 0 ||
	    (r.type != PVK_IOREQ_TYPE_PIO && r.type != PVK_IOREQ_TYPE_COPY) ||
	    r.count > DM_MAX_REP) {
		dm->st.rejected++;
		data = ~0ull;
		goto answer;
	}
	space = r.type == PVK_IOREQ_TYPE_PIO ? PVK_DM_PORT : PVK_DM_MMIO;
	d = decoder(dm, space, r.addr);
	if (r.flags & PVK_IOREQ_F_DATA_IS_PTR)
		string_op(dm, &r, space, d);
	else if (pvk_ioreq_is_read(&r))
		data = item_read(dm, d, space, r.addr, r.size);
	else
		item_write(dm, d, space, r.addr, r.size, r.data);
answer:
	if (pvk_ioreq_is_read(&r))
		*(volatile uint64_t *)&slot->data = data;
	dm->st.requests++;
	pvk_ioreq_store_state(slot, PVK_IORESP_READY);
	pvk_evtchn_notify(dm->ev, dm->local[v]);
}

int pvk_dmodel_handle(struct pvk_dmodel *dm)
{
	struct epoll_event ev[DM_MAX_DEVS + 1];
	int n, port;

	n = epoll_wait(dm->epfd, ev, DM_MAX_DEVS + 1, 0);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		uint64_t k = ev[i].data.u64;

		if (k != EV_KEY && k <= dm->nr_devs &&
		    dm->devs[k - 1].ops->event)
			dm->devs[k - 1].ops->event(dm->devs[k - 1].dev);
	}
	while ((port = pvk_evtchn_pending(dm->ev)) >= 0) {
		pvk_evtchn_unmask(dm->ev, (uint32_t)port);
		for (unsigned int v = 0; v < dm->srv.nr_vcpus; v++)
			if (dm->local[v] == (uint32_t)port)
				serve(dm, v);
	}
	return port == -EAGAIN ? 0 : port;
}
