// SPDX-License-Identifier: MIT
/*
 * pvkit-dm: a device model in domain 0 for one HVM guest, as QEMU is on
 * Xen: a PIIX IDE disk and an e1000 NIC (pvkit/dm_ide.h, pvkit/dm_e1000.h)
 * served through an ioreq server (pvkit/dmodel.h).
 *
 *   pvkit-dm --domain NAME|ID [--ide FILE[,ro]] [--e1000 tap=IFNAME[,mac=M]]
 *            [--stats FILE]
 *
 * It runs until the guest dies (exit 0), SIGTERM or SIGINT (exit 0), or
 * the hypervisor fails it (exit 1).
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <pvkit/dm_e1000.h>
#include <pvkit/dm_ide.h>
#include <pvkit/dmodel.h>
#include <pvkit/hv.h>

#define IDE_BM_BASE 0xc000 /* BMIDE: 16 ports */
#define E1000_BASE 0xfebc0000ull /* the memory BAR */
#define E1000_IRQ 11
#define WATCH_TOKEN "pvkit-dm"
#define CHECK_MS 1000 /* the guest's life, also without a watch */

struct opts {
	const char *domain;
	char *ide;
	bool ide_ro;
	char *tap;
	uint8_t mac[6];
	bool have_mac;
	const char *stats;
};

/* --stats FILE: the counters, rewritten on SIGUSR1 and at exit. */
struct dm_stats {
	const char *path;
	struct pvk_dmodel *dm;
	struct pvk_ide *ide;
	struct pvk_e1000 *nic;
	unsigned long long gen;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: pvkit-dm --domain NAME|ID [--ide FILE[,ro]] "
		"[--e1000 tap=IFNAME[,mac=MAC]]\n"
		"                [--stats FILE]\n"
		"A device model in domain 0 for one HVM guest (`pvkit domain "
		"create --hvm`), as QEMU is on Xen:\n"
		"emulated devices served through an ioreq server.\n"
		"\n"
		"  --domain NAME|ID   the HVM guest\n"
		"  --ide FILE[,ro]    a PIIX IDE disk on the raw image FILE: "
		"ports 0x1f0-0x1f7,\n"
		"                     0x3f6, bus master 0xc000-0xc00f, IRQ 14 "
		"(ro: writes fail)\n"
		"  --e1000 tap=IFNAME[,mac=MAC]\n"
		"                     an e1000 NIC on the TAP IFNAME (made if "
		"missing): its BAR at\n"
		"                     0xfebc0000 (128 KiB), IRQ 11; MAC "
		"52:54:00:12:34:56 unless given\n"
		"  --stats FILE       write the counters to FILE on SIGUSR1 "
		"and at exit, one line:\n"
		"                     pvkit-dm-stats GEN ioreqs N ide_irqs N "
		"ide_commands N\n"
		"                     e1000_irqs N e1000_tx_frames N "
		"e1000_rx_frames N\n"
		"  --help             this text\n"
		"  --version          the version\n"
		"\n"
		"It serves until the guest dies or SIGTERM/SIGINT (exit 0); "
		"exit 1 on errors,\n"
		"2 on bad arguments.\n");
}

static void err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void err(const char *fmt, ...)
{
	va_list ap;

	fputs("pvkit-dm: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static bool parse_mac(const char *s, uint8_t mac[6])
{
	unsigned int b[6];
	char tail;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3],
		   &b[4], &b[5], &tail) != 6)
		return false;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	return !(mac[0] & 1); /* not multicast */
}

/* FILE[,ro] */
static int parse_ide(struct opts *o, char *arg)
{
	char *comma = strrchr(arg, ',');

	if (comma && !strcmp(comma, ",ro")) {
		*comma = 0;
		o->ide_ro = true;
	}
	if (!*arg) {
		err("--ide needs an image file: --ide FILE[,ro]");
		return -1;
	}
	o->ide = arg;
	return 0;
}

/* tap=IFNAME[,mac=MAC] */
static int parse_e1000(struct opts *o, char *arg)
{
	char *save = NULL, *kv;

	for (kv = strtok_r(arg, ",", &save); kv;
	     kv = strtok_r(NULL, ",", &save)) {
		if (!strncmp(kv, "tap=", 4) && kv[4]) {
			o->tap = kv + 4;
		} else if (!strncmp(kv, "mac=", 4)) {
			if (!parse_mac(kv + 4, o->mac)) {
				err("--e1000: mac '%s' is not a unicast MAC "
				    "such as 52:54:00:12:34:56",
				    kv + 4);
				return -1;
			}
			o->have_mac = true;
		} else {
			err("--e1000: unknown '%s': give tap=IFNAME[,mac=MAC]",
			    kv);
			return -1;
		}
	}
	if (!o->tap) {
		err("--e1000 needs tap=IFNAME");
		return -1;
	}
	return 0;
}

