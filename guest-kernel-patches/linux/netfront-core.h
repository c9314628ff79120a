/* SPDX-License-Identifier: MIT */
/*
 * netfront-core.h -- the pure logic of pvkit-netfront: what to negotiate
 * from the backend's feature nodes, how a packet is laid out on tx slots,
 * the checks every tx response must pass, the state machine that gathers
 * an rx packet (responses and extra-info slots) with its checks, and the
 * control ring's hash mapping and response checks.  No kernel and no libc
 * dependence beyond pvkit/netif.h: the module includes it, and so does its
 * userspace unit test (tests/unit/test-kmod-netfront.c).
 *
 * Everything here works on values already copied out of xenstore or out
 * of a shared ring: callers never pass pointers into shared memory.
 */
#ifndef PVKIT_NETFRONT_CORE_H
#define PVKIT_NETFRONT_CORE_H

#include <pvkit/netif.h>

/* Data slots of one packet, either way: 64 KiB in whole pages plus one
 * (Linux's xen-netback refuses more than 18 tx slots and calls 20 fatal). */
#define PVKNF_MAX_SLOTS 18u
/* Extra-info slots after one rx response (one of each type at most). */
#define PVKNF_MAX_EXTRAS (PVK_NETIF_EXTRA_TYPE_MAX - 1u)
/* Bytes of one received packet: what 17 page fragments hold. */
#define PVKNF_RX_MAX_LEN (17u * PVK_PAGE_SIZE)

/* The backend's offer (feature nodes, 0 when absent). */
struct pvknf_be {
	unsigned int max_queues; /* multi-queue-max-queues */
	bool split; /* feature-split-event-channels */
	bool sg, gso4, gso6; /* feature-sg, feature-gso-tcpv4/6 */
	bool no_csum4; /* feature-no-csum-offload */
	bool csum6; /* feature-ipv6-csum-offload */
	bool ctrl; /* feature-ctrl-ring */
	bool mcast; /* feature-multicast-control */
	bool rx_copy; /* feature-rx-copy */
};

/* What the frontend may send (PVKNF_F_*), from the backend's offer. */
#define PVKNF_F_SG (1u << 0)
#define PVKNF_F_CSUM4 (1u << 1)
#define PVKNF_F_CSUM6 (1u << 2)
#define PVKNF_F_TSO4 (1u << 3)
#define PVKNF_F_TSO6 (1u << 4)

/*
 * Offloads usable on tx: checksum offload for IPv4 unless the backend
 * says feature-no-csum-offload, for IPv6 only with
 * feature-ipv6-csum-offload; TSO needs the checksum offload of its IP
 * version and scatter-gather (a GSO packet spans many slots).
 */
static inline unsigned int pvknf_tx_features(const struct pvknf_be *be)
{
	unsigned int f = 0;

	if (be->sg)
		f |= PVKNF_F_SG;
	if (!be->no_csum4)
		f |= PVKNF_F_CSUM4;
	if (be->csum6)
		f |= PVKNF_F_CSUM6;
	if (be->gso4 && be->sg && !be->no_csum4)
		f |= PVKNF_F_TSO4;
	if (be->gso6 && be->sg && be->csum6)
		f |= PVKNF_F_TSO6;
	return f;
}

/* Queues to use: as many as both sides allow (@mine >= 1; a backend
 * without multi-queue-max-queues, or 0, means one). */
static inline unsigned int pvknf_pick_queues(unsigned int mine,
					     unsigned int be_max)
{
	unsigned int n = be_max < mine ? be_max : mine;

	return n ? n : 1;
}

/* ---- tx ------------------------------------------------------------- */

/* A packet to send, copied into whole bounce pages from offset 0. */
struct pvknf_tx_pkt {
	uint32_t len; /* bytes, 1..PVK_NETIF_MAX_TX_SIZE */
	bool csum_blank; /* CHECKSUM_PARTIAL: the backend fills it in */
	bool data_validated; /* the checksum is known good (or blank) */
	uint8_t gso_type; /* PVK_NETIF_GSO_TYPE_*; NONE: not GSO */
	uint16_t gso_size; /* MSS, > 0 with a gso_type */
};

