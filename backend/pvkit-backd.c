/* SPDX-License-Identifier: MIT */
/*
 * pvkit-backd: the control domain's block backend daemon.  Serves every
 * vbd under its xenstore backend directory (see pvkit/blkback.h), answers
 * `pvkit stats` on a unix socket.  On SIGTERM/SIGINT it drains in-flight
 * I/O and closes its devices, or with --handover hands its connected
 * rings over to the next pvkit-backd (the frontends see a pause, not a
 * disconnection: what a restart for an upgrade wants).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <pvkit/blkback.h>
#include <pvkit/netback.h>
#include <pvkit/hv.h>

#include "backd_systemd.h"

/* GNU-style, so that help2man makes the man page from it (man/). */
static void usage(FILE *f)
{
	fprintf(f,
		"Usage: pvkit-backd [OPTION]...\n"
		"Serve the PV disks (vbd) and NICs (vif) the toolstack attaches, "
		"for every guest.\n"
		"\n"
		"Drivers:\n"
		"  --driver NAME[=TYPE[,frontend=FETYPE]]\n"
		"                        serve the devices of driver NAME (vbd, "
		"vif) in backend\n"
		"                        directory TYPE (default: NAME) whose "
		"frontends are in\n"
		"                        device/FETYPE (default: NAME; pvkit's "
		"guest kernel\n"
		"                        drivers bind pvkvbd and pvkvif); "
		"repeatable; default vbd\n"
		"  --type TYPE           the same as --driver vbd=TYPE\n"
		"\n"
		"Block devices (vbd):\n"
		"  --max-queues N        multi-queue-max-queues (default %u)\n"
		"  --max-ring-order N    max-ring-page-order, 0..4 (default %u)\n"
		"  --max-indirect N      feature-max-indirect-segments (default "
		"%u)\n"
		"  --no-indirect, --no-persistent, --no-discard, --no-flush, "
		"--no-barrier, --no-mq\n"
		"                        do not offer that feature\n"
		"  --no-direct           never open images with O_DIRECT\n"
		"  --state-dir DIR       crash journals of the connected vbds, so "
		"that the next\n"
		"                        instance resumes their rings after a "
		"kill -9 (default:\n"
		"                        pvkit-backd.state beside the control "
		"socket; tmpfs)\n"
		"  --no-journal          no crash journals: after a crash, "
		"frontends must reconnect\n"
		"  --force               serve backend/vbd on Xen even if the "
		"kernel's xen-blkback\n"
		"                        is loaded\n"
		"\n"
		"Network devices (vif):\n"
		"  --vif-queues N        multi-queue-max-queues (default %u)\n"
		"  --vif-minimal         offer only feature-rx-copy (no sg, gso, "
		"csum offload,\n"
		"                        multi-queue, split event channels)\n"
		"  --bridge BR           for vifs without a bridge node (default "
		"xenbr0)\n"
		"\n"
		"The daemon:\n"
		"  --control PATH        stats socket (default: "
		"/run/pvkit/pvkit-backd.sock on Xen,\n"
		"                        DIR/pvkit-backd.sock on the simulator; "
		"$PVKIT_BACKD_SOCK)\n"
		"  --handover            SIGTERM: hand the connected rings to the "
		"next pvkit-backd\n"
		"                        instead of closing the devices\n"
		"  --drain-timeout MS    SIGTERM: wait for frontends to close "
		"(default 2000)\n"
		"  --poll-us N           poll rings and completions for up to N us "
		"before sleeping\n"
		"                        (0..1000, default 0: never); adaptive\n"
		"  --reconnect-ms MS     after a burst, offer a device that keeps "
		"disconnecting\n"
		"                        again at most once per MS (0..60000, "
		"default 1000\n"
		"                        or $PVKIT_RECONNECT_MS; 0: no limit)\n"
		"  --help                this text\n"
		"  --version             the version\n",
		PVK_BLKBACK_DEF_MAX_QUEUES, PVK_BLKBACK_DEF_RING_ORDER,
		PVK_BLKBACK_DEF_INDIRECT_SEGS, PVK_NETBACK_DEF_MAX_QUEUES);
}

