/* SPDX-License-Identifier: MIT */
/*
 * netback data path: one thread per queue moving packets between the
 * frontend's tx/rx rings and one queue of the vif's TAP device.  See
 * pvkit/netback.h for the checks; this file says why where it is not
 * obvious.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <linux/virtio_net.h>

#include "netback_priv.h"

#define NB_FRAME_MAX 65536u
#define NB_VNET_HDR ((unsigned int)sizeof(struct virtio_net_hdr))
#define NB_TX_BUDGET 64 /* packets per pass, so rx gets its turn */
#define NB_RX_BUDGET 64
#define NB_MAX_EXTRAS 4
#define NB_MIN_BURST (128u * 1024u) /* a 64 KiB GSO packet always passes */

struct nb_queue {
	struct nb_vif *vif;
	uint32_t idx;
	struct pvk_ring tx, rx;
	void *tx_page, *rx_page;
	struct pvk_evtchn *ev;
	uint32_t port_tx, port_rx;
	int tap_fd, stop_fd;
	pthread_t thread;
	bool thread_ok, broken;
	struct nb_counters c;

	/* tx: a packet built and waiting for credit (rate limit). */
	uint8_t *txbuf;
	size_t tx_len;
	bool tx_held;
	struct pvk_net_meta tx_meta;
	int64_t credit;
	uint64_t credit_next_ns;

	/* rx: one frame read from the TAP, waiting for rx buffers. */
	uint8_t *rxbuf; /* vnet header, then the frame */
	size_t rx_len;
	bool rx_pending, stalled;
	struct pvk_net_meta rx_meta;
	int rx_hash_type; /* < 0: no hash extra */
	uint32_t rx_hash;
	uint64_t rx_since_ns;

	struct pvk_grant_copy segs[PVK_NETBACK_FATAL_SLOTS + 1];
	struct pvk_netif_tx_request frags[PVK_NETBACK_FATAL_SLOTS];
};

static void count(uint64_t *c, uint64_t n)
{
	__atomic_store_n(c, *c + n, __ATOMIC_RELAXED);
}

/* A fatal violation: the whole vif stops, as Linux's
 * xenvif_fatal_tx_err() carrier-offs it.  @why is a string literal. */
static int fatal(struct nb_queue *q, const char *why)
{
	struct nb_vif *vif = q->vif;

	q->broken = true;
	count(&q->c.errors, 1);
	if (!__atomic_exchange_n(&vif->broken, true, __ATOMIC_RELAXED))
		pvk_xenbus_bus_log(vif->bus,
				   "vif %s: queue %u: %s; vif disabled",
				   vif->name, q->idx, why);
	return -EPROTO;
}

static bool vif_broken(const struct nb_queue *q)
{
	return q->broken || __atomic_load_n(&q->vif->broken, __ATOMIC_RELAXED);
}

/* --- the multicast filter ------------------------------------------------
 * Shared by the queues: tx threads change it (MCAST_ADD/DEL extras), rx
 * threads read it. */

void nb_mcast_update(struct nb_vif *vif, const uint8_t addr[6], bool add)
{
	uint32_t i;

	/* Only multicast addresses, as Linux's xenvif_mcast_add(). */
	if (!(addr[0] & 1))
		return;
	pthread_mutex_lock(&vif->lock);
	for (i = 0; i < vif->mcast_n; i++)
		if (!memcmp(vif->mcast[i], addr, 6))
			break;
	if (add && i == vif->mcast_n) {
		if (vif->mcast_n < PVK_NETBACK_MCAST_MAX)
			memcpy(vif->mcast[vif->mcast_n++], addr, 6);
		else
			vif->mcast_overflow = true; /* then: let all in */
	} else if (!add && i < vif->mcast_n) {
		memmove(vif->mcast[i], vif->mcast[i + 1],
			(vif->mcast_n - i - 1) * 6u);
		vif->mcast_n--;
	}
	pthread_mutex_unlock(&vif->lock);
}

bool nb_mcast_pass(struct nb_vif *vif, const uint8_t *frame)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	bool pass = true;
	uint32_t i;

	if (!__atomic_load_n(&vif->mcast_live, __ATOMIC_RELAXED) ||
	    !(frame[0] & 1) || !memcmp(frame, bcast, 6))
		return true;
	pthread_mutex_lock(&vif->lock);
	if (!vif->mcast_overflow) {
		pass = false;
		for (i = 0; i < vif->mcast_n && !pass; i++)
			pass = !memcmp(vif->mcast[i], frame, 6);
	}
	pthread_mutex_unlock(&vif->lock);
	return pass;
}

