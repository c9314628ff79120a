/* SPDX-License-Identifier: MIT */
/*
 * test-netfront-evil: pvkit's netfront against a hostile backend.  The
 * backend is a test double (tests/net/net_double.h: raw netif rings, not
 * pvkit's netback) on the loop hypervisor that answers the frontend's
 * rings with crafted responses.  Each test is named for what it guards
 * against and checks the outcome pvkit/netfront.h documents: a violation
 * of the ring protocol (ids, indices) latches the interface broken; a
 * malformed frame is dropped and counted, and the next good frame still
 * arrives.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <pvkit/netfront.h>
#include <pvkit/netif.h>

#include "net_double.h"

#define TMO_MS T_NET_TMO_MS

struct env {
	struct t_net net;
	struct pvk_netfront *nf;
	uint8_t buf[PVK_NETFRONT_MAX_RX_FRAME];
};

#define ms_now t_ms_now
#define be_kick t_be_kick

/* --- the backend test double (net_double.h), asserting ------------------- */

/* Take the next rx request the frontend posted. */
static struct pvk_netif_rx_request be_rx_req(struct t_be *b)
{
	struct pvk_netif_rx_request q;

	assert_int_equal(t_be_rx_req(b, &q), 1);
	return q;
}

/* Write @len bytes at @off into the page of rx request @q. */
static void be_fill(struct t_be *b, const struct pvk_netif_rx_request *q,
		    uint16_t off, const void *data, size_t len)
{
	assert_int_equal(t_be_fill(b, q, off, data, len), 0);
}

static void be_rsp(struct t_be *b, uint16_t id, uint16_t off, uint16_t flags,
		   int16_t status)
{
	assert_int_equal(t_be_rsp(b, id, off, flags, status), 0);
}

/* A good frame of @len (<= 4096) bytes in one slot. */
static void be_good_frame(struct t_be *b, const uint8_t *f, uint16_t len)
{
	struct pvk_netif_rx_request q = be_rx_req(b);

	be_fill(b, &q, 0, f, len);
	be_rsp(b, q.id, 0, 0, (int16_t)len);
	be_kick(b, &b->rx);
}

/* --- set-up ------------------------------------------------------------- */

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	assert_int_equal(t_net_setup(&e->net, NULL), 0);
	e->nf = e->net.nf;
	/* The frontend posted a full rx ring. */
	assert_int_equal(pvk_ring_peek(&e->net.be.rx), 256);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	t_net_teardown(&e->net);
	free(e);
	return 0;
}

/* --- helpers on the frontend side ------------------------------------------ */

static void frame(uint8_t *f, size_t len, uint8_t seed)
{
	size_t i;

	memset(f, 0xff, 6);
	memcpy(f + 6, "\x00\x16\x3e\x00\x02\x99", 6);
	f[12] = 0x88;
	f[13] = 0xb5;
	for (i = 14; i < len; i++)
		f[i] = (uint8_t)(i * 11 + seed);
}

/* Receive until a frame arrives or the timeout; its length, or 0. */
static uint32_t fe_recv(struct env *e, struct pvk_netfront_pkt *p)
{
	uint64_t t0 = ms_now();
	int n;

	while (ms_now() - t0 < TMO_MS) {
		p->data = e->buf;
		p->len = sizeof(e->buf);
		n = pvk_netfront_recv(e->nf, 0, p, 1);
		if (n < 0)
			return 0;
		if (n == 1)
			return p->len;
		pvk_netfront_wait(e->nf, 20);
	}
	return 0;
}

/* The frontend counts @errors rx errors (waiting for it), is not broken,
 * and a good frame sent next arrives intact. */
