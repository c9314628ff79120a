/* SPDX-License-Identifier: MIT */
/*
 * netback control plane: a driver on the backend bus (pvkit/xenbus.h).
 * Here: the vif's toolstack nodes, its TAP on a bridge (what the
 * vif-bridge hotplug script does, over rtnetlink), the features we offer
 * and what we read from the frontend to connect.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netback_priv.h"

static int fe_uint(struct nb_vif *vif, const char *name, unsigned long def,
		   unsigned long *v)
{
	int err = pvk_xenbus_read_feature(&vif->bd->xb, PVK_XS_NO_TXN, name,
					  def, v);

	return err;
}

static bool parse_mac(const char *s, uint8_t mac[6])
{
	unsigned int b[6];
	int i, n;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%n", &b[0], &b[1], &b[2], &b[3],
		   &b[4], &b[5], &n) != 6 ||
	    s[n] || strlen(s) != 17)
		return false;
	for (i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	return true;
}

/* libxl's rate node: "<bytes>,<usec>". */
static int parse_rate(const char *s, uint64_t *bytes, uint64_t *usec)
{
	unsigned long long b, u;
	int n;

	if (sscanf(s, "%llu,%llu%n", &b, &u, &n) != 2 || s[n] || !u ||
	    u > 60000000ull)
		return -EINVAL;
	*bytes = b;
	*usec = u;
	return 0;
}

static void read_rate(struct nb_vif *vif)
{
	uint64_t bytes = 0, usec = 0;
	char *v = NULL;

	if (pvk_xenbus_read(&vif->bd->xb, PVK_XS_NO_TXN, false, "rate", &v) >=
		    0 &&
	    parse_rate(v, &bytes, &usec) < 0) {
		pvk_xenbus_bus_log(vif->bus,
				   "vif %s: ignoring rate '%.40s': not "
				   "<bytes>,<usec>",
				   vif->name, v);
		bytes = usec = 0;
	}
	free(v);
	__atomic_store_n(&vif->credit_usec, usec, __ATOMIC_RELAXED);
	__atomic_store_n(&vif->credit_bytes, bytes, __ATOMIC_RELAXED);
}

static void hotplug_error(struct nb_vif *vif, const char *what, int err)
{
	pvk_xenbus_bus_log(vif->bus, "vif %s: %s: %s", vif->name, what,
			   strerror(-err));
	pvk_xenbus_printf(&vif->bd->xb, PVK_XS_NO_TXN, "hotplug-error",
			  "%s: %s", what, strerror(-err));
	pvk_xenbus_printf(&vif->bd->xb, PVK_XS_NO_TXN, "hotplug-status",
			  "error");
}

static void tap_down(struct nb_vif *vif)
{
	pvk_tap_close(vif->tap_fds, PVK_NETBACK_MAX_QUEUES);
	vif->tap_up = false;
}

/* What vif-bridge does: the TAP, its MTU, the bridge (made if missing),
 * up. */
