/* SPDX-License-Identifier: MIT */
/*
 * pvkit disk attach|detach|list|serve-nbd: the toolstack side of a vbd.
 * attach and detach write and remove exactly the nodes `xl block-attach`
 * and `xl block-detach` do (libxl's layout, see pvkit/xenbus.h), so any
 * backend that follows them -- pvkit-backd, or Linux's xen-blkback --
 * serves the device, on the simulator and on Xen alike.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <pvkit/blkback.h>
#include <pvkit/blkfront.h>
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

/* A whole disk's name (xvda, hda, sda, ... or a decimal devid) to its
 * devid, as libxl: the library's parser, but no partition. */
static int vdev_to_devid(const char *v)
{
	size_t n = strlen(v);

	if (n && v[n - 1] >= '0' && v[n - 1] <= '9' &&
	    !(*v >= '0' && *v <= '9'))
		return -EINVAL; /* partitions are not attached separately */
	return pvk_blkfront_vdev_to_devid(v);
}

static void devid_name(uint32_t devid, char *buf, size_t len)
{
	if (pvk_blkfront_devid_name(devid, buf, len) < 0)
		snprintf(buf, len, "%u", devid);
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
		"xvdb, ..., xvdz, xvdaa, ...), hda..hdd, sda..sdp (a whole "
		"disk, no partition number) or a decimal Xen device number "
		"(51712 = xvda)\n",
		cmd, vdev);
}

struct attach {
	struct pvk_hv *hv;
	const char *type, *fe_type;
	uint32_t fe, be, devid;
	const char *vdev, *params, *mode, *protocol;
	bool blk;
	dev_t rdev;
	struct pvk_dev_add nodes;
	char *be_path, *fe_path;
	/* Why the transaction refused, for the message: -EEXIST (vdev
	 * taken), -EBUSY (image shared in a conflicting mode). */
	char other[PVK_XENBUS_PATH_MAX + 64];
	char other_mode[8];
	uint32_t other_fe;
};

/* What libxl names as the hotplug script of every disk. */
#define BLOCK_SCRIPT "/etc/xen/scripts/block"

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
 * The native ABI a PV guest's frontend speaks, which libxl writes as the
 * frontend's protocol node (for old frontends that do not write it).
 */
#if defined(__x86_64__)
#define NATIVE_PROTOCOL "x86_64-abi"
#elif defined(__i386__)
#define NATIVE_PROTOCOL "x86_32-abi"
#else
#define NATIVE_PROTOCOL NULL /* Arm guests are not PV: libxl writes none */
#endif

/*
 * Everything `xl block-attach` writes (libxl 4.17, verified node by node
 * in the real-Xen lane, cell 19), in one transaction: either the device
 * exists completely or not at all.  Then what the block hotplug script
 * adds once it has found the device: physical-device (a block device's
 * major:minor, which is what Linux's xen-blkback opens),
 * physical-device-path and hotplug-status.  The two state nodes go with
 * the rest: watchers see the commit as a whole.
 */