static void assert_dropped_then_good(struct env *e, uint64_t errors)
{
	struct pvk_netfront_stats st;
	struct pvk_netfront_pkt p;
	uint64_t t0 = ms_now();
	uint8_t f[300];

	for (;;) {
		pvk_netfront_recv(
			e->nf, 0,
			&(struct pvk_netfront_pkt){ .data = e->buf,
						    .len = sizeof(e->buf) },
			1);
		pvk_netfront_stats(e->nf, &st);
		if (st.rx_errors >= errors || ms_now() - t0 > TMO_MS)
			break;
		pvk_netfront_wait(e->nf, 20);
	}
	assert_int_equal(st.rx_errors, errors);
	assert_null(pvk_netfront_broken_reason(e->nf));
	frame(f, sizeof(f), 5);
	be_good_frame(&e->net.be, f, sizeof(f));
	assert_int_equal(fe_recv(e, &p), sizeof(f));
	assert_memory_equal(e->buf, f, sizeof(f));
}

/* The interface is latched broken: a reason, and -EIO from now on. */
static void assert_broken(struct env *e, const char *what)
{
	struct pvk_netfront_pkt p = { .data = e->buf, .len = 100 };
	uint64_t t0 = ms_now();

	while (!pvk_netfront_broken_reason(e->nf) && ms_now() - t0 < TMO_MS) {
		pvk_netfront_recv(e->nf, 0, &p, 1);
		pvk_netfront_wait(e->nf, 20);
	}
	assert_non_null(pvk_netfront_broken_reason(e->nf));
	assert_non_null(strstr(pvk_netfront_broken_reason(e->nf), what));
	assert_int_equal(pvk_netfront_recv(e->nf, 0, &p, 1), -EIO);
	p.len = 60;
	assert_int_equal(pvk_netfront_send(e->nf, 0, &p, 1), -EIO);
	assert_int_equal(pvk_netfront_process(e->nf), -EIO);
	assert_int_equal(pvk_netfront_wait(e->nf, 0), -EIO);
	assert_int_equal(pvk_netfront_tx_space(e->nf, 0), 0);
	assert_false(pvk_netfront_connected(e->nf));
}

/* --- the tests ------------------------------------------------------------ */

/* The double itself: a 3-slot frame with a GSO extra after its first
 * response arrives whole, with its metadata. */
static void test_good_multislot_gso_frame(void **state)
{
	struct env *e = *state;
	struct t_be *b = &e->net.be;
	struct pvk_netif_rx_request q[4];
	static uint8_t f[9000];
	struct pvk_netfront_pkt p;
	struct pvk_netif_extra_info x = { .type = PVK_NETIF_EXTRA_TYPE_GSO };
	size_t i;

	/* A TCP/IPv4 frame (the GSO extra needs one): headers, then data. */
	memset(f, 0, sizeof(f));
	memset(f, 0xff, 6);
	f[12] = 0x08;
	f[14] = 0x45;
	f[16] = (uint8_t)((sizeof(f) - 14) >> 8);
	f[17] = (uint8_t)(sizeof(f) - 14);
	f[22] = 64;
	f[23] = 6;
	f[46] = 0x50;
	for (i = 54; i < sizeof(f); i++)
		f[i] = (uint8_t)i;
	x.u.gso.size = 1448;
	x.u.gso.type = PVK_NETIF_GSO_TYPE_TCPV4;
	for (i = 0; i < 4; i++)
		q[i] = be_rx_req(b);
	be_fill(b, &q[0], 0, f, 4096);
	be_fill(b, &q[2], 0, f + 4096, 4096);
	be_fill(b, &q[3], 0, f + 8192, sizeof(f) - 8192);
	be_rsp(b, q[0].id, 0,
	       PVK_NETRXF_more_data | PVK_NETRXF_extra_info |
		       PVK_NETRXF_csum_blank | PVK_NETRXF_data_validated,
	       4096);
	pvk_netif_put_rx_extra(&b->rx, &x);
	be_rsp(b, q[2].id, 0, PVK_NETRXF_more_data, 4096);
	be_rsp(b, q[3].id, 0, 0, (int16_t)(sizeof(f) - 8192));
	be_kick(b, &b->rx);
	assert_int_equal(fe_recv(e, &p), sizeof(f));
	assert_memory_equal(e->buf, f, sizeof(f));
	assert_int_equal(p.meta.gso_type, PVK_NET_GSO_TCPV4);
	assert_int_equal(p.meta.gso_size, 1448);
	assert_true(p.meta.flags & PVK_NET_META_CSUM_PARTIAL);
	assert_int_equal(p.meta.csum_start, 34);
	assert_int_equal(p.meta.csum_offset, 16);
}

