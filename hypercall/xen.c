// SPDX-License-Identifier: MIT
/*
 * xen.c -- the `xen` implementation: libxen* through a struct pvk_xenlib
 * (real Xen, or pvkit-simd's compatible layer) and the real libxenstore.
 * libxen's NULL/-1 + errno becomes -errno here, once.
 *
 * gnttab, gntshr and xc handles are opened on first use: a guest that
 * only shares pages has no business opening gntdev, and a guest cannot
 * open privcmd's domctls at all.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <xenstore.h>

#include "hv_impl.h"
#include "xenlib.h"

struct xen_hv {
	struct pvk_hv hv;
	const struct pvk_xenlib *lib;
	struct xs_handle *xs;
	pthread_mutex_t lock; /* the lazily opened handles below */
	xengnttab_handle *gt;
	xengntshr_handle *gs;
	xc_interface *xc;
	xendevicemodel_handle *dm;
	xenforeignmemory_handle *fm;
};

struct xen_evtchn {
	struct pvk_evtchn ev;
	xenevtchn_handle *xce;
	const struct pvk_xenlib *lib;
};

static const struct pvk_hv_ops xen_ops;

static struct xen_hv *to_xh(struct pvk_hv *hv)
{
	return (struct xen_hv *)hv;
}

static struct xen_evtchn *to_xe(struct pvk_evtchn *ev)
{
	return (struct xen_evtchn *)ev;
}

/* The one place libxen's errno becomes our return value. */
static int neg_errno(void)
{
	return errno > 0 ? -errno : -EIO;
}

static xengnttab_handle *get_gt(struct xen_hv *xh)
{
	pthread_mutex_lock(&xh->lock);
	if (!xh->gt)
		xh->gt = xh->lib->gnttab_open(&pvk_xenlib_quiet_logger, 0);
	pthread_mutex_unlock(&xh->lock);
	return xh->gt;
}

static xengntshr_handle *get_gs(struct xen_hv *xh)
{
	pthread_mutex_lock(&xh->lock);
	if (!xh->gs)
		xh->gs = xh->lib->gntshr_open(&pvk_xenlib_quiet_logger, 0);
	pthread_mutex_unlock(&xh->lock);
	return xh->gs;
}

static xc_interface *get_xc(struct xen_hv *xh)
{
	pthread_mutex_lock(&xh->lock);
	if (!xh->xc)
		xh->xc = xh->lib->xc_open(&pvk_xenlib_quiet_logger,
					  &pvk_xenlib_quiet_logger, 0);
	pthread_mutex_unlock(&xh->lock);
	return xh->xc;
}

int pvk_hv_xen_open(struct pvk_hv **hv, const struct pvk_xenlib *lib)
{
	struct xen_hv *xh;
	uint32_t domid;
	int ret;

	ret = lib->self_domid(&domid);
	if (ret < 0)
		return ret;
	if (domid > PVK_DOMID_MAX)
		return -EPROTO;
	xh = calloc(1, sizeof(*xh));
	if (!xh)
		return -ENOMEM;
	xh->xs = xs_open(0);
	if (!xh->xs) {
		ret = neg_errno();
		free(xh);
		return ret;
	}
	pthread_mutex_init(&xh->lock, NULL);
	xh->hv.ops = &xen_ops;
	xh->hv.domid = domid;
	xh->hv.backend = lib->name;
	xh->lib = lib;
	*hv = &xh->hv;
	return 0;
}

static void xen_close(struct pvk_hv *hv)
{
	struct xen_hv *xh = to_xh(hv);

	if (xh->gt)
		xh->lib->gnttab_close(xh->gt);
	if (xh->gs)
		xh->lib->gntshr_close(xh->gs);
	if (xh->xc)
		xh->lib->xc_close(xh->xc);
	if (xh->dm)
		xh->lib->dm_close(xh->dm);
	if (xh->fm)
		xh->lib->fmem_close(xh->fm);
	xs_close(xh->xs);
	pthread_mutex_destroy(&xh->lock);
	free(xh);
}

static int xen_grant_alloc(struct pvk_hv *hv, uint32_t peer, uint32_t count,
			   bool writable, uint32_t *refs, void **addr)
{
	struct xen_hv *xh = to_xh(hv);
	xengntshr_handle *gs = get_gs(xh);
	void *p;

	if (!gs)
		return neg_errno();
	p = xh->lib->gntshr_share_pages(gs, peer, (int)count, refs, writable);
	if (!p)
		return neg_errno();
	*addr = p;
	return 0;
}

