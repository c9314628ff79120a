/* SPDX-License-Identifier: MIT */
/*
 * pvkit/ring.h -- shared request/response rings on Xen's wire ABI
 * (libpvkit-ring, pkg-config pvkit-ring; freestanding).
 *
 * A shared ring is the page (or 2^order contiguous pages) laid out exactly
 * as DEFINE_RING_TYPES in Xen's public io/ring.h lays it out:
 *
 *   offset 0   req_prod   written by the frontend
 *          4   req_event  written by the backend  ("kick me at this req")
 *          8   rsp_prod   written by the backend
 *         12   rsp_event  written by the frontend ("kick me at this rsp")
 *         16   pvt[4], pad[44]
 *         64   entries: union { req; rsp; }[nr_ents], nr_ents a power of 2
 *
 * so a pvkit end interoperates with any Xen end (Linux, Mini-OS, QEMU).
 *
 * Indices are free-running uint32_t: they are never reduced modulo the ring
 * size, slot = idx & (nr_ents - 1), and every distance is computed as an
 * unsigned 32-bit difference, so arithmetic stays correct across the wrap
 * at 2^32.
 *
 * Hostile peers.  Everything the peer writes -- its producer index, its
 * event index, the contents of every slot -- can change at any time.  So:
 *  - the ring size and our own indices live in private memory
 *    (struct pvk_ring), set at attach time and never re-read from the page;
 *  - the consumer reads the peer's producer index once per batch
 *    (pvk_ring_peek), and rejects an index that claims more entries than
 *    the peer could legitimately have produced: the ring is latched broken
 *    and every later call returns -EPROTO;
 *  - a slot is read only by copying it into caller memory, once
 *    (pvk_ring_get, and the batched forms below); there is deliberately
 *    no accessor returning a pointer into a shared slot for reading.  Validate the copy, never the slot.
 *    (pvk_ring_prepare returns a slot to *write* an entry in place.)
 *  - our producer index is published from private state; we never read
 *    back our own index from the shared page.
 * Fields *inside* an entry (ids, lengths, grant refs) are the caller's to
 * validate; see blkif.h and netif.h for the per-protocol checks.
 *
 * Memory ordering (C11 atomics via GCC/Clang builtins, freestanding):
 *  P1  producer: entry stores happen-before the index store  (release)
 *  C1  consumer: index load happens-before entry loads       (acquire)
 *      P1 synchronises-with C1: the consumer sees complete entries.
 *  P2  producer: full fence between publishing prod and reading the peer's
 *      event index;
 *  C2  consumer: full fence between writing its event index and
 *      re-reading prod (pvk_ring_final_check).
 *      P2 and C2 together guarantee that either the producer sees the new
 *      event index and notifies, or the consumer sees the new entries
 *      before it sleeps: no lost wake-up.
 *
 * Threading: one struct pvk_ring is used by one thread at a time (one
 * producer thread and one consumer thread per end, as in Xen).  The two
 * ends run in different address spaces, or different threads.
 *
 * This header and ring/ are freestanding C11 (no libc): a guest kernel can
 * build them as they are.
 */
#ifndef PVKIT_RING_H
#define PVKIT_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__STDC_HOSTED__) && __STDC_HOSTED__ && !defined(PVK_FREESTANDING)
#include <errno.h>
#endif
/* Freestanding builds get Linux's errno values. */
#ifndef EINVAL
#define EINVAL 22
#endif
#ifndef ENOSPC
#define ENOSPC 28
#endif
#ifndef EPROTO
#define EPROTO 71
#endif
#ifndef EOPNOTSUPP
#define EOPNOTSUPP 95
#endif
#ifndef EMSGSIZE
#define EMSGSIZE 90
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* The batch calls must inline into the caller's loop: their point is that
 * the batch state never leaves registers, which an out-of-line copy (GCC
 * makes one when a function has several call sites) would defeat. */
#if defined(__GNUC__)
#define PVK__RING_INLINE static inline __attribute__((always_inline))
#else
#define PVK__RING_INLINE static inline
#endif

typedef uint32_t pvk_ring_idx_t;
typedef uint32_t pvk_grant_ref_t; /* a grant reference, as Xen's grant_ref_t */

#define PVK_PAGE_SHIFT 12
#define PVK_PAGE_SIZE (1u << PVK_PAGE_SHIFT)
/* Largest ring supported: order 4 = 16 pages, as blkif's max-ring-page-order. */
#define PVK_RING_MAX_ORDER 4
#define PVK_RING_HDR_SIZE 64u

/* The shared header, identical to the first 64 bytes of a Xen sring. */
struct pvk_sring {
	pvk_ring_idx_t req_prod, req_event;
	pvk_ring_idx_t rsp_prod, rsp_event;
	uint8_t pvt[4];
	uint8_t pad[44];
	unsigned char ring[]; /* entries start here, offset 64 */
};
_Static_assert(offsetof(struct pvk_sring, req_event) == 4, "ring ABI");
_Static_assert(offsetof(struct pvk_sring, rsp_prod) == 8, "ring ABI");
_Static_assert(offsetof(struct pvk_sring, rsp_event) == 12, "ring ABI");
_Static_assert(offsetof(struct pvk_sring, pvt) == 16, "ring ABI");
_Static_assert(offsetof(struct pvk_sring, ring) == PVK_RING_HDR_SIZE,
	       "ring ABI");

enum pvk_ring_role {
	PVK_RING_FRONT = 0, /* produces requests, consumes responses */
	PVK_RING_BACK = 1, /* consumes requests, produces responses */
};

/*
 * One end's private view of a ring.  All fields are private; do not touch.
 * prod_pvt: next index we will produce at; pushed: last index published;
 * cons: next index we will consume; snap: validated snapshot of the peer's
 * producer index; err: 0, the latched -EPROTO, or -EINVAL after a failed
 * attach.
 * Derived at attach so that the per-entry paths test no role: my_prod,
 * peer_prod, my_event, peer_event point at the header words by role;
 * prod_limit is the first index we may not produce at (cons, plus
 * nr_ents for a frontend), so space = prod_limit - prod_pvt; put_max /
 * get_max are the entry sizes we produce / consume; slots, top and mask
 * locate slots, cslot and pslot are those of cons and prod_pvt; peer_slack
 * bounds the peer's index (pvk_ring_peek()).
 */
