// SPDX-License-Identifier: MIT
/*
 * frontend/netfront.c -- netfront data path: per-queue tx and rx rings,
 * their granted pages, frames in and out, event channels; the public API.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "netfront_priv.h"

void nf_log(struct pvk_netfront *nf, const char *fmt, ...)
{
	char line[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (nf->opts.log)
		nf->opts.log(nf->opts.log_arg, line);
	else
		fprintf(stderr, "pvk-netfront %s: %s\n", nf->name, line);
}

void nf_set_broken(struct pvk_netfront *nf, const char *fmt, ...)
{
	va_list ap;

	if (nf->fr.phase == NF_BROKEN || nf->fr.phase == NF_GONE)
		return;
	va_start(ap, fmt);
	vsnprintf(nf->broken_buf, sizeof(nf->broken_buf), fmt, ap);
	va_end(ap);
	nf->broken_why = nf->broken_buf;
	nf->fr.phase = NF_BROKEN;
	nf_log(nf, "backend protocol violation: %s; interface disabled",
	       nf->broken_why);
}

static int nf_err(const struct pvk_netfront *nf)
{
	switch (nf->fr.phase) {
	case NF_CONNECTED:
		return 0;
	case NF_BROKEN:
		return -EIO;
	case NF_GONE:
		return -ENODEV;
	default:
		return -EAGAIN;
	}
}

static void notify(struct pvk_netfront *nf, int port)
{
	if (port >= 0 && pvk_evtchn_notify(nf->ev, (uint32_t)port) == 0)
		nf->st.notifies++;
}

/* ---- rings ------------------------------------------------------------- */

static void queue_free(struct pvk_netfront *nf, struct nf_queue *q)
{
	uint32_t i;

	if (q->port_rx >= 0 && q->port_rx != q->port_tx)
		pvk_evtchn_unbind(nf->ev, (uint32_t)q->port_rx);
	if (q->port_tx >= 0)
		pvk_evtchn_unbind(nf->ev, (uint32_t)q->port_tx);
	for (i = 0; i < NF_RING_ENTS; i++) {
		if (q->tx_state[i] != NF_TX_FREE)
			nf->st.tx_dropped += q->tx_state[i] == NF_TX_FIRST;
		if (q->tx_pages[i])
			pvk_gntpool_put(&nf->gp, q->tx_pages[i]);
		if (q->rx_pages[i])
			pvk_gntpool_put(&nf->gp, q->rx_pages[i]);
	}
	pvk_gntpool_release(&nf->gp, q->tx_sring, 1);
	pvk_gntpool_release(&nf->gp, q->rx_sring, 1);
	free(q->stage);
	free(q);
}

void nf_rings_free(struct pvk_netfront *nf)
{
	uint32_t i;

	for (i = 0; i < nf->nr_queues; i++) {
		queue_free(nf, nf->q[i]);
		nf->q[i] = NULL;
	}
	nf->nr_queues = 0;
	if (nf->fr.phase != NF_BROKEN && nf->fr.phase != NF_GONE)
		nf->fr.phase = NF_DISCONNECTED;
}

static int queue_alloc(struct pvk_netfront *nf, uint32_t idx, bool split,
		       struct nf_queue **out)
{
	struct nf_queue *q = calloc(1, sizeof(*q));
	uint32_t i;
	int rc;