/* --- tx: guest to TAP -------------------------------------------------- */

static void tx_respond(struct nb_queue *q, uint16_t id, int16_t st)
{
	struct pvk_netif_tx_response r = { .id = id, .status = st };

	pvk_netif_tx_put_response(&q->tx, &r);
}

/* Refill the credit once per interval; true if @len may go now. */
static bool tx_credit_ok(struct nb_queue *q, size_t len)
{
	uint64_t bytes =
		__atomic_load_n(&q->vif->credit_bytes, __ATOMIC_RELAXED);
	uint64_t usec = __atomic_load_n(&q->vif->credit_usec, __ATOMIC_RELAXED);
	uint64_t now, burst = bytes > NB_MIN_BURST ? bytes : NB_MIN_BURST;

	if (!bytes || !usec)
		return true;
	if ((int64_t)len <= q->credit)
		return true;
	now = pvk_spin_clock_ns();
	if (now >= q->credit_next_ns) {
		q->credit += (int64_t)bytes;
		if (q->credit > (int64_t)burst)
			q->credit = (int64_t)burst;
		q->credit_next_ns = now + usec * 1000u;
	}
	return (int64_t)len <= q->credit;
}

static void tx_send(struct nb_queue *q)
{
	struct virtio_net_hdr vh;
	struct iovec iov[2] = { { &vh, sizeof(vh) }, { q->txbuf, q->tx_len } };

	if (__atomic_load_n(&q->vif->credit_bytes, __ATOMIC_RELAXED))
		q->credit -= (int64_t)q->tx_len;
	if (pvk_net_meta_to_vnet(&q->tx_meta, q->tx_len, &vh) < 0 ||
	    writev(q->tap_fd, iov, 2) != (ssize_t)(sizeof(vh) + q->tx_len)) {
		/* TAP queue full, or the device going: lost on the wire. */
		count(&q->c.tx_dropped, 1);
		return;
	}
	count(&q->c.tx_packets, 1);
	count(&q->c.tx_bytes, q->tx_len);
}

/* Grant-copy the packet's data out, and work out its offloads. */
static int16_t tx_build(struct nb_queue *q,
			const struct pvk_netif_tx_request *first,
			uint32_t first_len, uint32_t nfrags,
			const struct pvk_netif_extra_info *gso)
{
	struct nb_vif *vif = q->vif;
	struct pvk_net_hdrs h;
	uint32_t i, off = 0;

	for (i = 0; i <= nfrags; i++) {
		const struct pvk_netif_tx_request *t = i ? &q->frags[i - 1] :
							   first;
		uint16_t len = (uint16_t)(i ? t->size : first_len);

		q->segs[i] = (struct pvk_grant_copy){
			.src = { .is_gref = true,
				 .domid = vif->fe_domid,
				 .ref = t->gref,
				 .offset = t->offset },
			.dst = { .virt = q->txbuf + off },
			.len = len,
		};
		off += len;
	}
	if (pvk_hv_grant_copy(vif->hv, q->segs, nfrags + 1) < 0)
		return PVK_NETIF_RSP_ERROR;
	for (i = 0; i <= nfrags; i++)
		if (q->segs[i].status != PVK_GNTST_OKAY)
			return PVK_NETIF_RSP_ERROR;
	q->tx_len = off;
	memset(&q->tx_meta, 0, sizeof(q->tx_meta));
	/* The headers are now private: parse the copy, not the pages. */
	if ((first->flags & PVK_NETTXF_csum_blank) || gso) {
		if (pvk_net_csum_setup(q->txbuf, off, true, &q->tx_meta) < 0)
			return PVK_NETIF_RSP_ERROR;
	} else if (first->flags & PVK_NETTXF_data_validated) {
		q->tx_meta.flags = PVK_NET_META_DATA_VALID;
	}
	if (gso) {
		if (pvk_net_parse(q->txbuf, off, &h) < 0 || !h.l4_len ||
		    h.l4_proto != 6)
			return PVK_NETIF_RSP_ERROR;
		q->tx_meta.gso_type = gso->u.gso.type ==
						      PVK_NETIF_GSO_TYPE_TCPV4 ?
					      PVK_NET_GSO_TCPV4 :
					      PVK_NET_GSO_TCPV6;
		q->tx_meta.gso_size = gso->u.gso.size;
		q->tx_meta.hdr_len = (uint16_t)(h.l4_off + h.l4_len);
	}
	return PVK_NETIF_RSP_OKAY;
}