/* Data slots (pages, ids) a packet of @len bytes takes, or -EINVAL. */
static inline int pvknf_tx_nr_data(uint32_t len)
{
	if (!len || len > PVK_NETIF_MAX_TX_SIZE)
		return -EINVAL;
	return (int)((len + PVK_PAGE_SIZE - 1) / PVK_PAGE_SIZE);
}

/*
 * Lay @p out on tx slots: the first request (its size the whole packet's,
 * as netif.h wants), the GSO extra-info if any, then one request per
 * further page, more_data on all requests but the last.  Data slot i uses
 * @ids[i] and @grefs[i] (the bounce page holding bytes [i * 4096, ...)).
 * Fills @out (at most @max slots); returns the slots used, or -EINVAL.
 */
static inline int pvknf_tx_build(const struct pvknf_tx_pkt *p,
				 const uint16_t *ids,
				 const pvk_grant_ref_t *grefs,
				 union pvk_netif_tx_slot *out, unsigned int max)
{
	int nd = pvknf_tx_nr_data(p->len);
	unsigned int i, k = 0, gso = p->gso_type != PVK_NETIF_GSO_TYPE_NONE;
	uint32_t left;

	if (nd < 0 || (unsigned int)nd > PVKNF_MAX_SLOTS ||
	    (unsigned int)nd + gso > max)
		return -EINVAL;
	if (gso && ((p->gso_type != PVK_NETIF_GSO_TYPE_TCPV4 &&
		     p->gso_type != PVK_NETIF_GSO_TYPE_TCPV6) ||
		    !p->gso_size || !p->csum_blank))
		return -EINVAL;
	for (i = 0; i < (unsigned int)nd; i++) {
		struct pvk_netif_tx_request *r = &out[k++].req;

		left = p->len - i * PVK_PAGE_SIZE;
		r->gref = grefs[i];
		r->offset = 0;
		r->id = ids[i];
		r->size =
			(uint16_t)(i ? (left < PVK_PAGE_SIZE ? left :
							       PVK_PAGE_SIZE) :
				       p->len);
		r->flags = (uint16_t)(i + 1 < (unsigned int)nd ?
					      PVK_NETTXF_more_data :
					      0);
		if (!i) {
			if (p->csum_blank)
				r->flags |= PVK_NETTXF_csum_blank |
					    PVK_NETTXF_data_validated;
			else if (p->data_validated)
				r->flags |= PVK_NETTXF_data_validated;
			if (gso)
				r->flags |= PVK_NETTXF_extra_info;
		}
		if (!i && gso) {
			struct pvk_netif_extra_info *x = &out[k++].extra;

			*x = (struct pvk_netif_extra_info){
				.type = PVK_NETIF_EXTRA_TYPE_GSO,
			};
			x->u.gso.size = p->gso_size;
			x->u.gso.type = p->gso_type;
		}
	}
	return (int)k;
}

/* What a tx response means for its id. */
enum pvknf_tx_rsp {
	PVKNF_TX_DONE = 0, /* the id's slot is answered: free the id */
	PVKNF_TX_FAILED = 1, /* the same, the packet was not sent */
	PVKNF_TX_NULL = 2, /* the answer to an extra-info slot: skip */
};

/*
 * Check a copied tx response: a NULL status is the answer to an
 * extra-info slot (its id means nothing), allowed only while such a slot
 * is owed one (*@nulls, the extra-info slots sent and not yet answered,
 * counted down here); otherwise the id must be below @nr_ids and in
 * flight (@inflight[id]) and the status OKAY, ERROR or DROPPED.  Returns
 * an enum pvknf_tx_rsp, or -EPROTO with *@why set.
 */