	if (!q)
		return -ENOMEM;
	q->idx = idx;
	q->port_tx = q->port_rx = -1;
	q->fr.hash_type = -1;
	*out = q;
	rc = pvk_gntpool_alloc(&nf->gp, 1, true, &q->tx_ref, &q->tx_sring);
	if (rc < 0)
		return rc;
	rc = pvk_gntpool_alloc(&nf->gp, 1, true, &q->rx_ref, &q->rx_sring);
	if (rc < 0)
		return rc;
	if (pvk_netif_tx_front_init(&q->tx, q->tx_sring, PVK_PAGE_SIZE) < 0 ||
	    pvk_netif_rx_front_init(&q->rx, q->rx_sring, PVK_PAGE_SIZE) < 0 ||
	    q->tx.nr_ents != NF_RING_ENTS || q->rx.nr_ents != NF_RING_ENTS)
		return -EINVAL;
	rc = pvk_gntpool_get(&nf->gp, NF_RING_ENTS, q->tx_pages);
	if (rc < 0)
		return rc;
	rc = pvk_gntpool_get(&nf->gp, NF_RING_ENTS, q->rx_pages);
	if (rc < 0) {
		for (i = 0; i < NF_RING_ENTS; i++) {
			pvk_gntpool_put(&nf->gp, q->tx_pages[i]);
			q->tx_pages[i] = NULL;
		}
		return rc;
	}
	for (i = 0; i < NF_RING_ENTS; i++)
		q->tx_free[i] = (uint16_t)(NF_RING_ENTS - 1 - i);
	q->tx_nfree = NF_RING_ENTS;
	rc = pvk_evtchn_alloc_unbound(nf->ev, nf->info.backend_id);
	if (rc < 0)
		return rc;
	q->port_tx = q->port_rx = rc;
	if (split) {
		rc = pvk_evtchn_alloc_unbound(nf->ev, nf->info.backend_id);
		if (rc < 0)
			return rc;
		q->port_rx = rc;
	}
	/* Fill the rx ring: request i uses page i, and says so in its id. */
	for (i = 0; i < NF_RING_ENTS; i++) {
		struct pvk_netif_rx_request r = {
			.id = (uint16_t)i,
			.gref = q->rx_pages[i]->gref,
		};

		pvk_netif_rx_put_request(&q->rx, &r);
	}
	pvk_ring_push(&q->rx);
	return 0;
}

int nf_rings_alloc(struct pvk_netfront *nf, uint32_t nq, bool split)
{
	uint32_t i;
	int rc;

	for (i = 0; i < nq; i++) {
		rc = queue_alloc(nf, i, split, &nf->q[i]);
		nf->nr_queues = i + 1;
		if (rc < 0)
			goto free_rings;
	}
	nf->info.nr_queues = nq;
	nf->info.split_evtchn = split;
	nf->info.tx_ring_entries = NF_RING_ENTS;
	nf->info.rx_ring_entries = NF_RING_ENTS;
	return 0;

free_rings:
	nf_rings_free(nf);
	return rc;
}

/* The backend is Connected: it has bound our ports; tell it about the rx
 * buffers posted before it was listening. */
void nf_start(struct pvk_netfront *nf)
{
	uint32_t i;

	nf->fr.phase = NF_CONNECTED;
	for (i = 0; i < nf->nr_queues; i++) {
		notify(nf, nf->q[i]->port_rx);
		if (nf->q[i]->port_tx != nf->q[i]->port_rx)
			notify(nf, nf->q[i]->port_tx);
	}
}

/* The queue a send or recv names, after checking the call; -errno. */
static int nf_queue_for(struct pvk_netfront *nf, unsigned int queue,
			const struct pvk_netfront_pkt *pkts, unsigned int n,
			struct nf_queue **q)
{
	int rc;

	if (!nf || (!pkts && n))
		return -EINVAL;
	rc = nf_err(nf);
	if (rc)
		return rc;
	if (queue >= nf->nr_queues)
		return -EINVAL;
	*q = nf->q[queue];
	return 0;
}

/* ---- tx ---------------------------------------------------------------- */

/* Collect tx responses: free their slots.  Returns -EIO if broken. */
static int tx_reap(struct pvk_netfront *nf, struct nf_queue *q)
{
	struct pvk_netif_tx_response r;
	int rc;

	while ((rc = pvk_netif_tx_get_response(&q->tx, &r)) == 1) {
		if (r.status == PVK_NETIF_RSP_NULL)
			continue; /* the answer to an extra-info slot */
		if (r.id >= NF_RING_ENTS || q->tx_state[r.id] == NF_TX_FREE) {
			nf_set_broken(
				nf, "queue %u: tx response id %u not in flight",
				q->idx, r.id);
			return -EIO;
		}
		if (q->tx_state[r.id] == NF_TX_FIRST &&
		    r.status != PVK_NETIF_RSP_OKAY)
			nf->st.tx_errors++;
		q->tx_state[r.id] = NF_TX_FREE;
		q->tx_free[q->tx_nfree++] = r.id;
	}
	if (rc < 0) {
		nf_set_broken(nf, "queue %u: tx ring: %s", q->idx,
			      pvk_ring_broken_reason(&q->tx) ?: "violation");
		return -EIO;
	}
	return 0;
}

