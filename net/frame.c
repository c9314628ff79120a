/* SPDX-License-Identifier: MIT */
/*
 * Frame headers, checksums, flow hashes and vnet headers (pvkit/net.h).
 * Every read goes through rd8/rd16/rd32 with an explicit bound: these
 * bytes come from a guest.
 */
#include <errno.h>
#include <string.h>

#include <linux/if_ether.h>
#include <linux/virtio_net.h>
#include <netinet/in.h>

#include <pvkit/net.h>
#include <pvkit/netif.h>

static inline uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static int parse_ipv4(const uint8_t *f, size_t len, struct pvk_net_hdrs *h)
{
	const uint8_t *ip = f + h->l3_off;
	size_t ihl, tot;

	if (len - h->l3_off < 20 || (ip[0] >> 4) != 4)
		return -EPROTO;
	ihl = (size_t)(ip[0] & 0xf) * 4;
	tot = rd16(ip + 2);
	if (ihl < 20 || tot < ihl || tot > len - h->l3_off)
		return -EPROTO;
	h->l4_proto = ip[9];
	/* More fragments, or an offset: a fragment. */
	h->fragment = (rd16(ip + 6) & 0x3fff) != 0;
	h->l4_off = (uint16_t)(h->l3_off + ihl);
	h->l4_total = (uint32_t)(tot - ihl);
	return 0;
}

static int parse_ipv6(const uint8_t *f, size_t len, struct pvk_net_hdrs *h)
{
	const uint8_t *ip = f + h->l3_off;
	size_t off, end, hl;
	uint8_t nh;
	int i;

	if (len - h->l3_off < 40 || (ip[0] >> 4) != 6)
		return -EPROTO;
	end = (size_t)h->l3_off + 40 + rd16(ip + 4);
	if (end > len)
		return -EPROTO;
	nh = ip[6];
	off = (size_t)h->l3_off + 40;
	for (i = 0; i < 8; i++) {
		switch (nh) {
		case 0: /* hop-by-hop */
		case 43: /* routing */
		case 60: /* destination options */
			if (end - off < 8)
				return -EPROTO;
			hl = ((size_t)f[off + 1] + 1) * 8;
			break;
		case 51: /* AH: length in 4-byte units, minus 2 */
			if (end - off < 8)
				return -EPROTO;
			hl = ((size_t)f[off + 1] + 2) * 4;
			break;
		case 44: /* fragment */
			if (end - off < 8)
				return -EPROTO;
			hl = 8;
			if (rd16(f + off + 2) & 0xfff9)
				h->fragment = true; /* offset or M */
			break;
		default:
			goto done;
		}
		if (hl > end - off)
			return -EPROTO;
		nh = f[off];
		off += hl;
	}
	return -EPROTO; /* a chain longer than any honest sender's */
done:
	h->l4_proto = nh;
	h->l4_off = (uint16_t)off;
	h->l4_total = (uint32_t)(end - off);
	return 0;
}

int pvk_net_parse(const void *frame, size_t len, struct pvk_net_hdrs *h)
{
	const uint8_t *f = frame;
	uint16_t proto;
	size_t off = 12;
	int tags, err;

	memset(h, 0, sizeof(*h));
	if (len < PVK_NET_ETH_HLEN || len > 0xffff + 64)
		return -EPROTO;
	proto = rd16(f + off);
	for (tags = 0; proto == ETH_P_8021Q || proto == ETH_P_8021AD; tags++) {
		if (tags == 2 || len - off < 2 + 4 + 2)
			return -EPROTO;
		off += 4;
		proto = rd16(f + off);
	}
	h->l3_proto = proto;
	h->l3_off = (uint16_t)(off + 2);
	if (proto == ETH_P_IP)
		err = parse_ipv4(f, len, h);
	else if (proto == ETH_P_IPV6)
		err = parse_ipv6(f, len, h);
	else
		return -EPFNOSUPPORT;
	if (err < 0)
		return err;
	if (h->fragment)
		return 0;
	if (h->l4_proto == IPPROTO_TCP) {
		if (h->l4_total < 20)
			return -EPROTO;
		h->l4_len = (uint16_t)((f[h->l4_off + 12] >> 4) * 4);
		if (h->l4_len < 20 || h->l4_len > h->l4_total)
			return -EPROTO;
	} else if (h->l4_proto == IPPROTO_UDP) {
		if (h->l4_total < 8)
			return -EPROTO;
		h->l4_len = 8;
	}
	return 0;
}

