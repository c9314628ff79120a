// SPDX-License-Identifier: MIT
/*
 * pvkit disk serve-nbd: export a PV disk, seen through blkfront from inside
 * a (simulated or real) guest domain, over NBD, so that stock tools --
 * nbdinfo, nbdcopy, qemu-img, qemu-nbd clients, the kernel's nbd -- can
 * use it.  The NBD server is nbdkit with pvkit's plugin
 * (tools/nbdkit-pvkit-plugin.c): structured replies, base:allocation,
 * WRITE_ZEROES, FUA, multi-conn, any number of clients, TLS.  This command
 * checks its arguments, finds the plugin and becomes nbdkit.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pvkit/blkfront.h>

#include "cmd.h"

int pvk_cmd_disk_serve_nbd(int argc, char **argv);

#ifndef PVK_NBDKIT_PLUGIN
#define PVK_NBDKIT_PLUGIN "/usr/local/lib/nbdkit/plugins/nbdkit-pvkit-plugin.so"
#endif

static void usage(FILE *f)
{
	fprintf(f,
		"usage: pvkit disk serve-nbd [VDEV] (--unix PATH | --tcp PORT) "
		"[options]\n"
		"  VDEV                 the guest's disk (default xvda)\n"
		"  --unix PATH          listen on a unix socket\n"
		"  --tcp PORT           listen on TCP (--bind ADDR, default "
		"127.0.0.1)\n"
		"  --name NAME          the export's name (default: any)\n"
		"  --readonly           refuse writes\n"
		"  --timeout SECS       a request waits at most this for the "
		"disk, then fails\n"
		"                       (default 30): clients get errors, not "
		"hangs\n"
		"  --once               end when the last client leaves\n"
		"  --tls-certificates DIR | --tls-psk FILE\n"
		"                       require TLS (nbdkit's --tls=require)\n"
		"  --threads N          nbdkit's worker threads\n"
		"  --queue-depth N  --max-ring-order N  --max-queues N  "
		"--no-indirect\n"
		"  --no-persistent  --poll-us N    blkfront's options\n"
		"It runs nbdkit with pvkit's plugin (nbdkit-pvkit-plugin.so; "
		"$PVKIT_NBDKIT_PLUGIN\n"
		"names another).  Ends when the disk is detached.\n");
}

/* The plugin: $PVKIT_NBDKIT_PLUGIN, beside this program (build/bin ->
 * build/lib), or where make install put it. */
static int find_plugin(char *buf, size_t len)
{
	const char *e = getenv("PVKIT_NBDKIT_PLUGIN");
	char exe[PATH_MAX], *slash;
	ssize_t n;

	if (e && *e) {
		snprintf(buf, len, "%s", e);
		return access(buf, R_OK) ? -errno : 0;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = 0;
		slash = strrchr(exe, '/');
		if (slash) {
			*slash = 0;
			if ((size_t)snprintf(buf, len,
					     "%s/../lib/nbdkit-pvkit-plugin.so",
					     exe) < len &&
			    !access(buf, R_OK))
				return 0;
		}
	}
	snprintf(buf, len, "%s", PVK_NBDKIT_PLUGIN);
	return access(buf, R_OK) ? -errno : 0;
}

static bool number(const char *s, unsigned long lo, unsigned long hi)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 10);
	return !errno && *s && !*end && *s != '-' && v >= lo && v <= hi;
}

