/* SPDX-License-Identifier: MIT */
/*
 * test-kmod-netfront: the logic the pvkit-netfront kernel module shares
 * with userspace (guest-kernel-patches/linux/netfront-core.h), compiled
 * here exactly as the module compiles it:
 *  - negotiation: offloads from the backend's feature nodes, queue count;
 *  - tx: a packet laid out on slots (first size = the packet's, GSO extra
 *    second, more_data, checksum flags), what is refused;
 *  - tx responses: NULL answers skipped, bad ids and statuses violations;
 *  - rx: packets gathered over responses and extra-info slots, every
 *    field a hostile backend controls checked (ids by ring position,
 *    offset + size within the page, statuses, slot and length bounds,
 *    extra-info placement and types);
 *  - control ring: Toeplitz (Microsoft's RSS test vectors), the mapping
 *    table, response checks.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../guest-kernel-patches/linux/netfront-core.h"

static void test_tx_features(void **state)
{
	struct pvknf_be be = { 0 };

	/* Nothing offered: IPv4 checksum offload only (it is the default
	 * unless feature-no-csum-offload says otherwise). */
	assert_int_equal(pvknf_tx_features(&be), PVKNF_F_CSUM4);
	be.no_csum4 = true;
	assert_int_equal(pvknf_tx_features(&be), 0);
	be = (struct pvknf_be){
		.sg = true, .gso4 = true, .gso6 = true, .csum6 = true
	};
	assert_int_equal(pvknf_tx_features(&be),
			 PVKNF_F_SG | PVKNF_F_CSUM4 | PVKNF_F_CSUM6 |
				 PVKNF_F_TSO4 | PVKNF_F_TSO6);
	/* TSO needs SG and its checksum offload. */
	be.sg = false;
	assert_int_equal(pvknf_tx_features(&be), PVKNF_F_CSUM4 | PVKNF_F_CSUM6);
	be = (struct pvknf_be){
		.sg = true, .gso4 = true, .gso6 = true, .no_csum4 = true
	};
	assert_int_equal(pvknf_tx_features(&be), PVKNF_F_SG);
}

static void test_pick_queues(void **state)
{
	assert_int_equal(pvknf_pick_queues(4, 0), 1);
	assert_int_equal(pvknf_pick_queues(4, 1), 1);
	assert_int_equal(pvknf_pick_queues(4, 2), 2);
	assert_int_equal(pvknf_pick_queues(4, 0xffffffffu), 4); /* hostile */
	assert_int_equal(pvknf_pick_queues(1, 8), 1);
}

static void tx_setup(uint16_t *ids, pvk_grant_ref_t *grefs)
{
	unsigned int i;

	for (i = 0; i < PVKNF_MAX_SLOTS; i++) {
		ids[i] = (uint16_t)(200 + i);
		grefs[i] = 1000 + i;
	}
}

