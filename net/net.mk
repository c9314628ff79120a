# SPDX-License-Identifier: MIT
# libpvkit-net: host networking around the netif rings -- frame headers,
# checksum set-up, flow hashes, vnet headers, TAP devices and rtnetlink
# (libmnl).
LIBS += net
net_SRCS := net/frame.c net/tap.c net/netlink.c
net_MAP := net/libpvkit-net.map
net_LDLIBS := -lmnl
net_PCREQ := libmnl
net_DESC := pvkit host networking: frames, checksums, Toeplitz, TAP, rtnetlink
