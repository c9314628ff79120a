// SPDX-License-Identifier: MIT
/*
 * frontend/netfront_xs.c -- netfront control plane: the vif's xenstore
 * nodes and feature negotiation, as ops of the shared frontend state
 * machine (pvkit/xenbus.h).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netfront_priv.h"

/* A backend feature: 0 or 1 (absent: @def); anything else fails the
 * connection with a line naming it. */
static int be_bool(struct pvk_netfront *nf, const char *name, bool def, bool *v)
{
	unsigned long x;
	int rc = pvk_xenbus_read_feature(&nf->fr.dev, PVK_XS_NO_TXN, name, def,
					 &x);

	if (rc == 0 && x > 1)
		rc = -EPROTO;
	if (rc < 0) {
		nf_log(nf, "backend node %s %s", name,
		       rc == -EPROTO ? "is not 0 or 1" : "unreadable");
		return rc;
	}
	*v = x;
	return 0;
}

/* ---- our nodes --------------------------------------------------------- */

static int queue_nodes(struct pvk_netfront *nf, pvk_xs_txn_t txn,
		       const char *pre, const struct nf_queue *q)
{
	char n[48];
	int rc;

	snprintf(n, sizeof(n), "%stx-ring-ref", pre);
	rc = pvk_xenbus_printf(&nf->fr.dev, txn, n, "%u", q->tx_ref);
	snprintf(n, sizeof(n), "%srx-ring-ref", pre);
	if (!rc)
		rc = pvk_xenbus_printf(&nf->fr.dev, txn, n, "%u", q->rx_ref);
	if (rc || !nf->info.split_evtchn) {
		snprintf(n, sizeof(n), "%sevent-channel", pre);
		return rc ? rc :
			    pvk_xenbus_printf(&nf->fr.dev, txn, n, "%d",
					      q->port_tx);
	}
	snprintf(n, sizeof(n), "%sevent-channel-tx", pre);
	rc = pvk_xenbus_printf(&nf->fr.dev, txn, n, "%d", q->port_tx);
	snprintf(n, sizeof(n), "%sevent-channel-rx", pre);
	return rc ? rc :
		    pvk_xenbus_printf(&nf->fr.dev, txn, n, "%d", q->port_rx);
}

static int publish_txn(struct pvk_hv *hv, pvk_xs_txn_t txn, void *arg)
{
	static const char *const stale[] = {
		"tx-ring-ref",	    "rx-ring-ref",
		"event-channel",    "event-channel-tx",
		"event-channel-rx", "multi-queue-num-queues",
	};
	struct pvk_netfront *nf = arg;
	unsigned int fl = nf->opts.flags;
	char n[32];
	uint32_t i;
	int rc = 0;

	(void)hv;
	for (i = 0; i < sizeof(stale) / sizeof(stale[0]) && !rc; i++)
		rc = pvk_xenbus_front_rm(&nf->fr, txn, stale[i]);
	for (i = 0; i < PVK_NETFRONT_MAX_QUEUES && !rc; i++) {
		snprintf(n, sizeof(n), "queue-%u", i);
		rc = pvk_xenbus_front_rm(&nf->fr, txn, n);
	}
	if (rc)
		return rc;
	if (nf->nr_queues == 1) {
		rc = queue_nodes(nf, txn, "", nf->q[0]);
	} else {
		rc = pvk_xenbus_printf(&nf->fr.dev, txn,
				       "multi-queue-num-queues", "%u",
				       nf->nr_queues);
		for (i = 0; i < nf->nr_queues && !rc; i++) {
			snprintf(n, sizeof(n), "queue-%u/", i);
			rc = queue_nodes(nf, txn, n, nf->q[i]);
		}
	}
#define W(name, v)                                                           \
	do {                                                                 \
		if (!rc)                                                     \
			rc = pvk_xenbus_printf(&nf->fr.dev, txn, name, "%u", \
					       (unsigned int)(v));           \
	} while (0)
	W("request-rx-copy", 1);
	W("feature-rx-notify", !(fl & PVK_NETFRONT_NO_RX_NOTIFY));
	W("feature-sg", !(fl & PVK_NETFRONT_NO_SG));
	W("feature-gso-tcpv4",
	  !(fl &
	    (PVK_NETFRONT_NO_GSO | PVK_NETFRONT_NO_SG | PVK_NETFRONT_NO_CSUM)));
	W("feature-gso-tcpv6",
	  !(fl &
	    (PVK_NETFRONT_NO_GSO | PVK_NETFRONT_NO_SG | PVK_NETFRONT_NO_CSUM)));
	W("feature-ipv6-csum-offload", !(fl & PVK_NETFRONT_NO_CSUM));
	W("feature-no-csum-offload", !!(fl & PVK_NETFRONT_NO_CSUM));
#undef W
	return rc;
}