struct pvk_ring {
	struct pvk_sring *sring;
	uint32_t nr_ents;
	uint32_t slot_size;
	uint32_t req_size, rsp_size;
	pvk_ring_idx_t prod_pvt;
	pvk_ring_idx_t pushed;
	pvk_ring_idx_t cons;
	pvk_ring_idx_t snap;
	uint8_t role;
	int err;
	const char *why; /* reason the ring was latched broken, static */
	pvk_ring_idx_t *my_prod, *peer_prod, *my_event, *peer_event;
	pvk_ring_idx_t prod_limit;
	uint32_t put_max, get_max;
	unsigned char *slots, *top; /* first slot, one past the last */
	unsigned char *cslot, *pslot; /* the slots of cons and prod_pvt */
	uint32_t mask; /* nr_ents - 1 */
	uint32_t peer_slack; /* see pvk_ring_peek() */
};

/*
 * Number of entries (a power of two) a ring of @bytes with @slot_size-byte
 * entries holds, exactly as Xen's __RING_SIZE/__CONST_RING_SIZE compute it;
 * 0 if not even one fits.
 */
static inline uint32_t pvk_ring_nr_ents(size_t bytes, size_t slot_size)
{
	size_t n;
	uint32_t p = 1;

	if (!slot_size || bytes < PVK_RING_HDR_SIZE + slot_size)
		return 0;
	n = (bytes - PVK_RING_HDR_SIZE) / slot_size;
	if (n > 0x80000000u)
		n = 0x80000000u;
	while ((size_t)p * 2 <= n)
		p *= 2;
	return p;
}

/*
 * The same as a constant expression, for _Static_assert and for sizing
 * private shadow arrays at compile time (a frontend keeps one shadow entry
 * per ring slot).  Valid for rings up to PVK_RING_MAX_ORDER pages, where
 * at most 2^15 entries fit; 0 if not even one entry fits.
 */
#define PVK__POW2_FLOOR16(n)       \
	((n) >= 0x8000 ? 0x8000u : \
	 (n) >= 0x4000 ? 0x4000u : \
	 (n) >= 0x2000 ? 0x2000u : \
	 (n) >= 0x1000 ? 0x1000u : \
	 (n) >= 0x0800 ? 0x0800u : \
	 (n) >= 0x0400 ? 0x0400u : \
	 (n) >= 0x0200 ? 0x0200u : \
	 (n) >= 0x0100 ? 0x0100u : \
	 (n) >= 0x0080 ? 0x0080u : \
	 (n) >= 0x0040 ? 0x0040u : \
	 (n) >= 0x0020 ? 0x0020u : \
	 (n) >= 0x0010 ? 0x0010u : \
	 (n) >= 0x0008 ? 0x0008u : \
	 (n) >= 0x0004 ? 0x0004u : \
	 (n) >= 0x0002 ? 0x0002u : \
	 (n) >= 0x0001 ? 0x0001u : \
			 0u)
#define PVK_RING_NR_ENTS_CONST(bytes, slot_size)     \
	((bytes) < PVK_RING_HDR_SIZE + (slot_size) ? \
		 0u :                                \
		 PVK__POW2_FLOOR16(((bytes)-PVK_RING_HDR_SIZE) / (slot_size)))

/*
 * Attach @r to the shared ring at @sring of @bytes bytes (nr_pages * 4096).
 * @slot_size is sizeof(union { req; rsp; }); @req_size / @rsp_size are the
 * sizes copied by put/get (<= slot_size).  @start is the index both ends
 * begin at (0 for a fresh ring).  If @init, the shared header is
 * initialised as Xen's SHARED_RING_INIT does (producer indices = @start,
 * event indices = @start + 1); only the end that allocates the ring (the
 * frontend) initialises it.
 * @sring must be 8-byte aligned (a shared ring is page-aligned), so that
 * entries are naturally aligned for pvk_ring_prepare().
 * Returns 0, or -EINVAL (bad size, misaligned, too small for one entry);
 * then @r (if not NULL) refuses every operation with -EINVAL.
 */
int pvk_ring_attach(struct pvk_ring *r, enum pvk_ring_role role, void *sring,
		    size_t bytes, size_t slot_size, size_t req_size,
		    size_t rsp_size, pvk_ring_idx_t start, bool init);

/* The same, inline: what the typed name_front_init/name_back_attach use,
 * so that a ring kept in a local variable stays one (its state can live
 * in registers, as a Xen ring initialised with FRONT_RING_INIT does). */
PVK__RING_INLINE int pvk__ring_attach(struct pvk_ring *r,
				      enum pvk_ring_role role, void *sring,
				      size_t bytes, size_t slot_size,
				      size_t req_size, size_t rsp_size,
				      pvk_ring_idx_t start, bool init)
{
	uint32_t n = pvk_ring_nr_ents(bytes, slot_size);
	struct pvk_sring *s = sring;
	bool front = role == PVK_RING_FRONT;

	if (!r)
		return -EINVAL;
	if (!sring || !n || ((uintptr_t)sring & 7) ||
	    (role != PVK_RING_FRONT && role != PVK_RING_BACK) ||
	    req_size > slot_size || rsp_size > slot_size ||
	    bytes > ((size_t)PVK_PAGE_SIZE << PVK_RING_MAX_ORDER)) {
		/* Not attached: every operation on @r fails. */
		*r = (struct pvk_ring){ .err = -EINVAL,
					.why = "ring not attached" };
		return -EINVAL;
	}

	*r = (struct pvk_ring){
		.sring = sring,
		.nr_ents = n,
		.slot_size = (uint32_t)slot_size,
		.req_size = (uint32_t)req_size,
		.rsp_size = (uint32_t)rsp_size,
		.prod_pvt = start,
		.pushed = start,
		.cons = start,
		.snap = start,
		.role = (uint8_t)role,
		.my_prod = front ? &s->req_prod : &s->rsp_prod,
		.peer_prod = front ? &s->rsp_prod : &s->req_prod,
		.my_event = front ? &s->rsp_event : &s->req_event,
		.peer_event = front ? &s->req_event : &s->rsp_event,
		.prod_limit = front ? start + n : start,
		.put_max = (uint32_t)(front ? req_size : rsp_size),
		.get_max = (uint32_t)(front ? rsp_size : req_size),
		.slots = s->ring,
		.top = s->ring + (size_t)n * slot_size,
		.cslot = s->ring + (size_t)(start & (n - 1)) * slot_size,
		.pslot = s->ring + (size_t)(start & (n - 1)) * slot_size,
		.mask = n - 1,
		.peer_slack = front ? 0 : n,
	};
	if (init) {
		__builtin_memset(s, 0, PVK_RING_HDR_SIZE);
		s->req_prod = s->rsp_prod = start;
		s->req_event = s->rsp_event = start + 1;
		/* Header visible before the caller shares the ring's address. */
		__atomic_thread_fence(__ATOMIC_RELEASE);
	}
	return 0;
}