static int xen_grant_free(struct pvk_hv *hv, void *addr, uint32_t count)
{
	struct xen_hv *xh = to_xh(hv);

	if (!xh->gs)
		return -EINVAL;
	/* gntalloc ends access now, or when the peer unmaps. */
	if (xh->lib->gntshr_munmap(xh->gs, addr, count) < 0)
		return neg_errno();
	return 0;
}

static int xen_grant_map(struct pvk_hv *hv, uint32_t granter, uint32_t count,
			 const uint32_t *refs, bool writable, void **addr)
{
	struct xen_hv *xh = to_xh(hv);
	xengnttab_handle *gt = get_gt(xh);
	uint32_t *copy;
	void *p;
	int ret = 0;

	if (!gt)
		return neg_errno();
	/* libxengnttab's prototype takes a non-const array. */
	copy = malloc(count * sizeof(*copy));
	if (!copy)
		return -ENOMEM;
	memcpy(copy, refs, count * sizeof(*copy));
	p = xh->lib->gnttab_map_domain_grant_refs(
		gt, count, granter, copy,
		PROT_READ | (writable ? PROT_WRITE : 0));
	if (!p)
		ret = neg_errno();
	else
		*addr = p;
	free(copy);
	return ret;
}

static int xen_grant_unmap(struct pvk_hv *hv, void *addr, uint32_t count)
{
	struct xen_hv *xh = to_xh(hv);

	if (!xh->gt)
		return -EINVAL;
	if (xh->lib->gnttab_unmap(xh->gt, addr, count) < 0)
		return neg_errno();
	return 0;
}

static int xen_grant_copy(struct pvk_hv *hv, struct pvk_grant_copy *segs,
			  uint32_t count)
{
	struct xen_hv *xh = to_xh(hv);
	xengnttab_handle *gt = get_gt(xh);
	xengnttab_grant_copy_segment_t *x;
	int ret = 0;

	if (!gt)
		return neg_errno();
	x = calloc(count, sizeof(*x));
	if (!x)
		return -ENOMEM;
	for (uint32_t i = 0; i < count; i++) {
		const struct pvk_grant_copy *s = &segs[i];

		if (s->src.is_gref) {
			x[i].source.foreign.ref = s->src.ref;
			x[i].source.foreign.offset = s->src.offset;
			x[i].source.foreign.domid = (uint16_t)s->src.domid;
			x[i].flags |= GNTCOPY_source_gref;
		} else {
			x[i].source.virt = s->src.virt;
		}
		if (s->dst.is_gref) {
			x[i].dest.foreign.ref = s->dst.ref;
			x[i].dest.foreign.offset = s->dst.offset;
			x[i].dest.foreign.domid = (uint16_t)s->dst.domid;
			x[i].flags |= GNTCOPY_dest_gref;
		} else {
			x[i].dest.virt = s->dst.virt;
		}
		x[i].len = s->len;
	}
	if (xh->lib->gnttab_grant_copy(gt, count, x) < 0) {
		ret = neg_errno();
		goto free_segs;
	}
	for (uint32_t i = 0; i < count; i++)
		segs[i].status = x[i].status;
free_segs:
	free(x);
	return ret;
}

static int xen_evtchn_open(struct pvk_hv *hv, struct pvk_evtchn **ev)
{
	struct xen_hv *xh = to_xh(hv);
	struct xen_evtchn *xe;
	int ret;

	xe = calloc(1, sizeof(*xe));
	if (!xe)
		return -ENOMEM;
	xe->xce = xh->lib->evtchn_open(&pvk_xenlib_quiet_logger, 0);
	if (!xe->xce) {
		ret = neg_errno();
		free(xe);
		return ret;
	}
	/* pending() must not block; made so once here rather than with a
	 * poll() before every read. */
	if (xh->lib->evtchn_nonblock(xe->xce) < 0) {
		ret = neg_errno();
		xh->lib->evtchn_close(xe->xce);
		free(xe);
		return ret;
	}
	xe->ev.hv = hv;
	xe->ev.ops = hv->ops;
	xe->lib = xh->lib;
	*ev = &xe->ev;
	return 0;
}

static void xen_evtchn_close(struct pvk_evtchn *ev)
{
	struct xen_evtchn *xe = to_xe(ev);

	xe->lib->evtchn_close(xe->xce);
	free(xe);
}

static int xen_evtchn_fd(struct pvk_evtchn *ev)
{
	struct xen_evtchn *xe = to_xe(ev);
	int fd = xe->lib->evtchn_fd(xe->xce);

	return fd < 0 ? neg_errno() : fd;
}

