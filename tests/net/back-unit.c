/* SPDX-License-Identifier: MIT */
/*
 * test-netback: netback on the loop hypervisor, driven by a frontend test
 * double (t_nfe, back_tfront.h: raw netif rings, not pvkit's netfront), with real TAP
 * devices on a real bridge inside a network namespace of the test's own.
 * Frames are seen and sent on a veth whose peer is on the same bridge,
 * through a packet socket that reads and writes virtio_net_hdrs, so the
 * offload metadata netback hands the kernel is checked too.
 *
 * Each hostile-frontend test is named for the class of bug it guards
 * against, runs its case on vif 0, checks what netback answered or
 * latched, then checks that an honest vif 1 on the same backend still
 * moves packets both ways.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <linux/virtio_net.h>
#include <net/if.h>

#include <cmocka.h>

#include <pvkit/net.h>
#include <pvkit/netback.h>
#include <pvkit/netif.h>
#include <pvkit/xenbus.h>

#include "../common/t_toolstack.h"
#include "../common/t_wire.h"
#include "back_tfront.h"

#define TMO_MS T_NFE_TMO_MS

struct env {
	struct pvk_loop *loop;
	struct pvk_hv *hv0, *tool, *hvu;
	uint32_t domu;
	struct pvk_xenbus_bus *bus;
	struct pvk_netback *nb;
	struct t_nfe fe[2];
	int ps; /* packet socket on the veth peer, with vnet headers */
	pthread_mutex_t lines_lock; /* netback logs from its queue threads */
	char lines[8192];
};

static void log_line(void *arg, const char *line)
{
	struct env *e = arg;
	size_t n;

	pthread_mutex_lock(&e->lines_lock);
	n = strlen(e->lines);
	snprintf(e->lines + n, sizeof(e->lines) - n, "%s\n", line);
	pthread_mutex_unlock(&e->lines_lock);
}

static uint64_t ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void pump(void *arg, int ms)
{
	struct env *e = arg;
	struct pollfd p = { .fd = pvk_xenbus_bus_fd(e->bus), .events = POLLIN };

	if (poll(&p, 1, ms) > 0)
		assert_int_equal(pvk_xenbus_bus_handle_events(e->bus), 0);
}

static unsigned long be_node(struct env *e, uint32_t devid, const char *n)
{
	return t_nfe_be_node(&e->fe[devid], n);
}

static void fe_write(struct t_nfe *fe, const char *n, unsigned long v)
{
	assert_int_equal(t_nfe_write(fe, n, v), 0);
}

/* vif 0 sets up a control ring, vif 1 not. */
static void fe_connect(struct env *e, uint32_t devid)
{
	assert_int_equal(t_nfe_connect(&e->fe[devid], e->tool, e->hvu, e->domu,
				       devid, devid == 0, pump, e),
			 0);
	assert_int_equal(be_node(e, devid, "feature-rx-copy"), 1);
	assert_int_equal(be_node(e, devid, "feature-sg"), 1);
}

static uint8_t *page(struct t_nfe *fe, uint32_t i)
{
	return t_nfe_page(fe, i);
}

/* A tx slot over page @pg. */
static struct pvk_netif_tx_request txreq(struct t_nfe *fe, uint32_t pg,
					 uint16_t off, uint16_t size,
					 uint16_t flags)
{
	return t_nfe_txreq(fe, pg, off, size, flags);
}

static void tx_put(struct t_nfe *fe, const struct pvk_netif_tx_request *r)
{
	assert_int_equal(pvk_netif_tx_put_request(&fe->tx, r), 0);
}

static void tx_put_extra(struct t_nfe *fe, uint8_t type, uint16_t gso_size,
			 uint8_t gso_type)
{
	struct pvk_netif_extra_info x = { .type = type };

	x.u.gso.size = gso_size;
	x.u.gso.type = gso_type;
	assert_int_equal(pvk_netif_put_tx_extra(&fe->tx, &x), 0);
}

static void kick(struct t_nfe *fe, struct pvk_ring *r)
{
	assert_int_equal(t_nfe_kick(fe, r), 0);
}

/* The next response on @r (a tx or rx ring), waiting for events. */
static int wait_rsp(struct t_nfe *fe, struct pvk_ring *r, void *out, size_t len)
{
	return t_nfe_wait_rsp(fe, r, out, len, TMO_MS);
}

static int16_t tx_status(struct t_nfe *fe)
{
	struct pvk_netif_tx_response r;

	assert_int_equal(wait_rsp(fe, &fe->tx, &r, sizeof(r)), 1);
	return r.status;
}

/* --- the wire side -------------------------------------------------------- */

static void frame_fill(uint8_t *f, size_t len, uint8_t seed)
{
	t_frame_fill(f, len, (const uint8_t *)"\x00\x16\x3e\x00\x00\x01", seed);
}

static ssize_t wire_read(struct env *e, struct virtio_net_hdr *vh, void *buf,
			 size_t len, int ms)
{
	return t_wire_read(e->ps, vh, buf, len, ms);
}

