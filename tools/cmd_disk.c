/* SPDX-License-Identifier: MIT */
/*
 * pvkit disk attach|detach|list|serve-nbd: the toolstack side of a vbd.
 * attach and detach write and remove exactly the nodes `xl block-attach`
 * and `xl block-detach` do (libxl's layout, see pvkit/xenbus.h), so any
 * backend that follows them -- pvkit-backd, or Linux's xen-blkback --
 * serves the device, on the simulator and on Xen alike.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <pvkit/hv.h>
#include <pvkit/xenbus.h>

#include "cmd.h"

/* tools/cmd_disk_nbd.c; weak, so pvkit links without it. */
int pvk_cmd_disk_serve_nbd(int argc, char **argv) __attribute__((weak));

#define DEFAULT_TIMEOUT_MS 10000

static const char *backend_type(const char *opt)
{
	const char *e = getenv("PVKIT_BLK_BACKEND_TYPE");

	if (opt)
		return opt;
	return e && *e ? e : "vbd";
}

static int open_hv(struct pvk_hv **hv)
{
	int err = pvk_hv_open(hv, 0);

	if (err == -ENODEV)
		fprintf(stderr, "pvkit disk: no Xen and no simulator: run "
				"`pvkit sim start` first\n");
	else if (err < 0)
		fprintf(stderr, "pvkit disk: %s\n", strerror(-err));
	return err;
}

/* xvdN / hdN / sdN / decimal devid -> devid (Xen's vbd-interface.txt). */
static int vdev_to_devid(const char *v)
{
	unsigned long n = 0;
	const char *p;
	char *end;

	if (*v >= '0' && *v <= '9') {
		n = strtoul(v, &end, 10);
		return *end || n > INT_MAX ? -EINVAL : (int)n;
	}
	if (strncmp(v, "xvd", 3))
		return -EINVAL;
	p = v + 3;
	if (!*p)
		return -EINVAL;
	for (; *p >= 'a' && *p <= 'z'; p++) {
		n = n * 26 + (unsigned long)(*p - 'a' + 1);
		if (n > (1ul << 20))
			return -EINVAL;
	}
	if (*p)
		return -EINVAL; /* partitions are not attached separately */
	n--;
	if (n < 16)
		return (int)((202ul << 8) | (n << 4));
	return (int)((1ul << 28) | (n << 8));
}

static void devid_name(uint32_t devid, char *buf, size_t len)
{
	uint32_t disk;
	char s[8];
	int i = 0, j = 0;
	char r[8];

	if ((devid >> 8) == 202)
		disk = (devid >> 4) & 15;
	else if (devid & (1u << 28))
		disk = (devid >> 8) & 0xfffff;
	else {
		snprintf(buf, len, "%u", devid);
		return;
	}
	disk++;
	while (disk && i < (int)sizeof(s)) {
		s[i++] = (char)('a' + (disk - 1) % 26);
		disk = (disk - 1) / 26;
	}
	while (i)
		r[j++] = s[--i];
	r[j] = '\0';
	snprintf(buf, len, "xvd%s", r);
}

/* A domain by id or by /local/domain/<id>/name. */
static int find_domain(struct pvk_hv *hv, const char *arg, uint32_t *domid)
{
	char **ids = NULL, path[64], *name;
	unsigned long n;
	char *end;
	int cnt, i, found = -ENOENT;

	n = strtoul(arg, &end, 10);
	if (*arg >= '0' && *arg <= '9' && !*end) {
		if (n > PVK_DOMID_MAX)
			return -EINVAL;
		*domid = (uint32_t)n;
		return 0;
	}
	cnt = pvk_xs_directory(hv, PVK_XS_NO_TXN, "/local/domain", &ids);
	for (i = 0; i < cnt; i++) {
		snprintf(path, sizeof(path), "/local/domain/%.16s/name",
			 ids[i]);
		if (pvk_xs_read(hv, PVK_XS_NO_TXN, path, &name) < 0)
			continue;
		if (!strcmp(name, arg)) {
			n = strtoul(ids[i], &end, 10);
			if (!*end && n <= PVK_DOMID_MAX) {
				*domid = (uint32_t)n;
				found = 0;
			}
		}
		free(name);
		if (!found)
			break;
	}
	free(ids);
	return cnt < 0 ? cnt : found;
}

