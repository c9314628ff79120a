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
 * backend path is exactly /local/domain/<backend-id>/backend/<T>/
 * <own domid>/<devid>, where <T> is <type> or a backend's type of its own
 * (one component of [A-Za-z0-9_-]: "pvkvif" serving an ordinary vif).  -ENOENT if the device does not exist, -EPROTO if
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

/*
 * The frontend's half of the state machine, shared by every frontend
 * driver (blkfront, netfront): it watches the backend's state and moves
 * the device through its connection phases, calling the driver's ops:
 *
 *   backend InitWait      talk(): read the backend's features, allocate
 *                         and publish rings; on 0 the phase is Published
 *                         and our state becomes @publish_state
 *                         (Initialised for blkif, Connected for netif)
 *   backend Connected     connect() while Published (the driver sets the
 *                         phase Connected, or Broken); changed() while
 *                         Connected (blkif: a resize), may be NULL
 *   backend restarted,    teardown(why) while Published or Connected: free
 *   Closing, Closed,      the rings, keep what the driver keeps; the
 *   or state gone         driver sets the phase Disconnected
 *   device removed        gone(): the frontend directory went, or the
 *   (or offline=0)        toolstack set online=0 and the backend is
 *                         closing; we say Closed first, as Linux does
 *   talk/connect failed   fail(why): the driver latches itself Broken
 * From Closed (still online) it asks for a new connection
 * (Initialising); while @closing it only answers Closing with Closed.
 * A Broken or Gone device is left alone.  The backend's features are the
 * driver's to read (pvk_xenbus_read_feature on &f->dev).
 */
enum pvk_xenbus_front_phase {
	PVK_XENBUS_FE_DISCONNECTED = 0, /* no rings */
	PVK_XENBUS_FE_PUBLISHED, /* rings published, backend not Connected */
	PVK_XENBUS_FE_CONNECTED,
	PVK_XENBUS_FE_BROKEN, /* the backend broke the protocol */
	PVK_XENBUS_FE_GONE, /* the device was removed */
};

struct pvk_xenbus_front_ops {
	int (*talk)(void *drv);
	int (*connect)(void *drv);
	int (*changed)(void *drv);
	void (*teardown)(void *drv, const char *why);
	void (*gone)(void *drv);
	void (*fail)(void *drv, const char *why);
};

struct pvk_xenbus_front {
	struct pvk_xenbus_dev dev;
	const struct pvk_xenbus_front_ops *ops;
	void *drv;
	enum pvk_xenbus_state publish_state;
	enum pvk_xenbus_front_phase phase;
	int fe_state; /* what we last wrote */
	bool closing; /* the driver is closing the device */
	/* Why the last negotiation failed for a reason of our own (no
	 * memory, grants or ports, xenstore): -errno, or 0. */
	int err;
	char token[48];
	char be_state_path[PVK_XENBUS_PATH_MAX + 8];
};

/* pvk_xenbus_frontend_init() for device/<type>/<devid>, and a watch on
 * the backend's state (token private to @f). */
int pvk_xenbus_front_init(struct pvk_xenbus_front *f, struct pvk_hv *hv,
			  const char *type, uint32_t devid,
			  const struct pvk_xenbus_front_ops *ops, void *drv,
			  enum pvk_xenbus_state publish_state);
/* Drop the watch and the events queued for it. */
void pvk_xenbus_front_fini(struct pvk_xenbus_front *f);
/* Write our state (remembered in fe_state). */
int pvk_xenbus_front_switch(struct pvk_xenbus_front *f,
			    enum pvk_xenbus_state state);
/* Act on the backend's current state once. */
int pvk_xenbus_front_step(struct pvk_xenbus_front *f);
/* Drain the hv handle's watch queue (events of other tokens are dropped)
 * and step if one was ours. */
int pvk_xenbus_front_handle(struct pvk_xenbus_front *f);
/* The frontend directory still exists. */
bool pvk_xenbus_front_exists(struct pvk_xenbus_front *f);
/* Remove our node @name (a missing one is fine). */
int pvk_xenbus_front_rm(struct pvk_xenbus_front *f, pvk_xs_txn_t txn,
			const char *name);

