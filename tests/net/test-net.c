/* SPDX-License-Identifier: MIT */
/*
 * test-net: libpvkit-net.  The frame functions against hand-built frames,
 * every truncation of them and random corruption (run under ASan: no read
 * outside the frame), checksums against a plain reference, Toeplitz
 * against Microsoft's RSS verification vectors; TAP and rtnetlink for real
 * inside a network namespace of the test's own.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>

#include <cmocka.h>

#include <pvkit/net.h>
#include <pvkit/netif.h>

/* --- frame builders ------------------------------------------------------ */

struct frame {
	uint8_t b[2048];
	size_t len;
};

static void put(struct frame *f, const void *p, size_t n)
{
	memcpy(f->b + f->len, p, n);
	f->len += n;
}

static void put16(struct frame *f, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	put(f, b, 2);
}

static void eth(struct frame *f, int vlans, uint16_t type)
{
	static const uint8_t macs[12] = { 0x00, 0x16, 0x3e, 1, 2, 3,
					  0x00, 0x16, 0x3e, 4, 5, 6 };
	int i;

	f->len = 0;
	put(f, macs, 12);
	for (i = 0; i < vlans; i++) {
		put16(f, 0x8100);
		put16(f, (uint16_t)(100 + i));
	}
	put16(f, type);
}

static void ipv4(struct frame *f, uint8_t proto, size_t l4len, uint16_t frag)
{
	uint8_t h[20] = { 0x45, 0, 0,	0,   0x12, 0x34, 0,  0, 64, proto,
			  0,	0, 192, 168, 1,	   10,	 10, 0, 0,  1 };
	uint16_t tot = (uint16_t)(20 + l4len);

	h[2] = (uint8_t)(tot >> 8);
	h[3] = (uint8_t)tot;
	h[6] = (uint8_t)(frag >> 8);
	h[7] = (uint8_t)frag;
	put(f, h, sizeof(h));
}

static void ipv6(struct frame *f, uint8_t nh, size_t paylen)
{
	uint8_t h[40] = { 0x60, 0, 0, 0, 0, 0, nh, 64 };

	h[4] = (uint8_t)(paylen >> 8);
	h[5] = (uint8_t)paylen;
	h[8] = 0x20; /* 2001:db8::1 -> 2001:db8::2 */
	h[9] = 0x01;
	h[10] = 0x0d;
	h[11] = 0xb8;
	memcpy(h + 24, h + 8, 16);
	h[23] = 1;
	h[39] = 2;
	put(f, h, sizeof(h));
}

static void tcp(struct frame *f, size_t payload)
{
	uint8_t h[20] = { 0x30, 0x39, 0x00, 0x50, 0,	0,    0,    1,	  0, 0,
			  0,	0,    0x50, 0x18, 0xff, 0xff, 0xde, 0xad, 0, 0 };
	size_t i;

	put(f, h, sizeof(h));
	for (i = 0; i < payload; i++)
		f->b[f->len++] = (uint8_t)(i * 7 + 3);
}

static void udp(struct frame *f, size_t payload)
{
	uint16_t l = (uint16_t)(8 + payload);
	size_t i;

	put16(f, 5353);
	put16(f, 53);
	put16(f, l);
	put16(f, 0xbeef);
	for (i = 0; i < payload; i++)
		f->b[f->len++] = (uint8_t)(i ^ 0x5a);
}

static void tcp4(struct frame *f, int vlans, size_t payload)
{
	eth(f, vlans, 0x0800);
	ipv4(f, 6, 20 + payload, 0x4000 /* DF */);
	tcp(f, payload);
}

static void udp4(struct frame *f, size_t payload)
{
	eth(f, 0, 0x0800);
	ipv4(f, 17, 8 + payload, 0);
	udp(f, payload);
}

/* IPv6, hop-by-hop and destination options, then TCP. */
static void tcp6(struct frame *f, size_t payload)
{
	uint8_t hbh[8] = { 60, 0, 1, 4, 0, 0, 0, 0 };
	uint8_t dst[16] = { 6, 1, 1, 12 };

	eth(f, 0, 0x86dd);
	ipv6(f, 0, sizeof(hbh) + sizeof(dst) + 20 + payload);
	put(f, hbh, sizeof(hbh));
	put(f, dst, sizeof(dst));
	tcp(f, payload);
}