static int tap_up(struct nb_vif *vif)
{
	struct pvk_nl *nl;
	char name[PVK_NET_IFNAMSIZ], what[96];
	int err;

	snprintf(name, sizeof(name), vif->nb->tap_fmt, vif->fe_domid,
		 vif->devid);
	err = pvk_tap_open(name, PVK_TAP_VNET_HDR | PVK_TAP_MULTI_QUEUE,
			   vif->max_queues, vif->tap_fds, vif->tap);
	if (err < 0) {
		snprintf(what, sizeof(what), "creating TAP %s", name);
		hotplug_error(vif, what, err);
		return err;
	}
	err = pvk_nl_open(&nl);
	if (err < 0) {
		hotplug_error(vif, "rtnetlink", err);
		goto close_tap;
	}
	err = pvk_nl_bridge_add(nl, vif->bridge);
	if (err == -EEXIST)
		err = 0;
	else if (!err)
		err = pvk_nl_link_set_up(nl, vif->bridge, true);
	if (err < 0) {
		snprintf(what, sizeof(what), "creating bridge %s", vif->bridge);
		goto close_nl;
	}
	snprintf(what, sizeof(what), "setting MTU %u on %s", vif->mtu,
		 vif->tap);
	err = pvk_nl_link_set_mtu(nl, vif->tap, vif->mtu);
	if (err < 0)
		goto close_nl;
	snprintf(what, sizeof(what), "adding %s to bridge %s", vif->tap,
		 vif->bridge);
	err = pvk_nl_link_set_master(nl, vif->tap, vif->bridge);
	if (err < 0)
		goto close_nl;
	snprintf(what, sizeof(what), "bringing %s up", vif->tap);
	err = pvk_nl_link_set_up(nl, vif->tap, true);
	if (err < 0)
		goto close_nl;
	pvk_nl_close(nl);
	vif->tap_up = true;
	return 0;

close_nl:
	hotplug_error(vif, what, err);
	pvk_nl_close(nl);
close_tap:
	tap_down(vif);
	return err;
}

/* --- the driver's ops ---------------------------------------------------- */

static int nb_probe(struct pvk_xenbus_backdev *bd)
{
	struct pvk_netback *nb = bd->drv_arg;
	unsigned long handle, mtu, mq;
	char *v = NULL;
	struct nb_vif *vif;
	uint32_t i;

	vif = calloc(1, sizeof(*vif));
	if (!vif)
		return -EAGAIN;
	vif->nb = nb;
	vif->bd = bd;
	vif->bus = bd->bus;
	vif->hv = pvk_xenbus_bus_hv(bd->bus);
	vif->fe_domid = bd->xb.fe_domid;
	vif->devid = bd->xb.devid;
	for (i = 0; i < PVK_NETBACK_MAX_QUEUES; i++)
		vif->tap_fds[i] = -1;
	pthread_mutex_init(&vif->lock, NULL);
	snprintf(vif->name, sizeof(vif->name), "%u/%u", vif->fe_domid,
		 vif->devid);
	/* The toolstack writes mac, handle and script; until they are all
	 * there the device is not complete. */
	if (pvk_xenbus_read(&bd->xb, PVK_XS_NO_TXN, false, "mac", &v) < 0 ||
	    pvk_xenbus_backdev_read_uint(bd, "handle", ULONG_MAX, &handle) <
		    0 ||
	    handle == ULONG_MAX) {
		free(v);
		pthread_mutex_destroy(&vif->lock);
		free(vif);
		return -EAGAIN;
	}
	bd->priv = vif;
	if (!parse_mac(v, vif->mac)) {
		pvk_xenbus_bus_log(bd->bus,
				   "%s: bad mac '%.32s' (six hex pairs, "
				   "00:16:3e:xx:xx:xx)",
				   bd->name, v);
		free(v);
		hotplug_error(vif, "bad mac", -EINVAL);
		return -EINVAL;
	}
	free(v);
	v = NULL;
	snprintf(vif->bridge, sizeof(vif->bridge), "%s", nb->bridge);
	if (pvk_xenbus_read(&bd->xb, PVK_XS_NO_TXN, false, "bridge", &v) >= 0) {
		if (!*v || strlen(v) >= PVK_NET_IFNAMSIZ || strchr(v, '/')) {
			pvk_xenbus_bus_log(bd->bus, "%s: bad bridge '%.32s'",
					   bd->name, v);
			free(v);
			hotplug_error(vif, "bad bridge name", -EINVAL);
			return -EINVAL;
		}
		snprintf(vif->bridge, sizeof(vif->bridge), "%s", v);
	}
	free(v);
	if (pvk_xenbus_backdev_read_uint(bd, "mtu", 1500, &mtu) < 0 ||
	    mtu < 68 || mtu > 65535) {
		hotplug_error(vif, "bad mtu (68..65535)", -EINVAL);
		return -EINVAL;
	}
	vif->mtu = (uint32_t)mtu;
	vif->max_queues = nb->cfg.minimal ? 1 : nb->cfg.max_queues;
	/* `pvkit nic attach --queues N`: a lower limit for this vif. */
	if (pvk_xenbus_backdev_read_uint(bd, "pvkit-max-queues", 0, &mq) == 0 &&
	    mq && mq < vif->max_queues)
		vif->max_queues = (uint32_t)mq;
	read_rate(vif);
	if (tap_up(vif) < 0)
		return -EIO;
	pvk_xenbus_bus_log(bd->bus,
			   "%s: found (tap %s on bridge %s, mtu %u, mac "
			   "%02x:%02x:%02x:%02x:%02x:%02x)",
			   bd->name, vif->tap, vif->bridge, vif->mtu,
			   vif->mac[0], vif->mac[1], vif->mac[2], vif->mac[3],
			   vif->mac[4], vif->mac[5]);
	return 0;
}