static int attach_nodes(struct attach *a, struct pvk_dev_add *d)
{
	pvk_dev_add_init(d, a->hv, a->fe_type, a->type, a->be, a->fe, a->devid);
	pvk_dev_node(d, PVK_DEV_BE, "frontend", "%s", d->fe_path);
	pvk_dev_node(d, PVK_DEV_BE, "params", "%s", a->params);
	pvk_dev_node(d, PVK_DEV_BE, "script", "%s", BLOCK_SCRIPT);
	pvk_dev_node(d, PVK_DEV_BE, "frontend-id", "%u", a->fe);
	pvk_dev_node(d, PVK_DEV_BE, "online", "1");
	pvk_dev_node(d, PVK_DEV_BE, "removable", "0");
	pvk_dev_node(d, PVK_DEV_BE, "bootable", "1");
	pvk_dev_node(d, PVK_DEV_BE, "state", "%d", PVK_XENBUS_INITIALISING);
	pvk_dev_node(d, PVK_DEV_BE, "dev", "%s", a->vdev);
	/* libxl's type is phy for files too: its hotplug script makes them
	 * loop devices; pvkit-backd serves the file itself. */
	pvk_dev_node(d, PVK_DEV_BE, "type", "phy");
	pvk_dev_node(d, PVK_DEV_BE, "mode", "%s", a->mode);
	pvk_dev_node(d, PVK_DEV_BE, "device-type", "disk");
	pvk_dev_node(d, PVK_DEV_BE, "discard-enable", "%d",
		     a->mode[0] == 'r' ? 0 : 1);
	pvk_dev_node(d, PVK_DEV_BE, "specification", "xen");
	if (a->blk)
		pvk_dev_node(d, PVK_DEV_BE_HOTPLUG, "physical-device", "%x:%x",
			     major(a->rdev), minor(a->rdev));
	pvk_dev_node(d, PVK_DEV_BE_HOTPLUG, "physical-device-path", "%s",
		     a->params);
	pvk_dev_node(d, PVK_DEV_BE_HOTPLUG, "hotplug-status", "connected");
	pvk_dev_node(d, PVK_DEV_FE, "backend", "%s", d->be_path);
	pvk_dev_node(d, PVK_DEV_FE, "backend-id", "%u", a->be);
	pvk_dev_node(d, PVK_DEV_FE, "state", "%d", PVK_XENBUS_INITIALISING);
	pvk_dev_node(d, PVK_DEV_FE, "virtual-device", "%u", a->devid);
	pvk_dev_node(d, PVK_DEV_FE, "device-type", "disk");
	/* libxl (4.16+) tells the frontend whether it may trust the backend
	 * with its memory (Linux's blkfront bounces through private pages
	 * otherwise); its default is to trust. */
	pvk_dev_node(d, PVK_DEV_FE, "trusted", "1");
	if (a->protocol)
		pvk_dev_node(d, PVK_DEV_FE, "protocol", "%s", a->protocol);
	return d->err;
}

static int attach_txn(struct pvk_hv *hv, pvk_xs_txn_t t, void *arg)
{
	struct attach *a = arg;
	char base[PVK_XENBUS_PATH_MAX];
	int err;

	snprintf(base, sizeof(base), "/local/domain/%u/backend/%s", a->be,
		 a->type);
	err = check_sharing(hv, t, a, base);
	if (!err && strcmp(a->type, "vbd")) {
		snprintf(base, sizeof(base), "/local/domain/%u/backend/vbd",
			 a->be);
		err = check_sharing(hv, t, a, base);
	}
	return err ?: pvk_dev_add_txn(hv, t, &a->nodes);
}

/* libxl writes the frontend's protocol for PV guests only: those it made
 * (/libxl/<fe>/type), or any guest it did not (the simulator's). */
static const char *guest_protocol(struct pvk_hv *hv, uint32_t fe)
{
	char p[64], *type = NULL;
	const char *proto = NATIVE_PROTOCOL;

	snprintf(p, sizeof(p), "/libxl/%u/type", fe);
	if (pvk_xs_read(hv, PVK_XS_NO_TXN, p, &type) >= 0 && strcmp(type, "pv"))
		proto = NULL;
	free(type);
	return proto;
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
		   "xvda] [--format raw] [--backend-domain ID] [--type vbd] "
		   "[--frontend-type vbd] [--no-wait]\n");
}

/* The format an image's header names (pvk_blkback_image_format), NULL
 * for none: 0, or -errno if it cannot be read. */
static int image_format(const char *path, const char **fmt)
{
	unsigned char head[4096];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	*fmt = NULL;
	if (fd < 0)
		return -errno;
	n = pread(fd, head, sizeof(head), 0);
	close(fd);
	if (n < 0)
		return -errno;
	*fmt = pvk_blkback_image_format(head, (size_t)n);
	return 0;
}