/* A tx response naming an id beyond the ring: broken. */
static void test_tx_response_id_out_of_range(void **state)
{
	struct env *e = *state;
	struct pvk_netif_tx_request q;
	struct pvk_netif_tx_response r = { .id = 4000, .status = 0 };
	uint8_t f[100];

	frame(f, sizeof(f), 1);
	assert_int_equal(
		pvk_netfront_send(e->nf, 0,
				  &(struct pvk_netfront_pkt){
					  .data = f, .len = sizeof(f) },
				  1),
		1);
	assert_int_equal(pvk_netif_tx_get_request(&e->net.be.tx, &q), 1);
	assert_int_equal(q.size, sizeof(f));
	assert_int_equal(pvk_netif_tx_put_response(&e->net.be.tx, &r), 0);
	be_kick(&e->net.be, &e->net.be.tx);
	assert_broken(e, "tx response id 4000");
}

/* A second response for a tx slot already answered: broken. */
static void test_tx_duplicate_response(void **state)
{
	struct env *e = *state;
	struct pvk_netif_tx_request q[2];
	struct pvk_netif_tx_response r = { .status = 0 };
	struct pvk_netfront_pkt p[2];
	uint8_t f[100];

	frame(f, sizeof(f), 2);
	p[0] = p[1] = (struct pvk_netfront_pkt){ .data = f, .len = sizeof(f) };
	assert_int_equal(pvk_netfront_send(e->nf, 0, p, 2), 2);
	assert_int_equal(pvk_netif_tx_get_request(&e->net.be.tx, &q[0]), 1);
	assert_int_equal(pvk_netif_tx_get_request(&e->net.be.tx, &q[1]), 1);
	assert_int_not_equal(q[0].id, q[1].id);
	r.id = q[0].id;
	assert_int_equal(pvk_netif_tx_put_response(&e->net.be.tx, &r), 0);
	assert_int_equal(pvk_netif_tx_put_response(&e->net.be.tx, &r), 0);
	be_kick(&e->net.be, &e->net.be.tx);
	assert_broken(e, "not in flight");
}

/* An rx response whose id is not that of the request in its slot. */
static void test_rx_response_id_mismatch(void **state)
{
	struct env *e = *state;
	struct pvk_netif_rx_request q = be_rx_req(&e->net.be);
	uint8_t f[64];

	frame(f, sizeof(f), 3);
	be_fill(&e->net.be, &q, 0, f, sizeof(f));
	be_rsp(&e->net.be, (uint16_t)(q.id + 7), 0, 0, sizeof(f));
	be_kick(&e->net.be, &e->net.be.rx);
	assert_broken(e, "rx response id");
}

/* rsp_prod beyond the requests posted (an XSA-style index attack). */
static void test_rx_rsp_prod_beyond_requests(void **state)
{
	struct env *e = *state;
	uint32_t *hdr = e->net.be.rx_map;

	/* rsp_prod is the third word of the shared ring header. */
	__atomic_store_n(&hdr[2], hdr[0] + 5, __ATOMIC_RELEASE);
	pvk_evtchn_notify(e->net.be.ev, e->net.be.port);
	assert_broken(e, "more responses than requests");
}

/* Data beyond its page (offset + size > 4096): that frame is dropped. */
static void test_rx_offset_plus_size_beyond_page(void **state)
{
	struct env *e = *state;
	struct pvk_netif_rx_request q = be_rx_req(&e->net.be);

	be_rsp(&e->net.be, q.id, 4000, 0, 200);
	be_kick(&e->net.be, &e->net.be.rx);
	assert_dropped_then_good(e, 1);
}

