// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * pvkit-netfront: a network device on Xen netif rings, bound to pvkit's own
 * xenbus device type "pvkvif" (device/pvkvif/<devid>), so that it never
 * races the stock xen-netfront for a vif.
 *
 * Data path: each queue owns one page per tx ring id (tx bounce pages) and
 * one per rx ring id (rx buffers), granted to the backend once for the
 * connection.  Every packet is copied through them, so the backend never
 * sees a guest page it was not given for this purpose (a trusted=0
 * bounce).  rx is rx-copy only; a packet may span several slots (SG) with
 * GSO (TCPv4/v6) and checksum offload both ways; queues (multi-queue) with
 * one event channel each or split tx/rx channels; the control ring sets up
 * Toeplitz hashing, and multicast filtering is asked for when offered.
 *
 * Hostile backend: every response is copied out of its ring once
 * (pvk_ring_get) and checked on the copy (netfront-core.h); the backend's
 * rsp_prod is bounded by what we published (pvk_ring_peek).  On any
 * violation the device is latched broken: one log line naming the value,
 * carrier off, no ring is touched again.
 */
#include <linux/etherdevice.h>
#include <linux/interrupt.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/netdevice.h>
#include <linux/rtnetlink.h>
#include <linux/skbuff.h>
#include <linux/slab.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <net/tcp.h>
#include <xen/events.h>
#include <xen/grant_table.h>
#include <xen/page.h>
#include <xen/xen.h>
#include <xen/xenbus.h>

#include "netfront-core.h"
#include "pvkit-front.h"

#define PVKNF_TYPE "pvkvif"
#define PVKNF_MAX_QUEUES 8
#define PVKNF_NR_TX                           \
	PVK_RING_NR_ENTS_CONST(PVK_PAGE_SIZE, \
			       sizeof(union pvk_netif_tx_sring_entry))
#define PVKNF_NR_RX                           \
	PVK_RING_NR_ENTS_CONST(PVK_PAGE_SIZE, \
			       sizeof(union pvk_netif_rx_sring_entry))
#define PVKNF_RX_HDR 128 /* bytes copied into an rx skb's linear part */
#define PVKNF_MC_MAX 32 /* multicast addresses filtered by the backend */
#define PVKNF_HASH_KEY_LEN PVK_NETIF_CTRL_TOEPLITZ_KEY_MAX

static unsigned int max_queues;
module_param(max_queues, uint, 0444);
MODULE_PARM_DESC(max_queues,
		 "most queues per vif (default 0: online CPUs, at most 4)");
static bool split_evtchn = true;
module_param(split_evtchn, bool, 0444);
MODULE_PARM_DESC(split_evtchn, "use split tx/rx event channels if offered");
static bool ctrl_ring = true;
module_param(ctrl_ring, bool, 0444);
MODULE_PARM_DESC(ctrl_ring,
		 "use the control ring (Toeplitz hashing) if offered");

struct pvknf_info;

struct pvknf_queue {
	struct pvknf_info *info;
	unsigned int idx;
	char tx_name[IFNAMSIZ + 12], rx_name[IFNAMSIZ + 12];
	evtchn_port_t tx_evtchn, rx_evtchn; /* equal unless split */
	int tx_irq, rx_irq;

	spinlock_t tx_lock; /* tx ring, ids, tx stats */
	struct pvk_ring tx;
	void *tx_sring;
	grant_ref_t tx_ring_ref;
	struct page *tx_pages[PVKNF_NR_TX];
	grant_ref_t tx_grefs[PVKNF_NR_TX];
	bool tx_inflight[PVKNF_NR_TX];
	unsigned int tx_nulls; /* extra-info slots owed a NULL answer */
	u16 tx_free[PVKNF_NR_TX];
	unsigned int tx_nfree;
	/* the packet being sent (xmit's scratch, off the stack) */
	union pvk_netif_tx_slot tx_slots[PVKNF_MAX_SLOTS + 1];
	pvk_grant_ref_t tx_sgrefs[PVKNF_MAX_SLOTS];
	u16 tx_sids[PVKNF_MAX_SLOTS];
	u64 tx_packets, tx_bytes, tx_errors, tx_dropped;

	/* rx: only the NAPI poll touches these once connected */
	struct napi_struct napi;
	bool napi_added, napi_on;
	struct pvk_ring rx;
	void *rx_sring;
	grant_ref_t rx_ring_ref;
	struct page *rx_pages[PVKNF_NR_RX];
	grant_ref_t rx_grefs[PVKNF_NR_RX];
	u32 rx_cons, rx_prod; /* ring indices, mirrors of the ring's */
	struct pvknf_rx rxst;
	struct sk_buff *rx_skb;
	unsigned int rx_fill; /* bytes used in the skb's last fragment */
	u64 rx_packets, rx_bytes, rx_errors, rx_dropped;
};

struct pvknf_info {
	struct xenbus_device *xbdev;
	struct net_device *netdev;
	struct mutex mutex; /* connect / teardown */
	struct pvknf_be be;
	unsigned int txf; /* PVKNF_F_*: what the backend takes */
	unsigned int nr_queues;
	struct pvknf_queue *queues;
	struct pvknf_queue __rcu *stats_queues; /* queues, for get_stats64 */
	bool split;
	bool connected; /* packets may be sent */
	bool broken; /* the backend broke the protocol */

	/* control ring: one request at a time, from process context */
	bool ctrl;
	spinlock_t ctrl_lock;
	struct pvk_ring ctrl_ring;
	void *ctrl_sring;
	grant_ref_t ctrl_ring_ref;
	evtchn_port_t ctrl_evtchn;
	int ctrl_irq;
	struct page *ctrl_page; /* key and mapping table, read-only */
	grant_ref_t ctrl_page_gref;
	wait_queue_head_t ctrl_wq;
	bool ctrl_want, ctrl_have, ctrl_dead;
	u16 ctrl_id, ctrl_type;
	struct pvk_netif_ctrl_response ctrl_rsp;
	unsigned int hash_size; /* mapping entries; 0: hashing off */

	/* multicast control */
	bool mcast;
	spinlock_t mc_lock;
	u8 mc_want[PVKNF_MC_MAX][ETH_ALEN];
	unsigned int mc_nwant;
	bool mc_overflow;
	u8 mc_sent[PVKNF_MC_MAX][ETH_ALEN]; /* mc_work's */
	unsigned int mc_nsent;
	struct delayed_work mc_work;
};

/* ---- broken -------------------------------------------------------- */

/* Latch the device broken (once): the log line names @why and @detail
 * (the values, or NULL); @ring, if any, refuses all further work. */
static void pvknf_set_broken(struct pvknf_info *info, struct pvk_ring *ring,
			     unsigned int qidx, const char *why,
			     const char *detail)
{
	if (ring)
		pvk_ring_set_broken(ring, why);
	if (!pvkfront_set_broken(info->xbdev, &info->broken, qidx, why, detail))
		return;
	netif_carrier_off(info->netdev);
	netif_tx_stop_all_queues(info->netdev);
	wake_up_all(&info->ctrl_wq);
}