static int nb_publish(struct pvk_xenbus_backdev *bd, pvk_xs_txn_t t)
{
	struct nb_vif *vif = bd->priv;
	struct pvk_xenbus_dev *x = &bd->xb;
	int full = !vif->nb->cfg.minimal, err = 0;

	err |= pvk_xenbus_printf(x, t, "feature-sg", "%d", full);
	err |= pvk_xenbus_printf(x, t, "feature-gso-tcpv4", "%d", full);
	err |= pvk_xenbus_printf(x, t, "feature-gso-tcpv6", "%d", full);
	err |= pvk_xenbus_printf(x, t, "feature-ipv6-csum-offload", "%d", full);
	err |= pvk_xenbus_printf(x, t, "feature-rx-copy", "1");
	err |= pvk_xenbus_printf(x, t, "feature-rx-flip", "0");
	err |= pvk_xenbus_printf(x, t, "feature-multicast-control", "%d", full);
	err |= pvk_xenbus_printf(x, t, "feature-dynamic-multicast-control",
				 "%d", full);
	err |= pvk_xenbus_printf(x, t, "feature-split-event-channels", "%d",
				 full);
	err |= pvk_xenbus_printf(x, t, "multi-queue-max-queues", "%u",
				 vif->max_queues);
	err |= pvk_xenbus_printf(x, t, "feature-ctrl-ring", "%d", full);
	/* libxl and Linux's netback wait for this before Connected. */
	err |= pvk_xenbus_printf(x, t, "hotplug-status", "connected");
	return err < 0 ? -EIO : 0;
}

static int read_queue(struct nb_vif *vif, const char *pre,
		      struct nb_queue_conf *q, bool split, char *msg,
		      size_t len)
{
	unsigned long tx, rx, et, er;
	char n[4][48];

	snprintf(n[0], sizeof(n[0]), "%stx-ring-ref", pre);
	snprintf(n[1], sizeof(n[1]), "%srx-ring-ref", pre);
	snprintf(n[2], sizeof(n[2]), "%sevent-channel%s", pre,
		 split ? "-tx" : "");
	snprintf(n[3], sizeof(n[3]), "%sevent-channel-rx", pre);
	if (fe_uint(vif, n[0], ULONG_MAX, &tx) < 0 || tx > UINT32_MAX ||
	    fe_uint(vif, n[1], ULONG_MAX, &rx) < 0 || rx > UINT32_MAX) {
		snprintf(msg, len, "%s or %s missing or malformed", n[0], n[1]);
		return -EPROTO;
	}
	if (fe_uint(vif, n[2], ULONG_MAX, &et) < 0 || et > UINT32_MAX ||
	    (split &&
	     (fe_uint(vif, n[3], ULONG_MAX, &er) < 0 || er > UINT32_MAX))) {
		snprintf(msg, len, "%s%s missing or malformed", n[2],
			 split ? " or event-channel-rx" : "");
		return -EPROTO;
	}
	q->tx_ref = (uint32_t)tx;
	q->rx_ref = (uint32_t)rx;
	q->evtchn_tx = (uint32_t)et;
	q->evtchn_rx = split ? (uint32_t)er : (uint32_t)et;
	return 0;
}