static void test_tx_build(void **state)
{
	union pvk_netif_tx_slot s[PVKNF_MAX_SLOTS + 1];
	uint16_t ids[PVKNF_MAX_SLOTS];
	pvk_grant_ref_t grefs[PVKNF_MAX_SLOTS];
	struct pvknf_tx_pkt p = { .len = 60 };
	unsigned int i;

	tx_setup(ids, grefs);
	assert_int_equal(pvknf_tx_build(&p, ids, grefs, s, 19), 1);
	assert_int_equal(s[0].req.size, 60);
	assert_int_equal(s[0].req.id, 200);
	assert_int_equal(s[0].req.gref, 1000);
	assert_int_equal(s[0].req.offset, 0);
	assert_int_equal(s[0].req.flags, 0);

	p = (struct pvknf_tx_pkt){ .len = 4097, .data_validated = true };
	assert_int_equal(pvknf_tx_build(&p, ids, grefs, s, 19), 2);
	assert_int_equal(s[0].req.size, 4097); /* the whole packet */
	assert_int_equal(s[0].req.flags,
			 PVK_NETTXF_more_data | PVK_NETTXF_data_validated);
	assert_int_equal(s[1].req.size, 1);
	assert_int_equal(s[1].req.flags, 0);
	assert_int_equal(s[1].req.id, 201);
	assert_int_equal(s[1].req.gref, 1001);

	/* 64 KiB - 1 with GSO: 16 data slots, the GSO extra second. */
	p = (struct pvknf_tx_pkt){ .len = 65535,
				   .csum_blank = true,
				   .gso_type = PVK_NETIF_GSO_TYPE_TCPV6,
				   .gso_size = 1440 };
	assert_int_equal(pvknf_tx_build(&p, ids, grefs, s, 19), 17);
	assert_int_equal(s[0].req.flags, PVK_NETTXF_more_data |
						 PVK_NETTXF_csum_blank |
						 PVK_NETTXF_data_validated |
						 PVK_NETTXF_extra_info);
	assert_int_equal(s[1].extra.type, PVK_NETIF_EXTRA_TYPE_GSO);
	assert_int_equal(s[1].extra.flags, 0);
	assert_int_equal(s[1].extra.u.gso.size, 1440);
	assert_int_equal(s[1].extra.u.gso.type, PVK_NETIF_GSO_TYPE_TCPV6);
	for (i = 2; i < 17; i++) {
		assert_int_equal(s[i].req.id, 200 + i - 1);
		assert_int_equal(s[i].req.size, 4096 - (i == 16 ? 1 : 0));
		assert_int_equal(s[i].req.flags,
				 i < 16 ? PVK_NETTXF_more_data : 0);
	}

	/* Refused: nothing, too long, too few slots, GSO without a blank
	 * checksum, an unknown GSO type, MSS 0. */
	p = (struct pvknf_tx_pkt){ .len = 0 };
	assert_int_equal(pvknf_tx_build(&p, ids, grefs, s, 19), -EINVAL);
	p.len = 65536;
	assert_int_equal(pvknf_tx_build(&p, ids, grefs, s, 19), -EINVAL);
	p.len = 8192;
	assert_int_equal(pvknf_tx_build(&p, ids, grefs, s, 1), -EINVAL);
	p = (struct pvknf_tx_pkt){ .len = 9000,
				   .gso_type = PVK_NETIF_GSO_TYPE_TCPV4,
				   .gso_size = 1448 };
	assert_int_equal(pvknf_tx_build(&p, ids, grefs, s, 19), -EINVAL);
	p.csum_blank = true;
	assert_int_equal(pvknf_tx_build(&p, ids, grefs, s, 19), 4);
	assert_int_equal(pvknf_tx_build(&p, ids, grefs, s, 3), -EINVAL);
	p.gso_type = 3;
	assert_int_equal(pvknf_tx_build(&p, ids, grefs, s, 19), -EINVAL);
	p.gso_type = PVK_NETIF_GSO_TYPE_TCPV4;
	p.gso_size = 0;
	assert_int_equal(pvknf_tx_build(&p, ids, grefs, s, 19), -EINVAL);
	assert_int_equal(pvknf_tx_nr_data(65535), 16);
	assert_int_equal(pvknf_tx_nr_data(4096), 1);
}