/* Check @p against what was negotiated; the slots it needs, or -errno. */
static int tx_slots(const struct pvk_netfront *nf,
		    const struct pvk_netfront_pkt *p)
{
	const struct pvk_net_meta *m = &p->meta;
	uint32_t n;

	if (!p->data || p->len < PVK_NET_ETH_HLEN)
		return -EINVAL;
	if (p->len > PVK_NETFRONT_MAX_TX_FRAME)
		return -EMSGSIZE;
	n = (p->len + PVK_PAGE_SIZE - 1) / PVK_PAGE_SIZE;
	if (n > 1 && !nf->info.sg)
		return -EMSGSIZE;
	if ((m->flags & PVK_NET_META_CSUM_PARTIAL) && !nf->info.csum)
		return -EOPNOTSUPP;
	if (m->gso_type == PVK_NET_GSO_NONE)
		return (int)n;
	if (!m->gso_size || !(m->flags & PVK_NET_META_CSUM_PARTIAL) ||
	    m->gso_type > PVK_NET_GSO_TCPV6)
		return -EINVAL;
	if ((m->gso_type == PVK_NET_GSO_TCPV4 && !nf->info.gso_tcpv4) ||
	    (m->gso_type == PVK_NET_GSO_TCPV6 && !nf->info.gso_tcpv6))
		return -EOPNOTSUPP;
	return (int)n + 1;
}

static uint16_t tx_take(struct nf_queue *q, const uint8_t *src, uint32_t len,
			bool first)
{
	uint16_t id = q->tx_free[--q->tx_nfree];

	q->tx_state[id] = first ? NF_TX_FIRST : NF_TX_MORE;
	memcpy(q->tx_pages[id]->va, src, len);
	return id;
}

static void tx_put(struct nf_queue *q, const struct pvk_netfront_pkt *p)
{
	const uint8_t *src = p->data;
	uint32_t chunk = p->len < PVK_PAGE_SIZE ? p->len : PVK_PAGE_SIZE;
	uint32_t off = chunk;
	bool gso = p->meta.gso_type != PVK_NET_GSO_NONE;
	struct pvk_netif_tx_request r = { .size = (uint16_t)p->len };

	if (p->meta.flags & PVK_NET_META_CSUM_PARTIAL)
		r.flags = PVK_NETTXF_csum_blank | PVK_NETTXF_data_validated;
	else if (p->meta.flags & PVK_NET_META_DATA_VALID)
		r.flags = PVK_NETTXF_data_validated;
	if (p->len > chunk)
		r.flags |= PVK_NETTXF_more_data;
	if (gso)
		r.flags |= PVK_NETTXF_extra_info;
	r.id = tx_take(q, src, chunk, true);
	r.gref = q->tx_pages[r.id]->gref;
	pvk_netif_tx_put_request(&q->tx, &r);
	if (gso) {
		struct pvk_netif_extra_info x = {
			.type = PVK_NETIF_EXTRA_TYPE_GSO,
			.u.gso = { .size = p->meta.gso_size,
				   .type = p->meta.gso_type },
		};

		pvk_netif_put_tx_extra(&q->tx, &x);
	}
	while (off < p->len) {
		chunk = p->len - off < PVK_PAGE_SIZE ? p->len - off :
						       PVK_PAGE_SIZE;
		r = (struct pvk_netif_tx_request){ .size = (uint16_t)chunk };
		if (off + chunk < p->len)
			r.flags = PVK_NETTXF_more_data;
		r.id = tx_take(q, src + off, chunk, false);
		r.gref = q->tx_pages[r.id]->gref;
		pvk_netif_tx_put_request(&q->tx, &r);
		off += chunk;
	}
}

int pvk_netfront_send(struct pvk_netfront *nf, unsigned int queue,
		      const struct pvk_netfront_pkt *pkts, unsigned int n)
{
	struct nf_queue *q;
	unsigned int i;
	int rc, need;

	rc = nf_queue_for(nf, queue, pkts, n, &q);
	if (rc)
		return rc;
	if (tx_reap(nf, q) < 0)
		return -EIO;
	for (i = 0; i < n; i++) {
		need = tx_slots(nf, &pkts[i]);
		if (need < 0) {
			rc = need;
			break;
		}
		if (pvk_ring_space(&q->tx) < (uint32_t)need ||
		    q->tx_nfree < (uint32_t)need) {
			rc = -EAGAIN;
			break;
		}
		tx_put(q, &pkts[i]);
		nf->st.tx_packets++;
		nf->st.tx_bytes += pkts[i].len;
		nf->st.tx_gso += pkts[i].meta.gso_type != PVK_NET_GSO_NONE;
	}
	if (pvk_ring_push(&q->tx))
		notify(nf, q->port_tx);
	return i ? (int)i : rc;
}

