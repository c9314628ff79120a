/* SPDX-License-Identifier: MIT */
/*
 * test-ring: libpvkit-ring (ring.h, blkif.h, netif.h) against Xen's own
 * public io/ring.h, io/blkif.h and io/netif.h.
 *
 *  - wire ABI: compile-time equality of every shared struct, field and
 *    constant, and of the ring sizes for 1..16 pages;
 *  - interop: one end driven by Xen's macros, the other by pvkit, both
 *    directions, every ring order, across the index wrap at 2^32;
 *  - event suppression: pvkit's notify decision equals Xen's macro's for
 *    random (old, new, event) triples; a sleeping end is always woken;
 *  - hostile peers: producer far ahead or behind, ids out of range, slots
 *    rewritten while (and after) they are consumed, bad arguments;
 *  - no lost wake-up: two threads exchanging millions of messages with
 *    eventfd notifications only when push asks for one.
 *
 * Environment: PVK_TEST_SEED (random seed), PVK_RING_WAKE_ROUNDTRIPS
 * (round trips of the pvkit<->pvkit wake-up test; default 1000000, a tenth
 * under valgrind).
 */
#define __XEN_TOOLS__ 1 /* Xen's ring.h in userspace: the tools' barriers */

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

/* xen_mb/xen_rmb/xen_wmb exactly as every Xen tool gets them. */
#include <xenctrl.h>
#include <xen/io/ring.h>
#include <xen/io/blkif.h>
#include <xen/io/netif.h>

#include <pvkit/blkif.h>
#include <pvkit/netif.h>

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

/* ------------------------------------------------------------------ */
/* Wire ABI: pvkit's types are Xen's, byte for byte.                   */

