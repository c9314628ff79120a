// SPDX-License-Identifier: MIT
/*
 * xenbus.c -- the libxl device layout, the xenbus state machine and
 * feature negotiation on top of pvk_xs_*.  Every value a peer can write
 * is read once into private memory, length-checked and parsed strictly;
 * a malformed one is -EPROTO, never a crash.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pvkit/xenbus.h>

static const char *const state_names[] = {
	[PVK_XENBUS_UNKNOWN] = "Unknown",
	[PVK_XENBUS_INITIALISING] = "Initialising",
	[PVK_XENBUS_INITWAIT] = "InitWait",
	[PVK_XENBUS_INITIALISED] = "Initialised",
	[PVK_XENBUS_CONNECTED] = "Connected",
	[PVK_XENBUS_CLOSING] = "Closing",
	[PVK_XENBUS_CLOSED] = "Closed",
	[PVK_XENBUS_RECONFIGURING] = "Reconfiguring",
	[PVK_XENBUS_RECONFIGURED] = "Reconfigured",
};

const char *pvk_xenbus_state_name(int state)
{
	if (state < 0 || state > PVK_XENBUS_RECONFIGURED)
		return "Invalid";
	return state_names[state];
}

static bool type_ok(const char *type)
{
	size_t len;

	if (!type)
		return false;
	len = strnlen(type, PVK_XENBUS_TYPE_MAX);
	if (len == 0 || len >= PVK_XENBUS_TYPE_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = type[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return false;
	}
	return true;
}

/*
 * A node name under a device directory: one or more path components
 * ("ring-ref", "queue-1/ring-ref0"), none empty, of [A-Za-z0-9_-].
 */
static bool name_ok(const char *name)
{
	size_t len;

	if (!name)
		return false;
	len = strnlen(name, 64);
	if (len == 0 || len >= 64 || name[0] == '/' || name[len - 1] == '/')
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];

		if (c == '/' && name[i + 1] != '/')
			continue;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
	}
	return true;
}

