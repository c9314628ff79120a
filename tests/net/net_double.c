// SPDX-License-Identifier: MIT
/* The netif backend test double (net_double.h). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <pvkit/xenbus.h>

#include "../common/t_toolstack.h"
#include "net_double.h"

uint64_t t_ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int t_be_write(struct t_be *b, const char *n, const char *v)
{
	char p[160];

	snprintf(p, sizeof(p), "%s/%s", b->dir, n);
	return pvk_xs_write(b->hv, PVK_XS_NO_TXN, p, v);
}

static int fe_uint(struct t_be *b, const char *n, unsigned long *v)
{
	char p[128];

	snprintf(p, sizeof(p), "/local/domain/%u/device/vif/0/%s", b->domu, n);
	return pvk_xs_read_uint(b->hv, PVK_XS_NO_TXN, p, v);
}

/* The backend's first half: features, InitWait. */
static int be_initwait(struct t_be *b)
{
	return t_be_write(b, "feature-rx-copy", "1")	       ?:
		       t_be_write(b, "feature-sg", "1")	       ?:
		       t_be_write(b, "feature-gso-tcpv4", "1") ?:
		       t_be_write(b, "state", "2");
}

/* Runs while the frontend's open blocks: wait for the frontend's
 * Connected, map its rings, bind, Connected.  The result goes to
 * b->err. */
static void *be_connect(void *arg)
{
	struct t_be *b = arg;
	unsigned long st = 0, txr, rxr, port;
	uint64_t t0 = t_ms_now();
	uint32_t ref;
	int rc;

	while (fe_uint(b, "state", &st) != 0 || st != PVK_XENBUS_CONNECTED) {
		if (t_ms_now() - t0 > T_NET_TMO_MS) {
			rc = -ETIMEDOUT;
			goto out;
		}
		usleep(200);
	}
	if ((rc = fe_uint(b, "tx-ring-ref", &txr)) ||
	    (rc = fe_uint(b, "rx-ring-ref", &rxr)) ||
	    (rc = fe_uint(b, "event-channel", &port)))
		goto out;
	ref = (uint32_t)txr;
	if ((rc = pvk_hv_grant_map(b->hv, b->domu, 1, &ref, true, &b->tx_map)))
		goto out;
	ref = (uint32_t)rxr;
	if ((rc = pvk_hv_grant_map(b->hv, b->domu, 1, &ref, true, &b->rx_map)))
		goto out;
	if ((rc = pvk_netif_tx_back_attach(&b->tx, b->tx_map, PVK_PAGE_SIZE)) ||
	    (rc = pvk_netif_rx_back_attach(&b->rx, b->rx_map, PVK_PAGE_SIZE)))
		goto out;
	if ((rc = pvk_evtchn_open(b->hv, &b->ev)) < 0)
		goto out;
	rc = pvk_evtchn_bind(b->ev, b->domu, (uint32_t)port);
	if (rc < 0)
		goto out;
	b->port = (uint32_t)rc;
	rc = t_be_write(b, "state", "4");
out:
	b->err = rc;
	return NULL;
}

/* The handshake beside netfront's blocking open. */
static int connect_both(struct t_net *n)
{
	pthread_t th;
	int rc;

	n->be.err = 0;
	rc = be_initwait(&n->be);
	if (rc)
		return rc;
	rc = pthread_create(&th, NULL, be_connect, &n->be);
	if (rc)
		return -rc;
	rc = pvk_netfront_open(&n->nf, n->hvu, 0, &n->opts);
	pthread_join(th, NULL);
	if (rc)
		return rc;
	return n->be.err;
}

int t_net_setup(struct t_net *n, const struct pvk_netfront_opts *o)
{
	static const char *const be[] = { "mac=00:16:3e:00:02:00", "handle=0",
					  "script=vif-bridge", "type=vif",
					  NULL };
	static const char *const fen[] = { "handle=0", "mac=00:16:3e:00:02:00",
					   NULL };
	struct t_dev d = { .type = "vif",
			   .fe_type = "vif",
			   .devid = 0,
			   .be_nodes = be,
			   .fe_nodes = fen };
	int rc;

	memset(n, 0, sizeof(*n));
	n->opts = (struct pvk_netfront_opts){
		.max_queues = 1, .flags = PVK_NETFRONT_NO_SPLIT_EVTCHN
	};
	if (o)
		n->opts = *o;
	rc = pvk_loop_create(&n->loop)					   ?:
		     pvk_hv_open_loop(&n->tool, n->loop, 0)		   ?:
		     pvk_hv_open_loop(&n->be.hv, n->loop, 0)		   ?:
		     pvk_loop_domain_create(n->loop, "guest", &n->be.domu) ?:
		     pvk_hv_open_loop(&n->hvu, n->loop, n->be.domu);
	if (rc)
		return rc;
	d.fe = n->be.domu;
	rc = t_dev_attach(n->tool, &d);
	if (rc)
		return rc;
	snprintf(n->be.dir, sizeof(n->be.dir),
		 "/local/domain/0/backend/vif/%u/0", n->be.domu);
	return connect_both(n);
}

