/* SPDX-License-Identifier: MIT */
/*
 * pvkit/dm.h -- device models: emulated devices served the Xen way.  Part
 * of libpvkit-hv (pkg-config pvkit-hv).
 *
 * A device model (QEMU on Xen; pvkit-dm) serves a guest's emulated
 * devices from another domain.  The guest's port and MMIO accesses trap to
 * the hypervisor, which posts each as a struct pvk_ioreq (pvkit/ioreq.h)
 * in a page shared with the ioreq server that claimed its range, and
 * notifies the vCPU's event channel; the device model answers and
 * notifies back; the vCPU resumes.
 *
 * The device model's side (pvk_dm_*) is Xen's libxendevicemodel and
 * xenforeignmemory_map_resource, one call each:
 *
 *   pvk_dm_server_create   xendevicemodel_create_ioreq_server
 *   pvk_dm_server_map      xenforeignmemory_map_resource(IOREQ_SERVER) +
 *                          xendevicemodel_get_ioreq_server_info (port)
 *   pvk_dm_range_map       xendevicemodel_map_io_range_to_ioreq_server
 *   pvk_dm_range_unmap     xendevicemodel_unmap_io_range_from_ioreq_server
 *   pvk_dm_server_enable   xendevicemodel_set_ioreq_server_state
 *   pvk_dm_server_destroy  xendevicemodel_destroy_ioreq_server
 *   pvk_dm_set_isa_irq     xendevicemodel_set_isa_irq_level
 *   pvk_dm_foreign_map     xenforeignmemory_map (guest memory, for DMA)
 *
 * then it binds each vCPU's vp_eport (pvk_evtchn_bind to the guest) and
 * serves: on an event, pvk_ioreq_load_state == PVK_IOREQ_READY, copy,
 * check, emulate, answer.  Implemented by Xen, the simulator (for its HVM
 * domains, `pvkit domain create --hvm`; -EOPNOTSUPP for others) and loop.
 *
 * The hypervisor's side of a trapped access (pvk_dm_guest_*) is Xen's
 * own on a Xen host (the CPU traps, Xen posts the ioreq): -EOPNOTSUPP
 * there.  The simulator runs it in the HVM guest's own process, loop in
 * the test's, so that a guest thread can drive a device model.
 */
#ifndef PVKIT_DM_H
#define PVKIT_DM_H

#include <stdbool.h>
#include <stdint.h>

#include <pvkit/hv.h>
#include <pvkit/ioreq.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef uint16_t pvk_ioservid_t;

#define PVK_DM_BUFIOREQ 0x1u /* pvk_dm_server_create: a buffered page too */

enum pvk_dm_space {
	PVK_DM_PORT, /* I/O ports: 0..0xffff */
	PVK_DM_MMIO, /* guest-physical addresses */
};

/* An ioreq server's pages as mapped by its device model. */
struct pvk_dm_server {
	uint32_t domid; /* the guest */
	pvk_ioservid_t id;
	unsigned int nr_vcpus; /* slots of @ioreq in use */
	struct pvk_ioreq *ioreq; /* shared_iopage: one slot per vCPU */
	struct pvk_buf_iopage *buf; /* NULL without PVK_DM_BUFIOREQ */
	uint32_t buf_port; /* the guest's port for @buf; 0 without */
	void *priv; /* the implementation's */
};

/* Create an ioreq server for guest @domid (disabled, claiming nothing).
 * -ENOSPC: the guest has as many as it may; -EOPNOTSUPP: no HVM guest. */
int pvk_dm_server_create(struct pvk_hv *hv, uint32_t domid, unsigned int flags,
			 pvk_ioservid_t *id);
/* Map server @id's pages into this process; undone by pvk_dm_server_unmap
 * (or the handle's close). */
int pvk_dm_server_map(struct pvk_hv *hv, uint32_t domid, pvk_ioservid_t id,
		      struct pvk_dm_server *s);
void pvk_dm_server_unmap(struct pvk_hv *hv, struct pvk_dm_server *s);
/* Claim (or release) ports or addresses @start..@end, inclusive.  -EEXIST
 * if another server of the guest claims any of them. */
int pvk_dm_range_map(struct pvk_hv *hv, uint32_t domid, pvk_ioservid_t id,
		     enum pvk_dm_space space, uint64_t start, uint64_t end);
int pvk_dm_range_unmap(struct pvk_hv *hv, uint32_t domid, pvk_ioservid_t id,
		       enum pvk_dm_space space, uint64_t start, uint64_t end);
/* Accesses reach a server only while it is enabled. */
int pvk_dm_server_enable(struct pvk_hv *hv, uint32_t domid, pvk_ioservid_t id,
			 bool enabled);
/* A vCPU waiting on the server's answer then completes with all-ones. */
int pvk_dm_server_destroy(struct pvk_hv *hv, uint32_t domid, pvk_ioservid_t id);
/* Drive ISA interrupt line @irq (0..15) of the guest to @level (0/1). */
int pvk_dm_set_isa_irq(struct pvk_hv *hv, uint32_t domid, unsigned int irq,
		       unsigned int level);
/* Map guest frames @gfns (guest-physical address >> 12) contiguously;
 * -EFAULT if one is not guest memory.  Undone by pvk_dm_foreign_unmap. */
int pvk_dm_foreign_map(struct pvk_hv *hv, uint32_t domid, const uint64_t *gfns,
		       uint32_t count, bool writable, void **addr);
int pvk_dm_foreign_unmap(struct pvk_hv *hv, void *addr, uint32_t count);

/*
 * The hypervisor's side, acting as vCPU @vcpu of this handle's domain:
 * post @req (type, addr, size, count, data, data_is_ptr, dir, df; state
 * and vp_eport are ignored) to the enabled server claiming its first byte,
 * and wait up to @timeout_ms (-1: for ever, as Xen) for the answer.
 * Returns 0 with @req->data set for a read; 1 if no server claims it
 * (Xen's rule: a read gives all-ones, a write is dropped; @req->data is
 * set so); -ETIMEDOUT (the request stays posted: the next call on this
 * vCPU waits for it first); -EPROTO if the device model wrote a state it
 * may not (Xen crashes the guest).  One thread per vCPU.
 */
int pvk_dm_guest_io(struct pvk_hv *hv, unsigned int vcpu, struct pvk_ioreq *req,
		    int timeout_ms);
/* Polls readable when an ISA line of this domain may have changed level;
 * pvk_dm_guest_irqs then returns the lines now high (bit N: IRQ N). */
int pvk_dm_guest_irq_fd(struct pvk_hv *hv);
int pvk_dm_guest_irqs(struct pvk_hv *hv, uint16_t *lines);
/* The guest's RAM as this (guest) process sees it: guest frame N at
 * @addr + N * 4096, @size bytes (the frames a device model may DMA to). */
int pvk_dm_guest_memory(struct pvk_hv *hv, void **addr, uint64_t *size);

#ifdef __cplusplus
}
#endif

#endif /* PVKIT_DM_H */