static void test_tx_rsp(void **state)
{
	bool inflight[256] = { false };
	struct pvk_netif_tx_response r = { .id = 5,
					   .status = PVK_NETIF_RSP_OKAY };
	const char *why = NULL;
	unsigned int nulls = 1;

	inflight[5] = true;
	assert_int_equal(pvknf_tx_rsp_check(&r, inflight, 256, &nulls, &why),
			 PVKNF_TX_DONE);
	r.status = PVK_NETIF_RSP_ERROR;
	assert_int_equal(pvknf_tx_rsp_check(&r, inflight, 256, &nulls, &why),
			 PVKNF_TX_FAILED);
	r.status = PVK_NETIF_RSP_DROPPED;
	assert_int_equal(pvknf_tx_rsp_check(&r, inflight, 256, &nulls, &why),
			 PVKNF_TX_FAILED);
	assert_null(why);
	/* An extra-info slot's answer: its id is garbage, and ignored. */
	r = (struct pvk_netif_tx_response){ .id = 0xffff,
					    .status = PVK_NETIF_RSP_NULL };
	assert_int_equal(pvknf_tx_rsp_check(&r, inflight, 256, &nulls, &why),
			 PVKNF_TX_NULL);
	assert_int_equal(nulls, 0);
	/* ... but only as many as extra-info slots were sent. */
	assert_int_equal(pvknf_tx_rsp_check(&r, inflight, 256, &nulls, &why),
			 -EPROTO);
	assert_string_equal(
		why, "tx NULL response with no extra-info slot unanswered");
	r = (struct pvk_netif_tx_response){ .id = 256 };
	assert_int_equal(pvknf_tx_rsp_check(&r, inflight, 256, &nulls, &why),
			 -EPROTO);
	assert_string_equal(why, "tx response id out of range");
	r.id = 6; /* not in flight (or answered twice) */
	assert_int_equal(pvknf_tx_rsp_check(&r, inflight, 256, &nulls, &why),
			 -EPROTO);
	assert_string_equal(why, "tx response for an id not in flight");
	r = (struct pvk_netif_tx_response){ .id = 5, .status = 2 };
	why = NULL;
	assert_int_equal(pvknf_tx_rsp_check(&r, inflight, 256, &nulls, &why),
			 -EPROTO);
	assert_string_equal(why, "unknown tx response status");
	r.status = -3;
	assert_int_equal(pvknf_tx_rsp_check(&r, inflight, 256, &nulls, &why),
			 -EPROTO);
}

static union pvk_netif_rx_slot rsp(uint16_t id, uint16_t off, uint16_t flags,
				   int16_t status)
{
	union pvk_netif_rx_slot s;

	memset(&s, 0, sizeof(s));
	s.rsp = (struct pvk_netif_rx_response){
		.id = id, .offset = off, .flags = flags, .status = status
	};
	return s;
}

static union pvk_netif_rx_slot extra(uint8_t type, uint8_t flags)
{
	union pvk_netif_rx_slot s;

	memset(&s, 0, sizeof(s));
	s.extra.type = type;
	s.extra.flags = flags;
	return s;
}

static void test_rx_simple(void **state)
{
	struct pvknf_rx st;
	union pvk_netif_rx_slot s;
	const char *why = NULL;

	pvknf_rx_reset(&st);
	s = rsp(7, 16, PVK_NETRXF_data_validated, 1514);
	assert_int_equal(pvknf_rx_slot(&st, &s, 7, &why), PVKNF_RX_DATA);
	assert_true(st.done);
	assert_false(st.err);
	assert_int_equal(st.len, 1514);
	assert_int_equal(st.flags, PVK_NETRXF_data_validated);
	/* Feeding a finished packet is the caller's bug. */
	assert_int_equal(pvknf_rx_slot(&st, &s, 8, &why), -EINVAL);
	why = NULL;

	/* Three slots, 9000 bytes. */
	pvknf_rx_reset(&st);
	s = rsp(10, 0, PVK_NETRXF_more_data | PVK_NETRXF_csum_blank, 4096);
	assert_int_equal(pvknf_rx_slot(&st, &s, 10, &why), PVKNF_RX_DATA);
	assert_false(st.done);
	s = rsp(11, 0, PVK_NETRXF_more_data, 4096);
	assert_int_equal(pvknf_rx_slot(&st, &s, 11, &why), PVKNF_RX_DATA);
	s = rsp(12, 0, 0, 808);
	assert_int_equal(pvknf_rx_slot(&st, &s, 12, &why), PVKNF_RX_DATA);
	assert_true(st.done);
	assert_false(st.err);
	assert_int_equal(st.len, 9000);
	assert_int_equal(st.slots, 3);
	assert_int_equal(st.flags,
			 PVK_NETRXF_more_data | PVK_NETRXF_csum_blank);
	assert_null(why);
}