/*
 * Take one packet: its first request, extra-info slots and fragments, each
 * slot copied once.  @avail is how many requests the frontend published
 * beyond cons: a packet running past them is a violation (the frontend
 * pushes whole packets).  Returns 1 if a packet was taken (answered, or
 * held for credit), 0 if none is ready, -EPROTO (fatal).
 */
static int tx_one(struct nb_queue *q, uint32_t avail)
{
	struct pvk_netif_extra_info gso = { 0 }, *gsop = NULL;
	struct pvk_netif_tx_request first;
	union pvk_netif_tx_slot s;
	uint32_t used = 1, nfr = 0, nx = 0, remaining, i;
	bool more, zero = false, mcast = false;
	int16_t st;
	int err;

	err = pvk_netif_get_tx_slot(&q->tx, &s);
	if (err <= 0)
		return err < 0 ? fatal(q, pvk_ring_broken_reason(&q->tx) ?:
						  "tx ring violation") :
				 0;
	first = s.req;
	if (first.flags & PVK_NETTXF_extra_info) {
		do {
			if (used >= avail || ++nx > NB_MAX_EXTRAS)
				return fatal(q, "extra-info slots beyond the "
						"published requests");
			if (pvk_netif_get_tx_slot(&q->tx, &s) != 1)
				return fatal(q, "tx ring violation");
			used++;
			if (s.extra.type == PVK_NETIF_EXTRA_TYPE_NONE ||
			    s.extra.type >= PVK_NETIF_EXTRA_TYPE_MAX)
				return fatal(q, "invalid extra-info type");
			if (s.extra.type == PVK_NETIF_EXTRA_TYPE_GSO) {
				if (!s.extra.u.gso.size)
					return fatal(q, "GSO size 0");
				if (s.extra.u.gso.type !=
					    PVK_NETIF_GSO_TYPE_TCPV4 &&
				    s.extra.u.gso.type !=
					    PVK_NETIF_GSO_TYPE_TCPV6)
					return fatal(q, "unknown GSO type");
				gso = s.extra;
				gsop = &gso;
			} else if (s.extra.type ==
					   PVK_NETIF_EXTRA_TYPE_MCAST_ADD ||
				   s.extra.type ==
					   PVK_NETIF_EXTRA_TYPE_MCAST_DEL) {
				nb_mcast_update(
					q->vif, s.extra.u.mcast.addr,
					s.extra.type ==
						PVK_NETIF_EXTRA_TYPE_MCAST_ADD);
				mcast = true;
			}
		} while (s.extra.flags & PVK_NETIF_EXTRA_FLAG_MORE);
	}
	remaining = first.size;
	more = first.flags & PVK_NETTXF_more_data;
	while (more) {
		if (used >= avail)
			return fatal(q, "packet runs beyond the published "
					"requests");
		if (nfr + 1 >= PVK_NETBACK_FATAL_SLOTS)
			return fatal(q, "more than 20 slots in one packet");
		if (pvk_netif_get_tx_slot(&q->tx, &s) != 1)
			return fatal(q, "tx ring violation");
		used++;
		q->frags[nfr] = s.req;
		if (s.req.size > remaining)
			return fatal(q, "fragment larger than the rest of the "
					"packet");
		if ((uint32_t)s.req.offset + s.req.size > PVK_PAGE_SIZE)
			return fatal(q, "fragment crosses its page");
		zero |= s.req.size == 0;
		remaining -= s.req.size;
		more = s.req.flags & PVK_NETTXF_more_data;
		nfr++;
	}
	/* What is left of the size is the first slot's own data. */
	if ((uint32_t)first.offset + remaining > PVK_PAGE_SIZE)
		return fatal(q, "first slot crosses its page");

	if (mcast)
		/* A carrier of filter changes, as Linux's netfront sends
		 * them: answered, not sent. */
		st = PVK_NETIF_RSP_OKAY;
	else if (1 + nfr > PVK_NETBACK_MAX_SLOTS ||
		 first.size < PVK_NET_ETH_HLEN || zero || !remaining)
		st = PVK_NETIF_RSP_ERROR;
	else
		st = tx_build(q, &first, remaining, nfr, gsop);
	if (st != PVK_NETIF_RSP_OKAY)
		count(&q->c.errors, 1);
	else if (mcast)
		;
	else if (!tx_credit_ok(q, q->tx_len))
		q->tx_held = true; /* sent once the credit allows */
	else
		tx_send(q);
	tx_respond(q, first.id, st);
	for (i = 0; i < nx; i++)
		tx_respond(q, first.id, PVK_NETIF_RSP_NULL);
	for (i = 0; i < nfr; i++)
		tx_respond(q, q->frags[i].id, st);
	return 1;
}

