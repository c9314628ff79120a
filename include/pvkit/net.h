/* SPDX-License-Identifier: MIT */
/*
 * pvkit/net.h -- host networking for the network split driver
 * (libpvkit-net): what netback in the control domain, `pvkit nic
 * serve-tap` in a guest and an emulated NIC all need around the rings.
 *
 *   frames    parse an Ethernet frame's headers (802.1Q, IPv4, IPv6 with
 *             extension headers, TCP, UDP); set up a partial checksum as
 *             Linux's skb_checksum_setup() does for xen-netback; complete
 *             a checksum in software; hash a flow with Toeplitz as Xen's
 *             netif control ring defines it.
 *   offloads  struct pvk_net_meta, pvkit's offload metadata (partial
 *             checksum, checksum validated, TCP segmentation), converted
 *             to and from the struct virtio_net_hdr a TAP device reads and
 *             writes in front of each frame (IFF_VNET_HDR).
 *   TAP       open a TAP device, single or multi-queue, with a vnet
 *             header, and tell the kernel which offloads we accept.
 *   netlink   rtnetlink through libmnl: bridges, links, MTU, MAC, up/down,
 *             veth pairs, moving a link to another network namespace.
 *
 * Conventions: >= 0 on success, -errno on failure; nothing prints.  The
 * frame functions take guest-supplied bytes: they read nothing outside
 * [frame, frame + len), never allocate, and answer -EPROTO for a header
 * that is truncated or malformed.  Multi-byte fields in frames are in
 * network order; the metadata is in host order.
 */
#ifndef PVKIT_NET_H
#define PVKIT_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PVK_NET_ETH_HLEN 14
#define PVK_NET_IFNAMSIZ 16 /* IFNAMSIZ, with the NUL */

/* --- frames ------------------------------------------------------------- */

/* Where a frame's headers are.  l4_proto is the IP protocol number (6 TCP,
 * 17 UDP, ...); l4_off and l4_len are set for TCP and UDP only (l4_len:
 * the TCP header with its options, or 8), else 0. */
struct pvk_net_hdrs {
	uint16_t l3_proto; /* ETH_P_IP, ETH_P_IPV6 (host order) */
	uint16_t l3_off; /* after the Ethernet header and any VLAN tags */
	uint16_t l4_off;
	uint16_t l4_len;
	uint8_t l4_proto;
	bool fragment; /* an IP fragment (first or not): no L4 to trust */
	uint32_t l4_total; /* L4 length from the IP header (header + data) */
};

/*
 * Parse the headers of an Ethernet frame.  At most two VLAN tags; IPv6
 * extension headers (hop-by-hop, routing, fragment, destination options,
 * AH) followed for at most 8 headers.  Returns 0; -EPROTO for a truncated
 * or malformed header (IPv4 ihl < 5, a total length beyond the frame ...);
 * -EPFNOSUPPORT for a frame that is neither IPv4 nor IPv6 (ARP, ...),
 * with l3_proto set.
 */
int pvk_net_parse(const void *frame, size_t len, struct pvk_net_hdrs *h);

/* Offload metadata, host order. */
#define PVK_NET_META_CSUM_PARTIAL (1u << 0) /* L4 csum to be completed */
#define PVK_NET_META_DATA_VALID (1u << 1) /* checksums already checked */
#define PVK_NET_GSO_NONE 0 /* = PVK_NETIF_GSO_TYPE_* */
#define PVK_NET_GSO_TCPV4 1
#define PVK_NET_GSO_TCPV6 2

struct pvk_net_meta {
	uint16_t flags; /* PVK_NET_META_* */
	uint16_t csum_start; /* from the frame's start */
	uint16_t csum_offset; /* of the checksum field, from csum_start */
	uint8_t gso_type; /* PVK_NET_GSO_* */
	uint16_t gso_size; /* MSS; 0 unless gso_type */
	uint16_t hdr_len; /* bytes of headers each segment repeats */
};

