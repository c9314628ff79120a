/* SPDX-License-Identifier: MIT */
/*
 * pvk-xen-netbackevil: a hostile netif backend in dom0, for the real-Xen
 * lane's check of pvkit-netfront's hardening (cell 25).
 *
 *   pvk-xen-netbackevil FE_DOMID DEVID CASE
 *
 * It serves backend/pvkvif/FE_DOMID/DEVID (a vif whose frontend is in
 * device/pvkvif, with no other backend running): feature-rx-copy, one
 * queue, one event channel, and feature-ctrl-ring for the ctrl case only.
 * Once both ends are Connected it answers one request in one of these
 * wrong ways, notifies, and watches:
 *
 *   tx-bad-id        the first tx request answered with id 1000 (of 256)
 *   tx-dup-id        the first tx request answered, then its id again
 *   tx-null          a NULL answer (an extra-info slot's) where none was
 *                    sent with an extra-info slot
 *   rx-beyond-page   the first rx request answered with offset 4000 and
 *                    200 bytes (beyond its page)
 *   rx-bad-id        the first rx request answered with another id
 *   rx-prod-overflow rx rsp_prod 2^31 ahead of the requests posted
 *   ctrl-garbage     the first control request answered with another id,
 *                    type 0x77 and status 99
 *
 * The tx cases wait (30 s) for the frontend to send a packet.  Then it
 * reads the tx and rx rings' req_prod 1 s after the case and at the end
 * (WATCH_SECS), switches to Closed and prints "CASE sent; tx req_prod A
 * at +1s, B at the end; rx req_prod C at +1s, D at the end": a latched
 * frontend publishes nothing more (A == B, C == D) however much it is
 * asked to send meanwhile.  Exit status: 0 when the case was sent, 1 when
 * the handshake failed or no request came, 2 on usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pvkit/hv.h>
#include <pvkit/netif.h>
#include <pvkit/xenbus.h>

#define WATCH_SECS 8
#define WAIT_TENTHS 300

struct evil {
	struct pvk_hv *hv;
	struct pvk_xenbus_dev dev;
	struct pvk_evtchn *ev;
	int port, ctrl_port;
	uint32_t fe;
	bool ctrl;
	void *tx_page, *rx_page, *ctrl_page;
	struct pvk_ring tx, rx, cr;
};

static int wait_peer(struct evil *e, int want, int secs)
{
	int st = 0, i;

	for (i = 0; i < secs * 10; i++) {
		st = pvk_xenbus_read_state(&e->dev, true);
		if (st == want)
			return 0;
		usleep(100000);
	}
	fprintf(stderr, "pvk-xen-netbackevil: frontend is %s, wanted %s\n",
		st < 0 ? strerror(-st) : pvk_xenbus_state_name(st),
		pvk_xenbus_state_name(want));
	return -ETIMEDOUT;
}

/* Map the ring whose grant reference is in the frontend's node @ref and
 * bind the event channel in its node @port. */
static int map_ring(struct evil *e, const char *ref, const char *port,
		    void **page, int *local)
{
	unsigned long v;
	uint32_t gref;
	int err;

	err = pvk_xenbus_read_feature(&e->dev, PVK_XS_NO_TXN, ref, 0, &v);
	if (err < 0)
		return err;
	gref = (uint32_t)v;
	err = pvk_hv_grant_map(e->hv, e->fe, 1, &gref, true, page);
	if (err < 0 || !port)
		return err;
	err = pvk_xenbus_read_feature(&e->dev, PVK_XS_NO_TXN, port, 0, &v);
	if (err < 0)
		return err;
	*local = pvk_evtchn_bind(e->ev, e->fe, (uint32_t)v);
	return *local < 0 ? *local : 0;
}