static void notify(struct nb_queue *q, uint32_t port)
{
	if (pvk_evtchn_notify(q->ev, port) == 0)
		count(&q->c.notifies, 1);
}

/* Returns true if more tx work is ready now. */
static bool tx_work(struct nb_queue *q)
{
	int n, budget = NB_TX_BUDGET, err;

	if (q->tx_held) {
		if (!tx_credit_ok(q, q->tx_len))
			return false;
		q->tx_held = false;
		tx_send(q);
	}
	while (budget-- > 0 && !q->tx_held) {
		n = pvk_ring_peek(&q->tx);
		if (n < 0) {
			fatal(q, pvk_ring_broken_reason(&q->tx) ?:
					 "tx ring violation");
			return false;
		}
		if (n == 0)
			break;
		err = tx_one(q, (uint32_t)n);
		if (err <= 0)
			break;
	}
	/* Packets taken before a violation in this pass were answered (and
	 * sent): publish those answers too, as Linux's netback does. */
	if (pvk_ring_push(&q->tx))
		notify(q, q->port_tx);
	if (vif_broken(q) || q->tx_held)
		return false;
	return budget < 0 || pvk_ring_final_check(&q->tx) > 0;
}

/* --- rx: TAP to guest --------------------------------------------------- */

static bool rx_read(struct nb_queue *q)
{
	ssize_t n = read(q->tap_fd, q->rxbuf, NB_VNET_HDR + NB_FRAME_MAX);

	if (n < (ssize_t)(NB_VNET_HDR + PVK_NET_ETH_HLEN)) {
		if (n >= 0)
			count(&q->c.rx_dropped, 1);
		return false;
	}
	q->rx_len = (size_t)n - NB_VNET_HDR;
	if (pvk_net_meta_from_vnet((struct virtio_net_hdr *)q->rxbuf, q->rx_len,
				   &q->rx_meta) < 0 ||
	    (!q->vif->conn.sg && q->rx_len > PVK_PAGE_SIZE)) {
		count(&q->c.rx_dropped, 1);
		return false;
	}
	if (!nb_mcast_pass(q->vif, q->rxbuf + NB_VNET_HDR)) {
		count(&q->c.rx_dropped, 1);
		return false;
	}
	q->rx_hash_type =
		nb_hash(q->vif, q->rxbuf + NB_VNET_HDR, q->rx_len, &q->rx_hash);
	q->rx_pending = true;
	q->rx_since_ns = pvk_spin_clock_ns();
	return true;
}

/* Deliver the pending frame into @need posted buffers. */
/* The extra-info slots that go with the pending frame: GSO, then the
 * flow hash when the frontend configured one. */
static uint32_t rx_extras(struct nb_queue *q, struct pvk_netif_extra_info *x)
{
	uint32_t n = 0;

	if (q->rx_meta.gso_type != PVK_NET_GSO_NONE) {
		x[n] = (struct pvk_netif_extra_info){
			.type = PVK_NETIF_EXTRA_TYPE_GSO,
		};
		x[n].u.gso.size = q->rx_meta.gso_size;
		x[n].u.gso.type = q->rx_meta.gso_type == PVK_NET_GSO_TCPV4 ?
					  PVK_NETIF_GSO_TYPE_TCPV4 :
					  PVK_NETIF_GSO_TYPE_TCPV6;
		n++;
	}
	if (q->rx_hash_type >= 0) {
		x[n] = (struct pvk_netif_extra_info){
			.type = PVK_NETIF_EXTRA_TYPE_HASH,
		};
		x[n].u.hash.type = (uint8_t)q->rx_hash_type;
		x[n].u.hash.algorithm = PVK_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ;
		/* Little-endian, as netif.h says. */
		x[n].u.hash.value[0] = (uint8_t)q->rx_hash;
		x[n].u.hash.value[1] = (uint8_t)(q->rx_hash >> 8);
		x[n].u.hash.value[2] = (uint8_t)(q->rx_hash >> 16);
		x[n].u.hash.value[3] = (uint8_t)(q->rx_hash >> 24);
		n++;
	}
	if (n)
		x[n - 1].flags = 0;
	for (uint32_t i = 0; i + 1 < n; i++)
		x[i].flags = PVK_NETIF_EXTRA_FLAG_MORE;
	return n;
}