static inline int pvknf_tx_rsp_check(const struct pvk_netif_tx_response *rsp,
				     const bool *inflight, unsigned int nr_ids,
				     unsigned int *nulls, const char **why)
{
	if (rsp->status == PVK_NETIF_RSP_NULL) {
		if (!*nulls) {
			*why = "tx NULL response with no extra-info slot unanswered";
			return -EPROTO;
		}
		--*nulls;
		return PVKNF_TX_NULL;
	}
	if (rsp->id >= nr_ids) {
		*why = "tx response id out of range";
		return -EPROTO;
	}
	if (!inflight[rsp->id]) {
		*why = "tx response for an id not in flight";
		return -EPROTO;
	}
	switch (rsp->status) {
	case PVK_NETIF_RSP_OKAY:
		return PVKNF_TX_DONE;
	case PVK_NETIF_RSP_ERROR:
	case PVK_NETIF_RSP_DROPPED:
		return PVKNF_TX_FAILED;
	default:
		*why = "unknown tx response status";
		return -EPROTO;
	}
}

/* ---- rx ------------------------------------------------------------- */

/*
 * One rx packet being gathered.  The backend answers rx requests in ring
 * order, each response (or extra-info) in the slot of the request it
 * consumed: the request put at ring index k carries id k % nr_ents, so
 * the response read at index k must name that id.
 */
struct pvknf_rx {
	bool busy; /* a packet is under way */
	bool in_extras; /* the next slot is an extra-info */
	bool more; /* a response follows (more_data) */
	bool err; /* a slot said error: drop the packet at its end */
	bool done; /* the packet is complete */
	uint16_t flags; /* the first response's */
	unsigned int slots, extras;
	uint32_t len;
	uint8_t gso_type; /* PVK_NETIF_GSO_TYPE_* */
	uint16_t gso_size;
	bool hash_valid;
	uint8_t hash_type;
	uint32_t hash;
};

/* What pvknf_rx_slot() found in a slot. */
enum pvknf_rx_slot {
	PVKNF_RX_META = 0, /* an extra-info (or an error slot): no data */
	PVKNF_RX_DATA = 1, /* data: @rsp.offset, @rsp.status bytes */
};

static inline void pvknf_rx_reset(struct pvknf_rx *st)
{
	*st = (struct pvknf_rx){ 0 };
}

static inline int pvknf_rx_extra(struct pvknf_rx *st,
				 const struct pvk_netif_extra_info *x,
				 const char **why)
{
	if (++st->extras > PVKNF_MAX_EXTRAS) {
		*why = "too many rx extra-info slots";
		return -EPROTO;
	}
	switch (x->type) {
	case PVK_NETIF_EXTRA_TYPE_GSO:
		/* A bad GSO description drops the packet. */
		if (!x->u.gso.size ||
		    (x->u.gso.type != PVK_NETIF_GSO_TYPE_TCPV4 &&
		     x->u.gso.type != PVK_NETIF_GSO_TYPE_TCPV6))
			st->err = true;
		st->gso_type = x->u.gso.type;
		st->gso_size = x->u.gso.size;
		break;
	case PVK_NETIF_EXTRA_TYPE_HASH:
		st->hash_valid = x->u.hash.type <=
				 PVK_NETIF_CTRL_HASH_TYPE_IPV6_TCP;
		st->hash_type = x->u.hash.type;
		st->hash = (uint32_t)x->u.hash.value[0] |
			   (uint32_t)x->u.hash.value[1] << 8 |
			   (uint32_t)x->u.hash.value[2] << 16 |
			   (uint32_t)x->u.hash.value[3] << 24;
		break;
	default:
		*why = "unknown rx extra-info type";
		return -EPROTO;
	}
	st->in_extras = x->flags & PVK_NETIF_EXTRA_FLAG_MORE;
	if (!st->in_extras && !st->more)
		st->done = true;
	return PVKNF_RX_META;
}

/*
 * Feed the next rx slot (a copy), read at the ring index whose request
 * carried @id, to the packet @st.  Returns PVKNF_RX_DATA (copy
 * @s->rsp.status bytes from @s->rsp.offset of @id's page) or
 * PVKNF_RX_META, or -EPROTO with *@why set; @st->done says the packet is
 * complete (then @st->err says drop it; reset @st for the next one).
 * Checked: the id, offset + size within the page, a known status, at most
 * PVKNF_MAX_SLOTS data slots and PVKNF_RX_MAX_LEN bytes, extra-info only
 * after the first response and of a known type.
 */
