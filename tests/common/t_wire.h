/* SPDX-License-Identifier: MIT */
/*
 * t_wire.h -- the far end of a test bridge, shared by the network tests:
 * a veth pair with one end on the bridge and a packet socket (with
 * virtio_net_hdrs, so offload metadata is seen) on the other, for frames
 * that pvkit's netback puts on or takes off the bridge.
 */
#ifndef PVK_TESTS_T_WIRE_H
#define PVK_TESTS_T_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct virtio_net_hdr;

/* Move this process to a network namespace of its own, without IPv6 (no
 * kernel chatter on the wire); -1 after saying "SKIP: ..." when it
 * cannot (not root, no /dev/net/tun): the test then exits 77. */
int t_net_isolate(void);
/* veth pvkwa (on @bridge) <-> pvkwb, both with @mtu, up and with carrier
 * (a bridge drops what it would send to a port without one); returns the
 * packet socket bound to pvkwb, or -errno. */
int t_wire_open(const char *bridge, unsigned int mtu);
/* Remove the veth pair and @bridge. */
void t_wire_close(int ps, const char *bridge);
/* The next frame on the wire that is ours -- broadcast, ethertype 0x88b5
 * or IPv4 (the kernel's own chatter on a fresh bridge is skipped) -- with
 * its vnet header; its length, or -ETIMEDOUT after @ms. */
ssize_t t_wire_read(int ps, struct virtio_net_hdr *vh, void *buf, size_t len,
		    int ms);
/* Send @f on the wire with @vh (NULL: no offloads); bytes written. */
ssize_t t_wire_write(int ps, const struct virtio_net_hdr *vh, const void *f,
		     size_t len);
/* A broadcast frame with ethertype 0x88b5 from @src, its payload a
 * pattern of @seed. */
void t_frame_fill(uint8_t *f, size_t len, const uint8_t src[6], uint8_t seed);

#endif /* PVK_TESTS_T_WIRE_H */
