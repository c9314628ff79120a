/* SPDX-License-Identifier: MIT */
/*
 * pvkit/xenbus.h -- xenbus devices on xenstore: the libxl directory layout,
 * the frontend/backend state machine and feature negotiation.  Part of
 * libpvkit-hv.
 *
 * Layout (what libxl and `xl block-attach` write, what Linux reads):
 *   frontend  /local/domain/<fe>/device/<type>/<devid>/
 *               backend     = backend directory (absolute)
 *               backend-id  = <be>
 *               state       = enum pvk_xenbus_state, decimal
 *   backend   /local/domain/<be>/backend/<type>/<fe>/<devid>/
 *               frontend    = frontend directory (absolute)
 *               frontend-id = <fe>
 *               online      = 1
 *               state       = enum pvk_xenbus_state
 * The peer's path is read once, at init, and checked against the layout
 * above (a frontend may not point its backend at an arbitrary node, nor a
 * backend its frontend); the paths used afterwards are the validated
 * private copies.
 *
 * State machine (io/xenbus.h):
 *   Initialising -> InitWait -> Initialised -> Connected -> Closing -> Closed
 * and from Closed back to Initialising/InitWait (reconnect).  A backend
 * writes InitWait once it has published its features; the frontend reads
 * them, publishes its ring refs and event channel, writes Initialised
 * (blkif) or Connected; the backend maps, writes Connected.
 */
#ifndef PVKIT_XENBUS_H
#define PVKIT_XENBUS_H

#include <pvkit/hv.h>

#ifdef __cplusplus
extern "C" {
#endif

enum pvk_xenbus_state {
	PVK_XENBUS_UNKNOWN = 0,
	PVK_XENBUS_INITIALISING = 1,
	PVK_XENBUS_INITWAIT = 2,
	PVK_XENBUS_INITIALISED = 3,
	PVK_XENBUS_CONNECTED = 4,
	PVK_XENBUS_CLOSING = 5,
	PVK_XENBUS_CLOSED = 6,
	PVK_XENBUS_RECONFIGURING = 7,
	PVK_XENBUS_RECONFIGURED = 8,
};

#define PVK_XENBUS_PATH_MAX 256
#define PVK_XENBUS_TYPE_MAX 16

struct pvk_xenbus_dev {
	struct pvk_hv *hv;
	bool is_backend;
	char type[PVK_XENBUS_TYPE_MAX]; /* "vbd", "vif", ... */
	uint32_t devid;
	uint32_t fe_domid, be_domid;
	char fe_path[PVK_XENBUS_PATH_MAX];
	char be_path[PVK_XENBUS_PATH_MAX];
};

/* Name of a state ("Connected"), or "Invalid". */
const char *pvk_xenbus_state_name(int state);

/* The standard paths for (type, fe, be, devid); -ENAMETOOLONG/-EINVAL. */
int pvk_xenbus_frontend_path(char *buf, size_t len, const char *type,
			     uint32_t fe_domid, uint32_t devid);
int pvk_xenbus_backend_path(char *buf, size_t len, const char *type,
			    uint32_t be_domid, uint32_t fe_domid,
			    uint32_t devid);

/*
 * Frontend side: @hv acts as the frontend domain.  Reads
 * device/<type>/<devid>/backend and backend-id, and checks that the
 * backend path is exactly /local/domain/<backend-id>/backend/<type>/
 * <own domid>/<devid>.  -ENOENT if the device does not exist, -EPROTO if
 * the nodes are malformed.
 */
int pvk_xenbus_frontend_init(struct pvk_xenbus_dev *dev, struct pvk_hv *hv,
			     const char *type, uint32_t devid);
/* Backend side: @hv acts as the backend domain; checks the frontend
 * path likewise. */
int pvk_xenbus_backend_init(struct pvk_xenbus_dev *dev, struct pvk_hv *hv,
			    const char *type, uint32_t fe_domid,
			    uint32_t devid);
/* The same for a backend directory of its own type: @type names the
 * backend directory (backend/<type>/...), @fe_type the frontend's
 * (device/<fe_type>/...), e.g. a pvkit-backd serving "pvkvbd" beside the
 * kernel's blkback on a Xen dom0 while the guest sees an ordinary vbd. */
int pvk_xenbus_backend_init_as(struct pvk_xenbus_dev *dev, struct pvk_hv *hv,
			       const char *type, const char *fe_type,
			       uint32_t fe_domid, uint32_t devid);

/* Our own directory, and the peer's. */
const char *pvk_xenbus_own_path(const struct pvk_xenbus_dev *dev);
const char *pvk_xenbus_peer_path(const struct pvk_xenbus_dev *dev);

/* Write our state (no-op if unchanged), in a transaction that never
 * recreates a directory the toolstack removed (-ENOENT then).  -EINVAL
 * for an out-of-range state. */
int pvk_xenbus_switch_state(struct pvk_xenbus_dev *dev,
			    enum pvk_xenbus_state state);
/* Read a state: our own or the peer's.  A missing node reads as
 * PVK_XENBUS_UNKNOWN (the peer went away, or never came); a value that is
 * not a state gives -EPROTO.  Returns the state (>= 0). */
int pvk_xenbus_read_state(struct pvk_xenbus_dev *dev, bool peer);
/* Is @from -> @to a transition a peer may make? (Unknown and Closed may
 * go to anything; otherwise forward, or to Closing/Closed.) */
bool pvk_xenbus_transition_ok(int from, int to);

/* Watch the peer's state node with @token. */
int pvk_xenbus_watch_peer_state(struct pvk_xenbus_dev *dev, const char *token);

/* Features.  Read the peer's unsigned node @name; a missing node gives
 * @def (features are optional), a malformed one -EPROTO (anything but
 * 1 to 20 decimal digits that fit an unsigned long).  @name is a
 * relative node name: components of [A-Za-z0-9_-] joined by single '/'
 * ("ring-ref", "queue-0/ring-ref"), under 64 bytes; else -EINVAL. */
int pvk_xenbus_read_feature(struct pvk_xenbus_dev *dev, pvk_xs_txn_t txn,
			    const char *name, unsigned long def,
			    unsigned long *val);
/* Write our own node @name = printf(@fmt, ...). */
int pvk_xenbus_printf(struct pvk_xenbus_dev *dev, pvk_xs_txn_t txn,
		      const char *name, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Read our own (or the peer's) node @name as a string; returns its
 * length.  A value with a NUL inside is -EPROTO. */
int pvk_xenbus_read(struct pvk_xenbus_dev *dev, pvk_xs_txn_t txn, bool peer,
		    const char *name, char **val);

#ifdef __cplusplus
}
#endif

#endif /* PVKIT_XENBUS_H */
