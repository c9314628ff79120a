// SPDX-License-Identifier: MIT
/*
 * libpvkit-xensim.so: pvkit's libxen-compatible layer under libxen's own
 * names, for LD_PRELOAD into unmodified Xen programs (Debian's xenstored,
 * the xenstore tools, vchan users).  The definitions are unversioned on
 * purpose: an unversioned definition satisfies the versioned references
 * (xenevtchn_open@VERS_1.0, open@GLIBC_2.2.5) those programs carry.
 *
 * xenstored, as dom0's xenstore, also opens /proc/xen/xsd_port (the port
 * of dom0's xenbus) and /proc/xen/xsd_kva (dom0's ring page); on the
 * simulator those are files in the state directory.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pvkit/sim.h>

#include "simc.h"

#define EXPORT __attribute__((visibility("default")))

xenevtchn_handle *xenevtchn_open(struct xentoollog_logger *logger,
				 unsigned int flags) EXPORT;
xenevtchn_handle *xenevtchn_open(struct xentoollog_logger *logger,
				 unsigned int flags)
{
	return pvk_simx_evtchn_open(logger, flags);
}

xenevtchn_handle *xenevtchn_fdopen(struct xentoollog_logger *logger, int fd,
				   unsigned int flags) EXPORT;
xenevtchn_handle *xenevtchn_fdopen(struct xentoollog_logger *logger, int fd,
				   unsigned int flags)
{
	/* Live update hands the evtchn fd to a new xenstored: not modelled. */
	errno = EOPNOTSUPP;
	return NULL;
}

int xenevtchn_close(xenevtchn_handle *xce) EXPORT;
int xenevtchn_close(xenevtchn_handle *xce)
{
	return pvk_simx_evtchn_close(xce);
}

int xenevtchn_fd(xenevtchn_handle *xce) EXPORT;
int xenevtchn_fd(xenevtchn_handle *xce)
{
	return pvk_simx_evtchn_fd(xce);
}

int xenevtchn_notify(xenevtchn_handle *xce, evtchn_port_t port) EXPORT;
int xenevtchn_notify(xenevtchn_handle *xce, evtchn_port_t port)
{
	return pvk_simx_evtchn_notify(xce, port);
}

xenevtchn_port_or_error_t xenevtchn_bind_unbound_port(xenevtchn_handle *xce,
						      uint32_t domid) EXPORT;
xenevtchn_port_or_error_t xenevtchn_bind_unbound_port(xenevtchn_handle *xce,
						      uint32_t domid)
{
	return pvk_simx_evtchn_bind_unbound_port(xce, domid);
}

xenevtchn_port_or_error_t
xenevtchn_bind_interdomain(xenevtchn_handle *xce, uint32_t domid,
			   evtchn_port_t remote_port) EXPORT;
xenevtchn_port_or_error_t xenevtchn_bind_interdomain(xenevtchn_handle *xce,
						     uint32_t domid,
						     evtchn_port_t remote_port)
{
	return pvk_simx_evtchn_bind_interdomain(xce, domid, remote_port);
}

xenevtchn_port_or_error_t xenevtchn_bind_virq(xenevtchn_handle *xce,
					      unsigned int virq) EXPORT;
xenevtchn_port_or_error_t xenevtchn_bind_virq(xenevtchn_handle *xce,
					      unsigned int virq)
{
	return pvk_simx_evtchn_bind_virq(xce, virq);
}

int xenevtchn_unbind(xenevtchn_handle *xce, evtchn_port_t port) EXPORT;
int xenevtchn_unbind(xenevtchn_handle *xce, evtchn_port_t port)
{
	return pvk_simx_evtchn_unbind(xce, port);
}

xenevtchn_port_or_error_t xenevtchn_pending(xenevtchn_handle *xce) EXPORT;
xenevtchn_port_or_error_t xenevtchn_pending(xenevtchn_handle *xce)
{
	return pvk_simx_evtchn_pending(xce);
}

int xenevtchn_unmask(xenevtchn_handle *xce, evtchn_port_t port) EXPORT;
int xenevtchn_unmask(xenevtchn_handle *xce, evtchn_port_t port)
{
	return pvk_simx_evtchn_unmask(xce, port);
}

