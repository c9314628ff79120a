/* SPDX-License-Identifier: MIT */
/*
 * simc.h -- private: the client side of the pvkit-simd protocol, shared by
 * client.c (connection, domains), xenlib_sim.c (libxen semantics) and
 * xensim_preload.c (the same under libxen's names).
 */
#ifndef PVK_HYPERCALL_SIM_SIMC_H
#define PVK_HYPERCALL_SIM_SIMC_H

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sys/types.h>

#include <pvkit/sim.h>

#include "proto.h"

struct pvk_sim {
	int fd;
	pthread_mutex_t lock; /* one request in flight per connection */
	uint32_t domid;
	uint64_t uid;
	pid_t pid; /* the process that opened it */
	uint64_t *ev_page; /* own domain's event-channel words */
	char dir[PATH_MAX];
};

/* One round trip.  @fds_out receives up to @max_out descriptors (the
 * rest are closed); *@nout says how many.  Returns rep->err, or -errno
 * if the daemon could not be reached. */
int pvk_simc_call(struct pvk_sim *sim, struct pvk_simp_req *req,
		  const int *fds_in, int nin, struct pvk_simp_rep *rep,
		  int *fds_out, int max_out, int *nout);

/* This process's connection, opened on first use from $PVKIT_SIM_DIR (and
 * again in a child after fork()).  NULL with errno set if there is no
 * simulator. */
struct pvk_sim *pvk_simc_self(void);

/* libxen's error convention: -1 (or NULL) with errno = -@negerr. */
static inline int pvk_simx_fail(int negerr)
{
	errno = -negerr;
	return -1;
}

static inline void *pvk_simx_fail_null(int negerr)
{
	errno = -negerr;
	return NULL;
}

/* The libxen-semantics functions, under pvkit names (xenlib_sim.c). */
#include <xenctrl.h>
#include <xenevtchn.h>
#include <xengnttab.h>

xenevtchn_handle *pvk_simx_evtchn_open(struct xentoollog_logger *logger,
				       unsigned int flags);
int pvk_simx_evtchn_close(xenevtchn_handle *xce);
int pvk_simx_evtchn_fd(xenevtchn_handle *xce);
int pvk_simx_evtchn_nonblock(xenevtchn_handle *xce);
int pvk_simx_evtchn_notify(xenevtchn_handle *xce, evtchn_port_t port);
xenevtchn_port_or_error_t
pvk_simx_evtchn_bind_unbound_port(xenevtchn_handle *xce, uint32_t domid);
xenevtchn_port_or_error_t
pvk_simx_evtchn_bind_interdomain(xenevtchn_handle *xce, uint32_t domid,
				 evtchn_port_t remote_port);
xenevtchn_port_or_error_t pvk_simx_evtchn_bind_virq(xenevtchn_handle *xce,
						    unsigned int virq);
int pvk_simx_evtchn_unbind(xenevtchn_handle *xce, evtchn_port_t port);
xenevtchn_port_or_error_t pvk_simx_evtchn_pending(xenevtchn_handle *xce);
int pvk_simx_evtchn_unmask(xenevtchn_handle *xce, evtchn_port_t port);

xengnttab_handle *pvk_simx_gnttab_open(struct xentoollog_logger *logger,
				       unsigned int flags);
int pvk_simx_gnttab_close(xengnttab_handle *xgt);
void *pvk_simx_gnttab_map_grant_refs(xengnttab_handle *xgt, uint32_t count,
				     uint32_t *domids, uint32_t domids_stride,
				     uint32_t *refs, int prot);
void *pvk_simx_gnttab_map_domain_grant_refs(xengnttab_handle *xgt,
					    uint32_t count, uint32_t domid,
					    uint32_t *refs, int prot);
void *pvk_simx_gnttab_map_grant_ref(xengnttab_handle *xgt, uint32_t domid,
				    uint32_t ref, int prot);
int pvk_simx_gnttab_unmap(xengnttab_handle *xgt, void *start_address,
			  uint32_t count);
int pvk_simx_gnttab_grant_copy(xengnttab_handle *xgt, uint32_t count,
			       xengnttab_grant_copy_segment_t *segs);
int pvk_simx_gnttab_set_max_grants(xengnttab_handle *xgt, uint32_t nr_grants);

xengntshr_handle *pvk_simx_gntshr_open(struct xentoollog_logger *logger,
				       unsigned int flags);
int pvk_simx_gntshr_close(xengntshr_handle *xgs);
void *pvk_simx_gntshr_share_pages(xengntshr_handle *xgs, uint32_t domid,
				  int count, uint32_t *refs, int writable);
int pvk_simx_gntshr_munmap(xengntshr_handle *xgs, void *start_address,
			   uint32_t count);

xc_interface *pvk_simx_xc_open(struct xentoollog_logger *logger,
			       struct xentoollog_logger *dombuild_logger,
			       unsigned int open_flags);