/* ---- tx ------------------------------------------------------------- */

static unsigned int pvknf_tx_room(struct pvknf_queue *q)
{
	return min_t(unsigned int, q->tx_nfree, pvk_ring_space(&q->tx));
}

/* Room for the largest packet: PVKNF_MAX_SLOTS ids, one more ring slot. */
static bool pvknf_tx_room_max(struct pvknf_queue *q)
{
	return q->tx_nfree >= PVKNF_MAX_SLOTS &&
	       pvk_ring_space(&q->tx) >= PVKNF_MAX_SLOTS + 1;
}

/* Take the tx responses; called with q->tx_lock held.  Returns whether
 * any slot was answered. */
static bool pvknf_tx_complete(struct pvknf_queue *q)
{
	struct pvknf_info *info = q->info;
	struct pvk_netif_tx_response rsp;
	const char *why = NULL;
	bool any = false;
	char detail[48];
	int rc;

	if (READ_ONCE(info->broken) || !q->tx_sring)
		return false;
	for (;;) {
		while ((rc = pvk_netif_tx_get_response(&q->tx, &rsp)) == 1) {
			any = true;
			rc = pvknf_tx_rsp_check(&rsp, q->tx_inflight,
						PVKNF_NR_TX, &q->tx_nulls,
						&why);
			if (rc < 0) {
				snprintf(detail, sizeof(detail),
					 "tx id %u, status %d", rsp.id,
					 rsp.status);
				pvknf_set_broken(info, &q->tx, q->idx, why,
						 detail);
				return any;
			}
			if (rc == PVKNF_TX_NULL)
				continue;
			if (rc == PVKNF_TX_FAILED)
				q->tx_errors++;
			q->tx_inflight[rsp.id] = false;
			q->tx_free[q->tx_nfree++] = rsp.id;
		}
		if (rc == 0)
			rc = pvk_ring_final_check(&q->tx);
		if (rc < 0) {
			pvknf_set_broken(info, NULL, q->idx,
					 pvk_ring_broken_reason(&q->tx), NULL);
			return any;
		}
		if (rc == 0)
			break;
	}
	if (READ_ONCE(info->connected) &&
	    netif_tx_queue_stopped(netdev_get_tx_queue(info->netdev, q->idx)) &&
	    pvknf_tx_room_max(q))
		netif_tx_wake_queue(netdev_get_tx_queue(info->netdev, q->idx));
	return any;
}

static netdev_tx_t pvknf_start_xmit(struct sk_buff *skb, struct net_device *dev)
{
	struct pvknf_info *info = netdev_priv(dev);
	union pvk_netif_tx_slot *slots;
	pvk_grant_ref_t *grefs;
	struct pvknf_tx_pkt p = { .len = skb->len };
	unsigned int qi = skb_get_queue_mapping(skb), i, off, len;
	struct pvknf_queue *q;
	unsigned long flags;
	bool notify;
	int nd, n, k;
	u16 *ids;

	if (!READ_ONCE(info->connected) || qi >= info->nr_queues)
		goto drop;
	q = &info->queues[qi];
	nd = pvknf_tx_nr_data(skb->len);
	if (nd < 0 || nd > (int)PVKNF_MAX_SLOTS)
		goto drop_q;
	if (skb->ip_summed == CHECKSUM_PARTIAL)
		p.csum_blank = true;
	else if (skb->ip_summed == CHECKSUM_UNNECESSARY)
		p.data_validated = true;
	if (skb_is_gso(skb)) {
		if (skb_shinfo(skb)->gso_type & SKB_GSO_TCPV4)
			p.gso_type = PVK_NETIF_GSO_TYPE_TCPV4;
		else if (skb_shinfo(skb)->gso_type & SKB_GSO_TCPV6)
			p.gso_type = PVK_NETIF_GSO_TYPE_TCPV6;
		else
			goto drop_q;
		p.gso_size = skb_shinfo(skb)->gso_size;
	}

	spin_lock_irqsave(&q->tx_lock, flags);
	if (!info->connected || info->broken) {
		spin_unlock_irqrestore(&q->tx_lock, flags);
		goto drop_q;
	}
	if (pvknf_tx_room(q) < (unsigned int)nd + 1) {
		netif_tx_stop_queue(netdev_get_tx_queue(dev, qi));
		spin_unlock_irqrestore(&q->tx_lock, flags);
		return NETDEV_TX_BUSY;
	}
	slots = q->tx_slots;
	grefs = q->tx_sgrefs;
	ids = q->tx_sids;
	for (i = 0; i < (unsigned int)nd; i++) {
		ids[i] = q->tx_free[--q->tx_nfree];
		grefs[i] = q->tx_grefs[ids[i]];
		off = i * PAGE_SIZE;
		len = min_t(unsigned int, skb->len - off, PAGE_SIZE);
		if (skb_copy_bits(skb, off, page_address(q->tx_pages[ids[i]]),
				  len))
			break;
	}
	n = i < (unsigned int)nd ? -EINVAL :
				   pvknf_tx_build(&p, ids, grefs, slots,
						  ARRAY_SIZE(q->tx_slots));
	if (n < 0) {
		while (i--)
			q->tx_free[q->tx_nfree++] = ids[i];
		spin_unlock_irqrestore(&q->tx_lock, flags);
		goto drop_q;
	}
	for (k = 0; k < n; k++) {
		/* The GSO extra is slot 1; pvk_netif_put_tx_extra zeroes the
		 * slot's tail. */
		if (k == 1 && p.gso_type != PVK_NETIF_GSO_TYPE_NONE)
			pvk_netif_put_tx_extra(&q->tx, &slots[k].extra);
		else
			pvk_netif_tx_put_request(&q->tx, &slots[k].req);
	}
	for (i = 0; i < (unsigned int)nd; i++)
		q->tx_inflight[ids[i]] = true;
	q->tx_nulls += n - nd; /* the GSO extra-info slot, if any */
	notify = pvk_ring_push(&q->tx);
	q->tx_packets++;
	q->tx_bytes += skb->len;
	if (!pvknf_tx_room_max(q))
		netif_tx_stop_queue(netdev_get_tx_queue(dev, qi));
	spin_unlock_irqrestore(&q->tx_lock, flags);
	if (notify)
		notify_remote_via_irq(q->tx_irq);
	dev_consume_skb_any(skb);
	return NETDEV_TX_OK;
drop_q:
	q->tx_dropped++; /* racy without the lock; a statistic */
drop:
	dev_kfree_skb_any(skb);
	return NETDEV_TX_OK;
}

/* A filter change for the backend: an empty request carrying an
 * MCAST_ADD/DEL extra on queue 0, as io/netif.h describes. */