/* ---- backend InitWait: negotiate, publish, Connected --------------------- */

static int nf_talk(void *arg)
{
	struct pvk_netfront *nf = arg;
	struct pvk_netfront_info *ni = &nf->info;
	unsigned int fl = nf->opts.flags;
	bool rx_copy, sg, gso4, gso6, ipv6, split;
	unsigned long nq;
	int rc;

	if ((rc = be_bool(nf, "feature-rx-copy", false, &rx_copy)) < 0 ||
	    (rc = be_bool(nf, "feature-sg", false, &sg)) < 0 ||
	    (rc = be_bool(nf, "feature-gso-tcpv4", false, &gso4)) < 0 ||
	    (rc = be_bool(nf, "feature-gso-tcpv6", false, &gso6)) < 0 ||
	    (rc = be_bool(nf, "feature-ipv6-csum-offload", false, &ipv6)) < 0 ||
	    (rc = be_bool(nf, "feature-split-event-channels", false, &split)) <
		    0)
		return rc;
	rc = pvk_xenbus_read_feature(&nf->fr.dev, PVK_XS_NO_TXN,
				     "multi-queue-max-queues", 1, &nq);
	if (rc < 0) {
		nf_log(nf, "backend node multi-queue-max-queues malformed");
		return rc;
	}
	if (!rx_copy) {
		/* Page flipping is gone from Xen since 2010. */
		nf_log(nf, "backend does not offer feature-rx-copy; cannot "
			   "connect");
		return -EPROTO;
	}
	if (nq < 1)
		nq = 1;
	if (nq > nf->opts.max_queues)
		nq = nf->opts.max_queues;
	ni->sg = sg && !(fl & PVK_NETFRONT_NO_SG);
	ni->csum = !(fl & PVK_NETFRONT_NO_CSUM);
	ni->ipv6_csum = ipv6 && ni->csum;
	ni->gso_tcpv4 = gso4 && ni->sg && ni->csum &&
			!(fl & PVK_NETFRONT_NO_GSO);
	ni->gso_tcpv6 = gso6 && ni->sg && ni->ipv6_csum &&
			!(fl & PVK_NETFRONT_NO_GSO);
	rc = nf_rings_alloc(nf, (uint32_t)nq,
			    split && !(fl & PVK_NETFRONT_NO_SPLIT_EVTCHN));
	if (rc < 0) {
		nf_log(nf, "cannot allocate rings (%s)", strerror(-rc));
		return rc;
	}
	rc = pvk_xs_transaction(nf->hv, 0, publish_txn, nf);
	if (rc < 0) {
		nf_log(nf, "cannot publish rings (%s)", strerror(-rc));
		nf_rings_free(nf);
		return rc;
	}
	return 0;
}

/* ---- the state machine's ops ------------------------------------------ */

static int nf_connect(void *arg)
{
	struct pvk_netfront *nf = arg;

	nf_start(nf);
	nf->info.connects++;
	if (nf->info.connects > 1)
		nf_log(nf, "reconnected (%u)", nf->info.connects);
	return 0;
}

