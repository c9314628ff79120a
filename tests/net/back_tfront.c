// SPDX-License-Identifier: MIT
/*
 * tests/net/back_tfront.c -- the raw netif TEST frontend of netback's
 * tests (back_tfront.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pvkit/xenbus.h>

#include "../common/t_toolstack.h"
#include "back_tfront.h"

static uint64_t ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

unsigned long t_nfe_be_node(struct t_nfe *fe, const char *n)
{
	char p[128];
	unsigned long v;

	snprintf(p, sizeof(p), "/local/domain/0/backend/vif/%u/%u/%s", fe->domu,
		 fe->devid, n);
	return pvk_xs_read_uint(fe->tool, PVK_XS_NO_TXN, p, &v) ? 999 : v;
}

int t_nfe_write(struct t_nfe *fe, const char *n, unsigned long v)
{
	char p[128];

	snprintf(p, sizeof(p), "device/vif/%u/%s", fe->devid, n);
	return pvk_xs_printf(fe->hv, PVK_XS_NO_TXN, p, "%lu", v);
}

/* Until the backend's state is @want. */
static int wait_be(struct t_nfe *fe, unsigned long want)
{
	uint64_t t0 = ms_now();

	while (t_nfe_be_node(fe, "state") != want) {
		if (ms_now() - t0 > T_NFE_TMO_MS)
			return -ETIMEDOUT;
		fe->pump(fe->pump_arg, 10);
	}
	return 0;
}

/* Fresh rings on the granted pages; the nodes that name them; Connected. */
static int publish(struct t_nfe *fe)
{
	int err = 0;

	if (pvk_netif_tx_front_init(&fe->tx, fe->tx_sring, PVK_PAGE_SIZE) ||
	    pvk_netif_rx_front_init(&fe->rx, fe->rx_sring, PVK_PAGE_SIZE))
		return -EINVAL;
	if (fe->with_ctrl &&
	    pvk_netif_ctrl_front_init(&fe->ctrl, fe->ctrl_sring, PVK_PAGE_SIZE))
		return -EINVAL;
	err |= t_nfe_write(fe, "tx-ring-ref", fe->tx_ref);
	err |= t_nfe_write(fe, "rx-ring-ref", fe->rx_ref);
	err |= t_nfe_write(fe, "event-channel", fe->port);
	err |= t_nfe_write(fe, "request-rx-copy", 1);
	err |= t_nfe_write(fe, "feature-rx-notify", 1);
	err |= t_nfe_write(fe, "feature-sg", 1);
	err |= t_nfe_write(fe, "feature-gso-tcpv4", 1);
	err |= t_nfe_write(fe, "request-multicast-control", 1);
	if (fe->with_ctrl) {
		err |= t_nfe_write(fe, "ctrl-ring-ref", fe->ctrl_ref);
		err |= t_nfe_write(fe, "event-channel-ctrl", fe->ctrl_port);
	}
	err |= t_nfe_write(fe, "state", PVK_XENBUS_CONNECTED);
	if (err)
		return -EIO;
	return wait_be(fe, PVK_XENBUS_CONNECTED);
}

int t_nfe_connect(struct t_nfe *fe, struct pvk_hv *tool, struct pvk_hv *hvu,
		  uint32_t domu, uint32_t devid, bool with_ctrl,
		  t_nfe_pump_fn *pump, void *arg)
{
	char mac[32], handle[16];
	const char *const be[] = {
		mac,	    handle, "script=vif-bridge", "bridge=pvkbr",
		"type=vif", NULL
	};
	const char *const fen[] = { handle, mac, NULL };
	struct t_dev d = { .type = "vif",
			   .fe_type = "vif",
			   .be = 0,
			   .fe = domu,
			   .devid = devid,
			   .be_nodes = be,
			   .fe_nodes = fen };
	int err, port;

	memset(fe, 0, sizeof(*fe));
	fe->hv = hvu;
	fe->tool = tool;
	fe->domu = domu;
	fe->devid = devid;
	fe->with_ctrl = with_ctrl;
	fe->pump = pump;
	fe->pump_arg = arg;
	snprintf(mac, sizeof(mac), "mac=00:16:3e:00:00:%02x", devid);
	snprintf(handle, sizeof(handle), "handle=%u", devid);
	err = t_dev_attach(tool, &d);
	if (!err)
		err = wait_be(fe, PVK_XENBUS_INITWAIT);
	if (!err)
		err = pvk_hv_grant_alloc(hvu, 0, 1, true, &fe->tx_ref,
					 &fe->tx_sring);
	if (!err)
		err = pvk_hv_grant_alloc(hvu, 0, 1, true, &fe->rx_ref,
					 &fe->rx_sring);
	if (!err)
		err = pvk_hv_grant_alloc(hvu, 0, T_NFE_PAGES, true, fe->refs,
					 &fe->pages);
	if (!err && with_ctrl)
		err = pvk_hv_grant_alloc(hvu, 0, 1, true, &fe->ctrl_ref,
					 &fe->ctrl_sring);
	if (!err)
		err = pvk_evtchn_open(hvu, &fe->ev);
	if (err)
		return err;
	port = pvk_evtchn_alloc_unbound(fe->ev, 0);
	if (port <= 0)
		return port < 0 ? port : -EIO;
	fe->port = (uint32_t)port;
	if (with_ctrl) {
		port = pvk_evtchn_alloc_unbound(fe->ev, 0);
		if (port <= 0)
			return port < 0 ? port : -EIO;
		fe->ctrl_port = (uint32_t)port;
	}
	return publish(fe);
}

