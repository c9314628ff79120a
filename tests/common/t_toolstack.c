/* SPDX-License-Identifier: MIT */
/* The toolstack test double (t_toolstack.h). */
#include <stdio.h>
#include <string.h>

#include "t_toolstack.h"

static int put_nodes(struct pvk_hv *hv, pvk_xs_txn_t t, const char *dir,
		     const char *const *nodes)
{
	char p[256], name[64];
	const char *eq;
	int err = 0;

	for (; nodes && *nodes && !err; nodes++) {
		eq = strchr(*nodes, '=');
		if (!eq || (size_t)(eq - *nodes) >= sizeof(name))
			return -22;
		snprintf(name, sizeof(name), "%.*s", (int)(eq - *nodes),
			 *nodes);
		snprintf(p, sizeof(p), "%s/%s", dir, name);
		err = pvk_xs_write(hv, t, p, eq + 1);
	}
	return err;
}

static int attach_txn(struct pvk_hv *hv, pvk_xs_txn_t t, void *arg)
{
	const struct t_dev *d = arg;
	char be[128], fe[128], p[192];
	struct pvk_xs_perm bp[2] = { { d->be, 'n' }, { d->fe, 'r' } };
	struct pvk_xs_perm fp[2] = { { d->fe, 'n' }, { d->be, 'r' } };
	int err;

	snprintf(be, sizeof(be), "/local/domain/%u/backend/%s/%u/%u", d->be,
		 d->type, d->fe, d->devid);
	snprintf(fe, sizeof(fe), "/local/domain/%u/device/%s/%u", d->fe,
		 d->fe_type, d->devid);
	err = pvk_xs_mkdir(hv, t, be) ?: pvk_xs_set_perms(hv, t, be, bp, 2);
	err = err			      ?:
		      pvk_xs_mkdir(hv, t, fe) ?:
		      pvk_xs_set_perms(hv, t, fe, fp, 2);
#define W(dir, n, ...)                                             \
	do {                                                       \
		snprintf(p, sizeof(p), "%s/%s", dir, n);           \
		err = err ?: pvk_xs_printf(hv, t, p, __VA_ARGS__); \
	} while (0)
	W(be, "frontend", "%s", d->fe_path ? d->fe_path : fe);
	W(be, "frontend-id", "%u", d->fe);
	W(be, "online", "1");
	W(fe, "backend", "%s", be);
	W(fe, "backend-id", "%u", d->be);
	err = err ?: put_nodes(hv, t, be, d->be_nodes);
	err = err ?: put_nodes(hv, t, fe, d->fe_nodes);
	W(fe, "state", "1");
	W(be, "state", "1");
#undef W
	return err;
}

int t_dev_attach(struct pvk_hv *tool, const struct t_dev *d)
{
	char p[128];
	int err;

	/* The directories first, outside: the loop hypervisor's
	 * transactions report a conflict when one creates a directory and
	 * two nodes in it. */
	snprintf(p, sizeof(p), "/local/domain/%u/backend/%s/%u/%u", d->be,
		 d->type, d->fe, d->devid);
	err = pvk_xs_mkdir(tool, PVK_XS_NO_TXN, p);
	snprintf(p, sizeof(p), "/local/domain/%u/device/%s/%u", d->fe,
		 d->fe_type, d->devid);
	err = err ?: pvk_xs_mkdir(tool, PVK_XS_NO_TXN, p);
	return err ?: pvk_xs_transaction(tool, 0, attach_txn, (void *)d);
}
