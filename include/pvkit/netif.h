/* SPDX-License-Identifier: MIT */
/*
 * pvkit/netif.h -- the network ring protocol, Xen's io/netif.h wire format:
 * the tx ring (guest -> backend), the rx ring (backend -> guest), the
 * extra-info slots that follow a tx request flagged NETTXF_extra_info
 * (or an rx response flagged NETRXF_extra_info), and the control ring.
 * Part of libpvkit-ring (pkg-config pvkit-ring); freestanding.
 *
 * An extra-info slot occupies a request (tx) or response (rx) slot.  Copy
 * the slot once into the union (pvk_netif_get_tx_slot) and decode the
 * copy: the flags of the previous slot say which member is valid.
 */
#ifndef PVKIT_NETIF_H
#define PVKIT_NETIF_H

#include <pvkit/ring.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PVK_NETTXF_csum_blank (1u << 0)
#define PVK_NETTXF_data_validated (1u << 1)
#define PVK_NETTXF_more_data (1u << 2)
#define PVK_NETTXF_extra_info (1u << 3)

#define PVK_NETRXF_data_validated (1u << 0)
#define PVK_NETRXF_csum_blank (1u << 1)
#define PVK_NETRXF_more_data (1u << 2)
#define PVK_NETRXF_extra_info (1u << 3)
#define PVK_NETRXF_gso_prefix (1u << 4)

#define PVK_NETIF_MAX_TX_SIZE 0xFFFF
#define PVK_NETIF_RSP_DROPPED (-2)
#define PVK_NETIF_RSP_ERROR (-1)
#define PVK_NETIF_RSP_OKAY 0
#define PVK_NETIF_RSP_NULL 1

#define PVK_NETIF_EXTRA_TYPE_NONE 0
#define PVK_NETIF_EXTRA_TYPE_GSO 1
#define PVK_NETIF_EXTRA_TYPE_MCAST_ADD 2
#define PVK_NETIF_EXTRA_TYPE_MCAST_DEL 3
#define PVK_NETIF_EXTRA_TYPE_HASH 4
#define PVK_NETIF_EXTRA_TYPE_MAX 5
#define PVK_NETIF_EXTRA_FLAG_MORE (1u << 0)

#define PVK_NETIF_GSO_TYPE_NONE 0
#define PVK_NETIF_GSO_TYPE_TCPV4 1
#define PVK_NETIF_GSO_TYPE_TCPV6 2

struct pvk_netif_tx_request {
	pvk_grant_ref_t gref;
	uint16_t offset;
	uint16_t flags;
	uint16_t id;
	uint16_t size;
};

struct pvk_netif_extra_info {
	uint8_t type;
	uint8_t flags;
	union {
		struct {
			uint16_t size;
			uint8_t type;
			uint8_t pad;
			uint16_t features;
		} gso;
		struct {
			uint8_t addr[6];
		} mcast;
		struct {
			uint8_t type;
			uint8_t algorithm;
			uint8_t value[4];
		} hash;
		uint16_t pad[3];
	} u;
};

struct pvk_netif_tx_response {
	uint16_t id;
	int16_t status;
};

struct pvk_netif_rx_request {
	uint16_t id;
	uint16_t pad;
	pvk_grant_ref_t gref;
};

struct pvk_netif_rx_response {
	uint16_t id;
	uint16_t offset;
	uint16_t flags;
	int16_t status; /* > 0: bytes, < 0: PVK_NETIF_RSP_* */
};

/* What a tx request slot may hold, and an rx response slot. */
union pvk_netif_tx_slot {
	struct pvk_netif_tx_request req;
	struct pvk_netif_extra_info extra;
};
union pvk_netif_rx_slot {
	struct pvk_netif_rx_response rsp;
	struct pvk_netif_extra_info extra;
};

#define PVK_NETIF_CTRL_TYPE_INVALID 0
#define PVK_NETIF_CTRL_TYPE_GET_HASH_FLAGS 1
#define PVK_NETIF_CTRL_TYPE_SET_HASH_FLAGS 2
#define PVK_NETIF_CTRL_TYPE_SET_HASH_KEY 3
#define PVK_NETIF_CTRL_TYPE_GET_HASH_MAPPING_SIZE 4
#define PVK_NETIF_CTRL_TYPE_SET_HASH_MAPPING_SIZE 5
#define PVK_NETIF_CTRL_TYPE_SET_HASH_MAPPING 6
#define PVK_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM 7
#define PVK_NETIF_CTRL_TYPE_GET_GREF_MAPPING_SIZE 8
#define PVK_NETIF_CTRL_TYPE_ADD_GREF_MAPPING 9
#define PVK_NETIF_CTRL_TYPE_DEL_GREF_MAPPING 10