static int pvknf_tx_mcast(struct pvknf_info *info, const u8 *addr, bool add)
{
	struct pvknf_queue *q;
	struct pvk_netif_extra_info x = {
		.type = add ? PVK_NETIF_EXTRA_TYPE_MCAST_ADD :
			      PVK_NETIF_EXTRA_TYPE_MCAST_DEL,
	};
	struct pvk_netif_tx_request req = { .flags = PVK_NETTXF_extra_info };
	unsigned long flags;
	bool notify;
	u16 id;

	/* Connected: the queues exist until teardown has cancelled us. */
	if (!READ_ONCE(info->connected))
		return -EIO;
	q = &info->queues[0];
	memcpy(x.u.mcast.addr, addr, ETH_ALEN);
	spin_lock_irqsave(&q->tx_lock, flags);
	if (!info->connected || info->broken) {
		spin_unlock_irqrestore(&q->tx_lock, flags);
		return -EIO;
	}
	if (pvknf_tx_room(q) < 2) {
		spin_unlock_irqrestore(&q->tx_lock, flags);
		return -EBUSY;
	}
	id = q->tx_free[--q->tx_nfree];
	req.id = id;
	req.gref = q->tx_grefs[id];
	pvk_netif_tx_put_request(&q->tx, &req);
	pvk_netif_put_tx_extra(&q->tx, &x);
	q->tx_inflight[id] = true;
	q->tx_nulls++;
	notify = pvk_ring_push(&q->tx);
	spin_unlock_irqrestore(&q->tx_lock, flags);
	if (notify)
		notify_remote_via_irq(q->tx_irq);
	return 0;
}

static bool pvknf_mc_has(u8 (*list)[ETH_ALEN], unsigned int n, const u8 *a)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if (ether_addr_equal(list[i], a))
			return true;
	return false;
}

/* Bring the backend's filter to the wanted list: deletions, then adds. */
static void pvknf_mc_work(struct work_struct *w)
{
	struct pvknf_info *info =
		container_of(to_delayed_work(w), struct pvknf_info, mc_work);
	u8 want[PVKNF_MC_MAX][ETH_ALEN];
	unsigned int nwant, i, j;
	bool overflow;

	spin_lock_bh(&info->mc_lock);
	nwant = info->mc_nwant;
	overflow = info->mc_overflow;
	memcpy(want, info->mc_want, sizeof(want));
	spin_unlock_bh(&info->mc_lock);
	if (overflow)
		netdev_warn_once(
			info->netdev,
			"more multicast addresses than the backend filter holds (%u); keeping %u\n",
			PVKNF_MC_MAX, nwant);
	for (i = 0; i < info->mc_nsent;) {
		if (pvknf_mc_has(want, nwant, info->mc_sent[i])) {
			i++;
			continue;
		}
		if (pvknf_tx_mcast(info, info->mc_sent[i], false))
			goto retry;
		for (j = i + 1; j < info->mc_nsent; j++)
			memcpy(info->mc_sent[j - 1], info->mc_sent[j],
			       ETH_ALEN);
		info->mc_nsent--;
	}
	for (i = 0; i < nwant; i++) {
		if (pvknf_mc_has(info->mc_sent, info->mc_nsent, want[i]))
			continue;
		if (info->mc_nsent >= PVKNF_MC_MAX ||
		    pvknf_tx_mcast(info, want[i], true))
			goto retry;
		memcpy(info->mc_sent[info->mc_nsent++], want[i], ETH_ALEN);
	}
	return;
retry:
	/* Ring full: again soon; not connected: at the next connect. */
	if (READ_ONCE(info->connected) && !READ_ONCE(info->broken))
		schedule_delayed_work(&info->mc_work, HZ / 10);
}

static void pvknf_set_rx_mode(struct net_device *dev)
{
	struct pvknf_info *info = netdev_priv(dev);
	struct netdev_hw_addr *ha;
	unsigned int n = 0;

	spin_lock_bh(&info->mc_lock);
	if (!info->mcast) {
		spin_unlock_bh(&info->mc_lock);
		return;
	}
	info->mc_overflow = false;
	netdev_for_each_mc_addr(ha, dev)
	{
		if (n == PVKNF_MC_MAX) {
			info->mc_overflow = true;
			break;
		}
		memcpy(info->mc_want[n++], ha->addr, ETH_ALEN);
	}
	info->mc_nwant = n;
	schedule_delayed_work(&info->mc_work, 0);
	spin_unlock_bh(&info->mc_lock);
}

/* ---- rx ------------------------------------------------------------- */

/* Append @len bytes at @src to the packet being gathered. */
static int pvknf_rx_append(struct pvknf_queue *q, const u8 *src,
			   unsigned int len)
{
	struct sk_buff *skb = q->rx_skb;
	unsigned int n, i;
	struct page *page;

	if (!skb) {
		skb = napi_alloc_skb(&q->napi, PVKNF_RX_HDR);
		if (!skb)
			return -ENOMEM;
		q->rx_skb = skb;
		q->rx_fill = PAGE_SIZE;
	}
	n = min_t(unsigned int, len, PVKNF_RX_HDR - skb_headlen(skb));
	if (!skb_shinfo(skb)->nr_frags && n) {
		skb_put_data(skb, src, n);
		src += n;
		len -= n;
	}
	while (len) {
		i = skb_shinfo(skb)->nr_frags;
		if (i && q->rx_fill < PAGE_SIZE) {
			n = min_t(unsigned int, len, PAGE_SIZE - q->rx_fill);
			memcpy(page_address(skb_frag_page(
				       &skb_shinfo(skb)->frags[i - 1])) +
				       q->rx_fill,
			       src, n);
			skb_coalesce_rx_frag(skb, i - 1, n, 0);
			q->rx_fill += n;
		} else {
			if (i >= MAX_SKB_FRAGS)
				return -EMSGSIZE;
			page = alloc_page(GFP_ATOMIC);
			if (!page)
				return -ENOMEM;
			n = min_t(unsigned int, len, PAGE_SIZE);
			memcpy(page_address(page), src, n);
			skb_add_rx_frag(skb, i, page, 0, n, PAGE_SIZE);
			q->rx_fill = n;
		}
		src += n;
		len -= n;
	}
	return 0;
}

/* The packet is complete: hand it up or drop it.  Returns 1 (a packet). */
static int pvknf_rx_deliver(struct pvknf_queue *q)
{
	struct net_device *dev = q->info->netdev;
	struct pvknf_rx *st = &q->rxst;
	struct sk_buff *skb = q->rx_skb;

	q->rx_skb = NULL;
	if (st->err) {
		/* The backend's error status, a bad GSO description, or no
		 * memory for the copy. */
		q->rx_dropped++;
		dev_kfree_skb_any(skb);
		return 1;
	}
	if (!skb || skb->len < ETH_HLEN || skb->len != st->len)
		goto drop;
	skb->protocol = eth_type_trans(skb, dev);
	/* skb_checksum_setup() reads the IP header there. */
	skb_reset_network_header(skb);
	if (st->gso_type != PVK_NETIF_GSO_TYPE_NONE) {
		skb_shinfo(skb)->gso_size = st->gso_size;
		skb_shinfo(skb)->gso_type =
			(st->gso_type == PVK_NETIF_GSO_TYPE_TCPV4 ?
				 SKB_GSO_TCPV4 :
				 SKB_GSO_TCPV6) |
			SKB_GSO_DODGY;
		skb_shinfo(skb)->gso_segs = 0;
	}
	if (st->flags & PVK_NETRXF_csum_blank) {
		skb->ip_summed = CHECKSUM_PARTIAL;
		/* Locate the checksum field (the backend leaves it blank). */
		if (skb_checksum_setup(skb, false))
			goto drop;
	} else if (skb_is_gso(skb)) {
		/* GSO without a blank checksum: recompute the pseudo one. */
		skb->ip_summed = CHECKSUM_PARTIAL;
		if (skb_checksum_setup(skb, true))
			goto drop;
	} else if (st->flags & PVK_NETRXF_data_validated) {
		skb->ip_summed = CHECKSUM_UNNECESSARY;
	}
	if (st->hash_valid)
		skb_set_hash(
			skb, st->hash,
			(st->hash_type == PVK_NETIF_CTRL_HASH_TYPE_IPV4_TCP ||
			 st->hash_type == PVK_NETIF_CTRL_HASH_TYPE_IPV6_TCP) ?
				PKT_HASH_TYPE_L4 :
				PKT_HASH_TYPE_L3);
	skb_record_rx_queue(skb, q->idx);
	q->rx_packets++;
	q->rx_bytes += skb->len;
	napi_gro_receive(&q->napi, skb);
	return 1;
drop:
	q->rx_errors++;
	dev_kfree_skb_any(skb);
	return 1;
}

