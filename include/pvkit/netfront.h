/* SPDX-License-Identifier: MIT */
/*
 * pvkit/netfront.h -- the network-device frontend (libpvkit-front): a Xen
 * virtual network interface (vif) opened from inside a guest domain, with
 * a batched packet interface carrying offload metadata.
 *
 * Protocol: Xen's io/netif.h (pvkit/netif.h is the wire format).  The
 * frontend writes what Linux's xen-netfront writes -- tx-ring-ref,
 * rx-ring-ref, event-channel (or event-channel-tx/-rx with
 * feature-split-event-channels), multi-queue-num-queues and queue-N/...,
 * request-rx-copy, feature-rx-notify, feature-sg, feature-gso-tcpv4,
 * feature-gso-tcpv6, feature-ipv6-csum-offload (feature-no-csum-offload
 * with PVK_NETFRONT_NO_CSUM) -- and reads from the backend
 * feature-rx-copy (required), feature-sg, feature-gso-tcpv4/6,
 * feature-ipv6-csum-offload, feature-split-event-channels and
 * multi-queue-max-queues; its MAC and MTU come from its own directory
 * (mac, mtu), where the toolstack wrote them.
 *
 * Data path.  Each queue has a tx and an rx ring of one page (256 slots)
 * and a page granted to the backend for every slot of each: a frame sent
 * is copied into the tx pages of its slots (one page each, so a frame
 * takes ceil(len / 4096) slots, plus one for a GSO extra), and a frame
 * received is copied out of the rx pages the backend grant-copied it into.
 * The rx ring is kept full of buffers.  The pages come from the frontend
 * grant pool and stay granted while connected (see "Grants" in
 * pvkit/blkfront.h): the backend only ever sees frames of this interface.
 *
 * Hostile backend.  Responses are copied once, then checked.  A tx
 * response naming an id out of range or not in flight, an rx response
 * in a slot whose request carried another id, or a producer index ahead
 * of our requests latch the interface broken: one log line naming the
 * violation, every later call fails with -EIO.  A frame that is only
 * malformed -- an rx data slot with offset + size beyond its page, a bad
 * status, more than PVK_NETFRONT_MAX_SLOTS slots, an unknown extra, a bad
 * GSO type or size -- is dropped and counted (stats.rx_errors), as
 * Linux's netfront does, and the rings go on; a frame longer than the
 * caller's buffer is dropped and counted in stats.rx_dropped.  Backend xenstore nodes are read once per connection; a malformed
 * one fails the connection (-EPROTO) with one line naming it.
 *
 * Reconnect.  If the backend leaves Connected (pvkit-backd restarts, or
 * Closing -> Closed -> InitWait), the rings are torn down and frames in
 * flight are dropped (stats.tx_dropped; a network may lose frames, and
 * TCP resends them); send() and recv() return -EAGAIN until the backend
 * is Connected again, when new rings are published.  If the device is
 * removed, calls fail with -ENODEV.
 *
 * Threading: one thread at a time drives a struct pvk_netfront and all
 * its queues; the library starts no threads.  Multi-queue spreads frames
 * over rings the backend serves in parallel (a thread per ring in
 * pvkit-backd).  As with blkfront, the handle consumes the xenstore watch
 * queue of its pvk_hv handle: one handle per device.
 *
 * Errors are -errno: -EINVAL (bad arguments), -EMSGSIZE (a frame longer
 * than 65535 bytes, or offloads the backend did not offer), -EAGAIN
 * (ring full, or not connected), -EIO (broken), -ENODEV (removed),
 * -ETIMEDOUT, -EPROTO (malformed backend nodes at open).
 */
#ifndef PVKIT_NETFRONT_H
#define PVKIT_NETFRONT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pvkit/hv.h>
#include <pvkit/net.h>