static int setup(struct evil *e, uint32_t devid)
{
	int err;

	err = pvk_xenbus_backend_init_as(&e->dev, e->hv, "pvkvif", "pvkvif",
					 e->fe, devid);
	if (!err)
		err = pvk_xenbus_printf(&e->dev, PVK_XS_NO_TXN,
					"feature-rx-copy", "1");
	if (!err && e->ctrl)
		err = pvk_xenbus_printf(&e->dev, PVK_XS_NO_TXN,
					"feature-ctrl-ring", "1");
	if (!err)
		err = pvk_xenbus_switch_state(&e->dev, PVK_XENBUS_INITWAIT);
	if (!err)
		err = wait_peer(e, PVK_XENBUS_CONNECTED, 30);
	if (!err)
		err = pvk_evtchn_open(e->hv, &e->ev);
	if (!err)
		err = map_ring(e, "tx-ring-ref", "event-channel", &e->tx_page,
			       &e->port);
	if (!err)
		err = map_ring(e, "rx-ring-ref", NULL, &e->rx_page, NULL);
	if (!err && e->ctrl)
		err = map_ring(e, "ctrl-ring-ref", "event-channel-ctrl",
			       &e->ctrl_page, &e->ctrl_port);
	if (!err)
		err = pvk_netif_tx_back_attach(&e->tx, e->tx_page,
					       PVK_PAGE_SIZE);
	if (!err)
		err = pvk_netif_rx_back_attach(&e->rx, e->rx_page,
					       PVK_PAGE_SIZE);
	if (!err && e->ctrl)
		err = pvk_netif_ctrl_back_attach(&e->cr, e->ctrl_page,
						 PVK_PAGE_SIZE);
	if (!err)
		err = pvk_xenbus_switch_state(&e->dev, PVK_XENBUS_CONNECTED);
	return err;
}

static void notify(struct evil *e, struct pvk_ring *r, int port)
{
	pvk_ring_push(r);
	pvk_evtchn_notify(e->ev, (uint32_t)port);
}

/* Publish @n more responses on the shared ring at @page than the ring
 * API lets a backend produce (past what was consumed). */
static void force_prod(void *page, uint32_t n)
{
	struct pvk_sring *s = page;

	__atomic_store_n(&s->rsp_prod, s->rsp_prod + n, __ATOMIC_RELEASE);
}

/* The first tx request (30 s), copied; 0 or -ETIMEDOUT. */
static int first_tx(struct evil *e, struct pvk_netif_tx_request *req)
{
	union pvk_netif_tx_slot s;
	int i;

	for (i = 0; i < WAIT_TENTHS; i++) {
		if (pvk_netif_get_tx_slot(&e->tx, &s) == 1) {
			*req = s.req;
			return 0;
		}
		usleep(100000);
	}
	return -ETIMEDOUT;
}

static int send_tx_case(struct evil *e, const char *name)
{
	struct pvk_netif_tx_response rsp = { .status = PVK_NETIF_RSP_OKAY };
	struct pvk_netif_tx_request req;
	struct pvk_netif_tx_sring *s = e->tx_page;

	if (first_tx(e, &req) < 0)
		return -ETIMEDOUT;
	printf("tx request id %u, size %u, flags %#x\n", req.id, req.size,
	       req.flags);
	if (!strcmp(name, "tx-bad-id")) {
		rsp.id = 1000;
		pvk_netif_tx_put_response(&e->tx, &rsp);
	} else if (!strcmp(name, "tx-dup-id")) {
		rsp.id = req.id;
		pvk_netif_tx_put_response(&e->tx, &rsp);
		pvk_ring_push(&e->tx);
		/* The same answer again, in the next slot. */
		s->ring[s->rsp_prod &
			(pvk_netif_tx_ring_size(PVK_PAGE_SIZE) - 1)]
			.rsp = rsp;
		force_prod(s, 1);
	} else {
		rsp.id = req.id;
		rsp.status = PVK_NETIF_RSP_NULL;
		pvk_netif_tx_put_response(&e->tx, &rsp);
	}
	notify(e, &e->tx, e->port);
	return 0;
}

static int send_rx_case(struct evil *e, const char *name)
{
	struct pvk_netif_rx_response rsp = { .status = 200 };
	struct pvk_netif_rx_request req;
	int i;

	if (!strcmp(name, "rx-prod-overflow")) {
		force_prod(e->rx_page, 0x80000000u);
		pvk_evtchn_notify(e->ev, (uint32_t)e->port);
		return 0;
	}
	for (i = 0; i < WAIT_TENTHS; i++) {
		if (pvk_netif_rx_get_request(&e->rx, &req) == 1)
			break;
		usleep(100000);
	}
	if (i == WAIT_TENTHS)
		return -ETIMEDOUT;
	printf("rx request id %u\n", req.id);
	rsp.id = req.id;
	if (!strcmp(name, "rx-beyond-page"))
		rsp.offset = 4000;
	else
		rsp.id = (uint16_t)(req.id + 1);
	pvk_netif_rx_put_response(&e->rx, &rsp);
	notify(e, &e->rx, e->port);
	return 0;
}