unsigned int pvk_netfront_tx_space(const struct pvk_netfront *nf,
				   unsigned int queue)
{
	const struct nf_queue *q;
	uint32_t s;

	if (!nf || nf->fr.phase != NF_CONNECTED || queue >= nf->nr_queues)
		return 0;
	q = nf->q[queue];
	s = pvk_ring_space(&q->tx);
	return s < q->tx_nfree ? s : q->tx_nfree;
}

/* ---- rx ---------------------------------------------------------------- */

static void rx_repost(struct pvk_netfront *nf, struct nf_queue *q)
{
	while (q->rx_consumed) {
		uint32_t idx = q->rx.prod_pvt & (NF_RING_ENTS - 1);
		struct pvk_netif_rx_request r = {
			.id = (uint16_t)idx,
			.gref = q->rx_pages[idx]->gref,
		};

		if (pvk_netif_rx_put_request(&q->rx, &r) < 0)
			break;
		q->rx_consumed--;
	}
	if (pvk_ring_push(&q->rx))
		notify(nf, q->port_rx);
}

static int rx_extra(struct pvk_netfront *nf, struct nf_queue *q,
		    const struct pvk_netif_extra_info *x)
{
	struct nf_rx_frame *f = &q->fr;

	if (!(x->flags & PVK_NETIF_EXTRA_FLAG_MORE))
		f->extra_next = false;
	switch (x->type) {
	case PVK_NETIF_EXTRA_TYPE_GSO:
		if ((x->u.gso.type != PVK_NETIF_GSO_TYPE_TCPV4 &&
		     x->u.gso.type != PVK_NETIF_GSO_TYPE_TCPV6) ||
		    !x->u.gso.size)
			f->bad = true;
		f->gso_type = x->u.gso.type;
		f->gso_size = x->u.gso.size;
		break;
	case PVK_NETIF_EXTRA_TYPE_HASH:
		if (x->u.hash.type > PVK_NETIF_CTRL_HASH_TYPE_IPV6_TCP) {
			f->bad = true;
			break;
		}
		f->hash_type = x->u.hash.type;
		f->hash = (uint32_t)x->u.hash.value[0] |
			  (uint32_t)x->u.hash.value[1] << 8 |
			  (uint32_t)x->u.hash.value[2] << 16 |
			  (uint32_t)x->u.hash.value[3] << 24;
		break;
	default:
		f->bad = true;
		break;
	}
	(void)nf;
	return 0;
}

/* The frame in @dst (@f->len bytes) is complete: fill in @p or drop it.
 * Returns 1 if delivered. */
static int rx_finish(struct pvk_netfront *nf, struct nf_queue *q,
		     struct pvk_netfront_pkt *p, uint8_t *dst)
{
	struct nf_rx_frame *f = &q->fr;
	struct pvk_net_meta m = { 0 };
	struct pvk_net_hdrs h;
	int ok = 0;

	if (f->bad || f->len < PVK_NET_ETH_HLEN) {
		nf->st.rx_errors++;
		goto reset;
	}
	if (f->too_long || f->len > p->len) {
		nf->st.rx_dropped++;
		goto reset;
	}
	if (f->first_flags & PVK_NETRXF_csum_blank) {
		/* Find the checksum as Linux's netfront does
		 * (skb_checksum_setup); a frame where none can be is
		 * dropped. */
		if (pvk_net_csum_setup(dst, f->len, false, &m) < 0) {
			nf->st.rx_errors++;
			goto reset;
		}
	} else if (f->first_flags & PVK_NETRXF_data_validated) {
		m.flags = PVK_NET_META_DATA_VALID;
	}
	if (f->gso_type != PVK_NET_GSO_NONE) {
		if (!(m.flags & PVK_NET_META_CSUM_PARTIAL) ||
		    pvk_net_parse(dst, f->len, &h) < 0 || h.l4_proto != 6 ||
		    (f->gso_type == PVK_NET_GSO_TCPV4) !=
			    (h.l3_proto == 0x0800)) {
			nf->st.rx_errors++;
			goto reset;
		}
		m.gso_type = f->gso_type;
		m.gso_size = f->gso_size;
		m.hdr_len = (uint16_t)(h.l4_off + h.l4_len);
		nf->st.rx_gso++;
	}
	if (f->staged)
		memcpy(p->data, dst, f->len);
	p->len = f->len;
	p->meta = m;
	p->hash_type = f->hash_type;
	p->hash = f->hash;
	nf->st.rx_packets++;
	nf->st.rx_bytes += f->len;
	ok = 1;
reset:
	*f = (struct nf_rx_frame){ .hash_type = -1 };
	return ok;
}