#define T_MEMBER_SIZE(t, f) sizeof(((t *)0)->f)
#define T_SAME_FIELD(pt, pf, xt, xf)                                           \
	_Static_assert(offsetof(pt, pf) == offsetof(xt, xf) &&                 \
			       T_MEMBER_SIZE(pt, pf) == T_MEMBER_SIZE(xt, xf), \
		       #pt "." #pf " != " #xt "." #xf)
#define T_SAME_TYPE(pt, xt)                                  \
	_Static_assert(sizeof(pt) == sizeof(xt) &&           \
			       _Alignof(pt) == _Alignof(xt), \
		       #pt " != " #xt)
#define T_SAME_CONST(p, x) _Static_assert((p) == (x), #p " != " #x)

/* The shared page: header, entry union, entries. */
#define T_SAME_SRING(pn, xn)                                              \
	T_SAME_FIELD(struct pn##_sring, req_prod, struct xn##_sring,      \
		     req_prod);                                           \
	T_SAME_FIELD(struct pn##_sring, req_event, struct xn##_sring,     \
		     req_event);                                          \
	T_SAME_FIELD(struct pn##_sring, rsp_prod, struct xn##_sring,      \
		     rsp_prod);                                           \
	T_SAME_FIELD(struct pn##_sring, rsp_event, struct xn##_sring,     \
		     rsp_event);                                          \
	T_SAME_FIELD(struct pn##_sring, pvt, struct xn##_sring, pvt);     \
	T_SAME_FIELD(struct pn##_sring, pad, struct xn##_sring, __pad);   \
	_Static_assert(offsetof(struct pn##_sring, ring) ==               \
			       offsetof(struct xn##_sring, ring),         \
		       #pn " entries offset");                            \
	T_SAME_TYPE(union pn##_sring_entry, union xn##_sring_entry);      \
	T_SAME_FIELD(union pn##_sring_entry, req, union xn##_sring_entry, \
		     req);                                                \
	T_SAME_FIELD(union pn##_sring_entry, rsp, union xn##_sring_entry, rsp)

/* Ring sizes: pvkit's constant expression == Xen's, 1..16 pages. */
#define T_SAME_RSIZE(pn, xn, pages)                                       \
	_Static_assert(                                                   \
		PVK_RING_NR_ENTS_CONST((pages)*4096u,                     \
				       sizeof(union pn##_sring_entry)) == \
			__CONST_RING_SIZE(xn, (pages)*4096u),             \
		#pn " ring size, " #pages " pages")
#define T_SAME_RSIZES(pn, xn)     \
	T_SAME_RSIZE(pn, xn, 1);  \
	T_SAME_RSIZE(pn, xn, 2);  \
	T_SAME_RSIZE(pn, xn, 3);  \
	T_SAME_RSIZE(pn, xn, 4);  \
	T_SAME_RSIZE(pn, xn, 5);  \
	T_SAME_RSIZE(pn, xn, 6);  \
	T_SAME_RSIZE(pn, xn, 7);  \
	T_SAME_RSIZE(pn, xn, 8);  \
	T_SAME_RSIZE(pn, xn, 9);  \
	T_SAME_RSIZE(pn, xn, 10); \
	T_SAME_RSIZE(pn, xn, 11); \
	T_SAME_RSIZE(pn, xn, 12); \
	T_SAME_RSIZE(pn, xn, 13); \
	T_SAME_RSIZE(pn, xn, 14); \
	T_SAME_RSIZE(pn, xn, 15); \
	T_SAME_RSIZE(pn, xn, 16)

T_SAME_CONST(PVK_RING_HDR_SIZE, offsetof(struct blkif_sring, ring));
T_SAME_FIELD(struct pvk_sring, req_prod, struct blkif_sring, req_prod);
T_SAME_FIELD(struct pvk_sring, req_event, struct blkif_sring, req_event);
T_SAME_FIELD(struct pvk_sring, rsp_prod, struct blkif_sring, rsp_prod);
T_SAME_FIELD(struct pvk_sring, rsp_event, struct blkif_sring, rsp_event);
T_SAME_FIELD(struct pvk_sring, pvt, struct blkif_sring, pvt);
T_SAME_FIELD(struct pvk_sring, pad, struct blkif_sring, __pad);
_Static_assert(sizeof(pvk_ring_idx_t) == sizeof(RING_IDX), "RING_IDX");
_Static_assert(sizeof(pvk_grant_ref_t) == sizeof(grant_ref_t), "grant_ref_t");

T_SAME_SRING(pvk_blkif, blkif);
T_SAME_SRING(pvk_netif_tx, netif_tx);
T_SAME_SRING(pvk_netif_rx, netif_rx);
T_SAME_SRING(pvk_netif_ctrl, xen_netif_ctrl);
T_SAME_RSIZES(pvk_blkif, blkif);
T_SAME_RSIZES(pvk_netif_tx, netif_tx);
T_SAME_RSIZES(pvk_netif_rx, netif_rx);
T_SAME_RSIZES(pvk_netif_ctrl, xen_netif_ctrl);
T_SAME_CONST(PVK_RING_NR_ENTS_CONST(64u + 112u, 112u), 1u);
T_SAME_CONST(PVK_RING_NR_ENTS_CONST(64u + 111u, 112u), 0u);

/* blkif */
T_SAME_TYPE(pvk_blkif_sector_t, blkif_sector_t);
T_SAME_TYPE(pvk_blkif_vdev_t, blkif_vdev_t);
T_SAME_TYPE(struct pvk_blkif_request_segment, struct blkif_request_segment);
T_SAME_FIELD(struct pvk_blkif_request_segment, gref,
	     struct blkif_request_segment, gref);
T_SAME_FIELD(struct pvk_blkif_request_segment, first_sect,
	     struct blkif_request_segment, first_sect);
T_SAME_FIELD(struct pvk_blkif_request_segment, last_sect,
	     struct blkif_request_segment, last_sect);
T_SAME_TYPE(struct pvk_blkif_request, struct blkif_request);
T_SAME_FIELD(struct pvk_blkif_request, operation, struct blkif_request,
	     operation);
T_SAME_FIELD(struct pvk_blkif_request, nr_segments, struct blkif_request,
	     nr_segments);
T_SAME_FIELD(struct pvk_blkif_request, handle, struct blkif_request, handle);
T_SAME_FIELD(struct pvk_blkif_request, id, struct blkif_request, id);
T_SAME_FIELD(struct pvk_blkif_request, sector_number, struct blkif_request,
	     sector_number);
T_SAME_FIELD(struct pvk_blkif_request, seg, struct blkif_request, seg);
T_SAME_TYPE(struct pvk_blkif_request_discard, struct blkif_request_discard);
T_SAME_FIELD(struct pvk_blkif_request_discard, operation,
	     struct blkif_request_discard, operation);
T_SAME_FIELD(struct pvk_blkif_request_discard, flag,
	     struct blkif_request_discard, flag);
T_SAME_FIELD(struct pvk_blkif_request_discard, handle,
	     struct blkif_request_discard, handle);
T_SAME_FIELD(struct pvk_blkif_request_discard, id, struct blkif_request_discard,
	     id);
T_SAME_FIELD(struct pvk_blkif_request_discard, sector_number,
	     struct blkif_request_discard, sector_number);
T_SAME_FIELD(struct pvk_blkif_request_discard, nr_sectors,
	     struct blkif_request_discard, nr_sectors);
T_SAME_TYPE(struct pvk_blkif_request_indirect, struct blkif_request_indirect);
T_SAME_FIELD(struct pvk_blkif_request_indirect, operation,
	     struct blkif_request_indirect, operation);
T_SAME_FIELD(struct pvk_blkif_request_indirect, indirect_op,
	     struct blkif_request_indirect, indirect_op);
T_SAME_FIELD(struct pvk_blkif_request_indirect, nr_segments,
	     struct blkif_request_indirect, nr_segments);
T_SAME_FIELD(struct pvk_blkif_request_indirect, id,
	     struct blkif_request_indirect, id);
T_SAME_FIELD(struct pvk_blkif_request_indirect, sector_number,
	     struct blkif_request_indirect, sector_number);
T_SAME_FIELD(struct pvk_blkif_request_indirect, handle,
	     struct blkif_request_indirect, handle);
T_SAME_FIELD(struct pvk_blkif_request_indirect, indirect_grefs,
	     struct blkif_request_indirect, indirect_grefs);
T_SAME_TYPE(struct pvk_blkif_response, struct blkif_response);
T_SAME_FIELD(struct pvk_blkif_response, id, struct blkif_response, id);
T_SAME_FIELD(struct pvk_blkif_response, operation, struct blkif_response,
	     operation);
T_SAME_FIELD(struct pvk_blkif_response, status, struct blkif_response, status);
_Static_assert(sizeof(struct pvk_blkif_request_discard) <=
			       sizeof(struct blkif_request) &&
		       sizeof(struct pvk_blkif_request_indirect) <=
			       sizeof(struct blkif_request),
	       "every blkif request type fits one slot");
T_SAME_CONST(PVK_BLKIF_OP_READ, BLKIF_OP_READ);
T_SAME_CONST(PVK_BLKIF_OP_WRITE, BLKIF_OP_WRITE);
T_SAME_CONST(PVK_BLKIF_OP_WRITE_BARRIER, BLKIF_OP_WRITE_BARRIER);
T_SAME_CONST(PVK_BLKIF_OP_FLUSH_DISKCACHE, BLKIF_OP_FLUSH_DISKCACHE);
T_SAME_CONST(PVK_BLKIF_OP_DISCARD, BLKIF_OP_DISCARD);
T_SAME_CONST(PVK_BLKIF_OP_INDIRECT, BLKIF_OP_INDIRECT);
T_SAME_CONST(PVK_BLKIF_MAX_SEGMENTS_PER_REQUEST,
	     BLKIF_MAX_SEGMENTS_PER_REQUEST);
T_SAME_CONST(PVK_BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST,
	     BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST);
T_SAME_CONST(PVK_BLKIF_RSP_EOPNOTSUPP, BLKIF_RSP_EOPNOTSUPP);
T_SAME_CONST(PVK_BLKIF_RSP_ERROR, BLKIF_RSP_ERROR);
T_SAME_CONST(PVK_BLKIF_RSP_OKAY, BLKIF_RSP_OKAY);
T_SAME_CONST(PVK_BLKIF_DISCARD_SECURE, BLKIF_DISCARD_SECURE);
T_SAME_CONST(PVK_VDISK_CDROM, VDISK_CDROM);
T_SAME_CONST(PVK_VDISK_REMOVABLE, VDISK_REMOVABLE);
T_SAME_CONST(PVK_VDISK_READONLY, VDISK_READONLY);

/* netif */
T_SAME_TYPE(struct pvk_netif_tx_request, struct netif_tx_request);
T_SAME_FIELD(struct pvk_netif_tx_request, gref, struct netif_tx_request, gref);
T_SAME_FIELD(struct pvk_netif_tx_request, offset, struct netif_tx_request,
	     offset);
T_SAME_FIELD(struct pvk_netif_tx_request, flags, struct netif_tx_request,
	     flags);
T_SAME_FIELD(struct pvk_netif_tx_request, id, struct netif_tx_request, id);
T_SAME_FIELD(struct pvk_netif_tx_request, size, struct netif_tx_request, size);
T_SAME_TYPE(struct pvk_netif_extra_info, struct netif_extra_info);
T_SAME_FIELD(struct pvk_netif_extra_info, type, struct netif_extra_info, type);
T_SAME_FIELD(struct pvk_netif_extra_info, flags, struct netif_extra_info,
	     flags);
T_SAME_FIELD(struct pvk_netif_extra_info, u, struct netif_extra_info, u);
T_SAME_FIELD(struct pvk_netif_extra_info, u.gso.size, struct netif_extra_info,
	     u.gso.size);
T_SAME_FIELD(struct pvk_netif_extra_info, u.gso.type, struct netif_extra_info,
	     u.gso.type);
T_SAME_FIELD(struct pvk_netif_extra_info, u.gso.pad, struct netif_extra_info,
	     u.gso.pad);
T_SAME_FIELD(struct pvk_netif_extra_info, u.gso.features,
	     struct netif_extra_info, u.gso.features);
T_SAME_FIELD(struct pvk_netif_extra_info, u.mcast.addr, struct netif_extra_info,
	     u.mcast.addr);
T_SAME_FIELD(struct pvk_netif_extra_info, u.hash.type, struct netif_extra_info,
	     u.hash.type);
T_SAME_FIELD(struct pvk_netif_extra_info, u.hash.algorithm,
	     struct netif_extra_info, u.hash.algorithm);
T_SAME_FIELD(struct pvk_netif_extra_info, u.hash.value, struct netif_extra_info,
	     u.hash.value);
T_SAME_FIELD(struct pvk_netif_extra_info, u.pad, struct netif_extra_info,
	     u.pad);
T_SAME_TYPE(struct pvk_netif_tx_response, struct netif_tx_response);
T_SAME_FIELD(struct pvk_netif_tx_response, id, struct netif_tx_response, id);
T_SAME_FIELD(struct pvk_netif_tx_response, status, struct netif_tx_response,
	     status);
T_SAME_TYPE(struct pvk_netif_rx_request, struct netif_rx_request);
T_SAME_FIELD(struct pvk_netif_rx_request, id, struct netif_rx_request, id);
T_SAME_FIELD(struct pvk_netif_rx_request, pad, struct netif_rx_request, pad);
T_SAME_FIELD(struct pvk_netif_rx_request, gref, struct netif_rx_request, gref);
T_SAME_TYPE(struct pvk_netif_rx_response, struct netif_rx_response);
T_SAME_FIELD(struct pvk_netif_rx_response, id, struct netif_rx_response, id);
T_SAME_FIELD(struct pvk_netif_rx_response, offset, struct netif_rx_response,
	     offset);
T_SAME_FIELD(struct pvk_netif_rx_response, flags, struct netif_rx_response,
	     flags);
T_SAME_FIELD(struct pvk_netif_rx_response, status, struct netif_rx_response,
	     status);
T_SAME_TYPE(struct pvk_netif_ctrl_request, struct xen_netif_ctrl_request);
T_SAME_FIELD(struct pvk_netif_ctrl_request, id, struct xen_netif_ctrl_request,
	     id);
T_SAME_FIELD(struct pvk_netif_ctrl_request, type, struct xen_netif_ctrl_request,
	     type);
T_SAME_FIELD(struct pvk_netif_ctrl_request, data, struct xen_netif_ctrl_request,
	     data);
T_SAME_TYPE(struct pvk_netif_ctrl_response, struct xen_netif_ctrl_response);
T_SAME_FIELD(struct pvk_netif_ctrl_response, id, struct xen_netif_ctrl_response,
	     id);
T_SAME_FIELD(struct pvk_netif_ctrl_response, type,
	     struct xen_netif_ctrl_response, type);
T_SAME_FIELD(struct pvk_netif_ctrl_response, status,
	     struct xen_netif_ctrl_response, status);
T_SAME_FIELD(struct pvk_netif_ctrl_response, data,
	     struct xen_netif_ctrl_response, data);
_Static_assert(sizeof(union pvk_netif_tx_slot) ==
		       sizeof(union netif_tx_sring_entry),
	       "a tx extra-info slot is a request slot");
_Static_assert(sizeof(union pvk_netif_rx_slot) ==
		       sizeof(union netif_rx_sring_entry),
	       "an rx extra-info slot is a response slot");
T_SAME_CONST(PVK_NETTXF_csum_blank, NETTXF_csum_blank);
T_SAME_CONST(PVK_NETTXF_data_validated, NETTXF_data_validated);
T_SAME_CONST(PVK_NETTXF_more_data, NETTXF_more_data);
T_SAME_CONST(PVK_NETTXF_extra_info, NETTXF_extra_info);
T_SAME_CONST(PVK_NETRXF_data_validated, NETRXF_data_validated);
T_SAME_CONST(PVK_NETRXF_csum_blank, NETRXF_csum_blank);
T_SAME_CONST(PVK_NETRXF_more_data, NETRXF_more_data);
T_SAME_CONST(PVK_NETRXF_extra_info, NETRXF_extra_info);
T_SAME_CONST(PVK_NETRXF_gso_prefix, NETRXF_gso_prefix);
T_SAME_CONST(PVK_NETIF_MAX_TX_SIZE, XEN_NETIF_MAX_TX_SIZE);
T_SAME_CONST(PVK_NETIF_RSP_DROPPED, NETIF_RSP_DROPPED);
T_SAME_CONST(PVK_NETIF_RSP_ERROR, NETIF_RSP_ERROR);
T_SAME_CONST(PVK_NETIF_RSP_OKAY, NETIF_RSP_OKAY);
T_SAME_CONST(PVK_NETIF_RSP_NULL, NETIF_RSP_NULL);
T_SAME_CONST(PVK_NETIF_EXTRA_TYPE_NONE, XEN_NETIF_EXTRA_TYPE_NONE);
T_SAME_CONST(PVK_NETIF_EXTRA_TYPE_GSO, XEN_NETIF_EXTRA_TYPE_GSO);
T_SAME_CONST(PVK_NETIF_EXTRA_TYPE_MCAST_ADD, XEN_NETIF_EXTRA_TYPE_MCAST_ADD);
T_SAME_CONST(PVK_NETIF_EXTRA_TYPE_MCAST_DEL, XEN_NETIF_EXTRA_TYPE_MCAST_DEL);
T_SAME_CONST(PVK_NETIF_EXTRA_TYPE_HASH, XEN_NETIF_EXTRA_TYPE_HASH);
T_SAME_CONST(PVK_NETIF_EXTRA_TYPE_MAX, XEN_NETIF_EXTRA_TYPE_MAX);
T_SAME_CONST(PVK_NETIF_EXTRA_FLAG_MORE, XEN_NETIF_EXTRA_FLAG_MORE);
T_SAME_CONST(PVK_NETIF_GSO_TYPE_NONE, XEN_NETIF_GSO_TYPE_NONE);
T_SAME_CONST(PVK_NETIF_GSO_TYPE_TCPV4, XEN_NETIF_GSO_TYPE_TCPV4);
T_SAME_CONST(PVK_NETIF_GSO_TYPE_TCPV6, XEN_NETIF_GSO_TYPE_TCPV6);
T_SAME_CONST(PVK_NETIF_CTRL_TYPE_INVALID, XEN_NETIF_CTRL_TYPE_INVALID);
T_SAME_CONST(PVK_NETIF_CTRL_TYPE_GET_HASH_FLAGS,
	     XEN_NETIF_CTRL_TYPE_GET_HASH_FLAGS);
T_SAME_CONST(PVK_NETIF_CTRL_TYPE_SET_HASH_FLAGS,
	     XEN_NETIF_CTRL_TYPE_SET_HASH_FLAGS);
T_SAME_CONST(PVK_NETIF_CTRL_TYPE_SET_HASH_KEY,
	     XEN_NETIF_CTRL_TYPE_SET_HASH_KEY);
T_SAME_CONST(PVK_NETIF_CTRL_TYPE_GET_HASH_MAPPING_SIZE,
	     XEN_NETIF_CTRL_TYPE_GET_HASH_MAPPING_SIZE);
T_SAME_CONST(PVK_NETIF_CTRL_TYPE_SET_HASH_MAPPING_SIZE,
	     XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING_SIZE);
T_SAME_CONST(PVK_NETIF_CTRL_TYPE_SET_HASH_MAPPING,
	     XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING);
T_SAME_CONST(PVK_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM,
	     XEN_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM);
T_SAME_CONST(PVK_NETIF_CTRL_TYPE_GET_GREF_MAPPING_SIZE,
	     XEN_NETIF_CTRL_TYPE_GET_GREF_MAPPING_SIZE);
T_SAME_CONST(PVK_NETIF_CTRL_TYPE_ADD_GREF_MAPPING,
	     XEN_NETIF_CTRL_TYPE_ADD_GREF_MAPPING);
T_SAME_CONST(PVK_NETIF_CTRL_TYPE_DEL_GREF_MAPPING,
	     XEN_NETIF_CTRL_TYPE_DEL_GREF_MAPPING);
T_SAME_CONST(PVK_NETIF_CTRL_STATUS_SUCCESS, XEN_NETIF_CTRL_STATUS_SUCCESS);
T_SAME_CONST(PVK_NETIF_CTRL_STATUS_NOT_SUPPORTED,
	     XEN_NETIF_CTRL_STATUS_NOT_SUPPORTED);
T_SAME_CONST(PVK_NETIF_CTRL_STATUS_INVALID_PARAMETER,
	     XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER);
T_SAME_CONST(PVK_NETIF_CTRL_STATUS_BUFFER_OVERFLOW,
	     XEN_NETIF_CTRL_STATUS_BUFFER_OVERFLOW);

/* ------------------------------------------------------------------ */
/* Helpers                                                             */

#define T_BLK_SLOT sizeof(union pvk_blkif_sring_entry)
#define T_BLK_REQ sizeof(struct pvk_blkif_request)
#define T_BLK_RSP sizeof(struct pvk_blkif_response)
#define T_NEAR_WRAP 0xFFFFFF00u

static uint64_t t_seed;

/* xorshift64*: deterministic per seed, so a failure can be replayed. */
static uint64_t t_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

static uint32_t t_rand_below(uint64_t *s, uint32_t n)
{
	return n ? (uint32_t)((t_rand(s) >> 32) % n) : 0;
}

static void *t_ring_alloc(size_t bytes)
{
	void *p = NULL;
	size_t sz = (bytes + PVK_PAGE_SIZE - 1) & ~(size_t)(PVK_PAGE_SIZE - 1);

	assert_int_equal(posix_memalign(&p, PVK_PAGE_SIZE, sz), 0);
	memset(p, 0, sz);
	return p;
}

/* A header as a Xen frontend initialises it, at index @start. */
#define T_XEN_SRING_INIT(s, start)                             \
	do {                                                   \
		SHARED_RING_INIT(s);                           \
		(s)->req_prod = (s)->rsp_prod = (start);       \
		(s)->req_event = (s)->rsp_event = (start) + 1; \
	} while (0)

/* The same request / response from a sequence number, in either pvkit's
 * or Xen's types: the field names are the same, which is the point. */
#define T_BLK_REQ_FILL(q, seq)                                                 \
	do {                                                                   \
		unsigned int i_;                                               \
		memset((q), 0, sizeof(*(q)));                                  \
		(q)->operation = (seq)&1 ? BLKIF_OP_WRITE : BLKIF_OP_READ;     \
		(q)->nr_segments = 1 + (seq) % BLKIF_MAX_SEGMENTS_PER_REQUEST; \
		(q)->handle = 0x5a;                                            \
		(q)->id = (seq);                                               \
		(q)->sector_number = (seq)*8;                                  \
		for (i_ = 0; i_ < (q)->nr_segments; i_++) {                    \
			(q)->seg[i_].gref = (uint32_t)((seq)*16 + i_);         \
			(q)->seg[i_].first_sect = i_ % 8;                      \
			(q)->seg[i_].last_sect = 7;                            \
		}                                                              \
	} while (0)
#define T_BLK_REQ_CHECK(q, seq)                                               \
	do {                                                                  \
		unsigned int i_;                                              \
		assert_int_equal((q)->id, (seq));                             \
		assert_int_equal((q)->operation,                              \
				 (seq)&1 ? BLKIF_OP_WRITE : BLKIF_OP_READ);   \
		assert_int_equal((q)->nr_segments,                            \
				 1 + (seq) % BLKIF_MAX_SEGMENTS_PER_REQUEST); \
		assert_int_equal((q)->handle, 0x5a);                          \
		assert_int_equal((q)->sector_number, (seq)*8);                \
		for (i_ = 0; i_ < (q)->nr_segments; i_++) {                   \
			assert_int_equal((q)->seg[i_].gref,                   \
					 (uint32_t)((seq)*16 + i_));          \
			assert_int_equal((q)->seg[i_].first_sect, i_ % 8);    \
			assert_int_equal((q)->seg[i_].last_sect, 7);          \
		}                                                             \
	} while (0)
#define T_BLK_RSP_FILL(p, seq)                                              \
	do {                                                                \
		memset((p), 0, sizeof(*(p)));                               \
		(p)->id = (seq);                                            \
		(p)->operation = (seq)&1 ? BLKIF_OP_WRITE : BLKIF_OP_READ;  \
		(p)->status = (seq) % 3 ? BLKIF_RSP_OKAY : BLKIF_RSP_ERROR; \
	} while (0)
#define T_BLK_RSP_CHECK(p, seq)                                             \
	do {                                                                \
		assert_int_equal((p)->id, (seq));                           \
		assert_int_equal((p)->operation,                            \
				 (seq)&1 ? BLKIF_OP_WRITE : BLKIF_OP_READ); \
		assert_int_equal((p)->status, (seq) % 3 ? BLKIF_RSP_OKAY :  \
							  BLKIF_RSP_ERROR); \
	} while (0)

static int t_blk_attach(struct pvk_ring *r, enum pvk_ring_role role,
			void *sring, size_t bytes, uint32_t start, bool init)
{
	return pvk_ring_attach(r, role, sring, bytes, T_BLK_SLOT, T_BLK_REQ,
			       T_BLK_RSP, start, init);
}

/* ------------------------------------------------------------------ */
/* Sizes                                                               */

/* pvk_ring_nr_ents, the typed _ring_size and attach agree with Xen's
 * __RING_SIZE for every ring up to 16 pages, page multiple or not. */
static void t_ring_sizes_match_xen(void **state)
{
	void *page = t_ring_alloc(PVK_PAGE_SIZE << PVK_RING_MAX_ORDER);
	size_t bytes;

	(void)state;
	for (bytes = PVK_RING_HDR_SIZE + 1;
	     bytes <= (PVK_PAGE_SIZE << PVK_RING_MAX_ORDER); bytes++) {
		struct pvk_ring r;

		if (bytes >= PVK_RING_HDR_SIZE + T_BLK_SLOT) {
			assert_int_equal(pvk_blkif_ring_size(bytes),
					 __RING_SIZE((blkif_sring_t *)page,
						     bytes));
			assert_int_equal(t_blk_attach(&r, PVK_RING_BACK, page,
						      bytes, 0, false),
					 0);
			assert_int_equal(r.nr_ents, pvk_blkif_ring_size(bytes));
		} else {
			assert_int_equal(pvk_blkif_ring_size(bytes), 0);
			assert_int_equal(t_blk_attach(&r, PVK_RING_BACK, page,
						      bytes, 0, false),
					 -EINVAL);
		}
		if (bytes >= PVK_RING_HDR_SIZE + 12)
			assert_int_equal(pvk_netif_tx_ring_size(bytes),
					 __RING_SIZE((netif_tx_sring_t *)page,
						     bytes));
		assert_int_equal(pvk_netif_rx_ring_size(bytes),
				 __RING_SIZE((netif_rx_sring_t *)page, bytes));
		if (bytes >= PVK_RING_HDR_SIZE + 16)
			assert_int_equal(
				pvk_netif_ctrl_ring_size(bytes),
				__RING_SIZE((xen_netif_ctrl_sring_t *)page,
					    bytes));
	}
	/* The figures everyone knows: 32 blkif, 256 netif slots a page. */
	assert_int_equal(pvk_blkif_ring_size(PVK_PAGE_SIZE), 32);
	assert_int_equal(pvk_netif_tx_ring_size(PVK_PAGE_SIZE), 256);
	assert_int_equal(pvk_netif_rx_ring_size(PVK_PAGE_SIZE), 256);
	assert_int_equal(pvk_blkif_ring_size(PVK_PAGE_SIZE << 4), 512);
	free(page);
}

/* ------------------------------------------------------------------ */
/* Interop: Xen's macros on one end, pvkit on the other                */

/*
 * One end's wake-up bookkeeping in a single-threaded exchange: an end is
 * "armed" when its last final check found nothing and it would sleep.  The
 * peer's next non-empty push must then notify it, and (the suppression
 * half) must not notify an end that is not armed.
 */
struct t_xchg {
	uint64_t rng;
	uint64_t next_req, next_seen, next_rsp;
	bool back_armed, front_armed;
	unsigned long pushes, notifies;
};

static void t_xchg_notified(struct t_xchg *x, unsigned int n, int notify,
			    bool *armed)
{
	if (!n) {
		assert_false(notify);
		return;
	}
	x->pushes++;
	assert_int_equal(!!notify, *armed);
	if (notify) {
		x->notifies++;
		*armed = false;
	}
}

/* Xen frontend (RING_* macros) -> pvkit backend. */
static void t_interop_xen_front(unsigned int order, RING_IDX start,
				unsigned int rounds, uint64_t seed)
{
	size_t bytes = (size_t)PVK_PAGE_SIZE << order;
	blkif_sring_t *xs = t_ring_alloc(bytes);
	struct t_xchg x = { .rng = seed,
			    .back_armed = true,
			    .front_armed = true };
	blkif_front_ring_t xf;
	struct pvk_ring pb;
	unsigned int round;

	T_XEN_SRING_INIT(xs, start);
	FRONT_RING_ATTACH(&xf, xs, start, bytes);
	assert_int_equal(
		t_blk_attach(&pb, PVK_RING_BACK, xs, bytes, start, false), 0);
	assert_int_equal(pb.nr_ents, RING_SIZE(&xf));

	for (round = 0; round < rounds || x.next_rsp != x.next_req; round++) {
		unsigned int n, k, want, got = 0;
		bool drain = round >= rounds;
		RING_IDX rp;
		int notify, rc = 1, more;

		/* Front: a batch built in the slots, pushed with the macro. */
		n = drain ? 0 :
			    t_rand_below(&x.rng, RING_FREE_REQUESTS(&xf) + 1);
		for (k = 0; k < n; k++) {
			blkif_request_t *q =
				RING_GET_REQUEST(&xf, xf.req_prod_pvt);

			T_BLK_REQ_FILL(q, x.next_req);
			x.next_req++;
			xf.req_prod_pvt++;
		}
		RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&xf, notify);
		t_xchg_notified(&x, n, notify, &x.back_armed);

		/* Back: consume some requests with pvkit, answer them. */
		want = drain || t_rand_below(&x.rng, 2) ?
			       ~0u :
			       t_rand_below(&x.rng, pb.nr_ents + 1);
		while (got < want) {
			struct pvk_blkif_request req;
			struct pvk_blkif_response rsp;

			rc = pvk_blkif_get_request(&pb, &req);
			assert_true(rc >= 0);
			if (!rc)
				break;
			T_BLK_REQ_CHECK(&req, x.next_seen);
			T_BLK_RSP_FILL(&rsp, x.next_seen);
			x.next_seen++;
			assert_int_equal(pvk_blkif_put_response(&pb, &rsp), 0);
			got++;
		}
		t_xchg_notified(&x, got, pvk_ring_push(&pb), &x.front_armed);
		if (!rc) {
			rc = pvk_ring_final_check(&pb);
			assert_true(rc >= 0);
			x.back_armed = rc == 0;
		}

		/* Front: responses, as a hardened Xen frontend reads them. */
		rp = xs->rsp_prod;
		xen_rmb();
		assert_false(RING_RESPONSE_PROD_OVERFLOW(&xf, rp));
		want = drain || t_rand_below(&x.rng, 2) ?
			       ~0u :
			       t_rand_below(&x.rng, RING_SIZE(&xf) + 1);
		for (k = 0; k < want && xf.rsp_cons != rp; k++) {
			blkif_response_t rsp;

			RING_COPY_RESPONSE(&xf, xf.rsp_cons, &rsp);
			xf.rsp_cons++;
			T_BLK_RSP_CHECK(&rsp, x.next_rsp);
			x.next_rsp++;
		}
		if (xf.rsp_cons == rp) {
			RING_FINAL_CHECK_FOR_RESPONSES(&xf, more);
			x.front_armed = !more;
		}
	}
	assert_false(pvk_ring_is_broken(&pb));
	assert_int_equal(x.next_seen, x.next_req);
	/* Suppression at work: far fewer notifications than pushes. */
	assert_true(x.notifies < x.pushes);
	assert_true(x.next_req > pb.nr_ents * 4);
	if (start)
		assert_true(x.next_req > (uint64_t)(RING_IDX)(0u - start));
	free(xs);
}

/* pvkit frontend -> Xen backend (RING_* macros, hardened as Linux's). */
static void t_interop_xen_back(unsigned int order, RING_IDX start,
			       unsigned int rounds, uint64_t seed)
{
	size_t bytes = (size_t)PVK_PAGE_SIZE << order;
	blkif_sring_t *xs = t_ring_alloc(bytes);
	struct t_xchg x = { .rng = seed,
			    .back_armed = true,
			    .front_armed = true };
	blkif_back_ring_t xb;
	struct pvk_ring pf;
	unsigned int round;

	assert_int_equal(
		t_blk_attach(&pf, PVK_RING_FRONT, xs, bytes, start, true), 0);
	/* pvkit initialised the header exactly as SHARED_RING_INIT would. */
	assert_int_equal(xs->req_prod, start);
	assert_int_equal(xs->rsp_prod, start);
	assert_int_equal(xs->req_event, start + 1);
	assert_int_equal(xs->rsp_event, start + 1);
	BACK_RING_ATTACH(&xb, xs, start, bytes);
	assert_int_equal(pf.nr_ents, RING_SIZE(&xb));

	for (round = 0; round < rounds || x.next_rsp != x.next_req; round++) {
		unsigned int n, k, want, got = 0;
		bool drain = round >= rounds;
		RING_IDX rp;
		int notify, rc, more;

		/* Front: requests built privately, copied once, pushed. */
		n = drain ? 0 : t_rand_below(&x.rng, pvk_ring_space(&pf) + 1);
		for (k = 0; k < n; k++) {
			struct pvk_blkif_request req;

			T_BLK_REQ_FILL(&req, x.next_req);
			x.next_req++;
			assert_int_equal(pvk_blkif_put_request(&pf, &req), 0);
		}
		t_xchg_notified(&x, n, pvk_ring_push(&pf), &x.back_armed);

		/* Back: Xen's macros, as Linux's hardened blkback uses them. */
		rp = xs->req_prod;
		xen_rmb();
		assert_false(RING_REQUEST_PROD_OVERFLOW(&xb, rp));
		want = drain || t_rand_below(&x.rng, 2) ?
			       ~0u :
			       t_rand_below(&x.rng, RING_SIZE(&xb) + 1);
		while (got < want && xb.req_cons != rp) {
			blkif_request_t req;
			blkif_response_t *p;

			assert_false(
				RING_REQUEST_CONS_OVERFLOW(&xb, xb.req_cons));
			RING_COPY_REQUEST(&xb, xb.req_cons, &req);
			xb.req_cons++;
			T_BLK_REQ_CHECK(&req, x.next_seen);
			p = RING_GET_RESPONSE(&xb, xb.rsp_prod_pvt);
			T_BLK_RSP_FILL(p, x.next_seen);
			x.next_seen++;
			xb.rsp_prod_pvt++;
			got++;
		}
		RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&xb, notify);
		t_xchg_notified(&x, got, notify, &x.front_armed);
		if (xb.req_cons == rp) {
			RING_FINAL_CHECK_FOR_REQUESTS(&xb, more);
			x.back_armed = !more;
		}

		/* Front: responses with pvkit. */
		want = drain || t_rand_below(&x.rng, 2) ?
			       ~0u :
			       t_rand_below(&x.rng, pf.nr_ents + 1);
		rc = 1;
		for (k = 0; k < want; k++) {
			struct pvk_blkif_response rsp;

			rc = pvk_blkif_get_response(&pf, &rsp);
			assert_true(rc >= 0);
			if (!rc)
				break;
			T_BLK_RSP_CHECK(&rsp, x.next_rsp);
			x.next_rsp++;
		}
		if (!rc) {
			rc = pvk_ring_final_check(&pf);
			assert_true(rc >= 0);
			x.front_armed = rc == 0;
		}
	}
	assert_false(pvk_ring_is_broken(&pf));
	assert_int_equal(x.next_seen, x.next_req);
	assert_int_equal(pvk_ring_in_flight(&pf), 0);
	assert_true(x.notifies < x.pushes);
	assert_true(x.next_req > pf.nr_ents * 4);
	if (start)
		assert_true(x.next_req > (uint64_t)(RING_IDX)(0u - start));
	free(xs);
}

static const RING_IDX t_starts[] = { 0, T_NEAR_WRAP, 0xFFFFFFFFu };

static void t_interop_xen_front_pvk_back(void **state)
{
	unsigned int order, i;

	(void)state;
	for (order = 0; order <= PVK_RING_MAX_ORDER; order++)
		for (i = 0; i < sizeof(t_starts) / sizeof(t_starts[0]); i++)
			t_interop_xen_front(order, t_starts[i], 400 << order,
					    t_seed + order * 7 + i);
}

static void t_interop_pvk_front_xen_back(void **state)
{
	unsigned int order, i;

	(void)state;
	for (order = 0; order <= PVK_RING_MAX_ORDER; order++)
		for (i = 0; i < sizeof(t_starts) / sizeof(t_starts[0]); i++)
			t_interop_xen_back(order, t_starts[i], 400 << order,
					   t_seed + order * 11 + i);
}

/* Discard and indirect requests share the rw slot; a Xen backend decodes
 * what pvkit put, a pvkit backend decodes what a Xen frontend put. */
static void t_interop_blkif_request_layouts(void **state)
{
	blkif_sring_t *xs = t_ring_alloc(PVK_PAGE_SIZE);
	union pvk_blkif_any_request any, got;
	blkif_request_discard_t xd;
	blkif_request_indirect_t xi;
	blkif_front_ring_t xf;
	blkif_back_ring_t xb;
	struct pvk_ring pf, pb;
	unsigned int i;
	const char *why = NULL;

	(void)state;
	/* pvkit front -> Xen back. */
	assert_int_equal(t_blk_attach(&pf, PVK_RING_FRONT, xs, PVK_PAGE_SIZE,
				      T_NEAR_WRAP, true),
			 0);
	BACK_RING_ATTACH(&xb, xs, T_NEAR_WRAP, PVK_PAGE_SIZE);
	memset(&any, 0, sizeof(any));
	any.discard = (struct pvk_blkif_request_discard){
		.operation = PVK_BLKIF_OP_DISCARD,
		.flag = PVK_BLKIF_DISCARD_SECURE,
		.handle = 3,
		.id = 0x1122334455667788ULL,
		.sector_number = 1ULL << 40,
		.nr_sectors = 4096,
	};
	assert_int_equal(pvk_blkif_put_any_request(&pf, &any), 0);
	memset(&any, 0, sizeof(any));
	any.indirect.operation = PVK_BLKIF_OP_INDIRECT;
	any.indirect.indirect_op = PVK_BLKIF_OP_WRITE;
	any.indirect.nr_segments = 1000;
	any.indirect.id = 77;
	any.indirect.sector_number = 123456;
	any.indirect.handle = 3;
	for (i = 0; i < PVK_BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST; i++)
		any.indirect.indirect_grefs[i] = 900 + i;
	assert_int_equal(pvk_blkif_put_any_request(&pf, &any), 0);
	assert_true(pvk_ring_push(&pf));

	assert_int_equal(xs->req_prod - xb.req_cons, 2);
	xen_rmb();
	RING_COPY_REQUEST(&xb, xb.req_cons, &xd);
	xb.req_cons++;
	assert_int_equal(xd.operation, BLKIF_OP_DISCARD);
	assert_int_equal(xd.flag, BLKIF_DISCARD_SECURE);
	assert_int_equal(xd.handle, 3);
	assert_int_equal(xd.id, 0x1122334455667788ULL);
	assert_int_equal(xd.sector_number, 1ULL << 40);
	assert_int_equal(xd.nr_sectors, 4096);
	RING_COPY_REQUEST(&xb, xb.req_cons, &xi);
	xb.req_cons++;
	assert_int_equal(xi.operation, BLKIF_OP_INDIRECT);
	assert_int_equal(xi.indirect_op, BLKIF_OP_WRITE);
	assert_int_equal(xi.nr_segments, 1000);
	assert_int_equal(xi.id, 77);
	assert_int_equal(xi.sector_number, 123456);
	assert_int_equal(xi.handle, 3);
	for (i = 0; i < BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST; i++)
		assert_int_equal(xi.indirect_grefs[i], 900 + i);

	/* Xen front -> pvkit back, and the protocol check on the copy. */
	memset(xs, 0, PVK_PAGE_SIZE);
	T_XEN_SRING_INIT(xs, 0);
	FRONT_RING_INIT(&xf, xs, PVK_PAGE_SIZE);
	assert_int_equal(t_blk_attach(&pb, PVK_RING_BACK, xs, PVK_PAGE_SIZE, 0,
				      false),
			 0);
	memset(RING_GET_REQUEST(&xf, 0), 0, sizeof(blkif_request_t));
	xi.nr_segments = 300;
	memcpy(RING_GET_REQUEST(&xf, 0), &xi, sizeof(xi));
	memset(RING_GET_REQUEST(&xf, 1), 0, sizeof(blkif_request_t));
	memcpy(RING_GET_REQUEST(&xf, 1), &xd, sizeof(xd));
	xf.req_prod_pvt = 2;
	RING_PUSH_REQUESTS(&xf);

	assert_int_equal(pvk_blkif_get_any_request(&pb, &got), 1);
	assert_int_equal(got.hdr.operation, PVK_BLKIF_OP_INDIRECT);
	assert_int_equal(got.indirect.nr_segments, 300);
	assert_int_equal(got.indirect.indirect_grefs[7], 907);
	assert_int_equal(pvk_blkif_indirect_pages(got.indirect.nr_segments), 1);
	assert_int_equal(pvk_blkif_check_request(&got, 256, &why), -EPROTO);
	assert_int_equal(pvk_blkif_check_request(&got, 512, &why), 0);
	assert_int_equal(pvk_blkif_check_request(&got, 0, &why), -EPROTO);
	assert_int_equal(pvk_blkif_get_any_request(&pb, &got), 1);
	assert_int_equal(got.hdr.operation, PVK_BLKIF_OP_DISCARD);
	assert_int_equal(got.discard.nr_sectors, 4096);
	assert_int_equal(pvk_blkif_check_request(&got, 0, &why), 0);
	assert_int_equal(pvk_blkif_get_any_request(&pb, &got), 0);
	free(xs);
}

/* netif tx: pvkit frontend with extra-info slots -> Xen backend. */
static void t_interop_netif_tx(void **state)
{
	netif_tx_sring_t *xs = t_ring_alloc(PVK_PAGE_SIZE);
	netif_tx_back_ring_t xb;
	struct pvk_ring pf;
	uint64_t rng = t_seed;
	uint16_t next_id = 0, seen_id = 0, done_id = 0;
	unsigned int round, packets = 0;

	(void)state;
	assert_int_equal(pvk_ring_attach(&pf, PVK_RING_FRONT, xs, PVK_PAGE_SIZE,
					 sizeof(union pvk_netif_tx_sring_entry),
					 sizeof(struct pvk_netif_tx_request),
					 sizeof(struct pvk_netif_tx_response),
					 T_NEAR_WRAP, true),
			 0);
	BACK_RING_ATTACH(&xb, xs, T_NEAR_WRAP, PVK_PAGE_SIZE);

	for (round = 0; round < 200; round++) {
		unsigned int n = 1 + t_rand_below(&rng, 40), k;
		RING_IDX rp;

		/* Front: packets, some with a GSO extra-info slot. */
		for (k = 0; k < n && pvk_ring_space(&pf) >= 2; k++) {
			bool gso = next_id % 3 == 0;
			struct pvk_netif_tx_request tx = {
				.gref = 1000u + next_id,
				.offset = (uint16_t)(next_id % 64),
				.flags =
					(uint16_t)(PVK_NETTXF_csum_blank |
						   (gso ? PVK_NETTXF_extra_info :
							  0)),
				.id = next_id,
				.size = (uint16_t)(60 + next_id % 1400),
			};

			assert_int_equal(pvk_netif_tx_put_request(&pf, &tx), 0);
			if (gso) {
				struct pvk_netif_extra_info ex = {
					.type = PVK_NETIF_EXTRA_TYPE_GSO,
					.u.gso = { .size = 1448,
						   .type = PVK_NETIF_GSO_TYPE_TCPV4 },
				};

				assert_int_equal(
					pvk_netif_put_tx_extra(&pf, &ex), 0);
			}
			next_id++;
		}
		pvk_ring_push(&pf);

		/* Back: Xen's macros, extra slots copied as netback does. */
		rp = xs->req_prod;
		xen_rmb();
		assert_false(RING_REQUEST_PROD_OVERFLOW(&xb, rp));
		while (xb.req_cons != rp) {
			netif_tx_request_t tx;
			netif_tx_response_t *p;
			int notify;

			RING_COPY_REQUEST(&xb, xb.req_cons, &tx);
			xb.req_cons++;
			assert_int_equal(tx.id, seen_id);
			assert_int_equal(tx.gref, 1000u + seen_id);
			assert_int_equal(tx.offset, seen_id % 64);
			assert_int_equal(tx.size, 60 + seen_id % 1400);
			assert_true(tx.flags & NETTXF_csum_blank);
			p = RING_GET_RESPONSE(&xb, xb.rsp_prod_pvt++);
			p->id = tx.id;
			p->status = NETIF_RSP_OKAY;
			if (tx.flags & NETTXF_extra_info) {
				struct netif_extra_info ex;

				assert_int_equal(seen_id % 3, 0);
				assert_true(xb.req_cons != rp);
				RING_COPY_REQUEST(&xb, xb.req_cons, &ex);
				xb.req_cons++;
				assert_int_equal(ex.type,
						 XEN_NETIF_EXTRA_TYPE_GSO);
				assert_int_equal(ex.flags, 0);
				assert_int_equal(ex.u.gso.size, 1448);
				assert_int_equal(ex.u.gso.type,
						 XEN_NETIF_GSO_TYPE_TCPV4);
				p = RING_GET_RESPONSE(&xb, xb.rsp_prod_pvt++);
				p->id = 0xffff;
				p->status = NETIF_RSP_NULL;
			} else {
				assert_int_not_equal(seen_id % 3, 0);
			}
			seen_id++;
			RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&xb, notify);
			(void)notify;
		}

		/* Front: responses; the NULL ones stand for extra slots. */
		for (;;) {
			struct pvk_netif_tx_response rsp;
			int rc = pvk_netif_tx_get_response(&pf, &rsp);

			assert_true(rc >= 0);
			if (!rc)
				break;
			if (rsp.status == PVK_NETIF_RSP_NULL)
				continue;
			assert_int_equal(rsp.status, PVK_NETIF_RSP_OKAY);
			assert_int_equal(rsp.id, done_id);
			done_id++;
			packets++;
		}
	}
	assert_int_equal(done_id, next_id);
	assert_true(packets > 256);
	assert_false(pvk_ring_is_broken(&pf));
	free(xs);
}

/* netif rx: pvkit frontend posts buffers; a Xen backend fills them, with
 * a GSO extra-info slot in the response slot that follows. */
static void t_interop_netif_rx(void **state)
{
	netif_rx_sring_t *xs = t_ring_alloc(PVK_PAGE_SIZE);
	netif_rx_back_ring_t xb;
	struct pvk_ring pf;
	unsigned int round, k;
	uint16_t id = 0, expect = 0;

	(void)state;
	assert_int_equal(pvk_ring_attach(&pf, PVK_RING_FRONT, xs, PVK_PAGE_SIZE,
					 sizeof(union pvk_netif_rx_sring_entry),
					 sizeof(struct pvk_netif_rx_request),
					 sizeof(struct pvk_netif_rx_response),
					 T_NEAR_WRAP, true),
			 0);
	BACK_RING_ATTACH(&xb, xs, T_NEAR_WRAP, PVK_PAGE_SIZE);

	for (round = 0; round < 100; round++) {
		RING_IDX rp;
		int notify;

		while (pvk_ring_space(&pf)) {
			struct pvk_netif_rx_request rq = { .id = id,
							   .gref = 5000u + id };

			assert_int_equal(pvk_netif_rx_put_request(&pf, &rq), 0);
			id++;
		}
		pvk_ring_push(&pf);

		/* Back: every even buffer gets a packet plus an extra slot
		 * (which uses up the next buffer, as in netback). */
		rp = xs->req_prod;
		xen_rmb();
		while ((RING_IDX)(rp - xb.req_cons) >= 2) {
			netif_rx_request_t rq, rq2;
			netif_rx_response_t *p;
			struct netif_extra_info *ex;

			RING_COPY_REQUEST(&xb, xb.req_cons, &rq);
			RING_COPY_REQUEST(&xb, xb.req_cons + 1, &rq2);
			xb.req_cons += 2;
			assert_int_equal(rq.gref, 5000u + rq.id);
			assert_int_equal((uint16_t)(rq.id + 1), rq2.id);
			p = RING_GET_RESPONSE(&xb, xb.rsp_prod_pvt++);
			p->id = rq.id;
			p->offset = 0;
			p->flags = NETRXF_extra_info | NETRXF_data_validated;
			p->status = 1514;
			ex = (struct netif_extra_info *)RING_GET_RESPONSE(
				&xb, xb.rsp_prod_pvt++);
			memset(ex, 0, sizeof(*ex));
			ex->type = XEN_NETIF_EXTRA_TYPE_GSO;
			ex->u.gso.size = 1448;
			ex->u.gso.type = XEN_NETIF_GSO_TYPE_TCPV6;
		}
		RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&xb, notify);
		(void)notify;

		for (k = 0;; k++) {
			union pvk_netif_rx_slot s;
			int rc = pvk_netif_get_rx_slot(&pf, &s);

			assert_true(rc >= 0);
			if (!rc)
				break;
			assert_int_equal(s.rsp.id, expect);
			assert_int_equal(s.rsp.status, 1514);
			assert_true(s.rsp.flags & PVK_NETRXF_extra_info);
			assert_int_equal(pvk_netif_get_rx_slot(&pf, &s), 1);
			assert_int_equal(s.extra.type,
					 PVK_NETIF_EXTRA_TYPE_GSO);
			assert_int_equal(s.extra.u.gso.size, 1448);
			assert_int_equal(s.extra.u.gso.type,
					 PVK_NETIF_GSO_TYPE_TCPV6);
			expect += 2;
		}
	}
	assert_true(expect > 256);
	assert_false(pvk_ring_is_broken(&pf));
	free(xs);
}

/* netif ctrl: Xen frontend -> pvkit backend. */
static void t_interop_netif_ctrl(void **state)
{
	xen_netif_ctrl_sring_t *xs = t_ring_alloc(PVK_PAGE_SIZE);
	xen_netif_ctrl_front_ring_t xf;
	struct pvk_ring pb;
	unsigned int i;

	(void)state;
	T_XEN_SRING_INIT(xs, T_NEAR_WRAP);
	FRONT_RING_ATTACH(&xf, xs, T_NEAR_WRAP, PVK_PAGE_SIZE);
	assert_int_equal(
		pvk_ring_attach(&pb, PVK_RING_BACK, xs, PVK_PAGE_SIZE,
				sizeof(union pvk_netif_ctrl_sring_entry),
				sizeof(struct pvk_netif_ctrl_request),
				sizeof(struct pvk_netif_ctrl_response),
				T_NEAR_WRAP, false),
		0);
	for (i = 0; i < 1000; i++) {
		struct xen_netif_ctrl_request *q =
			RING_GET_REQUEST(&xf, xf.req_prod_pvt++);
		struct pvk_netif_ctrl_request rq;
		struct pvk_netif_ctrl_response rs;
		struct xen_netif_ctrl_response xr;
		int notify;

		q->id = (uint16_t)i;
		q->type = XEN_NETIF_CTRL_TYPE_SET_HASH_FLAGS;
		q->data[0] = i;
		q->data[1] = ~i;
		q->data[2] = 0;
		RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&xf, notify);
		(void)notify;

		assert_int_equal(pvk_netif_ctrl_get_request(&pb, &rq), 1);
		assert_int_equal(rq.id, (uint16_t)i);
		assert_int_equal(rq.type, PVK_NETIF_CTRL_TYPE_SET_HASH_FLAGS);
		assert_int_equal(rq.data[0], i);
		assert_int_equal(rq.data[1], ~i);
		rs = (struct pvk_netif_ctrl_response){
			.id = rq.id,
			.type = rq.type,
			.status = PVK_NETIF_CTRL_STATUS_INVALID_PARAMETER,
			.data = rq.data[0] * 2,
		};
		assert_int_equal(pvk_netif_ctrl_put_response(&pb, &rs), 0);
		pvk_ring_push(&pb);

		assert_int_equal(xs->rsp_prod - xf.rsp_cons, 1);
		xen_rmb();
		RING_COPY_RESPONSE(&xf, xf.rsp_cons, &xr);
		xf.rsp_cons++;
		assert_int_equal(xr.id, (uint16_t)i);
		assert_int_equal(xr.type, XEN_NETIF_CTRL_TYPE_SET_HASH_FLAGS);
		assert_int_equal(xr.status,
				 XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER);
		assert_int_equal(xr.data, i * 2);
	}
	assert_false(pvk_ring_is_broken(&pb));
	free(xs);
}

/* ------------------------------------------------------------------ */
/* Event suppression: the same decision as Xen's macro                  */

static void t_notify_decision_matches_xen(void **state)
{
	/* 8-byte entries, 4 pages: 2040 fit, 1024 used. */
	const size_t bytes = 4 * PVK_PAGE_SIZE, slot = 8;
	unsigned char *pmem = t_ring_alloc(bytes), *xmem = t_ring_alloc(bytes);
	struct pvk_sring *ps = (struct pvk_sring *)pmem;
	netif_rx_sring_t *xs = (netif_rx_sring_t *)xmem;
	uint64_t rng = t_seed ^ 0x5eed;
	unsigned int i, k, agree_true = 0, agree_false = 0;
	const uint64_t msg = 0;
	const unsigned int iters = RUNNING_ON_VALGRIND ? 4000 : 20000;

	(void)state;
	for (i = 0; i < iters; i++) {
		uint32_t old = (uint32_t)t_rand(&rng);
		uint32_t n = 1 + t_rand_below(&rng, 1024);
		uint32_t new_ = old + n, ev;
		bool back = i & 1;
		struct pvk_ring r;
		int xen_notify;
		bool pvk_notify;

		/* Events at the edges of (old, new] and anywhere at all. */
		switch (t_rand_below(&rng, 4)) {
		case 0:
			ev = (uint32_t)t_rand(&rng);
			break;
		case 1:
			ev = old + t_rand_below(&rng, n + 1);
			break;
		case 2:
			ev = new_ + 1 - t_rand_below(&rng, 3);
			break;
		default:
			ev = old + t_rand_below(&rng, 3);
			break;
		}

		if (!back) {
			netif_rx_front_ring_t xf;

			assert_int_equal(pvk_ring_attach(&r, PVK_RING_FRONT, ps,
							 bytes, slot, slot,
							 slot, old, true),
					 0);
			for (k = 0; k < n; k++)
				assert_int_equal(pvk_ring_put(&r, &msg, slot),
						 0);
			ps->req_event = ev;
			pvk_notify = pvk_ring_push(&r);
			assert_int_equal(ps->req_prod, new_);

			T_XEN_SRING_INIT(xs, old);
			FRONT_RING_ATTACH(&xf, xs, old, bytes);
			xf.req_prod_pvt = new_;
			xs->req_event = ev;
			RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&xf, xen_notify);
		} else {
			netif_rx_back_ring_t xb;

			/* The backend owes n responses: consume n requests. */
			assert_int_equal(pvk_ring_attach(&r, PVK_RING_BACK, ps,
							 bytes, slot, slot,
							 slot, old, true),
					 0);
			ps->req_prod = new_;
			for (k = 0; k < n; k++) {
				uint64_t m;

				assert_int_equal(pvk_ring_get(&r, &m, slot), 1);
				assert_int_equal(pvk_ring_put(&r, &msg, slot),
						 0);
			}
			ps->rsp_event = ev;
			pvk_notify = pvk_ring_push(&r);
			assert_int_equal(ps->rsp_prod, new_);

			T_XEN_SRING_INIT(xs, old);
			BACK_RING_ATTACH(&xb, xs, old, bytes);
			xb.rsp_prod_pvt = new_;
			xs->rsp_event = ev;
			RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&xb, xen_notify);
		}
		assert_false(pvk_ring_is_broken(&r));
		if (pvk_notify != !!xen_notify)
			fail_msg("notify differs: %s old=%#x new=%#x event=%#x "
				 "pvkit=%d xen=%d",
				 back ? "back" : "front", old, new_, ev,
				 pvk_notify, xen_notify);
		if (pvk_notify)
			agree_true++;
		else
			agree_false++;
	}
	/* Both outcomes were exercised. */
	assert_true(agree_true > iters / 20 && agree_false > iters / 20);
	free(pmem);
	free(xmem);
}

/* ------------------------------------------------------------------ */
/* Hostile peers                                                       */

static void t_expect_broken(struct pvk_ring *r)
{
	struct pvk_blkif_request req;
	struct pvk_blkif_response rsp;

	memset(&req, 0, sizeof(req));
	memset(&rsp, 0, sizeof(rsp));
	assert_true(pvk_ring_is_broken(r));
	assert_non_null(pvk_ring_broken_reason(r));
	assert_int_equal(pvk_ring_peek(r), -EPROTO);
	assert_int_equal(pvk_ring_final_check(r), -EPROTO);
	assert_int_equal(pvk_ring_get(r, &req, T_BLK_RSP), -EPROTO);
	assert_int_equal(pvk_ring_put(r, &req, T_BLK_RSP), -EPROTO);
	assert_false(pvk_ring_push(r));
}

/* A frontend whose req_prod claims more requests than there are free
 * slots: the backend latches the ring broken and never reads a slot. */
static void t_hostile_front_producer_ahead(void **state)
{
	struct pvk_sring *s = t_ring_alloc(PVK_PAGE_SIZE);
	const RING_IDX starts[] = { 0, T_NEAR_WRAP, 0xFFFFFFF0u };
	unsigned int i;

	(void)state;
	for (i = 0; i < sizeof(starts) / sizeof(starts[0]); i++) {
		RING_IDX st = starts[i];
		struct pvk_ring b;
		struct pvk_blkif_request req;
		struct pvk_blkif_response rsp = { 0 };
		int k;

		/* Exactly a full ring is legitimate, even across 2^32. */
		assert_int_equal(t_blk_attach(&b, PVK_RING_BACK, s,
					      PVK_PAGE_SIZE, st, true),
				 0);
		s->req_prod = st + 32;
		assert_int_equal(pvk_ring_peek(&b), 32);
		/* Consume 5, answer 2: 3 responses owed.  Until the answers
		 * are published the frontend cannot have seen their slots
		 * free: 27 more requests at most. */
		for (k = 0; k < 5; k++)
			assert_int_equal(pvk_blkif_get_request(&b, &req), 1);
		for (k = 0; k < 2; k++)
			assert_int_equal(pvk_blkif_put_response(&b, &rsp), 0);
		s->req_prod = st + 5 + 27;
		assert_int_equal(pvk_ring_peek(&b), 27);
		/* Published: 29 slots free. */
		pvk_ring_push(&b);
		s->req_prod = st + 5 + 29;
		assert_int_equal(pvk_ring_peek(&b), 29);
		s->req_prod = st + 5 + 30;
		assert_int_equal(pvk_ring_peek(&b), -EPROTO);
		assert_string_equal(
			pvk_ring_broken_reason(&b),
			"frontend producer index beyond the free ring slots");
		t_expect_broken(&b);
		/* Latched: a sane index later does not un-break it. */
		s->req_prod = st + 6;
		assert_int_equal(pvk_blkif_get_request(&b, &req), -EPROTO);

		/* One beyond what the published answers freed. */
		assert_int_equal(t_blk_attach(&b, PVK_RING_BACK, s,
					      PVK_PAGE_SIZE, st, true),
				 0);
		s->req_prod = st + 32;
		for (k = 0; k < 5; k++)
			assert_int_equal(pvk_blkif_get_request(&b, &req), 1);
		for (k = 0; k < 2; k++)
			assert_int_equal(pvk_blkif_put_response(&b, &rsp), 0);
		s->req_prod = st + 5 + 28;
		assert_int_equal(pvk_ring_peek(&b), -EPROTO);
		t_expect_broken(&b);

		/* Far ahead, and "behind" (which is far ahead mod 2^32). */
		assert_int_equal(t_blk_attach(&b, PVK_RING_BACK, s,
					      PVK_PAGE_SIZE, st, true),
				 0);
		s->req_prod = st + 0x80000000u;
		assert_int_equal(pvk_blkif_get_request(&b, &req), -EPROTO);
		t_expect_broken(&b);
		assert_int_equal(t_blk_attach(&b, PVK_RING_BACK, s,
					      PVK_PAGE_SIZE, st, true),
				 0);
		s->req_prod = st - 1;
		assert_int_equal(pvk_ring_final_check(&b), -EPROTO);
		t_expect_broken(&b);
	}
	free(s);
}

/* A backend whose rsp_prod claims more responses than requests we
 * published (including ones put but not yet pushed). */
static void t_hostile_back_producer_ahead(void **state)
{
	struct pvk_sring *s = t_ring_alloc(PVK_PAGE_SIZE);
	const RING_IDX starts[] = { 0, T_NEAR_WRAP, 0xFFFFFFFEu };
	unsigned int i;

	(void)state;
	for (i = 0; i < sizeof(starts) / sizeof(starts[0]); i++) {
		RING_IDX st = starts[i];
		struct pvk_ring f;
		struct pvk_blkif_request req;
		struct pvk_blkif_response rsp;
		int k;

		T_BLK_REQ_FILL(&req, 1);
		assert_int_equal(t_blk_attach(&f, PVK_RING_FRONT, s,
					      PVK_PAGE_SIZE, st, true),
				 0);
		for (k = 0; k < 3; k++)
			assert_int_equal(pvk_blkif_put_request(&f, &req), 0);
		pvk_ring_push(&f);
		assert_int_equal(pvk_blkif_put_request(&f, &req), 0);
		s->rsp_prod = st + 3; /* all published requests: fine */
		assert_int_equal(pvk_ring_peek(&f), 3);
		s->rsp_prod = st + 4; /* the 4th was never pushed */
		assert_int_equal(pvk_blkif_get_response(&f, &rsp), 1);
		assert_int_equal(pvk_blkif_get_response(&f, &rsp), 1);
		assert_int_equal(pvk_blkif_get_response(&f, &rsp), 1);
		assert_int_equal(pvk_blkif_get_response(&f, &rsp), -EPROTO);
		assert_string_equal(
			pvk_ring_broken_reason(&f),
			"backend produced more responses than requests outstanding");
		t_expect_broken(&f);

		assert_int_equal(t_blk_attach(&f, PVK_RING_FRONT, s,
					      PVK_PAGE_SIZE, st, true),
				 0);
		s->rsp_prod = st + 1; /* a response to nothing */
		assert_int_equal(pvk_ring_final_check(&f), -EPROTO);
		t_expect_broken(&f);
	}
	free(s);
}

/* Index wrap: slots are idx & (n - 1), distances are mod 2^32, and a
 * legitimate producer index just past 0 is not mistaken for "behind". */
static void t_index_wrap(void **state)
{
	struct pvk_sring *s = t_ring_alloc(PVK_PAGE_SIZE);
	struct pvk_blkif_sring *bs = (struct pvk_blkif_sring *)s;
	struct pvk_ring f, b;
	uint64_t seq;

	(void)state;
	assert_int_equal(t_blk_attach(&f, PVK_RING_FRONT, s, PVK_PAGE_SIZE,
				      0xFFFFFFF0u, true),
			 0);
	assert_int_equal(t_blk_attach(&b, PVK_RING_BACK, s, PVK_PAGE_SIZE,
				      0xFFFFFFF0u, false),
			 0);
	for (seq = 0; seq < 31; seq++) {
		struct pvk_blkif_request req;

		T_BLK_REQ_FILL(&req, seq);
		assert_int_equal(pvk_blkif_put_request(&f, &req), 0);
	}
	pvk_ring_push(&f);
	assert_int_equal(s->req_prod, 0x0000000Fu);
	/* 0xFFFFFFFF went to the last slot, 0 to the first. */
	assert_int_equal(bs->ring[31].req.id, 15);
	assert_int_equal(bs->ring[0].req.id, 16);
	assert_int_equal(pvk_ring_peek(&b), 31);
	for (seq = 0; seq < 31; seq++) {
		struct pvk_blkif_request req;
		struct pvk_blkif_response rsp;

		assert_int_equal(pvk_blkif_get_request(&b, &req), 1);
		T_BLK_REQ_CHECK(&req, seq);
		T_BLK_RSP_FILL(&rsp, seq);
		assert_int_equal(pvk_blkif_put_response(&b, &rsp), 0);
	}
	pvk_ring_push(&b);
	for (seq = 0; seq < 31; seq++) {
		struct pvk_blkif_response rsp;

		assert_int_equal(pvk_blkif_get_response(&f, &rsp), 1);
		T_BLK_RSP_CHECK(&rsp, seq);
	}
	{
		struct pvk_blkif_response rsp;

		assert_int_equal(pvk_blkif_get_response(&f, &rsp), 0);
	}
	assert_int_equal(pvk_ring_final_check(&f), 0);
	assert_int_equal(s->rsp_event, 0x00000010u);
	/* cons is 0xF: 32 ahead (0x2F) is legal, 33 ahead is not. */
	s->req_prod = 0x0000000Fu + 32;
	assert_int_equal(pvk_ring_peek(&b), 32);
	s->req_prod = 0x0000000Fu + 33;
	assert_int_equal(pvk_ring_peek(&b), -EPROTO);
	free(s);
}

/*
 * A hardened frontend: responses name a request by a small id into a
 * private shadow table; the id is validated on the copy and a bad one
 * latches the ring.
 */
#define T_SHADOW 4
struct t_shadow {
	bool in_use;
	uint64_t sector;
};

static int t_front_complete(struct pvk_ring *r, struct t_shadow *sh,
			    unsigned int *completed)
{
	struct pvk_blkif_response rsp;
	int rc;

	while ((rc = pvk_blkif_get_response(r, &rsp)) == 1) {
		if (rsp.id >= T_SHADOW)
			return pvk_ring_set_broken(r,
						   "response id out of range");
		if (!sh[rsp.id].in_use)
			return pvk_ring_set_broken(
				r, "response for an id not in flight");
		sh[rsp.id].in_use = false;
		(*completed)++;
	}
	return rc;
}

static void t_hostile_response_id(void **state)
{
	struct pvk_sring *s = t_ring_alloc(PVK_PAGE_SIZE);
	struct pvk_ring f, b;
	struct t_shadow sh[T_SHADOW];
	unsigned int completed = 0, i;
	const uint64_t bad_ids[] = { T_SHADOW, 7, UINT64_MAX, 1ULL << 32 };

	(void)state;
	for (i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]) + 1; i++) {
		struct pvk_blkif_request req;
		struct pvk_blkif_response rsp = { .status = 0 };
		uint64_t id;

		memset(sh, 0, sizeof(sh));
		completed = 0;
		assert_int_equal(t_blk_attach(&f, PVK_RING_FRONT, s,
					      PVK_PAGE_SIZE, T_NEAR_WRAP, true),
				 0);
		assert_int_equal(t_blk_attach(&b, PVK_RING_BACK, s,
					      PVK_PAGE_SIZE, T_NEAR_WRAP,
					      false),
				 0);
		for (id = 0; id < 2; id++) {
			T_BLK_REQ_FILL(&req, id);
			sh[id] = (struct t_shadow){ true, req.sector_number };
			assert_int_equal(pvk_blkif_put_request(&f, &req), 0);
		}
		pvk_ring_push(&f);
		assert_int_equal(pvk_blkif_get_request(&b, &req), 1);
		assert_int_equal(pvk_blkif_get_request(&b, &req), 1);
		rsp.id = 0;
		assert_int_equal(pvk_blkif_put_response(&b, &rsp), 0);
		/* Last round: a valid id, but answered twice. */
		rsp.id = i < sizeof(bad_ids) / sizeof(bad_ids[0]) ? bad_ids[i] :
								    0;
		assert_int_equal(pvk_blkif_put_response(&b, &rsp), 0);
		pvk_ring_push(&b);

		assert_int_equal(t_front_complete(&f, sh, &completed), -EPROTO);
		assert_int_equal(completed, 1);
		assert_string_equal(pvk_ring_broken_reason(&f),
				    i < sizeof(bad_ids) / sizeof(bad_ids[0]) ?
					    "response id out of range" :
					    "response for an id not in flight");
		assert_true(sh[1].in_use);
		t_expect_broken(&f);
	}
	free(s);
}

/* The copy is what the consumer validates and uses; rewriting the slot
 * after the get changes nothing. */
static void t_hostile_slot_rewritten_after_get(void **state)
{
	struct pvk_sring *s = t_ring_alloc(PVK_PAGE_SIZE);
	struct pvk_blkif_sring *bs = (struct pvk_blkif_sring *)s;
	struct pvk_ring f, b;
	struct pvk_blkif_request req, want;
	const char *why = "";

	(void)state;
	assert_int_equal(
		t_blk_attach(&f, PVK_RING_FRONT, s, PVK_PAGE_SIZE, 0, true), 0);
	assert_int_equal(
		t_blk_attach(&b, PVK_RING_BACK, s, PVK_PAGE_SIZE, 0, false), 0);
	T_BLK_REQ_FILL(&want, 9);
	assert_int_equal(pvk_blkif_put_request(&f, &want), 0);
	pvk_ring_push(&f);
	assert_int_equal(pvk_blkif_get_request(&b, &req), 1);
	assert_int_equal(pvk_blkif_check_request(
				 (union pvk_blkif_any_request *)&req, 0, &why),
			 0);
	/* The peer now makes the slot invalid... */
	memset(&bs->ring[0], 0xff, sizeof(bs->ring[0]));
	/* ...the copy is unchanged and still valid. */
	assert_memory_equal(&req, &want, sizeof(req));
	assert_int_equal(pvk_blkif_check_request(
				 (union pvk_blkif_any_request *)&req, 0, &why),
			 0);
	free(s);
}

/*
 * A second thread rewrites the one slot of a single-slot ring as fast as it
 * can, alternating a valid request and a wild one (nr_segments 255, id
 * out of range).  The consumer validates its copy, then uses it many
 * times: whatever it accepted stays what it accepted.
 */
struct t_scribbler {
	struct pvk_blkif_sring *bs;
	int stop;
	unsigned long writes;
};

static void *t_scribble(void *arg)
{
	struct t_scribbler *sc = arg;
	uint64_t *w = (uint64_t *)&sc->bs->ring[0];
	unsigned long n = 0;

	while (!__atomic_load_n(&sc->stop, __ATOMIC_RELAXED)) {
		/* word 0: operation, nr_segments, handle; word 1: id */
		bool wild = n & 1;
		uint64_t w0 = PVK_BLKIF_OP_READ | (uint64_t)(wild ? 255 : 2)
							  << 8;

		__atomic_store_n(&w[0], w0, __ATOMIC_RELAXED);
		__atomic_store_n(&w[1], wild ? 1000 + n : n % T_SHADOW,
				 __ATOMIC_RELAXED);
		__atomic_store_n(&sc->writes, ++n, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void t_hostile_slot_scribbled_during_get(void **state)
{
	size_t bytes = PVK_RING_HDR_SIZE + T_BLK_SLOT;
	struct pvk_sring *s = t_ring_alloc(bytes);
	struct t_scribbler sc = { .bs = (struct pvk_blkif_sring *)s };
	unsigned int accepted = 0, rejected = 0, i, j;
	unsigned long uses[T_SHADOW] = { 0 };
	struct pvk_ring b;
	pthread_t th;
	const unsigned int iters = RUNNING_ON_VALGRIND ? 2000 : 20000;

	(void)state;
	assert_int_equal(t_blk_attach(&b, PVK_RING_BACK, s, bytes, T_NEAR_WRAP,
				      true),
			 0);
	assert_int_equal(b.nr_ents, 1);
	assert_int_equal(pthread_create(&th, NULL, t_scribble, &sc), 0);
	while (!__atomic_load_n(&sc.writes, __ATOMIC_RELAXED))
		sched_yield();

	for (i = 0; i < iters; i++) {
		struct pvk_blkif_request req;
		struct pvk_blkif_response rsp = { 0 };
		volatile struct pvk_blkif_request *v = &req;
		unsigned int nseg;
		uint64_t id;

		/* The hostile frontend publishes the slot. */
		__atomic_store_n(&s->req_prod, T_NEAR_WRAP + i + 1,
				 __ATOMIC_RELEASE);
		assert_int_equal(pvk_blkif_get_request(&b, &req), 1);
		nseg = req.nr_segments;
		id = req.id;
		if (nseg > PVK_BLKIF_MAX_SEGMENTS_PER_REQUEST ||
		    id >= T_SHADOW) {
			rejected++;
		} else {
			accepted++;
			/* Use the validated copy, re-reading it while the
			 * slot keeps changing underneath. */
			for (j = 0; j < 64; j++) {
				assert_int_equal(v->nr_segments, nseg);
				assert_int_equal(v->id, id);
				uses[v->id]++;
			}
		}
		rsp.id = id;
		assert_int_equal(pvk_blkif_put_response(&b, &rsp), 0);
		pvk_ring_push(&b);
	}
	__atomic_store_n(&sc.stop, 1, __ATOMIC_RELAXED);
	pthread_join(th, NULL);
	print_message("scribbled slot: %u accepted, %u rejected, %lu writes\n",
		      accepted, rejected, sc.writes);
	assert_int_equal(accepted + rejected, iters);
	assert_int_equal(uses[0] + uses[1] + uses[2] + uses[3],
			 (unsigned long)accepted * 64);
	assert_false(pvk_ring_is_broken(&b));
	free(s);
}

/* bytes = header + one slot: a legal one-entry ring, across the wrap. */
static void t_single_slot_ring(void **state)
{
	size_t bytes = PVK_RING_HDR_SIZE + T_BLK_SLOT;
	struct pvk_sring *s = t_ring_alloc(bytes);
	struct pvk_ring f, b;
	uint64_t seq;

	(void)state;
	assert_int_equal(__RING_SIZE((blkif_sring_t *)s, bytes), 1);
	assert_int_equal(t_blk_attach(&f, PVK_RING_FRONT, s, bytes, 0xFFFFFFF0u,
				      true),
			 0);
	assert_int_equal(t_blk_attach(&b, PVK_RING_BACK, s, bytes, 0xFFFFFFF0u,
				      false),
			 0);
	assert_int_equal(f.nr_ents, 1);
	for (seq = 0; seq < 100; seq++) {
		struct pvk_blkif_request req;
		struct pvk_blkif_response rsp;

		T_BLK_REQ_FILL(&req, seq);
		assert_int_equal(pvk_blkif_put_request(&f, &req), 0);
		assert_int_equal(pvk_blkif_put_request(&f, &req), -ENOSPC);
		assert_true(pvk_ring_push(&f)); /* the back is armed */
		assert_int_equal(pvk_blkif_get_request(&b, &req), 1);
		T_BLK_REQ_CHECK(&req, seq);
		assert_int_equal(pvk_blkif_get_request(&b, &req), 0);
		assert_int_equal(pvk_ring_final_check(&b), 0);
		T_BLK_RSP_FILL(&rsp, seq);
		assert_int_equal(pvk_blkif_put_response(&b, &rsp), 0);
		assert_int_equal(pvk_blkif_put_response(&b, &rsp), -ENOSPC);
		assert_true(pvk_ring_push(&b)); /* the front is armed */
		assert_int_equal(pvk_blkif_get_response(&f, &rsp), 1);
		T_BLK_RSP_CHECK(&rsp, seq);
		assert_int_equal(pvk_ring_final_check(&f), 0);
		assert_true(pvk_ring_push(&b) == false);
	}
	assert_int_equal(s->req_prod, 0xFFFFFFF0u + 100);
	free(s);
}

/*
 * A back end that dies with requests taken and responses put but not
 * pushed: its successor attaches at the published response index, is
 * told where consuming stopped, and owes exactly the unanswered ones;
 * the slots overwritten by unpublished responses are never read again.
 */
static void t_back_resume(void **state)
{
	size_t bytes = PVK_PAGE_SIZE;
	struct pvk_sring *s = t_ring_alloc(bytes);
	struct pvk_blkif_request req;
	struct pvk_blkif_response rsp;
	struct pvk_ring f, b, b2;
	uint32_t seq, start = 0xFFFFFFFAu;

	(void)state;
	assert_int_equal(
		t_blk_attach(&f, PVK_RING_FRONT, s, bytes, start, true), 0);
	assert_int_equal(
		t_blk_attach(&b, PVK_RING_BACK, s, bytes, start, false), 0);
	for (seq = 0; seq < 8; seq++) {
		T_BLK_REQ_FILL(&req, seq);
		assert_int_equal(pvk_blkif_put_request(&f, &req), 0);
	}
	pvk_ring_push(&f);
	/* Takes 5, answers 2 and publishes them, puts a third: dies. */
	for (seq = 0; seq < 5; seq++)
		assert_int_equal(pvk_blkif_get_request(&b, &req), 1);
	T_BLK_RSP_FILL(&rsp, 0);
	assert_int_equal(pvk_blkif_put_response(&b, &rsp), 0);
	assert_int_equal(pvk_blkif_put_response(&b, &rsp), 0);
	pvk_ring_push(&b);
	assert_int_equal(pvk_blkif_put_response(&b, &rsp), 0);

	assert_int_equal(t_blk_attach(&b2, PVK_RING_BACK, s, bytes, s->rsp_prod,
				      false),
			 0);
	/* More than a ring owed, or on the wrong end: refused. */
	assert_int_equal(pvk_ring_back_resume(&b2, start + 2 + b2.nr_ents + 1),
			 -EINVAL);
	assert_int_equal(pvk_ring_back_resume(&f, start + 5), -EINVAL);
	assert_int_equal(pvk_ring_back_resume(&b2, start + 5), 0);
	assert_int_equal(pvk_ring_in_flight(&b2), 3);
	assert_int_equal(pvk_ring_space(&b2), 3);
	/* Consuming goes on at the sixth request. */
	for (seq = 5; seq < 8; seq++) {
		assert_int_equal(pvk_blkif_get_request(&b2, &req), 1);
		T_BLK_REQ_CHECK(&req, seq);
	}
	assert_int_equal(pvk_blkif_get_request(&b2, &req), 0);
	/* Six responses owed; the front gets them after the two. */
	for (seq = 0; seq < 6; seq++) {
		T_BLK_RSP_FILL(&rsp, seq);
		assert_int_equal(pvk_blkif_put_response(&b2, &rsp), 0);
	}
	assert_int_equal(pvk_blkif_put_response(&b2, &rsp), -ENOSPC);
	pvk_ring_push(&b2);
	for (seq = 0; seq < 8; seq++)
		assert_int_equal(pvk_blkif_get_response(&f, &rsp), 1);
	assert_int_equal(pvk_blkif_get_response(&f, &rsp), 0);
	assert_false(pvk_ring_is_broken(&f));
	free(s);
}

static void t_full_ring(void **state)
{
	struct pvk_sring *s = t_ring_alloc(PVK_PAGE_SIZE);
	struct pvk_ring f, b;
	struct pvk_blkif_request req;
	struct pvk_blkif_response rsp = { 0 };
	unsigned int i;

	(void)state;
	T_BLK_REQ_FILL(&req, 3);
	assert_int_equal(t_blk_attach(&f, PVK_RING_FRONT, s, PVK_PAGE_SIZE,
				      T_NEAR_WRAP, true),
			 0);
	assert_int_equal(t_blk_attach(&b, PVK_RING_BACK, s, PVK_PAGE_SIZE,
				      T_NEAR_WRAP, false),
			 0);
	/* A backend owes nothing before it has consumed a request. */
	assert_int_equal(pvk_ring_space(&b), 0);
	assert_int_equal(pvk_blkif_put_response(&b, &rsp), -ENOSPC);
	for (i = 0; i < 32; i++)
		assert_int_equal(pvk_blkif_put_request(&f, &req), 0);
	assert_int_equal(pvk_ring_space(&f), 0);
	assert_int_equal(pvk_blkif_put_request(&f, &req), -ENOSPC);
	assert_int_equal(pvk_ring_in_flight(&f), 32);
	pvk_ring_push(&f);
	assert_int_equal(pvk_blkif_put_request(&f, &req), -ENOSPC);
	for (i = 0; i < 32; i++)
		assert_int_equal(pvk_blkif_get_request(&b, &req), 1);
	assert_int_equal(pvk_ring_in_flight(&b), 32);
	for (i = 0; i < 32; i++)
		assert_int_equal(pvk_blkif_put_response(&b, &rsp), 0);
	assert_int_equal(pvk_blkif_put_response(&b, &rsp), -ENOSPC);
	pvk_ring_push(&b);
	/* Still full until the frontend consumes a response. */
	assert_int_equal(pvk_blkif_put_request(&f, &req), -ENOSPC);
	assert_int_equal(pvk_blkif_get_response(&f, &rsp), 1);
	assert_int_equal(pvk_ring_space(&f), 1);
	assert_int_equal(pvk_blkif_put_request(&f, &req), 0);
	assert_false(pvk_ring_is_broken(&f) || pvk_ring_is_broken(&b));
	free(s);
}

static void t_attach_bad_args(void **state)
{
	unsigned char *mem = t_ring_alloc(2 * (PVK_PAGE_SIZE << 4));
	struct pvk_ring r;
	const size_t pg = PVK_PAGE_SIZE;

	(void)state;
	assert_int_equal(pvk_ring_attach(NULL, PVK_RING_FRONT, mem, pg,
					 T_BLK_SLOT, T_BLK_REQ, T_BLK_RSP, 0,
					 true),
			 -EINVAL);
	assert_int_equal(pvk_ring_attach(&r, PVK_RING_FRONT, NULL, pg,
					 T_BLK_SLOT, T_BLK_REQ, T_BLK_RSP, 0,
					 true),
			 -EINVAL);
	/* Smaller than the header plus one entry. */
	assert_int_equal(pvk_ring_attach(&r, PVK_RING_FRONT, mem,
					 PVK_RING_HDR_SIZE + T_BLK_SLOT - 1,
					 T_BLK_SLOT, T_BLK_REQ, T_BLK_RSP, 0,
					 true),
			 -EINVAL);
	assert_int_equal(pvk_ring_attach(&r, PVK_RING_FRONT, mem, 0, T_BLK_SLOT,
					 T_BLK_REQ, T_BLK_RSP, 0, true),
			 -EINVAL);
	/* Larger than 2^PVK_RING_MAX_ORDER pages. */
	assert_int_equal(pvk_ring_attach(&r, PVK_RING_FRONT, mem,
					 (pg << PVK_RING_MAX_ORDER) + 1,
					 T_BLK_SLOT, T_BLK_REQ, T_BLK_RSP, 0,
					 true),
			 -EINVAL);
	assert_int_equal(pvk_ring_attach(&r, PVK_RING_FRONT, mem, pg << 5,
					 T_BLK_SLOT, T_BLK_REQ, T_BLK_RSP, 0,
					 true),
			 -EINVAL);
	/* Entry sizes. */
	assert_int_equal(pvk_ring_attach(&r, PVK_RING_FRONT, mem, pg, 0, 0, 0,
					 0, true),
			 -EINVAL);
	assert_int_equal(pvk_ring_attach(&r, PVK_RING_FRONT, mem, pg,
					 T_BLK_SLOT, T_BLK_SLOT + 1, T_BLK_RSP,
					 0, true),
			 -EINVAL);
	assert_int_equal(pvk_ring_attach(&r, PVK_RING_FRONT, mem, pg,
					 T_BLK_SLOT, T_BLK_REQ, T_BLK_SLOT + 1,
					 0, true),
			 -EINVAL);
	/* Misaligned shared page, unknown role. */
	assert_int_equal(pvk_ring_attach(&r, PVK_RING_FRONT, mem + 2, pg,
					 T_BLK_SLOT, T_BLK_REQ, T_BLK_RSP, 0,
					 true),
			 -EINVAL);
	assert_int_equal(pvk_ring_attach(&r, PVK_RING_FRONT, mem + 4, pg,
					 T_BLK_SLOT, T_BLK_REQ, T_BLK_RSP, 0,
					 true),
			 -EINVAL);
	assert_int_equal(pvk_ring_attach(&r, (enum pvk_ring_role)2, mem, pg,
					 T_BLK_SLOT, T_BLK_REQ, T_BLK_RSP, 0,
					 true),
			 -EINVAL);
	/* Nothing was written to the shared page by the failed attaches. */
	{
		static const unsigned char zero[PVK_RING_HDR_SIZE];
		struct pvk_blkif_request rq = { 0 };
		struct pvk_ring_batch bt;

		assert_memory_equal(mem, zero, sizeof(zero));
		/* And the ring of a failed attach refuses everything. */
		assert_true(pvk_ring_is_broken(&r));
		assert_int_equal(pvk_ring_peek(&r), -EINVAL);
		assert_int_equal(pvk_ring_put(&r, &rq, sizeof(rq)), -EINVAL);
		assert_int_equal(pvk_ring_get(&r, &rq, sizeof(rq)), -EINVAL);
		assert_null(pvk_ring_prepare(&r));
		assert_false(pvk_ring_push(&r));
		assert_true(pvk_blkif_batch_begin(&r, &bt) < 0);
		assert_int_equal(pvk_ring_batch_avail(&bt), 0);
		assert_int_equal(pvk_ring_batch_space(&bt), 0);
		assert_null(pvk_blkif_batch_prepare_request(&bt));
		pvk_ring_batch_end(&r, &bt);
		assert_memory_equal(mem, zero, sizeof(zero));
	}
	/* And the good case at the limits. */
	assert_int_equal(pvk_ring_attach(&r, PVK_RING_FRONT, mem,
					 pg << PVK_RING_MAX_ORDER, T_BLK_SLOT,
					 T_BLK_REQ, T_BLK_RSP, 0, true),
			 0);
	assert_int_equal(r.nr_ents, 512);
	free(mem);
}

/*
 * Zero-copy producing: prepare/commit build entries in their slots; a
 * Xen backend reads them; NULL when full, broken, or the wrong role.
 */
static void t_prepare_commit(void **state)
{
	blkif_sring_t *xs = t_ring_alloc(PVK_PAGE_SIZE);
	blkif_back_ring_t xb;
	struct pvk_ring f, b;
	uint64_t seq, got = 0;
	unsigned int round;

	(void)state;
	assert_int_equal(t_blk_attach(&f, PVK_RING_FRONT, xs, PVK_PAGE_SIZE,
				      T_NEAR_WRAP, true),
			 0);
	BACK_RING_ATTACH(&xb, xs, T_NEAR_WRAP, PVK_PAGE_SIZE);
	assert_null(pvk_blkif_prepare_response(&f));
	for (seq = 0, round = 0; round < 40; round++) {
		struct pvk_blkif_request *q;
		RING_IDX rp;
		int notify;

		while ((q = pvk_blkif_prepare_request(&f)) != NULL) {
			T_BLK_REQ_FILL(q, seq);
			seq++;
			assert_int_equal(pvk_ring_commit(&f), 0);
		}
		/* Full: no slot to prepare, nothing to commit. */
		assert_int_equal(pvk_ring_space(&f), 0);
		assert_null(pvk_ring_prepare(&f));
		assert_int_equal(pvk_ring_commit(&f), -ENOSPC);
		pvk_ring_push(&f);

		rp = xs->req_prod;
		xen_rmb();
		while (xb.req_cons != rp) {
			blkif_request_t req;
			blkif_response_t *p;

			RING_COPY_REQUEST(&xb, xb.req_cons, &req);
			xb.req_cons++;
			T_BLK_REQ_CHECK(&req, got);
			p = RING_GET_RESPONSE(&xb, xb.rsp_prod_pvt++);
			T_BLK_RSP_FILL(p, got);
			got++;
		}
		RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&xb, notify);
		(void)notify;
		while (pvk_ring_in_flight(&f)) {
			struct pvk_blkif_response rsp;

			assert_int_equal(pvk_blkif_get_response(&f, &rsp), 1);
		}
	}
	assert_int_equal(got, seq);
	assert_true(seq > 256);

	/* The backend answers in place, only for requests it consumed. */
	assert_int_equal(
		t_blk_attach(&b, PVK_RING_BACK, xs, PVK_PAGE_SIZE, 0, true), 0);
	assert_null(pvk_blkif_prepare_response(&b));
	assert_null(pvk_blkif_prepare_request(&b));
	xs->req_prod = 1;
	{
		struct pvk_blkif_request req;
		struct pvk_blkif_response *p;

		assert_int_equal(pvk_blkif_get_request(&b, &req), 1);
		p = pvk_blkif_prepare_response(&b);
		assert_non_null(p);
		assert_ptr_equal(p,
				 &((struct pvk_blkif_sring *)xs)->ring[0].rsp);
		p->id = 42;
		assert_int_equal(pvk_ring_commit(&b), 0);
		assert_null(pvk_blkif_prepare_response(&b));
		assert_true(pvk_ring_push(&b));
		assert_int_equal(xs->rsp_prod, 1);
		assert_int_equal(xs->ring[0].rsp.id, 42);
	}
	/* Broken: nothing to prepare or commit. */
	xs->req_prod = 1000;
	assert_int_equal(pvk_ring_peek(&b), -EPROTO);
	assert_null(pvk_ring_prepare(&b));
	assert_int_equal(pvk_ring_commit(&b), -EPROTO);
	free(xs);
}

static void t_msgsize(void **state)
{
	struct pvk_sring *s = t_ring_alloc(PVK_PAGE_SIZE);
	unsigned char buf[T_BLK_SLOT + 8];
	struct pvk_ring f, b;

	(void)state;
	memset(buf, 0, sizeof(buf));
	assert_int_equal(
		t_blk_attach(&f, PVK_RING_FRONT, s, PVK_PAGE_SIZE, 0, true), 0);
	assert_int_equal(
		t_blk_attach(&b, PVK_RING_BACK, s, PVK_PAGE_SIZE, 0, false), 0);
	assert_int_equal(pvk_ring_put(&f, buf, T_BLK_REQ + 1), -EMSGSIZE);
	assert_int_equal(pvk_ring_put(&f, buf, T_BLK_REQ), 0);
	pvk_ring_push(&f);
	assert_int_equal(pvk_ring_get(&b, buf, T_BLK_REQ + 1), -EMSGSIZE);
	assert_int_equal(pvk_ring_get(&b, buf, T_BLK_REQ), 1);
	assert_int_equal(pvk_ring_put(&b, buf, T_BLK_RSP + 1), -EMSGSIZE);
	assert_int_equal(pvk_ring_put(&b, buf, T_BLK_RSP), 0);
	pvk_ring_push(&b);
	assert_int_equal(pvk_ring_get(&f, buf, T_BLK_RSP + 1), -EMSGSIZE);
	assert_int_equal(pvk_ring_get(&f, buf, T_BLK_RSP), 1);
	/* A caller's mistake, not the peer's: the ring stays usable. */
	assert_false(pvk_ring_is_broken(&f) || pvk_ring_is_broken(&b));
	free(s);
}

static void t_ring_same_state(const struct pvk_ring *a,
			      const struct pvk_ring *b)
{
	assert_int_equal(a->prod_pvt, b->prod_pvt);
	assert_int_equal(a->pushed, b->pushed);
	assert_int_equal(a->cons, b->cons);
	assert_int_equal(a->snap, b->snap);
	assert_int_equal(a->err, b->err);
	assert_int_equal(a->role, b->role);
}

static void t_wrong_role(void **state)
{
	struct pvk_sring *s = t_ring_alloc(PVK_PAGE_SIZE);
	struct pvk_ring f, b, nf, nb;
	struct pvk_blkif_request req;
	struct pvk_blkif_response rsp = { 0 };
	union pvk_blkif_any_request any;
	union pvk_netif_tx_slot tx;
	union pvk_netif_rx_slot rx;
	struct pvk_netif_extra_info ex = { .type = 1 };
	struct pvk_netif_tx_response txr = { 0 };
	struct pvk_ring before_f, before_b;
	struct pvk_sring *ns = t_ring_alloc(PVK_PAGE_SIZE);

	(void)state;
	T_BLK_REQ_FILL(&req, 1);
	memset(&any, 0, sizeof(any));
	assert_int_equal(pvk_blkif_front_init(&f, (struct pvk_blkif_sring *)s,
					      PVK_PAGE_SIZE),
			 0);
	assert_int_equal(pvk_blkif_back_attach(&b, (struct pvk_blkif_sring *)s,
					       PVK_PAGE_SIZE),
			 0);
	assert_int_equal(pvk_blkif_put_request(&f, &req), 0);
	pvk_ring_push(&f);
	before_f = f;
	before_b = b;
	assert_int_equal(pvk_blkif_put_request(&b, &req), -EINVAL);
	assert_int_equal(pvk_blkif_get_request(&f, &req), -EINVAL);
	assert_int_equal(pvk_blkif_put_response(&f, &rsp), -EINVAL);
	assert_int_equal(pvk_blkif_get_response(&b, &rsp), -EINVAL);
	assert_int_equal(pvk_blkif_get_any_request(&f, &any), -EINVAL);
	assert_int_equal(pvk_blkif_put_any_request(&b, &any), -EINVAL);
	/* No side effect on either end. */
	t_ring_same_state(&f, &before_f);
	t_ring_same_state(&b, &before_b);
	assert_int_equal(pvk_blkif_get_request(&b, &req), 1);

	assert_int_equal(
		pvk_netif_tx_front_init(&nf, (struct pvk_netif_tx_sring *)ns,
					PVK_PAGE_SIZE),
		0);
	assert_int_equal(
		pvk_netif_tx_back_attach(&nb, (struct pvk_netif_tx_sring *)ns,
					 PVK_PAGE_SIZE),
		0);
	assert_int_equal(pvk_netif_get_tx_slot(&nf, &tx), -EINVAL);
	assert_int_equal(pvk_netif_put_tx_extra(&nb, &ex), -EINVAL);
	assert_int_equal(pvk_netif_get_rx_slot(&nb, &rx), -EINVAL);
	assert_int_equal(pvk_netif_put_rx_extra(&nf, &ex), -EINVAL);
	assert_int_equal(pvk_netif_tx_put_response(&nf, &txr), -EINVAL);
	assert_int_equal(pvk_netif_tx_get_request(&nf, &tx.req), -EINVAL);
	assert_int_equal(pvk_ring_in_flight(&nf), 0);
	free(s);
	free(ns);
}

/* The tx extra-info helper writes the whole 12-byte slot: no stack bytes
 * reach the peer through the 4 bytes past the 8-byte extra. */
static void t_netif_extra_slot_zero_tail(void **state)
{
	struct pvk_netif_tx_sring *s = t_ring_alloc(PVK_PAGE_SIZE);
	struct pvk_netif_extra_info ex = {
		.type = PVK_NETIF_EXTRA_TYPE_MCAST_ADD,
		.u.mcast.addr = { 1, 2, 3, 4, 5, 6 }
	};
	struct pvk_ring f;
	const unsigned char *slot = (const unsigned char *)&s->ring[0];
	unsigned int i;

	(void)state;
	memset(s->ring, 0xAA, 3 * sizeof(s->ring[0]));
	assert_int_equal(pvk_netif_tx_front_init(&f, s, PVK_PAGE_SIZE), 0);
	assert_int_equal(pvk_netif_put_tx_extra(&f, &ex), 0);
	assert_memory_equal(slot, &ex, sizeof(ex));
	for (i = sizeof(ex); i < sizeof(s->ring[0]); i++)
		assert_int_equal(slot[i], 0);
	free(s);
}

/* ------------------------------------------------------------------ */
/* No lost wake-up: two threads, eventfd notifications                 */

enum t_impl { T_PVK, T_XEN };

struct t_wend {
	enum t_impl impl;
	struct pvk_ring r;
	blkif_front_ring_t xf;
	blkif_back_ring_t xb;
	RING_IDX xsnap; /* Xen end: validated peer index, read once */
};

struct t_wake {
	blkif_sring_t *sring;
	struct t_wend front, back;
	int efd_req, efd_rsp; /* front -> back, back -> front */
	uint64_t roundtrips;
	int poll_ms;
	int stop;
	pthread_mutex_t lock;
	char err[256];
	/* statistics */
	uint64_t notify_req, notify_rsp, sleeps_front, sleeps_back;
};

static void t_wake_fail(struct t_wake *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void t_wake_fail(struct t_wake *w, const char *fmt, ...)
{
	va_list ap;
	uint64_t one = 1;

	pthread_mutex_lock(&w->lock);
	if (!w->err[0]) {
		va_start(ap, fmt);
		vsnprintf(w->err, sizeof(w->err), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&w->lock);
	__atomic_store_n(&w->stop, 1, __ATOMIC_SEQ_CST);
	/* Unblock the other thread. */
	if (write(w->efd_req, &one, sizeof(one)) < 0 ||
	    write(w->efd_rsp, &one, sizeof(one)) < 0)
		abort();
}

static uint32_t t_wend_space(struct t_wend *e)
{
	return e->impl == T_PVK ? pvk_ring_space(&e->r) :
				  RING_FREE_REQUESTS(&e->xf);
}

static int t_wend_put_req(struct t_wend *e, uint64_t id)
{
	if (e->impl == T_PVK) {
		struct pvk_blkif_request req = { .operation = BLKIF_OP_READ,
						 .nr_segments = 1,
						 .id = id };

		return pvk_blkif_put_request(&e->r, &req);
	} else {
		blkif_request_t *q =
			RING_GET_REQUEST(&e->xf, e->xf.req_prod_pvt);

		if (RING_FULL(&e->xf))
			return -ENOSPC;
		memset(q, 0, sizeof(*q));
		q->operation = BLKIF_OP_READ;
		q->nr_segments = 1;
		q->id = id;
		e->xf.req_prod_pvt++;
		return 0;
	}
}

static bool t_wend_push(struct t_wend *e, bool front)
{
	int notify;

	if (e->impl == T_PVK)
		return pvk_ring_push(&e->r);
	if (front)
		RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&e->xf, notify);
	else
		RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&e->xb, notify);
	return notify;
}

/* Front: 1 and the response's id, 0 if none, -EPROTO. */
static int t_wend_get_rsp(struct t_wend *e, uint64_t *id)
{
	blkif_response_t rsp;

	if (e->impl == T_PVK) {
		struct pvk_blkif_response prsp;
		int rc = pvk_blkif_get_response(&e->r, &prsp);

		if (rc == 1)
			*id = prsp.id;
		return rc;
	}
	if (e->xsnap == e->xf.rsp_cons) {
		RING_IDX rp = e->xf.sring->rsp_prod;

		xen_rmb();
		if (RING_RESPONSE_PROD_OVERFLOW(&e->xf, rp))
			return -EPROTO;
		e->xsnap = rp;
		if (rp == e->xf.rsp_cons)
			return 0;
	}
	RING_COPY_RESPONSE(&e->xf, e->xf.rsp_cons, &rsp);
	e->xf.rsp_cons++;
	*id = rsp.id;
	return 1;
}

/* Back: take one request and answer it at once. */
static int t_wend_serve(struct t_wend *e, uint64_t *id)
{
	if (e->impl == T_PVK) {
		struct pvk_blkif_request req;
		struct pvk_blkif_response rsp = { 0 };
		int rc = pvk_blkif_get_request(&e->r, &req);

		if (rc != 1)
			return rc;
		*id = rsp.id = req.id;
		rsp.operation = req.operation;
		rc = pvk_blkif_put_response(&e->r, &rsp);
		return rc < 0 ? rc : 1;
	} else {
		blkif_request_t req;
		blkif_response_t *p;

		if (e->xsnap == e->xb.req_cons) {
			RING_IDX rp = e->xb.sring->req_prod;

			xen_rmb();
			if (RING_REQUEST_PROD_OVERFLOW(&e->xb, rp))
				return -EPROTO;
			e->xsnap = rp;
			if (rp == e->xb.req_cons)
				return 0;
		}
		RING_COPY_REQUEST(&e->xb, e->xb.req_cons, &req);
		e->xb.req_cons++;
		p = RING_GET_RESPONSE(&e->xb, e->xb.rsp_prod_pvt);
		p->id = req.id;
		p->operation = req.operation;
		p->status = BLKIF_RSP_OKAY;
		e->xb.rsp_prod_pvt++;
		*id = req.id;
		return 1;
	}
}

static inline void t_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

/* Work visible without the final check's side effect (a poll loop). */
static bool t_wend_pending(struct t_wend *e, bool front)
{
	if (e->impl == T_PVK)
		return pvk_ring_peek(&e->r) != 0;
	if (front)
		return __atomic_load_n(&e->xf.sring->rsp_prod,
				       __ATOMIC_ACQUIRE) != e->xf.rsp_cons;
	return __atomic_load_n(&e->xb.sring->req_prod, __ATOMIC_ACQUIRE) !=
	       e->xb.req_cons;
}

/*
 * Poll a random short while before the final check, as a driver that
 * spins before it sleeps: it puts the two ends' final checks and pushes
 * in flight at the same time, which is where a wake-up gets lost.
 */
static bool t_wend_spin(struct t_wend *e, bool front, uint64_t *rng)
{
	uint32_t spins = t_rand_below(rng, 4) ? t_rand_below(rng, 400) : 0;

	while (spins--) {
		if (t_wend_pending(e, front))
			return true;
		t_cpu_relax();
	}
	return false;
}

static int t_wend_final_check(struct t_wend *e, bool front)
{
	int more;

	if (e->impl == T_PVK)
		return pvk_ring_final_check(&e->r);
	if (front)
		RING_FINAL_CHECK_FOR_RESPONSES(&e->xf, more);
	else
		RING_FINAL_CHECK_FOR_REQUESTS(&e->xb, more);
	return more;
}

/* Sleep until notified; false (and the test failed) on timeout. */
static bool t_wake_sleep(struct t_wake *w, int fd, const char *who,
			 uint64_t done)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	uint64_t v;
	int rc;

	do
		rc = poll(&pfd, 1, w->poll_ms);
	while (rc < 0 && errno == EINTR);
	if (rc == 0) {
		t_wake_fail(w,
			    "%s slept %d ms after %" PRIu64
			    " round trips: a wake-up was lost",
			    who, w->poll_ms, done);
		return false;
	}
	if (rc < 0 || read(fd, &v, sizeof(v)) != sizeof(v)) {
		t_wake_fail(w, "%s: poll/read: %s", who, strerror(errno));
		return false;
	}
	return !__atomic_load_n(&w->stop, __ATOMIC_SEQ_CST);
}

static void t_wake_notify(struct t_wake *w, int fd, uint64_t *count)
{
	uint64_t one = 1;

	(*count)++;
	if (write(fd, &one, sizeof(one)) != sizeof(one))
		t_wake_fail(w, "eventfd write: %s", strerror(errno));
}

static void *t_wake_front(void *arg)
{
	struct t_wake *w = arg;
	struct t_wend *e = &w->front;
	uint64_t sent = 0, done = 0, rng = t_seed ^ 0xf0f0, id;
	int rc;

	while (done < w->roundtrips) {
		uint32_t n = 1 + t_rand_below(&rng, 32), k, space;
		bool progress = false;

		if (__atomic_load_n(&w->stop, __ATOMIC_RELAXED))
			return NULL;
		space = t_wend_space(e);
		if (n > space)
			n = space;
		if (n > w->roundtrips - sent)
			n = (uint32_t)(w->roundtrips - sent);
		for (k = 0; k < n; k++) {
			if (t_wend_put_req(e, sent) < 0) {
				t_wake_fail(w, "front: put failed");
				return NULL;
			}
			sent++;
		}
		if (n && t_wend_push(e, true))
			t_wake_notify(w, w->efd_req, &w->notify_req);
		while ((rc = t_wend_get_rsp(e, &id)) == 1) {
			if (id != done) {
				t_wake_fail(w,
					    "front: response %" PRIu64
					    ", expected %" PRIu64,
					    id, done);
				return NULL;
			}
			done++;
			progress = true;
		}
		if (rc < 0) {
			t_wake_fail(w, "front: ring broken");
			return NULL;
		}
		if (progress || n || t_wend_spin(e, true, &rng))
			continue;
		/* Nothing to send, nothing received: sleep if safe. */
		rc = t_wend_final_check(e, true);
		if (rc < 0) {
			t_wake_fail(w, "front: ring broken");
			return NULL;
		}
		if (rc > 0)
			continue;
		w->sleeps_front++;
		if (!t_wake_sleep(w, w->efd_rsp, "front", done))
			return NULL;
	}
	return NULL;
}

static void *t_wake_back(void *arg)
{
	struct t_wake *w = arg;
	struct t_wend *e = &w->back;
	uint64_t served = 0, rng = t_seed ^ 0x0f0f, id;
	int rc = 0;

	while (served < w->roundtrips) {
		uint32_t batch = 1 + t_rand_below(&rng, 32), k;

		if (__atomic_load_n(&w->stop, __ATOMIC_RELAXED))
			return NULL;
		for (k = 0; k < batch; k++) {
			rc = t_wend_serve(e, &id);
			if (rc != 1)
				break;
			if (id != served) {
				t_wake_fail(w,
					    "back: request %" PRIu64
					    ", expected %" PRIu64,
					    id, served);
				return NULL;
			}
			served++;
		}
		if (rc < 0) {
			t_wake_fail(w, "back: ring broken");
			return NULL;
		}
		if (k && t_wend_push(e, false))
			t_wake_notify(w, w->efd_rsp, &w->notify_rsp);
		if (k || t_wend_spin(e, false, &rng))
			continue;
		rc = t_wend_final_check(e, false);
		if (rc < 0) {
			t_wake_fail(w, "back: ring broken");
			return NULL;
		}
		if (rc > 0)
			continue;
		w->sleeps_back++;
		if (!t_wake_sleep(w, w->efd_req, "back", served))
			return NULL;
	}
	return NULL;
}

static void t_wake_run(enum t_impl fi, enum t_impl bi, uint64_t roundtrips)
{
	struct t_wake *w = calloc(1, sizeof(*w));
	const RING_IDX start = 0xFFFF0000u; /* wraps mid-run */
	struct timespec t0, t1;
	pthread_t tf, tb;
	double secs;

	assert_non_null(w);
	w->sring = t_ring_alloc(PVK_PAGE_SIZE);
	w->roundtrips = roundtrips;
	w->poll_ms = 10000;
	pthread_mutex_init(&w->lock, NULL);
	w->efd_req = eventfd(0, EFD_CLOEXEC);
	w->efd_rsp = eventfd(0, EFD_CLOEXEC);
	assert_true(w->efd_req >= 0 && w->efd_rsp >= 0);

	w->front.impl = fi;
	w->back.impl = bi;
	if (fi == T_PVK) {
		assert_int_equal(t_blk_attach(&w->front.r, PVK_RING_FRONT,
					      w->sring, PVK_PAGE_SIZE, start,
					      true),
				 0);
	} else {
		T_XEN_SRING_INIT(w->sring, start);
		FRONT_RING_ATTACH(&w->front.xf, w->sring, start, PVK_PAGE_SIZE);
		w->front.xsnap = start;
	}
	if (bi == T_PVK) {
		assert_int_equal(t_blk_attach(&w->back.r, PVK_RING_BACK,
					      w->sring, PVK_PAGE_SIZE, start,
					      false),
				 0);
	} else {
		BACK_RING_ATTACH(&w->back.xb, w->sring, start, PVK_PAGE_SIZE);
		w->back.xsnap = start;
	}

	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(pthread_create(&tb, NULL, t_wake_back, w), 0);
	assert_int_equal(pthread_create(&tf, NULL, t_wake_front, w), 0);
	pthread_join(tf, NULL);
	pthread_join(tb, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) +
	       (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;

	print_message("%s front <-> %s back: %" PRIu64 " round trips (%" PRIu64
		      " messages) in %.2f s; "
		      "notifications %" PRIu64 " req + %" PRIu64
		      " rsp; sleeps %" PRIu64 " front + %" PRIu64 " back\n",
		      fi == T_PVK ? "pvkit" : "xen",
		      bi == T_PVK ? "pvkit" : "xen", roundtrips, 2 * roundtrips,
		      secs, w->notify_req, w->notify_rsp, w->sleeps_front,
		      w->sleeps_back);
	if (w->err[0])
		fail_msg("%s", w->err);
	/* The exchange slept and woke for real, and suppression held
	 * notifications well below one per message. */
	assert_true(w->sleeps_front + w->sleeps_back > 0);
	assert_true(w->notify_req + w->notify_rsp < 2 * roundtrips);
	close(w->efd_req);
	close(w->efd_rsp);
	pthread_mutex_destroy(&w->lock);
	free(w->sring);
	free(w);
}

static uint64_t t_wake_roundtrips(void)
{
	const char *env = getenv("PVK_RING_WAKE_ROUNDTRIPS");

	if (env && *env)
		return strtoull(env, NULL, 0);
	return RUNNING_ON_VALGRIND ? 100000 : 1000000;
}

static void t_no_lost_wakeup_pvk(void **state)
{
	(void)state;
	t_wake_run(T_PVK, T_PVK, t_wake_roundtrips());
}

static void t_no_lost_wakeup_xen_front(void **state)
{
	(void)state;
	t_wake_run(T_XEN, T_PVK, t_wake_roundtrips() / 5);
}

static void t_no_lost_wakeup_xen_back(void **state)
{
	(void)state;
	t_wake_run(T_PVK, T_XEN, t_wake_roundtrips() / 5);
}

/* ------------------------------------------------------------------ */
/* Batched API: interop with Xen's macros, hostile peers, wrong end.   */

static unsigned char t_bpage[2 * PVK_PAGE_SIZE] __attribute__((aligned(4096)));

/* pvkit front (runs, get_responses) against a Xen back, across the wrap. */
static void t_batch_pvk_front_xen_back(void **state)
{
	struct pvk_ring f;
	blkif_back_ring_t xb;
	blkif_sring_t *s = (blkif_sring_t *)t_bpage;
	struct pvk_blkif_response rsp[8];
	union pvk_blkif_sring_entry *e;
	uint64_t sent = 0, done = 0;
	uint32_t n, k;
	int round, got, notify;
	const pvk_ring_idx_t start = 0xfffffff0u;
	uint64_t rng = t_seed ^ 0xba7c;

	(void)state;
	memset(t_bpage, 0, sizeof(t_bpage));
	assert_int_equal(pvk_ring_attach(&f, PVK_RING_FRONT, s, PVK_PAGE_SIZE,
					 sizeof(union pvk_blkif_sring_entry),
					 sizeof(struct pvk_blkif_request),
					 sizeof(struct pvk_blkif_response),
					 start, true),
			 0);
	BACK_RING_ATTACH(&xb, s, start, PVK_PAGE_SIZE);
	for (round = 0; round < 50; round++) {
		while ((e = pvk_blkif_prepare_requests(&f, &n))) {
			assert_true(n >= 1 && n <= 32);
			for (k = 0; k < n; k++) {
				memset(&e[k].req, 0, sizeof(e[k].req));
				e[k].req.id = sent++;
				e[k].req.nr_segments = 1;
			}
			assert_int_equal(pvk_ring_commit_n(&f, n), 0);
		}
		assert_int_equal(pvk_ring_commit_n(&f, 1), -ENOSPC);
		pvk_ring_push(&f);
		/* Xen back answers a random part of what is there. */
		for (k = t_rand_below(&rng, 33);
		     k && xb.req_cons != s->req_prod; k--) {
			blkif_request_t q;
			blkif_response_t *p;

			RING_COPY_REQUEST(&xb, xb.req_cons, &q);
			xb.req_cons++;
			p = RING_GET_RESPONSE(&xb, xb.rsp_prod_pvt);
			p->id = q.id;
			p->operation = q.operation;
			p->status = BLKIF_RSP_OKAY;
			xb.rsp_prod_pvt++;
		}
		RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&xb, notify);
		(void)notify;
		if (round % 3 == 2) {
			/* The batch: reap, then refill the freed slots in
			 * place, across the wrap of the snapshot. */
			struct pvk_ring_batch bt;
			struct pvk_blkif_request *q;
			uint32_t freed = 0;

			got = pvk_blkif_batch_begin(&f, &bt);
			assert_true(got >= 0 && got <= 32);
			assert_int_equal(pvk_ring_batch_avail(&bt), got);
			assert_int_equal(pvk_ring_batch_space(&bt), 0);
			while (pvk_blkif_batch_get_response(&bt, rsp) == 1) {
				assert_int_equal(rsp[0].id, done++);
				freed++;
			}
			assert_int_equal(freed, got);
			assert_int_equal(pvk_ring_batch_avail(&bt), 0);
			assert_int_equal(pvk_ring_batch_space(&bt), freed);
			while ((q = pvk_blkif_batch_prepare_request(&bt))) {
				memset(q, 0, sizeof(*q));
				q->id = sent++;
				q->nr_segments = 1;
				assert_int_equal(pvk_ring_batch_commit(&bt), 0);
				freed--;
			}
			assert_int_equal(freed, 0);
			assert_int_equal(pvk_ring_batch_commit(&bt), -ENOSPC);
			pvk_ring_batch_end(&f, &bt);
			assert_int_equal(pvk_ring_space(&f), 0);
			pvk_ring_push(&f);
			continue;
		}
		do {
			got = pvk_blkif_get_responses(&f, rsp, 8);
			assert_true(got >= 0 && got <= 8);
			for (k = 0; k < (uint32_t)got; k++)
				assert_int_equal(rsp[k].id, done++);
		} while (got);
	}
	assert_true(done > 32);
	assert_int_equal(pvk_ring_in_flight(&f), sent - done);
}

/* pvkit back (get_requests, runs; and a batch) against a Xen front. */
static void t_batch_xen_front_pvk_back(void **state)
{
	struct pvk_ring b;
	struct pvk_ring_batch bt;
	blkif_front_ring_t xf;
	blkif_sring_t *s = (blkif_sring_t *)t_bpage;
	struct pvk_blkif_request req[5];
	struct pvk_blkif_request one;
	struct pvk_blkif_response *p;
	union pvk_blkif_sring_entry *e;
	uint64_t sent = 0, done = 0;
	uint32_t n, k;
	int round, got, i, notify;
	uint64_t rng = t_seed ^ 0xba7d;

	(void)state;
	memset(t_bpage, 0, sizeof(t_bpage));
	SHARED_RING_INIT(s);
	FRONT_RING_INIT(&xf, s, PVK_PAGE_SIZE);
	assert_int_equal(pvk_blkif_back_attach(&b, (void *)s, PVK_PAGE_SIZE),
			 0);
	for (round = 0; round < 60; round++) {
		for (k = t_rand_below(&rng, 33); k && !RING_FULL(&xf); k--) {
			blkif_request_t *q =
				RING_GET_REQUEST(&xf, xf.req_prod_pvt);

			memset(q, 0, sizeof(*q));
			q->id = sent++;
			xf.req_prod_pvt++;
		}
		RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&xf, notify);
		(void)notify;
		if (round & 1) {
			got = pvk_blkif_get_requests(&b, req, 5);
			assert_true(got >= 0 && got <= 5);
			for (i = 0; i < got;) {
				e = pvk_blkif_prepare_responses(&b, &n);
				assert_non_null(e);
				for (k = 0; k < n && i < got; k++, i++) {
					e[k].rsp.id = req[i].id;
					e[k].rsp.operation = req[i].operation;
					e[k].rsp.status = 0;
				}
				assert_int_equal(pvk_ring_commit_n(&b, k), 0);
			}
		} else {
			assert_true(pvk_blkif_batch_begin(&b, &bt) >= 0);
			while (pvk_blkif_batch_get_request(&bt, &one) == 1) {
				p = pvk_blkif_batch_prepare_response(&bt);
				assert_non_null(p);
				p->id = one.id;
				p->operation = one.operation;
				p->status = 0;
				assert_int_equal(pvk_ring_batch_commit(&bt), 0);
			}
			assert_null(pvk_blkif_batch_prepare_response(&bt));
			assert_int_equal(pvk_ring_batch_commit(&bt), -ENOSPC);
			pvk_ring_batch_end(&b, &bt);
		}
		assert_int_equal(pvk_ring_space(&b), 0);
		pvk_ring_push(&b);
		while (xf.rsp_cons != s->rsp_prod) {
			blkif_response_t r;

			RING_COPY_RESPONSE(&xf, xf.rsp_cons, &r);
			xf.rsp_cons++;
			assert_int_equal(r.id, done++);
		}
	}
	assert_true(done > 0);
}

/* A peer index beyond what it may produce latches -EPROTO in every
 * batched call; the wrong end is -EINVAL / NULL. */
static void t_batch_hostile_and_wrong_end(void **state)
{
	struct pvk_ring f, b;
	struct pvk_ring_batch bt;
	struct pvk_blkif_sring *s = (struct pvk_blkif_sring *)t_bpage;
	struct pvk_blkif_request req[4];
	struct pvk_blkif_response rsp[4];
	uint32_t n = 99;

	(void)state;
	memset(t_bpage, 0, sizeof(t_bpage));
	assert_int_equal(pvk_blkif_front_init(&f, s, PVK_PAGE_SIZE), 0);
	assert_int_equal(pvk_blkif_back_attach(&b, s, PVK_PAGE_SIZE), 0);
	assert_int_equal(pvk_blkif_get_requests(&f, req, 4), -EINVAL);
	assert_int_equal(pvk_blkif_get_responses(&b, rsp, 4), -EINVAL);
	assert_int_equal(pvk_blkif_put_requests(&b, req, 1), -EINVAL);
	assert_null(pvk_blkif_prepare_responses(&f, &n));
	assert_int_equal(n, 0);
	assert_int_equal(pvk_blkif_batch_begin(&f, &bt), 0);
	assert_int_equal(pvk_blkif_batch_get_request(&bt, req), -EINVAL);
	assert_null(pvk_blkif_batch_prepare_response(&bt));
	pvk_ring_batch_end(&f, &bt);

	/* A ring attached with another slot size: refused, left intact. */
	{
		struct pvk_ring g;

		assert_int_equal(pvk_ring_attach(&g, PVK_RING_FRONT, s,
						 PVK_PAGE_SIZE, 64, 64, 16, 0,
						 false),
				 0);
		assert_int_equal(pvk_blkif_batch_begin(&g, &bt), -EINVAL);
		assert_null(pvk_blkif_batch_prepare_request(&bt));
		pvk_ring_batch_end(&g, &bt);
		assert_int_equal(pvk_ring_space(&g), g.nr_ents);
		assert_false(pvk_ring_is_broken(&g));
		assert_null(pvk_blkif_prepare_requests(&g, &n));
		assert_int_equal(pvk_blkif_get_responses(&g, rsp, 4), -EINVAL);
	}

	/* A batch copies the slot: rewriting it afterwards changes nothing
	 * in the copy, even for a field read only after the rewrite. */
	{
		struct pvk_blkif_request q = { .id = 7, .nr_segments = 1 };
		struct pvk_blkif_request got = { 0 };
		struct pvk_blkif_response *p;

		assert_int_equal(pvk_blkif_put_request(&f, &q), 0);
		pvk_ring_push(&f);
		assert_int_equal(pvk_blkif_batch_begin(&b, &bt), 1);
		assert_int_equal(pvk_blkif_batch_get_request(&bt, &got), 1);
		s->ring[0].req.id = 666;
		s->ring[0].req.nr_segments = 200;
		__asm__ __volatile__("" ::: "memory");
		assert_int_equal(got.id, 7);
		assert_int_equal(got.nr_segments, 1);
		assert_int_equal(pvk_blkif_batch_get_request(&bt, &got), 0);
		p = pvk_blkif_batch_prepare_response(&bt);
		assert_non_null(p);
		p->id = got.id;
		assert_int_equal(pvk_ring_batch_commit(&bt), 0);
		pvk_ring_batch_end(&b, &bt);
		assert_int_equal(pvk_ring_in_flight(&b), 0);
		pvk_ring_push(&b);
		assert_int_equal(pvk_blkif_get_responses(&f, rsp, 4), 1);
		assert_int_equal(rsp[0].id, 7);
	}

	/* Front: a response it never asked for. */
	memset(req, 0, sizeof(req));
	assert_int_equal(pvk_blkif_put_requests(&f, req, 4), 4);
	pvk_ring_push(&f);
	__atomic_store_n(&s->rsp_prod, 6, __ATOMIC_RELEASE);
	assert_int_equal(pvk_blkif_get_responses(&f, rsp, 4), -EPROTO);
	assert_true(pvk_ring_is_broken(&f));
	assert_int_equal(pvk_blkif_batch_begin(&f, &bt), -EPROTO);
	assert_int_equal(pvk_blkif_batch_get_response(&bt, rsp), 0);
	assert_null(pvk_blkif_batch_prepare_request(&bt));
	assert_null(pvk_blkif_prepare_requests(&f, &n));
	assert_int_equal(pvk_blkif_put_requests(&f, req, 1), -EPROTO);
	assert_int_equal(pvk_ring_commit_n(&f, 0), -EPROTO);

	/* Back: more requests than the ring holds. */
	__atomic_store_n(&s->req_prod, 1 + 33, __ATOMIC_RELEASE);
	assert_int_equal(pvk_blkif_batch_begin(&b, &bt), -EPROTO);
	assert_int_equal(pvk_blkif_batch_get_request(&bt, req), 0);
	assert_int_equal(pvk_blkif_get_requests(&b, req, 4), -EPROTO);
	assert_non_null(pvk_ring_broken_reason(&b));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_ring_sizes_match_xen),
		cmocka_unit_test(t_interop_xen_front_pvk_back),
		cmocka_unit_test(t_interop_pvk_front_xen_back),
		cmocka_unit_test(t_interop_blkif_request_layouts),
		cmocka_unit_test(t_interop_netif_tx),
		cmocka_unit_test(t_interop_netif_rx),
		cmocka_unit_test(t_interop_netif_ctrl),
		cmocka_unit_test(t_notify_decision_matches_xen),
		cmocka_unit_test(t_hostile_front_producer_ahead),
		cmocka_unit_test(t_hostile_back_producer_ahead),
		cmocka_unit_test(t_index_wrap),
		cmocka_unit_test(t_hostile_response_id),
		cmocka_unit_test(t_hostile_slot_rewritten_after_get),
		cmocka_unit_test(t_hostile_slot_scribbled_during_get),
		cmocka_unit_test(t_single_slot_ring),
		cmocka_unit_test(t_back_resume),
		cmocka_unit_test(t_full_ring),
		cmocka_unit_test(t_attach_bad_args),
		cmocka_unit_test(t_prepare_commit),
		cmocka_unit_test(t_msgsize),
		cmocka_unit_test(t_wrong_role),
		cmocka_unit_test(t_netif_extra_slot_zero_tail),
		cmocka_unit_test(t_batch_pvk_front_xen_back),
		cmocka_unit_test(t_batch_xen_front_pvk_back),
		cmocka_unit_test(t_batch_hostile_and_wrong_end),
		cmocka_unit_test(t_no_lost_wakeup_pvk),
		cmocka_unit_test(t_no_lost_wakeup_xen_front),
		cmocka_unit_test(t_no_lost_wakeup_xen_back),
	};
	const char *seed = getenv("PVK_TEST_SEED");

	t_seed = seed && *seed ? strtoull(seed, NULL, 0) :
				 (uint64_t)time(NULL) * 2654435761u;
	if (!t_seed)
		t_seed = 1;
	printf("test-ring: PVK_TEST_SEED=%" PRIu64 "\n", t_seed);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