static void wire_write(struct env *e, const void *f, size_t len)
{
	assert_int_equal(t_wire_write(e->ps, NULL, f, len), (ssize_t)len);
}

/*
 * Post @n rx buffers (pages 40.., ids 7..), write @f on the wire, and wait
 * for it among the responses: the bridge floods the other vif's broadcasts
 * here too.
 */
static void rx_expect(struct env *e, struct t_nfe *fe, const uint8_t *f,
		      size_t len)
{
	struct pvk_netif_rx_response rr;
	struct pvk_netif_rx_request rq;
	uint16_t i;

	for (i = 0; i < 6; i++) {
		rq = (struct pvk_netif_rx_request){ .id = (uint16_t)(7 + i),
						    .gref = fe->refs[40 + i] };
		assert_int_equal(pvk_netif_rx_put_request(&fe->rx, &rq), 0);
	}
	kick(fe, &fe->rx);
	wire_write(e, f, len);
	for (i = 0; i < 6; i++) {
		assert_int_equal(wait_rsp(fe, &fe->rx, &rr, sizeof(rr)), 1);
		assert_true(rr.id >= 7 && rr.id < 13);
		assert_true(rr.status > 0);
		assert_int_equal(rr.offset, 0);
		assert_int_equal(rr.flags & PVK_NETRXF_more_data, 0);
		if ((size_t)rr.status == len &&
		    !memcmp(page(fe, 40u + rr.id - 7u), f, len))
			break;
	}
	assert_true(i < 6);
	/* Use up the buffers left over, so the next exchange starts with an
	 * empty rx ring. */
	for (i++; i < 6; i++) {
		wire_write(e, f, len);
		assert_int_equal(wait_rsp(fe, &fe->rx, &rr, sizeof(rr)), 1);
	}
}

/* One frame each way through @devid. */
static void roundtrip(struct env *e, uint32_t devid)
{
	struct t_nfe *fe = &e->fe[devid];
	struct virtio_net_hdr vh;
	uint8_t f[300], got[2048];
	struct pvk_netif_tx_request r;

	frame_fill(f, sizeof(f), (uint8_t)(devid + 1));
	memcpy(page(fe, 0) + 100, f, sizeof(f));
	r = txreq(fe, 0, 100, sizeof(f), 0);
	tx_put(fe, &r);
	kick(fe, &fe->tx);
	assert_int_equal(tx_status(fe), PVK_NETIF_RSP_OKAY);
	assert_int_equal(wire_read(e, &vh, got, sizeof(got), TMO_MS),
			 sizeof(f));
	assert_memory_equal(got, f, sizeof(f));
	frame_fill(f, 200, 0x5a);
	rx_expect(e, fe, f, 200);
}

/* --- set-up ---------------------------------------------------------------- */

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	struct pvk_netback_config cfg = { .type = "vif",
					  .tap_fmt = "pvkt%u.%u" };

	assert_non_null(e);
	pthread_mutex_init(&e->lines_lock, NULL);
	assert_int_equal(pvk_loop_create(&e->loop), 0);
	assert_int_equal(pvk_hv_open_loop(&e->hv0, e->loop, 0), 0);
	assert_int_equal(pvk_hv_open_loop(&e->tool, e->loop, 0), 0);
	assert_int_equal(pvk_loop_domain_create(e->loop, "guest", &e->domu), 0);
	assert_int_equal(pvk_hv_open_loop(&e->hvu, e->loop, e->domu), 0);
	assert_int_equal(pvk_xenbus_bus_create(&e->bus, e->hv0, log_line, e),
			 0);
	assert_int_equal(pvk_netback_create_on(&e->nb, e->bus, &cfg), 0);
	fe_connect(e, 0);
	fe_connect(e, 1);
	/* The wire: a veth pair, one end on netback's bridge. */
	e->ps = t_wire_open("pvkbr", 1500);
	assert_true(e->ps >= 0);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	struct pvk_nl *nl;
	int i;

	pvk_netback_destroy(e->nb);
	pvk_xenbus_bus_destroy(e->bus);
	for (i = 0; i < 2; i++)
		t_nfe_free(&e->fe[i]);
	pvk_hv_close(e->hvu);
	pvk_hv_close(e->tool);
	pvk_hv_close(e->hv0);
	pvk_loop_destroy(e->loop);
	t_wire_close(e->ps, "pvkbr");
	if (pvk_nl_open(&nl) == 0) {
		/* The TAPs went with netback. */
		assert_int_equal(pvk_nl_link_index(nl, "pvkt1.0"), -ENODEV);
		assert_int_equal(pvk_nl_link_index(nl, "pvkt1.1"), -ENODEV);
		pvk_nl_close(nl);
	}
	pthread_mutex_destroy(&e->lines_lock);
	free(e);
	return 0;
}

/* Has netback logged @what?  It latches a vif broken before it logs why,
 * so a test waits for the line (up to TMO_MS). */
