/* SPDX-License-Identifier: MIT */
/*
 * pvkit/blkif.h -- the block-device ring protocol, Xen's io/blkif.h wire
 * format (native x86_64/arm64 layout; the x86_32 ABI is not supported).
 * Part of libpvkit-ring (pkg-config pvkit-ring); freestanding.
 *
 * Request types share one 112-byte slot:
 *   struct pvk_blkif_request           READ, WRITE, WRITE_BARRIER,
 *                                      FLUSH_DISKCACHE (<= 11 segments)
 *   struct pvk_blkif_request_discard   DISCARD
 *   struct pvk_blkif_request_indirect  INDIRECT (segments in granted pages)
 * A consumer copies the slot once into union pvk_blkif_any_request
 * (pvk_blkif_get_request) and decodes from that copy.
 *
 * Validation a consumer must do on the copy (pvk_blkif_check_request does
 * the protocol-level part): operation known; nr_segments 1..11 for
 * READ/WRITE (0 allowed for FLUSH/BARRIER), 1..max-indirect-segments for
 * INDIRECT; first_sect <= last_sect < 8 in every segment (4096-byte pages,
 * 512-byte sectors); the sector range inside the disk -- the last one
 * needs the disk size and is the backend's.
 */
#ifndef PVKIT_BLKIF_H
#define PVKIT_BLKIF_H

#include <pvkit/ring.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef uint64_t pvk_blkif_sector_t;
typedef uint16_t pvk_blkif_vdev_t;

#define PVK_BLKIF_OP_READ 0
#define PVK_BLKIF_OP_WRITE 1
#define PVK_BLKIF_OP_WRITE_BARRIER 2
#define PVK_BLKIF_OP_FLUSH_DISKCACHE 3
#define PVK_BLKIF_OP_DISCARD 5
#define PVK_BLKIF_OP_INDIRECT 6

#define PVK_BLKIF_MAX_SEGMENTS_PER_REQUEST 11
#define PVK_BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST 8
#define PVK_BLKIF_SECTOR_SIZE 512u
#define PVK_BLKIF_SECTORS_PER_PAGE (PVK_PAGE_SIZE / PVK_BLKIF_SECTOR_SIZE)

#define PVK_BLKIF_RSP_EOPNOTSUPP (-2)
#define PVK_BLKIF_RSP_ERROR (-1)
#define PVK_BLKIF_RSP_OKAY 0

#define PVK_BLKIF_DISCARD_SECURE (1u << 0)

#define PVK_VDISK_CDROM 0x1
#define PVK_VDISK_REMOVABLE 0x2
#define PVK_VDISK_READONLY 0x4

struct pvk_blkif_request_segment {
	pvk_grant_ref_t gref;
	uint8_t first_sect, last_sect; /* inclusive, 512-byte sectors */
};

struct pvk_blkif_request {
	uint8_t operation;
	uint8_t nr_segments;
	pvk_blkif_vdev_t handle;
	uint64_t id; /* frontend's cookie, echoed in the response */
	pvk_blkif_sector_t sector_number;
	struct pvk_blkif_request_segment seg[PVK_BLKIF_MAX_SEGMENTS_PER_REQUEST];
};

struct pvk_blkif_request_discard {
	uint8_t operation; /* PVK_BLKIF_OP_DISCARD */
	uint8_t flag; /* PVK_BLKIF_DISCARD_SECURE or 0 */
	pvk_blkif_vdev_t handle;
	uint64_t id;
	pvk_blkif_sector_t sector_number;
	uint64_t nr_sectors;
};

struct pvk_blkif_request_indirect {
	uint8_t operation; /* PVK_BLKIF_OP_INDIRECT */
	uint8_t indirect_op; /* READ or WRITE */
	uint16_t nr_segments;
	uint64_t id;
	pvk_blkif_sector_t sector_number;
	pvk_blkif_vdev_t handle;
	pvk_grant_ref_t indirect_grefs[PVK_BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST];
};

struct pvk_blkif_response {
	uint64_t id;
	uint8_t operation;
	int16_t status;
};

/* Segments per indirect page, and the most one request can carry. */
#define PVK_BLKIF_SEGS_PER_INDIRECT_PAGE \
	(PVK_PAGE_SIZE / sizeof(struct pvk_blkif_request_segment))
#define PVK_BLKIF_MAX_INDIRECT_SEGMENTS     \
	(PVK_BLKIF_SEGS_PER_INDIRECT_PAGE * \
	 PVK_BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST)

union pvk_blkif_any_request {
	struct pvk_blkif_request rw;
	struct pvk_blkif_request_discard discard;
	struct pvk_blkif_request_indirect indirect;
	struct {
		uint8_t operation;
	} hdr;
};