static int port_or_errno(xenevtchn_port_or_error_t p)
{
	return p < 0 ? neg_errno() : (int)p;
}

static int xen_evtchn_alloc_unbound(struct pvk_evtchn *ev, uint32_t remote)
{
	struct xen_evtchn *xe = to_xe(ev);

	return port_or_errno(
		xe->lib->evtchn_bind_unbound_port(xe->xce, remote));
}

static int xen_evtchn_bind(struct pvk_evtchn *ev, uint32_t remote,
			   uint32_t remote_port)
{
	struct xen_evtchn *xe = to_xe(ev);

	return port_or_errno(xe->lib->evtchn_bind_interdomain(
		xe->xce, remote, (evtchn_port_t)remote_port));
}

static int xen_evtchn_notify(struct pvk_evtchn *ev, uint32_t port)
{
	struct xen_evtchn *xe = to_xe(ev);

	return xe->lib->evtchn_notify(xe->xce, port) < 0 ? neg_errno() : 0;
}

static int xen_evtchn_pending(struct pvk_evtchn *ev)
{
	struct xen_evtchn *xe = to_xe(ev);

	return port_or_errno(xe->lib->evtchn_pending(xe->xce));
}

static int xen_evtchn_unmask(struct pvk_evtchn *ev, uint32_t port)
{
	struct xen_evtchn *xe = to_xe(ev);

	return xe->lib->evtchn_unmask(xe->xce, port) < 0 ? neg_errno() : 0;
}

static int xen_evtchn_unbind(struct pvk_evtchn *ev, uint32_t port)
{
	struct xen_evtchn *xe = to_xe(ev);

	return xe->lib->evtchn_unbind(xe->xce, port) < 0 ? neg_errno() : 0;
}

static int xen_xs_read(struct pvk_hv *hv, pvk_xs_txn_t txn, const char *path,
		       char **val)
{
	unsigned int len;
	char *v;

	/* libxenstore NUL-terminates what it returns. */
	v = xs_read(to_xh(hv)->xs, txn, path, &len);
	if (!v)
		return neg_errno();
	if (len > PVK_XS_VALUE_MAX) {
		free(v);
		return -E2BIG;
	}
	*val = v;
	return (int)len;
}

static int xen_xs_write(struct pvk_hv *hv, pvk_xs_txn_t txn, const char *path,
			const char *val, size_t len)
{
	if (!xs_write(to_xh(hv)->xs, txn, path, val, (unsigned int)len))
		return neg_errno();
	return 0;
}

static int xen_xs_mkdir(struct pvk_hv *hv, pvk_xs_txn_t txn, const char *path)
{
	return xs_mkdir(to_xh(hv)->xs, txn, path) ? 0 : neg_errno();
}

static int xen_xs_rm(struct pvk_hv *hv, pvk_xs_txn_t txn, const char *path)
{
	return xs_rm(to_xh(hv)->xs, txn, path) ? 0 : neg_errno();
}

static int xen_xs_directory(struct pvk_hv *hv, pvk_xs_txn_t txn,
			    const char *path, char ***names)
{
	unsigned int num;
	char **v;

	v = xs_directory(to_xh(hv)->xs, txn, path, &num);
	if (!v)
		return neg_errno();
	*names = v;
	return (int)num;
}

static int xen_xs_set_perms(struct pvk_hv *hv, pvk_xs_txn_t txn,
			    const char *path, const struct pvk_xs_perm *perms,
			    uint32_t count)
{
	struct xs_permissions *x;
	int ret = 0;

	x = calloc(count, sizeof(*x));
	if (!x)
		return -ENOMEM;
	for (uint32_t i = 0; i < count; i++) {
		x[i].id = perms[i].domid;
		switch (perms[i].perm) {
		case 'r':
			x[i].perms = XS_PERM_READ;
			break;
		case 'w':
			x[i].perms = XS_PERM_WRITE;
			break;
		case 'b':
			x[i].perms = XS_PERM_READ | XS_PERM_WRITE;
			break;
		default:
			x[i].perms = XS_PERM_NONE;
		}
	}
	if (!xs_set_permissions(to_xh(hv)->xs, txn, path, x, count))
		ret = neg_errno();
	free(x);
	return ret;
}

static int xen_xs_txn_start(struct pvk_hv *hv, pvk_xs_txn_t *txn)
{
	xs_transaction_t t = xs_transaction_start(to_xh(hv)->xs);

	if (t == XBT_NULL)
		return neg_errno();
	*txn = t;
	return 0;
}

