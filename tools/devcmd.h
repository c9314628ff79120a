/* SPDX-License-Identifier: MIT */
/*
 * devcmd.h -- what the toolstack commands for every device type share
 * (`pvkit disk`, `pvkit nic`): finding domains, waiting for a backend's
 * state, and detaching as libxl does.  Messages start "pvkit <group>
 * <cmd>: " and say which value was wrong and what to do.
 */
#ifndef PVK_TOOLS_DEVCMD_H
#define PVK_TOOLS_DEVCMD_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <pvkit/hv.h>
#include <pvkit/xenbus.h>

/* pvk_hv_open(), explaining a failure for `pvkit @group`. */
int pvk_dev_open_hv(const char *group, struct pvk_hv **hv);
/* Inside a guest: call @open(@arg) until it returns anything but -ENOENT,
 * for at most 10 s -- the toolstack may attach the device just after the
 * domain starts.  Returns @open's last result. */
int pvk_dev_open_retry(int (*open)(void *arg), void *arg);
/* A running domain by id or name: 0, or -ENOENT. */
int pvk_dev_find_domain(struct pvk_hv *hv, const char *arg, uint32_t *domid);
/* The guest @arg: a running domain, or (for cleaning up after a dead one)
 * any valid domain number; 0, or -ENOENT after printing why. */
int pvk_dev_guest(struct pvk_hv *hv, const char *group, const char *cmd,
		  const char *arg, uint32_t *domid);
void pvk_dev_no_domain(const char *group, const char *cmd, const char *what,
		       const char *arg);
/* A backend type is one xenstore path component. */
bool pvk_dev_valid_type(const char *t);
/* @dir/@node, malloc'ed, or NULL. */
char *pvk_dev_read_node(struct pvk_hv *hv, pvk_xs_txn_t t, const char *dir,
			const char *node);
/* The name of domain @id (a decimal string), malloc'ed, or NULL. */
char *pvk_dev_domain_name(struct pvk_hv *hv, const char *id);
/* "Connected" for a state node's value, "-" for none, "?" for garbage. */
const char *pvk_dev_state_name(const char *v);
long pvk_dev_elapsed_ms(const struct timespec *t0);
/* Wait until @path reads a state for which @done() holds, or @ms pass.
 * Returns the last state read (or -ENOENT), or -ETIMEDOUT. */
int pvk_dev_wait_state(struct pvk_hv *hv, const char *path,
		       bool (*done)(int st, void *arg), void *arg, int ms);
/*
 * A device as libxl's libxl__device_generic_add writes it (libxl 4.17).
 * Name its nodes with pvk_dev_node(), in libxl's order and the state
 * nodes last; pvk_dev_add_txn(), inside a transaction, then writes:
 *  - the frontend directory, owned by the frontend domain, which the
 *    backend domain may read;
 *  - the backend directory, owned by the backend domain, which the
 *    frontend domain may read;
 *  - libxl's own record /libxl/<fe>/device/<kind>/<devid>, owned by the
 *    toolstack (our domain) and readable by no guest: frontend, backend
 *    and a copy of every PVK_DEV_BE node as first written.  xl reads
 *    it (block-list, network-list, detach); libxl rebuilds
 *    configurations from it.
 * Each directory is made and given its permissions before anything is
 * written in it, so that its nodes inherit them.  -EEXIST if the
 * frontend or backend directory exists; the list may be replayed (a
 * transaction retried).
 */
enum pvk_dev_where {
	PVK_DEV_BE, /* backend directory, copied into /libxl */
	PVK_DEV_BE_HOTPLUG, /* backend directory only: what a hotplug script
			     * adds after libxl (physical-device, ...) */
	PVK_DEV_FE, /* frontend directory */
	PVK_DEV_FE_RO, /* frontend directory, owned by the backend domain:
			* a value the guest may read, not change (vif mtu) */
};
#define PVK_DEV_MAX_NODES 32
struct pvk_dev_add {
	uint32_t toolstack, be, fe, devid;
	char be_path[PVK_XENBUS_PATH_MAX], fe_path[PVK_XENBUS_PATH_MAX];
	char libxl_path[PVK_XENBUS_PATH_MAX];
	struct {
		enum pvk_dev_where where;
		char *name, *value;
	} node[PVK_DEV_MAX_NODES];
	unsigned int nr;
	int err; /* the first pvk_dev_node() failure: -ENOMEM, -E2BIG */
};
/* @kind: the frontend's device type (vbd, vif); @type: the backend
 * directory's (vbd, or another a backend serves). */