/* --- a reference checksum: RFC 1071, spelled out --------------------------- */

static uint16_t ref_l4_csum(const struct frame *f, size_t l3, size_t l4,
			    bool v6, uint8_t proto)
{
	uint32_t sum = 0;
	size_t i, n = f->len - l4, alen = v6 ? 16 : 4;
	size_t src = l3 + (v6 ? 8 : 12);

	for (i = 0; i < 2 * alen; i += 2)
		sum += (uint32_t)(f->b[src + i] << 8 | f->b[src + i + 1]);
	sum += proto;
	sum += (uint32_t)n;
	for (i = 0; i < n; i += 2) {
		uint32_t w = (uint32_t)f->b[l4 + i] << 8;

		if (i + 1 < n)
			w |= f->b[l4 + i + 1];
		sum += w;
	}
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* --- parse ---------------------------------------------------------------- */

static void test_parse_ipv4_tcp_vlan(void **state)
{
	struct pvk_net_hdrs h;
	struct frame f;

	(void)state;
	tcp4(&f, 2, 100);
	assert_int_equal(pvk_net_parse(f.b, f.len, &h), 0);
	assert_int_equal(h.l3_proto, 0x0800);
	assert_int_equal(h.l3_off, 22);
	assert_int_equal(h.l4_off, 42);
	assert_int_equal(h.l4_proto, 6);
	assert_int_equal(h.l4_len, 20);
	assert_int_equal(h.l4_total, 120);
	assert_false(h.fragment);
	/* A third tag is more than any sender uses. */
	tcp4(&f, 3, 10);
	assert_int_equal(pvk_net_parse(f.b, f.len, &h), -EPROTO);
}

static void test_parse_ipv6_ext_headers(void **state)
{
	uint8_t hop[8] = { 0, 0 }; /* next: hop-by-hop again */
	struct pvk_net_hdrs h;
	struct frame f;
	int i;

	(void)state;
	tcp6(&f, 33);
	assert_int_equal(pvk_net_parse(f.b, f.len, &h), 0);
	assert_int_equal(h.l3_proto, 0x86dd);
	assert_int_equal(h.l4_off, 14 + 40 + 8 + 16);
	assert_int_equal(h.l4_proto, 6);
	assert_int_equal(h.l4_total, 20 + 33);

	/* A chain of 9 extension headers is refused, bounded. */
	eth(&f, 0, 0x86dd);
	ipv6(&f, 0, 9 * 8 + 8);
	for (i = 0; i < 9; i++)
		put(&f, hop, sizeof(hop));
	udp(&f, 0);
	assert_int_equal(pvk_net_parse(f.b, f.len, &h), -EPROTO);

	/* An extension header claiming more than the payload. */
	tcp6(&f, 0);
	f.b[14 + 40 + 8 + 1] = 200;
	assert_int_equal(pvk_net_parse(f.b, f.len, &h), -EPROTO);
}

static void test_parse_fragments_and_others(void **state)
{
	uint8_t fragh[8] = { 17, 0, 0x00, 0x08 }; /* offset 1 */
	struct pvk_net_hdrs h;
	struct pvk_net_meta m = { 0 };
	struct frame f;

	(void)state;
	eth(&f, 0, 0x0800);
	ipv4(&f, 17, 20, 0x2000); /* more fragments */
	udp(&f, 12);
	assert_int_equal(pvk_net_parse(f.b, f.len, &h), 0);
	assert_true(h.fragment);
	assert_int_equal(pvk_net_csum_setup(f.b, f.len, true, &m), -EPROTO);

	eth(&f, 0, 0x86dd);
	ipv6(&f, 44, 8 + 8);
	put(&f, fragh, sizeof(fragh));
	udp(&f, 0);
	assert_int_equal(pvk_net_parse(f.b, f.len, &h), 0);
	assert_true(h.fragment);

	eth(&f, 0, 0x0806); /* ARP */
	put(&f, fragh, 8);
	assert_int_equal(pvk_net_parse(f.b, f.len, &h), -EPFNOSUPPORT);
	assert_int_equal(h.l3_proto, 0x0806);

	eth(&f, 0, 0x0800); /* ICMP */
	ipv4(&f, 1, 8, 0);
	put(&f, fragh, 8);
	assert_int_equal(pvk_net_csum_setup(f.b, f.len, true, &m),
			 -EPROTONOSUPPORT);

	/* ihl 4, total length beyond the frame, a TCP data offset of 4. */
	tcp4(&f, 0, 0);
	f.b[14] = 0x44;
	assert_int_equal(pvk_net_parse(f.b, f.len, &h), -EPROTO);
	tcp4(&f, 0, 0);
	f.b[17] += 1;
	assert_int_equal(pvk_net_parse(f.b, f.len, &h), -EPROTO);
	tcp4(&f, 0, 0);
	f.b[14 + 20 + 12] = 0x40;
	assert_int_equal(pvk_net_parse(f.b, f.len, &h), -EPROTO);
	/* Ethernet padding after the IP packet is allowed, not summed. */
	udp4(&f, 4);
	memset(f.b + f.len, 0xee, 20);
	f.len += 20;
	assert_int_equal(pvk_net_parse(f.b, f.len, &h), 0);
	assert_int_equal(h.l4_total, 12);
}

/* Every prefix of an IP frame is malformed; each is parsed from a buffer
 * of exactly its length, so that ASan sees any read beyond it. */
static void sweep(const struct frame *f)
{
	static const uint8_t key[40] = { 1, 2, 3 };
	struct pvk_net_meta m;
	struct pvk_net_hdrs h;
	uint32_t hash;
	size_t n;

	for (n = 0; n < f->len; n++) {
		uint8_t *b = malloc(n ? n : 1);

		memcpy(b, f->b, n);
		memset(&m, 0, sizeof(m));
		assert_int_equal(pvk_net_parse(b, n, &h), -EPROTO);
		assert_int_equal(pvk_net_csum_setup(b, n, true, &m), -EPROTO);
		assert_int_equal(pvk_net_flow_hash(b, n, 0xf, key, 40, &hash),
				 -ENOENT);
		free(b);
	}
}

static void test_parse_truncated_everywhere(void **state)
{
	struct frame f;

	(void)state;
	tcp4(&f, 1, 3);
	sweep(&f);
	tcp6(&f, 5);
	sweep(&f);
	udp4(&f, 0);
	sweep(&f);
}

static void test_parse_random_corruption(void **state)
{
	static const uint8_t key[40] = { 9 };
	struct pvk_net_meta m;
	struct pvk_net_hdrs h;
	struct frame f, g;
	uint32_t hash;
	int i, j, r;

	(void)state;
	srand(1);
	for (i = 0; i < 30000; i++) {
		if (i % 3 == 0)
			tcp4(&f, i % 2, (size_t)(i % 50));
		else if (i % 3 == 1)
			tcp6(&f, (size_t)(i % 40));
		else
			udp4(&f, (size_t)(i % 30));
		g = f;
		for (j = 0; j < 1 + i % 4; j++)
			g.b[rand() % (int)g.len] = (uint8_t)rand();
		g.len = (size_t)rand() % (g.len + 1);
		{
			uint8_t *b = malloc(g.len ? g.len : 1);

			memcpy(b, g.b, g.len);
			memset(&m, 0, sizeof(m));
			r = pvk_net_parse(b, g.len, &h);
			assert_true(r == 0 || r == -EPROTO ||
				    r == -EPFNOSUPPORT);
			if (r == 0)
				assert_true((size_t)h.l4_off + h.l4_total <=
					    g.len);
			r = pvk_net_csum_setup(b, g.len, true, &m);
			if (r == 0) {
				assert_true((size_t)m.csum_start +
						    m.csum_offset + 2 <=
					    g.len);
				assert_int_equal(
					pvk_net_csum_complete(b, g.len, &m), 0);
			}
			pvk_net_flow_hash(b, g.len, 0xf, key, 40, &hash);
			free(b);
		}
	}
}

/* --- checksums ------------------------------------------------------------ */

static void check_csum(struct frame *f, size_t l3, bool v6, uint8_t proto,
		       uint16_t want_off)
{
	struct pvk_net_meta m = { 0 };
	struct pvk_net_hdrs h;
	uint16_t got;

	assert_int_equal(pvk_net_parse(f->b, f->len, &h), 0);
	assert_int_equal(pvk_net_csum_setup(f->b, f->len, true, &m), 0);
	assert_int_equal(m.flags, PVK_NET_META_CSUM_PARTIAL);
	assert_int_equal(m.csum_start, h.l4_off);
	assert_int_equal(m.csum_offset, want_off);
	assert_int_equal(pvk_net_csum_complete(f->b, f->len, &m), 0);
	assert_int_equal(m.flags, PVK_NET_META_DATA_VALID);
	got = (uint16_t)(f->b[h.l4_off + want_off] << 8 |
			 f->b[h.l4_off + want_off + 1]);
	/* The reference sums the segment with the checksum field zeroed. */
	f->b[h.l4_off + want_off] = 0;
	f->b[h.l4_off + want_off + 1] = 0;
	assert_int_equal(got, ref_l4_csum(f, l3, h.l4_off, v6, proto));
	/* Completing twice is refused: it is no longer partial. */
	assert_int_equal(pvk_net_csum_complete(f->b, f->len, &m), -EINVAL);
}

static void test_csum_against_reference(void **state)
{
	struct frame f;
	size_t n;

	(void)state;
	for (n = 0; n < 70; n += 7) {
		tcp4(&f, 0, n);
		check_csum(&f, 14, false, 6, 16);
		tcp4(&f, 1, n + 1); /* odd lengths too */
		check_csum(&f, 18, false, 6, 16);
		udp4(&f, n);
		check_csum(&f, 14, false, 17, 6);
		tcp6(&f, n);
		check_csum(&f, 14, true, 6, 16);
	}
}

/* Without recalc the sender's pseudo-header sum stays: completing then
 * gives the right checksum only if the sender put it there. */
static void test_csum_setup_keeps_senders_field(void **state)
{
	struct pvk_net_meta m = { 0 };
	struct frame f;

	(void)state;
	tcp4(&f, 0, 10);
	f.b[14 + 20 + 16] = 0x12;
	f.b[14 + 20 + 17] = 0x34;
	assert_int_equal(pvk_net_csum_setup(f.b, f.len, false, &m), 0);
	assert_int_equal(f.b[14 + 20 + 16], 0x12);
	assert_int_equal(f.b[14 + 20 + 17], 0x34);
	/* Past the end, or not partial: refused. */
	m.csum_offset = (uint16_t)(f.len - m.csum_start - 1);
	assert_int_equal(pvk_net_csum_complete(f.b, f.len, &m), -EINVAL);
}

/* --- Toeplitz ------------------------------------------------------------- */

static const uint8_t rss_key[40] = {
	0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67,
	0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb,
	0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30,
	0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
};

struct rss4 {
	const char *src, *dst;
	uint16_t sport, dport;
	uint32_t ip, tcp;
};

/* Microsoft's "Verifying the RSS Hash Calculation" table, IPv4. */
static const struct rss4 rss4_vectors[] = {
	{ "66.9.149.187", "161.142.100.80", 2794, 1766, 0x323e8fc2,
	  0x51ccc178 },
	{ "199.92.111.2", "65.69.140.83", 14230, 4739, 0xd718262a, 0xc626b0ea },
	{ "24.19.198.95", "12.22.207.184", 12898, 38024, 0xd2d0a5de,
	  0x5c2b394a },
	{ "38.27.205.30", "209.142.163.6", 48228, 2217, 0x82989176,
	  0xafc7327f },
	{ "153.39.163.191", "202.188.127.2", 44251, 1303, 0x5d1809c5,
	  0x10e828a2 },
};

/* And IPv6. */
static const struct rss4 rss6_vectors[] = {
	{ "3ffe:2501:200:1fff::7", "3ffe:2501:200:3::1", 2794, 1766, 0x2cc18cd5,
	  0x40207d3d },
	{ "3ffe:501:8::260:97ff:fe40:efab", "ff02::1", 14230, 4739, 0x0f0c461c,
	  0xdde51bbf },
	{ "3ffe:1900:4545:3:200:f8ff:fe21:67cf", "fe80::200:f8ff:fe21:67cf",
	  44251, 38024, 0x4b61e985, 0x02d1feef },
};

static void test_toeplitz_rss_vectors(void **state)
{
	uint8_t in[36];
	struct frame f;
	uint32_t h;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rss4_vectors) / sizeof(rss4_vectors[0]); i++) {
		const struct rss4 *v = &rss4_vectors[i];

		assert_int_equal(inet_pton(AF_INET, v->src, in), 1);
		assert_int_equal(inet_pton(AF_INET, v->dst, in + 4), 1);
		in[8] = (uint8_t)(v->sport >> 8);
		in[9] = (uint8_t)v->sport;
		in[10] = (uint8_t)(v->dport >> 8);
		in[11] = (uint8_t)v->dport;
		assert_int_equal(pvk_net_toeplitz(rss_key, 40, in, 8), v->ip);
		assert_int_equal(pvk_net_toeplitz(rss_key, 40, in, 12), v->tcp);

		/* The same through a frame. */
		tcp4(&f, 0, 0);
		memcpy(f.b + 14 + 12, in, 8);
		memcpy(f.b + 34, in + 8, 4);
		assert_int_equal(pvk_net_flow_hash(f.b, f.len, 0xf, rss_key, 40,
						   &h),
				 PVK_NETIF_CTRL_HASH_TYPE_IPV4_TCP);
		assert_int_equal(h, v->tcp);
		assert_int_equal(
			pvk_net_flow_hash(f.b, f.len,
					  1u << PVK_NETIF_CTRL_HASH_TYPE_IPV4,
					  rss_key, 40, &h),
			PVK_NETIF_CTRL_HASH_TYPE_IPV4);
		assert_int_equal(h, v->ip);
		assert_int_equal(
			pvk_net_flow_hash(f.b, f.len,
					  1u << PVK_NETIF_CTRL_HASH_TYPE_IPV6,
					  rss_key, 40, &h),
			-ENOENT);
	}
	for (i = 0; i < sizeof(rss6_vectors) / sizeof(rss6_vectors[0]); i++) {
		const struct rss4 *v = &rss6_vectors[i];

		assert_int_equal(inet_pton(AF_INET6, v->src, in), 1);
		assert_int_equal(inet_pton(AF_INET6, v->dst, in + 16), 1);
		in[32] = (uint8_t)(v->sport >> 8);
		in[33] = (uint8_t)v->sport;
		in[34] = (uint8_t)(v->dport >> 8);
		in[35] = (uint8_t)v->dport;
		assert_int_equal(pvk_net_toeplitz(rss_key, 40, in, 32), v->ip);
		assert_int_equal(pvk_net_toeplitz(rss_key, 40, in, 36), v->tcp);

		tcp6(&f, 0);
		memcpy(f.b + 14 + 8, in, 32);
		memcpy(f.b + 14 + 40 + 24, in + 32, 4);
		assert_int_equal(pvk_net_flow_hash(f.b, f.len, 0xf, rss_key, 40,
						   &h),
				 PVK_NETIF_CTRL_HASH_TYPE_IPV6_TCP);
		assert_int_equal(h, v->tcp);
	}
	/* A short key is zero-padded: the same as the key padded by hand. */
	{
		uint8_t padded[40] = { 0 };

		memcpy(padded, rss_key, 16);
		assert_int_equal(pvk_net_toeplitz(rss_key, 16, in, 36),
				 pvk_net_toeplitz(padded, 40, in, 36));
	}
}