int pvk_cmd_disk_serve_nbd(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "unix", required_argument, NULL, 'u' },
		{ "tcp", required_argument, NULL, 't' },
		{ "bind", required_argument, NULL, 'b' },
		{ "name", required_argument, NULL, 'n' },
		{ "vdev", required_argument, NULL, 'v' },
		{ "readonly", no_argument, NULL, 'r' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "once", no_argument, NULL, '1' },
		{ "tls-certificates", required_argument, NULL, 'C' },
		{ "tls-psk", required_argument, NULL, 'K' },
		{ "threads", required_argument, NULL, 'j' },
		{ "queue-depth", required_argument, NULL, 'q' },
		{ "max-ring-order", required_argument, NULL, 'o' },
		{ "max-queues", required_argument, NULL, 'm' },
		{ "no-indirect", no_argument, NULL, 'I' },
		{ "no-persistent", no_argument, NULL, 'P' },
		{ "poll-us", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *unix_path = NULL, *port = NULL, *bind = "127.0.0.1";
	const char *name = NULL, *vdev = "xvda", *tls_dir = NULL;
	const char *tls_psk = NULL, *threads = NULL;
	char plugin[PATH_MAX], *av[48], kv[10][64];
	bool ro = false, once = false;
	int c, n = 0, k = 0, i, rc;

	/* The plugin's parameters (blkfront's options, as it spells them). */
#define KV(fmt, ...) snprintf(kv[k++], sizeof(kv[0]), fmt, __VA_ARGS__)
#define CHECK(cond, what)                                                      \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "pvkit disk serve-nbd: bad %s '%s'\n", \
				what, optarg);                                 \
			return 2;                                              \
		}                                                              \
	} while (0)
	KV("vdev=%s", vdev);
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
		switch (c) {
		case 'u':
			unix_path = optarg;
			break;
		case 't':
			CHECK(number(optarg, 1, 65535), "--tcp port");
			port = optarg;
			break;
		case 'b':
			bind = optarg;
			break;
		case 'n':
			name = optarg;
			break;
		case 'v':
			vdev = optarg;
			snprintf(kv[0], sizeof(kv[0]), "vdev=%.58s", vdev);
			break;
		case 'r':
			ro = true;
			break;
		case 'T':
			CHECK(number(optarg, 1, 3600),
			      "--timeout (seconds, 1..3600)");
			KV("timeout=%s", optarg);
			break;
		case '1':
			once = true;
			break;
		case 'C':
			tls_dir = optarg;
			break;
		case 'K':
			tls_psk = optarg;
			break;
		case 'j':
			CHECK(number(optarg, 1, 1024), "--threads");
			threads = optarg;
			break;
		case 'q':
			CHECK(number(optarg, 1, 1024), "--queue-depth");
			KV("queue-depth=%s", optarg);
			break;
		case 'o':
			CHECK(number(optarg, 0, PVK_BLKFRONT_MAX_RING_ORDER),
			      "--max-ring-order");
			KV("max-ring-order=%s", optarg);
			break;
		case 'm':
			CHECK(number(optarg, 1, PVK_BLKFRONT_MAX_QUEUES),
			      "--max-queues");
			KV("max-queues=%s", optarg);
			break;
		case 'I':
			KV("%s", "indirect=0");
			break;
		case 'P':
			KV("%s", "persistent=0");
			break;
		case 'p':
			CHECK(number(optarg, 0, 1000), "--poll-us");
			KV("poll-us=%s", optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
#undef CHECK
	if (optind < argc) {
		vdev = argv[optind++];
		snprintf(kv[0], sizeof(kv[0]), "vdev=%.58s", vdev);
	}
	if (optind < argc || !unix_path == !port) {
		usage(stderr);
		return 2;
	}
	if (pvk_blkfront_vdev_to_devid(vdev) < 0) {
		fprintf(stderr,
			"pvkit disk serve-nbd: bad virtual device '%s': give "
			"xvda, hdb, sdc, ... or a device number\n",
			vdev);
		return 2;
	}
	if (tls_dir && tls_psk) {
		fprintf(stderr, "pvkit disk serve-nbd: --tls-certificates or "
				"--tls-psk, not both\n");
		return 2;
	}
	rc = find_plugin(plugin, sizeof(plugin));
	if (rc < 0) {
		fprintf(stderr,
			"pvkit disk serve-nbd: no nbdkit plugin at %s (%s): "
			"build pvkit (make), or name it with "
			"PVKIT_NBDKIT_PLUGIN\n",
			plugin, strerror(-rc));
		return 1;
	}
	av[n++] = "nbdkit";
	av[n++] = "--foreground";
	if (unix_path) {
		av[n++] = "--unix";
		av[n++] = (char *)unix_path;
	} else {
		av[n++] = "--ipaddr";
		av[n++] = (char *)bind;
		av[n++] = "--port";
		av[n++] = (char *)port;
	}
	if (name) {
		av[n++] = "--exportname";
		av[n++] = (char *)name;
	}
	if (ro)
		av[n++] = "--readonly";
	if (threads) {
		av[n++] = "--threads";
		av[n++] = (char *)threads;
	}
	if (tls_dir || tls_psk) {
		av[n++] = "--tls=require";
		av[n++] = tls_dir ? "--tls-certificates" : "--tls-psk";
		av[n++] = (char *)(tls_dir ? tls_dir : tls_psk);
	}
	if (once)
		av[n++] = "--filter=exitlast";
	av[n++] = plugin;
	for (i = 0; i < k; i++)
		av[n++] = kv[i];
	av[n] = NULL;
	fflush(stdout);
	execvp("nbdkit", av);
	fprintf(stderr, "pvkit disk serve-nbd: cannot run nbdkit: %s%s\n",
		strerror(errno),
		errno == ENOENT ? " (install it: apt-get install nbdkit)" : "");
	return 1;
}