/* The guest's id: a number, or a name in /local/domain/<id>/name. */
static int find_domain(struct pvk_hv *hv, const char *s, uint32_t *domid)
{
	char **ids = NULL, path[64], *name, *end;
	unsigned long v;
	int n, rc = -ESRCH;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (*s && !*end && !errno) {
		if (v == 0 || v > PVK_DOMID_MAX)
			return -EINVAL;
		*domid = (uint32_t)v;
		return 0;
	}
	n = pvk_xs_directory(hv, PVK_XS_NO_TXN, "/local/domain", &ids);
	if (n < 0)
		return n;
	for (int i = 0; i < n && rc == -ESRCH; i++) {
		snprintf(path, sizeof(path), "/local/domain/%s/name", ids[i]);
		if (pvk_xs_read(hv, PVK_XS_NO_TXN, path, &name) < 0)
			continue;
		v = strtoul(ids[i], &end, 10);
		if (!strcmp(name, s) && !*end && v > 0 && v <= PVK_DOMID_MAX) {
			*domid = (uint32_t)v;
			rc = 0;
		}
		free(name);
	}
	free(ids);
	return rc;
}

static bool guest_alive(struct pvk_hv *hv, uint32_t domid)
{
	struct pvk_domain_info info;
	int rc = pvk_hv_domain_info(hv, domid, &info);

	return rc == -ENOENT || rc == -ESRCH ? false : rc < 0 || !info.dying;
}

static void log_line(void *arg, const char *line)
{
	fprintf(stderr, "pvkit-dm: %s: %s\n", (const char *)arg, line);
}

/* One line, written whole (a new file renamed over the old). */
static void stats_write(struct dm_stats *st)
{
	struct pvk_dmodel_stats ds = { 0 };
	struct pvk_ide_stats is = { 0 };
	struct pvk_e1000_stats es = { 0 };
	char tmp[4096];
	FILE *f;

	if (!st->path)
		return;
	pvk_dmodel_stats(st->dm, &ds);
	if (st->ide)
		pvk_ide_stats(st->ide, &is);
	if (st->nic)
		pvk_e1000_stats(st->nic, &es);
	snprintf(tmp, sizeof(tmp), "%s.tmp", st->path);
	f = fopen(tmp, "w");
	if (!f) {
		err("--stats %s: %s", tmp, strerror(errno));
		return;
	}
	fprintf(f,
		"pvkit-dm-stats %llu ioreqs %llu ide_irqs %llu ide_commands "
		"%llu e1000_irqs %llu e1000_tx_frames %llu e1000_rx_frames "
		"%llu\n",
		++st->gen, (unsigned long long)ds.requests,
		(unsigned long long)is.irqs, (unsigned long long)is.commands,
		(unsigned long long)es.irq_raised,
		(unsigned long long)es.tx_frames,
		(unsigned long long)es.rx_frames);
	if (fclose(f) || rename(tmp, st->path) < 0) {
		err("--stats %s: %s", st->path, strerror(errno));
		unlink(tmp);
	}
}

static int serve(struct pvk_hv *hv, uint32_t domid, struct pvk_dmodel *dm,
		 struct dm_stats *st)
{
	struct pollfd pfd[3];
	sigset_t set;
	int sfd, wfd, rc = 0;
	bool watching;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		err("signalfd: %s", strerror(errno));
		return 1;
	}
	/* A domain's death fires @releaseDomain; the timer covers a
	 * hypervisor without watches and a missed event. */
	watching = pvk_xs_watch(hv, "@releaseDomain", WATCH_TOKEN) == 0;
	wfd = watching ? pvk_xs_watch_fd(hv) : -1;
	pfd[0] = (struct pollfd){ .fd = pvk_dmodel_fd(dm), .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = sfd, .events = POLLIN };
	pfd[2] = (struct pollfd){ .fd = wfd, .events = POLLIN };
	for (;;) {
		struct signalfd_siginfo si;
		char *path, *token;
		int n = poll(pfd, 3, CHECK_MS);

		if (n < 0 && errno != EINTR) {
			err("poll: %s", strerror(errno));
			rc = 1;
			break;
		}
		if (pfd[0].revents) {
			n = pvk_dmodel_handle(dm);
			if (n < 0) {
				if (!guest_alive(hv, domid))
					goto gone;
				err("serving domain %u: %s", domid,
				    strerror(-n));
				rc = 1;
				break;
			}
		}
		if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo == SIGUSR1) {
				stats_write(st);
			} else {
				printf("pvkit-dm: signal %u: stopping\n",
				       si.ssi_signo);
				break;
			}
		}
		if (pfd[2].revents) {
			while (pvk_xs_read_watch(hv, &path, &token) > 0) {
				free(path);
				free(token);
			}
		}
		if ((n == 0 || pfd[2].revents) && !guest_alive(hv, domid))
			goto gone;
	}
	close(sfd);
	return rc;
