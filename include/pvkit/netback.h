/* SPDX-License-Identifier: MIT */
/*
 * pvkit/netback.h -- the network backend (libpvkit-back): a driver on the
 * backend bus (pvkit/xenbus.h) that serves each vif the toolstack writes
 * under /local/domain/<self>/backend/<type>/ with a TAP device on a
 * bridge, as Linux's xen-netback with the vif-bridge hotplug script does,
 * but with no script: pvkit does the hotplug part itself over rtnetlink.
 *
 *   probe    read mac (six hex pairs), handle, script, bridge (default
 *            xenbr0), mtu, rate; create TAP vif<fe>.<devid> (multi-queue,
 *            vnet header), set its MTU, put it on the bridge (created if
 *            missing), bring it up; a failure writes hotplug-status=error
 *            and hotplug-error.
 *   publish  feature-sg, feature-gso-tcpv4, feature-gso-tcpv6,
 *            feature-ipv6-csum-offload, feature-rx-copy=1,
 *            feature-rx-flip=0, feature-split-event-channels,
 *            multi-queue-max-queues, feature-multicast-control,
 *            feature-ctrl-ring, hotplug-status=connected (what libxl
 *            waits for, written before Connected);
 *            feature-dynamic-multicast-control is written 0 (the filter
 *            is read at connect, not watched).
 *   connect  (frontend Connected) read multi-queue-num-queues and, per
 *            queue (flat, or queue-N/), tx-ring-ref, rx-ring-ref,
 *            event-channel or event-channel-tx/-rx; request-rx-copy must
 *            be 1; feature-rx-notify (without it the rx ring is polled,
 *            as Mini-OS and Unikraft frontends need), feature-sg,
 *            request-multicast-control (then multicast frames reach the
 *            guest only for addresses it added with MCAST_ADD extras, at
 *            most PVK_NETBACK_MCAST_MAX; broadcasts always),
 *            feature-gso-tcpv4/v6, feature-no-csum-offload decide what the
 *            TAP hands us (the kernel completes checksums and segments for
 *            a frontend that cannot take them).  One thread per queue.
 *   control ring (ctrl-ring-ref, event-channel-ctrl, when the frontend
 *            writes them): Toeplitz hashing -- algorithm, hash types, key
 *            (<= 40 bytes), mapping size (<= 128) and table (entries below
 *            the number of queues) -- validated as Linux's netback does;
 *            each frame to the guest then carries a hash extra.  The
 *            mapping is kept and checked but does not steer: which queue
 *            a frame arrives on is the TAP's (the kernel's flow hash).
 *   rate     `rate` = "bytes,usec" (as libxl writes it): at most that many
 *            bytes of tx per interval, with bursts up to max(bytes, 128
 *            KiB) so that a 64 KiB GSO packet always passes; changed live.
 *
 * Data path.  TX (guest to dom0): each packet's slots (NETTXF_more_data)
 * and extra-info slots are copied once and validated, its data is grant-
 * copied out of the frontend's pages into private memory, a blank
 * checksum is set up from the headers (pvk_net_csum_setup), and the frame
 * goes to the TAP with a virtio_net_hdr carrying checksum and GSO
 * metadata.  RX (dom0 to guest): frames read from the TAP (queue chosen by
 * the kernel's flow hash) are grant-copied into the buffers the frontend
 * posted, with a GSO extra and checksum flags; each response goes in the
 * slot of the request it answers.
 *
 * Hostile frontends, as Linux's xen-netback checks them.  Fatal (the vif is
 * latched broken with one log line, its rings no longer read; every other
 * device keeps working): a request producer index beyond the free slots;
 * more than PVK_NETBACK_FATAL_SLOTS slots in a packet; a fragment larger
 * than what remains of the packet; offset + size beyond the page; an
 * extra-info slot of an unknown type; GSO with size 0 or an unknown type.
 * Per packet (answered NETIF_RSP_ERROR, counted, the vif goes on): more
 * than PVK_NETBACK_MAX_SLOTS slots; a packet shorter than an Ethernet
 * header; a zero-length fragment; a grant that does not copy; headers whose
 * checksum cannot be set up.  RX: the frontend's rx requests are bounded
 * like the tx ones; a frame waits in a bounded place of one frame per
 * queue (the TAP's own queue holds the rest, bounded by its txqueuelen);
 * when the frontend posts no buffer for PVK_NETBACK_RX_STALL_MS the vif is
 * logged stalled and frames are dropped (counted) until buffers come.
 */
#ifndef PVKIT_NETBACK_H
#define PVKIT_NETBACK_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <pvkit/xenbus.h>

#ifdef __cplusplus
extern "C" {
#endif

struct pvk_netback;

#define PVK_NETBACK_DEF_MAX_QUEUES 4u
#define PVK_NETBACK_MAX_QUEUES 16u
#define PVK_NETBACK_MAX_SLOTS 18u /* XEN_NETBK_LEGACY_SLOTS_MAX: drop above */
#define PVK_NETBACK_FATAL_SLOTS 20u /* fatal_skb_slots: fatal above */
#define PVK_NETBACK_RX_STALL_MS 10000u
#define PVK_NETBACK_MCAST_MAX 64u /* then every multicast frame passes */

struct pvk_netback_config {
	/* Backend directory type, default "vif".  On a Xen dom0 whose kernel
	 * runs xen-netback use another (e.g. "pvkvif"); the frontend still
	 * sees an ordinary vif. */
	const char *type;
	uint32_t max_queues; /* multi-queue-max-queues; 0 = default */
	/* Offer only feature-rx-copy: no sg, gso, csum offload, multi-queue
	 * or split event channels (what the oldest frontends know). */
	bool minimal;
	/* Bridge for a vif whose `bridge` node is missing (default xenbr0);
	 * a bridge that does not exist is created. */
	const char *bridge;
	/* TAP name template, "%u" twice for fe and devid; default
	 * "vif%u.%u" as Xen names them. */
	const char *tap_fmt;
	/* The frontends' device directory type, default "vif"; a guest
	 * driver of its own binds another (pvkit-netfront: "pvkvif"). */
	const char *fe_type;
};

/* Serve @cfg's directory type on @bus (NULL cfg: defaults).  -EINVAL for a
 * bad config, -EEXIST if the type is served already. */
int pvk_netback_create_on(struct pvk_netback **nb, struct pvk_xenbus_bus *bus,
			  const struct pvk_netback_config *cfg);
/* Unregister (disconnecting every vif, deleting its TAP) and free. */
void pvk_netback_destroy(struct pvk_netback *nb);

/*
 * Per-vif state and counters as text, the format of pvk_blkback_stats:
 *   device vif <fe>/<devid> <phase> tap=<name> bridge=<br> mac=<mac>
 *          queues=<n> features=<...>
 *   counters tx_packets=<n> tx_bytes=<n> rx_packets=<n> rx_bytes=<n>
 *            tx_dropped=<n> rx_dropped=<n> errors=<n> events=<n>
 *            notifies=<n> broken=<0|1>
 * (tx: from the guest; rx: to the guest.)
 */
int pvk_netback_stats(struct pvk_netback *nb, FILE *f);

#ifdef __cplusplus
}
#endif

#endif /* PVKIT_NETBACK_H */