/* Give the backend the buffer of the next request slot (its id is the
 * slot's index in the ring, see netfront-core.h). */
static void pvknf_rx_post(struct pvknf_queue *q)
{
	struct pvk_netif_rx_request req = { 0 };

	req.id = (u16)(q->rx_prod & (PVKNF_NR_RX - 1));
	req.gref = q->rx_grefs[req.id];
	if (pvk_netif_rx_put_request(&q->rx, &req) == 0)
		q->rx_prod++;
}

static int pvknf_poll(struct napi_struct *napi, int budget)
{
	struct pvknf_queue *q = container_of(napi, struct pvknf_queue, napi);
	struct pvknf_info *info = q->info;
	union pvk_netif_rx_slot s;
	const char *why = NULL;
	char detail[64];
	int work = 0, rc;
	u16 id;

	if (!budget)
		return 0;
	while (work < budget && !READ_ONCE(info->broken)) {
		rc = pvk_netif_get_rx_slot(&q->rx, &s);
		if (rc == 0)
			break;
		if (rc < 0) {
			pvknf_set_broken(info, NULL, q->idx,
					 pvk_ring_broken_reason(&q->rx), NULL);
			break;
		}
		id = (u16)(q->rx_cons++ & (PVKNF_NR_RX - 1));
		rc = pvknf_rx_slot(&q->rxst, &s, id, &why);
		if (rc < 0) {
			snprintf(detail, sizeof(detail),
				 "rx id %u at index %u, offset %u, status %d",
				 s.rsp.id, id, s.rsp.offset, s.rsp.status);
			pvknf_set_broken(info, &q->rx, q->idx, why, detail);
			break;
		}
		if (rc == PVKNF_RX_DATA && !q->rxst.err &&
		    pvknf_rx_append(q,
				    (u8 *)page_address(q->rx_pages[id]) +
					    s.rsp.offset,
				    (u16)s.rsp.status))
			q->rxst.err = true; /* no memory: drop the packet */
		pvknf_rx_post(q);
		if (q->rxst.done) {
			work += pvknf_rx_deliver(q);
			pvknf_rx_reset(&q->rxst);
		}
	}
	if (!READ_ONCE(info->broken) && pvk_ring_push(&q->rx))
		notify_remote_via_irq(q->rx_irq);
	if (work >= budget && !READ_ONCE(info->broken))
		return budget;
	if (napi_complete_done(napi, work) && !READ_ONCE(info->broken)) {
		rc = pvk_ring_final_check(&q->rx);
		if (rc > 0)
			napi_schedule(napi);
		else if (rc < 0)
			pvknf_set_broken(info, NULL, q->idx,
					 pvk_ring_broken_reason(&q->rx), NULL);
	}
	return min(work, budget - 1);
}

/* ---- interrupts ---------------------------------------------------- */

/* Whether the backend produced rx responses we have not read: a hint for
 * the spurious-event throttle only (the poll validates the index). */
static bool pvknf_rx_pending(struct pvknf_queue *q)
{
	struct pvk_sring *s = q->rx_sring;

	return READ_ONCE(s->rsp_prod) != q->rx_cons;
}

static bool pvknf_handle_tx(struct pvknf_queue *q)
{
	unsigned long flags;
	bool any;

	spin_lock_irqsave(&q->tx_lock, flags);
	any = pvknf_tx_complete(q);
	spin_unlock_irqrestore(&q->tx_lock, flags);
	return any;
}

static bool pvknf_handle_rx(struct pvknf_queue *q)
{
	if (READ_ONCE(q->info->broken) || !pvknf_rx_pending(q))
		return false;
	napi_schedule(&q->napi);
	return true;
}

static irqreturn_t pvknf_tx_interrupt(int irq, void *dev_id)
{
	bool any = pvknf_handle_tx(dev_id);

	xen_irq_lateeoi(irq, any ? 0 : XEN_EOI_FLAG_SPURIOUS);
	return IRQ_HANDLED;
}

static irqreturn_t pvknf_rx_interrupt(int irq, void *dev_id)
{
	bool any = pvknf_handle_rx(dev_id);

	xen_irq_lateeoi(irq, any ? 0 : XEN_EOI_FLAG_SPURIOUS);
	return IRQ_HANDLED;
}

static irqreturn_t pvknf_interrupt(int irq, void *dev_id)
{
	bool any = pvknf_handle_tx(dev_id);

	any |= pvknf_handle_rx(dev_id);
	xen_irq_lateeoi(irq, any ? 0 : XEN_EOI_FLAG_SPURIOUS);
	return IRQ_HANDLED;
}

/* ---- control ring -------------------------------------------------- */

static irqreturn_t pvknf_ctrl_interrupt(int irq, void *dev_id)
{
	struct pvknf_info *info = dev_id;
	struct pvk_netif_ctrl_response rsp;
	unsigned int eoi = XEN_EOI_FLAG_SPURIOUS;
	const char *why = NULL;
	unsigned long flags;
	char detail[64];
	int rc;

	spin_lock_irqsave(&info->ctrl_lock, flags);
	if (info->broken || info->ctrl_dead)
		goto unlock;
	for (;;) {
		while ((rc = pvk_netif_ctrl_get_response(&info->ctrl_ring,
							 &rsp)) == 1) {
			eoi = 0;
			why = "control response with no request in flight";
			rc = info->ctrl_want ?
				     pvknf_ctrl_rsp_check(&rsp, info->ctrl_id,
							  info->ctrl_type,
							  &why) :
				     -EPROTO;
			if (rc < 0) {
				snprintf(detail, sizeof(detail),
					 "control id %u, type %u, status %u",
					 rsp.id, rsp.type, rsp.status);
				pvknf_set_broken(info, &info->ctrl_ring, 0, why,
						 detail);
				goto unlock;
			}
			info->ctrl_rsp = rsp;
			info->ctrl_want = false;
			info->ctrl_have = true;
			wake_up_all(&info->ctrl_wq);
		}
		if (rc == 0)
			rc = pvk_ring_final_check(&info->ctrl_ring);
		if (rc < 0) {
			pvknf_set_broken(
				info, NULL, 0,
				pvk_ring_broken_reason(&info->ctrl_ring), NULL);
			break;
		}
		if (rc == 0)
			break;
	}
unlock:
	spin_unlock_irqrestore(&info->ctrl_lock, flags);
	xen_irq_lateeoi(irq, eoi);
	return IRQ_HANDLED;
}