static bool logged(struct env *e, const char *what)
{
	uint64_t t0 = ms_now();
	bool found;

	for (;;) {
		pthread_mutex_lock(&e->lines_lock);
		found = strstr(e->lines, what) != NULL;
		pthread_mutex_unlock(&e->lines_lock);
		if (found || ms_now() - t0 >= TMO_MS)
			return found;
		usleep(2000);
	}
}

static bool vif_broken(struct env *e, uint32_t devid)
{
	return t_nfe_be_broken(&e->fe[devid], e->nb);
}

/* After a fatal case: vif 0 latched, logged, no more responses; vif 1
 * still works. */
static void assert_fatal(struct env *e, const char *why)
{
	struct pvk_netif_tx_response r;
	uint64_t t0 = ms_now();

	while (!vif_broken(e, 0)) {
		assert_true(ms_now() - t0 < TMO_MS);
		usleep(2000);
	}
	assert_true(logged(e, why));
	assert_true(logged(e, "vif disabled"));
	usleep(20000);
	assert_int_equal(pvk_ring_get(&e->fe[0].tx, &r, sizeof(r)), 0);
	roundtrip(e, 1);
}

/* --- tests ---------------------------------------------------------------- */

static void test_roundtrip_both_vifs(void **state)
{
	struct env *e = *state;

	roundtrip(e, 0);
	roundtrip(e, 1);
	roundtrip(e, 0);
	assert_false(vif_broken(e, 0));
}

/* What vif-bridge would have done, and what libxl waits for. */
static void test_hotplug_and_features(void **state)
{
	struct env *e = *state;
	struct pvk_nl *nl;
	char p[128], *v;
	uint32_t mtu;

	snprintf(p, sizeof(p),
		 "/local/domain/0/backend/vif/%u/0/hotplug-status", e->domu);
	assert_int_equal(pvk_xs_read(e->tool, PVK_XS_NO_TXN, p, &v), 9);
	assert_string_equal(v, "connected");
	free(v);
	assert_int_equal(be_node(e, 0, "feature-rx-flip"), 0);
	assert_int_equal(be_node(e, 0, "feature-split-event-channels"), 1);
	assert_int_equal(be_node(e, 0, "multi-queue-max-queues"), 4);
	assert_int_equal(pvk_nl_open(&nl), 0);
	snprintf(p, sizeof(p), "pvkt%u.0", e->domu);
	assert_int_equal(pvk_nl_link_master(nl, p),
			 pvk_nl_link_index(nl, "pvkbr"));
	assert_int_equal(pvk_nl_link_mtu(nl, p, &mtu), 0);
	assert_int_equal(mtu, 1500);
	pvk_nl_close(nl);
}

/*
 * An IPv4/TCP packet of @len bytes over three slots, its headers split
 * across the first two (20 bytes in the first), checksum left blank, and
 * with @gso a GSO extra: the kernel gets one frame with the checksum
 * position (and the MSS).
 */
static void tx_split(struct env *e, size_t len, bool gso)
{
	struct t_nfe *fe = &e->fe[0];
	static const uint8_t hdr[54] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x16, 0x3e, 0,    0,
		1,    0x08, 0x00, 0x45, 0,    0,    0,	  0,	1,    0x40, 0,
		64,   6,    0,	  0,	10,   0,    0,	  1,	10,   0,    0,
		2,    0x30, 0x39, 0x00, 0x50, 0,    0,	  0,	1,    0,    0,
		0,    0,    0x50, 0x10, 0xff, 0xff, 0,	  0,	0,    0
	};
	uint8_t pkt[3000], got[4096];
	struct pvk_netif_tx_request r0, r1, r2;
	struct virtio_net_hdr vh;
	size_t i, mid = len - 20 - 300;

	memcpy(pkt, hdr, sizeof(hdr));
	pkt[16] = (uint8_t)((len - 14) >> 8);
	pkt[17] = (uint8_t)(len - 14);
	/* A valid IP header checksum: a bridge with br_netfilter drops
	 * frames without one. */
	i = (uint16_t)~pvk_net_csum_fold(pvk_net_csum_partial(pkt + 14, 20, 0));
	pkt[24] = (uint8_t)(i >> 8);
	pkt[25] = (uint8_t)i;
	for (i = sizeof(hdr); i < len; i++)
		pkt[i] = (uint8_t)i;
	memcpy(page(fe, 1), pkt, 20);
	memcpy(page(fe, 2) + 8, pkt + 20, mid);
	memcpy(page(fe, 3), pkt + 20 + mid, 300);
	r0 = txreq(fe, 1, 0, (uint16_t)len,
		   PVK_NETTXF_csum_blank | PVK_NETTXF_more_data |
			   (gso ? PVK_NETTXF_extra_info : 0));
	tx_put(fe, &r0);
	if (gso)
		tx_put_extra(fe, PVK_NETIF_EXTRA_TYPE_GSO, 1448,
			     PVK_NETIF_GSO_TYPE_TCPV4);
	r1 = txreq(fe, 2, 8, (uint16_t)mid, PVK_NETTXF_more_data);
	tx_put(fe, &r1);
	r2 = txreq(fe, 3, 0, 300, 0);
	tx_put(fe, &r2);
	kick(fe, &fe->tx);
	assert_int_equal(tx_status(fe), PVK_NETIF_RSP_OKAY);
	if (gso)
		assert_int_equal(tx_status(fe), PVK_NETIF_RSP_NULL);
	assert_int_equal(tx_status(fe), PVK_NETIF_RSP_OKAY);
	assert_int_equal(tx_status(fe), PVK_NETIF_RSP_OKAY);
	assert_int_equal(wire_read(e, &vh, got, sizeof(got), TMO_MS),
			 (ssize_t)len);
	if (gso) {
		assert_int_equal(vh.gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
		assert_int_equal(vh.gso_size, 1448);
	}
	assert_true(vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM);
	assert_int_equal(vh.csum_start, 34);
	assert_int_equal(vh.csum_offset, 16);
	/* All but the checksum field, which holds the pseudo-header sum. */
	assert_memory_equal(got, pkt, 50);
	assert_memory_equal(got + 52, pkt + 52, len - 52);
	assert_false(vif_broken(e, 0));
}

