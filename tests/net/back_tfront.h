/* SPDX-License-Identifier: MIT */
/*
 * tests/net/back_tfront.h -- a TEST frontend for netback tests: a minimal
 * raw netif frontend that speaks the wire protocol directly (it is not
 * pvkit's netfront), so that backend tests depend on nothing but the
 * protocol and can put on its rings what a correct frontend never would.
 *
 * It acts as the guest on the loop hypervisor: one tx ring, one rx ring,
 * one event channel (not split) and, if asked, a control ring with an
 * event channel of its own; NPAGES data pages granted once.  Waiting is
 * bounded: xenstore is polled, the bus driven through the caller's pump.
 */
#ifndef PVK_TESTS_NET_BACK_TFRONT_H
#define PVK_TESTS_NET_BACK_TFRONT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pvkit/hv.h>
#include <pvkit/netback.h>
#include <pvkit/netif.h>

#define T_NFE_PAGES 64
#define T_NFE_TMO_MS 10000 /* for what must happen: generous under load */

/* Drive the backend for up to @ms (its bus's events), or just wait. */
typedef void t_nfe_pump_fn(void *arg, int ms);

struct t_nfe {
	struct pvk_hv *hv, *tool;
	uint32_t domu, devid;
	bool with_ctrl;
	t_nfe_pump_fn *pump;
	void *pump_arg;
	struct pvk_ring tx, rx, ctrl;
	void *tx_sring, *rx_sring, *ctrl_sring, *pages;
	uint32_t tx_ref, rx_ref, ctrl_ref, refs[T_NFE_PAGES];
	struct pvk_evtchn *ev;
	uint32_t port, ctrl_port;
	uint16_t next_id;
};

/*
 * Attach vif @devid of guest @domu as the toolstack does (bridge pvkbr,
 * mac 00:16:3e:00:00:<devid>), wait for InitWait, grant the rings and
 * pages, write the frontend's nodes (rx-copy, rx-notify, sg, gso-tcpv4,
 * multicast control; a control ring if @with_ctrl) and Connected, and
 * wait for the backend's Connected.  0 or -errno.
 */
int t_nfe_connect(struct t_nfe *fe, struct pvk_hv *tool, struct pvk_hv *hvu,
		  uint32_t domu, uint32_t devid, bool with_ctrl,
		  t_nfe_pump_fn *pump, void *arg);
/* After a fatal error: Closing, Closed, wait for InitWait, fresh rings
 * on the same pages, Connected again.  0 or -errno. */
int t_nfe_reconnect(struct t_nfe *fe);
/* Its two halves.  Closing, until the backend is Closing or Closed (a
 * backend disconnects first: its queues are stopped, the rings hold all
 * it will ever answer); then Closed, InitWait, fresh rings, Connected. */
int t_nfe_close_wait(struct t_nfe *fe);
int t_nfe_reopen(struct t_nfe *fe);
/* Has @nb latched this vif broken (its stats say broken=1)? */
bool t_nfe_be_broken(struct t_nfe *fe, struct pvk_netback *nb);
/* Close the event channel, free the grants. */
void t_nfe_free(struct t_nfe *fe);

/* The backend's unsigned node @n; 999 if missing or not a number. */
unsigned long t_nfe_be_node(struct t_nfe *fe, const char *n);
/* Write our node @n = @v. */
int t_nfe_write(struct t_nfe *fe, const char *n, unsigned long v);

static inline uint8_t *t_nfe_page(struct t_nfe *fe, uint32_t i)
{
	return (uint8_t *)fe->pages + (size_t)i * PVK_PAGE_SIZE;
}

/* A tx slot over page @pg with the next id. */
struct pvk_netif_tx_request t_nfe_txreq(struct t_nfe *fe, uint32_t pg,
					uint16_t off, uint16_t size,
					uint16_t flags);
/* Push @r (tx, rx or ctrl); notify the backend if it asked. */
int t_nfe_kick(struct t_nfe *fe, struct pvk_ring *r);
/* The next response on @r, waiting for events up to @ms: 1, or
 * -ETIMEDOUT, or < 0 if the ring is broken. */
int t_nfe_wait_rsp(struct t_nfe *fe, struct pvk_ring *r, void *out, size_t len,
		   int ms);

#endif /* PVK_TESTS_NET_BACK_TFRONT_H */
