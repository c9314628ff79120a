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
#include <unistd.h>

#include <pvkit/blkif.h>
#include <pvkit/hv.h>
#include <pvkit/xenbus.h>

#include "cmd.h"
#include "devcmd.h"

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

/*
 * A domain by id or by /local/domain/<id>/name.  A number must name a
 * domain that exists (xenstore's /local/domain/<id>, which every domain
 * has while it runs, on Xen as on the simulator).  -ENOENT if none.
 */
static void bad_vdev(const char *cmd, const char *vdev)
{
	fprintf(stderr,
		"pvkit disk %s: bad virtual device '%s': give xvdX (xvda, "
		"xvdb, ..., xvdz, xvdaa, ...; a whole disk, no partition "
		"number) or a decimal Xen device number (51712 = xvda)\n",
		cmd, vdev);
}

struct attach {
	struct pvk_hv *hv;
	const char *type;
	uint32_t fe, be, devid;
	const char *vdev, *params, *mode, *kind;
	char be_path[PVK_XENBUS_PATH_MAX], fe_path[PVK_XENBUS_PATH_MAX];
	/* Why the transaction refused, for the message: -EEXIST (vdev
	 * taken), -EBUSY (image shared in a conflicting mode). */
	char other[PVK_XENBUS_PATH_MAX + 64];
	char other_mode[8];
	uint32_t other_fe;
};

#define W(dir, node, ...)                                     \
	do {                                                  \
		char p_[PVK_XENBUS_PATH_MAX + 32];            \
		snprintf(p_, sizeof(p_), "%s/%s", dir, node); \
		err = pvk_xs_printf(hv, t, p_, __VA_ARGS__);  \
		if (err < 0)                                  \
			return err;                           \
	} while (0)

/*
 * As the block hotplug script's sharing check: an image may be attached
 * to several devices only if all of them are read-only.  Looks at every
 * device of backend directory @base.  Returns 0 or -EBUSY with a->other*
 * naming the device in the way.
 */
static int check_sharing(struct pvk_hv *hv, pvk_xs_txn_t t, struct attach *a,
			 const char *base)
{
	char **fes = NULL, **ids = NULL, dir[PVK_XENBUS_PATH_MAX + 64];
	int nfe, nid, i, j, err = 0;

	nfe = pvk_xs_directory(hv, t, base, &fes);
	for (i = 0; i < nfe && !err; i++) {
		snprintf(dir, sizeof(dir), "%s/%s", base, fes[i]);
		nid = pvk_xs_directory(hv, t, dir, &ids);
		for (j = 0; j < nid && !err; j++) {
			char *params, *mode;

			snprintf(dir, sizeof(dir), "%s/%s/%s", base, fes[i],
				 ids[j]);
			params = pvk_dev_read_node(hv, t, dir, "params");
			mode = pvk_dev_read_node(hv, t, dir, "mode");
			if (params && !strcmp(params, a->params) &&
			    (a->mode[0] != 'r' || !mode || mode[0] != 'r')) {
				snprintf(a->other, sizeof(a->other), "%s", dir);
				snprintf(a->other_mode, sizeof(a->other_mode),
					 "%s", mode ? mode : "w");
				a->other_fe =
					(uint32_t)strtoul(fes[i], NULL, 10);
				err = -EBUSY;
			}
			free(params);
			free(mode);
		}
		free(ids);
		ids = NULL;
	}
	free(fes);
	return nfe < 0 && nfe != -ENOENT ? nfe : err;
}

/*
 * Everything `xl block-attach` writes, in one transaction: either the
 * device exists completely or not at all.  As libxl's
 * libxl__device_generic_add, each directory is created and given its
 * permissions before anything is written in it, so that every node
 * inherits them: the frontend domain owns its device directory (and
 * may write it), the backend domain reads it; the backend domain owns
 * the backend directory, the frontend domain may only read it.  The two
 * state nodes go with the rest: watchers see the commit as a whole.
 */
static int attach_txn(struct pvk_hv *hv, pvk_xs_txn_t t, void *arg)
{
	struct attach *a = arg;
	struct pvk_xs_perm be_perm[2] = { { a->be, 'n' }, { a->fe, 'r' } };
	struct pvk_xs_perm fe_perm[2] = { { a->fe, 'n' }, { a->be, 'r' } };
	char base[PVK_XENBUS_PATH_MAX], *v = NULL;
	int err;

	if (pvk_xs_read(hv, t, a->be_path, &v) >= 0 ||
	    pvk_xs_read(hv, t, a->fe_path, &v) >= 0) {
		free(v);
		return -EEXIST;
	}
	snprintf(base, sizeof(base), "/local/domain/%u/backend/%s", a->be,
		 a->type);
	err = check_sharing(hv, t, a, base);
	if (!err && strcmp(a->type, "vbd")) {
		snprintf(base, sizeof(base), "/local/domain/%u/backend/vbd",
			 a->be);
		err = check_sharing(hv, t, a, base);
	}
	if (err < 0)
		return err;
	err = pvk_xs_mkdir(hv, t, a->fe_path);
	if (!err)
		err = pvk_xs_set_perms(hv, t, a->fe_path, fe_perm, 2);
	if (!err)
		err = pvk_xs_mkdir(hv, t, a->be_path);
	if (!err)
		err = pvk_xs_set_perms(hv, t, a->be_path, be_perm, 2);
	if (err < 0)
		return err;
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
	/* What the block hotplug script adds for a path-named device. */
	W(a->be_path, "physical-device-path", "%s", a->params);
	W(a->be_path, "state", "%d", PVK_XENBUS_INITIALISING);
	W(a->fe_path, "backend", "%s", a->be_path);
	W(a->fe_path, "backend-id", "%u", a->be);
	W(a->fe_path, "virtual-device", "%u", a->devid);
	W(a->fe_path, "device-type", "disk");
	/* libxl (4.16+) tells the frontend whether it may trust the backend
	 * with its memory (Linux's blkfront bounces through private pages
	 * otherwise); a backend in the control domain is trusted. */
	W(a->fe_path, "trusted", "%d", 1);
	W(a->fe_path, "state", "%d", PVK_XENBUS_INITIALISING);
	return 0;
}