/* How often an idle daemon checks that xenstored still answers (watch
 * events alone never tell that the connection died). */
#define XS_PROBE_MS 5000

static int xs_probe(struct pvk_hv *hv)
{
	char *v = NULL;
	int err = pvk_xs_read(hv, PVK_XS_NO_TXN, "/local/domain/0/name", &v);

	free(v);
	/* A missing node is an answer; only a dead connection is not. */
	return err == -ENOENT || err == -EACCES || err >= 0 ? 0 : err;
}

static int parse_u32(const char *s, uint32_t *v)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(s, &end, 10);
	if (errno || *end || !*s || n > UINT32_MAX)
		return -EINVAL;
	*v = (uint32_t)n;
	return 0;
}

static int control_listen(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[sizeof(sa.sun_path)], *slash;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* A live daemon answers; a stale socket file does not. */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		close(fd);
		return -EADDRINUSE;
	}
	close(fd);
	strcpy(dir, path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		mkdir(dir, 0755);
	}
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 8) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/*
 * The drivers pvkit-backd can host on its one backend bus: each is
 * started on the bus for a backend directory type, prints its devices for
 * `pvkit stats`, and is destroyed after the bus stopped its devices.
 */
/* Every driver's options, from the command line. */
struct opts {
	struct pvk_blkback_config blk;
	struct pvk_netback_config net;
};

struct backd_driver {
	const char *name;
	/* On Xen, the kernel module that serves backend/<name> itself. */
	const char *kmod, *kmod_name;
	int (*start)(void **drv, struct pvk_xenbus_bus *bus, const char *type,
		     const char *fe_type, const struct opts *o);
	int (*stats)(void *drv, FILE *f);
	void (*destroy)(void *drv);
};

static int vbd_start(void **drv, struct pvk_xenbus_bus *bus, const char *type,
		     const char *fe_type, const struct opts *o)
{
	struct pvk_blkback_config c = o->blk;

	c.type = type;
	c.fe_type = fe_type;
	return pvk_blkback_create_on((struct pvk_blkback **)drv, bus, &c);
}

static int vbd_stats(void *drv, FILE *f)
{
	return pvk_blkback_stats(drv, f);
}

static void vbd_destroy(void *drv)
{
	pvk_blkback_destroy(drv);
}

static int vif_start(void **drv, struct pvk_xenbus_bus *bus, const char *type,
		     const char *fe_type, const struct opts *o)
{
	struct pvk_netback_config c = o->net;

	c.type = type;
	c.fe_type = fe_type;
	return pvk_netback_create_on((struct pvk_netback **)drv, bus, &c);
}

static int vif_stats(void *drv, FILE *f)
{
	return pvk_netback_stats(drv, f);
}

static void vif_destroy(void *drv)
{
	pvk_netback_destroy(drv);
}

static const struct backd_driver drivers[] = {
	{ "vbd", "/sys/module/xen_blkback", "xen-blkback", vbd_start, vbd_stats,
	  vbd_destroy },
	{ "vif", "/sys/module/xen_netback", "xen-netback", vif_start, vif_stats,
	  vif_destroy },
};
#define NR_DRIVERS (sizeof(drivers) / sizeof(drivers[0]))
#define MAX_SERVED 8

struct served {
	const struct backd_driver *drv;
	char type[PVK_XENBUS_TYPE_MAX], fe_type[PVK_XENBUS_TYPE_MAX];
	void *h;
};

static bool good_type(const char *t, size_t n)
{
	return n && n < PVK_XENBUS_TYPE_MAX - 1 && !memchr(t, '/', n);
}

/* "NAME[=TYPE[,frontend=FETYPE]]" into @sv; a clear message and -EINVAL
 * when wrong. */