/* A negative status (an error slot): the frame is dropped. */
static void test_rx_negative_status(void **state)
{
	struct env *e = *state;
	struct pvk_netif_rx_request q = be_rx_req(&e->net.be);

	be_rsp(&e->net.be, q.id, 0, 0, PVK_NETIF_RSP_ERROR);
	be_kick(&e->net.be, &e->net.be.rx);
	assert_dropped_then_good(e, 1);
}

/* 19 slots chained with more_data: more than any frame may take. */
static void test_rx_too_many_slots(void **state)
{
	struct env *e = *state;
	struct pvk_netif_rx_request q;
	uint8_t f[1000];
	int i;

	frame(f, sizeof(f), 4);
	for (i = 0; i < PVK_NETFRONT_MAX_SLOTS + 1; i++) {
		q = be_rx_req(&e->net.be);
		be_fill(&e->net.be, &q, 0, f, sizeof(f));
		be_rsp(&e->net.be, q.id, 0,
		       i < PVK_NETFRONT_MAX_SLOTS ? PVK_NETRXF_more_data : 0,
		       sizeof(f));
	}
	be_kick(&e->net.be, &e->net.be.rx);
	assert_dropped_then_good(e, 1);
}

/* An extra-info slot of an unknown type. */
static void test_rx_unknown_extra_type(void **state)
{
	struct env *e = *state;
	struct pvk_netif_extra_info x = { .type = 7 };
	struct pvk_netif_rx_request q = be_rx_req(&e->net.be);
	uint8_t f[100];

	frame(f, sizeof(f), 6);
	be_fill(&e->net.be, &q, 0, f, sizeof(f));
	be_rsp(&e->net.be, q.id, 0, PVK_NETRXF_extra_info, sizeof(f));
	be_rx_req(&e->net.be); /* the extra takes the next slot */
	pvk_netif_put_rx_extra(&e->net.be.rx, &x);
	be_kick(&e->net.be, &e->net.be.rx);
	assert_dropped_then_good(e, 1);
}

/* GSO extras with an unknown type, and with size 0. */
static void test_rx_bad_gso_extra(void **state)
{
	struct env *e = *state;
	struct pvk_netif_extra_info x = { .type = PVK_NETIF_EXTRA_TYPE_GSO };
	struct pvk_netif_rx_request q;
	uint8_t f[100];
	int i;

	frame(f, sizeof(f), 7);
	for (i = 0; i < 2; i++) {
		x.u.gso.type = i ? PVK_NETIF_GSO_TYPE_TCPV4 : 9;
		x.u.gso.size = i ? 0 : 1448;
		q = be_rx_req(&e->net.be);
		be_fill(&e->net.be, &q, 0, f, sizeof(f));
		be_rsp(&e->net.be, q.id, 0, PVK_NETRXF_extra_info, sizeof(f));
		be_rx_req(&e->net.be);
		pvk_netif_put_rx_extra(&e->net.be.rx, &x);
	}
	be_kick(&e->net.be, &e->net.be.rx);
	assert_dropped_then_good(e, 2);
}

/* csum_blank on a frame with no TCP/UDP checksum to complete. */
static void test_rx_csum_blank_not_tcp_udp(void **state)
{
	struct env *e = *state;
	struct pvk_netif_rx_request q = be_rx_req(&e->net.be);
	uint8_t f[100];

	frame(f, sizeof(f), 8); /* ethertype 0x88b5 */
	be_fill(&e->net.be, &q, 0, f, sizeof(f));
	be_rsp(&e->net.be, q.id, 0, PVK_NETRXF_csum_blank, sizeof(f));
	be_kick(&e->net.be, &e->net.be.rx);
	assert_dropped_then_good(e, 1);
}