/*
 * The backend bus: what every backend driver needs from xenstore, once.
 * A bus acts as the domain of its pvk_hv (which it does not own) and hosts
 * drivers, each serving one backend directory type.  For each driver it
 * watches /local/domain/<self>/backend/<type>, and for each device
 * <fe>/<devid> the toolstack writes there it follows Xen's xenbus protocol,
 * calling the driver's ops at each step:
 *
 *   device appears (our state and online=1 written)
 *       probe: read the toolstack's nodes, open what the device needs;
 *       then publish (features) and our state InitWait, in one transaction.
 *       A device whose frontend and backend are both Connected and that
 *       carries a handover note (node "pvkit-handover", written by a
 *       previous instance's pvk_xenbus_bus_handover) is resumed instead.
 *   frontend Connected (or Initialised, with connect_on_initialised)
 *       connect: read the frontend's nodes, map, start; then Connected.
 *   frontend Closing, toolstack detach (online=0 and our state Closing)
 *       disconnect, then our state Closing; Closed once the frontend is.
 *   frontend Closed
 *       Closed; if online is 0 the device is dropped (remove), else it is
 *       published again (InitWait) for the frontend to reconnect.
 *   frontend Initialising/InitWait after a connection (a frontend restart)
 *       disconnect, publish again.
 *   frontend domain gone (@releaseDomain)
 *       disconnect, remove, and the backend directory is removed (what libxl
 *       does when it destroys a domain).
 *   backend directory removed        disconnect, remove.
 *   another node of the device's backend directory changes
 *       node_changed, if the driver has it (vif's `rate`).
 *   a frontend node the driver watches changes
 *       fe_node_changed (vif's `request-multicast-control`).
 * A device whose frontend is Connected (or Initialised) when first seen,
 * without a usable handover note, had rings of a crashed predecessor:
 * recovered if the driver can (its recover op), else Closing, then
 * InitWait once the frontend is Closed.
 *
 * Reconciliation is level-triggered: a watch event only marks devices
 * dirty; the bus re-reads online, our state and the frontend's state and
 * moves the device one step, so coalesced or reordered events cannot leave
 * a device stuck.  A frontend rewriting its state node costs a few reads of
 * its own device, never a pass over every device.
 *
 * Threads: every bus function and every op runs on the caller's thread
 * (the control plane); only pvk_xenbus_bus_log may be called from a
 * driver's data path threads.  Peer paths are validated as
 * pvk_xenbus_backend_init_as does; a frontend path pointing elsewhere
 * leaves the device ignored.
 */
struct pvk_xenbus_bus;
struct pvk_xenbus_backdev;

/* One log line, without newline. */
typedef void pvk_log_fn(void *arg, const char *line);