/* Human-readable reason the ring was latched broken, or NULL. */
static inline const char *pvk_ring_broken_reason(const struct pvk_ring *r)
{
	return r->err ? r->why : (const char *)0;
}

static inline bool pvk_ring_is_broken(const struct pvk_ring *r)
{
	return r->err != 0;
}

/* Latch @r broken with @why (a string literal).  Callers that find a bad
 * field inside an entry use this so that the ring refuses further work. */
static inline int pvk_ring_set_broken(struct pvk_ring *r, const char *why)
{
	if (!r->err) {
		r->err = -EPROTO;
		r->why = why;
	}
	return r->err;
}

/* Shared index words, by role: what we produce / the event the peer sets
 * for us / what the peer produces / the event we set for the peer. */
static inline pvk_ring_idx_t *pvk__ring_my_prod(struct pvk_ring *r)
{
	return r->my_prod;
}
static inline pvk_ring_idx_t *pvk__ring_peer_event(struct pvk_ring *r)
{
	return r->peer_event;
}
static inline pvk_ring_idx_t *pvk__ring_peer_prod(struct pvk_ring *r)
{
	return r->peer_prod;
}
static inline pvk_ring_idx_t *pvk__ring_my_event(struct pvk_ring *r)
{
	return r->my_event;
}

static inline unsigned char *pvk__ring_slot(struct pvk_ring *r,
					    pvk_ring_idx_t idx)
{
	return r->slots + (size_t)(idx & r->mask) * r->slot_size;
}

/* The slot after @slot, wrapping at the end of the ring. */
static inline unsigned char *pvk__ring_next(const struct pvk_ring *r,
					    unsigned char *slot)
{
	slot += r->slot_size;
	return slot == r->top ? r->slots : slot;
}

/*
 * Producer side.
 *
 * pvk_ring_space(): entries we may produce now.  Front: free request
 * slots, nr_ents - (prod_pvt - cons).  Back: responses owed, i.e. requests
 * consumed and not yet answered, cons - prod_pvt.  Private state only.
 */
static inline uint32_t pvk_ring_space(const struct pvk_ring *r)
{
	return (uint32_t)(r->prod_limit - r->prod_pvt);
}

/*
 * Copy @len bytes of @entry into the next free slot, privately: the peer
 * does not see it until pvk_ring_push().  Returns 0, -ENOSPC when
 * pvk_ring_space() is 0, -EMSGSIZE if @len exceeds the entry size, or the
 * latched -EPROTO.
 */
static inline int pvk_ring_put(struct pvk_ring *r, const void *entry,
			       size_t len)
{
	if (r->err)
		return r->err;
	if (len > r->put_max)
		return -EMSGSIZE;
	if (!pvk_ring_space(r))
		return -ENOSPC;
	__builtin_memcpy(r->pslot, entry, len);
	r->pslot = pvk__ring_next(r, r->pslot);
	r->prod_pvt++;
	return 0;
}

/*
 * Zero-copy producing: the next free slot, to build the entry in place,
 * then pvk_ring_commit() it (it is published by the next push), as Xen's
 * RING_GET_REQUEST at req_prod_pvt.  This saves pvk_ring_put's copy, and
 * the stall a CPU takes when it copies an entry whose fields it has just
 * stored.  The slot is shared memory that the peer may rewrite at any
 * moment, so it is write-only for the producer: write every byte the
 * peer reads, and never read back what you wrote (keep your own copy, a
 * shadow, of whatever you need later).  NULL if pvk_ring_space() is 0 or
 * the ring is broken.
 */
static inline void *pvk_ring_prepare(struct pvk_ring *r)
{
	if (r->err || !pvk_ring_space(r))
		return (void *)0;
	return r->pslot;
}

/* Count the slot from pvk_ring_prepare() as produced.  0, -ENOSPC, or
 * the latched -EPROTO. */
static inline int pvk_ring_commit(struct pvk_ring *r)
{
	if (r->err)
		return r->err;
	if (!pvk_ring_space(r))
		return -ENOSPC;
	r->pslot = pvk__ring_next(r, r->pslot);
	r->prod_pvt++;
	return 0;
}

/*
 * The full barrier of P2 and C2 (a store, then a load of another word,
 * which x86 would otherwise reorder).  On x86-64 a locked read-modify-write
 * of a stack word orders exactly like mfence for ordinary write-back memory
 * and costs a fraction of it (mfence also waits for weakly ordered
 * accesses, which rings never use); Linux's smp_mb() and Xen's xen_mb()
 * use the same instruction.  Elsewhere the C11 sequentially consistent
 * fence.  The word is below the stack pointer and its value unchanged.
 */
PVK__RING_INLINE void pvk__ring_mb(void)
{
#if defined(__x86_64__)
	__asm__ __volatile__("lock; addl $0,-32(%%rsp)" ::: "memory", "cc");
#else
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
#endif
}