static int cmd_attach(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ro", no_argument, NULL, 'r' },
		{ "vdev", required_argument, NULL, 'v' },
		{ "backend-domain", required_argument, NULL, 'b' },
		{ "type", required_argument, NULL, 't' },
		{ "frontend-type", required_argument, NULL, 'T' },
		{ "no-wait", no_argument, NULL, 'n' },
		{ "format", required_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct attach a = { .vdev = "xvda", .mode = "w", .fe_type = "vbd" };
	const char *format = NULL;
	const char *be_arg = NULL;
	char real[PATH_MAX], path[PVK_XENBUS_PATH_MAX + 32], *v;
	const char *img;
	struct pvk_hv *hv = NULL;
	bool wait = true;
	const char *fmt = NULL;
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
		case 'T':
			a.fe_type = optarg;
			break;
		case 'n':
			wait = false;
			break;
		case 'F':
			format = optarg;
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
	if (!pvk_dev_valid_type(a.fe_type)) {
		fprintf(stderr,
			"pvkit disk attach: bad --frontend-type '%s': one "
			"path component of letters, digits, '-' and '_' "
			"(default vbd; a guest driver of its own, such as "
			"pvkit-blkfront's pvkvbd, binds another)\n",
			a.fe_type);
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
	if (format && strcmp(format, "raw")) {
		fprintf(stderr,
			"pvkit disk attach: --format %s: pvkit serves raw "
			"images only; convert it (`qemu-img convert -O raw "
			"%s %s.raw`)\n",
			format, real, real);
		return 2;
	}
	if (!format && image_format(real, &fmt) == 0 && fmt) {
		fprintf(stderr,
			"pvkit disk attach: image '%s' is a %s image (by its "
			"header), and pvkit serves raw images only: convert "
			"it (`qemu-img convert -O raw %s %s.raw`), or give "
			"--format raw if it is a raw disk that only starts "
			"with those bytes\n",
			real, fmt, real, real);
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
	a.blk = S_ISBLK(st.st_mode);
	a.rdev = st.st_rdev;
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
	a.protocol = guest_protocol(hv, a.fe);
	err = attach_nodes(&a, &a.nodes);
	a.be_path = a.nodes.be_path;
	a.fe_path = a.nodes.fe_path;
	err = err ?: pvk_xs_transaction(hv, 0, attach_txn, &a);
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
	pvk_dev_add_free(&a.nodes);
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
	.devname = devid_name,
};

static int cmd_detach(int argc, char **argv)
{
	return pvk_dev_cmd_detach(&disk_kind, argc, argv);
}

/* README "Machine-readable output" documents the JSON fields. */
static const struct pvk_dev_col disk_cols[] = {
	{ "domain", 6, "domain", PVK_DEV_COL_DOMAIN, NULL },
	{ "name", 12, "domain_name", PVK_DEV_COL_NAME, NULL },
	{ "vdev", 6, "vdev", PVK_DEV_COL_DEVNAME, NULL },
	{ "devid", 6, "devid", PVK_DEV_COL_DEVID, NULL },
	{ "mode", 4, "mode", PVK_DEV_COL_NODE, "mode" },
	{ "backend", 12, "backend_state", PVK_DEV_COL_BSTATE, NULL },
	{ "frontend", 12, "frontend_state", PVK_DEV_COL_FSTATE, NULL },
	{ "params", 0, "params", PVK_DEV_COL_NODE, "params" },
	{ NULL, 0, "backend_path", PVK_DEV_COL_PATH, NULL },
	{ 0 },
};

static int cmd_list(int argc, char **argv)
{
	return pvk_dev_cmd_list(&disk_kind, disk_cols, argc, argv);
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
	{ "attach",
	  "DOMAIN IMAGE [--ro] [--vdev xvda] [--format raw] "
	  "[--backend-domain ID] [--type vbd] [--frontend-type vbd] "
	  "[--no-wait]",
	  "give DOMAIN a virtual disk backed by IMAGE (a file or block "
	  "device), as xl block-attach",
	  cmd_attach },
	{ "detach",
	  "DOMAIN VDEV [--force] [--timeout MS] [--backend-domain ID] "
	  "[--type vbd]",
	  "close and remove DOMAIN's virtual disk VDEV, as xl block-detach",
	  cmd_detach },
	{ "list", "[DOMAIN] [--type vbd] [--json]",
	  "the virtual disks this domain serves (xl's too)", cmd_list },
	{ "serve-nbd",
	  "[VDEV] (--unix PATH | --tcp PORT [--bind ADDR]) [--name NAME] "
	  "[--readonly] [--timeout SECS] [--once] [--tls-certificates DIR | "
	  "--tls-psk FILE] [--threads N] [--queue-depth N] [--max-ring-order "
	  "N] [--max-queues N] [--no-indirect] [--no-persistent] [--poll-us N]",
	  "inside a guest: export a PV disk over NBD (nbdkit with pvkit's "
	  "plugin)",
	  cmd_serve_nbd },
	{ 0 },
};

static const struct pvk_cmd_group disk_group = {
	.name = "disk",
	.help = "virtual block devices (vbd): the toolstack side",
	.cmds = disk_cmds,
};
PVK_CMD_GROUP(disk_group);