static void test_rx_extras(void **state)
{
	struct pvknf_rx st;
	union pvk_netif_rx_slot s;
	const char *why = NULL;

	/* Response, GSO extra (more), hash extra, then two more responses. */
	pvknf_rx_reset(&st);
	s = rsp(0, 0,
		PVK_NETRXF_extra_info | PVK_NETRXF_more_data |
			PVK_NETRXF_csum_blank | PVK_NETRXF_data_validated,
		4096);
	assert_int_equal(pvknf_rx_slot(&st, &s, 0, &why), PVKNF_RX_DATA);
	s = extra(PVK_NETIF_EXTRA_TYPE_GSO, PVK_NETIF_EXTRA_FLAG_MORE);
	s.extra.u.gso.size = 1448;
	s.extra.u.gso.type = PVK_NETIF_GSO_TYPE_TCPV4;
	/* The extra's slot took request 1: its "id" is not checked. */
	assert_int_equal(pvknf_rx_slot(&st, &s, 1, &why), PVKNF_RX_META);
	s = extra(PVK_NETIF_EXTRA_TYPE_HASH, 0);
	s.extra.u.hash.type = PVK_NETIF_CTRL_HASH_TYPE_IPV4_TCP;
	s.extra.u.hash.value[0] = 0x78;
	s.extra.u.hash.value[1] = 0x56;
	s.extra.u.hash.value[2] = 0x34;
	s.extra.u.hash.value[3] = 0x12;
	assert_int_equal(pvknf_rx_slot(&st, &s, 2, &why), PVKNF_RX_META);
	assert_false(st.done);
	s = rsp(3, 0, PVK_NETRXF_more_data, 4096);
	assert_int_equal(pvknf_rx_slot(&st, &s, 3, &why), PVKNF_RX_DATA);
	s = rsp(4, 0, 0, 100);
	assert_int_equal(pvknf_rx_slot(&st, &s, 4, &why), PVKNF_RX_DATA);
	assert_true(st.done);
	assert_false(st.err);
	assert_int_equal(st.len, 8292);
	assert_int_equal(st.gso_type, PVK_NETIF_GSO_TYPE_TCPV4);
	assert_int_equal(st.gso_size, 1448);
	assert_true(st.hash_valid);
	assert_int_equal(st.hash, 0x12345678);
	assert_int_equal(st.hash_type, PVK_NETIF_CTRL_HASH_TYPE_IPV4_TCP);

	/* One slot and its extra: done after the extra. */
	pvknf_rx_reset(&st);
	s = rsp(9, 0, PVK_NETRXF_extra_info, 60);
	assert_int_equal(pvknf_rx_slot(&st, &s, 9, &why), PVKNF_RX_DATA);
	assert_false(st.done);
	s = extra(PVK_NETIF_EXTRA_TYPE_GSO, 0);
	s.extra.u.gso.size = 0; /* bad GSO: the packet is dropped */
	s.extra.u.gso.type = PVK_NETIF_GSO_TYPE_TCPV4;
	assert_int_equal(pvknf_rx_slot(&st, &s, 10, &why), PVKNF_RX_META);
	assert_true(st.done);
	assert_true(st.err);
	assert_null(why);
}

/* Feed @n slots to a fresh packet, slot i at id i; return the last
 * result. */
static int feed(struct pvknf_rx *st, const union pvk_netif_rx_slot *s,
		unsigned int n, const char **why)
{
	unsigned int i;
	int rc = 0;

	pvknf_rx_reset(st);
	for (i = 0; i < n && rc >= 0; i++)
		rc = pvknf_rx_slot(st, &s[i], (uint16_t)i, why);
	return rc;
}