/* The double lets go of the rings and closes, as a backend does when its
 * frontend goes Closing: every grant comes back. */
static void be_close(struct t_be *b)
{
	size_t i;

	for (i = 0; i < sizeof(b->rx_page) / sizeof(b->rx_page[0]); i++) {
		if (b->rx_page[i])
			pvk_hv_grant_unmap(b->hv, b->rx_page[i], 1);
		b->rx_page[i] = NULL;
	}
	if (b->ev)
		pvk_evtchn_close(b->ev);
	if (b->tx_map)
		pvk_hv_grant_unmap(b->hv, b->tx_map, 1);
	if (b->rx_map)
		pvk_hv_grant_unmap(b->hv, b->rx_map, 1);
	b->ev = NULL;
	b->tx_map = b->rx_map = NULL;
	memset(&b->tx, 0, sizeof(b->tx));
	memset(&b->rx, 0, sizeof(b->rx));
	if (b->hv)
		t_be_write(b, "state", "6");
}

int t_net_reconnect(struct t_net *n)
{
	be_close(&n->be);
	pvk_netfront_close(n->nf);
	n->nf = NULL;
	return connect_both(n);
}

void t_net_teardown(struct t_net *n)
{
	be_close(&n->be);
	pvk_netfront_close(n->nf);
	if (n->hvu)
		pvk_hv_close(n->hvu);
	if (n->be.hv)
		pvk_hv_close(n->be.hv);
	if (n->tool)
		pvk_hv_close(n->tool);
	if (n->loop)
		pvk_loop_destroy(n->loop);
	memset(n, 0, sizeof(*n));
}

void t_be_kick(struct t_be *b, struct pvk_ring *r)
{
	pvk_ring_push(r);
	pvk_evtchn_notify(b->ev, b->port);
}

int t_be_rx_req(struct t_be *b, struct pvk_netif_rx_request *q)
{
	memset(q, 0, sizeof(*q));
	return pvk_netif_rx_get_request(&b->rx, q);
}

int t_be_fill(struct t_be *b, const struct pvk_netif_rx_request *q,
	      uint16_t off, const void *data, size_t len)
{
	void *p;
	int rc;

	if ((size_t)off + len > PVK_PAGE_SIZE)
		return -EINVAL;
	rc = pvk_hv_grant_map(b->hv, b->domu, 1, &q->gref, true, &p);
	if (rc)
		return rc;
	memcpy((uint8_t *)p + off, data, len);
	return pvk_hv_grant_unmap(b->hv, p, 1);
}

void *t_be_rx_page(struct t_be *b, const struct pvk_netif_rx_request *q)
{
	size_t i = q->id % (sizeof(b->rx_page) / sizeof(b->rx_page[0]));

	if (b->rx_page[i] && b->rx_gref[i] != q->gref) {
		pvk_hv_grant_unmap(b->hv, b->rx_page[i], 1);
		b->rx_page[i] = NULL;
	}
	if (!b->rx_page[i] &&
	    pvk_hv_grant_map(b->hv, b->domu, 1, &q->gref, true, &b->rx_page[i]))
		b->rx_page[i] = NULL;
	b->rx_gref[i] = q->gref;
	return b->rx_page[i];
}

int t_be_rx_map_all(struct t_be *b)
{
	const uint8_t *ring = b->rx_map;
	struct pvk_netif_rx_request q;
	uint32_t i;

	if (!ring)
		return -ENOTCONN;
	/* The shared ring: a 64-byte header, then the slots. */
	for (i = 0; i < b->rx.nr_ents; i++) {
		memcpy(&q,
		       ring + 64 + i * sizeof(union pvk_netif_rx_sring_entry),
		       sizeof(q));
		if (!t_be_rx_page(b, &q))
			return -ENOMEM;
	}
	return (int)i;
}

int t_be_rsp(struct t_be *b, uint16_t id, uint16_t off, uint16_t flags,
	     int16_t status)
{
	struct pvk_netif_rx_response r = {
		.id = id, .offset = off, .flags = flags, .status = status
	};

	return pvk_netif_rx_put_response(&b->rx, &r);
}