/* One control request, answered within 5 s.  Returns the status
 * (PVK_NETIF_CTRL_STATUS_*) with *@data, or -errno. */
static int pvknf_ctrl_call(struct pvknf_info *info, u16 type, u32 d0, u32 d1,
			   u32 d2, u32 *data)
{
	struct pvk_netif_ctrl_request req = { .type = type,
					      .data = { d0, d1, d2 } };
	unsigned long flags;
	bool notify;
	int err;

	spin_lock_irqsave(&info->ctrl_lock, flags);
	if (info->broken || info->ctrl_dead || info->ctrl_want) {
		spin_unlock_irqrestore(&info->ctrl_lock, flags);
		return -EIO;
	}
	req.id = ++info->ctrl_id;
	info->ctrl_type = type;
	err = pvk_netif_ctrl_put_request(&info->ctrl_ring, &req);
	if (err) {
		spin_unlock_irqrestore(&info->ctrl_lock, flags);
		return err;
	}
	info->ctrl_want = true;
	info->ctrl_have = false;
	notify = pvk_ring_push(&info->ctrl_ring);
	spin_unlock_irqrestore(&info->ctrl_lock, flags);
	if (notify)
		notify_remote_via_irq(info->ctrl_irq);
	wait_event_timeout(
		info->ctrl_wq,
		READ_ONCE(info->ctrl_have) || READ_ONCE(info->broken), 5 * HZ);
	spin_lock_irqsave(&info->ctrl_lock, flags);
	if (info->broken) {
		err = -EIO;
	} else if (!info->ctrl_have) {
		/* A late answer would find no request: stop using the ring. */
		info->ctrl_dead = true;
		err = -ETIMEDOUT;
	} else {
		*data = info->ctrl_rsp.data;
		err = (int)info->ctrl_rsp.status;
	}
	info->ctrl_have = false;
	spin_unlock_irqrestore(&info->ctrl_lock, flags);
	return err;
}

/* Toeplitz hashing over IPv4/IPv6 (+TCP) with a random key, the mapping
 * table spreading hashes over the queues.  Returns 0 or -errno; hashing
 * is then off (hash_size 0) and the backend picks queues itself. */
static int pvknf_hash_setup(struct pvknf_info *info)
{
	u32 *page = page_address(info->ctrl_page), flags = 0, size = 0, v;
	u32 types = BIT(PVK_NETIF_CTRL_HASH_TYPE_IPV4) |
		    BIT(PVK_NETIF_CTRL_HASH_TYPE_IPV4_TCP) |
		    BIT(PVK_NETIF_CTRL_HASH_TYPE_IPV6) |
		    BIT(PVK_NETIF_CTRL_HASH_TYPE_IPV6_TCP);
	const char *step;
	int st;

	info->hash_size = 0;
	step = "SET_HASH_ALGORITHM";
	st = pvknf_ctrl_call(info, PVK_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM,
			     PVK_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ, 0, 0, &v);
	if (st)
		goto fail;
	step = "GET_HASH_FLAGS";
	st = pvknf_ctrl_call(info, PVK_NETIF_CTRL_TYPE_GET_HASH_FLAGS, 0, 0, 0,
			     &flags);
	if (st)
		goto fail;
	flags &= types;
	step = "SET_HASH_FLAGS";
	st = pvknf_ctrl_call(info, PVK_NETIF_CTRL_TYPE_SET_HASH_FLAGS, flags, 0,
			     0, &v);
	if (st)
		goto fail;
	netdev_rss_key_fill(page, PVKNF_HASH_KEY_LEN);
	step = "SET_HASH_KEY";
	st = pvknf_ctrl_call(info, PVK_NETIF_CTRL_TYPE_SET_HASH_KEY,
			     info->ctrl_page_gref, PVKNF_HASH_KEY_LEN, 0, &v);
	if (st)
		goto fail;
	step = "GET_HASH_MAPPING_SIZE";
	st = pvknf_ctrl_call(info, PVK_NETIF_CTRL_TYPE_GET_HASH_MAPPING_SIZE, 0,
			     0, 0, &size);
	if (st)
		goto fail;
	size = min_t(u32, size, PVK_NETIF_CTRL_HASH_MAPPING_MAX);
	if (!size)
		return 0;
	step = "SET_HASH_MAPPING_SIZE";
	st = pvknf_ctrl_call(info, PVK_NETIF_CTRL_TYPE_SET_HASH_MAPPING_SIZE,
			     size, 0, 0, &v);
	if (st)
		goto fail;
	pvknf_hash_mapping(page, size, info->nr_queues);
	step = "SET_HASH_MAPPING";
	st = pvknf_ctrl_call(info, PVK_NETIF_CTRL_TYPE_SET_HASH_MAPPING,
			     info->ctrl_page_gref, size, 0, &v);
	if (st)
		goto fail;
	info->hash_size = size;
	return 0;
fail:
	netdev_warn(info->netdev,
		    "control ring: %s answered %d; no Toeplitz hashing\n", step,
		    st);
	return st < 0 ? st : -EIO;
}

/* ---- queues and xenstore -------------------------------------------- */

static void pvknf_queue_free(struct pvknf_queue *q)
{
	struct xenbus_device *dev = q->info->xbdev;

	if (q->napi_on)
		napi_disable(&q->napi);
	q->napi_on = false;
	if (q->rx_evtchn != q->tx_evtchn)
		pvkfront_evtchn_unbind(dev, &q->rx_evtchn, &q->rx_irq, q);
	pvkfront_evtchn_unbind(dev, &q->tx_evtchn, &q->tx_irq, q);
	q->rx_irq = 0;
	q->rx_evtchn = 0;
	if (q->napi_added)
		netif_napi_del(&q->napi);
	q->napi_added = false;
	dev_kfree_skb_any(q->rx_skb);
	q->rx_skb = NULL;
	pvkfront_pages_end(q->tx_pages, q->tx_grefs, PVKNF_NR_TX);
	pvkfront_pages_end(q->rx_pages, q->rx_grefs, PVKNF_NR_RX);
	if (q->tx_sring)
		xenbus_teardown_ring(&q->tx_sring, 1, &q->tx_ring_ref);
	if (q->rx_sring)
		xenbus_teardown_ring(&q->rx_sring, 1, &q->rx_ring_ref);
}

