/* SPDX-License-Identifier: MIT */
/*
 * test-netfront: pvkit's netfront against pvkit's netback on the loop
 * hypervisor, with real TAP devices on a real bridge inside a network
 * namespace of the test's own.  Frames are seen and sent on a veth whose
 * peer is on the same bridge, through a packet socket with vnet headers,
 * so offloads are checked at the kernel's side of the wire.
 *
 * The backend's bus runs in a thread of its own (netfront's open blocks
 * until Connected, as a guest's would).
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
#include <pvkit/netfront.h>
#include <pvkit/netif.h>
#include <pvkit/xenbus.h>

#include "../common/t_toolstack.h"
#include "../common/t_wire.h"

#define TMO_MS 3000

struct env {
	struct pvk_loop *loop;
	struct pvk_hv *hv0, *tool, *hvu;
	uint32_t domu;
	struct pvk_xenbus_bus *bus;
	struct pvk_netback *nb;
	pthread_t pump;
	volatile int stop;
	struct pvk_netfront *nf;
	int ps; /* packet socket on the veth peer, with vnet headers */
	uint8_t buf[PVK_NETFRONT_MAX_RX_FRAME];
};

static uint64_t ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void *pump(void *arg)
{
	struct env *e = arg;
	struct pollfd p = { .fd = pvk_xenbus_bus_fd(e->bus), .events = POLLIN };

	while (!e->stop)
		if (poll(&p, 1, 20) > 0)
			pvk_xenbus_bus_handle_events(e->bus);
	return NULL;
}

static void backend_start(struct env *e, unsigned int max_queues)
{
	struct pvk_netback_config cfg = { .type = "vif",
					  .tap_fmt = "pvkt%u.%u",
					  .max_queues = max_queues };

	assert_int_equal(pvk_xenbus_bus_create(&e->bus, e->hv0, NULL, NULL), 0);
	assert_int_equal(pvk_netback_create_on(&e->nb, e->bus, &cfg), 0);
	e->stop = 0;
	assert_int_equal(pthread_create(&e->pump, NULL, pump, e), 0);
}

static void backend_stop(struct env *e)
{
	e->stop = 1;
	pthread_join(e->pump, NULL);
	pvk_netback_destroy(e->nb);
	pvk_xenbus_bus_destroy(e->bus);
}

static void attach(struct env *e, uint32_t devid, unsigned int mtu)
{
	char mac[32], handle[16], mtus[16];
	const char *const be[] = {
		mac,  handle, "script=vif-bridge", "bridge=pvkbr", "type=vif",
		mtus, NULL
	};
	const char *const fen[] = { handle, mac, mtus, NULL };
	struct t_dev d = { .type = "vif",
			   .fe_type = "vif",
			   .be = 0,
			   .fe = e->domu,
			   .devid = devid,
			   .be_nodes = be,
			   .fe_nodes = fen };

	snprintf(mac, sizeof(mac), "mac=00:16:3e:00:01:%02x", devid);
	snprintf(handle, sizeof(handle), "handle=%u", devid);
	snprintf(mtus, sizeof(mtus), "mtu=%u", mtu);
	assert_int_equal(t_dev_attach(e->tool, &d), 0);
}

static int setup_q(void **state, unsigned int queues, unsigned int mtu,
		   unsigned int flags)
{
	struct pvk_netfront_opts o = { .flags = flags, .max_queues = queues };
	struct env *e = calloc(1, sizeof(*e));

	assert_int_equal(pvk_loop_create(&e->loop), 0);
	assert_int_equal(pvk_hv_open_loop(&e->hv0, e->loop, 0), 0);
	assert_int_equal(pvk_hv_open_loop(&e->tool, e->loop, 0), 0);
	assert_int_equal(pvk_loop_domain_create(e->loop, "guest", &e->domu), 0);
	assert_int_equal(pvk_hv_open_loop(&e->hvu, e->loop, e->domu), 0);
	backend_start(e, 4);
	attach(e, 0, mtu);
	assert_int_equal(pvk_netfront_open(&e->nf, e->hvu, 0, &o), 0);
	/* The wire: a veth pair, one end on netback's bridge. */
	e->ps = t_wire_open("pvkbr", mtu);
	assert_true(e->ps >= 0);
	*state = e;
	return 0;
}