void pvk_dev_add_init(struct pvk_dev_add *a, struct pvk_hv *hv,
		      const char *kind, const char *type, uint32_t be,
		      uint32_t fe, uint32_t devid);
void pvk_dev_node(struct pvk_dev_add *a, enum pvk_dev_where where,
		  const char *name, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* A pvk_xs_transaction() function; @arg is the struct pvk_dev_add. */
int pvk_dev_add_txn(struct pvk_hv *hv, pvk_xs_txn_t t, void *arg);
void pvk_dev_add_free(struct pvk_dev_add *a);
/* libxl's record of frontend device directory @fe (/libxl/...). */
void pvk_dev_libxl_path(char *buf, size_t len, const char *fe);

/* Remove a device in one transaction: both directories and libxl's record
 * of it, and each one's parent directory that this leaves empty, as libxl
 * does (the guest's device/vbd, /libxl/<fe>/device/vbd, the backend's
 * per-frontend directory). */
int pvk_dev_remove(struct pvk_hv *hv, const char *be, const char *fe);
/*
 * Detach as libxl does: online = 0 and our state Closing together, wait
 * (@timeout_ms) for the backend to reach Closed, then remove the device
 * (pvk_dev_remove); @force skips the waiting.  Prints what went wrong;
 * 0 or -errno.
 */
int pvk_dev_detach(struct pvk_hv *hv, const char *group, const char *be,
		   const char *fe, int timeout_ms, bool force);

/* A device type's side of `pvkit <group> detach DOMAIN DEVICE [--force]
 * [--timeout MS] [--backend-domain ID] [--type TYPE]`. */
struct pvk_dev_kind {
	const char *group; /* "disk", "nic" */
	const char *fe_type; /* "vbd", "vif" */
	const char *what; /* "disk", "vif": in messages */
	const char *usage; /* the detach synopsis */
	/* --type, or the environment's default, or the standard type */
	const char *(*backend_type)(const char *opt);
	/* DEVICE (of guest @fe) to its devid; < 0 after printing why. */
	int (*devid)(struct pvk_hv *hv, uint32_t fe, const char *arg,
		     uint32_t *devid);
	/* A devid's name for PVK_DEV_COL_DEVNAME (xvda...). */
	void (*devname)(uint32_t devid, char *buf, size_t len);
};
/* The whole command: 0, 1 (failed), 2 (usage). */
int pvk_dev_cmd_detach(const struct pvk_dev_kind *k, int argc, char **argv);

/* A column of `pvkit <group> list`: its table title and width (0: the
 * last, unpadded; NULL title: JSON only), its JSON key, and what it
 * shows. */
enum pvk_dev_col_what {
	PVK_DEV_COL_DOMAIN, /* the frontend domain's id (a JSON number) */
	PVK_DEV_COL_NAME, /* its name */
	PVK_DEV_COL_DEVID, /* the device id (a JSON number) */
	PVK_DEV_COL_DEVNAME, /* kind->devname() of the device id */
	PVK_DEV_COL_NODE, /* a node of the backend directory */
	PVK_DEV_COL_BSTATE, /* the backend's state, by name */
	PVK_DEV_COL_FSTATE, /* the frontend's (its backend's frontend node) */
	PVK_DEV_COL_PATH, /* the backend directory */
};
struct pvk_dev_col {
	const char *title;
	int width;
	const char *json;
	enum pvk_dev_col_what what;
	const char *node; /* PVK_DEV_COL_NODE */
};
/* `pvkit <group> list [DOMAIN] [--type TYPE] [--json]`: every device this
 * domain serves from backend/TYPE (of DOMAIN only, if given), whoever
 * attached it, one row (or JSON object) each with @cols, an array ended
 * by a zeroed column.  0, 1 (failed), 2 (usage). */
int pvk_dev_cmd_list(const struct pvk_dev_kind *k,
		     const struct pvk_dev_col *cols, int argc, char **argv);

#endif /* PVK_TOOLS_DEVCMD_H */