/*
 * Deliver the pending frame into @need posted buffers: the first request
 * takes the first data, the next ones the extras, the rest the remaining
 * data; each response in the slot of its request.
 */
static int rx_deliver(struct nb_queue *q, uint32_t need)
{
	struct nb_vif *vif = q->vif;
	const uint8_t *frame = q->rxbuf + NB_VNET_HDR;
	struct pvk_netif_extra_info x[2];
	uint32_t nx = rx_extras(q, x), ndata = need - nx, i, off = 0;
	struct pvk_netif_rx_request req[PVK_NETBACK_FATAL_SLOTS + 2];
	struct pvk_netif_rx_response r;
	uint16_t flags = 0;
	int16_t err = 0;

	for (i = 0; i < need; i++)
		if (pvk_netif_rx_get_request(&q->rx, &req[i]) != 1)
			return fatal(q, "rx ring violation");
	for (i = 0; i < ndata; i++) {
		const struct pvk_netif_rx_request *rq = &req[i ? i + nx : 0];
		uint32_t len = q->rx_len - off;

		if (len > PVK_PAGE_SIZE)
			len = PVK_PAGE_SIZE;
		q->segs[i] = (struct pvk_grant_copy){
			.src = { .virt = (void *)(frame + off) },
			.dst = { .is_gref = true,
				 .domid = vif->fe_domid,
				 .ref = rq->gref },
			.len = (uint16_t)len,
		};
		off += len;
	}
	if (pvk_hv_grant_copy(vif->hv, q->segs, ndata) < 0)
		err = PVK_NETIF_RSP_ERROR;
	for (i = 0; i < ndata && !err; i++)
		if (q->segs[i].status != PVK_GNTST_OKAY)
			err = PVK_NETIF_RSP_ERROR;
	if (q->rx_meta.flags & PVK_NET_META_CSUM_PARTIAL)
		flags = PVK_NETRXF_csum_blank | PVK_NETRXF_data_validated;
	else if (q->rx_meta.flags & PVK_NET_META_DATA_VALID)
		flags = PVK_NETRXF_data_validated;
	for (i = 0; i < ndata; i++) {
		r = (struct pvk_netif_rx_response){
			.id = req[i ? i + nx : 0].id,
			.offset = 0,
			.flags = (uint16_t)((i ? 0 : flags) |
					    (i + 1 < ndata ?
						     PVK_NETRXF_more_data :
						     0) |
					    (!i && nx ? PVK_NETRXF_extra_info :
							0)),
			.status = err ? err : (int16_t)q->segs[i].len,
		};
		pvk_netif_rx_put_response(&q->rx, &r);
		/* The extras take the slots of the requests after the
		 * first. */
		for (uint32_t k = 0; !i && k < nx; k++)
			pvk_netif_put_rx_extra(&q->rx, &x[k]);
	}
	if (err) {
		count(&q->c.errors, 1);
	} else {
		count(&q->c.rx_packets, 1);
		count(&q->c.rx_bytes, q->rx_len);
	}
	return 0;
}