static int path_fmt(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int path_fmt(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	return (size_t)n < len ? 0 : -ENAMETOOLONG;
}

int pvk_xenbus_frontend_path(char *buf, size_t len, const char *type,
			     uint32_t fe_domid, uint32_t devid)
{
	if (!buf || !len || !type_ok(type) || fe_domid > PVK_DOMID_MAX)
		return -EINVAL;
	return path_fmt(buf, len, "/local/domain/%u/device/%s/%u", fe_domid,
			type, devid);
}

int pvk_xenbus_backend_path(char *buf, size_t len, const char *type,
			    uint32_t be_domid, uint32_t fe_domid,
			    uint32_t devid)
{
	if (!buf || !len || !type_ok(type) || be_domid > PVK_DOMID_MAX ||
	    fe_domid > PVK_DOMID_MAX)
		return -EINVAL;
	return path_fmt(buf, len, "/local/domain/%u/backend/%s/%u/%u", be_domid,
			type, fe_domid, devid);
}

/* Strict unsigned decimal: digits only, no sign, no junk, no overflow. */
static int parse_ulong(const char *s, size_t len, unsigned long *v)
{
	unsigned long acc = 0;

	if (len == 0 || len > 20 || strlen(s) != len)
		return -EPROTO;
	for (size_t i = 0; i < len; i++) {
		unsigned int d = (unsigned char)s[i] - '0';

		if (d > 9 || acc > (~0UL - d) / 10)
			return -EPROTO;
		acc = acc * 10 + d;
	}
	*v = acc;
	return 0;
}

/* Read dir/name once into private memory; -EPROTO if it is not a clean
 * string shorter than @max. */
static int read_node(struct pvk_hv *hv, pvk_xs_txn_t txn, const char *dir,
		     const char *name, size_t max, char **out)
{
	char path[PVK_XENBUS_PATH_MAX + 64];
	char *val;
	int ret;

	ret = path_fmt(path, sizeof(path), "%s/%s", dir, name);
	if (ret)
		return ret;
	ret = pvk_xs_read(hv, txn, path, &val);
	if (ret < 0)
		return ret;
	if ((size_t)ret >= max || strlen(val) != (size_t)ret) {
		free(val);
		return -EPROTO;
	}
	*out = val;
	return ret;
}

static int read_node_ulong(struct pvk_hv *hv, pvk_xs_txn_t txn, const char *dir,
			   const char *name, unsigned long *v)
{
	char *s;
	int ret;

	ret = read_node(hv, txn, dir, name, 32, &s);
	if (ret < 0)
		return ret;
	ret = parse_ulong(s, (size_t)ret, v);
	free(s);
	return ret;
}

static int dev_setup(struct pvk_xenbus_dev *dev, struct pvk_hv *hv,
		     const char *type, uint32_t devid)
{
	if (!dev)
		return -EINVAL;
	memset(dev, 0, sizeof(*dev));
	if (!hv || !type_ok(type))
		return -EINVAL;
	dev->hv = hv;
	dev->devid = devid;
	strcpy(dev->type, type);
	return 0;
}

/* Is @path /local/domain/<be>/backend/<type>/<fe>/<devid>, <type> one
 * component of [A-Za-z0-9_-] shorter than PVK_XENBUS_TYPE_MAX? */
static bool backend_path_ok(const char *path, uint32_t be, uint32_t fe,
			    uint32_t devid)
{
	char pre[64], suf[32];
	size_t pl, sl, len = strlen(path), tl;

	snprintf(pre, sizeof(pre), "/local/domain/%u/backend/", be);
	snprintf(suf, sizeof(suf), "/%u/%u", fe, devid);
	pl = strlen(pre);
	sl = strlen(suf);
	if (len <= pl + sl || strncmp(path, pre, pl) ||
	    strcmp(path + len - sl, suf))
		return false;
	tl = len - pl - sl;
	return tl < PVK_XENBUS_TYPE_MAX &&
	       strspn(path + pl,
		      "abcdefghijklmnopqrstuvwxyz"
		      "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == tl;
}

int pvk_xenbus_frontend_init(struct pvk_xenbus_dev *dev, struct pvk_hv *hv,
			     const char *type, uint32_t devid)
{
	unsigned long be;
	char *path = NULL;
	int ret;

	ret = dev_setup(dev, hv, type, devid);
	if (ret)
		return ret;
	dev->fe_domid = pvk_hv_domid(hv);
	ret = pvk_xenbus_frontend_path(dev->fe_path, sizeof(dev->fe_path), type,
				       dev->fe_domid, devid);
	if (ret)
		goto fail;
	ret = read_node_ulong(hv, PVK_XS_NO_TXN, dev->fe_path, "backend-id",
			      &be);
	if (ret)
		goto fail;
	if (be > PVK_DOMID_MAX) {
		ret = -EPROTO;
		goto fail;
	}
	ret = read_node(hv, PVK_XS_NO_TXN, dev->fe_path, "backend",
			PVK_XENBUS_PATH_MAX, &path);
	if (ret < 0)
		goto fail;
	/* The backend path must be the one the layout gives for this
	 * device, in a backend directory of any type (a backend serving a
	 * type of its own, "pvkvif", beside the kernel's): a frontend's
	 * toolstack-written node is not trusted to point anywhere else. */
	if (!backend_path_ok(path, (uint32_t)be, dev->fe_domid, devid)) {
		ret = -EPROTO;
		goto free_path;
	}
	dev->be_domid = (uint32_t)be;
	strcpy(dev->be_path, path);
	free(path);
	return 0;

free_path:
	free(path);
fail:
	memset(dev, 0, sizeof(*dev));
	return ret;
}

int pvk_xenbus_backend_init(struct pvk_xenbus_dev *dev, struct pvk_hv *hv,
			    const char *type, uint32_t fe_domid, uint32_t devid)
{
	return pvk_xenbus_backend_init_as(dev, hv, type, type, fe_domid, devid);
}

int pvk_xenbus_backend_init_as(struct pvk_xenbus_dev *dev, struct pvk_hv *hv,
			       const char *type, const char *fe_type,
			       uint32_t fe_domid, uint32_t devid)
{
	char expect[PVK_XENBUS_PATH_MAX];
	unsigned long fe;
	char *path = NULL;
	int ret;

	if (!type_ok(fe_type)) {
		if (dev)
			memset(dev, 0, sizeof(*dev));
		return -EINVAL;
	}
	ret = dev_setup(dev, hv, type, devid);
	if (ret)
		return ret;
	if (fe_domid > PVK_DOMID_MAX) {
		ret = -EINVAL;
		goto fail;
	}
	dev->is_backend = true;
	dev->fe_domid = fe_domid;
	dev->be_domid = pvk_hv_domid(hv);
	ret = pvk_xenbus_backend_path(dev->be_path, sizeof(dev->be_path), type,
				      dev->be_domid, fe_domid, devid);
	if (ret)
		goto fail;
	ret = read_node_ulong(hv, PVK_XS_NO_TXN, dev->be_path, "frontend-id",
			      &fe);
	if (ret)
		goto fail;
	if (fe != fe_domid) {
		ret = -EPROTO;
		goto fail;
	}
	ret = read_node(hv, PVK_XS_NO_TXN, dev->be_path, "frontend",
			PVK_XENBUS_PATH_MAX, &path);
	if (ret < 0)
		goto fail;
	ret = pvk_xenbus_frontend_path(expect, sizeof(expect), fe_type,
				       fe_domid, devid);
	if (ret || strcmp(path, expect) != 0) {
		ret = -EPROTO;
		goto free_path;
	}
	strcpy(dev->fe_path, expect);
	free(path);
	return 0;

free_path:
	free(path);
fail:
	memset(dev, 0, sizeof(*dev));
	return ret;
}

const char *pvk_xenbus_own_path(const struct pvk_xenbus_dev *dev)
{
	if (!dev)
		return NULL;
	return dev->is_backend ? dev->be_path : dev->fe_path;
}

const char *pvk_xenbus_peer_path(const struct pvk_xenbus_dev *dev)
{
	if (!dev)
		return NULL;
	return dev->is_backend ? dev->fe_path : dev->be_path;
}

static bool dev_ok(const struct pvk_xenbus_dev *dev)
{
	return dev && dev->hv && dev->fe_path[0] && dev->be_path[0];
}

static int read_state(struct pvk_hv *hv, pvk_xs_txn_t txn, const char *dir)
{
	unsigned long v;
	int ret;

	ret = read_node_ulong(hv, txn, dir, "state", &v);
	/* xenstored answers EACCES, not ENOENT, for a node under a removed
	 * directory whose nearest remaining ancestor we may not read (the
	 * toolstack removes a backend's empty parents, as libxl does): gone
	 * all the same. */
	if (ret == -ENOENT || ret == -EACCES)
		return PVK_XENBUS_UNKNOWN;
	if (ret)
		return ret;
	if (v > PVK_XENBUS_RECONFIGURED)
		return -EPROTO;
	return (int)v;
}

int pvk_xenbus_read_state(struct pvk_xenbus_dev *dev, bool peer)
{
	if (!dev_ok(dev))
		return -EINVAL;
	return read_state(dev->hv, PVK_XS_NO_TXN,
			  peer ? pvk_xenbus_peer_path(dev) :
				 pvk_xenbus_own_path(dev));
}

struct switch_arg {
	const char *dir;
	int state;
};

/* As Linux's xenbus_switch_state: inside a transaction, and never
 * recreating a directory the toolstack removed. */
static int switch_fn(struct pvk_hv *hv, pvk_xs_txn_t txn, void *arg)
{
	const struct switch_arg *a = arg;
	char path[PVK_XENBUS_PATH_MAX + 8];
	char *v;
	int cur, ret;

	cur = read_state(hv, txn, a->dir);
	if (cur == a->state)
		return 0;
	if (cur == PVK_XENBUS_UNKNOWN) {
		ret = pvk_xs_read(hv, txn, a->dir, &v);
		if (ret < 0)
			return ret;
		free(v);
	}
	ret = path_fmt(path, sizeof(path), "%s/state", a->dir);
	if (ret)
		return ret;
	return pvk_xs_printf(hv, txn, path, "%d", a->state);
}

int pvk_xenbus_switch_state(struct pvk_xenbus_dev *dev,
			    enum pvk_xenbus_state state)
{
	struct switch_arg a;

	if (!dev_ok(dev) || (int)state < PVK_XENBUS_INITIALISING ||
	    state > PVK_XENBUS_RECONFIGURED)
		return -EINVAL;
	a.dir = pvk_xenbus_own_path(dev);
	a.state = (int)state;
	return pvk_xs_transaction(dev->hv, 0, switch_fn, &a);
}

bool pvk_xenbus_transition_ok(int from, int to)
{
	if (from < PVK_XENBUS_UNKNOWN || from > PVK_XENBUS_RECONFIGURED ||
	    to < PVK_XENBUS_UNKNOWN || to > PVK_XENBUS_RECONFIGURED)
		return false;
	if (from == PVK_XENBUS_UNKNOWN || from == PVK_XENBUS_CLOSED)
		return true;
	if (to >= from || to == PVK_XENBUS_CLOSING || to == PVK_XENBUS_CLOSED)
		return true;
	/* Reconfiguration returns to Connected. */
	return to == PVK_XENBUS_CONNECTED &&
	       (from == PVK_XENBUS_RECONFIGURING ||
		from == PVK_XENBUS_RECONFIGURED);
}

int pvk_xenbus_watch_peer_state(struct pvk_xenbus_dev *dev, const char *token)
{
	char path[PVK_XENBUS_PATH_MAX + 8];
	int ret;

	if (!dev_ok(dev) || !token)
		return -EINVAL;
	ret = path_fmt(path, sizeof(path), "%s/state",
		       pvk_xenbus_peer_path(dev));
	if (ret)
		return ret;
	return pvk_xs_watch(dev->hv, path, token);
}

int pvk_xenbus_read_feature(struct pvk_xenbus_dev *dev, pvk_xs_txn_t txn,
			    const char *name, unsigned long def,
			    unsigned long *val)
{
	int ret;

	if (!dev_ok(dev) || !name_ok(name) || !val)
		return -EINVAL;
	ret = read_node_ulong(dev->hv, txn, pvk_xenbus_peer_path(dev), name,
			      val);
	if (ret == -ENOENT) {
		*val = def;
		return 0;
	}
	return ret;
}

int pvk_xenbus_printf(struct pvk_xenbus_dev *dev, pvk_xs_txn_t txn,
		      const char *name, const char *fmt, ...)
{
	char path[PVK_XENBUS_PATH_MAX + 64];
	va_list ap;
	char *val;
	int n, ret;

	if (!dev_ok(dev) || !name_ok(name) || !fmt)
		return -EINVAL;
	ret = path_fmt(path, sizeof(path), "%s/%s", pvk_xenbus_own_path(dev),
		       name);
	if (ret)
		return ret;
	va_start(ap, fmt);
	n = vasprintf(&val, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	ret = pvk_xs_write(dev->hv, txn, path, val);
	free(val);
	return ret;
}

int pvk_xenbus_read(struct pvk_xenbus_dev *dev, pvk_xs_txn_t txn, bool peer,
		    const char *name, char **val)
{
	int ret;

	if (!val)
		return -EINVAL;
	*val = NULL;
	if (!dev_ok(dev) || !name_ok(name))
		return -EINVAL;
	/* Any length xenstore allows, but a clean string (no NUL inside). */
	ret = read_node(dev->hv, txn,
			peer ? pvk_xenbus_peer_path(dev) :
			       pvk_xenbus_own_path(dev),
			name, 4097, val);
	return ret;
}