/*
 * Publish every entry put so far.  Returns true if the peer asked to be
 * notified (its event index lies in the range just published), as Xen's
 * RING_PUSH_*_AND_CHECK_NOTIFY: send an event-channel notification then.
 * On a ring latched broken nothing is published and false is returned:
 * we stop talking to a peer that broke the protocol.
 */
PVK__RING_INLINE bool pvk_ring_push(struct pvk_ring *r)
{
	pvk_ring_idx_t old = r->pushed, new_ = r->prod_pvt, ev;

	if (r->err || old == new_)
		return false;
	/* P1: entries visible before the index; pairs with C1 in peek. */
	__atomic_store_n(pvk__ring_my_prod(r), new_, __ATOMIC_RELEASE);
	r->pushed = new_;
	/* P2: index visible before we read the peer's event; pairs with C2. */
	pvk__ring_mb();
	ev = __atomic_load_n(pvk__ring_peer_event(r), __ATOMIC_RELAXED);
	return (pvk_ring_idx_t)(new_ - ev) < (pvk_ring_idx_t)(new_ - old);
}

/*
 * Consumer side.
 *
 * Take one snapshot of the peer's producer index, validate it, and return
 * how many entries are ready to consume (>= 0), or -EPROTO if the peer
 * claims more than it can have produced (the ring is then latched
 * broken):
 *  - front: more responses than requests we published;
 *  - back:  more requests than the slots our published responses freed
 *           (Xen's RING_REQUEST_PROD_OVERFLOW, but counting only the
 *           responses the frontend can have seen: stricter).
 */
PVK__RING_INLINE int pvk_ring_peek(struct pvk_ring *r)
{
	pvk_ring_idx_t prod, limit;

	if (r->err)
		return r->err;
	/* C1: pairs with the peer's release store (P1). */
	prod = __atomic_load_n(pvk__ring_peer_prod(r), __ATOMIC_ACQUIRE);
	/* The peer cannot have produced past pushed + peer_slack: a backend
	 * answers at most the requests we published (slack 0); a frontend
	 * fills at most the slots our published responses freed (slack
	 * nr_ents; Xen's RING_REQUEST_PROD_OVERFLOW, against what the
	 * frontend can have seen). */
	limit = r->pushed + r->peer_slack - r->cons;
	if ((pvk_ring_idx_t)(prod - r->cons) > limit)
		return pvk_ring_set_broken(
			r,
			r->role == PVK_RING_FRONT ?
				"backend produced more responses than requests outstanding" :
				"frontend producer index beyond the free ring slots");
	r->snap = prod;
	return (int)(uint32_t)(prod - r->cons);
}

/*
 * Copy the next entry (up to @len bytes) into @out and consume it.
 * Returns 1 if an entry was copied, 0 if none is ready, or -EPROTO.
 * Reads the peer's index only when the previous snapshot is used up.
 * The slot is read exactly once; after the copy the compiler may not
 * re-load it (the barrier below), so validate @out, not the slot.
 */
static inline int pvk_ring_get(struct pvk_ring *r, void *out, size_t len)
{
	int n;

	if (r->err)
		return r->err;
	if (len > r->get_max)
		return -EMSGSIZE;
	if (r->snap == r->cons) {
		n = pvk_ring_peek(r);
		if (n <= 0)
			return n;
	}
	__builtin_memcpy(out, r->cslot, len);
	__asm__ __volatile__("" ::: "memory");
	r->cslot = pvk__ring_next(r, r->cslot);
	r->cons++;
	r->prod_limit++; /* a freed slot (front), a response owed (back) */
	return 1;
}

/*
 * Before sleeping: ask the peer to notify us at the next entry (set our
 * event index to cons + 1), then look again.  Returns > 0 if entries
 * arrived meanwhile (do not sleep; consume them), 0 if it is safe to
 * sleep until the next notification, or -EPROTO.  As Xen's
 * RING_FINAL_CHECK_FOR_*.
 */
static inline int pvk_ring_final_check(struct pvk_ring *r)
{
	int n = pvk_ring_peek(r);

	if (n != 0)
		return n;
	__atomic_store_n(pvk__ring_my_event(r), r->cons + 1, __ATOMIC_RELAXED);
	/* C2: event index visible before we re-read prod; pairs with P2. */
	pvk__ring_mb();
	return pvk_ring_peek(r);
}

/*
 * Back end, taking over a ring from an instance that died: attach with
 * @start = the response producer index it published, then declare the
 * requests [start, @cons) taken already (their responses are owed; the
 * caller re-executes them from its own copies, for their slots may hold
 * unpublished responses now).  Consuming resumes at @cons.  Returns 0,
 * or -EINVAL (not a back end, broken, or more than a ring of requests
 * owed: @cons cannot be right).
 */
static inline int pvk_ring_back_resume(struct pvk_ring *r, pvk_ring_idx_t cons)
{
	if (r->role != PVK_RING_BACK || r->err || r->cons != r->prod_pvt ||
	    (uint32_t)(cons - r->prod_pvt) > r->nr_ents)
		return -EINVAL;
	r->cons = r->snap = r->prod_limit = cons;
	r->cslot = pvk__ring_slot(r, cons);
	return 0;
}

/* Entries consumed but not yet answered (back), or outstanding requests
 * (front); private state only. */
static inline uint32_t pvk_ring_in_flight(const struct pvk_ring *r)
{
	if (r->role == PVK_RING_FRONT)
		return (uint32_t)(r->prod_pvt - r->cons);
	return (uint32_t)(r->cons - r->prod_pvt);
}

/*
 * Batched producing and consuming: the fast paths.
 *
 * The per-entry calls above keep the ring state in struct pvk_ring, so
 * every call re-loads it: an entry store through a char-typed field may
 * alias any object whose address escaped, the ring included.  The calls
 * below load the state into locals once per batch and write it back once,
 * so the per-entry work is the index arithmetic and the copy, as with
 * Xen's macros on a local ring struct.  Two forms:
 *
 *  - arrays and runs: name_get_requests(r, req[], max) copies the entries
 *    of one snapshot out at once; name_prepare_requests(r, &n) hands out a
 *    run of free slots to build in place, then pvk_ring_commit_n(r, n).
 *    Simple; every byte of every entry is copied.
 *  - a batch (struct pvk_ring_batch, below): the ring state in a caller
 *    local, one entry at a time, and only the fields the caller uses are
 *    read.  The fastest: use it in drivers' hot loops.
 *
 * The hostile-peer guarantees are the per-entry ones: one snapshot of the
 * peer's producer index per batch, validated as in pvk_ring_peek(); each
 * slot copied once into caller memory; no pointer into a slot for reading.
 */

