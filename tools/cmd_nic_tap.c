// SPDX-License-Identifier: MIT
/*
 * pvkit nic serve-tap: inside a guest, pvkit's netfront on one vif,
 * bridged to a TAP device of the guest's own network namespace, so that
 * the guest's kernel stack -- ping, ssh, iperf3 -- uses the PV NIC.
 *
 * One thread drives the vif's queues; TAP queue i is ring queue i, so a
 * flow the kernel steers to a TAP queue stays on one ring.  Offload
 * metadata crosses as it is: the TAP's vnet header becomes netif flags
 * and GSO extras and back; what the backend did not offer is turned off
 * on the TAP (TUNSETOFFLOAD), so the kernel completes checksums and
 * segments before we see a frame.  The process ends with status 0 when
 * the vif is detached, 1 if the backend breaks the protocol.
 */
#include <errno.h>
#include <getopt.h>
#include <linux/virtio_net.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <pvkit/hv.h>
#include <pvkit/net.h>
#include <pvkit/netfront.h>

#include "cmd.h"
#include "devcmd.h"

int pvk_cmd_nic_serve_tap(int argc, char **argv);

#define VHL ((int)sizeof(struct virtio_net_hdr))

/* Frames moved per batch each way: one ring push (and at most one
 * notification) per batch. */
#define TXB 16
#define RXB 16

struct tap_q {
	int fd;
	/* Frames read from the TAP, [first, first + npend) not yet on the
	 * ring (it was full, or the vif is reconnecting). */
	uint8_t *tx[TXB]; /* [VHL + 64 KiB] each */
	struct pvk_netfront_pkt pend[TXB];
	unsigned int first, npend;
	uint8_t *rx[RXB]; /* [VHL + PVK_NETFRONT_MAX_RX_FRAME] each */
	struct pvk_netfront_pkt got[RXB];
};

struct serve {
	struct pvk_netfront *nf;
	struct pvk_netfront_info info;
	unsigned int nq;
	struct tap_q q[PVK_NETFRONT_MAX_QUEUES];
	char ifname[PVK_NET_IFNAMSIZ];
	uint32_t connects;
	uint64_t tap_dropped;
	uint64_t poll_ns; /* --poll-us */
	/* for open_vif */
	struct pvk_hv *hv;
	uint32_t devid;
	const struct pvk_netfront_opts *opts;
};

static int open_vif(void *arg)
{
	struct serve *s = arg;

	return pvk_netfront_open(&s->nf, s->hv, s->devid, s->opts);
}

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: pvkit nic serve-tap [DEVID] [--name IFNAME] "
		"[--queues N] [--no-offload] [--poll-us N]\n"
		"  Inside a guest domain: drive vif DEVID (default 0) with "
		"pvkit's netfront and\n"
		"  bridge it to a TAP device IFNAME (default eth%%d) in this "
		"network namespace,\n"
		"  with the vif's MAC and MTU, up.  Give it an address with "
		"ip(8) as any NIC.\n"
		"  Ends (status 0) when the vif is detached; SIGTERM/SIGINT "
		"close it cleanly.\n"
		"  --queues N    ask for at most N queues (1..%u; default: "
		"one per CPU, up to 4)\n"
		"  --no-offload  no checksum or segmentation offload "
		"(frames as on the wire)\n"
		"  --poll-us N   after the last frame, look for more for N "
		"microseconds (0..1000,\n"
		"                default 0) before sleeping: fewer wake-ups, "
		"more CPU\n",
		PVK_NETFRONT_MAX_QUEUES);
}

/*
 * A guest whose /dev is not devtmpfs (a minimal initramfs) has the tun
 * driver but no /dev/net/tun: make the node (misc 10:200), as
 * `mknod /dev/net/tun c 10 200` would, and say so.
 */
static int tun_node(void)
{
	struct stat st;

	if (stat("/dev/net/tun", &st) == 0)
		return -EEXIST;
	if ((mkdir("/dev/net", 0755) < 0 && errno != EEXIST) ||
	    mknod("/dev/net/tun", S_IFCHR | 0666, makedev(10, 200)) < 0)
		return -errno;
	fprintf(stderr, "serve-tap: made /dev/net/tun (misc 10:200), which "
			"this system lacked\n");
	return 0;
}