struct pvk_xenbus_driver {
	const char *name; /* in log lines: "vbd", "vif" */
	const char *type; /* backend directory: "vbd", "pvkvbd", "vif" ... */
	const char *fe_type; /* the frontend's device directory type */
	/* blkif connects when the frontend is Initialised or Connected,
	 * netif only when it is Connected. */
	bool connect_on_initialised;
	/* 0: serve the device; -EAGAIN: not complete yet (dropped quietly,
	 * probed again on the next event); other -errno: the device failed
	 * (the driver wrote hotplug-status=error and hotplug-error) and waits,
	 * unserved, for its removal.  May set d->priv in every case; remove()
	 * is called for it unless the result was -EAGAIN (then the driver
	 * frees what it set itself). */
	int (*probe)(struct pvk_xenbus_backdev *d);
	/* Write the features, inside the InitWait transaction. */
	int (*publish)(struct pvk_xenbus_backdev *d, pvk_xs_txn_t txn);
	/* Read the frontend's nodes, map, start.  0: Connected, @msg (if
	 * set) logged with it; < 0: the connection is refused, @msg says
	 * why, the device goes Closing. */
	int (*connect)(struct pvk_xenbus_backdev *d, char *msg, size_t len);
	/* Stop the data path; idempotent; called before remove too. */
	void (*disconnect)(struct pvk_xenbus_backdev *d);
	/* Optional: stop taking requests and return at once, without
	 * waiting for those in flight; bus shutdown and handover call it on
	 * every device before disconnecting (or handing over) each, so that
	 * their drains overlap instead of adding up. */
	void (*quiesce)(struct pvk_xenbus_backdev *d);
	/* Optional: resume rings a previous instance handed over with @note;
	 * as connect.  Without it, handed-over rings are closed. */
	int (*resume)(struct pvk_xenbus_backdev *d, const char *note, char *msg,
		      size_t len);
	/* Optional: resume rings a predecessor left by crashing (no note;
	 * both ends Connected, or the frontend Initialised), from what the
	 * driver kept outside the process; as connect.  < 0 (nothing kept,
	 * or it does not match): the device is closed as below. */
	int (*recover)(struct pvk_xenbus_backdev *d, char *msg, size_t len);
	/* Optional: for pvk_xenbus_bus_handover: drain a connected device
	 * and describe its rings in @note; < 0 (e.g. latched broken): the
	 * device is closed instead, @note saying why. */
	int (*handover)(struct pvk_xenbus_backdev *d, char *note, size_t len);
	/* Optional: a node @node (relative) of our directory changed. */
	void (*node_changed)(struct pvk_xenbus_backdev *d, const char *node);
	/* Optional: a frontend node the driver watches
	 * (pvk_xenbus_backdev_watch_fe) changed. */
	void (*fe_node_changed)(struct pvk_xenbus_backdev *d, const char *node);
	/* Free d->priv. */
	void (*remove)(struct pvk_xenbus_backdev *d);
};

#define PVK_XENBUS_FE_WATCH_MAX 4

struct pvk_xenbus_backdev {
	struct pvk_xenbus_bus *bus;
	const struct pvk_xenbus_driver *drv;
	void *drv_arg; /* as given to pvk_xenbus_bus_register */
	struct pvk_xenbus_dev xb; /* validated paths, domids, devid */
	char name[48]; /* "<drv name> <fe>/<devid>", for log lines */
	void *priv; /* the driver's */
	/* The bus's own; read-only for drivers. */
	int phase; /* enum pvk_xenbus_phase */
	bool want_close, listed, dirty, fe_watched;
	char fe_token[64];
	char fn_token[64]; /* the frontend nodes the driver watches */
	char fe_nodes[PVK_XENBUS_FE_WATCH_MAX][32];
	unsigned int nr_fe_nodes;
	struct pvk_xenbus_backdev *next;
	/* Reconnection rate limit (GCRA): when the next offer is due. */
	uint64_t reconnect_tat_ms, retry_at_ms;
	bool deferred; /* waiting in Closed for retry_at_ms */
	/* The frontend closed on its own, Closing then Closed: no new
	 * offer until it says Initialising. */
	bool fe_closed_in_order;
};

enum pvk_xenbus_phase {
	PVK_XENBUS_PH_FAILED, /* probe failed: waiting for removal */
	PVK_XENBUS_PH_INITWAIT,
	PVK_XENBUS_PH_CONNECTED,
	PVK_XENBUS_PH_CLOSING,
	PVK_XENBUS_PH_CLOSED,
};
/* "failed", "InitWait", "Connected", "Closing", "Closed". */
const char *pvk_xenbus_phase_name(int phase);

/* A bus acting as @hv's domain; @log NULL: stderr with a timestamp. */
int pvk_xenbus_bus_create(struct pvk_xenbus_bus **bus, struct pvk_hv *hv,
			  pvk_log_fn *log, void *log_arg);
/* Serve @drv's directory (watch, and probe the devices present).  -EEXIST
 * if a driver of that type is registered, -EINVAL for a type that is not
 * one path component shorter than PVK_XENBUS_TYPE_MAX. */
int pvk_xenbus_bus_register(struct pvk_xenbus_bus *bus,
			    const struct pvk_xenbus_driver *drv, void *arg);