static void test_rx_hostile(void **state)
{
	union pvk_netif_rx_slot s[32];
	struct pvknf_rx st;
	const char *why = NULL;
	unsigned int i;

	/* The id of another request. */
	s[0] = rsp(1, 0, 0, 60);
	assert_int_equal(feed(&st, s, 1, &why), -EPROTO);
	assert_string_equal(why, "rx response id differs from its request's");
	/* Beyond the page: offset + size, and the largest offset. */
	s[0] = rsp(0, 4000, 0, 97);
	assert_int_equal(feed(&st, s, 1, &why), -EPROTO);
	assert_string_equal(why, "rx response beyond its page");
	s[0] = rsp(0, 0xffff, 0, 0x7fff);
	assert_int_equal(feed(&st, s, 1, &why), -EPROTO);
	s[0] = rsp(0, 4000, 0, 96); /* exactly to the end: fine */
	assert_int_equal(feed(&st, s, 1, &why), PVKNF_RX_DATA);
	/* Unknown negative status; the two known ones drop the packet. */
	s[0] = rsp(0, 0, 0, -3);
	assert_int_equal(feed(&st, s, 1, &why), -EPROTO);
	assert_string_equal(why, "unknown rx response status");
	s[0] = rsp(0, 0, 0, PVK_NETIF_RSP_ERROR);
	assert_int_equal(feed(&st, s, 1, &why), PVKNF_RX_META);
	assert_true(st.done && st.err);
	s[0] = rsp(0, 0, 0, 0); /* an empty packet */
	assert_int_equal(feed(&st, s, 1, &why), PVKNF_RX_DATA);
	assert_true(st.done && st.err);
	/* more_data forever: slot 19 is one too many. */
	for (i = 0; i < 32; i++)
		s[i] = rsp((uint16_t)i, 0, PVK_NETRXF_more_data, 16);
	assert_int_equal(feed(&st, s, PVKNF_MAX_SLOTS, &why), PVKNF_RX_DATA);
	assert_int_equal(feed(&st, s, PVKNF_MAX_SLOTS + 1, &why), -EPROTO);
	assert_string_equal(why, "rx packet spans too many slots");
	/* More bytes than 17 pages: 18 full pages. */
	for (i = 0; i < 32; i++)
		s[i] = rsp((uint16_t)i, 0, PVK_NETRXF_more_data, 4096);
	assert_int_equal(feed(&st, s, 17, &why), PVKNF_RX_DATA);
	assert_int_equal(feed(&st, s, 18, &why), -EPROTO);
	assert_string_equal(why, "rx packet too long");
	/* extra_info on a later response. */
	s[0] = rsp(0, 0, PVK_NETRXF_more_data, 100);
	s[1] = rsp(1, 0, PVK_NETRXF_extra_info, 100);
	assert_int_equal(feed(&st, s, 2, &why), -EPROTO);
	assert_string_equal(why, "rx extra-info flag after the first slot");
	/* Unknown extra types (MCAST is tx-only), and extras forever. */
	s[0] = rsp(0, 0, PVK_NETRXF_extra_info, 100);
	s[1] = extra(PVK_NETIF_EXTRA_TYPE_MCAST_ADD, 0);
	assert_int_equal(feed(&st, s, 2, &why), -EPROTO);
	assert_string_equal(why, "unknown rx extra-info type");
	s[1] = extra(PVK_NETIF_EXTRA_TYPE_NONE, 0);
	assert_int_equal(feed(&st, s, 2, &why), -EPROTO);
	s[1] = extra(PVK_NETIF_EXTRA_TYPE_MAX, 0);
	assert_int_equal(feed(&st, s, 2, &why), -EPROTO);
	for (i = 1; i < 32; i++)
		s[i] = extra(PVK_NETIF_EXTRA_TYPE_HASH,
			     PVK_NETIF_EXTRA_FLAG_MORE);
	assert_int_equal(feed(&st, s, 1 + PVKNF_MAX_EXTRAS, &why),
			 PVKNF_RX_META);
	assert_int_equal(feed(&st, s, 2 + PVKNF_MAX_EXTRAS, &why), -EPROTO);
	assert_string_equal(why, "too many rx extra-info slots");
	/* A hash extra of an unknown hash type: no hash, no violation. */
	s[1] = extra(PVK_NETIF_EXTRA_TYPE_HASH, 0);
	s[1].extra.u.hash.type = 9;
	assert_int_equal(feed(&st, s, 2, &why), PVKNF_RX_META);
	assert_true(st.done);
	assert_false(st.hash_valid);
}

/*
 * Through a real ring, as the module runs it: the frontend posts every rx
 * request with id = ring index % nr_ents; a backend (pvkit's ring code,
 * back end) answers a 3-slot GSO packet (response, GSO extra in the slot
 * of request 1, response) and a 1-slot packet; the frontend reads the
 * slots with pvk_netif_get_rx_slot and feeds them, each with the id of
 * its ring index, to pvknf_rx_slot.  Then a backend answering out of
 * order is caught by the id check.
 */