struct attach {
	struct pvk_hv *hv;
	const char *type;
	uint32_t fe, be, devid;
	const char *vdev, *params, *mode, *kind;
	char be_path[PVK_XENBUS_PATH_MAX], fe_path[PVK_XENBUS_PATH_MAX];
	int step; /* 0: everything but state; 1: the two state nodes */
};

#define W(dir, node, ...)                                     \
	do {                                                  \
		char p_[PVK_XENBUS_PATH_MAX + 32];            \
		snprintf(p_, sizeof(p_), "%s/%s", dir, node); \
		err = pvk_xs_printf(hv, t, p_, __VA_ARGS__);  \
		if (err < 0)                                  \
			return err;                           \
	} while (0)

static int attach_txn(struct pvk_hv *hv, pvk_xs_txn_t t, void *arg)
{
	struct attach *a = arg;
	struct pvk_xs_perm be_perm[2] = { { a->be, 'n' }, { a->fe, 'r' } };
	struct pvk_xs_perm fe_perm[2] = { { a->fe, 'n' }, { a->be, 'r' } };
	char *v;
	int err;

	if (a->step) {
		/* xenbus probes a device when its state reads Initialising:
		 * written last, after the permissions are right. */
		W(a->fe_path, "state", "%d", PVK_XENBUS_INITIALISING);
		W(a->be_path, "state", "%d", PVK_XENBUS_INITIALISING);
		return 0;
	}
	if (pvk_xs_read(hv, t, a->be_path, &v) >= 0 ||
	    pvk_xs_read(hv, t, a->fe_path, &v) >= 0) {
		free(v);
		return -EEXIST;
	}
	W(a->be_path, "frontend", "%s", a->fe_path);
	W(a->be_path, "frontend-id", "%u", a->fe);
	W(a->be_path, "online", "1");
	W(a->be_path, "removable", "0");
	W(a->be_path, "bootable", "1");
	W(a->be_path, "dev", "%s", a->vdev);
	W(a->be_path, "type", "%s", a->kind);
	W(a->be_path, "mode", "%s", a->mode);
	W(a->be_path, "device-type", "disk");
	W(a->be_path, "discard-enable", "1");
	W(a->be_path, "params", "%s", a->params);
	W(a->be_path, "physical-device-path", "%s", a->params);
	W(a->fe_path, "backend", "%s", a->be_path);
	W(a->fe_path, "backend-id", "%u", a->be);
	W(a->fe_path, "virtual-device", "%u", a->devid);
	W(a->fe_path, "device-type", "disk");
	err = pvk_xs_set_perms(hv, t, a->be_path, be_perm, 2);
	if (err < 0)
		return err;
	return pvk_xs_set_perms(hv, t, a->fe_path, fe_perm, 2);
}