static void test_headers_split_across_slots(void **state)
{
	tx_split(*state, 1200, false);
}

/* Larger than the MTU: the kernel takes it as one TSO frame. */
static void test_tx_gso(void **state)
{
	tx_split(*state, 3000, true);
}

static void test_xsa_req_prod_overflow(void **state)
{
	struct env *e = *state;
	struct pvk_sring *s = e->fe[0].tx_sring;

	/* A producer index far beyond the ring (XSA-39-class overrun). */
	__atomic_store_n(&s->req_prod, s->req_prod + 100000u, __ATOMIC_RELEASE);
	pvk_evtchn_notify(e->fe[0].ev, e->fe[0].port);
	assert_fatal(e, "frontend producer index beyond the free ring slots");
}

static void test_slots_per_packet_fatal(void **state)
{
	struct env *e = *state;
	struct t_nfe *fe = &e->fe[0];
	struct pvk_netif_tx_request r;
	int i;

	/* 21 slots of 100 bytes: above fatal_skb_slots (20). */
	for (i = 0; i < 21; i++) {
		r = txreq(fe, (uint32_t)i, 0, i ? 100 : 2100,
			  i < 20 ? PVK_NETTXF_more_data : 0);
		tx_put(fe, &r);
	}
	kick(fe, &fe->tx);
	assert_fatal(e, "more than 20 slots in one packet");
}

static void test_slots_per_packet_drop(void **state)
{
	struct env *e = *state;
	struct t_nfe *fe = &e->fe[0];
	struct pvk_netif_tx_request r;
	int i;

	/* 19 slots: above the 18 Linux takes, below the fatal limit. */
	for (i = 0; i < 19; i++) {
		r = txreq(fe, (uint32_t)i, 0, i ? 100 : 1900,
			  i < 18 ? PVK_NETTXF_more_data : 0);
		tx_put(fe, &r);
	}
	kick(fe, &fe->tx);
	for (i = 0; i < 19; i++)
		assert_int_equal(tx_status(fe), PVK_NETIF_RSP_ERROR);
	assert_false(vif_broken(e, 0));
	roundtrip(e, 0);
	roundtrip(e, 1);
}

static void test_frag_larger_than_remaining(void **state)
{
	struct env *e = *state;
	struct t_nfe *fe = &e->fe[0];
	struct pvk_netif_tx_request r0 =
		txreq(fe, 0, 0, 200, PVK_NETTXF_more_data);
	struct pvk_netif_tx_request r1 = txreq(fe, 1, 0, 300, 0);

	tx_put(fe, &r0);
	tx_put(fe, &r1);
	kick(fe, &fe->tx);
	assert_fatal(e, "fragment larger than the rest of the packet");
}

static void test_offset_plus_size_beyond_page(void **state)
{
	struct env *e = *state;
	struct t_nfe *fe = &e->fe[0];
	struct pvk_netif_tx_request r = txreq(fe, 0, 4000, 200, 0);

	tx_put(fe, &r);
	kick(fe, &fe->tx);
	assert_fatal(e, "first slot crosses its page");
}

static void test_first_slot_shorter_than_eth_header(void **state)
{
	struct env *e = *state;
	struct t_nfe *fe = &e->fe[0];
	struct pvk_netif_tx_request r = txreq(fe, 0, 0, 13, 0);

	tx_put(fe, &r);
	kick(fe, &fe->tx);
	assert_int_equal(tx_status(fe), PVK_NETIF_RSP_ERROR);
	assert_false(vif_broken(e, 0));
	roundtrip(e, 0);
	roundtrip(e, 1);
}

