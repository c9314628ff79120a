/* SPDX-License-Identifier: MIT */
/*
 * pvkit nic attach|detach|list: the toolstack side of a vif (serve-tap,
 * the guest side, is in cmd_nic_tap.c).  attach and
 * detach write and remove the nodes `xl network-attach` and `xl
 * network-detach` do (libxl 4.17's vif layout: see pvkit/xenbus.h), so
 * that any backend following them -- pvkit-backd, or Linux's xen-netback
 * with the vif-bridge script -- serves the device, on the simulator and on
 * Xen alike.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <pvkit/hv.h>
#include <pvkit/xenbus.h>

#include "cmd.h"
#include "devcmd.h"

#define DEFAULT_TIMEOUT_MS 10000

/* cmd_nic_tap.c */
int pvk_cmd_nic_serve_tap(int argc, char **argv);
#define MAX_DEVID 255

static const char *backend_type(const char *opt)
{
	const char *e = getenv("PVKIT_NET_BACKEND_TYPE");

	if (opt)
		return opt;
	return e && *e ? e : "vif";
}

struct nic {
	uint32_t fe, be, devid;
	const char *type, *bridge, *script;
	char mac[18], rate[48];
	uint32_t mtu, queues;
	char be_path[PVK_XENBUS_PATH_MAX], fe_path[PVK_XENBUS_PATH_MAX];
};

static bool parse_mac(const char *s, char out[18])
{
	unsigned int b[6];
	int n;

	if (strlen(s) != 17 ||
	    sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%n", &b[0], &b[1], &b[2], &b[3],
		   &b[4], &b[5], &n) != 6 ||
	    s[n] || (b[0] & 1))
		return false;
	snprintf(out, 18, "%02hhx:%02hhx:%02hhx:%02hhx:%02hhx:%02hhx",
		 (unsigned char)b[0], (unsigned char)b[1], (unsigned char)b[2],
		 (unsigned char)b[3], (unsigned char)b[4], (unsigned char)b[5]);
	return true;
}

/*
 * xl's rate: NUM{,K,M,G}{b,B}/s[@INTERVAL{s,ms,us}] (default interval 50
 * ms), into what libxl writes: "<bytes per interval>,<interval in us>".
 */
static bool parse_rate(const char *s, char out[48])
{
	unsigned long long num, mult = 1, iv = 50000, ivm = 1;
	char *end, *p;

	errno = 0;
	num = strtoull(s, &end, 10);
	if (errno || end == s || !num)
		return false;
	switch (*end) {
	case 'K':
		mult = 1000ull, end++;
		break;
	case 'M':
		mult = 1000000ull, end++;
		break;
	case 'G':
		mult = 1000000000ull, end++;
		break;
	}
	if (num > ULLONG_MAX / mult)
		return false;
	if (*end == 'b')
		num = num * mult / 8;
	else if (*end == 'B')
		num *= mult;
	else
		return false;
	end++;
	if (strncmp(end, "/s", 2))
		return false;
	end += 2;
	if (*end == '@') {
		iv = strtoull(end + 1, &p, 10);
		if (p == end + 1 || !iv)
			return false;
		if (!strcmp(p, "s"))
			ivm = 1000000;
		else if (!strcmp(p, "ms"))
			ivm = 1000;
		else if (strcmp(p, "us"))
			return false;
		iv *= ivm;
	} else if (*end) {
		return false;
	}
	if (iv > 60000000ull || num > ULLONG_MAX / iv)
		return false;
	/* bytes per second times the interval. */
	snprintf(out, 48, "%llu,%llu", num * iv / 1000000ull, iv);
	return num * iv / 1000000ull > 0;
}

static bool parse_u32(const char *s, uint32_t lo, uint32_t hi, uint32_t *v)
{
	unsigned long n;
	char *end;

	errno = 0;
	n = strtoul(s, &end, 10);
	if (errno || *end || !*s || *s == '-' || n < lo || n > hi)
		return false;
	*v = (uint32_t)n;
	return true;
}

/*
 * Everything `xl network-attach` writes, in one transaction (see
 * pvk_dev_add_txn(): the directories with libxl's permissions, and
 * libxl's record under /libxl), except that the frontend's mtu belongs to
 * the backend domain: the guest may read it, not change it.
 */