/* What the TAP may hand us: only what the backend takes. */
static int set_offloads(struct serve *s)
{
	unsigned int off = 0, i;
	int rc;

	pvk_netfront_info(s->nf, &s->info);
	if (s->info.csum)
		off |= PVK_TAP_OFF_CSUM;
	if (s->info.gso_tcpv4)
		off |= PVK_TAP_OFF_TSO4;
	if (s->info.gso_tcpv6)
		off |= PVK_TAP_OFF_TSO6;
	for (i = 0; i < s->nq; i++) {
		rc = pvk_tap_offload(s->q[i].fd, off);
		if (rc < 0)
			return rc;
	}
	s->connects = s->info.connects;
	return 0;
}

/* Read up to TXB frames from the TAP into q->pend. */
static void tap_read(struct serve *s, struct tap_q *q)
{
	struct pvk_netfront_pkt *p;
	ssize_t len;

	q->first = 0;
	while (q->npend < TXB) {
		len = read(q->fd, q->tx[q->npend], VHL + 65536);
		if (len < 0)
			break;
		p = &q->pend[q->npend];
		*p = (struct pvk_netfront_pkt){
			.data = q->tx[q->npend] + VHL,
			.len = (uint32_t)(len > VHL ? len - VHL : 0),
		};
		if (p->len < PVK_NET_ETH_HLEN ||
		    pvk_net_meta_from_vnet(
			    (struct virtio_net_hdr *)q->tx[q->npend], p->len,
			    &p->meta) < 0) {
			s->tap_dropped++;
			continue;
		}
		q->npend++;
	}
}

/* TAP -> vif on queue @qi, a batch at a time; returns frames sent. */
static int tap_to_vif(struct serve *s, unsigned int qi)
{
	struct tap_q *q = &s->q[qi];
	int n = 0, rc;

	while (n < 4 * TXB) {
		if (!q->npend)
			tap_read(s, q);
		if (!q->npend)
			break;
		rc = pvk_netfront_send(s->nf, qi, q->pend + q->first, q->npend);
		if (rc == -EAGAIN)
			break; /* ring full or reconnecting: keep them */
		if (rc == -EIO || rc == -ENODEV)
			return rc;
		if (rc < 0) {
			rc = 1; /* the backend cannot take this one */
			s->tap_dropped++;
		} else {
			n += rc;
		}
		q->first += (unsigned int)rc;
		q->npend -= (unsigned int)rc;
		if (q->npend)
			break; /* the ring is full */
	}
	return n;
}

/* vif -> TAP on queue @qi; returns frames delivered. */
static int vif_to_tap(struct serve *s, unsigned int qi)
{
	struct tap_q *q = &s->q[qi];
	int n = 0, rc, i;

	while (n < 4 * RXB) {
		for (i = 0; i < RXB; i++)
			q->got[i] = (struct pvk_netfront_pkt){
				.data = q->rx[i] + VHL,
				.len = PVK_NETFRONT_MAX_RX_FRAME,
			};
		rc = pvk_netfront_recv(s->nf, qi, q->got, RXB);
		if (rc <= 0)
			return rc < 0 && rc != -EAGAIN ? rc : n;
		for (i = 0; i < rc; i++) {
			if (pvk_net_meta_to_vnet(
				    &q->got[i].meta, q->got[i].len,
				    (struct virtio_net_hdr *)q->rx[i]) < 0 ||
			    write(q->fd, q->rx[i], VHL + q->got[i].len) < 0)
				s->tap_dropped++;
		}
		n += rc;
		if (rc < RXB)
			break;
	}
	return n;
}