/* Rings, pools, event channels of one queue; rx buffers all posted. */
static int pvknf_queue_setup(struct pvknf_info *info, struct pvknf_queue *q)
{
	struct xenbus_device *dev = info->xbdev;
	const char *name = info->netdev->name;
	unsigned int i;
	int err;

	q->tx_ring_ref = q->rx_ring_ref = INVALID_GRANT_REF;
	err = xenbus_setup_ring(dev, GFP_KERNEL, &q->tx_sring, 1,
				&q->tx_ring_ref);
	if (err)
		return err;
	err = xenbus_setup_ring(dev, GFP_KERNEL, &q->rx_sring, 1,
				&q->rx_ring_ref);
	if (err)
		return err;
	err = pvk_netif_tx_front_init(&q->tx, q->tx_sring, PAGE_SIZE);
	if (!err)
		err = pvk_netif_rx_front_init(&q->rx, q->rx_sring, PAGE_SIZE);
	if (err || pvk_netif_tx_ring_size(PAGE_SIZE) != PVKNF_NR_TX ||
	    pvk_netif_rx_ring_size(PAGE_SIZE) != PVKNF_NR_RX)
		return err ?: -EINVAL;
	err = pvkfront_pages_grant(dev, q->tx_pages, q->tx_grefs, PVKNF_NR_TX,
				   true);
	if (!err)
		err = pvkfront_pages_grant(dev, q->rx_pages, q->rx_grefs,
					   PVKNF_NR_RX, false);
	if (err)
		return err;
	for (i = 0; i < PVKNF_NR_TX; i++)
		q->tx_free[i] = (u16)(PVKNF_NR_TX - 1 - i);
	q->tx_nfree = PVKNF_NR_TX;
	memset(q->tx_inflight, 0, sizeof(q->tx_inflight));
	q->tx_nulls = 0;
	q->rx_cons = q->rx_prod = 0;
	pvknf_rx_reset(&q->rxst);
	for (i = 0; i < PVKNF_NR_RX; i++)
		pvknf_rx_post(q);
	pvk_ring_push(&q->rx); /* the backend is not connected: no notify */

	netif_napi_add(info->netdev, &q->napi, pvknf_poll);
	q->napi_added = true;
	if (netif_running(info->netdev)) {
		napi_enable(&q->napi);
		q->napi_on = true;
	}

	snprintf(q->tx_name, sizeof(q->tx_name), "%s-q%u-tx", name, q->idx);
	snprintf(q->rx_name, sizeof(q->rx_name), "%s-q%u-rx", name, q->idx);
	if (!info->split) {
		snprintf(q->tx_name, sizeof(q->tx_name), "%s-q%u", name,
			 q->idx);
		err = pvkfront_evtchn_bind(dev, &q->tx_evtchn, &q->tx_irq,
					   pvknf_interrupt, q->tx_name, q);
		q->rx_evtchn = q->tx_evtchn;
		q->rx_irq = q->tx_irq;
		return err;
	}
	err = pvkfront_evtchn_bind(dev, &q->tx_evtchn, &q->tx_irq,
				   pvknf_tx_interrupt, q->tx_name, q);
	if (!err)
		err = pvkfront_evtchn_bind(dev, &q->rx_evtchn, &q->rx_irq,
					   pvknf_rx_interrupt, q->rx_name, q);
	return err;
}

static void pvknf_ctrl_free(struct pvknf_info *info)
{
	pvkfront_evtchn_unbind(info->xbdev, &info->ctrl_evtchn, &info->ctrl_irq,
			       info);
	if (info->ctrl_page)
		pvkfront_pages_end(&info->ctrl_page, &info->ctrl_page_gref, 1);
	if (info->ctrl_sring)
		xenbus_teardown_ring(&info->ctrl_sring, 1,
				     &info->ctrl_ring_ref);
	info->ctrl = false;
}

static int pvknf_ctrl_setup(struct pvknf_info *info)
{
	struct xenbus_device *dev = info->xbdev;
	int err;

	info->ctrl_want = info->ctrl_have = info->ctrl_dead = false;
	err = xenbus_setup_ring(dev, GFP_KERNEL, &info->ctrl_sring, 1,
				&info->ctrl_ring_ref);
	if (err)
		return err;
	err = pvk_netif_ctrl_front_init(&info->ctrl_ring, info->ctrl_sring,
					PAGE_SIZE);
	if (err)
		return err;
	err = pvkfront_pages_grant(dev, &info->ctrl_page, &info->ctrl_page_gref,
				   1, true);
	if (!err)
		err = pvkfront_evtchn_bind(dev, &info->ctrl_evtchn,
					   &info->ctrl_irq,
					   pvknf_ctrl_interrupt, "pvkvif-ctrl",
					   info);
	if (err)
		return err;
	info->ctrl = true;
	return 0;
}

static int pvknf_write_queue(struct xenbus_transaction xbt, void *arg,
			     unsigned int i, const char *dir)
{
	struct pvknf_info *info = arg;
	struct pvknf_queue *q = &info->queues[i];
	int err;

	err = xenbus_printf(xbt, dir, "tx-ring-ref", "%u", q->tx_ring_ref);
	if (!err)
		err = xenbus_printf(xbt, dir, "rx-ring-ref", "%u",
				    q->rx_ring_ref);
	if (err)
		return err;
	if (!info->split)
		return xenbus_printf(xbt, dir, "event-channel", "%u",
				     q->tx_evtchn);
	err = xenbus_printf(xbt, dir, "event-channel-tx", "%u", q->tx_evtchn);
	if (!err)
		err = xenbus_printf(xbt, dir, "event-channel-rx", "%u",
				    q->rx_evtchn);
	return err;
}

static int pvknf_write_nodes(struct xenbus_transaction xbt, void *arg)
{
	static const char *const feats[] = {
		"request-rx-copy",   "feature-rx-notify",
		"feature-sg",	     "feature-gso-tcpv4",
		"feature-gso-tcpv6", "feature-ipv6-csum-offload",
	};
	struct pvknf_info *info = arg;
	struct xenbus_device *dev = info->xbdev;
	unsigned int i;
	int err;

	err = pvkfront_write_queues(xbt, dev, info->nr_queues,
				    pvknf_write_queue, info);
	for (i = 0; !err && i < ARRAY_SIZE(feats); i++)
		err = xenbus_printf(xbt, dev->nodename, feats[i], "%u", 1);
	if (!err && info->ctrl)
		err = xenbus_printf(xbt, dev->nodename, "ctrl-ring-ref", "%u",
				    info->ctrl_ring_ref);
	if (!err && info->ctrl)
		err = xenbus_printf(xbt, dev->nodename, "event-channel-ctrl",
				    "%u", info->ctrl_evtchn);
	if (!err && info->mcast)
		err = xenbus_printf(xbt, dev->nodename,
				    "request-multicast-control", "%u", 1);
	return err;
}

