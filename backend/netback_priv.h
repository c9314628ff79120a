/* SPDX-License-Identifier: MIT */
/*
 * netback_priv.h -- private: the narrow interface between the netback
 * control plane (netback_xs.c: xenstore, TAP and bridge set-up, xenbus
 * states) and its data path (netback.c: rings, grant copies, the TAP's
 * queues).  One way: the data path calls nothing in the control plane.
 *
 * The control plane owns struct nb_vif; it fills a struct nb_connect from
 * the frontend's nodes and hands it to nb_vif_connect().  The queue threads
 * own their struct nb_queue until nb_vif_disconnect() has joined them.
 */
#ifndef PVK_BACKEND_NETBACK_PRIV_H
#define PVK_BACKEND_NETBACK_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <pvkit/net.h>
#include <pvkit/netback.h>
#include <pvkit/netif.h>
#include <pvkit/xenbus.h>

struct nb_queue_conf {
	uint32_t tx_ref, rx_ref;
	uint32_t evtchn_tx, evtchn_rx; /* equal unless split */
};

struct nb_connect {
	uint32_t nr_queues;
	bool split, rx_notify, sg, gso4, gso6, csum;
	bool mcast_control; /* the frontend's request-multicast-control */
	bool ctrl; /* a control ring: */
	uint32_t ctrl_ref, ctrl_evtchn;
	struct nb_queue_conf q[PVK_NETBACK_MAX_QUEUES];
};

/* Counters of one queue: written by its thread, read by the stats code
 * with relaxed atomics (a snapshot). */
struct nb_counters {
	uint64_t tx_packets, tx_bytes, rx_packets, rx_bytes;
	uint64_t tx_dropped, rx_dropped, errors, events, notifies;
};

struct nb_queue;
struct nb_ctrl;

struct pvk_netback {
	struct pvk_xenbus_bus *bus;
	struct pvk_netback_config cfg;
	char type[PVK_XENBUS_TYPE_MAX], fe_type[PVK_XENBUS_TYPE_MAX];
	char bridge[PVK_NET_IFNAMSIZ];
	char tap_fmt[32];
	struct pvk_xenbus_driver drv;
};

/* A vif: the bus device's private state. */
struct nb_vif {
	struct pvk_netback *nb;
	struct pvk_xenbus_backdev *bd;
	struct pvk_xenbus_bus *bus; /* logging from the data path */
	struct pvk_hv *hv;
	uint32_t fe_domid, devid;
	char name[32]; /* "<fe>/<devid>" */
	uint8_t mac[6];
	char tap[PVK_NET_IFNAMSIZ], bridge[PVK_NET_IFNAMSIZ];
	uint32_t mtu;
	int tap_fds[PVK_NETBACK_MAX_QUEUES];
	uint32_t max_queues;
	bool tap_up;
	/* tx credit: bytes per interval (0: unlimited); atomics, the control
	 * thread changes them live. */
	uint64_t credit_bytes, credit_usec;

	/* Data path, valid between connect and disconnect. */
	struct nb_connect conn;
	uint32_t nr_queues;
	struct nb_queue *queues[PVK_NETBACK_MAX_QUEUES];
	struct nb_counters old; /* of queues torn down */
	/* Under @lock: the frontend's multicast filter
	 * (request-multicast-control) and flow hash (control ring). */
	pthread_mutex_t lock;
	struct {
		uint8_t alg; /* PVK_NETIF_CTRL_HASH_ALGORITHM_* */
		uint32_t flags; /* 1 << PVK_NETIF_CTRL_HASH_TYPE_* */
		uint8_t key[PVK_NETIF_CTRL_TOEPLITZ_KEY_MAX];
		uint32_t size; /* of the mapping */
		uint32_t mapping[PVK_NETIF_CTRL_HASH_MAPPING_MAX];
	} hash;
	struct nb_ctrl *ctrl;
	uint8_t mcast[PVK_NETBACK_MCAST_MAX][6];
	uint32_t mcast_n;
	bool mcast_overflow;
	/* atomic: the frontend's request-multicast-control, read at connect
	 * and watched (feature-dynamic-multicast-control) */
	bool mcast_live;
	bool broken; /* atomic: a queue latched a fatal violation */
};

/* netback.c */
/* Map and start every queue of @c; on failure nothing is left behind. */
int nb_vif_connect(struct nb_vif *vif, const struct nb_connect *c);
/* Stop, join, unmap; idempotent. */
void nb_vif_disconnect(struct nb_vif *vif);
/* Add or remove a multicast address (any queue's thread). */
void nb_mcast_update(struct nb_vif *vif, const uint8_t addr[6], bool add);
/* May a frame to this destination go to the guest? */
bool nb_mcast_pass(struct nb_vif *vif, const uint8_t *frame);
/* netback_ctrl.c: the control ring's thread; stop is idempotent. */
int nb_ctrl_start(struct nb_vif *vif, uint32_t ref, uint32_t evtchn);
void nb_ctrl_stop(struct nb_vif *vif);
/* The frame's flow hash as the frontend configured it: the hash type
 * (>= 0) with *@hash, or -ENOENT (no algorithm, no type applies). */
int nb_hash(struct nb_vif *vif, const uint8_t *frame, size_t len,
	    uint32_t *hash);
/* Sum of the queues' counters and vif->old. */
void nb_vif_counters(struct nb_vif *vif, struct nb_counters *out);

#endif /* PVK_BACKEND_NETBACK_PRIV_H */