/*
 * Take rx slots until @n frames are delivered or none is left.  A frame's
 * data is copied straight into the caller's buffer; one still incomplete
 * when the slots run out moves to q->stage until the next call.
 */
static int rx_take(struct pvk_netfront *nf, struct nf_queue *q,
		   struct pvk_netfront_pkt *pkts, unsigned int n)
{
	struct nf_rx_frame *f = &q->fr;
	union pvk_netif_rx_slot s;
	unsigned int got = 0;
	uint8_t *dst = NULL;
	uint32_t cap = 0, idx;
	int rc;

	if (f->active) {
		/* Carry on in the staging buffer: the caller's may be
		 * smaller than the frame's final size. */
		dst = q->stage;
		cap = PVK_NETFRONT_MAX_RX_FRAME;
	}
	while (got < n) {
		rc = pvk_netif_get_rx_slot(&q->rx, &s);
		if (rc == 0)
			break;
		if (rc < 0) {
			nf_set_broken(nf, "queue %u: rx ring: %s", q->idx,
				      pvk_ring_broken_reason(&q->rx) ?:
					      "violation");
			return -EIO;
		}
		idx = (q->rx.cons - 1) & (NF_RING_ENTS - 1);
		q->rx_consumed++;
		if (f->active && f->extra_next) {
			rx_extra(nf, q, &s.extra);
		} else {
			const struct pvk_netif_rx_response *r = &s.rsp;

			if (r->id != idx) {
				nf_set_broken(nf,
					      "queue %u: rx response id %u in "
					      "the slot of request %u",
					      q->idx, r->id, idx);
				return -EIO;
			}
			if (!f->active) {
				*f = (struct nf_rx_frame){
					.active = true,
					.first_flags = r->flags,
					.extra_next = r->flags &
						      PVK_NETRXF_extra_info,
					.hash_type = -1,
				};
				dst = pkts[got].data;
				cap = pkts[got].len;
			}
			f->more = r->flags & PVK_NETRXF_more_data;
			if (++f->slots > PVK_NETFRONT_MAX_SLOTS ||
			    r->status < 0 ||
			    (uint32_t)r->offset + (uint32_t)r->status >
				    PVK_PAGE_SIZE)
				f->bad = true;
			if (!f->bad && r->status > 0) {
				if (f->len + (uint32_t)r->status > cap) {
					/* Too long for the caller: count
					 * the rest, deliver nothing. */
					f->len += (uint32_t)r->status;
					f->too_long = true;
					cap = 0;
				} else {
					memcpy(dst + f->len,
					       (uint8_t *)q->rx_pages[idx]->va +
						       r->offset,
					       (size_t)r->status);
					f->len += (uint32_t)r->status;
				}
			}
		}
		if (!f->extra_next && !f->more)
			got += (unsigned int)rx_finish(nf, q, &pkts[got], dst);
	}
	if (f->active && dst != q->stage) {
		/* Slots ran out mid-frame: keep what we have. */
		if (!q->stage &&
		    !(q->stage = malloc(PVK_NETFRONT_MAX_RX_FRAME)))
			f->bad = true;
		else if (!f->too_long)
			memcpy(q->stage, dst, f->len);
		f->staged = true;
	}
	return (int)got;
}

int pvk_netfront_recv(struct pvk_netfront *nf, unsigned int queue,
		      struct pvk_netfront_pkt *pkts, unsigned int n)
{
	struct nf_queue *q;
	int rc;

	rc = nf_queue_for(nf, queue, pkts, n, &q);
	if (rc)
		return rc;
	rc = rx_take(nf, q, pkts, n);
	if (rc >= 0)
		rx_repost(nf, q);
	return rc;
}

/* ---- events ------------------------------------------------------------ */

int pvk_netfront_fd(const struct pvk_netfront *nf)
{
	return nf ? nf->epfd : -EINVAL;
}