_Static_assert(sizeof(struct pvk_blkif_request_segment) == 8, "blkif ABI");
_Static_assert(sizeof(struct pvk_blkif_request) == 112, "blkif ABI");
_Static_assert(offsetof(struct pvk_blkif_request, id) == 8, "blkif ABI");
_Static_assert(offsetof(struct pvk_blkif_request, seg) == 24, "blkif ABI");
_Static_assert(sizeof(struct pvk_blkif_request_discard) == 32, "blkif ABI");
_Static_assert(sizeof(struct pvk_blkif_request_indirect) == 64, "blkif ABI");
_Static_assert(offsetof(struct pvk_blkif_request_indirect, handle) == 24,
	       "blkif ABI");
_Static_assert(sizeof(struct pvk_blkif_response) == 16, "blkif ABI");
_Static_assert(sizeof(union pvk_blkif_any_request) ==
		       sizeof(struct pvk_blkif_request),
	       "blkif ABI");

PVK_RING_DEFINE(pvk_blkif, struct pvk_blkif_request, struct pvk_blkif_response);
_Static_assert(sizeof(union pvk_blkif_sring_entry) == 112, "blkif ABI");

/* Backend: copy the next request slot, whatever its type, once. */
static inline int pvk_blkif_get_any_request(struct pvk_ring *r,
					    union pvk_blkif_any_request *req)
{
	if (r->role != PVK_RING_BACK)
		return -EINVAL;
	return pvk_ring_get(r, req, sizeof(*req));
}

/* Frontend: queue a discard or indirect request (same slot as a rw one). */
static inline int
pvk_blkif_put_any_request(struct pvk_ring *r,
			  const union pvk_blkif_any_request *req)
{
	if (r->role != PVK_RING_FRONT)
		return -EINVAL;
	return pvk_ring_put(r, req, sizeof(*req));
}

/*
 * Protocol-level validation of a copied request, independent of disk
 * size and grant state.  @max_indirect_segs is what the backend advertised
 * (0 if it did not offer feature-max-indirect-segments).  Returns 0 or
 * -EPROTO for a request no correct frontend sends, and sets *@why.
 * Unknown operations return -EOPNOTSUPP (answer BLKIF_RSP_EOPNOTSUPP).
 */
static inline int
pvk_blkif_check_segment(const struct pvk_blkif_request_segment *s)
{
	return s->first_sect <= s->last_sect &&
	       s->last_sect < PVK_BLKIF_SECTORS_PER_PAGE;
}

static inline int
pvk_blkif_check_request(const union pvk_blkif_any_request *req,
			uint32_t max_indirect_segs, const char **why)
{
	unsigned int i, n;

	switch (req->hdr.operation) {
	case PVK_BLKIF_OP_READ:
	case PVK_BLKIF_OP_WRITE:
	case PVK_BLKIF_OP_WRITE_BARRIER:
	case PVK_BLKIF_OP_FLUSH_DISKCACHE:
		n = req->rw.nr_segments;
		if (n > PVK_BLKIF_MAX_SEGMENTS_PER_REQUEST ||
		    (n == 0 && (req->hdr.operation == PVK_BLKIF_OP_READ ||
				req->hdr.operation == PVK_BLKIF_OP_WRITE))) {
			*why = "bad nr_segments";
			return -EPROTO;
		}
		for (i = 0; i < n; i++) {
			if (!pvk_blkif_check_segment(&req->rw.seg[i])) {
				*why = "bad segment sector range";
				return -EPROTO;
			}
		}
		return 0;
	case PVK_BLKIF_OP_DISCARD:
		return 0;
	case PVK_BLKIF_OP_INDIRECT:
		if (req->indirect.indirect_op != PVK_BLKIF_OP_READ &&
		    req->indirect.indirect_op != PVK_BLKIF_OP_WRITE) {
			*why = "bad indirect_op";
			return -EPROTO;
		}
		if (!max_indirect_segs || req->indirect.nr_segments == 0 ||
		    req->indirect.nr_segments > max_indirect_segs ||
		    req->indirect.nr_segments >
			    PVK_BLKIF_MAX_INDIRECT_SEGMENTS) {
			*why = "bad indirect nr_segments";
			return -EPROTO;
		}
		return 0;
	default:
		*why = "unknown operation";
		return -EOPNOTSUPP;
	}
}

/* Indirect pages needed for @segs segments. */
static inline uint32_t pvk_blkif_indirect_pages(uint32_t segs)
{
	return (segs + PVK_BLKIF_SEGS_PER_INDIRECT_PAGE - 1) /
	       PVK_BLKIF_SEGS_PER_INDIRECT_PAGE;
}

#ifdef __cplusplus
}
#endif

#endif /* PVKIT_BLKIF_H */