static void nf_teardown(void *arg, const char *why)
{
	struct pvk_netfront *nf = arg;

	if (!nf->fr.closing)
		nf_log(nf, "backend %s: rings torn down", why);
	nf_rings_free(nf);
}

static void nf_gone(void *arg)
{
	struct pvk_netfront *nf = arg;

	nf_log(nf, "device removed");
	nf_rings_free(nf);
	nf->fr.phase = NF_GONE;
}

static void nf_fail(void *arg, const char *why)
{
	nf_set_broken(arg, "%s", why);
}

static const struct pvk_xenbus_front_ops nf_ops = {
	.talk = nf_talk,
	.connect = nf_connect,
	.teardown = nf_teardown,
	.gone = nf_gone,
	.fail = nf_fail,
};

/* mac and mtu: the toolstack's, in our own directory. */
static int read_own(struct pvk_netfront *nf)
{
	unsigned int b[6];
	unsigned long mtu;
	char *v = NULL, *end;
	int n = 0, rc, i;

	rc = pvk_xenbus_read(&nf->fr.dev, PVK_XS_NO_TXN, false, "mac", &v);
	if (rc < 0) {
		nf_log(nf, "no mac node in %s (%s)",
		       pvk_xenbus_own_path(&nf->fr.dev), strerror(-rc));
		return rc == -ENOENT ? -EPROTO : rc;
	}
	/* Exactly xx:xx:xx:xx:xx:xx (sscanf alone takes " 2", "-2"). */
	for (i = 0; v[i] && i < 17; i++)
		if (i % 3 == 2 ? v[i] != ':' : !isxdigit((unsigned char)v[i]))
			break;
	if (i != 17 || v[17] ||
	    sscanf(v, "%2x:%2x:%2x:%2x:%2x:%2x%n", &b[0], &b[1], &b[2], &b[3],
		   &b[4], &b[5], &n) != 6 ||
	    v[n] || (b[0] & 1)) {
		nf_log(nf, "mac '%.32s' is not a unicast xx:xx:xx:xx:xx:xx", v);
		free(v);
		return -EPROTO;
	}
	free(v);
	for (i = 0; i < 6; i++)
		nf->info.mac[i] = (uint8_t)b[i];
	/* The frontend's "mtu" (libxl writes it there); 1500 without. */
	nf->info.mtu = 1500;
	rc = pvk_xenbus_read(&nf->fr.dev, PVK_XS_NO_TXN, false, "mtu", &v);
	if (rc == -ENOENT)
		return 0;
	if (rc < 0) {
		nf_log(nf, "mtu node in %s unreadable (%s)",
		       pvk_xenbus_own_path(&nf->fr.dev), strerror(-rc));
		return rc;
	}
	errno = 0;
	mtu = strtoul(v, &end, 10);
	if (!isdigit((unsigned char)*v) || *end || errno || mtu < 68 ||
	    mtu > 65535) {
		nf_log(nf, "mtu '%.32s' is not a number in 68..65535", v);
		free(v);
		return -EPROTO;
	}
	free(v);
	nf->info.mtu = (uint32_t)mtu;
	return 0;
}

int nf_xs_init(struct pvk_netfront *nf, uint32_t devid)
{
	int rc;

	/* A vif frontend is Connected as soon as its rings are published
	 * (Linux's netfront; netback connects on it). */
	rc = pvk_xenbus_front_init(&nf->fr, nf->hv, "vif", devid, &nf_ops, nf,
				   PVK_XENBUS_CONNECTED);
	if (rc < 0)
		return rc;
	nf->info.devid = devid;
	nf->info.backend_id = nf->fr.dev.be_domid;
	rc = read_own(nf);
	if (rc < 0)
		pvk_xenbus_front_fini(&nf->fr); /* the watch front_init set */
	return rc;
}