/* Did the backend (or a hotplug script) give up on the device? */
static bool hotplug_failed(struct attach *a)
{
	char path[PVK_XENBUS_PATH_MAX + 32], *v = NULL;
	bool failed;

	snprintf(path, sizeof(path), "%s/hotplug-status", a->be_path);
	if (pvk_xs_read(a->hv, PVK_XS_NO_TXN, path, &v) < 0)
		v = NULL;
	failed = v && !strcmp(v, "error");
	free(v);
	return failed;
}

static bool attach_done(int st, void *arg)
{
	return hotplug_failed(arg) || st >= PVK_XENBUS_INITWAIT ||
	       st == -ENOENT;
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
	const char *img;
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
	if (!pvk_dev_valid_type(a.type)) {
		fprintf(stderr,
			"pvkit disk attach: bad backend type '%s': one path "
			"component of letters, digits, '-' and '_' (default "
			"vbd)\n",
			a.type);
		return 2;
	}
	devid = vdev_to_devid(a.vdev);
	if (devid < 0) {
		bad_vdev("attach", a.vdev);
		return 2;
	}
	a.devid = (uint32_t)devid;
	img = argv[optind + 1];
	if (!realpath(img, real) || stat(real, &st) < 0) {
		fprintf(stderr,
			"pvkit disk attach: image '%s': %s: give an existing "
			"image file or block device (make one with `truncate "
			"-s 1G %s`)\n",
			img, strerror(errno), img);
		return 1;
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		fprintf(stderr,
			"pvkit disk attach: image '%s' is neither a regular "
			"file nor a block device\n",
			real);
		return 1;
	}
	if (S_ISREG(st.st_mode) &&
	    (st.st_size == 0 || st.st_size % PVK_BLKIF_SECTOR_SIZE)) {
		fprintf(stderr,
			"pvkit disk attach: image '%s' is %lld bytes, not a "
			"non-zero multiple of the 512-byte sector: resize it "
			"(e.g. `truncate -s %lld %s`)\n",
			real, (long long)st.st_size,
			((long long)st.st_size / 512 + 1) * 512, real);
		return 1;
	}
	if (access(real, a.mode[0] == 'r' ? R_OK : R_OK | W_OK) < 0) {
		fprintf(stderr,
			"pvkit disk attach: image '%s' is not %s by this "
			"user: %s%s\n",
			real, a.mode[0] == 'r' ? "readable" : "writable",
			strerror(errno),
			a.mode[0] == 'r' ? "" : " (attach it with --ro?)");
		return 1;
	}
	a.params = real;
	a.kind = S_ISBLK(st.st_mode) ? "phy" : "file";
	if (pvk_dev_open_hv("disk", &hv) < 0)
		return 1;
	a.hv = hv;
	a.be = pvk_hv_domid(hv);
	if (be_arg && pvk_dev_find_domain(hv, be_arg, &a.be) < 0) {
		pvk_dev_no_domain("disk", "attach", "backend", be_arg);
		goto close_hv;
	}
	if (pvk_dev_find_domain(hv, argv[optind], &a.fe) < 0) {
		pvk_dev_no_domain("disk", "attach", "guest", argv[optind]);
		goto close_hv;
	}
	if (a.fe == a.be) {
		fprintf(stderr,
			"pvkit disk attach: domain %u would serve its own "
			"disk: attach it to a guest domain\n",
			a.fe);
		goto close_hv;
	}
	snprintf(a.fe_path, sizeof(a.fe_path), "/local/domain/%u/device/vbd/%u",
		 a.fe, a.devid);
	snprintf(a.be_path, sizeof(a.be_path),
		 "/local/domain/%u/backend/%s/%u/%u", a.be, a.type, a.fe,
		 a.devid);
	err = pvk_xs_transaction(hv, 0, attach_txn, &a);
	if (err == -EEXIST) {
		fprintf(stderr,
			"pvkit disk attach: domain %u already has a disk %s "
			"(devid %u): choose another --vdev, or detach it first "
			"(`pvkit disk detach %u %s`)\n",
			a.fe, a.vdev, a.devid, a.fe, a.vdev);
		goto close_hv;
	}
	if (err == -EBUSY) {
		fprintf(stderr,
			"pvkit disk attach: image '%s' is already attached "
			"%s to domain %u (%s); an image may be shared only if "
			"every attachment is read-only: %s\n",
			real,
			a.other_mode[0] == 'r' ? "read-only" : "read-write",
			a.other_fe, a.other,
			a.other_mode[0] == 'r' ? "attach it with --ro" :
						 "detach it there first");
		goto close_hv;
	}
	if (err < 0) {
		fprintf(stderr,
			"pvkit disk attach: writing %s and %s: %s; nothing "
			"was written\n",
			a.be_path, a.fe_path, strerror(-err));
		goto close_hv;
	}
	if (!wait) {
		printf("%s: %s attached to domain %u as %s (devid %u, mode "
		       "%s)\n",
		       a.be_path, real, a.fe, a.vdev, a.devid, a.mode);
		rc = 0;
		goto close_hv;
	}
	/* Wait for a backend to take it (InitWait), as xl waits for the
	 * hotplug script; on failure remove the device again, as xl
	 * block-attach does, so that nothing is left half-attached. */
	snprintf(path, sizeof(path), "%s/state", a.be_path);
	err = pvk_dev_wait_state(hv, path, attach_done, &a, DEFAULT_TIMEOUT_MS);
	snprintf(path, sizeof(path), "%s/hotplug-error", a.be_path);
	if (pvk_xs_read(hv, PVK_XS_NO_TXN, path, &v) >= 0) {
		fprintf(stderr,
			"pvkit disk attach: the backend refused the device: "
			"%s; removed it again\n",
			v);
		free(v);
	} else if (hotplug_failed(&a)) {
		fprintf(stderr,
			"pvkit disk attach: the backend refused the device "
			"(hotplug-status error; see its log); removed it "
			"again\n");
	} else if (err == -ETIMEDOUT) {
		fprintf(stderr,
			"pvkit disk attach: no backend took %s within %d s "
			"(is pvkit-backd running, serving backend/%s of "
			"domain %u?); removed it again (--no-wait keeps "
			"it)\n",
			a.be_path, DEFAULT_TIMEOUT_MS / 1000, a.type, a.be);
	} else {
		printf("%s: %s attached to domain %u as %s (devid %u, mode "
		       "%s)\n",
		       a.be_path, real, a.fe, a.vdev, a.devid, a.mode);
		rc = 0;
		goto close_hv;
	}
	pvk_dev_remove(hv, a.be_path, a.fe_path);
close_hv:
	pvk_hv_close(hv);
	return rc;
}

