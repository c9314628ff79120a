/* SPDX-License-Identifier: MIT */
/*
 * frontend/gntpool.h -- private to libpvkit-front: the pages a frontend
 * grants to its backend, shared by blkfront and netfront.
 *
 * Two kinds of grant, both to one backend domain:
 *  - pooled pages, granted writable in chunks (pvk_gntpool_get/put) and
 *    reused LIFO: granted once, they stay granted until the pool is
 *    drained (see "Grants" in pvkit/blkfront.h for why that is safe);
 *  - one-off allocations (pvk_gntpool_alloc/release): rings, and a
 *    request's own pages when the caller ends access after each request.
 * A page the backend still maps when we end access cannot be taken back
 * (Xen semantics).  Where pvk_hv_grant_free() reports -EBUSY the pages go
 * on a zombie list: never reused, retried by pvk_gntpool_reap(), and at
 * drain time given until the backend has closed.  What is left then stays
 * granted until the pvk_hv handle closes, and is counted in ->busy.
 *
 * Not thread-safe: the driver's one thread owns the pool.
 */
#ifndef PVK_FRONTEND_GNTPOOL_H
#define PVK_FRONTEND_GNTPOOL_H

#include <stdbool.h>
#include <stdint.h>

#include <pvkit/hv.h>
#include <pvkit/ring.h>

struct pvk_gntpool_page {
	void *va;
	uint32_t gref;
	struct pvk_gntpool_page *next;
};

struct pvk_gntpool {
	struct pvk_hv *hv;
	uint32_t domid; /* the backend's */
	uint32_t chunk; /* pages granted at a time */
	uint32_t max_pages; /* pooled pages, at most */
	struct pvk_gntpool_page *free;
	struct pvk_gntpool_chunk *chunks;
	struct pvk_gntpool_zombie *zombies;
	uint32_t pages, nfree; /* pooled pages: all, and free */
	uint64_t allocs; /* pvk_hv_grant_alloc calls */
	uint64_t busy; /* pages released but still mapped by the backend */
};

void pvk_gntpool_init(struct pvk_gntpool *gp, struct pvk_hv *hv, uint32_t domid,
		      uint32_t chunk, uint32_t max_pages);
/* @n pooled pages into @pages[]: 0; -EAGAIN when the pool is at
 * max_pages and some are in use (come back after completions); -ENOSPC
 * when @n can never be had; -ENOMEM, -errno. */
int pvk_gntpool_get(struct pvk_gntpool *gp, uint32_t n,
		    struct pvk_gntpool_page **pages);
void pvk_gntpool_put(struct pvk_gntpool *gp, struct pvk_gntpool_page *pg);
/* A one-off allocation of @n contiguous pages: refs to @refs[n]. */
int pvk_gntpool_alloc(struct pvk_gntpool *gp, uint32_t n, bool writable,
		      uint32_t *refs, void **addr);
/* End access to a one-off allocation (NULL @addr: no-op). */
void pvk_gntpool_release(struct pvk_gntpool *gp, void *addr, uint32_t n);
/* Retry ending access to zombies. */
void pvk_gntpool_reap(struct pvk_gntpool *gp);
static inline bool pvk_gntpool_has_zombies(const struct pvk_gntpool *gp)
{
	return gp->zombies != 0;
}
/*
 * End access to every pooled page (all must have been put back) and the
 * zombies, retrying every 10 ms while @peer_done(@arg) is false, for at
 * most @timeout_ms.  Returns how many pages are left granted (0: all
 * gone).  The pool can be used again afterwards.
 */
uint64_t pvk_gntpool_drain(struct pvk_gntpool *gp, bool (*peer_done)(void *),
			   void *arg, int timeout_ms);

#endif /* PVK_FRONTEND_GNTPOOL_H */