static long elapsed_ms(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 +
	       (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/*
 * Wait until @path reads a state for which @done() holds, or @ms pass.
 * Returns the last state read (or -ENOENT), or -ETIMEDOUT.
 */
static int wait_state(struct pvk_hv *hv, const char *path,
		      bool (*done)(int st, void *arg), void *arg, int ms)
{
	struct timespec t0;
	unsigned long v;
	char *p, *tok;
	int st, err;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	err = pvk_xs_watch(hv, path, "wait");
	for (;;) {
		st = pvk_xs_read_uint(hv, PVK_XS_NO_TXN, path, &v) < 0 ?
			     -ENOENT :
			     (int)v;
		if (done(st, arg))
			break;
		if (elapsed_ms(&t0) >= ms) {
			st = -ETIMEDOUT;
			break;
		}
		struct pollfd pfd = { .fd = pvk_xs_watch_fd(hv),
				      .events = POLLIN };
		if (err < 0 || poll(&pfd, 1, 100) > 0)
			while (pvk_xs_read_watch(hv, &p, &tok) == 1) {
				free(p);
				free(tok);
			}
	}
	if (err == 0)
		pvk_xs_unwatch(hv, path, "wait");
	return st;
}

static bool attach_done(int st, void *arg)
{
	struct attach *a = arg;
	char path[PVK_XENBUS_PATH_MAX + 32], *v = NULL;
	bool failed;

	snprintf(path, sizeof(path), "%s/hotplug-status", a->be_path);
	if (pvk_xs_read(a->hv, PVK_XS_NO_TXN, path, &v) < 0)
		v = NULL;
	failed = v && !strcmp(v, "error");
	free(v);
	return failed || st >= PVK_XENBUS_INITWAIT || st == -ENOENT;
}

static void usage_attach(FILE *f)
{
	fprintf(f, "usage: pvkit disk attach DOMAIN IMAGE [--ro] [--vdev "
		   "xvda] [--backend-domain ID] [--type vbd] [--no-wait]\n");
}

static int cmd_attach(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ro", no_argument, NULL, 'r' },
		{ "vdev", required_argument, NULL, 'v' },
		{ "backend-domain", required_argument, NULL, 'b' },
		{ "type", required_argument, NULL, 't' },
		{ "no-wait", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct attach a = { .vdev = "xvda", .mode = "w" };
	const char *be_arg = NULL;
	char real[PATH_MAX], path[PVK_XENBUS_PATH_MAX + 32], *v;
	struct pvk_hv *hv = NULL;
	bool wait = true;
	struct stat st;
	int c, err, rc = 1, devid;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			a.mode = "r";
			break;
		case 'v':
			a.vdev = optarg;
			break;
		case 'b':
			be_arg = optarg;
			break;
		case 't':
			a.type = optarg;
			break;
		case 'n':
			wait = false;
			break;
		case 'h':
			usage_attach(stdout);
			return 0;
		default:
			usage_attach(stderr);
			return 2;
		}
	}
	if (argc - optind != 2) {
		usage_attach(stderr);
		return 2;
	}
	a.type = backend_type(a.type);
	devid = vdev_to_devid(a.vdev);
	if (devid < 0) {
		fprintf(stderr, "pvkit disk attach: bad vdev '%s'\n", a.vdev);
		return 2;
	}
	a.devid = (uint32_t)devid;
	if (!realpath(argv[optind + 1], real) || stat(real, &st) < 0) {
		fprintf(stderr, "pvkit disk attach: %s: %s\n", argv[optind + 1],
			strerror(errno));
		return 1;
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		fprintf(stderr,
			"pvkit disk attach: %s: not a file or block "
			"device\n",
			real);
		return 1;
	}
	a.params = real;
	a.kind = S_ISBLK(st.st_mode) ? "phy" : "file";
	if (open_hv(&hv) < 0)
		return 1;
	a.hv = hv;
	a.be = pvk_hv_domid(hv);
	if (be_arg && find_domain(hv, be_arg, &a.be) < 0) {
		fprintf(stderr, "pvkit disk attach: no domain '%s'\n", be_arg);
		goto close_hv;
	}
	err = find_domain(hv, argv[optind], &a.fe);
	if (err < 0) {
		fprintf(stderr, "pvkit disk attach: no domain '%s'\n",
			argv[optind]);
		goto close_hv;
	}
	snprintf(a.fe_path, sizeof(a.fe_path), "/local/domain/%u/device/vbd/%u",
		 a.fe, a.devid);
	snprintf(a.be_path, sizeof(a.be_path),
		 "/local/domain/%u/backend/%s/%u/%u", a.be, a.type, a.fe,
		 a.devid);
	err = pvk_xs_transaction(hv, 0, attach_txn, &a);
	if (!err) {
		a.step = 1;
		err = pvk_xs_transaction(hv, 0, attach_txn, &a);
	}
	if (err < 0) {
		fprintf(stderr, "pvkit disk attach: %s\n",
			err == -EEXIST ? "that vdev exists already" :
					 strerror(-err));
		goto close_hv;
	}
	printf("%s: %s attached to domain %u as %s (devid %u, mode %s)\n",
	       a.be_path, real, a.fe, a.vdev, a.devid, a.mode);
	rc = 0;
	if (!wait)
		goto close_hv;
	/* Wait for a backend to take it (InitWait), as xl waits for the
	 * hotplug script. */
	snprintf(path, sizeof(path), "%s/state", a.be_path);
	err = wait_state(hv, path, attach_done, &a, DEFAULT_TIMEOUT_MS);
	snprintf(path, sizeof(path), "%s/hotplug-error", a.be_path);
	if (pvk_xs_read(hv, PVK_XS_NO_TXN, path, &v) >= 0) {
		fprintf(stderr, "pvkit disk attach: backend: %s\n", v);
		free(v);
		rc = 1;
	} else if (err == -ETIMEDOUT) {
		fprintf(stderr,
			"pvkit disk attach: no backend took the device "
			"within %d s (is pvkit-backd running?)\n",
			DEFAULT_TIMEOUT_MS / 1000);
		rc = 1;
	}
close_hv:
	pvk_hv_close(hv);
	return rc;
}

static bool closed_done(int st, void *arg)
{
	return st == PVK_XENBUS_CLOSED || st == -ENOENT;
}

static int cmd_detach(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "backend-domain", required_argument, NULL, 'b' },
		{ "type", required_argument, NULL, 't' },
		{ "force", no_argument, NULL, 'f' },
		{ "timeout", required_argument, NULL, 'T' },
		{ 0 },
	};
	const char *type = NULL, *be_arg = NULL;
	char be[PVK_XENBUS_PATH_MAX], fe[PVK_XENBUS_PATH_MAX], *v;
	char path[PVK_XENBUS_PATH_MAX + 32];
	uint32_t fe_id, be_id;
	struct pvk_hv *hv = NULL;
	int c, err, rc = 1, devid, timeout = DEFAULT_TIMEOUT_MS;
	bool force = false;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'b':
			be_arg = optarg;
			break;
		case 't':
			type = optarg;
			break;
		case 'f':
			force = true;
			break;
		case 'T':
			timeout = atoi(optarg);
			break;
		default:
			goto usage;
		}
	}
	if (argc - optind != 2)
		goto usage;
	type = backend_type(type);
	devid = vdev_to_devid(argv[optind + 1]);
	if (devid < 0)
		goto usage;
	if (open_hv(&hv) < 0)
		return 1;
	be_id = pvk_hv_domid(hv);
	if ((be_arg && find_domain(hv, be_arg, &be_id) < 0) ||
	    find_domain(hv, argv[optind], &fe_id) < 0) {
		fprintf(stderr, "pvkit disk detach: no such domain\n");
		goto close_hv;
	}
	snprintf(fe, sizeof(fe), "/local/domain/%u/device/vbd/%d", fe_id,
		 devid);
	snprintf(be, sizeof(be), "/local/domain/%u/backend/%s/%u/%d", be_id,
		 type, fe_id, devid);
	if (pvk_xs_read(hv, PVK_XS_NO_TXN, be, &v) < 0) {
		fprintf(stderr, "pvkit disk detach: %s: no such device\n", be);
		goto close_hv;
	}
	free(v);
	/* As libxl: ask the backend to close, wait for Closed. */
	snprintf(path, sizeof(path), "%s/online", be);
	pvk_xs_write(hv, PVK_XS_NO_TXN, path, "0");
	snprintf(path, sizeof(path), "%s/state", be);
	if (!force) {
		pvk_xs_printf(hv, PVK_XS_NO_TXN, path, "%d",
			      PVK_XENBUS_CLOSING);
		err = wait_state(hv, path, closed_done, NULL, timeout);
		if (err == -ETIMEDOUT) {
			fprintf(stderr,
				"pvkit disk detach: backend did not "
				"close within %d ms; use --force\n",
				timeout);
			goto close_hv;
		}
	}
	pvk_xs_rm(hv, PVK_XS_NO_TXN, be);
	pvk_xs_rm(hv, PVK_XS_NO_TXN, fe);
	/* The per-frontend directory, if now empty. */
	snprintf(path, sizeof(path), "/local/domain/%u/backend/%s/%u", be_id,
		 type, fe_id);
	{
		char **names = NULL;
		int n = pvk_xs_directory(hv, PVK_XS_NO_TXN, path, &names);

		free(names);
		if (n == 0)
			pvk_xs_rm(hv, PVK_XS_NO_TXN, path);
	}
	printf("%s: detached\n", be);
	rc = 0;