/* Returns true if more rx work is ready now. */
static bool rx_work(struct nb_queue *q)
{
	int budget = NB_RX_BUDGET, n;
	bool pushed = false, more = false;
	uint32_t need = 0;

	while (budget-- > 0) {
		if (!q->rx_pending && !rx_read(q))
			break;
		need = (uint32_t)((q->rx_len + PVK_PAGE_SIZE - 1) /
				  PVK_PAGE_SIZE) +
		       (q->rx_meta.gso_type != PVK_NET_GSO_NONE) +
		       (q->rx_hash_type >= 0);
		n = pvk_ring_peek(&q->rx);
		if (n < 0) {
			fatal(q, pvk_ring_broken_reason(&q->rx) ?:
					 "rx ring violation");
			return false;
		}
		if ((uint32_t)n < need) {
			if (!q->stalled &&
			    pvk_spin_clock_ns() - q->rx_since_ns >
				    PVK_NETBACK_RX_STALL_MS * 1000000ull) {
				q->stalled = true;
				pvk_xenbus_bus_log(q->vif->bus,
						   "vif %s: queue %u: rx "
						   "stalled: no buffers posted "
						   "for %u ms; dropping",
						   q->vif->name, q->idx,
						   PVK_NETBACK_RX_STALL_MS);
			}
			if (!q->stalled)
				break;
			/* Drain: the frame goes, the next may fit. */
			q->rx_pending = false;
			count(&q->c.rx_dropped, 1);
			continue;
		}
		if (q->stalled) {
			q->stalled = false;
			pvk_xenbus_bus_log(q->vif->bus,
					   "vif %s: queue %u: rx buffers "
					   "posted again",
					   q->vif->name, q->idx);
		}
		if (rx_deliver(q, need) < 0)
			return false;
		q->rx_pending = false;
		pushed = true;
	}
	more = budget < 0;
	if (pushed && pvk_ring_push(&q->rx))
		notify(q, q->port_rx);
	/* Waiting for buffers: ask to be told when they come. */
	if (q->rx_pending && !more && pvk_ring_final_check(&q->rx) >= (int)need)
		more = true;
	return more;
}

/* --- the queue thread --------------------------------------------------- */

static void take_events(struct nb_queue *q)
{
	int port;

	while ((port = pvk_evtchn_pending(q->ev)) >= 0) {
		pvk_evtchn_unmask(q->ev, (uint32_t)port);
		count(&q->c.events, 1);
	}
}