static int serve_loop(struct serve *s)
{
	struct pollfd pfd[1 + PVK_NETFRONT_MAX_QUEUES];
	uint64_t last_work = 0;
	unsigned int busy_loops = 0;
	bool events = true;
	unsigned int i;
	int rc, work;

	for (;;) {
		if (stop)
			return 0;
		if (events) {
			/* Backend notifications and xenstore changes; tx
			 * completions and rx frames are taken below. */
			rc = pvk_netfront_process(s->nf);
			if (rc < 0)
				return rc;
			if (pvk_netfront_connected(s->nf)) {
				pvk_netfront_info(s->nf, &s->info);
				if (s->info.connects != s->connects) {
					rc = set_offloads(s);
					if (rc < 0)
						return rc;
				}
			}
		}
		work = 0;
		for (i = 0; i < s->nq && i < s->info.nr_queues; i++) {
			rc = vif_to_tap(s, i);
			if (rc < 0)
				return rc;
			work += rc;
			rc = tap_to_vif(s, i);
			if (rc < 0)
				return rc;
			work += rc;
		}
		/* Busy with frames, still look at events now and then: a
		 * backend closing must not wait for a quiet moment. */
		events = ++busy_loops % 64 == 0;
		if (work) {
			last_work = pvk_spin_clock_ns();
			continue;
		}
		/* --poll-us: look again for a while before sleeping, so a
		 * busy peer need not wake us (it sees us polling). */
		if (s->poll_ns &&
		    pvk_spin_clock_ns() - last_work < s->poll_ns) {
			sched_yield();
			continue;
		}
		rc = pvk_netfront_arm(s->nf);
		if (rc < 0)
			return rc;
		if (rc > 0)
			continue;
		pfd[0] = (struct pollfd){ .fd = pvk_netfront_fd(s->nf),
					  .events = POLLIN };
		for (i = 0; i < s->nq; i++) {
			/* A TAP queue is read only while its frames can go
			 * on a ring, and only the queues the vif has. */
			bool on = !s->q[i].npend && i < s->info.nr_queues &&
				  pvk_netfront_connected(s->nf);

			pfd[1 + i] =
				(struct pollfd){ .fd = on ? s->q[i].fd : -1,
						 .events = POLLIN };
		}
		rc = poll(pfd, 1 + s->nq, 1000);
		if (rc < 0 && errno != EINTR)
			return -errno;
		/* On a timeout too: a lost wake-up costs a second, not the
		 * vif. */
		events = events || rc == 0 || pfd[0].revents;
	}
}

