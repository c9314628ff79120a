/* SPDX-License-Identifier: MIT */
/*
 * pvk-xen-netevil: a hostile netif frontend, for the real-Xen lane's cell
 * 15 (run in the domU on a vif whose backend is pvkit's netback) and the
 * simulator's tests/net/netfront-sim.sh (as pvk-netevil, a guest).
 *
 *   pvk-xen-netevil DEVID CASE
 *
 * It makes the frontend's half of the handshake as a netfront would (tx
 * and rx rings of one page each, one event channel, request-rx-copy),
 * waits until the backend is Connected, then breaks the protocol in one
 * of these ways, notifies, and watches for SECS seconds:
 *
 *   prod-overflow   tx req_prod 2^31 ahead of anything the backend could
 *                   have consumed (more requests than the ring holds)
 *   too-many-slots  one packet chained over 64 slots (more_data on each)
 *   bad-gref        one 60-byte packet on a grant reference never issued;
 *                   a backend should answer it with an error status
 *   garbage         every tx slot random bytes, req_prod a random count
 *   rx-overflow     rx req_prod 2^31 ahead (the rx ring's requests)
 *
 * It prints what it saw: the backend's xenbus state, tx rsp_prod and the
 * statuses of any tx responses.  Exit status: 0 when the case was sent
 * (whatever the backend did: the cell judges dom0's side), 1 when the
 * handshake failed, 2 on usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <pvkit/hv.h>
#include <pvkit/netif.h>
#include <pvkit/xenbus.h>

#define WATCH_SECS 5
#define CHAIN_SLOTS 64

struct evil {
	struct pvk_hv *hv;
	struct pvk_xenbus_dev dev;
	struct pvk_evtchn *ev;
	int port;
	struct pvk_netif_tx_sring *tx;
	struct pvk_netif_rx_sring *rx;
	uint8_t *data;
	uint32_t tx_ref, rx_ref, data_ref;
	uint32_t tx_size;
};

static void publish_req_prod(pvk_ring_idx_t *prod, pvk_ring_idx_t v)
{
	__atomic_store_n(prod, v, __ATOMIC_RELEASE);
}

static int wait_backend_state(struct evil *e, int want, int secs)
{
	int st = 0, i;

	for (i = 0; i < secs * 10; i++) {
		st = pvk_xenbus_read_state(&e->dev, true);
		if (st == want)
			return 0;
		if (st >= PVK_XENBUS_CLOSING)
			break;
		usleep(100000);
	}
	fprintf(stderr, "pvk-xen-netevil: backend is %s, wanted %s\n",
		st < 0 ? strerror(-st) : pvk_xenbus_state_name(st),
		pvk_xenbus_state_name(want));
	return -ETIMEDOUT;
}

static int connect_frontend(struct evil *e, uint32_t devid)
{
	void *p;
	int err;

	/* The toolstack may attach the vif just after the domain starts
	 * (on the simulator, the domain is this program). */
	for (int i = 0; i < 100; i++) {
		err = pvk_xenbus_frontend_init(&e->dev, e->hv, "vif", devid);
		if (err != -ENOENT)
			break;
		usleep(100000);
	}
	if (err < 0) {
		fprintf(stderr, "pvk-xen-netevil: vif %u: %s\n", devid,
			strerror(-err));
		return err;
	}
	err = wait_backend_state(e, PVK_XENBUS_INITWAIT, 30);
	if (err < 0)
		return err;
	err = pvk_hv_grant_alloc(e->hv, e->dev.be_domid, 1, true, &e->tx_ref,
				 &p);
	if (err < 0)
		goto fail;
	e->tx = p;
	err = pvk_hv_grant_alloc(e->hv, e->dev.be_domid, 1, true, &e->rx_ref,
				 &p);
	if (err < 0)
		goto fail;
	e->rx = p;
	err = pvk_hv_grant_alloc(e->hv, e->dev.be_domid, 1, false, &e->data_ref,
				 &p);
	if (err < 0)
		goto fail;
	e->data = p;
	/* As SHARED_RING_INIT on the zeroed pages. */
	e->tx->req_event = e->tx->rsp_event = 1;
	e->rx->req_event = e->rx->rsp_event = 1;
	e->tx_size = pvk_netif_tx_ring_size(PVK_PAGE_SIZE);
	err = pvk_evtchn_open(e->hv, &e->ev);
	if (err < 0)
		goto fail;
	e->port = pvk_evtchn_alloc_unbound(e->ev, e->dev.be_domid);
	if (e->port < 0) {
		err = e->port;
		goto fail;
	}
	err = pvk_xenbus_printf(&e->dev, PVK_XS_NO_TXN, "tx-ring-ref", "%u",
				e->tx_ref);
	if (!err)
		err = pvk_xenbus_printf(&e->dev, PVK_XS_NO_TXN, "rx-ring-ref",
					"%u", e->rx_ref);
	if (!err)
		err = pvk_xenbus_printf(&e->dev, PVK_XS_NO_TXN, "event-channel",
					"%d", e->port);
	if (!err)
		err = pvk_xenbus_printf(&e->dev, PVK_XS_NO_TXN,
					"request-rx-copy", "1");
	if (!err)
		err = pvk_xenbus_printf(&e->dev, PVK_XS_NO_TXN,
					"feature-rx-notify", "1");
	if (!err)
		err = pvk_xenbus_switch_state(&e->dev, PVK_XENBUS_CONNECTED);
	if (err < 0)
		goto fail;
	return wait_backend_state(e, PVK_XENBUS_CONNECTED, 30);
fail:
	fprintf(stderr, "pvk-xen-netevil: setting up vif %u: %s\n", devid,
		strerror(-err));
	return err;
}