#ifdef __cplusplus
extern "C" {
#endif

struct pvk_netfront;

#define PVK_NETFRONT_MAX_QUEUES 8
/* Slots one frame may take, as Linux's netback (XEN_NETBK_LEGACY_SLOTS_MAX). */
#define PVK_NETFRONT_MAX_SLOTS 18
/* The largest frame send() takes (first slot's size is 16 bits). */
#define PVK_NETFRONT_MAX_TX_FRAME 65535u
/* A receive buffer this large takes any frame a backend may deliver. */
#define PVK_NETFRONT_MAX_RX_FRAME (PVK_NETFRONT_MAX_SLOTS * 4096u)

/* pvk_netfront_opts.flags */
#define PVK_NETFRONT_NO_SG (1u << 0) /* frames of one slot only */
#define PVK_NETFRONT_NO_GSO (1u << 1) /* no TCP segmentation offload */
#define PVK_NETFRONT_NO_CSUM (1u << 2) /* feature-no-csum-offload */
#define PVK_NETFRONT_NO_SPLIT_EVTCHN (1u << 3) /* one port per queue */
#define PVK_NETFRONT_NO_RX_NOTIFY (1u << 4) /* let the backend poll */
#define PVK_NETFRONT_VALID_FLAGS (0x1fu)

/*
 * Open options; NULL or a zero field means the default.
 * max_queues: 1..8, default one per online CPU up to 4 (capped by
 *   multi-queue-max-queues).
 * connect_timeout_ms: how long open waits for the backend; default
 *   10000, -1 forever.
 * log: where the library's log lines go (one line, no newline), with
 *   @log_arg; default stderr, prefixed "pvk-netfront vif<devid>: ".
 */
struct pvk_netfront_opts {
	unsigned int flags;
	unsigned int max_queues;
	int connect_timeout_ms;
	void (*log)(void *log_arg, const char *line);
	void *log_arg;
};

/* What was negotiated; valid while connected. */
struct pvk_netfront_info {
	uint32_t devid; /* the vif's handle: device/vif/<devid> */
	uint32_t backend_id;
	uint8_t mac[6];
	uint32_t mtu;
	uint32_t nr_queues;
	uint32_t tx_ring_entries, rx_ring_entries;
	bool sg, gso_tcpv4, gso_tcpv6, csum, ipv6_csum;
	bool split_evtchn;
	uint32_t connects; /* 1, plus one per reconnect */
};

/*
 * Open the vif @devid of the domain @hv acts as (device/vif/<devid>),
 * negotiate and wait until the backend is Connected.  Returns 0 with
 * *@nf set, or -ENOENT (no such device), -ETIMEDOUT, -EPROTO, -errno.
 * @hv must stay open until pvk_netfront_close().
 */
int pvk_netfront_open(struct pvk_netfront **nf, struct pvk_hv *hv,
		      uint32_t devid, const struct pvk_netfront_opts *opts);
/* Switch to Closing, wait (at most 2 s) for the backend to close, then
 * Closed; free the rings and grants.  NULL is a no-op. */
void pvk_netfront_close(struct pvk_netfront *nf);

void pvk_netfront_info(const struct pvk_netfront *nf,
		       struct pvk_netfront_info *info);
/* NULL, or why the interface was latched broken. */
const char *pvk_netfront_broken_reason(const struct pvk_netfront *nf);
/* Connected now (frames flow)? */
bool pvk_netfront_connected(const struct pvk_netfront *nf);

/*
 * A frame and its offload metadata.
 * send: data/len in; meta: PVK_NET_META_CSUM_PARTIAL sends the frame with
 *   its TCP/UDP checksum still to be completed (NETTXF_csum_blank; the
 *   field holds the pseudo-header sum, as a TAP hands it out), the backend
 *   finds csum_start itself; DATA_VALID: checksums already checked; a GSO
 *   type with gso_size sends one large TCP frame for the backend to
 *   segment (needs info.gso_tcpv4/6 and CSUM_PARTIAL).
 * recv: data is the caller's buffer and len its size on entry; on return
 *   len is the frame's length, meta says CSUM_PARTIAL (with csum_start
 *   and csum_offset found by parsing the frame) or DATA_VALID as the
 *   backend flagged it, GSO as its extra said, and hash_type >= 0 with
 *   hash if the backend sent a hash extra (else -1).
 */
struct pvk_netfront_pkt {
	void *data;
	uint32_t len;
	struct pvk_net_meta meta;
	int hash_type; /* PVK_NETIF_CTRL_HASH_TYPE_*, or -1 */
	uint32_t hash;
};

/*
 * Send up to @n frames on queue @queue, in order, and notify the backend
 * once.  Returns how many were taken (>= 1), or -EAGAIN if not one fitted
 * (ring full, or not connected: wait), or -errno for the first frame if
 * it is invalid (-EINVAL, -EMSGSIZE; the frames before it were sent).
 * The frames are copied: the caller's buffers are free on return.
 */
int pvk_netfront_send(struct pvk_netfront *nf, unsigned int queue,
		      const struct pvk_netfront_pkt *pkts, unsigned int n);
/*
 * Receive up to @n frames from queue @queue into the caller's buffers
 * (see struct pvk_netfront_pkt); returns how many (0 if none yet), or
 * -EAGAIN (not connected), -EIO, -ENODEV.  Never blocks.
 */
int pvk_netfront_recv(struct pvk_netfront *nf, unsigned int queue,
		      struct pvk_netfront_pkt *pkts, unsigned int n);

/*
 * Waiting.  pvk_netfront_fd() polls readable when there may be work
 * (backend events, xenstore changes).  After it does, call
 * pvk_netfront_process(): it acts on events and state changes, collects
 * tx completions, and returns 0, or -EIO / -ENODEV once nothing can ever
 * flow.  Before sleeping on the fd, call pvk_netfront_arm(): it asks the
 * backend for a notification at the next rx frame and tx completion and
 * returns > 0 if work arrived meanwhile (do not sleep then).
 * pvk_netfront_wait() does all three: waits up to @timeout_ms (-1
 * forever) for work; returns > 0 when there may be some, 0 on timeout.
 */
int pvk_netfront_fd(const struct pvk_netfront *nf);
int pvk_netfront_process(struct pvk_netfront *nf);
int pvk_netfront_arm(struct pvk_netfront *nf);
int pvk_netfront_wait(struct pvk_netfront *nf, int timeout_ms);
/* Free tx slots on @queue now (0 if not connected). */
unsigned int pvk_netfront_tx_space(const struct pvk_netfront *nf,
				   unsigned int queue);

struct pvk_netfront_stats {
	uint64_t tx_packets, tx_bytes, tx_errors, tx_dropped;
	uint64_t rx_packets, rx_bytes, rx_errors, rx_dropped;
	uint64_t tx_gso, rx_gso;
	uint64_t notifies, events;
};
void pvk_netfront_stats(const struct pvk_netfront *nf,
			struct pvk_netfront_stats *st);

#ifdef __cplusplus
}
#endif

#endif /* PVKIT_NETFRONT_H */
