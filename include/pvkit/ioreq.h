/* SPDX-License-Identifier: MIT */
/*
 * pvkit/ioreq.h -- emulated I/O requests between a vCPU and a device
 * model: Xen's public hvm/ioreq.h wire format (x86_64), with accessors
 * instead of bitfields.  Part of libpvkit-ring (pkg-config pvkit-ring);
 * freestanding, header-only.
 *
 * The synchronous page (shared_iopage) has one 32-byte struct pvk_ioreq per
 * vCPU.  Its life, with the owner of each step:
 *
 *   hypervisor  fills every field, then stores state IOREQ_READY (release)
 *               and notifies the vCPU's event channel (vp_eport);
 *   device model  loads state (acquire) and copies the slot once
 *               (pvk_ioreq_get); may store IOREQ_INPROCESS; emulates; for
 *               a read stores data; stores IORESP_READY (release, after
 *               data) and notifies vp_eport;
 *   hypervisor  loads state (acquire): IORESP_READY -> takes data, stores
 *               IOREQ_NONE and resumes the vCPU.
 *
 * States only move forward (NONE -> READY -> INPROCESS -> IORESP_READY ->
 * NONE).  A device model that writes anything else is broken: Xen crashes
 * the guest; pvkit's hypervisors (loop, simulator) fail that access with
 * -EPROTO.  Either side treats the slot as hostile: copy once, then
 * validate (pvk_ioreq_check on the device model's side).
 *
 * @data_is_ptr: @data is the guest-physical address of @count items of
 * @size bytes (rep ins/outs, rep movs to MMIO), walked backwards when @df.
 * Otherwise @data is the value (@count is 1).
 *
 * The buffered page (buffered_iopage) is a ring of 511 8-byte writes that
 * need no answer: the hypervisor writes slots then write_pointer, the
 * device model reads slots then read_pointer; both free-running.  An 8-byte
 * write takes two slots (low half, high half).
 */
#ifndef PVKIT_IOREQ_H
#define PVKIT_IOREQ_H

#include <pvkit/ring.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PVK_IOREQ_NONE 0 /* slot free */
#define PVK_IOREQ_READY 1 /* posted by the hypervisor */
#define PVK_IOREQ_INPROCESS 2 /* taken by the device model */
#define PVK_IORESP_READY 3 /* answered by the device model */

#define PVK_IOREQ_TYPE_PIO 0 /* port I/O */
#define PVK_IOREQ_TYPE_COPY 1 /* MMIO */
#define PVK_IOREQ_TYPE_PCI_CONFIG 2
#define PVK_IOREQ_TYPE_TIMEOFFSET 7
#define PVK_IOREQ_TYPE_INVALIDATE 8 /* map cache */

#define PVK_IOREQ_WRITE 0
#define PVK_IOREQ_READ 1

/* struct pvk_ioreq.flags: Xen's state:4, data_is_ptr:1, dir:1, df:1. */
#define PVK_IOREQ_F_STATE 0x0fu
#define PVK_IOREQ_F_DATA_IS_PTR 0x10u
#define PVK_IOREQ_F_DIR_READ 0x20u
#define PVK_IOREQ_F_DF 0x40u

struct pvk_ioreq {
	uint64_t addr; /* port, guest-physical address, or PCI SBDF+reg */
	uint64_t data; /* value, or guest-physical address (data_is_ptr) */
	uint32_t count; /* items, for rep prefixes */
	uint32_t size; /* bytes per item: 1, 2, 4 or 8 */
	uint32_t vp_eport; /* the vCPU's event channel (device model side) */
	uint16_t pad0;
	uint8_t flags; /* PVK_IOREQ_F_* */
	uint8_t type; /* PVK_IOREQ_TYPE_* */
};

#define PVK_IOREQ_MAX_VCPUS (PVK_PAGE_SIZE / sizeof(struct pvk_ioreq))

/* Buffered writes: word = type | dir << 9 | size code << 10 | addr << 12
 * (Xen's type:8, pad:1, dir:1, size:2, addr:20). */
struct pvk_buf_ioreq {
	uint32_t word;
	uint32_t data;
};

#define PVK_BUF_IOREQ_SLOTS 511u

struct pvk_buf_iopage {
	uint32_t read_pointer;
	uint32_t write_pointer;
	struct pvk_buf_ioreq slot[PVK_BUF_IOREQ_SLOTS];
};

/* The bits an access of @size bytes carries: what a read with nobody to
 * answer returns (all-ones), and what a value is cut to. */
static inline uint64_t pvk_ioreq_size_mask(unsigned int size)
{
	return size >= 8 ? ~0ull : (1ull << (size * 8)) - 1;
}

static inline unsigned int pvk_ioreq_state(const struct pvk_ioreq *r)
{
	return r->flags & PVK_IOREQ_F_STATE;
}

static inline bool pvk_ioreq_is_read(const struct pvk_ioreq *r)
{
	return r->flags & PVK_IOREQ_F_DIR_READ;
}