static int setup(void **state)
{
	return setup_q(state, 1, 1500, 0);
}

static int setup_mq(void **state)
{
	return setup_q(state, 4, 1500, 0);
}

static int setup_jumbo(void **state)
{
	return setup_q(state, 1, 9000, 0);
}

static int setup_nosplit(void **state)
{
	return setup_q(state, 2, 1500,
		       PVK_NETFRONT_NO_SPLIT_EVTCHN | PVK_NETFRONT_NO_GSO);
}

static int teardown(void **state)
{
	struct env *e = *state;
	struct pvk_netfront_stats st;
	struct pvk_nl *nl;

	pvk_netfront_stats(e->nf, &st);
	assert_int_equal(st.rx_errors, 0);
	assert_null(pvk_netfront_broken_reason(e->nf));
	pvk_netfront_close(e->nf);
	backend_stop(e);
	pvk_hv_close(e->hvu);
	pvk_hv_close(e->tool);
	pvk_hv_close(e->hv0);
	pvk_loop_destroy(e->loop);
	t_wire_close(e->ps, "pvkbr");
	if (pvk_nl_open(&nl) == 0) {
		assert_int_equal(pvk_nl_link_index(nl, "pvkt1.0"), -ENODEV);
		pvk_nl_close(nl);
	}
	free(e);
	return 0;
}

static void frame_fill(uint8_t *f, size_t len, uint8_t seed)
{
	t_frame_fill(f, len, (const uint8_t *)"\x00\x16\x3e\x00\x01\x00", seed);
}

static ssize_t wire_read(struct env *e, struct virtio_net_hdr *vh, void *buf,
			 size_t len)
{
	return t_wire_read(e->ps, vh, buf, len, TMO_MS);
}

static void wire_write(struct env *e, const struct virtio_net_hdr *vh,
		       const void *f, size_t len)
{
	assert_int_equal(t_wire_write(e->ps, vh, f, len), (ssize_t)len);
}

/* Receive one of our frames on any queue within the timeout; its queue
 * or -1. */
static int fe_recv(struct env *e, struct pvk_netfront_pkt *p)
{
	struct pvk_netfront_info ni;
	uint64_t t0 = ms_now();
	unsigned int q;
	int n;

	pvk_netfront_info(e->nf, &ni);
	while (ms_now() - t0 < TMO_MS) {
		for (q = 0; q < ni.nr_queues; q++) {
			p->data = e->buf;
			p->len = sizeof(e->buf);
			n = pvk_netfront_recv(e->nf, q, p, 1);
			assert_true(n >= 0);
			/* Only ours: the kernel talks on a fresh bridge too. */
			if (n == 1 && p->len >= 14 &&
			    !memcmp(e->buf + 6, "\x00\x16\x3e\x00\x01\x00", 6))
				return (int)q;
		}
		assert_true(pvk_netfront_wait(e->nf, 50) >= 0);
	}
	return -1;
}

static void send_one(struct env *e, unsigned int q, const void *f, size_t len,
		     const struct pvk_net_meta *m)
{
	struct pvk_netfront_pkt p = { .data = (void *)f, .len = (uint32_t)len };
	uint64_t t0 = ms_now();
	int rc;

	if (m)
		p.meta = *m;
	while ((rc = pvk_netfront_send(e->nf, q, &p, 1)) == -EAGAIN) {
		assert_true(ms_now() - t0 < TMO_MS);
		assert_true(pvk_netfront_wait(e->nf, 50) >= 0);
	}
	assert_int_equal(rc, 1);
}

static void test_negotiated(void **state)
{
	struct env *e = *state;
	struct pvk_netfront_info ni;

	pvk_netfront_info(e->nf, &ni);
	assert_memory_equal(ni.mac, "\x00\x16\x3e\x00\x01\x00", 6);
	assert_int_equal(ni.mtu, 1500);
	assert_int_equal(ni.nr_queues, 1);
	assert_true(ni.sg && ni.gso_tcpv4 && ni.gso_tcpv6 && ni.csum);
	assert_true(ni.split_evtchn);
	assert_int_equal(ni.connects, 1);
	assert_int_equal(ni.tx_ring_entries, 256);
}