static void test_rx_ring(void **state)
{
	static _Alignas(4096) unsigned char page[4096];
	struct pvk_ring fr, br;
	struct pvk_netif_rx_request req;
	struct pvk_netif_rx_response r;
	struct pvk_netif_extra_info x = { .type = PVK_NETIF_EXTRA_TYPE_GSO };
	union pvk_netif_rx_slot s;
	struct pvknf_rx st;
	const char *why = NULL;
	uint32_t cons = 0, i;
	uint16_t reqid[4];

	assert_int_equal(pvk_netif_rx_front_init(&fr, (void *)page, 4096), 0);
	assert_int_equal(fr.nr_ents, 256);
	for (i = 0; i < 256; i++) {
		req = (struct pvk_netif_rx_request){ .id = (uint16_t)i,
						     .gref = 500 + i };
		assert_int_equal(pvk_netif_rx_put_request(&fr, &req), 0);
	}
	pvk_ring_push(&fr);
	assert_int_equal(pvk_netif_rx_back_attach(&br, (void *)page, 4096), 0);
	for (i = 0; i < 4; i++) {
		assert_int_equal(pvk_netif_rx_get_request(&br, &req), 1);
		reqid[i] = req.id;
	}
	r = (struct pvk_netif_rx_response){ .id = reqid[0],
					    .flags = PVK_NETRXF_extra_info |
						     PVK_NETRXF_more_data |
						     PVK_NETRXF_csum_blank |
						     PVK_NETRXF_data_validated,
					    .status = 4096 };
	assert_int_equal(pvk_netif_rx_put_response(&br, &r), 0);
	x.u.gso.size = 1448;
	x.u.gso.type = PVK_NETIF_GSO_TYPE_TCPV4;
	assert_int_equal(pvk_netif_put_rx_extra(&br, &x), 0);
	r = (struct pvk_netif_rx_response){ .id = reqid[2], .status = 1000 };
	assert_int_equal(pvk_netif_rx_put_response(&br, &r), 0);
	r = (struct pvk_netif_rx_response){ .id = reqid[3],
					    .offset = 64,
					    .status = 60 };
	assert_int_equal(pvk_netif_rx_put_response(&br, &r), 0);
	pvk_ring_push(&br);

	pvknf_rx_reset(&st);
	while (!st.done) {
		assert_int_equal(pvk_netif_get_rx_slot(&fr, &s), 1);
		assert_true(pvknf_rx_slot(&st, &s, (uint16_t)(cons++ & 255),
					  &why) >= 0);
	}
	assert_false(st.err);
	assert_int_equal(st.len, 5096);
	assert_int_equal(st.slots, 2);
	assert_int_equal(st.gso_size, 1448);
	pvknf_rx_reset(&st);
	assert_int_equal(pvk_netif_get_rx_slot(&fr, &s), 1);
	assert_int_equal(pvknf_rx_slot(&st, &s, (uint16_t)(cons++ & 255), &why),
			 PVKNF_RX_DATA);
	assert_true(st.done);
	assert_int_equal(st.len, 60);
	assert_int_equal(s.rsp.offset, 64);
	assert_int_equal(pvk_netif_get_rx_slot(&fr, &s), 0);

	/* Out of order: request 5's id in the slot of request 4. */
	for (i = 0; i < 2; i++)
		assert_int_equal(pvk_netif_rx_get_request(&br, &req), 1);
	r = (struct pvk_netif_rx_response){ .id = req.id, .status = 60 };
	assert_int_equal(pvk_netif_rx_put_response(&br, &r), 0);
	pvk_ring_push(&br);
	assert_int_equal(pvk_netif_get_rx_slot(&fr, &s), 1);
	pvknf_rx_reset(&st);
	assert_int_equal(pvknf_rx_slot(&st, &s, (uint16_t)(cons++ & 255), &why),
			 -EPROTO);
	assert_string_equal(why, "rx response id differs from its request's");
}

