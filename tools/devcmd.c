/* SPDX-License-Identifier: MIT */
/* What `pvkit disk` and `pvkit nic` share (devcmd.h). */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "devcmd.h"

int pvk_dev_open_hv(const char *group, struct pvk_hv **hv)
{
	int err = pvk_hv_open(hv, 0);

	if (err == -ENODEV)
		fprintf(stderr,
			"pvkit %s: no Xen and no simulator: run `pvkit sim "
			"start` first\n",
			group);
	else if (err < 0)
		fprintf(stderr, "pvkit %s: %s\n", group, strerror(-err));
	return err;
}

int pvk_dev_open_retry(int (*open)(void *arg), void *arg)
{
	int c, rc = -ENOENT;

	for (c = 0; c < 100; c++) {
		rc = open(arg);
		if (rc != -ENOENT)
			break;
		usleep(100000);
	}
	return rc;
}

int pvk_dev_find_domain(struct pvk_hv *hv, const char *arg, uint32_t *domid)
{
	char **ids = NULL, path[64], *name;
	unsigned long n;
	char *end;
	int cnt, i, found = -ENOENT;

	errno = 0;
	n = strtoul(arg, &end, 10);
	if (*arg >= '0' && *arg <= '9' && !*end) {
		if (errno || n > PVK_DOMID_MAX)
			return -ENOENT;
		snprintf(path, sizeof(path), "/local/domain/%lu", n);
		if (pvk_xs_read(hv, PVK_XS_NO_TXN, path, &name) < 0)
			return -ENOENT;
		free(name);
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

void pvk_dev_no_domain(const char *group, const char *cmd, const char *what,
		       const char *arg)
{
	fprintf(stderr,
		"pvkit %s %s: no %s domain '%s' (neither a running domain's "
		"id nor its name): `pvkit domain list` shows the running "
		"ones\n",
		group, cmd, what, arg);
}

int pvk_dev_guest(struct pvk_hv *hv, const char *group, const char *cmd,
		  const char *arg, uint32_t *domid)
{
	unsigned long n;
	char *end;

	if (pvk_dev_find_domain(hv, arg, domid) == 0)
		return 0;
	errno = 0;
	n = strtoul(arg, &end, 10);
	if (errno || *end || !*arg || n > PVK_DOMID_MAX) {
		pvk_dev_no_domain(group, cmd, "guest", arg);
		return -ENOENT;
	}
	*domid = (uint32_t)n;
	return 0;
}

bool pvk_dev_valid_type(const char *t)
{
	size_t n = strspn(t, "abcdefghijklmnopqrstuvwxyz"
			     "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_");

	return n && !t[n] && n < PVK_XENBUS_TYPE_MAX;
}

char *pvk_dev_read_node(struct pvk_hv *hv, pvk_xs_txn_t t, const char *dir,
			const char *node)
{
	char path[PVK_XENBUS_PATH_MAX * 2], *v;

	snprintf(path, sizeof(path), "%s/%s", dir, node);
	if (pvk_xs_read(hv, t, path, &v) < 0)
		return NULL;
	return v;
}

const char *pvk_dev_state_name(const char *v)
{
	char *end;
	long n;

	if (!v)
		return "-";
	n = strtol(v, &end, 10);
	return *end ? "?" : pvk_xenbus_state_name((int)n);
}

long pvk_dev_elapsed_ms(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 +
	       (t.tv_nsec - t0->tv_nsec) / 1000000;
}

int pvk_dev_wait_state(struct pvk_hv *hv, const char *path,
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
		if (pvk_dev_elapsed_ms(&t0) >= ms) {
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

char *pvk_dev_domain_name(struct pvk_hv *hv, const char *id)
{
	char dir[64];

	snprintf(dir, sizeof(dir), "/local/domain/%s", id);
	return pvk_dev_read_node(hv, PVK_XS_NO_TXN, dir, "name");
}

void pvk_dev_libxl_path(char *buf, size_t len, const char *fe)
{
	static const char local[] = "/local/domain/";

	if (!strncmp(fe, local, sizeof(local) - 1))
		snprintf(buf, len, "/libxl/%s", fe + sizeof(local) - 1);
	else
		snprintf(buf, len, "%s", "");
}

void pvk_dev_add_init(struct pvk_dev_add *a, struct pvk_hv *hv,
		      const char *kind, const char *type, uint32_t be,
		      uint32_t fe, uint32_t devid)
{
	memset(a, 0, sizeof(*a));
	a->toolstack = pvk_hv_domid(hv);
	a->be = be;
	a->fe = fe;
	a->devid = devid;
	pvk_xenbus_frontend_path(a->fe_path, sizeof(a->fe_path), kind, fe,
				 devid);
	pvk_xenbus_backend_path(a->be_path, sizeof(a->be_path), type, be, fe,
				devid);
	pvk_dev_libxl_path(a->libxl_path, sizeof(a->libxl_path), a->fe_path);
}

void pvk_dev_node(struct pvk_dev_add *a, enum pvk_dev_where where,
		  const char *name, const char *fmt, ...)
{
	va_list ap;
	char *v;

	if (a->err)
		return;
	if (a->nr == PVK_DEV_MAX_NODES) {
		a->err = -E2BIG;
		return;
	}
	va_start(ap, fmt);
	if (vasprintf(&v, fmt, ap) < 0)
		v = NULL;
	va_end(ap);
	a->node[a->nr].name = strdup(name);
	a->node[a->nr].value = v;
	a->node[a->nr].where = where;
	if (!a->node[a->nr].name || !v)
		a->err = -ENOMEM;
	a->nr++;
}

void pvk_dev_add_free(struct pvk_dev_add *a)
{
	unsigned int i;

	for (i = 0; i < a->nr; i++) {
		free(a->node[i].name);
		free(a->node[i].value);
	}
	a->nr = 0;
}

static int add_write(struct pvk_hv *hv, pvk_xs_txn_t t, const char *dir,
		     const char *name, const char *v)
{
	char p[PVK_XENBUS_PATH_MAX + 64];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return pvk_xs_write(hv, t, p, v);
}

int pvk_dev_add_txn(struct pvk_hv *hv, pvk_xs_txn_t t, void *arg)
{
	struct pvk_dev_add *a = arg;
	struct pvk_xs_perm be_perm[2] = { { a->be, 'n' }, { a->fe, 'r' } };
	struct pvk_xs_perm fe_perm[2] = { { a->fe, 'n' }, { a->be, 'r' } };
	struct pvk_xs_perm tool_perm[1] = { { a->toolstack, 'n' } };
	char p[PVK_XENBUS_PATH_MAX + 64], *v = NULL;
	unsigned int i;
	int err = a->err;

	if (err)
		return err;
	if (pvk_xs_read(hv, t, a->be_path, &v) >= 0 ||
	    pvk_xs_read(hv, t, a->fe_path, &v) >= 0) {
		free(v);
		return -EEXIST;
	}
	err = pvk_xs_mkdir(hv, t, a->fe_path);
	err = err ?: pvk_xs_set_perms(hv, t, a->fe_path, fe_perm, 2);
	err = err ?: pvk_xs_mkdir(hv, t, a->be_path);
	err = err ?: pvk_xs_set_perms(hv, t, a->be_path, be_perm, 2);
	if (a->libxl_path[0]) {
		/* A stale record of a device that is gone goes first. */
		err = err ?: pvk_xs_rm(hv, t, a->libxl_path);
		if (err == -ENOENT)
			err = 0;
		err = err ?: pvk_xs_mkdir(hv, t, a->libxl_path);
		err = err   ?:
			      pvk_xs_set_perms(hv, t, a->libxl_path, tool_perm,
					       1);
		err = err   ?:
			      add_write(hv, t, a->libxl_path, "frontend",
					a->fe_path);
		err = err   ?:
			      add_write(hv, t, a->libxl_path, "backend",
					a->be_path);
	}
	for (i = 0; i < a->nr && !err; i++) {
		const char *n = a->node[i].name, *val = a->node[i].value;

		switch (a->node[i].where) {
		case PVK_DEV_BE:
			err = add_write(hv, t, a->be_path, n, val);
			if (!err && a->libxl_path[0])
				err = add_write(hv, t, a->libxl_path, n, val);
			break;
		case PVK_DEV_BE_HOTPLUG:
			err = add_write(hv, t, a->be_path, n, val);
			break;
		case PVK_DEV_FE:
			err = add_write(hv, t, a->fe_path, n, val);
			break;
		case PVK_DEV_FE_RO:
			err = add_write(hv, t, a->fe_path, n, val);
			snprintf(p, sizeof(p), "%s/%s", a->fe_path, n);
			err = err ?: pvk_xs_set_perms(hv, t, p, be_perm, 2);
			break;
		}
	}
	return err;
}

struct rm_dev {
	const char *be, *fe;
};

/* The frontend directory backend @be names, if it is one of guest @fe's
 * (device/<type>/<devid>: a guest driver of its own may bind another
 * type than the kind's); @buf keeps the kind's path otherwise. */
static void frontend_of(struct pvk_hv *hv, const char *be, uint32_t fe,
			uint32_t devid, char *buf, size_t len)
{
	char *v = pvk_dev_read_node(hv, PVK_XS_NO_TXN, be, "frontend");
	char type[PVK_XENBUS_TYPE_MAX], want[PVK_XENBUS_PATH_MAX];
	unsigned int d;

	/* Only the canonical spelling of that guest's device @devid. */
	if (v &&
	    sscanf(v, "/local/domain/%u/device/%15[A-Za-z0-9_-]/", &d, type) ==
		    2 &&
	    pvk_xenbus_frontend_path(want, sizeof(want), type, fe, devid) >=
		    0 &&
	    !strcmp(v, want))
		snprintf(buf, len, "%s", v);
	free(v);
}

/* Remove @path and then its parent directory if that left it empty, as
 * libxl does (device/vbd, /libxl/<fe>/device/vbd, backend/vbd/<fe>). */
static int rm_with_parent(struct pvk_hv *hv, pvk_xs_txn_t t, const char *path)
{
	char parent[PVK_XENBUS_PATH_MAX], **names = NULL, *slash;
	int err = pvk_xs_rm(hv, t, path), n;

	if (err < 0 && err != -ENOENT)
		return err;
	snprintf(parent, sizeof(parent), "%s", path);
	slash = strrchr(parent, '/');
	if (!slash || slash == parent)
		return 0;
	*slash = 0;
	n = pvk_xs_directory(hv, t, parent, &names);
	free(names);
	err = n == 0 ? pvk_xs_rm(hv, t, parent) : 0;
	return err == -ENOENT ? 0 : err;
}

static int rm_txn(struct pvk_hv *hv, pvk_xs_txn_t t, void *arg)
{
	struct rm_dev *r = arg;
	char lx[PVK_XENBUS_PATH_MAX];
	int err;

	pvk_dev_libxl_path(lx, sizeof(lx), r->fe);
	err = rm_with_parent(hv, t, r->be);
	err = err ?: rm_with_parent(hv, t, r->fe);
	return err ?: lx[0] ? rm_with_parent(hv, t, lx) : 0;
}

int pvk_dev_remove(struct pvk_hv *hv, const char *be, const char *fe)
{
	struct rm_dev rm = { be, fe };

	return pvk_xs_transaction(hv, 0, rm_txn, &rm);
}

static bool closed_done(int st, void *arg)
{
	(void)arg;
	return st == PVK_XENBUS_CLOSED || st == -ENOENT;
}

static int detach_txn(struct pvk_hv *hv, pvk_xs_txn_t t, void *arg)
{
	char path[PVK_XENBUS_PATH_MAX + 32];
	int err;

	snprintf(path, sizeof(path), "%s/online", (const char *)arg);
	err = pvk_xs_write(hv, t, path, "0");
	snprintf(path, sizeof(path), "%s/state", (const char *)arg);
	return err ?: pvk_xs_printf(hv, t, path, "%d", PVK_XENBUS_CLOSING);
}

int pvk_dev_detach(struct pvk_hv *hv, const char *group, const char *be,
		   const char *fe, int timeout_ms, bool force)
{
	char path[PVK_XENBUS_PATH_MAX + 32];
	int err;

	if (!force) {
		/* As libxl: online = 0 and Closing together, then wait for
		 * the backend to reach Closed. */
		err = pvk_xs_transaction(hv, 0, detach_txn, (void *)be);
		if (err < 0) {
			fprintf(stderr, "pvkit %s detach: %s: %s\n", group, be,
				strerror(-err));
			return err;
		}
		snprintf(path, sizeof(path), "%s/state", be);
		err = pvk_dev_wait_state(hv, path, closed_done, NULL,
					 timeout_ms);
		if (err == -ETIMEDOUT) {
			fprintf(stderr,
				"pvkit %s detach: the backend did not close "
				"%s within %d ms (the guest may still use the "
				"device); --force removes it anyway\n",
				group, be, timeout_ms);
			return err;
		}
	}
	err = pvk_dev_remove(hv, be, fe);
	if (err < 0)
		fprintf(stderr, "pvkit %s detach: removing %s: %s\n", group, be,
			strerror(-err));
	return err;
}

int pvk_dev_cmd_detach(const struct pvk_dev_kind *k, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "backend-domain", required_argument, NULL, 'b' },
		{ "type", required_argument, NULL, 't' },
		{ "force", no_argument, NULL, 'f' },
		{ "timeout", required_argument, NULL, 'T' },
		{ 0 },
	};
	const char *type = NULL, *be_arg = NULL;
	char be[PVK_XENBUS_PATH_MAX], fe[PVK_XENBUS_PATH_MAX], *v, *end;
	uint32_t fe_id, be_id, devid;
	struct pvk_hv *hv = NULL;
	unsigned long n;
	int c, rc = 1, timeout = 10000;
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
			errno = 0;
			n = strtoul(optarg, &end, 10);
			if (errno || *end || !*optarg || *optarg == '-' ||
			    n > INT_MAX) {
				fprintf(stderr,
					"pvkit %s detach: bad --timeout '%s': "
					"milliseconds, a whole number\n",
					k->group, optarg);
				return 2;
			}
			timeout = (int)n;
			break;
		default:
			goto usage;
		}
	}
	if (argc - optind != 2)
		goto usage;
	type = k->backend_type(type);
	if (!pvk_dev_valid_type(type)) {
		fprintf(stderr,
			"pvkit %s detach: bad backend type '%s': one word of "
			"[A-Za-z0-9_-]\n",
			k->group, type);
		return 2;
	}
	if (pvk_dev_open_hv(k->group, &hv) < 0)
		return 1;
	be_id = pvk_hv_domid(hv);
	if (be_arg && pvk_dev_find_domain(hv, be_arg, &be_id) < 0) {
		pvk_dev_no_domain(k->group, "detach", "backend", be_arg);
		goto close_hv;
	}
	/* A guest that is gone may still have its devices to clean up:
	 * accept its number. */
	if (pvk_dev_guest(hv, k->group, "detach", argv[optind], &fe_id) < 0)
		goto close_hv;
	if (k->devid(hv, fe_id, argv[optind + 1], &devid) < 0) {
		rc = 2;
		goto close_hv;
	}
	pvk_xenbus_frontend_path(fe, sizeof(fe), k->fe_type, fe_id, devid);
	pvk_xenbus_backend_path(be, sizeof(be), type, be_id, fe_id, devid);
	if (pvk_xs_read(hv, PVK_XS_NO_TXN, be, &v) < 0) {
		fprintf(stderr,
			"pvkit %s detach: domain %u has no %s %s served from "
			"backend/%s of domain %u (%s): `pvkit %s list` shows "
			"the attached ones\n",
			k->group, fe_id, k->what, argv[optind + 1], type, be_id,
			be, k->group);
		goto close_hv;
	}
	free(v);
	frontend_of(hv, be, fe_id, devid, fe, sizeof(fe));
	if (pvk_dev_detach(hv, k->group, be, fe, timeout, force) < 0)
		goto close_hv;
	printf("%s: detached\n", be);
	rc = 0;
close_hv:
	pvk_hv_close(hv);
	return rc;
usage:
	fprintf(stderr, "usage: pvkit %s detach %s\n", k->group, k->usage);
	return 2;
}

