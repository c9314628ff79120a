/* SPDX-License-Identifier: MIT */
/*
 * loop_priv.h -- private: what the loop hypervisor's device-model part
 * (loop_dm.c) needs from loop.c, and gives it.
 */
#ifndef PVK_HYPERCALL_LOOP_PRIV_H
#define PVK_HYPERCALL_LOOP_PRIV_H

#include "hv_impl.h"

struct loop_dm;

/* loop.c: the loop of a loop handle, and its device-model state, made
 * by loop_dm_new() on first use (under the loop's lock). */
struct pvk_loop *loop_of(struct pvk_hv *hv);
struct loop_dm *loop_dm_get(struct pvk_loop *l);

/* loop_dm.c */
struct loop_dm *loop_dm_new(void);
void loop_dm_free(struct loop_dm *dm);
/* Handle @hv closes: the ioreq servers it created go with it (before
 * the loop's lock is taken). */
void loop_dm_handle_close(struct pvk_hv *hv);
int loop_dm_server_create(struct pvk_hv *hv, uint32_t domid, unsigned int flags,
			  pvk_ioservid_t *id);
int loop_dm_server_map(struct pvk_hv *hv, uint32_t domid, pvk_ioservid_t id,
		       struct pvk_dm_server *s);
void loop_dm_server_unmap(struct pvk_hv *hv, struct pvk_dm_server *s);
int loop_dm_range(struct pvk_hv *hv, uint32_t domid, pvk_ioservid_t id,
		  enum pvk_dm_space space, uint64_t start, uint64_t end,
		  bool map);
int loop_dm_server_enable(struct pvk_hv *hv, uint32_t domid, pvk_ioservid_t id,
			  bool enabled);
int loop_dm_server_destroy(struct pvk_hv *hv, uint32_t domid,
			   pvk_ioservid_t id);
int loop_dm_set_isa_irq(struct pvk_hv *hv, uint32_t domid, unsigned int irq,
			unsigned int level);
int loop_dm_foreign_map(struct pvk_hv *hv, uint32_t domid, const uint64_t *gfns,
			uint32_t count, bool writable, void **addr);
int loop_dm_foreign_unmap(struct pvk_hv *hv, void *addr, uint32_t count);
int loop_dm_guest_io(struct pvk_hv *hv, unsigned int vcpu,
		     struct pvk_ioreq *req, int timeout_ms);
int loop_dm_guest_irq_fd(struct pvk_hv *hv);
int loop_dm_guest_irqs(struct pvk_hv *hv, uint16_t *lines);
int loop_dm_guest_memory(struct pvk_hv *hv, void **addr, uint64_t *size);

#endif /* PVK_HYPERCALL_LOOP_PRIV_H */