/* --- vnet headers --------------------------------------------------------- */

static void test_vnet_conversions(void **state)
{
	struct pvk_net_meta m = { 0 }, back;
	struct virtio_net_hdr vh;

	(void)state;
	m.flags = PVK_NET_META_CSUM_PARTIAL;
	m.csum_start = 34;
	m.csum_offset = 16;
	m.gso_type = PVK_NET_GSO_TCPV4;
	m.gso_size = 1448;
	m.hdr_len = 66;
	assert_int_equal(pvk_net_meta_to_vnet(&m, 9000, &vh), 0);
	assert_int_equal(vh.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
	assert_int_equal(vh.gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
	assert_int_equal(vh.gso_size, 1448);
	assert_int_equal(vh.csum_start, 34);
	assert_int_equal(vh.csum_offset, 16);
	assert_int_equal(pvk_net_meta_from_vnet(&vh, 9000, &back), 0);
	assert_memory_equal(&m, &back, sizeof(m));

	/* The checksum field beyond the frame. */
	assert_int_equal(pvk_net_meta_to_vnet(&m, 51, &vh), -EPROTO);
	assert_int_equal(vh.flags, 0); /* nothing half-filled */
	/* GSO without a partial checksum, or with size 0; unknown types. */
	back = m;
	back.flags = 0;
	assert_int_equal(pvk_net_meta_to_vnet(&back, 9000, &vh), -EINVAL);
	back = m;
	back.gso_size = 0;
	assert_int_equal(pvk_net_meta_to_vnet(&back, 9000, &vh), -EINVAL);
	back = m;
	back.gso_type = 7;
	assert_int_equal(pvk_net_meta_to_vnet(&back, 9000, &vh), -EOPNOTSUPP);
	memset(&vh, 0, sizeof(vh));
	vh.gso_type = VIRTIO_NET_HDR_GSO_UDP;
	assert_int_equal(pvk_net_meta_from_vnet(&vh, 100, &back), -EOPNOTSUPP);
	vh.gso_type = VIRTIO_NET_HDR_GSO_NONE;
	vh.flags = VIRTIO_NET_HDR_F_DATA_VALID;
	assert_int_equal(pvk_net_meta_from_vnet(&vh, 100, &back), 0);
	assert_int_equal(back.flags, PVK_NET_META_DATA_VALID);
}

/* --- TAP and rtnetlink, in a network namespace of our own ------------------ */

static int netns_setup(void **state)
{
	int fd;

	(void)state;
	if (access("/dev/net/tun", R_OK | W_OK) < 0) {
		fprintf(stderr, "SKIP: /dev/net/tun is not available\n");
		return -1;
	}
	if (unshare(CLONE_NEWNET) < 0) {
		fprintf(stderr, "SKIP: cannot create a network namespace: %s\n",
			strerror(errno));
		return -1;
	}
	/* No IPv6 chatter (router solicitations, MLD) on the links. */
	fd = open("/proc/sys/net/ipv6/conf/default/disable_ipv6", O_WRONLY);
	if (fd >= 0) {
		/* Best effort: the test filters by ethertype anyway. */
		(void)!write(fd, "1", 1);
		close(fd);
	}
	return 0;
}

static int ioctl_ifr(unsigned long req, const char *name, struct ifreq *ifr)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r;

	memset(ifr, 0, sizeof(*ifr));
	snprintf(ifr->ifr_name, sizeof(ifr->ifr_name), "%s", name);
	r = ioctl(s, req, ifr);
	close(s);
	return r;
}

/* A raw socket on @ifname, for frames of ethertype 0x88b5 only (IEEE's
 * local experimental type: no other traffic). */
static int packet_socket(const char *ifname)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET,
				   .sll_protocol = htons(0x88b5) };
	int s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(0x88b5));

	assert_true(s >= 0);
	sll.sll_ifindex = (int)if_nametoindex(ifname);
	assert_true(sll.sll_ifindex > 0);
	assert_int_equal(bind(s, (struct sockaddr *)&sll, sizeof(sll)), 0);
	return s;
}