/* One cell of a list row, malloc'ed (NULL: none); *@num when the JSON
 * value is a number. */
static char *list_cell(struct pvk_hv *hv, const struct pvk_dev_kind *k,
		       const struct pvk_dev_col *c, const char *fe,
		       const char *id, const char *dir, bool *num)
{
	char buf[32], *v, *fpath;

	*num = false;
	switch (c->what) {
	case PVK_DEV_COL_DOMAIN:
		*num = true;
		return strdup(fe);
	case PVK_DEV_COL_NAME:
		return pvk_dev_domain_name(hv, fe);
	case PVK_DEV_COL_DEVID:
		*num = true;
		return strdup(id);
	case PVK_DEV_COL_DEVNAME:
		k->devname((uint32_t)strtoul(id, NULL, 10), buf, sizeof(buf));
		return strdup(buf);
	case PVK_DEV_COL_NODE:
		return pvk_dev_read_node(hv, PVK_XS_NO_TXN, dir, c->node);
	case PVK_DEV_COL_BSTATE:
		v = pvk_dev_read_node(hv, PVK_XS_NO_TXN, dir, "state");
		break;
	case PVK_DEV_COL_FSTATE:
		fpath = pvk_dev_read_node(hv, PVK_XS_NO_TXN, dir, "frontend");
		v = fpath ? pvk_dev_read_node(hv, PVK_XS_NO_TXN, fpath,
					      "state") :
			    NULL;
		free(fpath);
		break;
	case PVK_DEV_COL_PATH:
	default:
		return strdup(dir);
	}
	fpath = strdup(pvk_dev_state_name(v));
	free(v);
	return fpath;
}