static int xen_xs_txn_end(struct pvk_hv *hv, pvk_xs_txn_t txn, bool abort)
{
	return xs_transaction_end(to_xh(hv)->xs, txn, abort) ? 0 : neg_errno();
}

static int xen_xs_watch(struct pvk_hv *hv, const char *path, const char *token)
{
	return xs_watch(to_xh(hv)->xs, path, token) ? 0 : neg_errno();
}

static int xen_xs_unwatch(struct pvk_hv *hv, const char *path,
			  const char *token)
{
	return xs_unwatch(to_xh(hv)->xs, path, token) ? 0 : neg_errno();
}

static int xen_xs_watch_fd(struct pvk_hv *hv)
{
	int fd = xs_fileno(to_xh(hv)->xs);

	return fd < 0 ? neg_errno() : fd;
}

static int xen_xs_read_watch(struct pvk_hv *hv, char **path, char **token)
{
	char **vec;

	errno = 0;
	vec = xs_check_watch(to_xh(hv)->xs);
	if (!vec)
		return errno == EAGAIN ? 0 : neg_errno();
	*path = strdup(vec[XS_WATCH_PATH]);
	*token = strdup(vec[XS_WATCH_TOKEN]);
	free(vec);
	if (!*path || !*token) {
		free(*path);
		free(*token);
		*path = *token = NULL;
		return -ENOMEM;
	}
	return 1;
}

static int xen_domain_info(struct pvk_hv *hv, uint32_t domid,
			   struct pvk_domain_info *info)
{
	struct xen_hv *xh = to_xh(hv);
	xc_interface *xc = get_xc(xh);
	xc_domaininfo_t di;
	int n;

	if (!xc)
		return neg_errno();
	n = xh->lib->xc_domain_getinfolist(xc, domid, 1, &di);
	if (n < 0)
		return neg_errno();
	/* getinfolist returns the first domain >= domid. */
	if (n == 0 || di.domain != domid)
		return -ENOENT;
	memset(info, 0, sizeof(*info));
	info->domid = domid;
	info->dying = di.flags & XEN_DOMINF_dying;
	info->shutdown = di.flags & XEN_DOMINF_shutdown;
	return 0;
}

/* ------------------------------------------------------------------ */
/* device models: libxendevicemodel, libxenforeignmemory               */

/* The handles, opened on first use; NULL with errno set (EOPNOTSUPP
 * from a provider without them). */
static xendevicemodel_handle *get_dm(struct xen_hv *xh)
{
	if (!xh->lib->dm_open) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	pthread_mutex_lock(&xh->lock);
	if (!xh->dm)
		xh->dm = xh->lib->dm_open(&pvk_xenlib_quiet_logger, 0);
	pthread_mutex_unlock(&xh->lock);
	return xh->dm;
}

static xenforeignmemory_handle *get_fm(struct xen_hv *xh)
{
	if (!xh->lib->fmem_open) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	pthread_mutex_lock(&xh->lock);
	if (!xh->fm)
		xh->fm = xh->lib->fmem_open(&pvk_xenlib_quiet_logger, 0);
	pthread_mutex_unlock(&xh->lock);
	return xh->fm;
}

static int xen_dm_server_create(struct pvk_hv *hv, uint32_t domid,
				unsigned int flags, pvk_ioservid_t *id)
{
	struct xen_hv *xh = to_xh(hv);
	xendevicemodel_handle *dm = get_dm(xh);
	ioservid_t sid;

	if (!dm)
		return neg_errno();
	/* HVM_IOREQSRV_BUFIOREQ_ATOMIC: the pointers move together. */
	if (xh->lib->dm_create_ioreq_server(
		    dm, (domid_t)domid,
		    flags & PVK_DM_BUFIOREQ ? HVM_IOREQSRV_BUFIOREQ_ATOMIC :
					      HVM_IOREQSRV_BUFIOREQ_OFF,
		    &sid) < 0)
		return neg_errno();
	*id = sid;
	return 0;
}