/*
 * Set up a partial checksum for a frame whose sender left its TCP or UDP
 * checksum blank (NETTXF_csum_blank), as Linux's skb_checksum_setup():
 * sets m->csum_start / m->csum_offset and PVK_NET_META_CSUM_PARTIAL.  With
 * @recalc, also write the pseudo-header sum into the checksum field (what
 * a partial checksum expects there; a sender may have left garbage).
 * -EPROTO: truncated, malformed, or an IP fragment; -EPFNOSUPPORT: not IP;
 * -EPROTONOSUPPORT: neither TCP nor UDP.
 */
int pvk_net_csum_setup(void *frame, size_t len, bool recalc,
		       struct pvk_net_meta *m);

/* Complete a partial checksum in software (for a receiver that takes
 * none): the 16-bit ones' complement sum from csum_start to the end, the
 * field itself holding the pseudo-header sum, folded into the field
 * (UDP: 0 sent as 0xffff).  Clears PVK_NET_META_CSUM_PARTIAL and sets
 * DATA_VALID.  -EINVAL if the field is not inside the frame. */
int pvk_net_csum_complete(void *frame, size_t len, struct pvk_net_meta *m);

/* The Internet checksum helpers the above use: the 32-bit partial sum of
 * @len bytes added to @sum, and its fold (not inverted). */
uint32_t pvk_net_csum_partial(const void *buf, size_t len, uint32_t sum);
uint16_t pvk_net_csum_fold(uint32_t sum);

/*
 * Toeplitz hash (Microsoft RSS, as io/netif.h's control ring specifies):
 * @in hashed under @key; a key shorter than len + 4 bytes is taken as
 * padded with zeros.  @keylen at most PVK_NETIF_CTRL_TOEPLITZ_KEY_MAX.
 */
uint32_t pvk_net_toeplitz(const uint8_t *key, size_t keylen, const uint8_t *in,
			  size_t len);

/*
 * The flow hash of a frame for the hash types enabled in @types (bits
 * 1 << PVK_NETIF_CTRL_HASH_TYPE_*): TCP ports are used when the frame is
 * TCP and not a fragment and the _TCP type is on, else the addresses alone
 * if the plain type is on.  Returns the type used (>= 0) with *@hash set,
 * or -ENOENT when no enabled type applies (not IP, a type off, ...).
 */
int pvk_net_flow_hash(const void *frame, size_t len, unsigned int types,
		      const uint8_t *key, size_t keylen, uint32_t *hash);

/* --- vnet headers (TAP with IFF_VNET_HDR) --------------------------------
 * struct virtio_net_hdr from <linux/virtio_net.h>, 10 bytes, host order
 * (a little-endian host; TAP's default).  The length of a frame is needed
 * to check that the offsets lie inside it. */
struct virtio_net_hdr;

/* From a header the kernel wrote (a frame read from a TAP): -EPROTO if a
 * checksum position lies outside the frame, -EOPNOTSUPP for a GSO type
 * other than TCPv4/TCPv6 (UDP, ECN: never offered, see pvk_tap_offload). */
int pvk_net_meta_from_vnet(const struct virtio_net_hdr *vh, size_t len,
			   struct pvk_net_meta *m);
/* To a header for a frame we write to a TAP: the metadata is checked the
 * same way first (it may come from a guest): -EPROTO, -EOPNOTSUPP, or
 * -EINVAL for GSO without a partial checksum or with gso_size 0. */
int pvk_net_meta_to_vnet(const struct pvk_net_meta *m, size_t len,
			 struct virtio_net_hdr *vh);

/* --- TAP ---------------------------------------------------------------- */

#define PVK_TAP_VNET_HDR (1u << 0) /* a virtio_net_hdr before each frame */
#define PVK_TAP_MULTI_QUEUE (1u << 1)
#define PVK_TAP_VALID_FLAGS (PVK_TAP_VNET_HDR | PVK_TAP_MULTI_QUEUE)