static int attach_nodes(struct pvk_hv *hv, struct nic *n, struct pvk_dev_add *d)
{
	pvk_dev_add_init(d, hv, "vif", n->type, n->be, n->fe, n->devid);
	pvk_dev_node(d, PVK_DEV_BE, "frontend", "%s", d->fe_path);
	pvk_dev_node(d, PVK_DEV_BE, "frontend-id", "%u", n->fe);
	pvk_dev_node(d, PVK_DEV_BE, "online", "1");
	pvk_dev_node(d, PVK_DEV_BE, "script", "%s", n->script);
	pvk_dev_node(d, PVK_DEV_BE, "mac", "%s", n->mac);
	if (n->rate[0])
		pvk_dev_node(d, PVK_DEV_BE, "rate", "%s", n->rate);
	pvk_dev_node(d, PVK_DEV_BE, "mtu", "%u", n->mtu);
	pvk_dev_node(d, PVK_DEV_BE, "bridge", "%s", n->bridge);
	pvk_dev_node(d, PVK_DEV_BE, "handle", "%u", n->devid);
	pvk_dev_node(d, PVK_DEV_BE, "type", "vif");
	pvk_dev_node(d, PVK_DEV_BE, "hotplug-status", "%s", "");
	/* pvkit's own, only when asked for: a per-vif queue limit for
	 * pvkit-backd (xen-netback has a module parameter instead). */
	if (n->queues)
		pvk_dev_node(d, PVK_DEV_BE, "pvkit-max-queues", "%u",
			     n->queues);
	pvk_dev_node(d, PVK_DEV_FE, "backend", "%s", d->be_path);
	pvk_dev_node(d, PVK_DEV_FE, "backend-id", "%u", n->be);
	pvk_dev_node(d, PVK_DEV_FE, "handle", "%u", n->devid);
	pvk_dev_node(d, PVK_DEV_FE, "mac", "%s", n->mac);
	pvk_dev_node(d, PVK_DEV_FE_RO, "mtu", "%u", n->mtu);
	/* A backend in the control domain is trusted (libxl 4.16+). */
	pvk_dev_node(d, PVK_DEV_FE, "trusted", "1");
	/* The state nodes last: watchers see the device whole. */
	pvk_dev_node(d, PVK_DEV_FE, "state", "%d", PVK_XENBUS_INITIALISING);
	pvk_dev_node(d, PVK_DEV_BE, "state", "%d", PVK_XENBUS_INITIALISING);
	return d->err;
}

/* The first devid free in both the guest's device/vif and our backend
 * directory, as libxl picks it. */
static int next_devid(struct pvk_hv *hv, struct nic *n)
{
	char p[PVK_XENBUS_PATH_MAX], *v;
	uint32_t id;

	for (id = 0; id <= MAX_DEVID; id++) {
		snprintf(p, sizeof(p), "/local/domain/%u/device/vif/%u", n->fe,
			 id);
		if (pvk_xs_read(hv, PVK_XS_NO_TXN, p, &v) >= 0) {
			free(v);
			continue;
		}
		return (int)id;
	}
	return -ENOSPC;
}

static bool attach_done(int st, void *arg)
{
	struct nic *n = arg;
	(void)n;
	return st >= PVK_XENBUS_INITWAIT || st == -ENOENT;
}