static int xen_dm_server_map(struct pvk_hv *hv, uint32_t domid,
			     pvk_ioservid_t id, struct pvk_dm_server *s)
{
	struct xen_hv *xh = to_xh(hv);
	xendevicemodel_handle *dm = get_dm(xh);
	xenforeignmemory_handle *fm = get_fm(xh);
	xenforeignmemory_resource_handle *res;
	evtchn_port_t port = 0;
	xc_interface *xc = get_xc(xh);
	xc_domaininfo_t di;
	void *addr = NULL;

	if (!dm || !fm || !xc)
		return neg_errno();
	if (xh->lib->xc_domain_getinfolist(xc, domid, 1, &di) != 1 ||
	    di.domain != domid)
		return -ESRCH;
	/* No gfns asked for: the pages are mapped as a resource. */
	if (xh->lib->dm_get_ioreq_server_info(dm, (domid_t)domid, id, NULL,
					      NULL, &port) < 0)
		return neg_errno();
	/* Frame 0 is the buffered page (when there is one), 1 the
	 * synchronous one. */
	res = xh->lib->fmem_map_resource(fm, (domid_t)domid,
					 XENMEM_resource_ioreq_server, id,
					 port ? 0 : 1, port ? 2 : 1, &addr,
					 PROT_READ | PROT_WRITE, 0);
	if (!res)
		return neg_errno();
	s->domid = domid;
	s->id = id;
	s->nr_vcpus = di.max_vcpu_id + 1 < PVK_IOREQ_MAX_VCPUS ?
			      di.max_vcpu_id + 1 :
			      PVK_IOREQ_MAX_VCPUS;
	s->buf = port ? addr : NULL;
	s->ioreq =
		(struct pvk_ioreq *)((char *)addr + (port ? PVK_PAGE_SIZE : 0));
	s->buf_port = port;
	s->priv = res;
	return 0;
}

static void xen_dm_server_unmap(struct pvk_hv *hv, struct pvk_dm_server *s)
{
	struct xen_hv *xh = to_xh(hv);

	if (xh->fm && s->priv)
		xh->lib->fmem_unmap_resource(xh->fm, s->priv);
	memset(s, 0, sizeof(*s));
}

static int xen_dm_range(struct pvk_hv *hv, uint32_t domid, pvk_ioservid_t id,
			enum pvk_dm_space space, uint64_t start, uint64_t end,
			bool map)
{
	struct xen_hv *xh = to_xh(hv);
	xendevicemodel_handle *dm = get_dm(xh);
	int mmio = space == PVK_DM_MMIO;

	if (!dm)
		return neg_errno();
	if ((map ? xh->lib->dm_map_io_range : xh->lib->dm_unmap_io_range)(
		    dm, (domid_t)domid, id, mmio, start, end) < 0)
		return neg_errno();
	return 0;
}

static int xen_dm_server_enable(struct pvk_hv *hv, uint32_t domid,
				pvk_ioservid_t id, bool enabled)
{
	struct xen_hv *xh = to_xh(hv);
	xendevicemodel_handle *dm = get_dm(xh);

	if (!dm)
		return neg_errno();
	return xh->lib->dm_set_ioreq_server_state(dm, (domid_t)domid, id,
						  enabled) < 0 ?
		       neg_errno() :
		       0;
}

static int xen_dm_server_destroy(struct pvk_hv *hv, uint32_t domid,
				 pvk_ioservid_t id)
{
	struct xen_hv *xh = to_xh(hv);
	xendevicemodel_handle *dm = get_dm(xh);

	if (!dm)
		return neg_errno();
	return xh->lib->dm_destroy_ioreq_server(dm, (domid_t)domid, id) < 0 ?
		       neg_errno() :
		       0;
}

static int xen_dm_set_isa_irq(struct pvk_hv *hv, uint32_t domid,
			      unsigned int irq, unsigned int level)
{
	struct xen_hv *xh = to_xh(hv);
	xendevicemodel_handle *dm = get_dm(xh);

	if (!dm)
		return neg_errno();
	return xh->lib->dm_set_isa_irq_level(dm, (domid_t)domid, (uint8_t)irq,
					     level) < 0 ?
		       neg_errno() :
		       0;
}

static int xen_dm_foreign_map(struct pvk_hv *hv, uint32_t domid,
			      const uint64_t *gfns, uint32_t count,
			      bool writable, void **addr)
{
	struct xen_hv *xh = to_xh(hv);
	xenforeignmemory_handle *fm = get_fm(xh);
	xen_pfn_t *pfns;
	int *err, ret = 0;
	void *p;

	if (!fm)
		return neg_errno();
	pfns = calloc(count, sizeof(*pfns));
	err = calloc(count, sizeof(*err));
	if (!pfns || !err) {
		ret = -ENOMEM;
		goto free_arrays;
	}
	for (uint32_t i = 0; i < count; i++)
		pfns[i] = (xen_pfn_t)gfns[i];
	p = xh->lib->fmem_map(fm, domid,
			      PROT_READ | (writable ? PROT_WRITE : 0), count,
			      pfns, err);
	if (!p) {
		ret = neg_errno();
		goto free_arrays;
	}
	for (uint32_t i = 0; i < count && !ret; i++)
		ret = err[i] ? (err[i] < 0 ? err[i] : -err[i]) : 0;
	if (ret)
		xh->lib->fmem_unmap(fm, p, count);
	else
		*addr = p;
free_arrays:
	free(pfns);
	free(err);
	return ret;
}