int t_nfe_close_wait(struct t_nfe *fe)
{
	uint64_t t0 = ms_now();
	unsigned long st;
	int err;

	err = t_nfe_write(fe, "state", PVK_XENBUS_CLOSING);
	for (; !err; fe->pump(fe->pump_arg, 10)) {
		st = t_nfe_be_node(fe, "state");
		if (st == PVK_XENBUS_CLOSING || st == PVK_XENBUS_CLOSED)
			break;
		if (ms_now() - t0 > T_NFE_TMO_MS)
			return -ETIMEDOUT;
	}
	return err;
}

int t_nfe_reopen(struct t_nfe *fe)
{
	/* As a frontend that starts again: Closed, then Initialising (a
	 * backend leaves a device that closed in order Closed until then). */
	int err = t_nfe_write(fe, "state", PVK_XENBUS_CLOSED);

	if (!err)
		err = t_nfe_write(fe, "state", PVK_XENBUS_INITIALISING);
	if (!err)
		err = wait_be(fe, PVK_XENBUS_INITWAIT);
	if (!err)
		err = publish(fe);
	return err;
}

int t_nfe_reconnect(struct t_nfe *fe)
{
	int err = t_nfe_close_wait(fe);

	return err ? err : t_nfe_reopen(fe);
}

bool t_nfe_be_broken(struct t_nfe *fe, struct pvk_netback *nb)
{
	char *buf = NULL, want[64], *line;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	bool broken = false;

	if (!f)
		return false;
	pvk_netback_stats(nb, f);
	fclose(f);
	snprintf(want, sizeof(want), "device vif %u/%u ", fe->domu, fe->devid);
	line = strstr(buf, want);
	if (line && (line = strstr(line, "counters ")))
		broken = strstr(line, "broken=1") &&
			 strstr(line, "broken=1") < strchr(line, '\n');
	free(buf);
	return broken;
}

void t_nfe_free(struct t_nfe *fe)
{
	if (fe->ev)
		pvk_evtchn_close(fe->ev);
	if (fe->pages)
		pvk_hv_grant_free(fe->hv, fe->pages, T_NFE_PAGES);
	if (fe->tx_sring)
		pvk_hv_grant_free(fe->hv, fe->tx_sring, 1);
	if (fe->rx_sring)
		pvk_hv_grant_free(fe->hv, fe->rx_sring, 1);
	if (fe->ctrl_sring)
		pvk_hv_grant_free(fe->hv, fe->ctrl_sring, 1);
	fe->ev = NULL;
	fe->pages = fe->tx_sring = fe->rx_sring = fe->ctrl_sring = NULL;
}

struct pvk_netif_tx_request t_nfe_txreq(struct t_nfe *fe, uint32_t pg,
					uint16_t off, uint16_t size,
					uint16_t flags)
{
	return (struct pvk_netif_tx_request){ .gref = fe->refs[pg],
					      .offset = off,
					      .flags = flags,
					      .id = fe->next_id++,
					      .size = size };
}

int t_nfe_kick(struct t_nfe *fe, struct pvk_ring *r)
{
	if (!pvk_ring_push(r))
		return 0;
	return pvk_evtchn_notify(fe->ev,
				 r == &fe->ctrl ? fe->ctrl_port : fe->port);
}

int t_nfe_wait_rsp(struct t_nfe *fe, struct pvk_ring *r, void *out, size_t len,
		   int ms)
{
	uint64_t t0 = ms_now();
	int n, port;

	for (;;) {
		n = pvk_ring_get(r, out, len);
		if (n != 0)
			return n;
		if (pvk_ring_final_check(r) > 0)
			continue;
		if (ms_now() - t0 > (uint64_t)ms)
			return -ETIMEDOUT;
		port = pvk_evtchn_wait(fe->ev, 20);
		if (port >= 0)
			pvk_evtchn_unmask(fe->ev, (uint32_t)port);
	}
}