static void test_zero_length_frag(void **state)
{
	struct env *e = *state;
	struct t_nfe *fe = &e->fe[0];
	struct pvk_netif_tx_request r0 =
		txreq(fe, 0, 0, 100, PVK_NETTXF_more_data);
	struct pvk_netif_tx_request r1 = txreq(fe, 1, 0, 0, 0);

	tx_put(fe, &r0);
	tx_put(fe, &r1);
	kick(fe, &fe->tx);
	assert_int_equal(tx_status(fe), PVK_NETIF_RSP_ERROR);
	assert_int_equal(tx_status(fe), PVK_NETIF_RSP_ERROR);
	assert_false(vif_broken(e, 0));
	roundtrip(e, 0);
	roundtrip(e, 1);
}

static void test_bad_extra_type(void **state)
{
	struct env *e = *state;
	struct t_nfe *fe = &e->fe[0];
	struct pvk_netif_tx_request r =
		txreq(fe, 0, 0, 100, PVK_NETTXF_extra_info);

	tx_put(fe, &r);
	tx_put_extra(fe, 9, 0, 0);
	kick(fe, &fe->tx);
	assert_fatal(e, "invalid extra-info type");
}

static void test_gso_size_zero(void **state)
{
	struct env *e = *state;
	struct t_nfe *fe = &e->fe[0];
	struct pvk_netif_tx_request r =
		txreq(fe, 0, 0, 100, PVK_NETTXF_extra_info);

	tx_put(fe, &r);
	tx_put_extra(fe, PVK_NETIF_EXTRA_TYPE_GSO, 0, PVK_NETIF_GSO_TYPE_TCPV4);
	kick(fe, &fe->tx);
	assert_fatal(e, "GSO size 0");
}

static void test_gso_unknown_type(void **state)
{
	struct env *e = *state;
	struct t_nfe *fe = &e->fe[0];
	struct pvk_netif_tx_request r =
		txreq(fe, 0, 0, 100, PVK_NETTXF_extra_info);

	tx_put(fe, &r);
	tx_put_extra(fe, PVK_NETIF_EXTRA_TYPE_GSO, 1448, 7);
	kick(fe, &fe->tx);
	assert_fatal(e, "unknown GSO type");
}

/* A packet whose more_data chain runs past what was published. */
static void test_packet_beyond_published(void **state)
{
	struct env *e = *state;
	struct t_nfe *fe = &e->fe[0];
	struct pvk_netif_tx_request r =
		txreq(fe, 0, 0, 300, PVK_NETTXF_more_data);

	tx_put(fe, &r);
	kick(fe, &fe->tx);
	assert_fatal(e, "packet runs beyond the published requests");
}

/* A grant the frontend never issued: that packet fails, the vif goes on. */
static void test_bad_grant(void **state)
{
	struct env *e = *state;
	struct t_nfe *fe = &e->fe[0];
	struct pvk_netif_tx_request r = txreq(fe, 0, 0, 100, 0);

	r.gref = 4000;
	tx_put(fe, &r);
	kick(fe, &fe->tx);
	assert_int_equal(tx_status(fe), PVK_NETIF_RSP_ERROR);
	assert_false(vif_broken(e, 0));
	roundtrip(e, 0);
}

/* No rx buffer posted: frames wait in the TAP's own bounded queue, one in
 * netback; none is lost until buffers come (well under the stall
 * timeout). */
static void test_rx_queue_bounded(void **state)
{
	struct env *e = *state;
	struct t_nfe *fe = &e->fe[0];
	struct pvk_netif_rx_request rq;
	struct pvk_netif_rx_response rr;
	uint8_t f[100];
	int i, seen;

	for (i = 0; i < 5; i++) {
		frame_fill(f, sizeof(f), (uint8_t)i);
		wire_write(e, f, sizeof(f));
	}
	usleep(100000);
	assert_int_equal(pvk_ring_get(&fe->rx, &rr, sizeof(rr)), 0);
	/* Ours, in order, among whatever the kernel floods here too. */
	for (i = 0; i < 10; i++) {
		rq = (struct pvk_netif_rx_request){ .id = (uint16_t)(10 + i),
						    .gref = fe->refs[30 + i] };
		assert_int_equal(pvk_netif_rx_put_request(&fe->rx, &rq), 0);
	}
	kick(fe, &fe->rx);
	for (i = 0, seen = 0; i < 10 && seen < 5; i++) {
		assert_int_equal(wait_rsp(fe, &fe->rx, &rr, sizeof(rr)), 1);
		assert_int_equal(rr.id, 10 + i);
		frame_fill(f, sizeof(f), (uint8_t)seen);
		if (rr.status == sizeof(f) &&
		    !memcmp(page(fe, 30 + (uint32_t)i), f, sizeof(f)))
			seen++;
	}
	assert_int_equal(seen, 5);
}