int xenevtchn_restrict(xenevtchn_handle *xce, domid_t domid) EXPORT;
int xenevtchn_restrict(xenevtchn_handle *xce, domid_t domid)
{
	errno = EOPNOTSUPP;
	return -1;
}

xengnttab_handle *xengnttab_open(struct xentoollog_logger *logger,
				 unsigned int flags) EXPORT;
xengnttab_handle *xengnttab_open(struct xentoollog_logger *logger,
				 unsigned int flags)
{
	return pvk_simx_gnttab_open(logger, flags);
}

int xengnttab_close(xengnttab_handle *xgt) EXPORT;
int xengnttab_close(xengnttab_handle *xgt)
{
	return pvk_simx_gnttab_close(xgt);
}

void *xengnttab_map_grant_ref(xengnttab_handle *xgt, uint32_t domid,
			      uint32_t ref, int prot) EXPORT;
void *xengnttab_map_grant_ref(xengnttab_handle *xgt, uint32_t domid,
			      uint32_t ref, int prot)
{
	return pvk_simx_gnttab_map_grant_ref(xgt, domid, ref, prot);
}

void *xengnttab_map_grant_refs(xengnttab_handle *xgt, uint32_t count,
			       uint32_t *domids, uint32_t *refs,
			       int prot) EXPORT;
void *xengnttab_map_grant_refs(xengnttab_handle *xgt, uint32_t count,
			       uint32_t *domids, uint32_t *refs, int prot)
{
	return pvk_simx_gnttab_map_grant_refs(xgt, count, domids, 1, refs,
					      prot);
}

void *xengnttab_map_domain_grant_refs(xengnttab_handle *xgt, uint32_t count,
				      uint32_t domid, uint32_t *refs,
				      int prot) EXPORT;
void *xengnttab_map_domain_grant_refs(xengnttab_handle *xgt, uint32_t count,
				      uint32_t domid, uint32_t *refs, int prot)
{
	return pvk_simx_gnttab_map_domain_grant_refs(xgt, count, domid, refs,
						     prot);
}

/* The unmap notification (a byte cleared, an event sent when the mapping
 * goes) is not modelled: the mapping itself is. */
void *xengnttab_map_grant_ref_notify(xengnttab_handle *xgt, uint32_t domid,
				     uint32_t ref, int prot,
				     uint32_t notify_offset,
				     evtchn_port_t notify_port) EXPORT;
void *xengnttab_map_grant_ref_notify(xengnttab_handle *xgt, uint32_t domid,
				     uint32_t ref, int prot,
				     uint32_t notify_offset,
				     evtchn_port_t notify_port)
{
	return pvk_simx_gnttab_map_grant_ref(xgt, domid, ref, prot);
}

int xengnttab_unmap(xengnttab_handle *xgt, void *start_address,
		    uint32_t count) EXPORT;
int xengnttab_unmap(xengnttab_handle *xgt, void *start_address, uint32_t count)
{
	return pvk_simx_gnttab_unmap(xgt, start_address, count);
}

int xengnttab_grant_copy(xengnttab_handle *xgt, uint32_t count,
			 xengnttab_grant_copy_segment_t *segs) EXPORT;
int xengnttab_grant_copy(xengnttab_handle *xgt, uint32_t count,
			 xengnttab_grant_copy_segment_t *segs)
{
	return pvk_simx_gnttab_grant_copy(xgt, count, segs);
}

int xengnttab_set_max_grants(xengnttab_handle *xgt, uint32_t nr_grants) EXPORT;
int xengnttab_set_max_grants(xengnttab_handle *xgt, uint32_t nr_grants)
{
	return pvk_simx_gnttab_set_max_grants(xgt, nr_grants);
}

xengntshr_handle *xengntshr_open(struct xentoollog_logger *logger,
				 unsigned int flags) EXPORT;
xengntshr_handle *xengntshr_open(struct xentoollog_logger *logger,
				 unsigned int flags)
{
	return pvk_simx_gntshr_open(logger, flags);
}

int xengntshr_close(xengntshr_handle *xgs) EXPORT;
int xengntshr_close(xengntshr_handle *xgs)
{
	return pvk_simx_gntshr_close(xgs);
}

void *xengntshr_share_pages(xengntshr_handle *xgs, uint32_t domid, int count,
			    uint32_t *refs, int writable) EXPORT;