static void *queue_main(void *arg)
{
	struct nb_queue *q = arg;
	struct pollfd p[3];
	uint64_t now;
	int tmo;
	bool more;

	for (;;) {
		more = false;
		if (!vif_broken(q)) {
			more |= tx_work(q);
			more |= rx_work(q);
		}
		tmo = -1;
		if (q->tx_held) {
			now = pvk_spin_clock_ns();
			tmo = q->credit_next_ns > now ?
				      (int)((q->credit_next_ns - now) /
						    1000000 +
					    1) :
				      0;
		}
		if (q->rx_pending && !q->stalled) {
			/* Without feature-rx-notify the frontend never
			 * tells us it posted buffers: look every ms. */
			int t = q->vif->conn.rx_notify ? 100 : 1;

			tmo = tmo < 0 || tmo > t ? t : tmo;
		}
		/* A broken vif is not listened to: a frontend that keeps
		 * notifying costs no wake-ups. */
		p[0] = (struct pollfd){ .fd = vif_broken(q) ?
						      -1 :
						      pvk_evtchn_fd(q->ev),
					.events = POLLIN };
		p[1] = (struct pollfd){ .fd = q->stop_fd, .events = POLLIN };
		p[2] = (struct pollfd){
			.fd = q->tap_fd,
			.events = q->rx_pending || vif_broken(q) ? 0 : POLLIN
		};
		if (poll(p, 3, more ? 0 : tmo) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break;
		if (p[0].revents)
			take_events(q);
	}
	return NULL;
}

/* --- connect / disconnect ----------------------------------------------- */

static void queue_free(struct nb_vif *vif, struct nb_queue *q)
{
	uint64_t one = 1;

	if (!q)
		return;
	if (q->thread_ok) {
		if (write(q->stop_fd, &one, sizeof(one)) < 0)
			pvk_xenbus_bus_log(vif->bus, "vif %s: stop: %m",
					   vif->name);
		pthread_join(q->thread, NULL);
	}
	if (q->ev) {
		/* Answers already pushed; a last kick for the frontend. */
		pvk_evtchn_close(q->ev);
	}
	if (q->tx_page)
		pvk_hv_grant_unmap(vif->hv, q->tx_page, 1);
	if (q->rx_page)
		pvk_hv_grant_unmap(vif->hv, q->rx_page, 1);
	if (q->stop_fd >= 0)
		close(q->stop_fd);
	vif->old.tx_packets += q->c.tx_packets;
	vif->old.tx_bytes += q->c.tx_bytes;
	vif->old.rx_packets += q->c.rx_packets;
	vif->old.rx_bytes += q->c.rx_bytes;
	vif->old.tx_dropped += q->c.tx_dropped;
	vif->old.rx_dropped += q->c.rx_dropped;
	vif->old.errors += q->c.errors;
	vif->old.events += q->c.events;
	vif->old.notifies += q->c.notifies;
	free(q->txbuf);
	free(q->rxbuf);
	free(q);
}

static int queue_start(struct nb_vif *vif, uint32_t idx,
		       const struct nb_queue_conf *qc, bool split)
{
	struct nb_queue *q = calloc(1, sizeof(*q));
	int err, port;

	if (!q)
		return -ENOMEM;
	q->vif = vif;
	q->idx = idx;
	q->tap_fd = vif->tap_fds[idx];
	q->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	q->txbuf = malloc(NB_FRAME_MAX);
	q->rxbuf = malloc(NB_VNET_HDR + NB_FRAME_MAX);
	vif->queues[idx] = q;
	err = -ENOMEM;
	if (q->stop_fd < 0 || !q->txbuf || !q->rxbuf)
		return err;
	err = pvk_hv_grant_map(vif->hv, vif->fe_domid, 1, &qc->tx_ref, true,
			       &q->tx_page);
	if (err < 0) {
		q->tx_page = NULL;
		return err;
	}
	err = pvk_hv_grant_map(vif->hv, vif->fe_domid, 1, &qc->rx_ref, true,
			       &q->rx_page);
	if (err < 0) {
		q->rx_page = NULL;
		return err;
	}
	if (pvk_netif_tx_back_attach(&q->tx, q->tx_page, PVK_PAGE_SIZE) < 0 ||
	    pvk_netif_rx_back_attach(&q->rx, q->rx_page, PVK_PAGE_SIZE) < 0)
		return -EINVAL;
	err = pvk_evtchn_open(vif->hv, &q->ev);
	if (err < 0) {
		q->ev = NULL;
		return err;
	}
	port = pvk_evtchn_bind(q->ev, vif->fe_domid, qc->evtchn_tx);
	if (port < 0)
		return port;
	q->port_tx = q->port_rx = (uint32_t)port;
	if (split) {
		port = pvk_evtchn_bind(q->ev, vif->fe_domid, qc->evtchn_rx);
		if (port < 0)
			return port;
		q->port_rx = (uint32_t)port;
	}
	err = -pthread_create(&q->thread, NULL, queue_main, q);
	if (err < 0)
		return err;
	q->thread_ok = true;
	return 0;
}

int nb_vif_connect(struct nb_vif *vif, const struct nb_connect *c)
{
	uint32_t i;
	int err;

	vif->conn = *c;
	vif->nr_queues = c->nr_queues;
	/* A new connection starts with an empty filter and no hash, as
	 * Linux's. */
	pthread_mutex_lock(&vif->lock);
	vif->mcast_n = 0;
	vif->mcast_overflow = false;
	memset(&vif->hash, 0, sizeof(vif->hash));
	pthread_mutex_unlock(&vif->lock);
	__atomic_store_n(&vif->broken, false, __ATOMIC_RELAXED);
	for (i = 0; i < c->nr_queues; i++) {
		err = queue_start(vif, i, &c->q[i], c->split);
		if (err < 0) {
			nb_vif_disconnect(vif);
			return err;
		}
	}
	if (c->ctrl) {
		err = nb_ctrl_start(vif, c->ctrl_ref, c->ctrl_evtchn);
		if (err < 0) {
			nb_vif_disconnect(vif);
			return err;
		}
	}
	return 0;
}

void nb_vif_disconnect(struct nb_vif *vif)
{
	uint32_t i;

	nb_ctrl_stop(vif);
	for (i = 0; i < PVK_NETBACK_MAX_QUEUES; i++) {
		queue_free(vif, vif->queues[i]);
		vif->queues[i] = NULL;
	}
	vif->nr_queues = 0;
}

void nb_vif_counters(struct nb_vif *vif, struct nb_counters *out)
{
	uint32_t i;

	*out = vif->old;
	for (i = 0; i < PVK_NETBACK_MAX_QUEUES; i++) {
		struct nb_queue *q = vif->queues[i];

		if (!q)
			continue;
#define ADD(f) out->f += __atomic_load_n(&q->c.f, __ATOMIC_RELAXED)
		ADD(tx_packets);
		ADD(tx_bytes);
		ADD(rx_packets);
		ADD(rx_bytes);
		ADD(tx_dropped);
		ADD(rx_dropped);
		ADD(errors);
		ADD(events);
		ADD(notifies);
#undef ADD
	}
}