static int parse_driver(const char *arg, struct served *sv)
{
	const char *eq = strchr(arg, '=');
	size_t n = eq ? (size_t)(eq - arg) : strlen(arg);
	const char *type = eq ? eq + 1 : arg;
	const char *comma = eq ? strchr(type, ',') : NULL;
	size_t tn = comma ? (size_t)(comma - type) : strlen(type);
	const char *fe = NULL;
	unsigned int i;

	for (i = 0; i < NR_DRIVERS; i++)
		if (strlen(drivers[i].name) == n &&
		    !strncmp(drivers[i].name, arg, n))
			break;
	if (i == NR_DRIVERS) {
		fprintf(stderr,
			"pvkit-backd: --driver %s: no driver '%.*s' (known: ",
			arg, (int)n, arg);
		for (i = 0; i < NR_DRIVERS; i++)
			fprintf(stderr, "%s%s", i ? ", " : "", drivers[i].name);
		fprintf(stderr, ")\n");
		return -EINVAL;
	}
	if (!good_type(type, tn)) {
		fprintf(stderr,
			"pvkit-backd: --driver %s: the backend type must be "
			"1 to %d characters without '/'\n",
			arg, PVK_XENBUS_TYPE_MAX - 2);
		return -EINVAL;
	}
	if (comma) {
		fe = comma + 1;
		if (strncmp(fe, "frontend=", 9) ||
		    !good_type(fe + 9, strlen(fe + 9)) || strchr(fe + 9, ',')) {
			fprintf(stderr,
				"pvkit-backd: --driver %s: after the backend "
				"type only ',frontend=TYPE' may follow (the "
				"frontends' device directory type, 1 to %d "
				"characters without '/' or ',')\n",
				arg, PVK_XENBUS_TYPE_MAX - 2);
			return -EINVAL;
		}
		fe += 9;
	}
	sv->drv = &drivers[i];
	snprintf(sv->type, sizeof(sv->type), "%.*s", (int)tn, type);
	/* The guest sees an ordinary vbd or vif unless told otherwise. */
	snprintf(sv->fe_type, sizeof(sv->fe_type), "%s", fe ?: sv->drv->name);
	return 0;
}

/* --driver NAME[=TYPE], or --type TYPE for @name "vbd". */
static int add_driver(struct served *sv, unsigned int *nsv, const char *name,
		      const char *arg)
{
	char buf[64];
	unsigned int j;

	if (*nsv == MAX_SERVED) {
		fprintf(stderr, "pvkit-backd: at most %d drivers\n",
			MAX_SERVED);
		return -EINVAL;
	}
	if (name) {
		snprintf(buf, sizeof(buf), "%s=%s", name, arg);
		arg = buf;
	}
	if (parse_driver(arg, &sv[*nsv]) < 0)
		return -EINVAL;
	for (j = 0; j < *nsv; j++) {
		if (!strcmp(sv[j].type, sv[*nsv].type)) {
			fprintf(stderr,
				"pvkit-backd: backend type '%s' given twice\n",
				sv[j].type);
			return -EINVAL;
		}
	}
	(*nsv)++;
	return 0;
}