static inline int pvknf_rx_slot(struct pvknf_rx *st,
				const union pvk_netif_rx_slot *s, uint16_t id,
				const char **why)
{
	const struct pvk_netif_rx_response *r = &s->rsp;
	bool first = !st->busy;

	if (st->done) {
		*why = "rx packet not reset";
		return -EINVAL;
	}
	st->busy = true;
	if (st->in_extras)
		return pvknf_rx_extra(st, &s->extra, why);
	if (r->id != id) {
		*why = "rx response id differs from its request's";
		return -EPROTO;
	}
	if (++st->slots > PVKNF_MAX_SLOTS) {
		*why = "rx packet spans too many slots";
		return -EPROTO;
	}
	if (!first && (r->flags & PVK_NETRXF_extra_info)) {
		*why = "rx extra-info flag after the first slot";
		return -EPROTO;
	}
	if (first)
		st->flags = r->flags;
	st->more = r->flags & PVK_NETRXF_more_data;
	st->in_extras = first && (r->flags & PVK_NETRXF_extra_info);
	if (!st->more && !st->in_extras)
		st->done = true;
	if (r->status < 0) {
		if (r->status != PVK_NETIF_RSP_ERROR &&
		    r->status != PVK_NETIF_RSP_DROPPED) {
			*why = "unknown rx response status";
			return -EPROTO;
		}
		st->err = true;
		return PVKNF_RX_META;
	}
	if ((uint32_t)r->offset + (uint32_t)r->status > PVK_PAGE_SIZE) {
		*why = "rx response beyond its page";
		return -EPROTO;
	}
	st->len += (uint32_t)r->status;
	if (st->len > PVKNF_RX_MAX_LEN) {
		*why = "rx packet too long";
		return -EPROTO;
	}
	if (st->done && !st->len)
		st->err = true; /* an empty packet */
	return PVKNF_RX_DATA;
}

/* ---- control ring --------------------------------------------------- */

/*
 * The Toeplitz hash of @len bytes of @data with @key (@klen bytes, at
 * most PVK_NETIF_CTRL_TOEPLITZ_KEY_MAX, zero-padded), as io/netif.h and
 * Microsoft's RSS define it: for every set input bit, the 32-bit window
 * of the key at that bit position is XORed into the result.
 */
static inline uint32_t pvknf_toeplitz(const uint8_t *key, unsigned int klen,
				      const uint8_t *data, unsigned int len)
{
	uint64_t win = 0;
	uint32_t h = 0;
	unsigned int i, b, kb = 0;

	for (i = 0; i < 8; i++, kb++)
		win = win << 8 | (kb < klen ? key[kb] : 0);
	for (i = 0; i < len; i++) {
		for (b = 0; b < 8; b++)
			if (data[i] & (0x80u >> b))
				h ^= (uint32_t)(win >> (32 - b));
		win = win << 8 | (kb < klen ? key[kb] : 0);
		kb++;
	}
	return h;
}

/* The hash-to-queue mapping table: entry i -> queue i % @nr_queues. */
static inline void pvknf_hash_mapping(uint32_t *map, unsigned int size,
				      unsigned int nr_queues)
{
	unsigned int i;

	for (i = 0; i < size; i++)
		map[i] = nr_queues ? i % nr_queues : 0;
}

/*
 * Check a copied control response against the one request in flight
 * (@id, @type): same id and type, a status io/netif.h defines.  Returns
 * the status (PVK_NETIF_CTRL_STATUS_*), or -EPROTO with *@why set.
 */
static inline int
pvknf_ctrl_rsp_check(const struct pvk_netif_ctrl_response *rsp, uint16_t id,
		     uint16_t type, const char **why)
{
	if (rsp->id != id) {
		*why = "control response id differs from the request's";
		return -EPROTO;
	}
	if (rsp->type != type) {
		*why = "control response type differs from the request's";
		return -EPROTO;
	}
	if (rsp->status > PVK_NETIF_CTRL_STATUS_BUFFER_OVERFLOW) {
		*why = "unknown control response status";
		return -EPROTO;
	}
	return (int)rsp->status;
}

#endif /* PVKIT_NETFRONT_CORE_H */