static void mcast_extra(struct t_nfe *fe, uint8_t type, const uint8_t *addr)
{
	struct pvk_netif_tx_request r =
		txreq(fe, 0, 0, 60, PVK_NETTXF_extra_info);
	struct pvk_netif_extra_info x = { .type = type };

	memcpy(x.u.mcast.addr, addr, 6);
	tx_put(fe, &r);
	assert_int_equal(pvk_netif_put_tx_extra(&fe->tx, &x), 0);
	kick(fe, &fe->tx);
	assert_int_equal(tx_status(fe), PVK_NETIF_RSP_OKAY);
	assert_int_equal(tx_status(fe), PVK_NETIF_RSP_NULL);
}

/* With request-multicast-control, a multicast frame reaches the guest only
 * for an address it added; broadcasts always. */
static void test_multicast_filter(void **state)
{
	static const uint8_t fb[6] = { 0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb };
	struct env *e = *state;
	struct t_nfe *fe = &e->fe[0];
	struct pvk_netif_rx_response rr;
	struct pvk_netif_rx_request rq;
	uint8_t f[120], g[120];
	int i;

	mcast_extra(fe, PVK_NETIF_EXTRA_TYPE_MCAST_ADD, fb);
	for (i = 0; i < 4; i++) {
		rq = (struct pvk_netif_rx_request){ .id = (uint16_t)i,
						    .gref = fe->refs[50 + i] };
		assert_int_equal(pvk_netif_rx_put_request(&fe->rx, &rq), 0);
	}
	kick(fe, &fe->rx);
	frame_fill(f, sizeof(f), 1);
	memcpy(f, fb, 6);
	frame_fill(g, sizeof(g), 2);
	memcpy(g, fb, 6);
	g[5] = 0xfc; /* not added */
	wire_write(e, g, sizeof(g));
	wire_write(e, f, sizeof(f));
	assert_int_equal(wait_rsp(fe, &fe->rx, &rr, sizeof(rr)), 1);
	assert_int_equal(rr.status, sizeof(f));
	assert_memory_equal(page(fe, 50 + rr.id), f, sizeof(f));

	/* Removed: it is dropped, a broadcast still passes. */
	mcast_extra(fe, PVK_NETIF_EXTRA_TYPE_MCAST_DEL, fb);
	wire_write(e, f, sizeof(f));
	frame_fill(g, sizeof(g), 3);
	wire_write(e, g, sizeof(g));
	assert_int_equal(wait_rsp(fe, &fe->rx, &rr, sizeof(rr)), 1);
	assert_int_equal(rr.status, sizeof(g));
	assert_memory_equal(page(fe, 50 + rr.id), g, sizeof(g));

	/* feature-dynamic-multicast-control: the frontend turns its filter
	 * off while connected; the dropped group now passes. */
	assert_int_equal(be_node(e, 0, "feature-dynamic-multicast-control"), 1);
	fe_write(fe, "request-multicast-control", 0);
	pump(e, 100);
	pump(e, 100);
	for (i = 4; i < 10; i++) {
		rq = (struct pvk_netif_rx_request){ .id = (uint16_t)i,
						    .gref = fe->refs[50 + i] };
		assert_int_equal(pvk_netif_rx_put_request(&fe->rx, &rq), 0);
	}
	kick(fe, &fe->rx);
	wire_write(e, f, sizeof(f));
	/* Among the kernel's own multicast (IGMP, now let through too). */
	for (i = 0; i < 8; i++) {
		assert_int_equal(wait_rsp(fe, &fe->rx, &rr, sizeof(rr)), 1);
		if (rr.status == sizeof(f) &&
		    !memcmp(page(fe, 50 + rr.id), f, sizeof(f)))
			break;
	}
	assert_true(i < 8);
	assert_true(logged(e, "multicast filter off"));
	assert_false(vif_broken(e, 0));
}

/* One control request; returns its status, *@data the answer. */
static uint32_t ctrl(struct t_nfe *fe, uint16_t type, uint32_t d0, uint32_t d1,
		     uint32_t d2, uint32_t *data)
{
	struct pvk_netif_ctrl_request rq = { .id = 5,
					     .type = type,
					     .data = { d0, d1, d2 } };
	struct pvk_netif_ctrl_response rs;

	assert_int_equal(pvk_netif_ctrl_put_request(&fe->ctrl, &rq), 0);
	if (pvk_ring_push(&fe->ctrl))
		assert_int_equal(pvk_evtchn_notify(fe->ev, fe->ctrl_port), 0);
	assert_int_equal(wait_rsp(fe, &fe->ctrl, &rs, sizeof(rs)), 1);
	assert_int_equal(rs.id, 5);
	assert_int_equal(rs.type, type);
	if (data)
		*data = rs.data;
	return rs.status;
}

#define INVAL PVK_NETIF_CTRL_STATUS_INVALID_PARAMETER
#define OK PVK_NETIF_CTRL_STATUS_SUCCESS

/* A mapping table written past its size, or naming a queue that does not
 * exist, is refused (the class of XSA-275's unchecked netback hash
 * mapping); so is every other out-of-range control request. */