static void control_serve(struct served *sv, unsigned int nsv, int lfd)
{
	unsigned int i;
	struct timeval tv = { .tv_sec = 1 };
	FILE *f;
	int fd;

	while ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
		/* A client that does not read cannot stall the daemon. */
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		f = fdopen(fd, "w");
		if (!f) {
			close(fd);
			continue;
		}
		for (i = 0; i < nsv; i++)
			if (sv[i].h)
				sv[i].drv->stats(sv[i].h, f);
		fclose(f);
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "type", required_argument, NULL, 't' },
		{ "driver", required_argument, NULL, 'R' },
		{ "vif-queues", required_argument, NULL, 'Q' },
		{ "vif-minimal", no_argument, NULL, 'm' },
		{ "bridge", required_argument, NULL, 'b' },
		{ "max-queues", required_argument, NULL, 'q' },
		{ "max-ring-order", required_argument, NULL, 'o' },
		{ "max-indirect", required_argument, NULL, 'i' },
		{ "no-indirect", no_argument, NULL, 'I' },
		{ "no-persistent", no_argument, NULL, 'P' },
		{ "no-discard", no_argument, NULL, 'D' },
		{ "no-flush", no_argument, NULL, 'F' },
		{ "no-barrier", no_argument, NULL, 'B' },
		{ "no-mq", no_argument, NULL, 'M' },
		{ "no-direct", no_argument, NULL, 'd' },
		{ "control", required_argument, NULL, 'c' },
		{ "drain-timeout", required_argument, NULL, 'T' },
		{ "poll-us", required_argument, NULL, 'p' },
		{ "reconnect-ms", required_argument, NULL, 'r' },
		{ "force", no_argument, NULL, 'f' },
		{ "handover", no_argument, NULL, 'H' },
		{ "state-dir", required_argument, NULL, 'S' },
		{ "no-journal", no_argument, NULL, 'J' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	struct opts o = {
		.blk = {
			.max_queues = PVK_BLKBACK_DEF_MAX_QUEUES,
			.max_ring_order = PVK_BLKBACK_DEF_RING_ORDER,
			.max_indirect_segs = PVK_BLKBACK_DEF_INDIRECT_SEGS,
		},
	};
	struct pvk_blkback_config *cfg = &o.blk;
	const char *control = NULL, *state_dir = NULL;
	char ctl[256], sdir[256], sdmsg[96];
	bool journal = true;
	uint32_t drain_ms = 2000, reconnect_ms = UINT32_MAX;
	bool force = false, handover = false;
	struct served sv[MAX_SERVED] = { 0 };
	struct pvk_xenbus_bus *bus = NULL;
	unsigned int nsv = 0, i;
	struct pvk_hv *hv = NULL;
	struct pollfd pfd[3];
	sigset_t mask;
	int c, err, n, busy = 0, sfd = -1, lfd = -1, rc = 1;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		err = 0;
		switch (c) {
		case 't':
		case 'R':
			if (add_driver(sv, &nsv, c == 't' ? "vbd" : NULL,
				       optarg) < 0)
				return 2;
			break;
		case 'q':
			err = parse_u32(optarg, &cfg->max_queues);
			break;
		case 'o':
			err = parse_u32(optarg, &cfg->max_ring_order);
			break;
		case 'i':
			err = parse_u32(optarg, &cfg->max_indirect_segs);
			break;
		case 'I':
			cfg->no_indirect = true;
			break;
		case 'P':
			cfg->no_persistent = true;
			break;
		case 'D':
			cfg->no_discard = true;
			break;
		case 'F':
			cfg->no_flush = true;
			break;
		case 'B':
			cfg->no_barrier = true;
			break;
		case 'M':
			cfg->no_mq = true;
			break;
		case 'd':
			cfg->no_direct = true;
			break;
		case 'Q':
			err = parse_u32(optarg, &o.net.max_queues);
			if (!err &&
			    (o.net.max_queues < 1 ||
			     o.net.max_queues > PVK_NETBACK_MAX_QUEUES)) {
				fprintf(stderr,
					"pvkit-backd: --vif-queues %s: 1 to "
					"%u\n",
					optarg, PVK_NETBACK_MAX_QUEUES);
				return 2;
			}
			break;
		case 'm':
			o.net.minimal = true;
			break;
		case 'b':
			if (!*optarg || strlen(optarg) >= 16 ||
			    strchr(optarg, '/')) {
				fprintf(stderr,
					"pvkit-backd: --bridge %s: an interface "
					"name of 1 to 15 characters\n",
					optarg);
				return 2;
			}
			o.net.bridge = optarg;
			break;
		case 'c':
			control = optarg;
			break;
		case 'T':
			err = parse_u32(optarg, &drain_ms);
			break;
		case 'f':
			force = true;
			break;
		case 'H':
			handover = true;
			break;
		case 'S':
			if (!*optarg) {
				fprintf(stderr,
					"pvkit-backd: --state-dir needs a "
					"directory (--no-journal turns crash "
					"journals off)\n");
				return 2;
			}
			state_dir = optarg;
			break;
		case 'J':
			journal = false;
			break;
		case 'p':
			err = parse_u32(optarg, &cfg->poll_us);
			if (!err && cfg->poll_us > 1000) {
				fprintf(stderr,
					"pvkit-backd: --poll-us %s: at most 1000 "
					"(microseconds of polling before each "
					"sleep; 0 turns it off)\n",
					optarg);
				return 2;
			}
			break;
		case 'r':
			err = parse_u32(optarg, &reconnect_ms);
			if (!err &&
			    reconnect_ms > PVK_XENBUS_RECONNECT_MS_MAX) {
				fprintf(stderr,
					"pvkit-backd: --reconnect-ms %s: at most "
					"%u (milliseconds between a device's "
					"offers after a burst; 0: no limit)\n",
					optarg, PVK_XENBUS_RECONNECT_MS_MAX);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("pvkit-backd %s\n", PVK_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
		if (err) {
			fprintf(stderr,
				"pvkit-backd: bad number '%s' (a decimal "
				"integer; see --help)\n",
				optarg);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (cfg->max_queues == 0)
		cfg->no_mq = true;
	if (!nsv)
		add_driver(sv, &nsv, NULL, "vbd");

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	/* Blocked before any thread exists, so queue threads inherit it. */
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		perror("pvkit-backd: signalfd");
		return 1;
	}

	err = pvk_hv_open(&hv, 0);
	if (err < 0) {
		fprintf(stderr, "pvkit-backd: %s\n",
			err == -ENODEV ? "no Xen and no simulator: run `pvkit "
					 "sim start` first" :
					 strerror(-err));
		goto close_sfd;
	}
	/* Two backends on one directory would both map the rings. */
	for (i = 0; i < nsv; i++) {
		if (strcmp(pvk_hv_backend(hv), "xen") || force ||
		    strcmp(sv[i].type, sv[i].drv->name) ||
		    access(sv[i].drv->kmod, F_OK) != 0)
			continue;
		fprintf(stderr,
			"pvkit-backd: the kernel's %s serves backend/%s here: "
			"unload it (modprobe -r %s) or give pvkit-backd a type "
			"of its own (--driver %s=pvk%s, and attach with that "
			"type); --force overrides\n",
			sv[i].drv->kmod_name, sv[i].type, sv[i].drv->kmod_name,
			sv[i].drv->name, sv[i].drv->name);
		goto close_hv;
	}
	if (!control) {
		if (pvk_blkback_control_path(ctl, sizeof(ctl),
					     strcmp(pvk_hv_backend(hv),
						    "xen") != 0) < 0) {
			fprintf(stderr, "pvkit-backd: control path too long\n");
			goto close_hv;
		}
		control = ctl;
	}
	if (journal && !state_dir) {
		const char *slash = strrchr(control, '/');
		int dlen = slash ? (int)(slash - control) : 1;

		snprintf(sdir, sizeof(sdir), "%.*s/pvkit-backd.state", dlen,
			 slash ? control : ".");
		state_dir = sdir;
	}
	if (journal) {
		if (mkdir(state_dir, 0700) < 0 && errno != EEXIST) {
			fprintf(stderr,
				"pvkit-backd: --state-dir %s: %s (a "
				"directory on tmpfs, e.g. under /run)\n",
				state_dir, strerror(errno));
			goto close_hv;
		}
		cfg->state_dir = state_dir;
	}
	lfd = control_listen(control);
	if (lfd < 0) {
		fprintf(stderr, "pvkit-backd: %s: %s\n", control,
			lfd == -EADDRINUSE ? "another pvkit-backd is running" :
					     strerror(-lfd));
		goto close_hv;
	}
	/* Under systemd: the journal timestamps, we give priorities. */
	err = pvk_xenbus_bus_create(
		&bus, hv, backd_sd_journal() ? backd_sd_log : NULL, NULL);
	if (err < 0) {
		fprintf(stderr, "pvkit-backd: watching xenstore: %s\n",
			strerror(-err));
		goto close_listen;
	}
	if (reconnect_ms != UINT32_MAX)
		pvk_xenbus_bus_set_reconnect_ms(bus, reconnect_ms);
	for (i = 0; i < nsv; i++) {
		err = sv[i].drv->start(&sv[i].h, bus, sv[i].type, sv[i].fe_type,
				       &o);
		if (err < 0) {
			fprintf(stderr,
				"pvkit-backd: driver %s (backend/%s): %s\n",
				sv[i].drv->name, sv[i].type, strerror(-err));
			goto destroy_drivers;
		}
		fprintf(stderr,
			"pvkit-backd: started on %s as domain %u, serving "
			"backend/%s (%s), stats at %s\n",
			pvk_hv_backend(hv), pvk_hv_domid(hv), sv[i].type,
			sv[i].drv->name, control);
	}
	fprintf(stderr, "pvkit-backd: crash journals %s%s\n",
		cfg->state_dir ? "in " : "off (--no-journal)",
		cfg->state_dir ? cfg->state_dir : "");
	/* Type=notify: the bus watches and the control socket are up. */
	snprintf(sdmsg, sizeof(sdmsg),
		 "READY=1\nSTATUS=serving on %s as domain %u",
		 pvk_hv_backend(hv), pvk_hv_domid(hv));
	backd_sd_notify(sdmsg);

	for (;;) {
		pfd[0] = (struct pollfd){ .fd = pvk_xenbus_bus_fd(bus),
					  .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		pfd[2] = (struct pollfd){ .fd = lfd, .events = POLLIN };
		n = poll(pfd, 3, XS_PROBE_MS);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("pvkit-backd: poll");
			break;
		}
		if (n == 0 || ++busy >= 1000) {
			busy = 0;
			err = xs_probe(hv);
			if (err < 0) {
				/* Nothing can be closed or written now: stop as
				 * a crash would, leaving the rings and the crash
				 * journals to the next instance. */
				fprintf(stderr,
					"pvkit-backd: xenstore is gone (%s): "
					"exiting without touching the devices; "
					"start pvkit-backd again once xenstored is "
					"back, it resumes the rings from the crash "
					"journals\n",
					strerror(-err));
				_exit(3);
			}
		}
		if (pfd[1].revents) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) == sizeof(si) &&
			    si.ssi_signo != SIGHUP) {
				backd_sd_notify("STOPPING=1");
				fprintf(stderr,
					"pvkit-backd: signal %u: draining and "
					"%s\n",
					si.ssi_signo,
					handover ? "handing the rings over" :
						   "closing devices");
				if (handover)
					pvk_xenbus_bus_handover(bus,
								(int)drain_ms);
				else
					pvk_xenbus_bus_shutdown(bus,
								(int)drain_ms);
				rc = 0;
				break;
			}
		}
		if (pfd[2].revents)
			control_serve(sv, nsv, lfd);
		if (pfd[0].revents) {
			err = pvk_xenbus_bus_handle_events(bus);
			if (err < 0) {
				fprintf(stderr, "pvkit-backd: xenstore: %s\n",
					strerror(-err));
				pvk_xenbus_bus_shutdown(bus, 0);
				break;
			}
		}
	}
destroy_drivers:
	for (i = nsv; i-- > 0;)
		if (sv[i].h)
			sv[i].drv->destroy(sv[i].h);
	pvk_xenbus_bus_destroy(bus);
	fprintf(stderr, "pvkit-backd: stopped\n");
close_listen:
	close(lfd);
	unlink(control);
close_hv:
	pvk_hv_close(hv);
close_sfd:
	close(sfd);
	return rc;
}