static int send_ctrl_case(struct evil *e)
{
	struct pvk_netif_ctrl_response rsp = { .type = 0x77, .status = 99 };
	struct pvk_netif_ctrl_request req;
	int i;

	for (i = 0; i < WAIT_TENTHS; i++) {
		if (pvk_netif_ctrl_get_request(&e->cr, &req) == 1)
			break;
		usleep(100000);
	}
	if (i == WAIT_TENTHS)
		return -ETIMEDOUT;
	printf("control request id %u, type %u\n", req.id, req.type);
	rsp.id = (uint16_t)(req.id + 1);
	pvk_netif_ctrl_put_response(&e->cr, &rsp);
	notify(e, &e->cr, e->ctrl_port);
	return 0;
}

static pvk_ring_idx_t req_prod(void *page)
{
	return __atomic_load_n(&((struct pvk_sring *)page)->req_prod,
			       __ATOMIC_ACQUIRE);
}

int main(int argc, char **argv)
{
	static const char *const cases[] = {
		"tx-bad-id",	  "tx-dup-id", "tx-null",
		"rx-beyond-page", "rx-bad-id", "rx-prod-overflow",
		"ctrl-garbage",
	};
	struct evil e = { .port = -1, .ctrl_port = -1 };
	pvk_ring_idx_t tx0, tx1, rx0, rx1;
	const char *name;
	unsigned int i;
	int err;

	name = argc == 4 ? argv[3] : "";
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (!strcmp(name, cases[i]))
			break;
	if (i == sizeof(cases) / sizeof(cases[0])) {
		fprintf(stderr,
			"usage: pvk-xen-netbackevil FE_DOMID DEVID CASE\n"
			"CASE: tx-bad-id tx-dup-id tx-null rx-beyond-page "
			"rx-bad-id rx-prod-overflow ctrl-garbage\n");
		return 2;
	}
	e.fe = (uint32_t)atoi(argv[1]);
	e.ctrl = !strcmp(name, "ctrl-garbage");
	err = pvk_hv_open(&e.hv, 0);
	if (!err)
		err = setup(&e, (uint32_t)atoi(argv[2]));
	if (err < 0) {
		fprintf(stderr, "pvk-xen-netbackevil: handshake: %s\n",
			strerror(-err));
		return 1;
	}
	if (!strncmp(name, "tx-", 3))
		err = send_tx_case(&e, name);
	else if (!strncmp(name, "rx-", 3))
		err = send_rx_case(&e, name);
	else
		err = send_ctrl_case(&e);
	if (err < 0) {
		fprintf(stderr, "pvk-xen-netbackevil: %s: no request in %d s\n",
			name, WAIT_TENTHS / 10);
		return 1;
	}
	sleep(1);
	tx0 = req_prod(e.tx_page);
	rx0 = req_prod(e.rx_page);
	sleep(WATCH_SECS - 1);
	tx1 = req_prod(e.tx_page);
	rx1 = req_prod(e.rx_page);
	printf("%s sent; tx req_prod %u at +1s, %u at the end; rx req_prod %u at +1s, %u at the end\n",
	       name, tx0, tx1, rx0, rx1);
	fflush(stdout);
	pvk_xenbus_switch_state(&e.dev, PVK_XENBUS_CLOSED);
	wait_peer(&e, PVK_XENBUS_CLOSED, 10);
	pvk_evtchn_close(e.ev);
	pvk_hv_grant_unmap(e.hv, e.tx_page, 1);
	pvk_hv_grant_unmap(e.hv, e.rx_page, 1);
	if (e.ctrl_page)
		pvk_hv_grant_unmap(e.hv, e.ctrl_page, 1);
	pvk_hv_close(e.hv);
	return 0;
}