int pvk_cmd_nic_serve_tap(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "queues", required_argument, NULL, 'q' },
		{ "no-offload", no_argument, NULL, 'o' },
		{ "poll-us", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct pvk_netfront_opts opts = { 0 };
	const char *name = "eth%d";
	struct sigaction sa = { .sa_handler = on_signal };
	struct serve s = { 0 };
	unsigned long v;
	uint32_t devid = 0;
	struct pvk_hv *hv;
	struct pvk_nl *nl;
	char *end;
	int c, rc, ret = 1;
	unsigned int i;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'n':
			name = optarg;
			break;
		case 'q':
			v = strtoul(optarg, &end, 10);
			if (*end || !v || v > PVK_NETFRONT_MAX_QUEUES) {
				pvk_cmd_err("--queues %s: give 1..%u", optarg,
					    PVK_NETFRONT_MAX_QUEUES);
				return 2;
			}
			opts.max_queues = (unsigned int)v;
			break;
		case 'o':
			opts.flags |= PVK_NETFRONT_NO_CSUM |
				      PVK_NETFRONT_NO_GSO;
			break;
		case 'p':
			v = strtoul(optarg, &end, 10);
			if (*end || !*optarg || v > 1000) {
				pvk_cmd_err("--poll-us %s: give 0..1000",
					    optarg);
				return 2;
			}
			s.poll_ns = v * 1000;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		v = strtoul(argv[optind], &end, 10);
		if (*end || !*argv[optind] || v > 255) {
			pvk_cmd_err("vif '%s': give the vif's devid, 0..255 "
				    "(see `pvkit nic list` in dom0)",
				    argv[optind]);
			return 2;
		}
		devid = (uint32_t)v;
		optind++;
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	if (strlen(name) >= PVK_NET_IFNAMSIZ) {
		pvk_cmd_err("--name %s: at most %d characters", name,
			    PVK_NET_IFNAMSIZ - 1);
		return 2;
	}
	if (pvk_dev_open_hv("nic serve-tap", &hv) < 0)
		return 1;
	s.hv = hv;
	s.devid = devid;
	s.opts = &opts;
	rc = pvk_dev_open_retry(open_vif, &s);
	if (rc < 0) {
		pvk_cmd_err("serve-tap: vif %u in domain %u: %s%s", devid,
			    pvk_hv_domid(hv), strerror(-rc),
			    rc == -ENOENT ? " (attach it from dom0: pvkit nic "
					    "attach DOMAIN)" :
					    "");
		goto close_hv;
	}
	pvk_netfront_info(s.nf, &s.info);
	s.nq = s.info.nr_queues;
	for (i = 0; i < PVK_NETFRONT_MAX_QUEUES; i++)
		s.q[i].fd = -1;
	{
		int fds[PVK_NETFRONT_MAX_QUEUES];

		unsigned int fl = PVK_TAP_VNET_HDR |
				  (s.nq > 1 ? PVK_TAP_MULTI_QUEUE : 0);

		rc = pvk_tap_open(name, fl, s.nq, fds, s.ifname);
		if (rc == -ENOENT && tun_node() == 0)
			rc = pvk_tap_open(name, fl, s.nq, fds, s.ifname);
		if (rc < 0) {
			pvk_cmd_err("serve-tap: cannot create TAP %s: %s%s",
				    name, strerror(-rc),
				    rc == -EPERM  ? " (needs CAP_NET_ADMIN)" :
				    rc == -ENOENT ? " (no tun driver: modprobe "
						    "tun)" :
						    "");
			goto close_nf;
		}
		for (i = 0; i < s.nq; i++)
			s.q[i].fd = fds[i];
	}
	rc = 0;
	for (i = 0; i < s.nq; i++) {
		for (c = 0; c < TXB; c++)
			if (!(s.q[i].tx[c] = malloc(VHL + 65536)))
				rc = -ENOMEM;
		for (c = 0; c < RXB; c++)
			if (!(s.q[i].rx[c] =
				      malloc(VHL + PVK_NETFRONT_MAX_RX_FRAME)))
				rc = -ENOMEM;
	}
	if (rc == -ENOMEM) {
		pvk_cmd_err("serve-tap: out of memory");
		goto close_tap;
	}
	rc = set_offloads(&s);
	if (rc < 0) {
		pvk_cmd_err("serve-tap: TAP offloads: %s", strerror(-rc));
		goto close_tap;
	}
	rc = pvk_nl_open(&nl);
	if (!rc)
		rc = pvk_nl_link_set_mac(nl, s.ifname, s.info.mac);
	if (!rc)
		rc = pvk_nl_link_set_mtu(nl, s.ifname, s.info.mtu);
	if (!rc)
		rc = pvk_nl_link_set_up(nl, s.ifname, true);
	pvk_nl_close(nl);
	if (rc < 0) {
		pvk_cmd_err("serve-tap: setting up %s (mac, mtu %u, up): %s",
			    s.ifname, s.info.mtu, strerror(-rc));
		goto close_tap;
	}
	printf("serve-tap: vif %u of domain %u on %s: mac "
	       "%02x:%02x:%02x:%02x:%02x:%02x mtu %u, %u queue%s, backend "
	       "domain %u%s%s\n",
	       devid, pvk_hv_domid(hv), s.ifname, s.info.mac[0], s.info.mac[1],
	       s.info.mac[2], s.info.mac[3], s.info.mac[4], s.info.mac[5],
	       s.info.mtu, s.nq, s.nq == 1 ? "" : "s", s.info.backend_id,
	       s.info.csum ? ", csum offload" : "",
	       s.info.gso_tcpv4 ? ", tso" : "");
	fflush(stdout);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	rc = serve_loop(&s);
	if (rc == -ENODEV) {
		printf("serve-tap: vif %u detached; %s removed\n", devid,
		       s.ifname);
		ret = 0;
	} else if (rc == 0) {
		ret = 0;
	} else if (rc == -EIO) {
		pvk_cmd_err("serve-tap: vif %u: %s", devid,
			    pvk_netfront_broken_reason(s.nf) ?: "broken");
	} else {
		pvk_cmd_err("serve-tap: vif %u: %s", devid, strerror(-rc));
	}
	{
		struct pvk_netfront_stats st;

		pvk_netfront_stats(s.nf, &st);
		printf("serve-tap: tx %llu frames %llu bytes (%llu errors), "
		       "rx %llu frames %llu bytes (%llu errors, %llu "
		       "dropped), TAP %llu dropped\n",
		       (unsigned long long)st.tx_packets,
		       (unsigned long long)st.tx_bytes,
		       (unsigned long long)st.tx_errors,
		       (unsigned long long)st.rx_packets,
		       (unsigned long long)st.rx_bytes,
		       (unsigned long long)st.rx_errors,
		       (unsigned long long)st.rx_dropped,
		       (unsigned long long)s.tap_dropped);
	}
close_tap:
	for (i = 0; i < s.nq; i++) {
		if (s.q[i].fd >= 0)
			close(s.q[i].fd);
		for (c = 0; c < TXB; c++)
			free(s.q[i].tx[c]);
		for (c = 0; c < RXB; c++)
			free(s.q[i].rx[c]);
	}
close_nf:
	pvk_netfront_close(s.nf);
close_hv:
	pvk_hv_close(hv);
	return ret;
}