/* Frames of every slot count both ways, bytes unchanged. */
static void test_tx_rx_sizes(void **state)
{
	static const size_t sizes[] = { 60, 1514, 4096, 4097 };
	struct env *e = *state;
	struct pvk_netfront_pkt p;
	struct virtio_net_hdr vh;
	uint8_t f[8192], w[8192];
	size_t i;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		frame_fill(f, sizes[i], (uint8_t)i);
		send_one(e, 0, f, sizes[i], NULL);
		/* Above the MTU the bridge drops it: only check those that
		 * fit. */
		if (sizes[i] <= 1514) {
			assert_int_equal(wire_read(e, &vh, w, sizeof(w)),
					 (ssize_t)sizes[i]);
			assert_memory_equal(w, f, sizes[i]);
		}
		frame_fill(f, sizes[i] < 1514 ? sizes[i] : 1514,
			   (uint8_t)(i + 100));
		wire_write(e, NULL, f, sizes[i] < 1514 ? sizes[i] : 1514);
		assert_true(fe_recv(e, &p) >= 0);
		assert_int_equal(p.len, sizes[i] < 1514 ? sizes[i] : 1514);
		assert_memory_equal(e->buf, f, p.len);
	}
}

/* Many frames in one batch: the ring fills, send takes what fits, the
 * rest goes after completions. */
static void test_tx_batch_ring_full(void **state)
{
	struct env *e = *state;
	struct pvk_netfront_pkt p[64];
	struct pvk_netfront_stats st;
	struct virtio_net_hdr vh;
	uint8_t f[64][128], w[256];
	unsigned int i, sent = 0, seen = 0;
	uint64_t t0 = ms_now();
	int rc;

	for (i = 0; i < 64; i++) {
		frame_fill(f[i], 128, (uint8_t)i);
		p[i] = (struct pvk_netfront_pkt){ .data = f[i], .len = 128 };
	}
	while (sent < 64) {
		rc = pvk_netfront_send(e->nf, 0, p + sent, 64 - sent);
		if (rc == -EAGAIN) {
			assert_true(pvk_netfront_wait(e->nf, 50) >= 0);
			continue;
		}
		assert_true(rc > 0);
		sent += (unsigned int)rc;
		assert_true(ms_now() - t0 < TMO_MS);
	}
	while (seen < 64 && wire_read(e, &vh, w, sizeof(w)) == 128) {
		assert_memory_equal(w, f[seen], 128);
		seen++;
	}
	assert_int_equal(seen, 64);
	pvk_netfront_stats(e->nf, &st);
	assert_true(st.tx_packets >= 64);
	assert_int_equal(st.tx_errors, 0);
}

/* A UDP/IPv4 frame to the broadcast MAC, checksum left partial (the
 * pseudo-header sum in the field), @len bytes. */
static size_t udp_frame(uint8_t *f, size_t len)
{
	size_t ip = 14, l4 = 34, i;
	uint32_t sum;

	memset(f, 0, len);
	memset(f, 0xff, 6);
	memcpy(f + 6, "\x00\x16\x3e\x00\x01\x00", 6);
	f[12] = 0x08;
	f[14] = 0x45;
	f[ip + 2] = (uint8_t)((len - ip) >> 8);
	f[ip + 3] = (uint8_t)(len - ip);
	f[ip + 8] = 64;
	f[ip + 9] = 17;
	memcpy(f + ip + 12, "\x0a\x00\x00\x01\x0a\x00\x00\xff", 8);
	sum = pvk_net_csum_partial(f + ip, 20, 0);
	f[ip + 10] = (uint8_t)(~pvk_net_csum_fold(sum) >> 8);
	f[ip + 11] = (uint8_t)~pvk_net_csum_fold(sum);
	f[l4 + 0] = 0x30;
	f[l4 + 2] = 0x30;
	f[l4 + 4] = (uint8_t)((len - l4) >> 8);
	f[l4 + 5] = (uint8_t)(len - l4);
	for (i = l4 + 8; i < len; i++)
		f[i] = (uint8_t)(i * 3);
	/* pseudo header: addresses, protocol, UDP length */
	sum = pvk_net_csum_partial(f + ip + 12, 8, 0) + 17 +
	      (uint32_t)(len - l4);
	sum = pvk_net_csum_fold(sum);
	f[l4 + 6] = (uint8_t)(sum >> 8);
	f[l4 + 7] = (uint8_t)sum;
	return len;
}