int pvk_netfront_process(struct pvk_netfront *nf)
{
	uint32_t i;
	int port, rc;

	if (!nf)
		return -EINVAL;
	while ((port = pvk_evtchn_pending(nf->ev)) >= 0) {
		nf->st.events++;
		pvk_evtchn_unmask(nf->ev, (uint32_t)port);
	}
	rc = pvk_xenbus_front_handle(&nf->fr);
	if (rc < 0 && rc != -EAGAIN && nf->fr.phase != NF_BROKEN &&
	    nf->fr.phase != NF_GONE)
		nf_log(nf, "xenstore: %s", strerror(-rc));
	for (i = 0; i < nf->nr_queues && nf->fr.phase == NF_CONNECTED; i++)
		tx_reap(nf, nf->q[i]);
	rc = nf_err(nf);
	return rc == -EAGAIN ? 0 : rc;
}

int pvk_netfront_arm(struct pvk_netfront *nf)
{
	uint32_t i;
	int rc, n = 0;

	if (!nf)
		return -EINVAL;
	for (i = 0; i < nf->nr_queues && nf->fr.phase == NF_CONNECTED; i++) {
		struct nf_queue *q = nf->q[i];

		rc = pvk_ring_final_check(&q->rx);
		if (rc > 0)
			n += rc;
		if (pvk_ring_in_flight(&q->tx)) {
			rc = pvk_ring_final_check(&q->tx);
			if (rc > 0)
				n += rc;
		}
		if (pvk_ring_is_broken(&q->rx) || pvk_ring_is_broken(&q->tx)) {
			nf_set_broken(nf, "queue %u: %s", q->idx,
				      pvk_ring_broken_reason(&q->rx) ?:
					      pvk_ring_broken_reason(&q->tx));
			return -EIO;
		}
	}
	return n;
}

int pvk_netfront_wait(struct pvk_netfront *nf, int timeout_ms)
{
	struct epoll_event e[2];
	int rc;

	/* Act on what is already there (a state change must not wait
	 * behind frames nobody takes), then sleep only if nothing is. */
	rc = pvk_netfront_process(nf);
	if (rc < 0)
		return rc;
	rc = pvk_netfront_arm(nf);
	if (rc != 0)
		return rc;
	rc = epoll_wait(nf->epfd, e, 2, timeout_ms);
	if (rc < 0)
		return errno == EINTR ? 1 : -errno;
	if (rc == 0)
		return 0;
	rc = pvk_netfront_process(nf);
	return rc < 0 ? rc : 1;
}

/* ---- open/close -------------------------------------------------------- */

const char *pvk_netfront_broken_reason(const struct pvk_netfront *nf)
{
	return nf ? nf->broken_why : NULL;
}

bool pvk_netfront_connected(const struct pvk_netfront *nf)
{
	return nf && nf->fr.phase == NF_CONNECTED;
}

void pvk_netfront_info(const struct pvk_netfront *nf,
		       struct pvk_netfront_info *info)
{
	*info = nf->info;
}

void pvk_netfront_stats(const struct pvk_netfront *nf,
			struct pvk_netfront_stats *st)
{
	*st = nf->st;
}

static bool be_closed(void *arg)
{
	struct pvk_netfront *nf = arg;
	int be = pvk_xenbus_read_state(&nf->fr.dev, true);

	return be < 0 || be == PVK_XENBUS_CLOSED || be == PVK_XENBUS_UNKNOWN;
}