static void pvknf_read_be(struct pvknf_info *info)
{
	const char *be = info->xbdev->otherend;

	info->be = (struct pvknf_be){
		.max_queues =
			xenbus_read_unsigned(be, "multi-queue-max-queues", 1),
		.split = xenbus_read_unsigned(
			be, "feature-split-event-channels", 0),
		.sg = xenbus_read_unsigned(be, "feature-sg", 0),
		.gso4 = xenbus_read_unsigned(be, "feature-gso-tcpv4", 0),
		.gso6 = xenbus_read_unsigned(be, "feature-gso-tcpv6", 0),
		.no_csum4 =
			xenbus_read_unsigned(be, "feature-no-csum-offload", 0),
		.csum6 = xenbus_read_unsigned(be, "feature-ipv6-csum-offload",
					      0),
		.ctrl = xenbus_read_unsigned(be, "feature-ctrl-ring", 0),
		.mcast = xenbus_read_unsigned(be, "feature-multicast-control",
					      0),
		.rx_copy = xenbus_read_unsigned(be, "feature-rx-copy", 0),
	};
}

/* Set info->connected under every queue's tx lock, so that a sender
 * either sees it cleared or finished before teardown frees its pages. */
static void pvknf_set_connected(struct pvknf_info *info, bool on)
{
	unsigned long flags;
	unsigned int i;

	WRITE_ONCE(info->connected, on);
	for (i = 0; info->queues && i < info->nr_queues; i++) {
		spin_lock_irqsave(&info->queues[i].tx_lock, flags);
		spin_unlock_irqrestore(&info->queues[i].tx_lock, flags);
	}
}

/* Undo talk_to_backend (the netdev stays registered). */
static void pvknf_teardown(struct pvknf_info *info)
{
	struct pvknf_queue *queues;
	unsigned int i;

	spin_lock_bh(&info->mc_lock);
	WRITE_ONCE(info->mcast, false); /* set_rx_mode schedules no more */
	spin_unlock_bh(&info->mc_lock);
	pvknf_set_connected(info, false);
	cancel_delayed_work_sync(&info->mc_work);
	info->mc_nsent = 0;
	netif_carrier_off(info->netdev);
	rtnl_lock(); /* against ndo_open/ndo_stop using the queues */
	netif_tx_disable(info->netdev);
	for (i = 0; info->queues && i < info->nr_queues; i++)
		pvknf_queue_free(&info->queues[i]);
	queues = info->queues;
	info->queues = NULL;
	RCU_INIT_POINTER(info->stats_queues, NULL);
	WRITE_ONCE(info->nr_queues, 0);
	rtnl_unlock();
	pvknf_ctrl_free(info);
	synchronize_rcu(); /* get_stats64 is done with them */
	kvfree(queues);
	info->hash_size = 0;
}

/* Backend in InitWait: read its offer, build the queues, publish them,
 * and report Connected (netback connects when the frontend is). */
static int pvknf_talk_to_backend(struct pvknf_info *info)
{
	struct xenbus_device *dev = info->xbdev;
	unsigned int i, mine;
	int err;

	pvknf_read_be(info);
	if (!info->be.rx_copy) {
		xenbus_dev_fatal(dev, -EOPNOTSUPP,
				 "the backend does not offer feature-rx-copy");
		return -EOPNOTSUPP;
	}
	mine = max_queues ? min_t(unsigned int, max_queues, PVKNF_MAX_QUEUES) :
			    clamp_t(unsigned int, num_online_cpus(), 1, 4);
	info->nr_queues = pvknf_pick_queues(mine, info->be.max_queues);
	info->split = split_evtchn && info->be.split;
	info->txf = pvknf_tx_features(&info->be);
	info->broken = false;
	info->queues =
		kvcalloc(info->nr_queues, sizeof(*info->queues), GFP_KERNEL);
	if (!info->queues)
		return -ENOMEM;
	rtnl_lock();
	err = netif_set_real_num_tx_queues(info->netdev, info->nr_queues);
	if (!err)
		err = netif_set_real_num_rx_queues(info->netdev,
						   info->nr_queues);
	for (i = 0; i < info->nr_queues; i++) {
		info->queues[i].info = info;
		info->queues[i].idx = i;
		spin_lock_init(&info->queues[i].tx_lock);
	}
	for (i = 0; !err && i < info->nr_queues; i++)
		err = pvknf_queue_setup(info, &info->queues[i]);
	netdev_update_features(info->netdev);
	rtnl_unlock();
	if (!err && info->be.ctrl && ctrl_ring)
		err = pvknf_ctrl_setup(info);
	if (err)
		goto teardown;
	rcu_assign_pointer(info->stats_queues, info->queues);
	WRITE_ONCE(info->mcast, info->be.mcast);
	err = pvkfront_transact(pvknf_write_nodes, info);
	if (err)
		goto teardown;
	return xenbus_switch_state(dev, XenbusStateConnected);
teardown:
	pvknf_teardown(info);
	return err;
}

/* Backend Connected: the vif carries packets. */
static void pvknf_connect(struct pvknf_info *info)
{
	struct net_device *dev = info->netdev;
	unsigned int f = info->txf;

	if (info->ctrl)
		pvknf_hash_setup(info);
	pvknf_set_connected(info, true);
	if (READ_ONCE(info->broken))
		return; /* latched before Connected: stays off */
	netif_carrier_on(dev);
	netif_tx_wake_all_queues(dev);
	if (info->mcast) {
		netif_addr_lock_bh(dev);
		pvknf_set_rx_mode(dev);
		netif_addr_unlock_bh(dev);
	}
	netdev_info(
		dev,
		"connected to %s: %u queue(s), split event channels %s, sg %s, csum %s%s, tso %s%s, control ring %s (hash mapping %u), multicast control %s\n",
		info->xbdev->otherend, info->nr_queues,
		info->split ? "yes" : "no", f & PVKNF_F_SG ? "yes" : "no",
		f & PVKNF_F_CSUM4 ? "v4" : "-", f & PVKNF_F_CSUM6 ? "v6" : "-",
		f & PVKNF_F_TSO4 ? "v4" : "-", f & PVKNF_F_TSO6 ? "v6" : "-",
		info->ctrl ? "yes" : "no", info->hash_size,
		info->mcast ? "yes" : "no");
}

static int pvknf_init_wait(struct xenbus_device *dev)
{
	return pvknf_talk_to_backend(dev_get_drvdata(&dev->dev));
}

static void pvknf_connected(struct xenbus_device *dev)
{
	struct pvknf_info *info = dev_get_drvdata(&dev->dev);

	if (dev->state == XenbusStateConnected && !info->connected &&
	    info->queues)
		pvknf_connect(info);
}

static void pvknf_closing(struct xenbus_device *dev)
{
	pvknf_teardown(dev_get_drvdata(&dev->dev));
}

static const struct pvkfront_states pvknf_states = {
	.backend_initwait = pvknf_init_wait,
	.connected = pvknf_connected,
	.teardown = pvknf_closing,
};

static void pvknf_backend_changed(struct xenbus_device *dev,
				  enum xenbus_state state)
{
	struct pvknf_info *info = dev_get_drvdata(&dev->dev);

	pvkfront_backend_changed(dev, state, &info->mutex, &pvknf_states);
}

/* ---- net_device ----------------------------------------------------- */