/* A frame shorter than an Ethernet header. */
static void test_rx_runt_frame(void **state)
{
	struct env *e = *state;
	struct pvk_netif_rx_request q = be_rx_req(&e->net.be);
	uint8_t f[10] = { 0 };

	be_fill(&e->net.be, &q, 0, f, sizeof(f));
	be_rsp(&e->net.be, q.id, 0, 0, sizeof(f));
	be_kick(&e->net.be, &e->net.be.rx);
	assert_dropped_then_good(e, 1);
}

/* A frame split over two pushes (more_data, then nothing for a while):
 * held until its last slot comes, not dropped, not broken. */
static void test_rx_frame_across_pushes(void **state)
{
	struct env *e = *state;
	struct pvk_netif_rx_request q1 = be_rx_req(&e->net.be), q2;
	struct pvk_netfront_pkt p = { .data = e->buf, .len = sizeof(e->buf) };
	static uint8_t f[6000];

	frame(f, sizeof(f), 9);
	be_fill(&e->net.be, &q1, 0, f, 4096);
	be_rsp(&e->net.be, q1.id, 0, PVK_NETRXF_more_data, 4096);
	be_kick(&e->net.be, &e->net.be.rx);
	usleep(20000);
	assert_int_equal(pvk_netfront_recv(e->nf, 0, &p, 1), 0);
	q2 = be_rx_req(&e->net.be);
	be_fill(&e->net.be, &q2, 0, f + 4096, sizeof(f) - 4096);
	be_rsp(&e->net.be, q2.id, 0, 0, (int16_t)(sizeof(f) - 4096));
	be_kick(&e->net.be, &e->net.be.rx);
	assert_int_equal(fe_recv(e, &p), sizeof(f));
	assert_memory_equal(e->buf, f, sizeof(f));
}

/* A frame that outgrew the caller's buffer, then finished in a later
 * push (and a later, larger buffer): dropped and counted, never handed
 * out with bytes the backend did not send. */
static void test_rx_too_long_across_pushes_dropped(void **state)
{
	struct env *e = *state;
	struct pvk_netif_rx_request q1 = be_rx_req(&e->net.be), q2;
	struct pvk_netfront_pkt p = { .data = e->buf, .len = 100 };
	struct pvk_netfront_stats st;
	static uint8_t f[5096];
	uint64_t t0 = ms_now();

	frame(f, sizeof(f), 10);
	be_fill(&e->net.be, &q1, 0, f, 4096);
	be_rsp(&e->net.be, q1.id, 0, PVK_NETRXF_more_data, 4096);
	be_kick(&e->net.be, &e->net.be.rx);
	usleep(20000);
	assert_int_equal(pvk_netfront_recv(e->nf, 0, &p, 1), 0);
	q2 = be_rx_req(&e->net.be);
	be_fill(&e->net.be, &q2, 0, f + 4096, sizeof(f) - 4096);
	be_rsp(&e->net.be, q2.id, 0, 0, (int16_t)(sizeof(f) - 4096));
	be_kick(&e->net.be, &e->net.be.rx);
	do {
		p = (struct pvk_netfront_pkt){ .data = e->buf,
					       .len = sizeof(e->buf) };
		assert_int_equal(pvk_netfront_recv(e->nf, 0, &p, 1), 0);
		pvk_netfront_stats(e->nf, &st);
		pvk_netfront_wait(e->nf, 20);
	} while (!st.rx_dropped && ms_now() - t0 < TMO_MS);
	assert_int_equal(st.rx_dropped, 1);
	assert_dropped_then_good(e, 0);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_good_multislot_gso_frame),
		T(test_tx_response_id_out_of_range),
		T(test_tx_duplicate_response),
		T(test_rx_response_id_mismatch),
		T(test_rx_rsp_prod_beyond_requests),
		T(test_rx_offset_plus_size_beyond_page),
		T(test_rx_negative_status),
		T(test_rx_too_many_slots),
		T(test_rx_unknown_extra_type),
		T(test_rx_bad_gso_extra),
		T(test_rx_csum_blank_not_tcp_udp),
		T(test_rx_runt_frame),
		T(test_rx_frame_across_pushes),
		T(test_rx_too_long_across_pushes_dropped),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
