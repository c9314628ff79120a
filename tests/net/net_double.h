/* SPDX-License-Identifier: MIT */
/*
 * net_double.h -- a TEST DOUBLE of a netif backend, for driving pvkit's
 * netfront from the other side on the loop hypervisor: raw netif rings
 * (not pvkit's netback), so a test or a fuzzer writes every response,
 * index and rx page byte itself and can play a hostile backend.
 *
 * struct t_net is the whole fixture: a loop hypervisor, a guest domain
 * with vif 0 attached (tests/common/t_toolstack.h), the double as the
 * backend (struct t_be, domain 0) and pvkit's netfront opened in the
 * guest over it.  The double answers the xenbus handshake (features
 * rx-copy, sg, gso-tcpv4; InitWait, then Connected once the frontend is),
 * maps the frontend's rings and binds its event channel.
 *
 * Functions return 0 (or a count) or -errno; they never assert, so both
 * cmocka tests and libFuzzer targets use them.
 */
#ifndef PVK_TESTS_NET_DOUBLE_H
#define PVK_TESTS_NET_DOUBLE_H

#include <stddef.h>
#include <stdint.h>

#include <pvkit/hv.h>
#include <pvkit/netfront.h>
#include <pvkit/netif.h>
#include <pvkit/ring.h>

/* How long the handshake waits for the frontend. */
#define T_NET_TMO_MS 3000

/* The backend double. */
struct t_be {
	struct pvk_hv *hv;
	uint32_t domu;
	struct pvk_ring tx, rx;
	void *tx_map, *rx_map;
	struct pvk_evtchn *ev;
	uint32_t port;
	char dir[96];
	int err; /* the handshake thread's result */
	/* t_be_rx_page()'s mappings, by request id */
	void *rx_page[256];
	uint32_t rx_gref[256];
};

struct t_net {
	struct pvk_loop *loop;
	struct pvk_hv *tool, *hvu;
	struct t_be be;
	struct pvk_netfront *nf;
	struct pvk_netfront_opts opts;
};

uint64_t t_ms_now(void);

/* Build the fixture and connect netfront (@o: its options, NULL for one
 * queue without split event channels).  0 or -errno. */
int t_net_setup(struct t_net *n, const struct pvk_netfront_opts *o);
/* The double closes its end (as a backend whose frontend goes Closing:
 * rings unmapped, Closed), netfront is closed, and both are connected
 * again from scratch: a fresh netfront handle in n->nf. */
int t_net_reconnect(struct t_net *n);
/* Close everything; @n may be half set up. */
void t_net_teardown(struct t_net *n);

/* Write backend node @name of the double's directory. */
int t_be_write(struct t_be *b, const char *name, const char *v);
/* Push the responses put on @r and notify the frontend. */
void t_be_kick(struct t_be *b, struct pvk_ring *r);
/* Take the next rx request the frontend posted: 1, 0 if none, -errno. */
int t_be_rx_req(struct t_be *b, struct pvk_netif_rx_request *q);
/* Write @len bytes at @off into the page of rx request @q. */
int t_be_fill(struct t_be *b, const struct pvk_netif_rx_request *q,
	      uint16_t off, const void *data, size_t len);
/* The page of rx request @q, mapped (and kept mapped until the double
 * closes: a frontend reposts the same pages), or NULL. */
void *t_be_rx_page(struct t_be *b, const struct pvk_netif_rx_request *q);
/* Map the pages of every rx request in the ring into t_be_rx_page()'s
 * cache, before taking any: right after connecting, when the frontend
 * has posted a full ring.  The number mapped, or -errno. */
int t_be_rx_map_all(struct t_be *b);
/* Queue an rx response (not pushed). */
int t_be_rsp(struct t_be *b, uint16_t id, uint16_t off, uint16_t flags,
	     int16_t status);

#endif /* PVK_TESTS_NET_DOUBLE_H */