/*
 * Create (or attach to) TAP device @name -- a name, or a template with
 * one "%d" the kernel fills in -- with @nqueues queues (1 unless
 * PVK_TAP_MULTI_QUEUE; at most 16), non-blocking, close-on-exec; the fds
 * go to @fds[@nqueues], the name to @ifname.  The device is not
 * persistent: it goes when the last fd closes.  With PVK_TAP_VNET_HDR the
 * header is the 10-byte struct virtio_net_hdr.  -EINVAL for bad flags or
 * a name too long; else the kernel's error (-EPERM without CAP_NET_ADMIN,
 * -ENOENT without /dev/net/tun, -EBUSY if @name exists with other flags).
 */
int pvk_tap_open(const char *name, unsigned int flags, unsigned int nqueues,
		 int *fds, char ifname[PVK_NET_IFNAMSIZ]);
/* Close @n fds (ignoring negative ones) and set them to -1. */
void pvk_tap_close(int *fds, unsigned int n);

/* Attach (@on) or detach one queue of a multi-queue TAP (TUNSETQUEUE):
 * the kernel steers frames only to attached queues, so a reader serving
 * fewer queues than it opened detaches the rest.  Already in that state:
 * 0. */
int pvk_tap_queue_enable(int fd, bool on);

/* Which offloads the reader of @fd accepts (TUNSETOFFLOAD): frames with a
 * partial checksum (PVK_TAP_OFF_CSUM) and TCP segments larger than the MTU
 * (TSO4/TSO6, which need CSUM).  Without them the kernel completes
 * checksums and segments before handing a frame to us. */
#define PVK_TAP_OFF_CSUM (1u << 0)
#define PVK_TAP_OFF_TSO4 (1u << 1)
#define PVK_TAP_OFF_TSO6 (1u << 2)
int pvk_tap_offload(int fd, unsigned int offloads);

/* --- netlink ------------------------------------------------------------ */

struct pvk_nl;

/* A route netlink socket in the caller's network namespace. */
int pvk_nl_open(struct pvk_nl **nl);
void pvk_nl_close(struct pvk_nl *nl);

/* The ifindex of @name (> 0), or -ENODEV. */
int pvk_nl_link_index(struct pvk_nl *nl, const char *name);
/* The MTU of @name into *@mtu. */
int pvk_nl_link_mtu(struct pvk_nl *nl, const char *name, uint32_t *mtu);
/* The ifindex of @name's master (a bridge), 0 if none. */
int pvk_nl_link_master(struct pvk_nl *nl, const char *name);
int pvk_nl_link_set_up(struct pvk_nl *nl, const char *name, bool up);
/* 68 to 65535, within what the device accepts (-EINVAL). */
int pvk_nl_link_set_mtu(struct pvk_nl *nl, const char *name, uint32_t mtu);
int pvk_nl_link_set_mac(struct pvk_nl *nl, const char *name,
			const uint8_t mac[6]);
/* Enslave @name to bridge @master; @master NULL frees it. */
int pvk_nl_link_set_master(struct pvk_nl *nl, const char *name,
			   const char *master);
/* Move @name to the network namespace of the fd @netns_fd
 * (/proc/<pid>/ns/net, /run/netns/<name>). */
int pvk_nl_link_set_netns(struct pvk_nl *nl, const char *name, int netns_fd);
int pvk_nl_link_del(struct pvk_nl *nl, const char *name);
/* A bridge: -EEXIST if a link of that name exists already. */
int pvk_nl_bridge_add(struct pvk_nl *nl, const char *name);
/* A veth pair @a <-> @b. */
int pvk_nl_veth_add(struct pvk_nl *nl, const char *a, const char *b);

#ifdef __cplusplus
}
#endif

#endif /* PVKIT_NET_H */
