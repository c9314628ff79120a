// SPDX-License-Identifier: MIT
/*
 * fuzz-ring: libpvkit-ring's consumer and producer against a hostile peer.
 *
 * The input picks a ring type (blkif, netif tx/rx/ctrl), its size, which
 * end pvkit plays and the index both ends start at (any 32-bit value, so
 * wrap-around is covered), then runs a script: the peer rewrites slots,
 * producer and event indices at will; pvkit's end consumes (one at a time,
 * in arrays, in batches), produces, pushes and final-checks.  The shared
 * ring is a heap block of exactly its size, so ASan sees any access
 * outside it.  Checked after every step:
 *  - an entry handed out is a copy of the slot its index names;
 *  - a back end never takes more than the slots its pushed responses
 *    freed, nor owes more than a ring of responses; a front end never
 *    takes more responses than requests it pushed;
 *  - once latched broken, the ring stays broken and refuses everything.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <pvkit/blkif.h>
#include <pvkit/netif.h>
#include <pvkit/ring.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { K_BLKIF, K_NET_TX, K_NET_RX, K_NET_CTRL, K_COUNT };

struct kind {
	size_t slot, req, rsp;
	int (*batch_get)(struct pvk_ring *r, void *out, uint32_t max);
	int (*batch_put)(struct pvk_ring *r, uint32_t n);
};

/* The typed batch calls of each ring type, behind one signature. */
#define KIND_BATCH(name, req_t, rsp_t)                                        \
	static int name##_bget(struct pvk_ring *r, void *out, uint32_t max)   \
	{                                                                     \
		struct pvk_ring_batch b;                                      \
		uint32_t k = 0;                                               \
		int n = name##_batch_begin(r, &b);                            \
		if (n < 0)                                                    \
			return n;                                             \
		if (r->role == PVK_RING_BACK) {                               \
			req_t e;                                              \
			while (k < max &&                                     \
			       name##_batch_get_request(&b, &e) == 1)         \
				memcpy((char *)out + k++ * sizeof(e), &e,     \
				       sizeof(e));                            \
		} else {                                                      \
			rsp_t e;                                              \
			while (k < max &&                                     \
			       name##_batch_get_response(&b, &e) == 1)        \
				memcpy((char *)out + k++ * sizeof(e), &e,     \
				       sizeof(e));                            \
		}                                                             \
		pvk_ring_batch_end(r, &b);                                    \
		return (int)k;                                                \
	}                                                                     \
	static int name##_bput(struct pvk_ring *r, uint32_t n)                \
	{                                                                     \
		struct pvk_ring_batch b;                                      \
		uint32_t k = 0;                                               \
		void *slot;                                                   \
		if (name##_batch_begin(r, &b) < 0)                            \
			return r->err;                                        \
		while (k < n) {                                               \
			slot = r->role == PVK_RING_BACK ?                     \
				       (void *)name##_batch_prepare_response( \
					       &b) :                          \
				       (void *)name##_batch_prepare_request(  \
					       &b);                           \
			if (!slot)                                            \
				break;                                        \
			memset(slot, 0xa5,                                    \
			       r->role == PVK_RING_BACK ? sizeof(rsp_t) :     \
							  sizeof(req_t));     \
			pvk_ring_batch_commit(&b);                            \
			k++;                                                  \
		}                                                             \
		pvk_ring_batch_end(r, &b);                                    \
		return (int)k;                                                \
	}

KIND_BATCH(pvk_blkif, struct pvk_blkif_request, struct pvk_blkif_response)
KIND_BATCH(pvk_netif_tx, struct pvk_netif_tx_request,
	   struct pvk_netif_tx_response)
KIND_BATCH(pvk_netif_rx, struct pvk_netif_rx_request,
	   struct pvk_netif_rx_response)
KIND_BATCH(pvk_netif_ctrl, struct pvk_netif_ctrl_request,
	   struct pvk_netif_ctrl_response)

static const struct kind kinds[K_COUNT] = {
	[K_BLKIF] = { sizeof(union pvk_blkif_sring_entry),
		      sizeof(struct pvk_blkif_request),
		      sizeof(struct pvk_blkif_response), pvk_blkif_bget,
		      pvk_blkif_bput },
	[K_NET_TX] = { sizeof(union pvk_netif_tx_sring_entry),
		       sizeof(struct pvk_netif_tx_request),
		       sizeof(struct pvk_netif_tx_response), pvk_netif_tx_bget,
		       pvk_netif_tx_bput },
	[K_NET_RX] = { sizeof(union pvk_netif_rx_sring_entry),
		       sizeof(struct pvk_netif_rx_request),
		       sizeof(struct pvk_netif_rx_response), pvk_netif_rx_bget,
		       pvk_netif_rx_bput },
	[K_NET_CTRL] = { sizeof(union pvk_netif_ctrl_sring_entry),
			 sizeof(struct pvk_netif_ctrl_request),
			 sizeof(struct pvk_netif_ctrl_response),
			 pvk_netif_ctrl_bget, pvk_netif_ctrl_bput },
};

enum {
	OP_PEER_SLOT,
	OP_PEER_PROD,
	OP_PEER_PROD_RAW,
	OP_PEER_EVENT,
	OP_GET,
	OP_GET_N,
	OP_BATCH_GET,
	OP_PUT,
	OP_PUT_N,
	OP_BATCH_PUT,
	OP_PREPARE,
	OP_PUSH,
	OP_FINAL,
	OP_COUNT
};

struct st {
	struct pvk_ring r;
	const struct kind *k;
	struct pvk_sring *s;
	size_t bytes;
	pvk_ring_idx_t start;
	bool was_broken;
};

/* The entry size this end reads. */
static size_t get_size(const struct st *t)
{
	return t->r.role == PVK_RING_BACK ? t->k->req : t->k->rsp;
}

static size_t put_size(const struct st *t)
{
	return t->r.role == PVK_RING_BACK ? t->k->rsp : t->k->req;
}

static void check(struct st *t)
{
	struct pvk_ring *r = &t->r;

	if (t->was_broken)
		FZ_CHECK(r->err == -EPROTO);
	if (r->err) {
		t->was_broken = true;
		FZ_CHECK(r->why != NULL);
		return;
	}
	if (r->role == PVK_RING_BACK) {
		/* Never past the slots our pushed responses freed. */
		FZ_CHECK((uint32_t)(r->cons - t->start) <=
			 (uint32_t)(r->pushed - t->start) + r->nr_ents);
		FZ_CHECK(pvk_ring_in_flight(r) <= r->nr_ents);
	} else {
		FZ_CHECK((uint32_t)(r->cons - t->start) <=
			 (uint32_t)(r->pushed - t->start));
		FZ_CHECK(pvk_ring_in_flight(r) <= r->nr_ents);
	}
	FZ_CHECK((uint32_t)(r->pushed - t->start) <=
		 (uint32_t)(r->prod_pvt - t->start));
	FZ_CHECK(pvk_ring_space(r) <= r->nr_ents);
	FZ_CHECK(r->cslot ==
		 t->s->ring + (size_t)(r->cons & r->mask) * r->slot_size);
}

/* The @n entries just taken (ending at cons) are copies of their slots. */
static void check_copies(struct st *t, const uint8_t *out, int n)
{
	size_t sz = get_size(t);
	int i;

	for (i = 0; i < n; i++) {
		pvk_ring_idx_t idx = t->r.cons - (pvk_ring_idx_t)(n - i);

		FZ_CHECK(!memcmp(out + (size_t)i * sz,
				 t->s->ring + (size_t)(idx & t->r.mask) *
						      t->r.slot_size,
				 sz));
	}
}

static void step(struct st *t, struct fz *f)
{
	struct pvk_ring *r = &t->r;
	pvk_ring_idx_t *peer_prod = r->peer_prod;
	uint8_t out[64 * 112], in[64 * 112];
	uint32_t m;
	int n;

	switch (fz_u8(f) % OP_COUNT) {
	case OP_PEER_SLOT:
		m = fz_u16(f) & r->mask;
		fz_bytes(f, t->s->ring + (size_t)m * r->slot_size,
			 r->slot_size);
		break;
	case OP_PEER_PROD:
		/* Near the consumer: the interesting neighbourhood. */
		*peer_prod = r->cons + (uint32_t)(int8_t)fz_u8(f) +
			     (fz_u8(f) & 1 ? r->nr_ents : 0);
		break;
	case OP_PEER_PROD_RAW:
		*peer_prod = fz_u32(f);
		break;
	case OP_PEER_EVENT:
		*r->peer_event = r->prod_pvt + (uint32_t)(int8_t)fz_u8(f);
		break;
	case OP_GET:
		n = pvk_ring_get(r, out, get_size(t));
		FZ_CHECK(n == 0 || n == 1 || n == -EPROTO);
		if (t->was_broken)
			FZ_CHECK(n == -EPROTO);
		if (n == 1)
			check_copies(t, out, 1);
		break;
	case OP_GET_N:
		m = fz_u8(f) % 65;
		n = pvk__ring_get_n(r, out, get_size(t), r->slot_size, m);
		FZ_CHECK(n == -EPROTO || (n >= 0 && (uint32_t)n <= m));
		if (n > 0)
			check_copies(t, out, n);
		break;
	case OP_BATCH_GET:
		m = fz_u8(f) % 65;
		n = t->k->batch_get(r, out, m);
		FZ_CHECK(n == -EPROTO || (n >= 0 && (uint32_t)n <= m));
		if (n > 0)
			check_copies(t, out, n);
		break;
	case OP_PUT:
		memset(in, fz_u8(f), put_size(t));
		n = pvk_ring_put(r, in, put_size(t));
		FZ_CHECK(n == 0 || n == -ENOSPC || n == -EPROTO);
		break;
	case OP_PUT_N:
		m = fz_u8(f) % 65;
		memset(in, 0x5a, sizeof(in));
		n = pvk__ring_put_n(r, in, put_size(t), r->slot_size, m);
		FZ_CHECK(n == -EPROTO || (n >= 0 && (uint32_t)n <= m));
		break;
	case OP_BATCH_PUT:
		m = fz_u8(f) % 65;
		n = t->k->batch_put(r, m);
		FZ_CHECK(n == -EPROTO || (n >= 0 && (uint32_t)n <= m));
		break;
	case OP_PREPARE: {
		void *slot = pvk_ring_prepare(r);

		if (slot) {
			FZ_CHECK((unsigned char *)slot >= r->slots &&
				 (unsigned char *)slot + r->slot_size <=
					 r->top);
			memset(slot, 0x3c, put_size(t));
			FZ_CHECK(pvk_ring_commit(r) == 0);
		} else {
			FZ_CHECK(r->err || !pvk_ring_space(r));
		}
		break;
	}
	case OP_PUSH:
		(void)pvk_ring_push(r);
		break;
	case OP_FINAL:
		n = pvk_ring_final_check(r);
		FZ_CHECK(n == -EPROTO || (n >= 0 && (uint32_t)n <= r->nr_ents));
		break;
	}
	check(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	struct st t = { 0 };
	uint8_t kind = fz_u8(&f), shape = fz_u8(&f);
	bool back = shape & 1;
	/* 1, 2, 4 or 8 pages; or a byte count just too small. */
	uint32_t pages = 1u << ((shape >> 1) & 3);
	int steps = 0;

	t.k = &kinds[kind % K_COUNT];
	t.start = fz_u32(&f);
	t.bytes = (size_t)pages * PVK_PAGE_SIZE;
	if (shape & 0x80)
		t.bytes = PVK_RING_HDR_SIZE + t.k->slot - 1;
	t.s = aligned_alloc(64, (t.bytes + 63) & ~(size_t)63);
	if (!t.s)
		return 0;
	memset(t.s, 0, t.bytes);
	if (back) {
		/* The frontend initialised the header. */
		t.s->req_prod = t.s->rsp_prod = t.start;
		t.s->req_event = t.s->rsp_event = t.start + 1;
	}
	if (pvk_ring_attach(&t.r, back ? PVK_RING_BACK : PVK_RING_FRONT, t.s,
			    t.bytes, t.k->slot, t.k->req, t.k->rsp, t.start,
			    !back) < 0) {
		/* Refused: every call on it must fail. */
		FZ_CHECK(shape & 0x80);
		FZ_CHECK(pvk_ring_get(&t.r, &t, 1) < 0);
		FZ_CHECK(pvk_ring_put(&t.r, &t, 1) < 0);
		FZ_CHECK(!pvk_ring_push(&t.r));
		goto out;
	}
	FZ_CHECK(t.r.nr_ents == pvk_ring_nr_ents(t.bytes, t.k->slot));
	while (fz_more(&f) && steps++ < 4096)
		step(&t, &f);
out:
	free(t.s);
	return 0;
}

/* Seeds: each ring type from both ends, a clean exchange. */
void fuzz_seeds(void)
{
	struct fz_out o;
	char name[64];
	int k, back, i;

	for (k = 0; k < K_COUNT; k++) {
		for (back = 0; back < 2; back++) {
			o.n = 0;
			fzo_u8(&o, (uint8_t)k);
			fzo_u8(&o, (uint8_t)back);
			fzo_u32(&o, back ? 0xfffffff0u : 0);
			for (i = 0; i < 3; i++) {
				if (!back) {
					fzo_u8(&o, OP_PUT);
					fzo_u8(&o, 1);
					fzo_u8(&o, OP_PUSH);
				}
				fzo_u8(&o, OP_PEER_SLOT);
				fzo_u16(&o, (uint16_t)i);
				fzo_u64(&o, 0x0102030405060708ull * (i + 1));
				fzo_u8(&o, OP_PEER_PROD);
				fzo_u8(&o, (uint8_t)(i + 1));
				fzo_u8(&o, 0);
				fzo_u8(&o, (uint8_t)(OP_GET + i));
				fzo_u8(&o, 4);
				if (back) {
					fzo_u8(&o, OP_BATCH_PUT);
					fzo_u8(&o, 1);
					fzo_u8(&o, OP_PUSH);
				}
				fzo_u8(&o, OP_FINAL);
			}
			snprintf(name, sizeof(name), "seed-kind%d-%s", k,
				 back ? "back" : "front");
			fz_seed_emit(name, &o);
		}
	}
}