/*
 * The contiguous run of free slots starting at our private producer index:
 * stores *@n >= 1 (at most pvk_ring_space(), and no further than the end
 * of the ring, so a full ring takes at most two runs) and returns the
 * first slot, @slot_size bytes apart.  Write-only, as pvk_ring_prepare().
 * NULL and *@n = 0 if there is no space or the ring is broken.
 */
static inline void *pvk__ring_prepare_run(struct pvk_ring *r, size_t slot_size,
					  uint32_t *n)
{
	uint32_t space = pvk_ring_space(r), off, run;

	if (r->err || !space || slot_size != r->slot_size) {
		*n = 0;
		return (void *)0;
	}
	off = r->prod_pvt & r->mask;
	run = r->nr_ents - off;
	*n = space < run ? space : run;
	return r->slots + (size_t)off * slot_size;
}

/* Count @n slots built in place as produced (published by the next
 * push).  0, -ENOSPC if @n exceeds pvk_ring_space(), or the latched
 * -EPROTO. */
static inline int pvk_ring_commit_n(struct pvk_ring *r, uint32_t n)
{
	if (r->err)
		return r->err;
	if (n > pvk_ring_space(r))
		return -ENOSPC;
	r->prod_pvt += n;
	r->pslot = pvk__ring_slot(r, r->prod_pvt);
	return 0;
}

/*
 * Copy up to @max entries of @size bytes from @in (packed, @size apart)
 * into free slots, privately (published by the next push).  Returns the
 * number copied (0 if the ring is full), -EMSGSIZE, or the latched -EPROTO.
 */
static inline int pvk__ring_put_n(struct pvk_ring *r, const void *in,
				  size_t size, size_t slot_size, uint32_t max)
{
	const unsigned char *src = (const unsigned char *)in;
	unsigned char *base;
	pvk_ring_idx_t prod;
	uint32_t mask, n, i;

	if (r->err)
		return r->err;
	if (slot_size != r->slot_size)
		return -EINVAL;
	if (size > r->put_max || max > 0x7fffffffu)
		return -EMSGSIZE;
	n = pvk_ring_space(r);
	if (n > max)
		n = max;
	prod = r->prod_pvt;
	mask = r->mask;
	base = r->slots;
	for (i = 0; i < n; i++)
		__builtin_memcpy(base + (size_t)((prod + i) & mask) * slot_size,
				 src + (size_t)i * size, size);
	r->prod_pvt = prod + n;
	r->pslot = pvk__ring_slot(r, r->prod_pvt);
	return (int)n;
}

/*
 * Take one snapshot of the peer's producer index (validated as
 * pvk_ring_peek() does; a bad one latches -EPROTO), copy up to @max ready
 * entries of @size bytes, each slot read once, into @out (packed, @size
 * apart), and consume them.  Returns the number copied (0 if none is
 * ready), -EMSGSIZE, or -EPROTO.
 */
static inline int pvk__ring_get_n(struct pvk_ring *r, void *out, size_t size,
				  size_t slot_size, uint32_t max)
{
	unsigned char *dst = (unsigned char *)out;
	const unsigned char *base;
	pvk_ring_idx_t cons;
	uint32_t mask, i;
	int n;

	if (r->err)
		return r->err;
	if (slot_size != r->slot_size)
		return -EINVAL;
	if (size > r->get_max || max > 0x7fffffffu)
		return -EMSGSIZE;
	n = pvk_ring_peek(r); /* C1 inside: entries read after the index */
	if (n <= 0)
		return n;
	if ((uint32_t)n > max)
		n = (int)max;
	cons = r->cons;
	mask = r->mask;
	base = r->slots;
	for (i = 0; i < (uint32_t)n; i++)
		__builtin_memcpy(dst + (size_t)i * size,
				 base + (size_t)((cons + i) & mask) * slot_size,
				 size);
	/* The slots were read once, above; the compiler may not re-load one
	 * in place of its copy.  Once per batch, after the ring state above
	 * was taken into locals. */
	__asm__ __volatile__("" : : "r"(dst) : "memory");
	r->cons = cons + (uint32_t)n;
	r->cslot = pvk__ring_slot(r, r->cons);
	r->prod_limit += (uint32_t)n; /* freed slots (front), owed (back) */
	return n;
}

/*
 * A batch: one end's private ring state taken into a caller local, the
 * way Xen's macros are used on a local ring struct.  Between begin and end
 * every per-entry call works on the local alone, which the compiler keeps
 * in registers (it never escapes), so an entry costs its index arithmetic
 * and the stores or loads of the fields the caller touches:
 *
 *   struct pvk_ring_batch b;
 *   n = name_batch_begin(r, &b);           one snapshot of the peer index
 *   while (name_batch_get_request(&b, &req) == 1) {   (back)
 *           validate req; rsp = name_batch_prepare_response(&b);
 *           build *rsp; pvk_ring_batch_commit(&b);
 *   }
 *   pvk_ring_batch_end(r, &b);             write the state back
 *   if (pvk_ring_push(r)) notify;
 *
 * A front end builds requests with name_batch_prepare_request() and reaps
 * responses with name_batch_get_response() the same way.  Do not call the
 * per-entry functions on @r between begin and end.
 *
 * Reading a slot: the entry is copied into the caller's variable, then a
 * compiler barrier forbids re-loading the slot; the compiler may still
 * skip loading fields the caller never uses, which is safe (each byte is
 * read at most once) and is what makes a typed batch as cheap as the Xen
 * macros.  Bytes the caller does use come from exactly one load.  Copy
 * into a plain local variable: one the compiler must keep in memory (an
 * array element, a struct whose address escapes) gets every byte of the
 * slot copied, and every cache line of it pulled from the peer's CPU.
 */