static int disk_devid(struct pvk_hv *hv, uint32_t fe, const char *arg,
		      uint32_t *devid)
{
	int d = vdev_to_devid(arg);

	(void)hv;
	(void)fe;
	if (d < 0) {
		bad_vdev("detach", arg);
		return d;
	}
	*devid = (uint32_t)d;
	return 0;
}

static const struct pvk_dev_kind disk_kind = {
	.group = "disk",
	.fe_type = "vbd",
	.what = "disk",
	.usage = "DOMAIN VDEV [--force] [--timeout MS] [--backend-domain ID] "
		 "[--type vbd]",
	.backend_type = backend_type,
	.devid = disk_devid,
};

static int cmd_detach(int argc, char **argv)
{
	return pvk_dev_cmd_detach(&disk_kind, argc, argv);
}

static int cmd_list(int argc, char **argv)
{
	char base[PVK_XENBUS_PATH_MAX], dir[PVK_XENBUS_PATH_MAX + 64];
	char **fes = NULL, **ids = NULL, name[16];
	const char *type = backend_type(
		argc > 2 && !strcmp(argv[1], "--type") ? argv[2] : NULL);
	struct pvk_hv *hv;
	int nfe, nid, i, j;

	if (pvk_dev_open_hv("disk", &hv) < 0)
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
			mode = pvk_dev_read_node(hv, PVK_XS_NO_TXN, dir,
						 "mode");
			bst = pvk_dev_read_node(hv, PVK_XS_NO_TXN, dir,
						"state");
			params = pvk_dev_read_node(hv, PVK_XS_NO_TXN, dir,
						   "params");
			fpath = pvk_dev_read_node(hv, PVK_XS_NO_TXN, dir,
						  "frontend");
			fst = fpath ? pvk_dev_read_node(hv, PVK_XS_NO_TXN,
							fpath, "state") :
				      NULL;
			devid_name((uint32_t)strtoul(ids[j], NULL, 10), name,
				   sizeof(name));
			printf("%-6s %-6s %-6s %-4s %-12s %-12s %s\n", fes[i],
			       name, ids[j], mode ?: "-",
			       pvk_dev_state_name(bst), pvk_dev_state_name(fst),
			       params ?: "-");
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
	{ 0 },
};

static const struct pvk_cmd_group disk_group = {
	.name = "disk",
	.help = "virtual block devices (vbd): the toolstack side",
	.cmds = disk_cmds,
};
PVK_CMD_GROUP(disk_group);
