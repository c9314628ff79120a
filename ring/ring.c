/* SPDX-License-Identifier: MIT */
/* Ring attach, out of line: the only symbol of libpvkit-ring.
 * Freestanding. */
#include <pvkit/ring.h>

int pvk_ring_attach(struct pvk_ring *r, enum pvk_ring_role role, void *sring,
		    size_t bytes, size_t slot_size, size_t req_size,
		    size_t rsp_size, pvk_ring_idx_t start, bool init)
{
	return pvk__ring_attach(r, role, sring, bytes, slot_size, req_size,
				rsp_size, start, init);
}
