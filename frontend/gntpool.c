// SPDX-License-Identifier: MIT
/*
 * frontend/gntpool.c -- granted pages for frontends: a LIFO pool of
 * chunks, one-off allocations, and pages the backend would not give back.
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "gntpool.h"

struct pvk_gntpool_chunk {
	void *addr;
	uint32_t count;
	struct pvk_gntpool_page *pages;
	struct pvk_gntpool_chunk *next;
};

struct pvk_gntpool_zombie {
	void *addr;
	uint32_t count;
	struct pvk_gntpool_zombie *next;
};

void pvk_gntpool_init(struct pvk_gntpool *gp, struct pvk_hv *hv, uint32_t domid,
		      uint32_t chunk, uint32_t max_pages)
{
	*gp = (struct pvk_gntpool){ .hv = hv,
				    .domid = domid,
				    .chunk = chunk ? chunk : 1,
				    .max_pages = max_pages };
}

static void zombie_add(struct pvk_gntpool *gp, void *addr, uint32_t count)
{
	struct pvk_gntpool_zombie *z = calloc(1, sizeof(*z));

	/* The pages stay granted and are never reused; out of memory we only
	 * lose the chance to retry, and the hv handle ends access at close. */
	gp->busy += count;
	if (!z)
		return;
	z->addr = addr;
	z->count = count;
	z->next = gp->zombies;
	gp->zombies = z;
}

void pvk_gntpool_reap(struct pvk_gntpool *gp)
{
	struct pvk_gntpool_zombie **pz = &gp->zombies, *z;

	while ((z = *pz)) {
		if (pvk_hv_grant_free(gp->hv, z->addr, z->count) == -EBUSY) {
			pz = &z->next;
			continue;
		}
		gp->busy -= z->count;
		*pz = z->next;
		free(z);
	}
}

int pvk_gntpool_alloc(struct pvk_gntpool *gp, uint32_t n, bool writable,
		      uint32_t *refs, void **addr)
{
	gp->allocs++;
	return pvk_hv_grant_alloc(gp->hv, gp->domid, n, writable, refs, addr);
}

void pvk_gntpool_release(struct pvk_gntpool *gp, void *addr, uint32_t n)
{
	if (addr && pvk_hv_grant_free(gp->hv, addr, n) == -EBUSY)
		zombie_add(gp, addr, n);
}

static int pool_grow(struct pvk_gntpool *gp, uint32_t need)
{
	uint32_t count = need > gp->chunk ? need : gp->chunk, i;
	struct pvk_gntpool_chunk *c;
	uint32_t *refs;
	int rc;

	if (gp->pages + count > gp->max_pages)
		count = gp->max_pages - gp->pages;
	if (count < need)
		return -ENOSPC;
	c = calloc(1, sizeof(*c));
	refs = calloc(count, sizeof(*refs));
	if (!c || !refs) {
		rc = -ENOMEM;
		goto free_chunk;
	}
	c->pages = calloc(count, sizeof(*c->pages));
	if (!c->pages) {
		rc = -ENOMEM;
		goto free_chunk;
	}
	/* Writable: a pooled page serves both directions. */
	rc = pvk_gntpool_alloc(gp, count, true, refs, &c->addr);
	if (rc < 0)
		goto free_pages;
	c->count = count;
	for (i = 0; i < count; i++) {
		c->pages[i].va = (char *)c->addr + (size_t)i * PVK_PAGE_SIZE;
		c->pages[i].gref = refs[i];
		c->pages[i].next = gp->free;
		gp->free = &c->pages[i];
	}
	c->next = gp->chunks;
	gp->chunks = c;
	gp->pages += count;
	gp->nfree += count;
	free(refs);
	return 0;

free_pages:
	free(c->pages);
free_chunk:
	free(refs);
	free(c);
	return rc;
}

int pvk_gntpool_get(struct pvk_gntpool *gp, uint32_t n,
		    struct pvk_gntpool_page **pages)
{
	uint32_t i;
	int rc;

	if (n > gp->max_pages)
		return -ENOSPC;
	if (gp->nfree < n) {
		rc = pool_grow(gp, n - gp->nfree);
		if (rc == -ENOSPC)
			return -EAGAIN; /* pages in use come back */
		if (rc < 0)
			return gp->pages > gp->nfree ? -EAGAIN : rc;
	}
	for (i = 0; i < n; i++) {
		pages[i] = gp->free;
		gp->free = gp->free->next;
	}
	gp->nfree -= n;
	return 0;
}

void pvk_gntpool_put(struct pvk_gntpool *gp, struct pvk_gntpool_page *pg)
{
	pg->next = gp->free;
	gp->free = pg;
	gp->nfree++;
}

uint64_t pvk_gntpool_drain(struct pvk_gntpool *gp, bool (*peer_done)(void *),
			   void *arg, int timeout_ms)
{
	const struct timespec tick = { 0, 10000000 };
	uint64_t end = pvk_spin_clock_ms() +
		       (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
	struct pvk_gntpool_chunk *c;
	struct pvk_gntpool_zombie *z;
	uint64_t left = 0;
	bool done = false;

	while ((c = gp->chunks)) {
		gp->chunks = c->next;
		pvk_gntpool_release(gp, c->addr, c->count);
		free(c->pages);
		free(c);
	}
	gp->free = NULL;
	gp->pages = gp->nfree = 0;
	for (;;) {
		pvk_gntpool_reap(gp);
		if (!gp->zombies || done || pvk_spin_clock_ms() >= end)
			break;
		/* The peer closed: it has unmapped all it will; one last try. */
		done = !peer_done || peer_done(arg);
		if (!done)
			nanosleep(&tick, NULL);
	}
	while ((z = gp->zombies)) {
		gp->zombies = z->next;
		left += z->count;
		free(z);
	}
	return left;
}