struct pvk_ring_batch {
	unsigned char *base, *top; /* first slot; one past the last */
	/* Entries to consume: cslot up to cend, then, when the snapshot
	 * wraps, cmore more from base.  A pointer walked to an end costs an
	 * add and a compare per entry, where an index costs a mask and a
	 * multiply. */
	unsigned char *cslot, *cend;
	uint32_t cmore;
	/* Slots we may produce, from pslot (wrapping at top): a signed count,
	 * so that the compiler sees that a backend which answers each
	 * request it takes never runs out of response slots. */
	unsigned char *pslot;
	int32_t space;
	int32_t avail0, space0; /* at begin */
	uint32_t slot_size;
	uint8_t role;
};

/*
 * Start a batch on @r (name_batch_begin): snapshot and validate the peer's
 * producer index (as pvk_ring_peek) and load the private state into @b.
 * Returns the entries ready to consume (>= 0), or -EPROTO (latched), or
 * -EINVAL if @r was not attached with @slot_size-byte slots; then @b is an
 * empty batch (nothing to consume, no space to produce), so the per-entry
 * calls need no check of their own.
 */
PVK__RING_INLINE int pvk__ring_batch_begin(struct pvk_ring *r,
					   struct pvk_ring_batch *b,
					   size_t slot_size)
{
	int n = r->slot_size == slot_size ? pvk_ring_peek(r) : -EINVAL;
	size_t want, left;

	b->base = r->slots;
	b->top = r->top;
	b->cslot = r->cslot;
	b->pslot = r->pslot;
	b->slot_size = (uint32_t)slot_size;
	/* Both at most nr_ents (peek validated the snapshot). */
	b->avail0 = n < 0 ? 0 : n;
	want = (size_t)b->avail0 * slot_size;
	left = (size_t)(b->top - b->cslot);
	if (want <= left) {
		b->cend = b->cslot + want;
		b->cmore = 0;
	} else {
		/* The snapshot wraps: the rest after the first run. */
		b->cend = b->top;
		b->cmore = (uint32_t)((want - left) / slot_size);
	}
	b->space = n < 0 ? 0 : (int32_t)(uint32_t)(r->prod_limit - r->prod_pvt);
	b->space0 = b->space;
	b->role = r->role;
	return n;
}

/* Entries left in the batch's snapshot / slots we may produce now. */
PVK__RING_INLINE uint32_t pvk_ring_batch_avail(const struct pvk_ring_batch *b)
{
	return (uint32_t)((size_t)(b->cend - b->cslot) / b->slot_size) +
	       b->cmore;
}
PVK__RING_INLINE uint32_t pvk_ring_batch_space(const struct pvk_ring_batch *b)
{
	return (uint32_t)b->space;
}

/* Write @b's state back into @r: what it consumed and produced.  The
 * produced entries are published by the next pvk_ring_push(). */
PVK__RING_INLINE void pvk_ring_batch_end(struct pvk_ring *r,
					 const struct pvk_ring_batch *b)
{
	uint32_t took = (uint32_t)b->avail0 - pvk_ring_batch_avail(b);

	/* Each entry consumed frees a slot (front) or owes a response
	 * (back); an empty batch from a failed begin changes nothing. */
	r->cons += took;
	r->prod_limit += took;
	r->prod_pvt += (uint32_t)(b->space0 - b->space) + took;
	r->cslot = b->cslot == b->top ? b->base : b->cslot;
	r->pslot = b->pslot;
}

/*
 * How far ahead of the entry it copies out a batch prefetches the slots of
 * its snapshot, in bytes.  The peer wrote those cache lines, so each read
 * is a transfer from the peer's CPU; fetched ahead, several transfers
 * overlap.  The fetch is for writing (where the CPU can): a consumed slot
 * is written by the same end next -- a response goes in the slot of its
 * request, a new request in the slot its response freed.  Only lines
 * wholly inside the published snapshot, which the peer no longer writes:
 * fetching one it is still writing would take it away mid-write.
 */
#define PVK_RING_PREFETCH_BYTES 1024

/* Whether an entry is left to consume: at the end of the first run,
 * move to the part of the snapshot past the wrap. */
PVK__RING_INLINE bool pvk__ring_batch_more(struct pvk_ring_batch *b)
{
	if (b->cslot != b->cend)
		return true;
	if (!b->cmore)
		return false;
	b->cslot = b->base;
	b->cend = b->base + (size_t)b->cmore * b->slot_size;
	b->cmore = 0;
	return true;
}

/* The slot of the next entry of the snapshot, consumed; the caller has
 * checked pvk__ring_batch_more().  Only for the typed wrappers below,
 * which copy the slot and fence it off (PVK__RING_COPY_ONCE): never read
 * it yourself. */
PVK__RING_INLINE const void *pvk__ring_batch_next(struct pvk_ring_batch *b,
						  size_t slot_size)
{
	const unsigned char *slot = b->cslot;
	size_t ahead;

	/* See PVK_RING_PREFETCH_BYTES: a whole number of slots ahead, and
	 * the whole cache line (64 bytes) inside the snapshot. */
	ahead = PVK_RING_PREFETCH_BYTES / slot_size;
	ahead = (ahead ? ahead : 1) * slot_size;
	if ((size_t)(b->cend - slot) >= ahead + 64)
		__builtin_prefetch(slot + ahead, 1, 3);
	b->cslot += slot_size;
	b->space++; /* a freed slot (front), a response owed (back) */
	return slot;
}

/*
 * Copy the @type entry at @slot into *@out, once.  The empty asm claims
 * to rewrite the slot, so the compiler may neither re-load a field from
 * the slot in place of its copy nor move a load of it past this point;
 * unlike a "memory" clobber it leaves everything else (the batch, the
 * caller's variables) in registers, and fields the caller never uses need
 * not be loaded at all.
 */