static void put_tx(struct evil *e, pvk_ring_idx_t idx,
		   const struct pvk_netif_tx_request *req)
{
	memcpy(&e->tx->ring[idx & (e->tx_size - 1)].req, req, sizeof(*req));
}

/* A minimal Ethernet broadcast frame in the data page. */
static void fill_frame(struct evil *e)
{
	memset(e->data, 0xff, 6);
	memcpy(e->data + 6, "\x00\x16\x3e\x5a\xee\xee", 6);
	e->data[12] = 0x08;
	e->data[13] = 0x06; /* ARP */
}

static int send_case(struct evil *e, const char *name)
{
	struct pvk_netif_tx_request req = { .gref = e->data_ref };
	pvk_ring_idx_t i;

	fill_frame(e);
	if (!strcmp(name, "prod-overflow")) {
		req.size = 60;
		put_tx(e, 0, &req);
		publish_req_prod(&e->tx->req_prod, 0x80000000u);
	} else if (!strcmp(name, "too-many-slots")) {
		for (i = 0; i < CHAIN_SLOTS; i++) {
			req.id = (uint16_t)i;
			req.offset = (uint16_t)(i * 60);
			req.size = i == 0 ? CHAIN_SLOTS * 60 : 60;
			req.flags = i + 1 < CHAIN_SLOTS ? PVK_NETTXF_more_data :
							  0;
			put_tx(e, i, &req);
		}
		publish_req_prod(&e->tx->req_prod, CHAIN_SLOTS);
	} else if (!strcmp(name, "bad-gref")) {
		req.gref = 0x7fffffffu;
		req.size = 60;
		put_tx(e, 0, &req);
		publish_req_prod(&e->tx->req_prod, 1);
	} else if (!strcmp(name, "garbage")) {
		uint8_t *p = (uint8_t *)e->tx->ring;
		size_t n = e->tx_size * sizeof(e->tx->ring[0]), k;

		srand((unsigned int)time(NULL) ^ (unsigned int)getpid());
		for (k = 0; k < n; k++)
			p[k] = (uint8_t)rand();
		publish_req_prod(&e->tx->req_prod,
				 1 + (pvk_ring_idx_t)rand() % e->tx_size);
	} else if (!strcmp(name, "rx-overflow")) {
		publish_req_prod(&e->rx->req_prod, 0x80000000u);
	} else {
		return -EINVAL;
	}
	return pvk_evtchn_notify(e->ev, (uint32_t)e->port);
}

/* Watch for WATCH_SECS: the backend's state and tx responses. */
static void report(struct evil *e)
{
	pvk_ring_idx_t rsp, i, seen = 0;
	int st = 0, s;

	for (s = 0; s < WATCH_SECS * 10; s++) {
		usleep(100000);
		st = pvk_xenbus_read_state(&e->dev, true);
		if (st >= PVK_XENBUS_CLOSING)
			break;
	}
	rsp = __atomic_load_n(&e->tx->rsp_prod, __ATOMIC_ACQUIRE);
	printf("backend %s, tx rsp_prod %u",
	       st < 0 ? strerror(-st) : pvk_xenbus_state_name(st), rsp);
	for (i = 0; i < rsp && seen < 8; i++, seen++) {
		struct pvk_netif_tx_response r;

		memcpy(&r, &e->tx->ring[i & (e->tx_size - 1)].rsp, sizeof(r));
		printf("%s id %u status %d", i ? "," : ":", r.id, r.status);
	}
	printf("\n");
}

int main(int argc, char **argv)
{
	struct evil e = { 0 };
	unsigned long devid;
	char *end;
	int err, rc = 1;

	if (argc != 3 ||
	    (devid = strtoul(argv[1], &end, 10), *end || !*argv[1])) {
		fprintf(stderr, "usage: pvk-xen-netevil DEVID CASE\n");
		return 2;
	}
	err = pvk_hv_open(&e.hv, PVK_HV_XEN);
	if (err < 0) {
		fprintf(stderr, "pvk-xen-netevil: pvk_hv_open: %s\n",
			strerror(-err));
		return 1;
	}
	/* Xen, or the simulator (netfront-sim.sh's hostile guests). */
	if (strcmp(pvk_hv_backend(e.hv), "xen") != 0 &&
	    strcmp(pvk_hv_backend(e.hv), "sim") != 0) {
		fprintf(stderr,
			"pvk-xen-netevil: running on %s, not Xen or pvkit's "
			"simulator\n",
			pvk_hv_backend(e.hv));
		goto close_hv;
	}
	if (connect_frontend(&e, (uint32_t)devid) < 0)
		goto close;
	err = send_case(&e, argv[2]);
	if (err == -EINVAL) {
		fprintf(stderr, "pvk-xen-netevil: no case '%s'\n", argv[2]);
		rc = 2;
		goto close;
	}
	if (err < 0) {
		fprintf(stderr, "pvk-xen-netevil: notify: %s\n",
			strerror(-err));
		goto close;
	}
	report(&e);
	rc = 0;
close:
	/* Leave as a frontend does, so the backend can let the vif go. */
	if (e.dev.hv)
		pvk_xenbus_switch_state(&e.dev, PVK_XENBUS_CLOSED);
	if (e.ev)
		pvk_evtchn_close(e.ev);
	if (e.data)
		pvk_hv_grant_free(e.hv, e.data, 1);
	if (e.rx)
		pvk_hv_grant_free(e.hv, e.rx, 1);
	if (e.tx)
		pvk_hv_grant_free(e.hv, e.tx, 1);
close_hv:
	pvk_hv_close(e.hv);
	return rc;
}