/* A table cell: padded to the column, the last one not. */
static void list_text(const struct pvk_dev_col *c, const char *v)
{
	if (c->width)
		printf("%-*s ", c->width, v);
	else
		printf("%s", v);
}

static void list_row(struct pvk_hv *hv, const struct pvk_dev_kind *k,
		     const struct pvk_dev_col *cols, const char *fe,
		     const char *id, const char *dir, bool json, bool first)
{
	const struct pvk_dev_col *c;
	bool num;
	char *v;

	if (json)
		printf("%s{", first ? "" : ", ");
	for (c = cols; c->json; c++) {
		v = list_cell(hv, k, c, fe, id, dir, &num);
		if (json && num)
			printf("\"%s\": %s%s", c->json, v ?: "null",
			       c[1].json ? ", " : "");
		else if (json)
			pvk_cmd_json_str(c->json, v, c[1].json != NULL);
		else if (c->title)
			list_text(c, v && *v ? v : "-");
		free(v);
	}
	printf(json ? "}" : "\n");
}

int pvk_dev_cmd_list(const struct pvk_dev_kind *k,
		     const struct pvk_dev_col *cols, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "type", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ 0 },
	};
	char base[PVK_XENBUS_PATH_MAX], dir[PVK_XENBUS_PATH_MAX + 64];
	char **fes = NULL, **ids = NULL;
	const struct pvk_dev_col *c;
	uint32_t only = UINT32_MAX;
	bool json = false, first = true;
	const char *type = NULL;
	struct pvk_hv *hv;
	int nfe, nid, i, j, opt;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == 't')
			type = optarg;
		else if (opt == 'j')
			json = true;
		else
			goto usage;
	}
	if (argc - optind > 1)
		goto usage;
	type = k->backend_type(type);
	if (!pvk_dev_valid_type(type)) {
		fprintf(stderr,
			"pvkit %s list: bad backend type '%s': one path "
			"component of letters, digits, '-' and '_' (default "
			"%s)\n",
			k->group, type, k->fe_type);
		return 2;
	}
	if (pvk_dev_open_hv(k->group, &hv) < 0)
		return 1;
	if (argc - optind == 1 &&
	    pvk_dev_find_domain(hv, argv[optind], &only) < 0) {
		pvk_dev_no_domain(k->group, "list", "guest", argv[optind]);
		pvk_hv_close(hv);
		return 1;
	}
	snprintf(base, sizeof(base), "/local/domain/%u/backend/%s",
		 pvk_hv_domid(hv), type);
	if (json) {
		printf("[");
	} else {
		for (c = cols; c->json; c++)
			if (c->title)
				list_text(c, c->title);
		printf("\n");
	}
	nfe = pvk_xs_directory(hv, PVK_XS_NO_TXN, base, &fes);
	for (i = 0; i < nfe; i++) {
		if (only != UINT32_MAX && strtoul(fes[i], NULL, 10) != only)
			continue;
		snprintf(dir, sizeof(dir), "%s/%s", base, fes[i]);
		nid = pvk_xs_directory(hv, PVK_XS_NO_TXN, dir, &ids);
		for (j = 0; j < nid; j++) {
			snprintf(dir, sizeof(dir), "%s/%s/%s", base, fes[i],
				 ids[j]);
			list_row(hv, k, cols, fes[i], ids[j], dir, json, first);
			first = false;
		}
		free(ids);
		ids = NULL;
	}
	free(fes);
	if (json)
		printf("]\n");
	pvk_hv_close(hv);
	return 0;
usage:
	fprintf(stderr, "usage: pvkit %s list [DOMAIN] [--type %s] [--json]\n",
		k->group, k->fe_type);
	return 2;
}