#define PVK__RING_COPY_ONCE(type, out, slot)                                 \
	do {                                                                 \
		*(out) = *(const type *)(slot);                              \
		__asm__ __volatile__("" : "+m"(*(type *)(uintptr_t)(slot))); \
	} while (0)

/* The next free slot, write-only as pvk_ring_prepare(); NULL if none. */
PVK__RING_INLINE void *pvk__ring_batch_prepare(struct pvk_ring_batch *b)
{
	if (b->space <= 0)
		return (void *)0;
	/* Never NULL (attach refuses a NULL ring): lets a caller's
	 * while ((q = prepare(b))) loop test the space alone. */
	if (!b->pslot)
		__builtin_unreachable();
	return b->pslot;
}

/* Count the prepared slot as produced: 0, or -ENOSPC if there was none. */
PVK__RING_INLINE int pvk_ring_batch_commit(struct pvk_ring_batch *b)
{
	if (b->space <= 0)
		return -ENOSPC;
	b->space--;
	b->pslot += b->slot_size;
	if (b->pslot == b->top)
		b->pslot = b->base;
	return 0;
}

/*
 * PVK_RING_DEFINE(name, req_t, rsp_t) declares the shared-page type
 * (byte-identical to Xen's DEFINE_RING_TYPES(name, req_t, rsp_t)) and typed
 * wrappers:
 *
 *   union name_sring_entry, struct name_sring
 *   int  name_front_init(struct pvk_ring *, struct name_sring *, size_t bytes)
 *   int  name_back_attach(struct pvk_ring *, struct name_sring *, size_t bytes)
 *   int  name_put_request(struct pvk_ring *, const req_t *)
 *   int  name_get_request(struct pvk_ring *, req_t *)
 *   int  name_put_response(struct pvk_ring *, const rsp_t *)
 *   int  name_get_response(struct pvk_ring *, rsp_t *)
 *   req_t *name_prepare_request(struct pvk_ring *)   (front; see
 *   rsp_t *name_prepare_response(struct pvk_ring *)   pvk_ring_prepare)
 *   uint32_t name_ring_size(size_t bytes)
 *
 * and their batched forms (see "Batched producing and consuming"):
 *
 *   union name_sring_entry *name_prepare_requests(struct pvk_ring *,
 *                                                 uint32_t *n)   (front)
 *   union name_sring_entry *name_prepare_responses(struct pvk_ring *,
 *                                                  uint32_t *n)  (back)
 *       a run of *n free slots: build e[0..*n-1].req (.rsp) in place,
 *       then pvk_ring_commit_n(r, *n).  NULL, *n = 0: no space, broken,
 *       or the wrong end.
 *   int name_put_requests(struct pvk_ring *, const req_t *, uint32_t n)
 *   int name_put_responses(struct pvk_ring *, const rsp_t *, uint32_t n)
 *       copy up to n entries in; the number copied, or -errno.
 *   int name_get_requests(struct pvk_ring *, req_t *, uint32_t max)
 *   int name_get_responses(struct pvk_ring *, rsp_t *, uint32_t max)
 *       copy up to max ready entries out; the number copied, or -errno.
 *   int name_batch_begin(struct pvk_ring *, struct pvk_ring_batch *)
 *       start a batch; pvk_ring_batch_end() ends it.
 *   int name_batch_get_request(struct pvk_ring_batch *, req_t *)  (back)
 *   int name_batch_get_response(struct pvk_ring_batch *, rsp_t *) (front)
 *       1 if an entry was copied, 0 if the batch's snapshot is used up.
 *   req_t *name_batch_prepare_request(struct pvk_ring_batch *)    (front)
 *   rsp_t *name_batch_prepare_response(struct pvk_ring_batch *)   (back)
 *       the next free slot, or NULL; then pvk_ring_batch_commit().
 * Each returns -EINVAL (NULL) when called on the wrong end, or on a ring
 * attached with another slot size.
 */
