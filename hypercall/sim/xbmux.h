/* SPDX-License-Identifier: MIT */
/*
 * xbmux.h -- private: a guest domain's /dev/xen/xenbus, as its supervisor
 * serves it.  Several libxenstore clients (unix-socket connections, given
 * to the guest's processes as XENSTORED_PATH) share the domain's one
 * xenstore ring page, like a guest kernel's xenbus driver shares it
 * between its users:
 *
 *   - every request gets a ring-unique req_id; the reply is routed back
 *     with the client's own req_id;
 *   - watch tokens are prefixed with the client's id on the way out and
 *     stripped from events on the way back;
 *   - a client may only use transactions it started; when it disconnects
 *     its transactions are aborted and its watches removed.
 *
 * The ring's peer is xenstored (trusted, as dom0 is on Xen), but its
 * indices and lengths are still checked: a violation latches the mux
 * broken with one log line; clients then see their connection closed.
 */
#ifndef PVK_HYPERCALL_SIM_XBMUX_H
#define PVK_HYPERCALL_SIM_XBMUX_H

#include <xenevtchn.h>

struct pvk_xbmux;

/* Serve @ring (the domain's xenstore page) over event channel @port of
 * @xce, and accept clients on a new unix socket at @sock_path.  Log lines
 * go to stderr prefixed with @name. */
int pvk_xbmux_create(struct pvk_xbmux **mux, void *ring, xenevtchn_handle *xce,
		     evtchn_port_t port, const char *sock_path,
		     const char *name);
/* Destroy: clients disconnected, the socket removed. */
void pvk_xbmux_destroy(struct pvk_xbmux *mux);
/* One descriptor that polls readable when pvk_xbmux_run() has work. */
int pvk_xbmux_fd(const struct pvk_xbmux *mux);
/* Do the pending work without blocking; returns 0 or -errno. */
int pvk_xbmux_run(struct pvk_xbmux *mux);

#endif /* PVK_HYPERCALL_SIM_XBMUX_H */