static void test_hash_mapping_out_of_bounds(void **state)
{
	struct env *e = *state;
	struct t_nfe *fe = &e->fe[0];
	uint32_t *map = (uint32_t *)page(fe, 61), v;

	assert_int_equal(ctrl(fe, PVK_NETIF_CTRL_TYPE_GET_HASH_MAPPING_SIZE, 0,
			      0, 0, &v),
			 OK);
	assert_int_equal(v, 128);
	assert_int_equal(ctrl(fe, PVK_NETIF_CTRL_TYPE_SET_HASH_MAPPING_SIZE,
			      129, 0, 0, NULL),
			 INVAL);
	assert_int_equal(ctrl(fe, PVK_NETIF_CTRL_TYPE_SET_HASH_MAPPING_SIZE, 8,
			      0, 0, NULL),
			 OK);
	memset(map, 0, 4096);
	assert_int_equal(ctrl(fe, PVK_NETIF_CTRL_TYPE_SET_HASH_MAPPING,
			      fe->refs[61], 8, 0, NULL),
			 OK);
	/* Past the end: 4 entries at 6 of 8; a huge offset that wraps. */
	assert_int_equal(ctrl(fe, PVK_NETIF_CTRL_TYPE_SET_HASH_MAPPING,
			      fe->refs[61], 4, 6, NULL),
			 INVAL);
	assert_int_equal(ctrl(fe, PVK_NETIF_CTRL_TYPE_SET_HASH_MAPPING,
			      fe->refs[61], 2, 0xffffffffu, NULL),
			 INVAL);
	/* Queue 1 of a one-queue vif. */
	map[3] = 1;
	assert_int_equal(ctrl(fe, PVK_NETIF_CTRL_TYPE_SET_HASH_MAPPING,
			      fe->refs[61], 8, 0, NULL),
			 INVAL);
	/* A key longer than 40 bytes, a grant never issued. */
	assert_int_equal(ctrl(fe, PVK_NETIF_CTRL_TYPE_SET_HASH_KEY,
			      fe->refs[60], 41, 0, NULL),
			 INVAL);
	assert_int_equal(ctrl(fe, PVK_NETIF_CTRL_TYPE_SET_HASH_KEY, 4000, 40, 0,
			      NULL),
			 INVAL);
	assert_int_equal(ctrl(fe, PVK_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM, 7, 0,
			      0, NULL),
			 INVAL);
	assert_int_equal(ctrl(fe, 99, 0, 0, 0, NULL),
			 PVK_NETIF_CTRL_STATUS_NOT_SUPPORTED);
	assert_false(vif_broken(e, 0));
	roundtrip(e, 0);
	roundtrip(e, 1);
}

/* Toeplitz set up over the control ring: each frame to the guest carries
 * its hash, the one the RSS algorithm gives over its addresses and
 * ports. */