int pvk_netfront_open(struct pvk_netfront **nfp, struct pvk_hv *hv,
		      uint32_t devid, const struct pvk_netfront_opts *opts)
{
	struct epoll_event e = { .events = EPOLLIN };
	struct pvk_netfront *nf;
	uint64_t deadline = 0;
	int rc, tmo;

	if (!nfp || !hv)
		return -EINVAL;
	*nfp = NULL;
	if (opts && ((opts->flags & ~PVK_NETFRONT_VALID_FLAGS) ||
		     opts->max_queues > PVK_NETFRONT_MAX_QUEUES))
		return -EINVAL;
	nf = calloc(1, sizeof(*nf));
	if (!nf)
		return -ENOMEM;
	nf->hv = hv;
	nf->epfd = -1;
	if (opts)
		nf->opts = *opts;
	if (!nf->opts.max_queues) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);

		nf->opts.max_queues = cpus < 1 ? 1 :
				      cpus > 4 ? 4 :
						 (unsigned int)cpus;
	}
	if (!nf->opts.connect_timeout_ms)
		nf->opts.connect_timeout_ms = 10000;
	snprintf(nf->name, sizeof(nf->name), "vif%u", devid);

	rc = pvk_evtchn_open(hv, &nf->ev);
	if (rc < 0)
		goto free_nf;
	nf->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (nf->epfd < 0) {
		rc = -errno;
		goto close_evtchn;
	}
	if (epoll_ctl(nf->epfd, EPOLL_CTL_ADD, pvk_evtchn_fd(nf->ev), &e) < 0) {
		rc = -errno;
		goto close_epoll;
	}
	rc = nf_xs_init(nf, devid);
	if (rc < 0)
		goto close_epoll;
	pvk_gntpool_init(&nf->gp, hv, nf->info.backend_id, NF_RING_ENTS,
			 2 * NF_RING_ENTS * PVK_NETFRONT_MAX_QUEUES);
	rc = pvk_xs_watch_fd(hv);
	if (rc < 0 || epoll_ctl(nf->epfd, EPOLL_CTL_ADD, rc, &e) < 0) {
		rc = rc < 0 ? rc : -errno;
		goto fini_xs;
	}
	rc = pvk_xenbus_front_switch(&nf->fr, PVK_XENBUS_INITIALISING);
	if (rc < 0)
		goto fini_xs;
	rc = pvk_xenbus_front_step(&nf->fr);
	if (rc < 0)
		goto fini_xs;

	if (nf->opts.connect_timeout_ms > 0)
		deadline = pvk_spin_clock_ms() +
			   (uint64_t)nf->opts.connect_timeout_ms;
	while (nf->fr.phase != NF_CONNECTED) {
		struct epoll_event ev[2];

		if (nf->fr.phase == NF_BROKEN) {
			rc = nf->fr.err ? nf->fr.err : -EPROTO;
			goto fini_xs;
		}
		if (nf->fr.phase == NF_GONE) {
			rc = -ENODEV;
			goto fini_xs;
		}
		tmo = -1;
		if (deadline) {
			uint64_t now = pvk_spin_clock_ms();

			if (now >= deadline) {
				rc = -ETIMEDOUT;
				goto fini_xs;
			}
			tmo = (int)(deadline - now);
		}
		if (epoll_wait(nf->epfd, ev, 2, tmo) < 0 && errno != EINTR) {
			rc = -errno;
			goto fini_xs;
		}
		rc = pvk_netfront_process(nf);
		if (rc < 0 && nf->fr.phase != NF_BROKEN &&
		    nf->fr.phase != NF_GONE)
			goto fini_xs;
	}
	*nfp = nf;
	return 0;

fini_xs:
	nf_rings_free(nf);
	pvk_xenbus_front_switch(&nf->fr, PVK_XENBUS_CLOSED);
	pvk_xenbus_front_fini(&nf->fr);
	pvk_gntpool_drain(&nf->gp, be_closed, nf, 2000);
close_epoll:
	close(nf->epfd);
close_evtchn:
	pvk_evtchn_close(nf->ev);
free_nf:
	free(nf);
	return rc;
}

void pvk_netfront_close(struct pvk_netfront *nf)
{
	uint64_t end, left;

	if (!nf)
		return;
	nf->fr.closing = true;
	if (nf->fr.phase != NF_GONE) {
		/* As Linux's netfront: Closing, wait for the backend to
		 * close (it stops using our rings), then Closed. */
		pvk_xenbus_front_switch(&nf->fr, PVK_XENBUS_CLOSING);
		end = pvk_spin_clock_ms() + 2000;
		while (pvk_spin_clock_ms() < end) {
			int be = pvk_xenbus_read_state(&nf->fr.dev, true);

			if (be < 0 || be == PVK_XENBUS_CLOSING ||
			    be == PVK_XENBUS_CLOSED || be == PVK_XENBUS_UNKNOWN)
				break;
			usleep(10000);
		}
	}
	nf_rings_free(nf);
	if (nf->fr.phase != NF_GONE)
		pvk_xenbus_front_switch(&nf->fr, PVK_XENBUS_CLOSED);
	left = pvk_gntpool_drain(&nf->gp, be_closed, nf, 2000);
	if (left)
		nf_log(nf,
		       "backend domain %u still maps %llu granted pages; left "
		       "granted until the hv handle closes",
		       nf->info.backend_id, (unsigned long long)left);
	pvk_xenbus_front_fini(&nf->fr);
	close(nf->epfd);
	pvk_evtchn_close(nf->ev);
	free(nf);
}