gone:
	printf("pvkit-dm: domain %u is gone: stopping\n", domid);
	close(sfd);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "domain", required_argument, NULL, 'd' },
		{ "ide", required_argument, NULL, 'i' },
		{ "e1000", required_argument, NULL, 'e' },
		{ "stats", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	struct opts o = { .mac = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 } };
	struct pvk_ide *ide = NULL;
	struct pvk_e1000 *nic = NULL;
	struct pvk_dmodel *dm = NULL;
	struct pvk_hv *hv = NULL;
	struct dm_stats st;
	sigset_t usr1;
	uint32_t domid = 0;
	int c, rc, ret = 1;

	while ((c = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			o.domain = optarg;
			break;
		case 'i':
			if (o.ide) {
				err("one --ide only");
				return 2;
			}
			if (parse_ide(&o, optarg) < 0)
				return 2;
			break;
		case 'e':
			if (o.tap) {
				err("one --e1000 only");
				return 2;
			}
			if (parse_e1000(&o, optarg) < 0)
				return 2;
			break;
		case 's':
			o.stats = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("pvkit-dm %s\n", PVK_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		err("unexpected argument '%s' (see --help)", argv[optind]);
		return 2;
	}
	if (!o.domain) {
		err("--domain NAME|ID is required (see --help)");
		return 2;
	}
	if (!o.ide && !o.tap) {
		err("no device: give --ide FILE and/or --e1000 tap=IFNAME");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	rc = pvk_hv_open(&hv, 0);
	if (rc < 0) {
		err("no hypervisor: %s%s", strerror(-rc),
		    rc == -ENODEV ? " (no Xen and no simulator: run `pvkit "
				    "sim start` first)" :
				    "");
		return 1;
	}
	if (pvk_hv_domid(hv) != 0) {
		err("a device model runs in domain 0 (this process is in "
		    "domain %u)",
		    pvk_hv_domid(hv));
		goto close_hv;
	}
	rc = find_domain(hv, o.domain, &domid);
	if (rc < 0) {
		err("no domain '%s'%s", o.domain,
		    rc == -EINVAL ? ": a domain id is 1 to 32751" :
				    " (see `pvkit domain list`)");
		goto close_hv;
	}
	rc = pvk_dmodel_create(&dm, hv, domid);
	if (rc < 0) {
		err("cannot serve domain %u: %s%s", domid, strerror(-rc),
		    rc == -EOPNOTSUPP ? " (not an HVM guest: create it with "
					"`pvkit domain create --hvm`)" :
		    rc == -ESRCH      ? " (it is gone)" :
		    rc == -ENOSPC     ? " (it has 8 ioreq servers already)" :
					"");
		goto close_hv;
	}
	if (o.ide) {
		struct pvk_ide_config cfg = { .path = o.ide,
					      .read_only = o.ide_ro,
					      .bm_base = IDE_BM_BASE,
					      .log = log_line,
					      .log_arg = "ide" };

		rc = pvk_ide_create(&ide, dm, &cfg);
		if (rc == 0)
			rc = pvk_ide_attach(ide);
		if (rc < 0) {
			err("--ide %s: %s%s", o.ide, strerror(-rc),
			    rc == -EEXIST ? " (another device model serves "
					    "those ports)" :
					    "");
			goto destroy;
		}
	}
	if (o.tap) {
		struct pvk_e1000_config cfg = { .base = E1000_BASE,
						.irq = E1000_IRQ,
						.tap = o.tap,
						.log = log_line,
						.log_arg = "e1000" };

		memcpy(cfg.mac, o.mac, sizeof(cfg.mac));
		rc = pvk_e1000_create(&nic, dm, &cfg);
		if (rc < 0) {
			err("--e1000 tap=%s: %s%s", o.tap, strerror(-rc),
			    rc == -EPERM ? " (a TAP needs CAP_NET_ADMIN)" : "");
			goto destroy;
		}
	}
	rc = pvk_dmodel_enable(dm);
	if (rc < 0) {
		err("cannot enable the ioreq server: %s", strerror(-rc));
		goto destroy;
	}
	/* SIGUSR1 asks for --stats from now on: hold it until serve()
	 * takes it from its signalfd, rather than die of it. */
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, NULL);
	printf("pvkit-dm: serving domain %u:%s%s%s%s\n", domid,
	       ide ? " ide " : "", ide ? o.ide : "", nic ? " e1000 " : "",
	       nic ? pvk_e1000_ifname(nic) : "");
	st = (struct dm_stats){
		.path = o.stats, .dm = dm, .ide = ide, .nic = nic
	};
	stats_write(&st);
	ret = serve(hv, domid, dm, &st);
	stats_write(&st);
destroy:
	pvk_dmodel_destroy(dm);
	if (ide)
		pvk_ide_destroy(ide);
	if (nic)
		pvk_e1000_destroy(nic);
close_hv:
	pvk_hv_close(hv);
	return ret;
}