static void test_ctrl_ring_toeplitz(void **state)
{
	static const uint8_t key[40] = {
		0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67,
		0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb,
		0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30,
		0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa
	};
	struct env *e = *state;
	struct t_nfe *fe = &e->fe[0];
	union pvk_netif_rx_slot sl;
	struct pvk_netif_rx_request rq;
	uint8_t f[54] = { 0 };
	uint32_t v, want, got;
	int i, type;

	assert_int_equal(
		ctrl(fe, PVK_NETIF_CTRL_TYPE_GET_HASH_FLAGS, 0, 0, 0, &v), OK);
	assert_int_equal(v, 0xf);
	/* Flags before an algorithm: refused, as Linux's. */
	assert_int_equal(ctrl(fe, PVK_NETIF_CTRL_TYPE_SET_HASH_FLAGS, 3, 0, 0,
			      NULL),
			 INVAL);
	assert_int_equal(ctrl(fe, PVK_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM,
			      PVK_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ, 0, 0,
			      NULL),
			 OK);
	memcpy(page(fe, 60), key, sizeof(key));
	assert_int_equal(ctrl(fe, PVK_NETIF_CTRL_TYPE_SET_HASH_KEY,
			      fe->refs[60], 40, 0, NULL),
			 OK);
	assert_int_equal(ctrl(fe, PVK_NETIF_CTRL_TYPE_SET_HASH_FLAGS, 0x10, 0,
			      0, NULL),
			 INVAL);
	assert_int_equal(ctrl(fe, PVK_NETIF_CTRL_TYPE_SET_HASH_FLAGS,
			      (1u << PVK_NETIF_CTRL_HASH_TYPE_IPV4) |
				      (1u << PVK_NETIF_CTRL_HASH_TYPE_IPV4_TCP),
			      0, 0, NULL),
			 OK);

	/* A broadcast IPv4/TCP frame, valid IP header checksum. */
	memset(f, 0xff, 6);
	memcpy(f + 6, "\x00\x16\x3e\x00\x00\x09\x08\x00", 8);
	memcpy(f + 14, "\x45\x00\x00\x28\x00\x01\x40\x00\x40\x06", 10);
	memcpy(f + 26, "\x42\x09\x95\xbb\xa1\x8e\x64\x50", 8);
	memcpy(f + 34, "\x0a\xea\x06\xe6", 4);
	f[46] = 0x50;
	v = (uint16_t)~pvk_net_csum_fold(pvk_net_csum_partial(f + 14, 20, 0));
	f[24] = (uint8_t)(v >> 8);
	f[25] = (uint8_t)v;
	type = pvk_net_flow_hash(f, 54, 0x3, key, 40, &want);
	assert_int_equal(type, PVK_NETIF_CTRL_HASH_TYPE_IPV4_TCP);
	assert_int_equal(want, 0x51ccc178); /* the RSS table's */
	for (i = 0; i < 8; i++) {
		rq = (struct pvk_netif_rx_request){ .id = (uint16_t)i,
						    .gref = fe->refs[50 + i] };
		assert_int_equal(pvk_netif_rx_put_request(&fe->rx, &rq), 0);
	}
	kick(fe, &fe->rx);
	wire_write(e, f, sizeof(f));
	assert_int_equal(wait_rsp(fe, &fe->rx, &sl, sizeof(sl.rsp)), 1);
	assert_int_equal(sl.rsp.status, sizeof(f));
	assert_true(sl.rsp.flags & PVK_NETRXF_extra_info);
	assert_int_equal(wait_rsp(fe, &fe->rx, &sl, sizeof(sl.rsp)), 1);
	assert_int_equal(sl.extra.type, PVK_NETIF_EXTRA_TYPE_HASH);
	assert_int_equal(sl.extra.u.hash.type,
			 PVK_NETIF_CTRL_HASH_TYPE_IPV4_TCP);
	assert_int_equal(sl.extra.u.hash.algorithm,
			 PVK_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ);
	got = (uint32_t)sl.extra.u.hash.value[0] |
	      (uint32_t)sl.extra.u.hash.value[1] << 8 |
	      (uint32_t)sl.extra.u.hash.value[2] << 16 |
	      (uint32_t)sl.extra.u.hash.value[3] << 24;
	assert_int_equal(got, want);
	assert_int_equal(sl.extra.flags & PVK_NETIF_EXTRA_FLAG_MORE, 0);
}

static void test_rate_limit(void **state)
{
	struct env *e = *state;
	struct t_nfe *fe = &e->fe[0];
	struct pvk_netif_tx_request r;
	struct virtio_net_hdr vh;
	uint8_t f[1000], got[2048];
	char p[128];
	uint64_t t0, dt;
	int i;

	/* 200 KB per 100 ms: 128 KiB go at once, the rest waits for the
	 * next interval. */
	snprintf(p, sizeof(p), "/local/domain/0/backend/vif/%u/0/rate",
		 e->domu);
	assert_int_equal(
		pvk_xs_write(e->tool, PVK_XS_NO_TXN, p, "200000,100000"), 0);
	pump(e, 50);
	frame_fill(f, sizeof(f), 3);
	memcpy(page(fe, 0), f, sizeof(f));
	t0 = ms_now();
	for (i = 0; i < 230; i++) {
		r = txreq(fe, 0, 0, sizeof(f), 0);
		tx_put(fe, &r);
		kick(fe, &fe->tx);
		assert_int_equal(tx_status(fe), PVK_NETIF_RSP_OKAY);
		assert_int_equal(wire_read(e, &vh, got, sizeof(got), TMO_MS),
				 sizeof(f));
	}
	dt = ms_now() - t0;
	/* 230 KB: more than one interval's credit. */
	assert_true(dt >= 50);
	assert_true(dt < 2000);
	assert_int_equal(pvk_xs_write(e->tool, PVK_XS_NO_TXN, p, "0,0"), 0);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_roundtrip_both_vifs),
		T(test_hotplug_and_features),
		T(test_headers_split_across_slots),
		T(test_tx_gso),
		T(test_xsa_req_prod_overflow),
		T(test_slots_per_packet_fatal),
		T(test_slots_per_packet_drop),
		T(test_frag_larger_than_remaining),
		T(test_offset_plus_size_beyond_page),
		T(test_first_slot_shorter_than_eth_header),
		T(test_zero_length_frag),
		T(test_bad_extra_type),
		T(test_gso_size_zero),
		T(test_gso_unknown_type),
		T(test_packet_beyond_published),
		T(test_bad_grant),
		T(test_rx_queue_bounded),
		T(test_rate_limit),
		T(test_multicast_filter),
		T(test_hash_mapping_out_of_bounds),
		T(test_ctrl_ring_toeplitz),
	};
#undef T

	if (t_net_isolate() < 0)
		return 77;
	/* Hostile frontends here reconnect hundreds of times on purpose;
	 * the rate limit has its own test (test-xenbus-back). */
	setenv("PVKIT_RECONNECT_MS", "0", 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