static int read_connect(struct nb_vif *vif, struct nb_connect *c, char *msg,
			size_t len)
{
	unsigned long nq, v[8];
	char pre[24], probe[48];
	bool full = !vif->nb->cfg.minimal;
	unsigned long dummy;
	uint32_t i;
	int err;

	memset(c, 0, sizeof(*c));
	if (fe_uint(vif, "multi-queue-num-queues", 1, &nq) < 0 || !nq ||
	    nq > vif->max_queues) {
		snprintf(msg, len,
			 "multi-queue-num-queues malformed or not 1..%u",
			 vif->max_queues);
		return -EPROTO;
	}
	if (fe_uint(vif, "request-rx-copy", 0, &v[0]) < 0 || v[0] != 1) {
		snprintf(msg, len,
			 "request-rx-copy is not 1: page flipping is not "
			 "supported (as in Linux's netback)");
		return -EOPNOTSUPP;
	}
	err = fe_uint(vif, "feature-rx-notify", 0, &v[1]);
	err |= fe_uint(vif, "feature-sg", 0, &v[2]);
	err |= fe_uint(vif, "feature-gso-tcpv4", 0, &v[3]);
	err |= fe_uint(vif, "feature-gso-tcpv6", 0, &v[4]);
	err |= fe_uint(vif, "feature-no-csum-offload", 0, &v[5]);
	err |= fe_uint(vif, "request-multicast-control", 0, &v[6]);
	if (err < 0) {
		snprintf(msg, len, "a feature node is malformed");
		return -EPROTO;
	}
	c->nr_queues = (uint32_t)nq;
	c->rx_notify = v[1] == 1;
	c->sg = full && v[2] == 1;
	c->gso4 = c->sg && v[3] == 1;
	c->gso6 = c->sg && v[4] == 1;
	c->csum = !full ? false : v[5] != 1;
	c->mcast_control = full && v[6] == 1;
	/* The control ring, if the frontend set one up. */
	if (fe_uint(vif, "ctrl-ring-ref", ULONG_MAX, &v[7]) < 0 ||
	    (v[7] != ULONG_MAX && v[7] > UINT32_MAX)) {
		snprintf(msg, len, "ctrl-ring-ref malformed");
		return -EPROTO;
	}
	if (full && v[7] != ULONG_MAX) {
		if (fe_uint(vif, "event-channel-ctrl", ULONG_MAX, &dummy) < 0 ||
		    dummy > UINT32_MAX) {
			snprintf(msg, len,
				 "event-channel-ctrl missing or malformed");
			return -EPROTO;
		}
		c->ctrl = true;
		c->ctrl_ref = (uint32_t)v[7];
		c->ctrl_evtchn = (uint32_t)dummy;
	}
	/* Split when the frontend wrote the split nodes (its choice). */
	snprintf(probe, sizeof(probe), "%sevent-channel-tx",
		 nq > 1 ? "queue-0/" : "");
	c->split = full && fe_uint(vif, probe, ULONG_MAX, &dummy) == 0 &&
		   dummy != ULONG_MAX;
	for (i = 0; i < c->nr_queues; i++) {
		if (nq == 1)
			pre[0] = 0;
		else
			snprintf(pre, sizeof(pre), "queue-%u/", i);
		err = read_queue(vif, pre, &c->q[i], c->split, msg, len);
		if (err < 0)
			return err;
	}
	return 0;
}