static int pvknf_open(struct net_device *dev)
{
	struct pvknf_info *info = netdev_priv(dev);
	unsigned int i;

	for (i = 0; info->queues && i < info->nr_queues; i++) {
		if (info->queues[i].napi_added && !info->queues[i].napi_on) {
			napi_enable(&info->queues[i].napi);
			info->queues[i].napi_on = true;
			napi_schedule(&info->queues[i].napi);
		}
	}
	netif_tx_start_all_queues(dev);
	return 0;
}

static int pvknf_stop(struct net_device *dev)
{
	struct pvknf_info *info = netdev_priv(dev);
	unsigned int i;

	netif_tx_stop_all_queues(dev);
	for (i = 0; info->queues && i < info->nr_queues; i++) {
		if (info->queues[i].napi_on) {
			napi_disable(&info->queues[i].napi);
			info->queues[i].napi_on = false;
		}
	}
	return 0;
}

static netdev_features_t pvknf_fix_features(struct net_device *dev,
					    netdev_features_t features)
{
	struct pvknf_info *info = netdev_priv(dev);
	unsigned int f = info->txf;

	if (!(f & PVKNF_F_SG))
		features &= ~NETIF_F_SG;
	if (!(f & PVKNF_F_CSUM4))
		features &= ~NETIF_F_IP_CSUM;
	if (!(f & PVKNF_F_CSUM6))
		features &= ~NETIF_F_IPV6_CSUM;
	if (!(f & PVKNF_F_TSO4))
		features &= ~NETIF_F_TSO;
	if (!(f & PVKNF_F_TSO6))
		features &= ~NETIF_F_TSO6;
	return features;
}

static void pvknf_get_stats64(struct net_device *dev,
			      struct rtnl_link_stats64 *s)
{
	struct pvknf_info *info = netdev_priv(dev);
	struct pvknf_queue *q;
	unsigned int i;

	/* Racy reads of the counters; the array stays while RCU says so. */
	rcu_read_lock();
	q = rcu_dereference(info->stats_queues);
	for (i = 0; q && i < READ_ONCE(info->nr_queues); i++, q++) {
		s->tx_packets += q->tx_packets;
		s->tx_bytes += q->tx_bytes;
		s->tx_errors += q->tx_errors;
		s->tx_dropped += q->tx_dropped;
		s->rx_packets += q->rx_packets;
		s->rx_bytes += q->rx_bytes;
		s->rx_errors += q->rx_errors;
		s->rx_dropped += q->rx_dropped;
	}
	rcu_read_unlock();
}

static const struct net_device_ops pvknf_netdev_ops = {
	.ndo_open = pvknf_open,
	.ndo_stop = pvknf_stop,
	.ndo_start_xmit = pvknf_start_xmit,
	.ndo_fix_features = pvknf_fix_features,
	.ndo_get_stats64 = pvknf_get_stats64,
	.ndo_set_rx_mode = pvknf_set_rx_mode,
	.ndo_set_mac_address = eth_mac_addr,
	.ndo_validate_addr = eth_validate_addr,
};

/* ---- xenbus --------------------------------------------------------- */

static int pvknf_probe(struct xenbus_device *dev,
		       const struct xenbus_device_id *id)
{
	struct net_device *netdev;
	struct pvknf_info *info;
	u8 mac[ETH_ALEN];
	char *s;
	int err;

	s = xenbus_read(XBT_NIL, dev->nodename, "mac", NULL);
	if (IS_ERR(s)) {
		xenbus_dev_fatal(dev, PTR_ERR(s), "reading mac");
		return PTR_ERR(s);
	}
	err = mac_pton(s, mac) && is_valid_ether_addr(mac) ? 0 : -EINVAL;
	if (err)
		xenbus_dev_fatal(dev, err, "mac '%.20s'", s);
	kfree(s);
	if (err)
		return err;

	netdev = alloc_etherdev_mq(sizeof(*info), PVKNF_MAX_QUEUES);
	if (!netdev)
		return -ENOMEM;
	info = netdev_priv(netdev);
	info->xbdev = dev;
	info->netdev = netdev;
	mutex_init(&info->mutex);
	spin_lock_init(&info->ctrl_lock);
	spin_lock_init(&info->mc_lock);
	init_waitqueue_head(&info->ctrl_wq);
	INIT_DELAYED_WORK(&info->mc_work, pvknf_mc_work);
	netdev->netdev_ops = &pvknf_netdev_ops;
	netdev->hw_features = NETIF_F_SG | NETIF_F_IP_CSUM | NETIF_F_IPV6_CSUM |
			      NETIF_F_TSO | NETIF_F_TSO6;
	netdev->features = netdev->hw_features | NETIF_F_RXCSUM;
	netdev->min_mtu = ETH_MIN_MTU;
	netdev->max_mtu = ETH_DATA_LEN; /* rx buffers: no jumbo frames */
	netif_set_tso_max_size(netdev, PVK_NETIF_MAX_TX_SIZE - MAX_TCP_HEADER);
	eth_hw_addr_set(netdev, mac);
	SET_NETDEV_DEV(netdev, &dev->dev);
	netif_set_real_num_tx_queues(netdev, 1);
	netif_set_real_num_rx_queues(netdev, 1);
	netif_carrier_off(netdev);
	dev_set_drvdata(&dev->dev, info);
	err = pvkfront_probe_state(dev);
	if (err) {
		xenbus_dev_fatal(dev, err, "switching to Initialising");
		goto free_netdev;
	}
	err = register_netdev(netdev);
	if (err) {
		xenbus_dev_fatal(dev, err, "registering the net device");
		goto free_netdev;
	}
	netdev_info(netdev, "pvkit-netfront on %s, mac %pM\n", dev->nodename,
		    mac);
	return 0;

free_netdev:
	dev_set_drvdata(&dev->dev, NULL);
	free_netdev(netdev);
	return err;
}

static void pvknf_remove(struct xenbus_device *dev)
{
	struct pvknf_info *info = dev_get_drvdata(&dev->dev);

	unregister_netdev(info->netdev);
	mutex_lock(&info->mutex);
	pvknf_teardown(info);
	mutex_unlock(&info->mutex);
	cancel_delayed_work_sync(&info->mc_work);
	dev_set_drvdata(&dev->dev, NULL);
	free_netdev(info->netdev);
}

static const struct xenbus_device_id pvknf_ids[] = {
	{ PVKNF_TYPE },
	{ "" },
};

static struct xenbus_driver pvknf_driver = {
	.name = "pvkit-netfront",
	.ids = pvknf_ids,
	.probe = pvknf_probe,
	.remove = pvknf_remove,
	.otherend_changed = pvknf_backend_changed,
	.not_essential = true,
};

static int __init pvknf_init(void)
{
	if (!xen_domain())
		return -ENODEV;
	return xenbus_register_frontend(&pvknf_driver);
}
module_init(pvknf_init);

static void __exit pvknf_exit(void)
{
	xenbus_unregister_driver(&pvknf_driver);
}
module_exit(pvknf_exit);

MODULE_DESCRIPTION("pvkit netif frontend (xenbus type " PVKNF_TYPE ")");
MODULE_LICENSE("Dual MIT/GPL");
MODULE_ALIAS("xen:" PVKNF_TYPE);