#define PVK_NETIF_CTRL_STATUS_SUCCESS 0
#define PVK_NETIF_CTRL_STATUS_NOT_SUPPORTED 1
#define PVK_NETIF_CTRL_STATUS_INVALID_PARAMETER 2
#define PVK_NETIF_CTRL_STATUS_BUFFER_OVERFLOW 3

/* Hash algorithms and types (io/netif.h): a type's bit in the flags of
 * GET/SET_HASH_FLAGS is 1 << the type, the hash extra carries the type. */
#define PVK_NETIF_CTRL_HASH_ALGORITHM_NONE 0
#define PVK_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ 1
#define PVK_NETIF_CTRL_HASH_TYPE_IPV4 0
#define PVK_NETIF_CTRL_HASH_TYPE_IPV4_TCP 1
#define PVK_NETIF_CTRL_HASH_TYPE_IPV6 2
#define PVK_NETIF_CTRL_HASH_TYPE_IPV6_TCP 3
#define PVK_NETIF_CTRL_HASH_TYPE_MASK 0xfu
/* What Linux's netback accepts: a Toeplitz key of at most 40 bytes, a
 * mapping table of at most 128 entries. */
#define PVK_NETIF_CTRL_TOEPLITZ_KEY_MAX 40
#define PVK_NETIF_CTRL_HASH_MAPPING_MAX 128

struct pvk_netif_ctrl_request {
	uint16_t id;
	uint16_t type;
	uint32_t data[3];
};

struct pvk_netif_ctrl_response {
	uint16_t id;
	uint16_t type;
	uint32_t status;
	uint32_t data;
};

_Static_assert(sizeof(struct pvk_netif_tx_request) == 12, "netif ABI");
_Static_assert(sizeof(struct pvk_netif_extra_info) == 8, "netif ABI");
_Static_assert(sizeof(struct pvk_netif_tx_response) == 4, "netif ABI");
_Static_assert(sizeof(struct pvk_netif_rx_request) == 8, "netif ABI");
_Static_assert(sizeof(struct pvk_netif_rx_response) == 8, "netif ABI");
_Static_assert(sizeof(struct pvk_netif_ctrl_request) == 16, "netif ABI");
_Static_assert(sizeof(struct pvk_netif_ctrl_response) == 12, "netif ABI");

PVK_RING_DEFINE(pvk_netif_tx, struct pvk_netif_tx_request,
		struct pvk_netif_tx_response);
PVK_RING_DEFINE(pvk_netif_rx, struct pvk_netif_rx_request,
		struct pvk_netif_rx_response);
PVK_RING_DEFINE(pvk_netif_ctrl, struct pvk_netif_ctrl_request,
		struct pvk_netif_ctrl_response);

/* Backend: copy the next tx slot (a request or an extra-info) once. */
static inline int pvk_netif_get_tx_slot(struct pvk_ring *r,
					union pvk_netif_tx_slot *slot)
{
	if (r->role != PVK_RING_BACK)
		return -EINVAL;
	return pvk_ring_get(r, slot, sizeof(slot->req));
}

/* Frontend: queue an extra-info slot after a tx request. */
static inline int pvk_netif_put_tx_extra(struct pvk_ring *r,
					 const struct pvk_netif_extra_info *x)
{
	union pvk_netif_tx_slot s;

	/* The slot is 12 bytes, the extra 8: zero the tail, or 4 bytes of our
	 * stack would reach the peer. */
	__builtin_memset(&s, 0, sizeof(s));
	s.extra = *x;
	if (r->role != PVK_RING_FRONT)
		return -EINVAL;
	return pvk_ring_put(r, &s, sizeof(s.req));
}

/* Frontend: copy the next rx slot (a response or an extra-info) once. */
static inline int pvk_netif_get_rx_slot(struct pvk_ring *r,
					union pvk_netif_rx_slot *slot)
{
	if (r->role != PVK_RING_FRONT)
		return -EINVAL;
	return pvk_ring_get(r, slot, sizeof(slot->rsp));
}

/* Backend: queue an extra-info slot after an rx response. */
static inline int pvk_netif_put_rx_extra(struct pvk_ring *r,
					 const struct pvk_netif_extra_info *x)
{
	union pvk_netif_rx_slot s;

	__builtin_memset(&s, 0, sizeof(s));
	s.extra = *x;
	if (r->role != PVK_RING_BACK)
		return -EINVAL;
	return pvk_ring_put(r, &s, sizeof(s.rsp));
}

#ifdef __cplusplus
}
#endif

#endif /* PVKIT_NETIF_H */