static int cmd_attach(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "bridge", required_argument, NULL, 'B' },
		{ "mac", required_argument, NULL, 'm' },
		{ "rate", required_argument, NULL, 'r' },
		{ "queues", required_argument, NULL, 'q' },
		{ "mtu", required_argument, NULL, 'M' },
		{ "devid", required_argument, NULL, 'd' },
		{ "backend-domain", required_argument, NULL, 'b' },
		{ "type", required_argument, NULL, 't' },
		{ "no-wait", no_argument, NULL, 'n' },
		{ 0 },
	};
	struct pvk_dev_add nodes = { 0 };
	struct nic n = { .bridge = "xenbr0",
			 .mtu = 1500,
			 .script = "/etc/xen/scripts/vif-bridge" };
	const char *be_arg = NULL, *type = NULL;
	char path[PVK_XENBUS_PATH_MAX + 32], *v;
	uint32_t devid = UINT32_MAX;
	struct pvk_hv *hv = NULL;
	uint8_t rnd[3];
	bool wait = true;
	int c, err, rc = 1;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'B':
			if (!*optarg || strlen(optarg) > 15 ||
			    strchr(optarg, '/')) {
				fprintf(stderr,
					"pvkit nic attach: bad --bridge '%s': "
					"an interface name of 1 to 15 "
					"characters\n",
					optarg);
				return 2;
			}
			n.bridge = optarg;
			break;
		case 'm':
			if (!parse_mac(optarg, n.mac)) {
				fprintf(stderr,
					"pvkit nic attach: bad --mac '%s': six "
					"hex pairs, unicast (e.g. "
					"00:16:3e:12:34:56)\n",
					optarg);
				return 2;
			}
			break;
		case 'r':
			if (!parse_rate(optarg, n.rate)) {
				fprintf(stderr,
					"pvkit nic attach: bad --rate '%s': "
					"as xl, NUM{,K,M,G}{b,B}/s[@INTERVAL"
					"{s,ms,us}], e.g. 10Mb/s or "
					"1MB/s@20ms\n",
					optarg);
				return 2;
			}
			break;
		case 'q':
			if (!parse_u32(optarg, 1, 16, &n.queues)) {
				fprintf(stderr,
					"pvkit nic attach: bad --queues '%s': "
					"1 to 16 (a limit for the backend; the "
					"frontend chooses)\n",
					optarg);
				return 2;
			}
			break;
		case 'M':
			if (!parse_u32(optarg, 68, 65535, &n.mtu)) {
				fprintf(stderr,
					"pvkit nic attach: bad --mtu '%s': 68 "
					"to 65535\n",
					optarg);
				return 2;
			}
			break;
		case 'd':
			if (!parse_u32(optarg, 0, MAX_DEVID, &devid)) {
				fprintf(stderr,
					"pvkit nic attach: bad --devid '%s': 0 "
					"to %d\n",
					optarg, MAX_DEVID);
				return 2;
			}
			break;
		case 'b':
			be_arg = optarg;
			break;
		case 't':
			type = optarg;
			break;
		case 'n':
			wait = false;
			break;
		default:
			goto usage;
		}
	}
	if (argc - optind != 1)
		goto usage;
	n.type = backend_type(type);
	if (!pvk_dev_valid_type(n.type)) {
		fprintf(stderr,
			"pvkit nic attach: bad backend type '%s': one word of "
			"[A-Za-z0-9_-], e.g. vif or pvkvif\n",
			n.type);
		return 2;
	}
	if (pvk_dev_open_hv("nic", &hv) < 0)
		return 1;
	n.be = pvk_hv_domid(hv);
	if (be_arg && pvk_dev_find_domain(hv, be_arg, &n.be) < 0) {
		pvk_dev_no_domain("nic", "attach", "backend", be_arg);
		goto close_hv;
	}
	if (pvk_dev_find_domain(hv, argv[optind], &n.fe) < 0) {
		pvk_dev_no_domain("nic", "attach", "guest", argv[optind]);
		goto close_hv;
	}
	if (devid == UINT32_MAX) {
		err = next_devid(hv, &n);
		if (err < 0) {
			fprintf(stderr,
				"pvkit nic attach: domain %u has %d vifs "
				"already\n",
				n.fe, MAX_DEVID + 1);
			goto close_hv;
		}
		devid = (uint32_t)err;
	}
	n.devid = devid;
	if (!n.mac[0]) {
		/* Xen's OUI and three random bytes, as libxl. */
		if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd)) {
			perror("pvkit nic attach: getrandom");
			goto close_hv;
		}
		snprintf(n.mac, sizeof(n.mac), "00:16:3e:%02x:%02x:%02x",
			 rnd[0] & 0x7f, rnd[1], rnd[2]);
	}
	err = attach_nodes(hv, &n, &nodes);
	snprintf(n.fe_path, sizeof(n.fe_path), "%s", nodes.fe_path);
	snprintf(n.be_path, sizeof(n.be_path), "%s", nodes.be_path);
	err = err ?: pvk_xs_transaction(hv, 0, pvk_dev_add_txn, &nodes);
	if (err == -EEXIST) {
		fprintf(stderr,
			"pvkit nic attach: domain %u has a vif %u already "
			"(%s): `pvkit nic list` shows them; --devid picks "
			"another\n",
			n.fe, n.devid, n.fe_path);
		goto close_hv;
	}
	if (err < 0) {
		fprintf(stderr,
			"pvkit nic attach: writing %s and %s: %s; nothing was "
			"written\n",
			n.be_path, n.fe_path, strerror(-err));
		goto close_hv;
	}
	if (wait) {
		/* As xl: the backend takes it (InitWait) and its hotplug part
		 * succeeded; otherwise remove it again. */
		snprintf(path, sizeof(path), "%s/state", n.be_path);
		err = pvk_dev_wait_state(hv, path, attach_done, &n,
					 DEFAULT_TIMEOUT_MS);
		v = pvk_dev_read_node(hv, PVK_XS_NO_TXN, n.be_path,
				      "hotplug-error");
		if (v || err == -ETIMEDOUT) {
			if (v)
				fprintf(stderr,
					"pvkit nic attach: the backend refused "
					"the vif: %s; removed it again\n",
					v);
			else
				fprintf(stderr,
					"pvkit nic attach: no backend took %s "
					"within %d s (is pvkit-backd running "
					"with --driver vif=%s?); removed it "
					"again (--no-wait keeps it)\n",
					n.be_path, DEFAULT_TIMEOUT_MS / 1000,
					n.type);
			free(v);
			pvk_dev_remove(hv, n.be_path, n.fe_path);
			goto close_hv;
		}
	}
	printf("%s: vif %u attached to domain %u (mac %s, bridge %s, mtu "
	       "%u%s%s)\n",
	       n.be_path, n.devid, n.fe, n.mac, n.bridge, n.mtu,
	       n.rate[0] ? ", rate " : "", n.rate);
	rc = 0;