/* The state of a slot in shared memory (acquire: the fields the peer
 * wrote before it are visible after). */
static inline unsigned int pvk_ioreq_load_state(const struct pvk_ioreq *slot)
{
	return __atomic_load_n(&slot->flags, __ATOMIC_ACQUIRE) &
	       PVK_IOREQ_F_STATE;
}

/* Publish @state (release: every field written before it is visible to
 * the peer that loads it), keeping the other flag bits. */
static inline void pvk_ioreq_store_state(struct pvk_ioreq *slot,
					 unsigned int state)
{
	uint8_t f = __atomic_load_n(&slot->flags, __ATOMIC_RELAXED);

	__atomic_store_n(&slot->flags,
			 (uint8_t)((f & ~PVK_IOREQ_F_STATE) |
				   (state & PVK_IOREQ_F_STATE)),
			 __ATOMIC_RELEASE);
}

/*
 * The vCPU's side of a posted request: one look at its slot, as Xen
 * handles the device model's answer.  The slot is the device model's to
 * write, so its state and data are each read once.  Returns 1 when done:
 * IORESP_READY (a read's value into @req->data, the slot back to NONE) or
 * NONE (the device model gave up: a read gets all-ones); 0 while the
 * request is still READY/INPROCESS (@*prev, starting at READY, follows
 * it); -EPROTO for a state that went backwards or is no state at all.
 */
static inline int pvk_ioreq_answer(struct pvk_ioreq *slot,
				   struct pvk_ioreq *req, unsigned int *prev)
{
	unsigned int st = pvk_ioreq_load_state(slot);

	if (st == PVK_IOREQ_NONE) {
		req->data = pvk_ioreq_size_mask(req->size);
		return 1;
	}
	if (st == PVK_IORESP_READY) {
		if (pvk_ioreq_is_read(req) &&
		    !(req->flags & PVK_IOREQ_F_DATA_IS_PTR))
			req->data = *(volatile uint64_t *)&slot->data &
				    pvk_ioreq_size_mask(req->size);
		pvk_ioreq_store_state(slot, PVK_IOREQ_NONE);
		return 1;
	}
	if (st < *prev || st > PVK_IORESP_READY)
		return -EPROTO;
	*prev = st;
	return 0;
}

/* Copy a slot whose state was loaded (acquire) once; the copy is what
 * gets validated and used, never the slot again. */
static inline void pvk_ioreq_get(const struct pvk_ioreq *slot,
				 struct pvk_ioreq *out)
{
	const volatile struct pvk_ioreq *s = slot;

	out->addr = s->addr;
	out->data = s->data;
	out->count = s->count;
	out->size = s->size;
	out->vp_eport = s->vp_eport;
	out->pad0 = s->pad0;
	out->flags = s->flags;
	out->type = s->type;
}

/*
 * The device model's check of a copied request: a size of 1, 2, 4 or 8;
 * a count of at least 1 (exactly 1 unless data_is_ptr); a known type; a
 * port below 65536 and at most 4 bytes for PIO; an address range (count * size bytes, walked
 * down when df) that does not wrap.  0 or -EINVAL.
 */
static inline int pvk_ioreq_check(const struct pvk_ioreq *r)
{
	uint64_t span;

	if (r->size != 1 && r->size != 2 && r->size != 4 && r->size != 8)
		return -EINVAL;
	if (r->count == 0 ||
	    (!(r->flags & PVK_IOREQ_F_DATA_IS_PTR) && r->count != 1))
		return -EINVAL;
	switch (r->type) {
	case PVK_IOREQ_TYPE_PIO:
		/* x86 port I/O is 1, 2 or 4 bytes. */
		if (r->size == 8 || r->addr > 0xffff ||
		    r->addr + r->size > 0x10000)
			return -EINVAL;
		break;
	case PVK_IOREQ_TYPE_COPY:
		span = (uint64_t)r->count * r->size;
		if (r->flags & PVK_IOREQ_F_DF ? r->addr + r->size < span :
						r->addr + span < r->addr)
			return -EINVAL;
		break;
	case PVK_IOREQ_TYPE_PCI_CONFIG:
	case PVK_IOREQ_TYPE_TIMEOFFSET:
	case PVK_IOREQ_TYPE_INVALIDATE:
		break;
	default:
		return -EINVAL;
	}
	return 0;
}

/* A buffered write's fields; size in bytes (1, 2, 4 or 8). */
static inline unsigned int pvk_buf_ioreq_type(const struct pvk_buf_ioreq *b)
{
	return b->word & 0xffu;
}

static inline unsigned int pvk_buf_ioreq_size(const struct pvk_buf_ioreq *b)
{
	return 1u << ((b->word >> 10) & 3u);
}

static inline uint32_t pvk_buf_ioreq_addr(const struct pvk_buf_ioreq *b)
{
	return b->word >> 12;
}

#ifdef __cplusplus
}
#endif

#endif /* PVKIT_IOREQ_H */