/* A partial checksum goes out as csum_blank and reaches the wire with
 * the kernel's NEEDS_CSUM at the offsets skb_checksum_setup finds; one
 * coming in arrives with CSUM_PARTIAL and the same offsets. */
static void test_csum_offload_both_ways(void **state)
{
	struct env *e = *state;
	struct pvk_net_meta m = { .flags = PVK_NET_META_CSUM_PARTIAL };
	struct virtio_net_hdr vh, in = { 0 };
	struct pvk_netfront_pkt p;
	uint8_t f[600], w[2048];

	udp_frame(f, sizeof(f));
	send_one(e, 0, f, sizeof(f), &m);
	assert_int_equal(wire_read(e, &vh, w, sizeof(w)), (ssize_t)sizeof(f));
	assert_true(vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM);
	assert_int_equal(vh.csum_start, 34);
	assert_int_equal(vh.csum_offset, 6);
	assert_memory_equal(w, f, sizeof(f));

	in.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	in.csum_start = 34;
	in.csum_offset = 6;
	wire_write(e, &in, f, sizeof(f));
	assert_true(fe_recv(e, &p) >= 0);
	assert_int_equal(p.len, sizeof(f));
	assert_memory_equal(e->buf, f, sizeof(f));
	assert_true(p.meta.flags & PVK_NET_META_CSUM_PARTIAL);
	assert_int_equal(p.meta.csum_start, 34);
	assert_int_equal(p.meta.csum_offset, 6);
	/* Completing it gives a checksum the receiver accepts. */
	assert_int_equal(pvk_net_csum_complete(e->buf, p.len, &p.meta), 0);
	assert_int_equal(pvk_net_csum_fold(pvk_net_csum_partial(
				 e->buf + 34, p.len - 34,
				 pvk_net_csum_partial(e->buf + 26, 8, 0) + 17 +
					 (uint32_t)(p.len - 34))),
			 0xffff);
}

/* A TCP frame of 20000 bytes with TSO */
static size_t tcp_frame(uint8_t *f, size_t len)
{
	size_t ip = 14, l4 = 34, i;
	uint32_t sum;

	memset(f, 0, len);
	memset(f, 0xff, 6);
	memcpy(f + 6, "\x00\x16\x3e\x00\x01\x00", 6);
	f[12] = 0x08;
	f[14] = 0x45;
	f[ip + 2] = (uint8_t)((len - ip) >> 8);
	f[ip + 3] = (uint8_t)(len - ip);
	f[ip + 6] = 0x40; /* DF */
	f[ip + 8] = 64;
	f[ip + 9] = 6;
	memcpy(f + ip + 12, "\x0a\x00\x00\x01\x0a\x00\x00\xff", 8);
	sum = pvk_net_csum_partial(f + ip, 20, 0);
	f[ip + 10] = (uint8_t)(~pvk_net_csum_fold(sum) >> 8);
	f[ip + 11] = (uint8_t)~pvk_net_csum_fold(sum);
	f[l4 + 1] = 80;
	f[l4 + 3] = 81;
	f[l4 + 12] = 0x50; /* 20-byte header */
	f[l4 + 13] = 0x18; /* PSH ACK */
	f[l4 + 15] = 0xff;
	for (i = l4 + 20; i < len; i++)
		f[i] = (uint8_t)(i * 5);
	sum = pvk_net_csum_partial(f + ip + 12, 8, 0) + 6 +
	      (uint32_t)(len - l4);
	sum = pvk_net_csum_fold(sum);
	f[l4 + 16] = (uint8_t)(sum >> 8);
	f[l4 + 17] = (uint8_t)sum;
	return len;
}

/* A 20000-byte TCP frame with TSO leaves as one GSO frame (the packet
 * socket sees the kernel's gso fields) and one comes in as one, with a
 * GSO extra. */