close_hv:
	pvk_dev_add_free(&nodes);
	pvk_hv_close(hv);
	return rc;
usage:
	fprintf(stderr,
		"usage: pvkit nic attach DOMAIN [--bridge BR] [--mac MAC] "
		"[--rate R] [--queues N] [--mtu N] [--devid N] "
		"[--backend-domain ID] [--type vif] [--no-wait]\n");
	return 2;
}

/* DEVID, or the MAC of one of @fe's vifs. */
static int nic_devid(struct pvk_hv *hv, uint32_t fe, const char *arg,
		     uint32_t *devid)
{
	char dir[PVK_XENBUS_PATH_MAX], mac[18], **ids = NULL, *v;
	int n, i, found = -ENOENT;

	if (parse_u32(arg, 0, MAX_DEVID, devid))
		return 0;
	if (parse_mac(arg, mac)) {
		snprintf(dir, sizeof(dir), "/local/domain/%u/device/vif", fe);
		n = pvk_xs_directory(hv, PVK_XS_NO_TXN, dir, &ids);
		for (i = 0; i < n && found; i++) {
			snprintf(dir, sizeof(dir),
				 "/local/domain/%u/device/vif/%.12s", fe,
				 ids[i]);
			v = pvk_dev_read_node(hv, PVK_XS_NO_TXN, dir, "mac");
			if (v && !strcasecmp(v, mac) &&
			    parse_u32(ids[i], 0, MAX_DEVID, devid))
				found = 0;
			free(v);
		}
		free(ids);
	}
	if (found < 0)
		fprintf(stderr,
			"pvkit nic detach: '%s' is neither a vif number "
			"(0-%d) nor the MAC of one of domain %u's vifs: "
			"`pvkit nic list` shows them\n",
			arg, MAX_DEVID, fe);
	return found;
}

static const struct pvk_dev_kind nic_kind = {
	.group = "nic",
	.fe_type = "vif",
	.what = "vif",
	.usage = "DOMAIN DEVID|MAC [--force] [--timeout MS] "
		 "[--backend-domain ID] [--type vif]",
	.backend_type = backend_type,
	.devid = nic_devid,
};

static int cmd_detach(int argc, char **argv)
{
	return pvk_dev_cmd_detach(&nic_kind, argc, argv);
}

/* README "Machine-readable output" documents the JSON fields. */
static const struct pvk_dev_col nic_cols[] = {
	{ "domain", 6, "domain", PVK_DEV_COL_DOMAIN, NULL },
	{ "name", 12, "domain_name", PVK_DEV_COL_NAME, NULL },
	{ "devid", 5, "devid", PVK_DEV_COL_DEVID, NULL },
	{ "mac", 17, "mac", PVK_DEV_COL_NODE, "mac" },
	{ "bridge", 10, "bridge", PVK_DEV_COL_NODE, "bridge" },
	{ "backend", 12, "backend_state", PVK_DEV_COL_BSTATE, NULL },
	{ "frontend", 12, "frontend_state", PVK_DEV_COL_FSTATE, NULL },
	{ "hotplug", 0, "hotplug_status", PVK_DEV_COL_NODE, "hotplug-status" },
	{ NULL, 0, "backend_path", PVK_DEV_COL_PATH, NULL },
	{ 0 },
};

static int cmd_list(int argc, char **argv)
{
	return pvk_dev_cmd_list(&nic_kind, nic_cols, argc, argv);
}

static const struct pvk_cmd nic_cmds[] = {
	{ "attach",
	  "DOMAIN [--bridge BR] [--mac MAC] [--rate R] [--queues N] [--mtu N] "
	  "[--devid N] [--backend-domain ID] [--type vif] [--no-wait]",
	  "give a domain a PV NIC (the nodes `xl network-attach` writes)",
	  cmd_attach },
	{ "detach",
	  "DOMAIN DEVID|MAC [--force] [--timeout MS] [--backend-domain ID] "
	  "[--type vif]",
	  "remove a PV NIC as `xl network-detach` does", cmd_detach },
	{ "list", "[DOMAIN] [--json] [--type vif]",
	  "the PV NICs this domain serves", cmd_list },
	{ "serve-tap",
	  "[DEVID] [--name IFNAME] [--queues N] [--no-offload] [--poll-us N]",
	  "inside a guest: the PV NIC as a TAP device of the guest",
	  pvk_cmd_nic_serve_tap },
	{ NULL },
};

static const struct pvk_cmd_group nic_group = {
	.name = "nic",
	.help = "PV network devices (vifs): attach, detach, list, serve-tap",
	.cmds = nic_cmds,
};
PVK_CMD_GROUP(nic_group);