#define PVK_RING_DEFINE(name, req_t, rsp_t)                                    \
	union name##_sring_entry {                                             \
		req_t req;                                                     \
		rsp_t rsp;                                                     \
	};                                                                     \
	struct name##_sring {                                                  \
		pvk_ring_idx_t req_prod, req_event;                            \
		pvk_ring_idx_t rsp_prod, rsp_event;                            \
		uint8_t pvt[4];                                                \
		uint8_t pad[44];                                               \
		union name##_sring_entry ring[];                               \
	};                                                                     \
	_Static_assert(offsetof(struct name##_sring, ring) ==                  \
			       PVK_RING_HDR_SIZE,                              \
		       #name " ring ABI");                                     \
	static inline uint32_t name##_ring_size(size_t bytes)                  \
	{                                                                      \
		return pvk_ring_nr_ents(bytes,                                 \
					sizeof(union name##_sring_entry));     \
	}                                                                      \
	PVK__RING_INLINE int name##_front_init(                                \
		struct pvk_ring *r, struct name##_sring *s, size_t bytes)      \
	{                                                                      \
		return pvk__ring_attach(r, PVK_RING_FRONT, s, bytes,           \
					sizeof(union name##_sring_entry),      \
					sizeof(req_t), sizeof(rsp_t), 0,       \
					true);                                 \
	}                                                                      \
	PVK__RING_INLINE int name##_back_attach(                               \
		struct pvk_ring *r, struct name##_sring *s, size_t bytes)      \
	{                                                                      \
		return pvk__ring_attach(r, PVK_RING_BACK, s, bytes,            \
					sizeof(union name##_sring_entry),      \
					sizeof(req_t), sizeof(rsp_t), 0,       \
					false);                                \
	}                                                                      \
	static inline int name##_put_request(struct pvk_ring *r,               \
					     const req_t *req)                 \
	{                                                                      \
		if (r->role != PVK_RING_FRONT)                                 \
			return -EINVAL;                                        \
		return pvk_ring_put(r, req, sizeof(*req));                     \
	}                                                                      \
	static inline int name##_get_request(struct pvk_ring *r, req_t *req)   \
	{                                                                      \
		if (r->role != PVK_RING_BACK)                                  \
			return -EINVAL;                                        \
		return pvk_ring_get(r, req, sizeof(*req));                     \
	}                                                                      \
	static inline int name##_put_response(struct pvk_ring *r,              \
					      const rsp_t *rsp)                \
	{                                                                      \
		if (r->role != PVK_RING_BACK)                                  \
			return -EINVAL;                                        \
		return pvk_ring_put(r, rsp, sizeof(*rsp));                     \
	}                                                                      \
	static inline req_t *name##_prepare_request(struct pvk_ring *r)        \
	{                                                                      \
		if (r->role != PVK_RING_FRONT)                                 \
			return (req_t *)0;                                     \
		return (req_t *)pvk_ring_prepare(r);                           \
	}                                                                      \
	static inline rsp_t *name##_prepare_response(struct pvk_ring *r)       \
	{                                                                      \
		if (r->role != PVK_RING_BACK)                                  \
			return (rsp_t *)0;                                     \
		return (rsp_t *)pvk_ring_prepare(r);                           \
	}                                                                      \
	static inline int name##_get_response(struct pvk_ring *r, rsp_t *rsp)  \
	{                                                                      \
		if (r->role != PVK_RING_FRONT)                                 \
			return -EINVAL;                                        \
		return pvk_ring_get(r, rsp, sizeof(*rsp));                     \
	}                                                                      \
	static inline union name##_sring_entry *name##_prepare_requests(       \
		struct pvk_ring *r, uint32_t *n)                               \
	{                                                                      \
		if (r->role != PVK_RING_FRONT) {                               \
			*n = 0;                                                \
			return (union name##_sring_entry *)0;                  \
		}                                                              \
		return (union name##_sring_entry *)pvk__ring_prepare_run(      \
			r, sizeof(union name##_sring_entry), n);               \
	}                                                                      \
	static inline union name##_sring_entry *name##_prepare_responses(      \
		struct pvk_ring *r, uint32_t *n)                               \
	{                                                                      \
		if (r->role != PVK_RING_BACK) {                                \
			*n = 0;                                                \
			return (union name##_sring_entry *)0;                  \
		}                                                              \
		return (union name##_sring_entry *)pvk__ring_prepare_run(      \
			r, sizeof(union name##_sring_entry), n);               \
	}                                                                      \
	static inline int name##_put_requests(struct pvk_ring *r,              \
					      const req_t *in, uint32_t n)     \
	{                                                                      \
		if (r->role != PVK_RING_FRONT)                                 \
			return -EINVAL;                                        \
		return pvk__ring_put_n(r, in, sizeof(req_t),                   \
				       sizeof(union name##_sring_entry), n);   \
	}                                                                      \
	static inline int name##_put_responses(struct pvk_ring *r,             \
					       const rsp_t *in, uint32_t n)    \
	{                                                                      \
		if (r->role != PVK_RING_BACK)                                  \
			return -EINVAL;                                        \
		return pvk__ring_put_n(r, in, sizeof(rsp_t),                   \
				       sizeof(union name##_sring_entry), n);   \
	}                                                                      \
	static inline int name##_get_requests(struct pvk_ring *r, req_t *out,  \
					      uint32_t max)                    \
	{                                                                      \
		if (r->role != PVK_RING_BACK)                                  \
			return -EINVAL;                                        \
		return pvk__ring_get_n(r, out, sizeof(req_t),                  \
				       sizeof(union name##_sring_entry), max); \
	}                                                                      \
	static inline int name##_get_responses(struct pvk_ring *r, rsp_t *out, \
					       uint32_t max)                   \
	{                                                                      \
		if (r->role != PVK_RING_FRONT)                                 \
			return -EINVAL;                                        \
		return pvk__ring_get_n(r, out, sizeof(rsp_t),                  \
				       sizeof(union name##_sring_entry), max); \
	}                                                                      \
	PVK__RING_INLINE int name##_batch_begin(struct pvk_ring *r,            \
						struct pvk_ring_batch *b)      \
	{                                                                      \
		return pvk__ring_batch_begin(                                  \
			r, b, sizeof(union name##_sring_entry));               \
	}                                                                      \
	PVK__RING_INLINE int name##_batch_get_request(                         \
		struct pvk_ring_batch *b, req_t *req)                          \
	{                                                                      \
		if (b->role != PVK_RING_BACK)                                  \
			return -EINVAL;                                        \
		const void *slot_;                                             \
		if (!pvk__ring_batch_more(b))                                  \
			return 0;                                              \
		slot_ = pvk__ring_batch_next(                                  \
			b, sizeof(union name##_sring_entry));                  \
		PVK__RING_COPY_ONCE(req_t, req, slot_);                        \
		return 1;                                                      \
	}                                                                      \
	PVK__RING_INLINE int name##_batch_get_response(                        \
		struct pvk_ring_batch *b, rsp_t *rsp)                          \
	{                                                                      \
		if (b->role != PVK_RING_FRONT)                                 \
			return -EINVAL;                                        \
		const void *slot_;                                             \
		if (!pvk__ring_batch_more(b))                                  \
			return 0;                                              \
		slot_ = pvk__ring_batch_next(                                  \
			b, sizeof(union name##_sring_entry));                  \
		PVK__RING_COPY_ONCE(rsp_t, rsp, slot_);                        \
		return 1;                                                      \
	}                                                                      \
	PVK__RING_INLINE req_t *name##_batch_prepare_request(                  \
		struct pvk_ring_batch *b)                                      \
	{                                                                      \
		if (b->role != PVK_RING_FRONT)                                 \
			return (req_t *)0;                                     \
		return (req_t *)pvk__ring_batch_prepare(b);                    \
	}                                                                      \
	PVK__RING_INLINE rsp_t *name##_batch_prepare_response(                 \
		struct pvk_ring_batch *b)                                      \
	{                                                                      \
		if (b->role != PVK_RING_BACK)                                  \
			return (rsp_t *)0;                                     \
		return (rsp_t *)pvk__ring_batch_prepare(b);                    \
	}                                                                      \
	struct name##_sring

#ifdef __cplusplus
}
#endif

#endif /* PVKIT_RING_H */