static void test_gso_both_ways(void **state)
{
	struct env *e = *state;
	struct pvk_net_meta m = { .flags = PVK_NET_META_CSUM_PARTIAL,
				  .gso_type = PVK_NET_GSO_TCPV4,
				  .gso_size = 1448 };
	static uint8_t f[20000], w[70000];
	struct virtio_net_hdr vh, in = { 0 };
	struct pvk_netfront_pkt p;
	struct pvk_netfront_stats st;

	tcp_frame(f, sizeof(f));
	send_one(e, 0, f, sizeof(f), &m);
	assert_int_equal(wire_read(e, &vh, w, sizeof(w)), (ssize_t)sizeof(f));
	assert_int_equal(vh.gso_type & 0x7f, VIRTIO_NET_HDR_GSO_TCPV4);
	assert_int_equal(vh.gso_size, 1448);
	assert_memory_equal(w, f, sizeof(f));

	in.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	in.csum_start = 34;
	in.csum_offset = 16;
	in.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	in.gso_size = 1448;
	in.hdr_len = 54;
	wire_write(e, &in, f, sizeof(f));
	assert_true(fe_recv(e, &p) >= 0);
	assert_int_equal(p.len, sizeof(f));
	assert_memory_equal(e->buf, f, sizeof(f));
	assert_int_equal(p.meta.gso_type, PVK_NET_GSO_TCPV4);
	assert_int_equal(p.meta.gso_size, 1448);
	assert_int_equal(p.meta.hdr_len, 54);
	pvk_netfront_stats(e->nf, &st);
	assert_int_equal(st.tx_gso, 1);
	assert_int_equal(st.rx_gso, 1);
}

/* A frame longer than the caller's buffer is dropped and counted; the
 * next one arrives. */
static void test_rx_buffer_too_small(void **state)
{
	struct env *e = *state;
	struct pvk_netfront_pkt p = { .data = e->buf, .len = 100 };
	struct pvk_netfront_stats st;
	uint8_t f[1000];
	uint64_t t0 = ms_now();
	int n = 0;

	frame_fill(f, sizeof(f), 9);
	wire_write(e, NULL, f, sizeof(f));
	while (ms_now() - t0 < TMO_MS) {
		pvk_netfront_stats(e->nf, &st);
		if (st.rx_dropped)
			break;
		p.len = 100;
		n = pvk_netfront_recv(e->nf, 0, &p, 1);
		assert_true(n >= 0); /* the kernel's own small frames */
		assert_true(pvk_netfront_wait(e->nf, 50) >= 0);
	}
	assert_int_equal(st.rx_dropped, 1);
	wire_write(e, NULL, f, 80);
	assert_true(fe_recv(e, &p) >= 0);
	assert_int_equal(p.len, 80);
}

/* Jumbo frames: 9014 bytes in three slots each way. */
static void test_mtu_9000(void **state)
{
	struct env *e = *state;
	struct pvk_netfront_info ni;
	struct pvk_netfront_pkt p;
	struct virtio_net_hdr vh;
	static uint8_t f[9014], w[16384];

	pvk_netfront_info(e->nf, &ni);
	assert_int_equal(ni.mtu, 9000);
	frame_fill(f, sizeof(f), 3);
	send_one(e, 0, f, sizeof(f), NULL);
	assert_int_equal(wire_read(e, &vh, w, sizeof(w)), (ssize_t)sizeof(f));
	assert_memory_equal(w, f, sizeof(f));
	frame_fill(f, sizeof(f), 4);
	wire_write(e, NULL, f, sizeof(f));
	assert_true(fe_recv(e, &p) >= 0);
	assert_int_equal(p.len, sizeof(f));
	assert_memory_equal(e->buf, f, sizeof(f));
}

/* Four queues: each one carries frames out, and frames come in. */
static void test_multi_queue(void **state)
{
	struct env *e = *state;
	struct pvk_netfront_info ni;
	struct pvk_netfront_pkt p;
	struct virtio_net_hdr vh;
	uint8_t f[200], w[512];
	unsigned int q;

	pvk_netfront_info(e->nf, &ni);
	assert_int_equal(ni.nr_queues, 4);
	for (q = 0; q < 4; q++) {
		frame_fill(f, sizeof(f), (uint8_t)(40 + q));
		send_one(e, q, f, sizeof(f), NULL);
		assert_int_equal(wire_read(e, &vh, w, sizeof(w)),
				 (ssize_t)sizeof(f));
		assert_memory_equal(w, f, sizeof(f));
	}
	assert_int_equal(pvk_netfront_send(e->nf, 4,
					   &(struct pvk_netfront_pkt){
						   .data = f, .len = 60 },
					   1),
			 -EINVAL);
	frame_fill(f, sizeof(f), 77);
	wire_write(e, NULL, f, sizeof(f));
	assert_true(fe_recv(e, &p) >= 0);
	assert_memory_equal(e->buf, f, sizeof(f));
}