/* Stop serving @drv: disconnect and remove its devices without touching
 * xenstore (as pvk_xenbus_bus_destroy). */
void pvk_xenbus_bus_unregister(struct pvk_xenbus_bus *bus,
			       const struct pvk_xenbus_driver *drv);
/* Polls readable when xenstore events are queued or a deferred device is
 * due (an epoll fd: xenstore's watch fd and the bus's timer):
 * handle_events then.  Process every queued event; never blocks on a
 * peer.  0 or -errno (the xenstore connection is lost).
 *
 * A device that disconnects is offered again (InitWait) at once a few
 * times, then at most once a second (set_reconnect_ms, or
 * $PVKIT_RECONNECT_MS, read when the bus is created: another interval;
 * 0: no limit): a frontend reconnecting in a loop (connecting keeps
 * failing: no free event channel or grant, a hostile peer) costs a
 * wake-up a second, logged once per deferral. */
int pvk_xenbus_bus_fd(struct pvk_xenbus_bus *bus);
int pvk_xenbus_bus_handle_events(struct pvk_xenbus_bus *bus);
/* The interval above, in milliseconds (0 to PVK_XENBUS_RECONNECT_MS_MAX;
 * 0: no limit), for the offers that follow; -EINVAL if over. */
#define PVK_XENBUS_RECONNECT_MS_MAX 60000u
int pvk_xenbus_bus_set_reconnect_ms(struct pvk_xenbus_bus *bus,
				    unsigned int ms);
/* Devices of @drv (NULL: all) served, and how many are Connected. */
int pvk_xenbus_bus_count(struct pvk_xenbus_bus *bus,
			 const struct pvk_xenbus_driver *drv, int *connected);
/* The device after @prev (NULL: the first) of @drv (NULL: any). */
struct pvk_xenbus_backdev *
pvk_xenbus_bus_next(struct pvk_xenbus_bus *bus,
		    const struct pvk_xenbus_driver *drv,
		    struct pvk_xenbus_backdev *prev);
/* Disconnect each Connected device and close it (Closing; Closed once
 * the frontend is, or after @timeout_ms).  A device in InitWait stays so.
 * Afterwards the bus takes no new device. */
int pvk_xenbus_bus_shutdown(struct pvk_xenbus_bus *bus, int timeout_ms);
/* Hand each Connected device over to the next instance (driver's
 * handover op, then the note; our state stays Connected); devices whose
 * driver has no handover op are shut down as above. */
int pvk_xenbus_bus_handover(struct pvk_xenbus_bus *bus, int timeout_ms);
/* Disconnect and remove every device without touching xenstore (a
 * crash-like stop), unwatch, free.  NULL is a no-op. */
void pvk_xenbus_bus_destroy(struct pvk_xenbus_bus *bus);

/* Log through the bus's callback (serialised; any thread). */
void pvk_xenbus_bus_log(struct pvk_xenbus_bus *bus, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
struct pvk_hv *pvk_xenbus_bus_hv(struct pvk_xenbus_bus *bus);

/* For drivers, on the control thread: take @d to Closing now (its data
 * path latched broken, say), with @why logged. */
void pvk_xenbus_backdev_close(struct pvk_xenbus_backdev *d, const char *why);
/* Our own unsigned node @name; @def if it is missing. */
/* Watch the frontend's node @name (relative, as for
 * pvk_xenbus_read_feature) for the device's lifetime: each change (and
 * the first event, at once) goes to the driver's fe_node_changed, on the
 * bus's thread.  Watching a node twice is a no-op; -ENOSPC beyond
 * PVK_XENBUS_FE_WATCH_MAX nodes. */
int pvk_xenbus_backdev_watch_fe(struct pvk_xenbus_backdev *d, const char *name);
int pvk_xenbus_backdev_read_uint(struct pvk_xenbus_backdev *d, const char *name,
				 unsigned long def, unsigned long *v);

#ifdef __cplusplus
}
#endif

#endif /* PVKIT_XENBUS_H */
