/* SPDX-License-Identifier: MIT */
/* Ring attach: the only out-of-line part of libpvkit-ring. Freestanding. */
#include <pvkit/ring.h>

int pvk_ring_attach(struct pvk_ring *r, enum pvk_ring_role role, void *sring,
		    size_t bytes, size_t slot_size, size_t req_size,
		    size_t rsp_size, pvk_ring_idx_t start, bool init)
{
	uint32_t n = pvk_ring_nr_ents(bytes, slot_size);
	struct pvk_sring *s = sring;
	bool front = role == PVK_RING_FRONT;

	if (!r || !sring || !n || ((uintptr_t)sring & 7) ||
	    (role != PVK_RING_FRONT && role != PVK_RING_BACK) ||
	    req_size > slot_size || rsp_size > slot_size ||
	    bytes > ((size_t)PVK_PAGE_SIZE << PVK_RING_MAX_ORDER))
		return -EINVAL;

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