static int nb_connect(struct pvk_xenbus_backdev *bd, char *msg, size_t len)
{
	struct nb_vif *vif = bd->priv;
	struct nb_connect c;
	unsigned int off = 0;
	uint32_t i;
	int err;

	err = read_connect(vif, &c, msg, len);
	if (err < 0)
		return err;
	/* What we accept from the TAP is what the frontend takes: the kernel
	 * completes checksums and segments for the rest. */
	if (c.csum)
		off |= PVK_TAP_OFF_CSUM;
	if (c.csum && c.gso4)
		off |= PVK_TAP_OFF_TSO4;
	if (c.csum && c.gso6)
		off |= PVK_TAP_OFF_TSO6;
	for (i = 0; i < vif->max_queues; i++) {
		err = pvk_tap_offload(vif->tap_fds[i], off);
		if (err == 0)
			err = pvk_tap_queue_enable(vif->tap_fds[i],
						   i < c.nr_queues);
		if (err < 0) {
			snprintf(msg, len, "setting up TAP %s queue %u: %s",
				 vif->tap, i, strerror(-err));
			return err;
		}
	}
	__atomic_store_n(&vif->mcast_live, c.mcast_control, __ATOMIC_RELAXED);
	err = nb_vif_connect(vif, &c);
	if (err < 0) {
		snprintf(msg, len,
			 "mapping rings or binding event channels: %s",
			 strerror(-err));
		return err;
	}
	/* feature-dynamic-multicast-control: the frontend may turn its
	 * filter on and off while connected, as with Linux's netback. */
	if (!vif->nb->cfg.minimal)
		pvk_xenbus_backdev_watch_fe(bd, "request-multicast-control");
	snprintf(msg, len,
		 "queues=%u split=%d sg=%d gso=%d/%d csum=%d rx-notify=%d "
		 "mcast=%d ctrl=%d tap=%s",
		 c.nr_queues, c.split, c.sg, c.gso4, c.gso6, c.csum,
		 c.rx_notify, c.mcast_control, c.ctrl, vif->tap);
	return 0;
}

static void nb_disconnect(struct pvk_xenbus_backdev *bd)
{
	if (bd->priv)
		nb_vif_disconnect(bd->priv);
}

static void nb_fe_node_changed(struct pvk_xenbus_backdev *bd, const char *node)
{
	struct nb_vif *vif = bd->priv;
	unsigned long v = 0;
	bool on;

	if (!vif || strcmp(node, "request-multicast-control") ||
	    bd->phase != PVK_XENBUS_PH_CONNECTED)
		return;
	if (fe_uint(vif, node, 0, &v) < 0)
		v = 0; /* malformed: as if absent */
	on = v == 1;
	if (__atomic_exchange_n(&vif->mcast_live, on, __ATOMIC_RELAXED) != on)
		pvk_xenbus_bus_log(vif->bus, "vif %s: multicast filter %s",
				   vif->name, on ? "on" : "off");
}

static void nb_node_changed(struct pvk_xenbus_backdev *bd, const char *node)
{
	if (bd->priv && !strcmp(node, "rate"))
		read_rate(bd->priv);
}

static void nb_remove(struct pvk_xenbus_backdev *bd)
{
	struct nb_vif *vif = bd->priv;

	if (!vif)
		return;
	nb_vif_disconnect(vif);
	tap_down(vif);
	pthread_mutex_destroy(&vif->lock);
	free(vif);
	bd->priv = NULL;
}

/* --- the public API ------------------------------------------------------ */