void *xengntshr_share_pages(xengntshr_handle *xgs, uint32_t domid, int count,
			    uint32_t *refs, int writable)
{
	return pvk_simx_gntshr_share_pages(xgs, domid, count, refs, writable);
}

void *xengntshr_share_page_notify(xengntshr_handle *xgs, uint32_t domid,
				  uint32_t *ref, int writable,
				  uint32_t notify_offset,
				  evtchn_port_t notify_port) EXPORT;
void *xengntshr_share_page_notify(xengntshr_handle *xgs, uint32_t domid,
				  uint32_t *ref, int writable,
				  uint32_t notify_offset,
				  evtchn_port_t notify_port)
{
	return pvk_simx_gntshr_share_pages(xgs, domid, 1, ref, writable);
}

int xengntshr_unshare(xengntshr_handle *xgs, void *start_address,
		      uint32_t count) EXPORT;
int xengntshr_unshare(xengntshr_handle *xgs, void *start_address,
		      uint32_t count)
{
	return pvk_simx_gntshr_munmap(xgs, start_address, count);
}

xc_interface *xc_interface_open(struct xentoollog_logger *logger,
				struct xentoollog_logger *dombuild_logger,
				unsigned int open_flags) EXPORT;
xc_interface *xc_interface_open(struct xentoollog_logger *logger,
				struct xentoollog_logger *dombuild_logger,
				unsigned int open_flags)
{
	return pvk_simx_xc_open(logger, dombuild_logger, open_flags);
}

int xc_interface_close(xc_interface *xch) EXPORT;
int xc_interface_close(xc_interface *xch)
{
	return pvk_simx_xc_close(xch);
}

int xc_domain_getinfo(xc_interface *xch, uint32_t first_domid,
		      unsigned int max_doms, xc_dominfo_t *info) EXPORT;
int xc_domain_getinfo(xc_interface *xch, uint32_t first_domid,
		      unsigned int max_doms, xc_dominfo_t *info)
{
	return pvk_simx_xc_domain_getinfo(xch, first_domid, max_doms, info);
}

int xc_domain_getinfolist(xc_interface *xch, uint32_t first_domain,
			  unsigned int max_domains,
			  xc_domaininfo_t *info) EXPORT;
int xc_domain_getinfolist(xc_interface *xch, uint32_t first_domain,
			  unsigned int max_domains, xc_domaininfo_t *info)
{
	return pvk_simx_xc_domain_getinfolist(xch, first_domain, max_domains,
					      info);
}

/*
 * /proc/xen/xsd_{port,kva} -> $PVKIT_SIM_DIR/xsd_{port,kva}.
 */
static const char *xsd_redirect(const char *path, char *buf, size_t len)
{
	static const char prefix[] = "/proc/xen/xsd_";
	const char *what;

	if (!path || strncmp(path, prefix, sizeof(prefix) - 1))
		return path;
	what = path + sizeof(prefix) - 1;
	if (strcmp(what, "port") && strcmp(what, "kva"))
		return path;
	if (pvk_sim_dir(buf, len, NULL) < 0 ||
	    strlen(buf) + 6 + strlen(what) >= len)
		return path;
	strcat(buf, "/xsd_");
	strcat(buf, what);
	return buf;
}

typedef int (*open_fn)(const char *, int, ...);

static int open_next(const char *sym, const char *path, int flags, mode_t mode)
{
	open_fn real = (open_fn)dlsym(RTLD_NEXT, sym);

	if (!real) {
		errno = ENOSYS;
		return -1;
	}
	return real(path, flags, mode);
}

int open(const char *path, int flags, ...) EXPORT;
int open(const char *path, int flags, ...)
{
	char buf[PATH_MAX];
	mode_t mode = 0;

	if (flags & (O_CREAT | O_TMPFILE)) {
		va_list ap;

		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	return open_next("open", xsd_redirect(path, buf, sizeof(buf)), flags,
			 mode);
}

int open64(const char *path, int flags, ...) EXPORT;
int open64(const char *path, int flags, ...)
{
	char buf[PATH_MAX];
	mode_t mode = 0;

	if (flags & (O_CREAT | O_TMPFILE)) {
		va_list ap;

		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	return open_next("open64", xsd_redirect(path, buf, sizeof(buf)), flags,
			 mode);
}