close_hv:
	pvk_hv_close(hv);
	return rc;
usage:
	fprintf(stderr, "usage: pvkit disk detach DOMAIN VDEV [--force] "
			"[--timeout MS] [--backend-domain ID] [--type vbd]\n");
	return 2;
}

static char *read_node(struct pvk_hv *hv, const char *dir, const char *node)
{
	char path[PVK_XENBUS_PATH_MAX * 2], *v;

	snprintf(path, sizeof(path), "%s/%s", dir, node);
	if (pvk_xs_read(hv, PVK_XS_NO_TXN, path, &v) < 0)
		return NULL;
	return v;
}

static const char *state_of(char *v)
{
	char *end;
	long n;

	if (!v)
		return "-";
	n = strtol(v, &end, 10);
	return *end ? "?" : pvk_xenbus_state_name((int)n);
}

static int cmd_list(int argc, char **argv)
{
	char base[PVK_XENBUS_PATH_MAX], dir[PVK_XENBUS_PATH_MAX + 64];
	char **fes = NULL, **ids = NULL, name[16];
	const char *type = backend_type(
		argc > 2 && !strcmp(argv[1], "--type") ? argv[2] : NULL);
	struct pvk_hv *hv;
	int nfe, nid, i, j;

	if (open_hv(&hv) < 0)
		return 1;
	snprintf(base, sizeof(base), "/local/domain/%u/backend/%s",
		 pvk_hv_domid(hv), type);
	printf("%-6s %-6s %-6s %-4s %-12s %-12s %s\n", "domain", "vdev",
	       "devid", "mode", "backend", "frontend", "params");
	nfe = pvk_xs_directory(hv, PVK_XS_NO_TXN, base, &fes);
	for (i = 0; i < nfe; i++) {
		snprintf(dir, sizeof(dir), "%s/%s", base, fes[i]);
		nid = pvk_xs_directory(hv, PVK_XS_NO_TXN, dir, &ids);
		for (j = 0; j < nid; j++) {
			char *mode, *bst, *fst, *params, *fpath;

			snprintf(dir, sizeof(dir), "%s/%s/%s", base, fes[i],
				 ids[j]);
			mode = read_node(hv, dir, "mode");
			bst = read_node(hv, dir, "state");
			params = read_node(hv, dir, "params");
			fpath = read_node(hv, dir, "frontend");
			fst = fpath ? read_node(hv, fpath, "state") : NULL;
			devid_name((uint32_t)strtoul(ids[j], NULL, 10), name,
				   sizeof(name));
			printf("%-6s %-6s %-6s %-4s %-12s %-12s %s\n", fes[i],
			       name, ids[j], mode ?: "-", state_of(bst),
			       state_of(fst), params ?: "-");
			free(mode);
			free(bst);
			free(fst);
			free(params);
			free(fpath);
		}
		free(ids);
		ids = NULL;
	}
	free(fes);
	pvk_hv_close(hv);
	return 0;
}

static int cmd_serve_nbd(int argc, char **argv)
{
	if (!pvk_cmd_disk_serve_nbd) {
		pvk_cmd_err("disk serve-nbd is not built into this pvkit");
		return 1;
	}
	return pvk_cmd_disk_serve_nbd(argc, argv);
}

static const struct pvk_cmd disk_cmds[] = {
	{ "attach", "DOMAIN IMAGE [--ro] [--vdev xvda] [--no-wait]",
	  "give DOMAIN a virtual disk backed by IMAGE (a file or block "
	  "device)",
	  cmd_attach },
	{ "detach", "DOMAIN VDEV [--force] [--timeout MS]",
	  "close and remove DOMAIN's virtual disk VDEV, as xl block-detach",
	  cmd_detach },
	{ "list", "[--type TYPE]", "list the virtual disks this domain serves",
	  cmd_list },
	{ "serve-nbd", "[VDEV] (--unix PATH | --tcp PORT)",
	  "inside a guest: export a PV disk over NBD", cmd_serve_nbd },
	{ NULL },
};

static const struct pvk_cmd_group disk_group = {
	.name = "disk",
	.help = "virtual block devices (vbd): the toolstack side",
	.cmds = disk_cmds,
};
PVK_CMD_GROUP(disk_group);