int pvk_simx_xc_close(xc_interface *xch);
int pvk_simx_xc_domain_getinfo(xc_interface *xch, uint32_t first_domid,
			       unsigned int max_doms, xc_dominfo_t *info);
int pvk_simx_xc_domain_getinfolist(xc_interface *xch, uint32_t first_domain,
				   unsigned int max_domains,
				   xc_domaininfo_t *info);

/* HVM vCPUs (xenlib_sim.c, for dm_sim.c): the handle's id; take a port
 * the daemon made ours (HVM_VCPU) into it, or drop one locally; wait
 * until one of its ports is pending (taken and unmasked), *@word differs
 * from @seen, or @timeout_ms (-1: none) passed: 0 or -ETIMEDOUT.  The
 * handle's fd must never have been asked for. */
uint32_t pvk_simx_evtchn_id(xenevtchn_handle *h);
int pvk_simx_evtchn_adopt(xenevtchn_handle *h, evtchn_port_t port);
void pvk_simx_evtchn_forget(xenevtchn_handle *h, evtchn_port_t port);
int pvk_simx_evtchn_wait(xenevtchn_handle *h, const uint32_t *word,
			 uint32_t seen, int timeout_ms);

/* Device models on the simulator (dm_sim.c): libxendevicemodel and
 * libxenforeignmemory semantics (-1/NULL with errno). */
#include <xendevicemodel.h>
#include <xenforeignmemory.h>

xendevicemodel_handle *pvk_simx_dm_open(struct xentoollog_logger *logger,
					unsigned int flags);
int pvk_simx_dm_close(xendevicemodel_handle *dmod);
int pvk_simx_dm_create_ioreq_server(xendevicemodel_handle *dmod, domid_t domid,
				    int handle_bufioreq, ioservid_t *id);
int pvk_simx_dm_get_ioreq_server_info(xendevicemodel_handle *dmod,
				      domid_t domid, ioservid_t id,
				      xen_pfn_t *ioreq_gfn,
				      xen_pfn_t *bufioreq_gfn,
				      evtchn_port_t *bufioreq_port);
int pvk_simx_dm_map_io_range(xendevicemodel_handle *dmod, domid_t domid,
			     ioservid_t id, int is_mmio, uint64_t start,
			     uint64_t end);
int pvk_simx_dm_unmap_io_range(xendevicemodel_handle *dmod, domid_t domid,
			       ioservid_t id, int is_mmio, uint64_t start,
			       uint64_t end);
int pvk_simx_dm_set_ioreq_server_state(xendevicemodel_handle *dmod,
				       domid_t domid, ioservid_t id,
				       int enabled);
int pvk_simx_dm_destroy_ioreq_server(xendevicemodel_handle *dmod, domid_t domid,
				     ioservid_t id);
int pvk_simx_dm_set_isa_irq_level(xendevicemodel_handle *dmod, domid_t domid,
				  uint8_t irq, unsigned int level);
xenforeignmemory_handle *pvk_simx_fmem_open(struct xentoollog_logger *logger,
					    unsigned int flags);
int pvk_simx_fmem_close(xenforeignmemory_handle *fmem);
void *pvk_simx_fmem_map(xenforeignmemory_handle *fmem, uint32_t dom, int prot,
			size_t num, const xen_pfn_t arr[], int err[]);
int pvk_simx_fmem_unmap(xenforeignmemory_handle *fmem, void *addr, size_t num);
xenforeignmemory_resource_handle *
pvk_simx_fmem_map_resource(xenforeignmemory_handle *fmem, domid_t domid,
			   unsigned int type, unsigned int id,
			   unsigned long frame, unsigned long nr_frames,
			   void **paddr, int prot, int flags);
int pvk_simx_fmem_unmap_resource(xenforeignmemory_handle *fmem,
				 xenforeignmemory_resource_handle *fres);

/* An HVM guest's own side (dm_sim.c), pvkit/dm.h's pvk_dm_guest_*:
 * -errno returns.  The process's domain must be an HVM one
 * (-EOPNOTSUPP). */
struct pvk_ioreq;
int pvk_simx_guest_io(unsigned int vcpu, struct pvk_ioreq *req, int timeout_ms);
int pvk_simx_guest_irq_fd(void);
int pvk_simx_guest_irqs(uint16_t *lines);
int pvk_simx_guest_memory(void **addr, uint64_t *size);

/* DOMAIN_CREATE (client.c): pvk_sim_domain_create, HVM when @memory_mib
 * is not 0 (RAM in MiB, @vcpus vCPUs). */
int pvk_simc_domain_create(struct pvk_sim *sim, const char *name,
			   uint32_t memory_mib, uint32_t vcpus,
			   uint32_t *domid);

#endif /* PVK_HYPERCALL_SIM_SIMC_H */