static int xen_dm_foreign_unmap(struct pvk_hv *hv, void *addr, uint32_t count)
{
	struct xen_hv *xh = to_xh(hv);

	if (!xh->fm)
		return -EINVAL;
	return xh->lib->fmem_unmap(xh->fm, addr, count) < 0 ? neg_errno() : 0;
}

/* The guest's side of a trapped access: Xen's own on Xen (the CPU traps
 * and Xen posts the ioreq), the provider's on the simulator. */
static int xen_dm_guest_io(struct pvk_hv *hv, unsigned int vcpu,
			   struct pvk_ioreq *req, int timeout_ms)
{
	struct xen_hv *xh = to_xh(hv);

	if (!xh->lib->guest_io)
		return -EOPNOTSUPP;
	return xh->lib->guest_io(vcpu, req, timeout_ms);
}

static int xen_dm_guest_irq_fd(struct pvk_hv *hv)
{
	struct xen_hv *xh = to_xh(hv);

	return xh->lib->guest_irq_fd ? xh->lib->guest_irq_fd() : -EOPNOTSUPP;
}

static int xen_dm_guest_irqs(struct pvk_hv *hv, uint16_t *lines)
{
	struct xen_hv *xh = to_xh(hv);

	return xh->lib->guest_irqs ? xh->lib->guest_irqs(lines) : -EOPNOTSUPP;
}

static int xen_dm_guest_memory(struct pvk_hv *hv, void **addr, uint64_t *size)
{
	struct xen_hv *xh = to_xh(hv);

	if (!xh->lib->guest_memory)
		return -EOPNOTSUPP;
	return xh->lib->guest_memory(addr, size);
}

static const struct pvk_hv_ops xen_ops = {
	.name = "xen",
	.close = xen_close,
	.grant_alloc = xen_grant_alloc,
	.grant_free = xen_grant_free,
	.grant_map = xen_grant_map,
	.grant_unmap = xen_grant_unmap,
	.grant_copy = xen_grant_copy,
	.evtchn_open = xen_evtchn_open,
	.evtchn_close = xen_evtchn_close,
	.evtchn_fd = xen_evtchn_fd,
	.evtchn_alloc_unbound = xen_evtchn_alloc_unbound,
	.evtchn_bind = xen_evtchn_bind,
	.evtchn_notify = xen_evtchn_notify,
	.evtchn_pending = xen_evtchn_pending,
	.evtchn_unmask = xen_evtchn_unmask,
	.evtchn_unbind = xen_evtchn_unbind,
	.xs_read = xen_xs_read,
	.xs_write = xen_xs_write,
	.xs_mkdir = xen_xs_mkdir,
	.xs_rm = xen_xs_rm,
	.xs_directory = xen_xs_directory,
	.xs_set_perms = xen_xs_set_perms,
	.xs_txn_start = xen_xs_txn_start,
	.xs_txn_end = xen_xs_txn_end,
	.xs_watch = xen_xs_watch,
	.xs_unwatch = xen_xs_unwatch,
	.xs_watch_fd = xen_xs_watch_fd,
	.xs_read_watch = xen_xs_read_watch,
	.domain_info = xen_domain_info,
	.dm_server_create = xen_dm_server_create,
	.dm_server_map = xen_dm_server_map,
	.dm_server_unmap = xen_dm_server_unmap,
	.dm_range = xen_dm_range,
	.dm_server_enable = xen_dm_server_enable,
	.dm_server_destroy = xen_dm_server_destroy,
	.dm_set_isa_irq = xen_dm_set_isa_irq,
	.dm_foreign_map = xen_dm_foreign_map,
	.dm_foreign_unmap = xen_dm_foreign_unmap,
	.dm_guest_io = xen_dm_guest_io,
	.dm_guest_irq_fd = xen_dm_guest_irq_fd,
	.dm_guest_irqs = xen_dm_guest_irqs,
	.dm_guest_memory = xen_dm_guest_memory,
};