int pvk_netback_create_on(struct pvk_netback **out, struct pvk_xenbus_bus *bus,
			  const struct pvk_netback_config *cfg)
{
	struct pvk_netback *nb;
	int err = -EINVAL;

	*out = NULL;
	nb = calloc(1, sizeof(*nb));
	if (!nb)
		return -ENOMEM;
	if (cfg)
		nb->cfg = *cfg;
	if (!nb->cfg.max_queues)
		nb->cfg.max_queues = PVK_NETBACK_DEF_MAX_QUEUES;
	if (nb->cfg.max_queues > PVK_NETBACK_MAX_QUEUES)
		goto free_nb;
	snprintf(nb->type, sizeof(nb->type), "%s",
		 nb->cfg.type && *nb->cfg.type ? nb->cfg.type : "vif");
	nb->cfg.type = nb->type;
	if (strchr(nb->type, '/') || strlen(nb->type) >= sizeof(nb->type) - 1)
		goto free_nb;
	if (nb->cfg.bridge &&
	    (!*nb->cfg.bridge || strlen(nb->cfg.bridge) >= PVK_NET_IFNAMSIZ))
		goto free_nb;
	snprintf(nb->bridge, sizeof(nb->bridge), "%s",
		 nb->cfg.bridge ? nb->cfg.bridge : "xenbr0");
	snprintf(nb->tap_fmt, sizeof(nb->tap_fmt), "%s",
		 nb->cfg.tap_fmt ? nb->cfg.tap_fmt : "vif%u.%u");
	snprintf(nb->fe_type, sizeof(nb->fe_type), "%s",
		 nb->cfg.fe_type && *nb->cfg.fe_type ? nb->cfg.fe_type : "vif");
	nb->cfg.fe_type = nb->fe_type;
	nb->bus = bus;
	nb->drv = (struct pvk_xenbus_driver){
		.name = "vif",
		.type = nb->type,
		.fe_type = nb->fe_type,
		.connect_on_initialised = false,
		.probe = nb_probe,
		.publish = nb_publish,
		.connect = nb_connect,
		.disconnect = nb_disconnect,
		.node_changed = nb_node_changed,
		.fe_node_changed = nb_fe_node_changed,
		.remove = nb_remove,
	};
	err = pvk_xenbus_bus_register(bus, &nb->drv, nb);
	if (err < 0)
		goto free_nb;
	*out = nb;
	return 0;

free_nb:
	free(nb);
	return err;
}

void pvk_netback_destroy(struct pvk_netback *nb)
{
	if (!nb)
		return;
	pvk_xenbus_bus_unregister(nb->bus, &nb->drv);
	free(nb);
}

int pvk_netback_stats(struct pvk_netback *nb, FILE *f)
{
	struct pvk_xenbus_backdev *bd = NULL;
	struct nb_counters c;
	struct nb_vif *vif;

	while ((bd = pvk_xenbus_bus_next(nb->bus, &nb->drv, bd))) {
		vif = bd->priv;
		if (!vif)
			continue;
		nb_vif_counters(vif, &c);
		fprintf(f,
			"device vif %s %s tap=%s bridge=%s "
			"mac=%02x:%02x:%02x:%02x:%02x:%02x queues=%u "
			"features=split:%d,sg:%d,gso4:%d,gso6:%d,csum:%d,"
			"rx-notify:%d\n",
			vif->name, pvk_xenbus_phase_name(bd->phase),
			vif->tap_up ? vif->tap : "-", vif->bridge, vif->mac[0],
			vif->mac[1], vif->mac[2], vif->mac[3], vif->mac[4],
			vif->mac[5], vif->nr_queues, vif->conn.split,
			vif->conn.sg, vif->conn.gso4, vif->conn.gso6,
			vif->conn.csum, vif->conn.rx_notify);
		fprintf(f,
			"counters tx_packets=%" PRIu64 " tx_bytes=%" PRIu64
			" rx_packets=%" PRIu64 " rx_bytes=%" PRIu64
			" tx_dropped=%" PRIu64 " rx_dropped=%" PRIu64
			" errors=%" PRIu64 " events=%" PRIu64
			" notifies=%" PRIu64 " broken=%d\n",
			c.tx_packets, c.tx_bytes, c.rx_packets, c.rx_bytes,
			c.tx_dropped, c.rx_dropped, c.errors, c.events,
			c.notifies,
			__atomic_load_n(&vif->broken, __ATOMIC_RELAXED));
	}
	return 0;
}