uint32_t pvk_net_csum_partial(const void *buf, size_t len, uint32_t sum)
{
	const uint8_t *p = buf;
	uint64_t s = sum;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		s += (uint32_t)p[len - 1] << 8;
	while (s >> 32)
		s = (s & 0xffffffffu) + (s >> 32);
	return (uint32_t)s;
}

uint16_t pvk_net_csum_fold(uint32_t sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* The pseudo-header sum of the frame's L4 segment. */
static uint32_t pseudo_sum(const uint8_t *f, const struct pvk_net_hdrs *h)
{
	const uint8_t *ip = f + h->l3_off;
	uint32_t s = h->l4_proto + (h->l4_total & 0xffff) + (h->l4_total >> 16);

	if (h->l3_proto == ETH_P_IP)
		return pvk_net_csum_partial(ip + 12, 8, s);
	return pvk_net_csum_partial(ip + 8, 32, s);
}

int pvk_net_csum_setup(void *frame, size_t len, bool recalc,
		       struct pvk_net_meta *m)
{
	struct pvk_net_hdrs h;
	uint8_t *f = frame;
	uint16_t off, ps;
	int err;

	err = pvk_net_parse(frame, len, &h);
	if (err < 0)
		return err;
	if (h.fragment)
		return -EPROTO;
	if (h.l4_proto == IPPROTO_TCP)
		off = 16;
	else if (h.l4_proto == IPPROTO_UDP)
		off = 6;
	else
		return -EPROTONOSUPPORT;
	m->csum_start = h.l4_off;
	m->csum_offset = off;
	m->flags |= PVK_NET_META_CSUM_PARTIAL;
	m->flags &= (uint16_t)~PVK_NET_META_DATA_VALID;
	if (recalc) {
		ps = pvk_net_csum_fold(pseudo_sum(f, &h));
		f[h.l4_off + off] = (uint8_t)(ps >> 8);
		f[h.l4_off + off + 1] = (uint8_t)ps;
	}
	return 0;
}

int pvk_net_csum_complete(void *frame, size_t len, struct pvk_net_meta *m)
{
	uint8_t *f = frame;
	size_t at = (size_t)m->csum_start + m->csum_offset;
	uint16_t c;

	if (!(m->flags & PVK_NET_META_CSUM_PARTIAL) || m->csum_start > len ||
	    at + 2 > len)
		return -EINVAL;
	c = (uint16_t)~pvk_net_csum_fold(pvk_net_csum_partial(
		f + m->csum_start, len - m->csum_start, 0));
	/* A UDP checksum of 0 means "none"; 0xffff is the same sum. */
	if (c == 0 && m->csum_offset == 6)
		c = 0xffff;
	f[at] = (uint8_t)(c >> 8);
	f[at + 1] = (uint8_t)c;
	m->flags &= (uint16_t)~PVK_NET_META_CSUM_PARTIAL;
	m->flags |= PVK_NET_META_DATA_VALID;
	return 0;
}

uint32_t pvk_net_toeplitz(const uint8_t *key, size_t keylen, const uint8_t *in,
			  size_t len)
{
	uint64_t win = 0; /* key bits [i, i + 64) at input bit i */
	uint32_t h = 0;
	size_t i, k;
	int b;

	for (k = 0; k < 8; k++)
		win = win << 8 | (k < keylen ? key[k] : 0);
	for (i = 0; i < len; i++) {
		for (b = 7; b >= 0; b--) {
			if (in[i] >> b & 1)
				h ^= (uint32_t)(win >> 32);
			win <<= 1;
		}
		k = i + 8;
		win |= k < keylen ? key[k] : 0;
	}
	return h;
}

int pvk_net_flow_hash(const void *frame, size_t len, unsigned int types,
		      const uint8_t *key, size_t keylen, uint32_t *hash)
{
	const uint8_t *f = frame;
	struct pvk_net_hdrs h;
	uint8_t in[36];
	size_t n, alen;
	bool tcp;
	int type;

	if (pvk_net_parse(frame, len, &h) < 0)
		return -ENOENT;
	tcp = h.l4_proto == IPPROTO_TCP && !h.fragment && h.l4_len;
	if (h.l3_proto == ETH_P_IP) {
		memcpy(in, f + h.l3_off + 12, 8);
		alen = 8;
		type = tcp && (types &
			       1u << PVK_NETIF_CTRL_HASH_TYPE_IPV4_TCP) ?
			       PVK_NETIF_CTRL_HASH_TYPE_IPV4_TCP :
			       PVK_NETIF_CTRL_HASH_TYPE_IPV4;
	} else {
		memcpy(in, f + h.l3_off + 8, 32);
		alen = 32;
		type = tcp && (types &
			       1u << PVK_NETIF_CTRL_HASH_TYPE_IPV6_TCP) ?
			       PVK_NETIF_CTRL_HASH_TYPE_IPV6_TCP :
			       PVK_NETIF_CTRL_HASH_TYPE_IPV6;
	}
	if (!(types & 1u << type))
		return -ENOENT;
	n = alen;
	if (type == PVK_NETIF_CTRL_HASH_TYPE_IPV4_TCP ||
	    type == PVK_NETIF_CTRL_HASH_TYPE_IPV6_TCP) {
		memcpy(in + alen, f + h.l4_off, 4); /* source, dest port */
		n += 4;
	}
	*hash = pvk_net_toeplitz(key, keylen, in, n);
	return type;
}

static int meta_check(const struct pvk_net_meta *m, size_t len)
{
	if ((m->flags & PVK_NET_META_CSUM_PARTIAL) &&
	    ((size_t)m->csum_start + m->csum_offset + 2 > len))
		return -EPROTO;
	if (m->gso_type == PVK_NET_GSO_NONE)
		return 0;
	if (m->gso_type != PVK_NET_GSO_TCPV4 &&
	    m->gso_type != PVK_NET_GSO_TCPV6)
		return -EOPNOTSUPP;
	if (!m->gso_size || !(m->flags & PVK_NET_META_CSUM_PARTIAL))
		return -EINVAL;
	return m->hdr_len > len ? -EPROTO : 0;
}

int pvk_net_meta_from_vnet(const struct virtio_net_hdr *vh, size_t len,
			   struct pvk_net_meta *m)
{
	memset(m, 0, sizeof(*m));
	if (vh->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		m->flags |= PVK_NET_META_CSUM_PARTIAL;
		m->csum_start = vh->csum_start;
		m->csum_offset = vh->csum_offset;
	} else if (vh->flags & VIRTIO_NET_HDR_F_DATA_VALID) {
		m->flags |= PVK_NET_META_DATA_VALID;
	}
	switch (vh->gso_type) {
	case VIRTIO_NET_HDR_GSO_NONE:
		break;
	case VIRTIO_NET_HDR_GSO_TCPV4:
		m->gso_type = PVK_NET_GSO_TCPV4;
		break;
	case VIRTIO_NET_HDR_GSO_TCPV6:
		m->gso_type = PVK_NET_GSO_TCPV6;
		break;
	default:
		return -EOPNOTSUPP;
	}
	if (m->gso_type) {
		m->gso_size = vh->gso_size;
		m->hdr_len = vh->hdr_len;
	}
	return meta_check(m, len);
}

int pvk_net_meta_to_vnet(const struct pvk_net_meta *m, size_t len,
			 struct virtio_net_hdr *vh)
{
	int err = meta_check(m, len);

	memset(vh, 0, sizeof(*vh));
	if (err < 0)
		return err;
	if (m->flags & PVK_NET_META_CSUM_PARTIAL) {
		vh->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
		vh->csum_start = m->csum_start;
		vh->csum_offset = m->csum_offset;
	} else if (m->flags & PVK_NET_META_DATA_VALID) {
		vh->flags = VIRTIO_NET_HDR_F_DATA_VALID;
	}
	if (m->gso_type) {
		vh->gso_type = m->gso_type == PVK_NET_GSO_TCPV4 ?
				       VIRTIO_NET_HDR_GSO_TCPV4 :
				       VIRTIO_NET_HDR_GSO_TCPV6;
		vh->gso_size = m->gso_size;
		vh->hdr_len = m->hdr_len;
	}
	return 0;
}