/* Microsoft's RSS verification suite (the key every RSS implementation
 * is tested with): IPv4 and IPv4/TCP hashes. */
static void test_toeplitz(void **state)
{
	static const uint8_t key[40] = {
		0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67,
		0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb,
		0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30,
		0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
	};
	/* src 66.9.149.187:2794, dst 161.142.100.80:1766 */
	static const uint8_t in1[12] = { 66,  9,  149,	187,  161,  142,
					 100, 80, 0x0a, 0xea, 0x06, 0xe6 };
	/* src 199.92.111.2:14230, dst 65.69.140.83:4739 */
	static const uint8_t in2[12] = { 199, 92, 111,	2,    65,   69,
					 140, 83, 0x37, 0x96, 0x12, 0x83 };

	assert_int_equal(pvknf_toeplitz(key, 40, in1, 8), 0x323e8fc2);
	assert_int_equal(pvknf_toeplitz(key, 40, in1, 12), 0x51ccc178);
	assert_int_equal(pvknf_toeplitz(key, 40, in2, 8), 0xd718262a);
	assert_int_equal(pvknf_toeplitz(key, 40, in2, 12), 0xc626b0ea);
	assert_int_equal(pvknf_toeplitz(key, 40, in1, 0), 0);
}

static void test_hash_mapping(void **state)
{
	uint32_t map[PVK_NETIF_CTRL_HASH_MAPPING_MAX];
	unsigned int i;

	pvknf_hash_mapping(map, PVK_NETIF_CTRL_HASH_MAPPING_MAX, 3);
	for (i = 0; i < PVK_NETIF_CTRL_HASH_MAPPING_MAX; i++)
		assert_int_equal(map[i], i % 3);
	pvknf_hash_mapping(map, 4, 1);
	for (i = 0; i < 4; i++)
		assert_int_equal(map[i], 0);
}

static void test_ctrl_rsp(void **state)
{
	struct pvk_netif_ctrl_response r = {
		.id = 3,
		.type = PVK_NETIF_CTRL_TYPE_SET_HASH_KEY,
		.status = PVK_NETIF_CTRL_STATUS_SUCCESS,
	};
	const char *why = NULL;

	assert_int_equal(pvknf_ctrl_rsp_check(
				 &r, 3, PVK_NETIF_CTRL_TYPE_SET_HASH_KEY, &why),
			 0);
	r.status = PVK_NETIF_CTRL_STATUS_NOT_SUPPORTED;
	assert_int_equal(pvknf_ctrl_rsp_check(
				 &r, 3, PVK_NETIF_CTRL_TYPE_SET_HASH_KEY, &why),
			 PVK_NETIF_CTRL_STATUS_NOT_SUPPORTED);
	assert_null(why);
	r.status = 4;
	assert_int_equal(pvknf_ctrl_rsp_check(
				 &r, 3, PVK_NETIF_CTRL_TYPE_SET_HASH_KEY, &why),
			 -EPROTO);
	assert_string_equal(why, "unknown control response status");
	r.status = 0;
	assert_int_equal(pvknf_ctrl_rsp_check(
				 &r, 4, PVK_NETIF_CTRL_TYPE_SET_HASH_KEY, &why),
			 -EPROTO);
	assert_string_equal(why,
			    "control response id differs from the request's");
	assert_int_equal(
		pvknf_ctrl_rsp_check(&r, 3, PVK_NETIF_CTRL_TYPE_SET_HASH_FLAGS,
				     &why),
		-EPROTO);
	assert_string_equal(why,
			    "control response type differs from the request's");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tx_features),
		cmocka_unit_test(test_pick_queues),
		cmocka_unit_test(test_tx_build),
		cmocka_unit_test(test_tx_rsp),
		cmocka_unit_test(test_rx_simple),
		cmocka_unit_test(test_rx_extras),
		cmocka_unit_test(test_rx_hostile),
		cmocka_unit_test(test_rx_ring),
		cmocka_unit_test(test_toeplitz),
		cmocka_unit_test(test_hash_mapping),
		cmocka_unit_test(test_ctrl_rsp),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