static ssize_t read_timeout(int fd, void *buf, size_t len, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	if (poll(&p, 1, ms) != 1)
		return -ETIMEDOUT;
	return read(fd, buf, len);
}

static void test_tap_bridge_veth(void **state)
{
	static const uint8_t mac[6] = { 0x00, 0x16, 0x3e, 0xaa, 0xbb, 0xcc };
	char name[PVK_NET_IFNAMSIZ], buf[2048];
	struct virtio_net_hdr vh = { 0 };
	struct pvk_nl *nl;
	struct ifreq ifr;
	struct frame f;
	struct iovec iov[2];
	uint32_t mtu;
	int fds[2], br, ps, nsfd, i;
	ssize_t n;
	pid_t child;

	(void)state;
	assert_int_equal(pvk_nl_open(&nl), 0);
	assert_int_equal(pvk_nl_bridge_add(nl, "pvkbr0"), 0);
	assert_int_equal(pvk_nl_bridge_add(nl, "pvkbr0"), -EEXIST);
	br = pvk_nl_link_index(nl, "pvkbr0");
	assert_true(br > 0);
	assert_int_equal(pvk_nl_link_index(nl, "pvknone"), -ENODEV);
	assert_int_equal(pvk_nl_link_set_up(nl, "pvknone", true), -ENODEV);

	/* Bad arguments. */
	assert_int_equal(pvk_tap_open("pvktap%d", 1u << 7, 1, fds, name),
			 -EINVAL);
	assert_int_equal(pvk_tap_open("pvktap%d", PVK_TAP_VNET_HDR, 2, fds,
				      name),
			 -EINVAL);
	assert_int_equal(pvk_tap_open("a-name-much-too-long-for-linux", 0, 1,
				      fds, name),
			 -EINVAL);

	assert_int_equal(pvk_tap_open("pvktap%d",
				      PVK_TAP_VNET_HDR | PVK_TAP_MULTI_QUEUE, 2,
				      fds, name),
			 0);
	assert_string_equal(name, "pvktap0");
	assert_int_equal(pvk_tap_offload(fds[0], PVK_TAP_OFF_CSUM |
							 PVK_TAP_OFF_TSO4 |
							 PVK_TAP_OFF_TSO6),
			 0);
	assert_int_equal(pvk_tap_offload(fds[0], PVK_TAP_OFF_TSO4), -EINVAL);
	assert_int_equal(pvk_nl_link_set_mtu(nl, name, 9000), 0);
	assert_int_equal(pvk_nl_link_set_mtu(nl, name, 67), -EINVAL);
	assert_int_equal(pvk_nl_link_mtu(nl, name, &mtu), 0);
	assert_int_equal(mtu, 9000);
	assert_int_equal(ioctl_ifr(SIOCGIFMTU, name, &ifr), 0);
	assert_int_equal(ifr.ifr_mtu, 9000);
	assert_int_equal(pvk_nl_link_set_mac(nl, name, mac), 0);
	assert_int_equal(ioctl_ifr(SIOCGIFHWADDR, name, &ifr), 0);
	assert_memory_equal(ifr.ifr_hwaddr.sa_data, mac, 6);

	assert_int_equal(pvk_nl_veth_add(nl, "pvkva", "pvkvb"), 0);
	assert_int_equal(pvk_nl_link_set_master(nl, name, "pvkbr0"), 0);
	assert_int_equal(pvk_nl_link_set_master(nl, "pvkva", "pvkbr0"), 0);
	assert_int_equal(pvk_nl_link_master(nl, name), br);
	assert_int_equal(pvk_nl_link_master(nl, "pvkvb"), 0);
	assert_int_equal(pvk_nl_link_set_master(nl, "pvkva", "pvknone"),
			 -ENODEV);
	assert_int_equal(pvk_nl_link_set_up(nl, "pvkbr0", true), 0);
	assert_int_equal(pvk_nl_link_set_up(nl, name, true), 0);
	assert_int_equal(pvk_nl_link_set_up(nl, "pvkva", true), 0);
	assert_int_equal(pvk_nl_link_set_up(nl, "pvkvb", true), 0);
	assert_int_equal(ioctl_ifr(SIOCGIFFLAGS, "pvkbr0", &ifr), 0);
	assert_true(ifr.ifr_flags & IFF_UP);

	/* TAP -> bridge -> veth: a broadcast frame with a vnet header. */
	ps = packet_socket("pvkvb");
	eth(&f, 0, 0x88b5);
	memset(f.b, 0xff, 6);
	for (i = 0; i < 100; i++)
		f.b[f.len++] = (uint8_t)i;
	iov[0] = (struct iovec){ &vh, sizeof(vh) };
	iov[1] = (struct iovec){ f.b, f.len };
	assert_int_equal(writev(fds[1], iov, 2), (ssize_t)(sizeof(vh) + f.len));
	n = read_timeout(ps, buf, sizeof(buf), 10000);
	assert_int_equal(n, (ssize_t)f.len);
	assert_memory_equal(buf, f.b, f.len);

	/* veth -> bridge -> TAP, read with its vnet header. */
	f.b[f.len - 1] = 0x77;
	assert_int_equal(write(ps, f.b, f.len), (ssize_t)f.len);
	for (i = 0; i < 16; i++) {
		n = read_timeout(fds[0], buf, sizeof(buf), 1500);
		if (n < 0)
			n = read_timeout(fds[1], buf, sizeof(buf), 1500);
		/* Skip anything else the stack sends on a fresh link. */
		if (n == (ssize_t)(sizeof(vh) + f.len) &&
		    !memcmp(buf + sizeof(vh), f.b, f.len))
			break;
	}
	assert_int_equal(n, (ssize_t)(sizeof(vh) + f.len));
	assert_memory_equal(buf + sizeof(vh), f.b, f.len);
	close(ps);

	/* Move pvkvb to another namespace: gone from ours. */
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		if (unshare(CLONE_NEWNET) < 0)
			_exit(1);
		pause();
		_exit(0);
	}
	snprintf(buf, sizeof(buf), "/proc/%d/ns/net", (int)child);
	for (i = 0; i < 100; i++) {
		char a[64], b[64];
		ssize_t la, lb;

		/* Wait until the child is in its own namespace. */
		la = readlink(buf, a, sizeof(a) - 1);
		lb = readlink("/proc/self/ns/net", b, sizeof(b) - 1);
		if (la > 0 && lb > 0 && (la != lb || memcmp(a, b, (size_t)la)))
			break;
		usleep(10000);
	}
	nsfd = open(buf, O_RDONLY | O_CLOEXEC);
	assert_true(nsfd >= 0);
	assert_int_equal(pvk_nl_link_set_netns(nl, "pvkvb", nsfd), 0);
	assert_int_equal(pvk_nl_link_index(nl, "pvkvb"), -ENODEV);
	close(nsfd);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	/* Its namespace goes with it, pvkvb with it, and a veth's peer with
	 * it (the kernel tears namespaces down asynchronously). */
	for (i = 0; i < 300 && pvk_nl_link_index(nl, "pvkva") > 0; i++)
		usleep(10000);
	assert_int_equal(pvk_nl_link_index(nl, "pvkva"), -ENODEV);
	assert_int_equal(pvk_nl_link_del(nl, "pvkva"), -ENODEV);

	/* The TAP goes with its last fd; the others on request. */
	pvk_tap_close(fds, 2);
	assert_int_equal(fds[0], -1);
	assert_int_equal(pvk_nl_link_index(nl, name), -ENODEV);
	assert_int_equal(pvk_nl_link_del(nl, "pvkbr0"), 0);
	assert_int_equal(pvk_nl_link_index(nl, "pvkbr0"), -ENODEV);
	assert_int_equal(pvk_nl_link_del(nl, "pvkbr0"), -ENODEV);
	pvk_nl_close(nl);
	pvk_nl_close(NULL);
}

int main(void)
{
	const struct CMUnitTest pure[] = {
		cmocka_unit_test(test_parse_ipv4_tcp_vlan),
		cmocka_unit_test(test_parse_ipv6_ext_headers),
		cmocka_unit_test(test_parse_fragments_and_others),
		cmocka_unit_test(test_parse_truncated_everywhere),
		cmocka_unit_test(test_parse_random_corruption),
		cmocka_unit_test(test_csum_against_reference),
		cmocka_unit_test(test_csum_setup_keeps_senders_field),
		cmocka_unit_test(test_toeplitz_rss_vectors),
		cmocka_unit_test(test_vnet_conversions),
	};
	const struct CMUnitTest live[] = {
		cmocka_unit_test(test_tap_bridge_veth),
	};
	int fails;

	fails = cmocka_run_group_tests_name("frames", pure, NULL, NULL);
	if (netns_setup(NULL) < 0)
		return fails ? 1 : 77;
	fails += cmocka_run_group_tests_name("tap+netlink", live, NULL, NULL);
	return fails ? 1 : 0;
}