/* Without split event channels or GSO: one port per queue, and a GSO
 * frame is refused up front. */
static void test_no_split_no_gso(void **state)
{
	struct env *e = *state;
	struct pvk_net_meta m = { .flags = PVK_NET_META_CSUM_PARTIAL,
				  .gso_type = PVK_NET_GSO_TCPV4,
				  .gso_size = 1448 };
	struct pvk_netfront_pkt p = { .len = 2000, .meta = m };
	struct pvk_netfront_info ni;
	static uint8_t f[2000];

	pvk_netfront_info(e->nf, &ni);
	assert_false(ni.split_evtchn);
	assert_false(ni.gso_tcpv4);
	assert_int_equal(ni.nr_queues, 2);
	tcp_frame(f, sizeof(f));
	p.data = f;
	assert_int_equal(pvk_netfront_send(e->nf, 0, &p, 1), -EOPNOTSUPP);
	p.meta.gso_type = PVK_NET_GSO_NONE;
	p.meta.gso_size = 0;
	send_one(e, 1, f, sizeof(f), &p.meta);
}

/* Bad frames from the caller are refused with the reason. */
static void test_bad_send_args(void **state)
{
	struct env *e = *state;
	static uint8_t f[70000];
	struct pvk_netfront_pkt p = { .data = f, .len = 10 };

	assert_int_equal(pvk_netfront_send(e->nf, 0, &p, 1), -EINVAL);
	p.len = 65536;
	assert_int_equal(pvk_netfront_send(e->nf, 0, &p, 1), -EMSGSIZE);
	p.len = 100;
	p.meta.gso_type = PVK_NET_GSO_TCPV4; /* no size, no partial csum */
	assert_int_equal(pvk_netfront_send(e->nf, 0, &p, 1), -EINVAL);
}

/* The backend goes away and comes back (pvkit-backd restarted): the
 * frontend reconnects by itself and frames flow again. */
static void test_backend_restart(void **state)
{
	struct env *e = *state;
	struct pvk_netfront_info ni;
	struct pvk_netfront_pkt p;
	struct virtio_net_hdr vh;
	uint8_t f[300], w[512];
	uint64_t t0;
	struct pvk_nl *nl;

	backend_stop(e);
	backend_start(e, 4);
	for (t0 = ms_now();; assert_true(ms_now() - t0 < 2 * TMO_MS)) {
		assert_true(pvk_netfront_wait(e->nf, 50) >= 0);
		pvk_netfront_info(e->nf, &ni);
		if (ni.connects == 2 && pvk_netfront_connected(e->nf))
			break;
	}
	/* The new TAP is on the bridge again; give it a moment to
	 * forward. */
	assert_int_equal(pvk_nl_open(&nl), 0);
	for (t0 = ms_now(); pvk_nl_link_master(nl, "pvkt1.0") <= 0;
	     usleep(10000))
		assert_true(ms_now() - t0 < TMO_MS);
	pvk_nl_close(nl);
	frame_fill(f, sizeof(f), 55);
	send_one(e, 0, f, sizeof(f), NULL);
	assert_int_equal(wire_read(e, &vh, w, sizeof(w)), (ssize_t)sizeof(f));
	assert_memory_equal(w, f, sizeof(f));
	wire_write(e, NULL, f, sizeof(f));
	assert_true(fe_recv(e, &p) >= 0);
	assert_memory_equal(e->buf, f, sizeof(f));
}

int main(void)
{
#define T(f, s) cmocka_unit_test_setup_teardown(f, s, teardown)
	const struct CMUnitTest tests[] = {
		T(test_negotiated, setup),
		T(test_tx_rx_sizes, setup),
		T(test_tx_batch_ring_full, setup),
		T(test_csum_offload_both_ways, setup),
		T(test_gso_both_ways, setup),
		T(test_rx_buffer_too_small, setup),
		T(test_bad_send_args, setup),
		T(test_mtu_9000, setup_jumbo),
		T(test_multi_queue, setup_mq),
		T(test_no_split_no_gso, setup_nosplit),
		T(test_backend_restart, setup),
	};
#undef T

	if (t_net_isolate() < 0)
		return 77;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
