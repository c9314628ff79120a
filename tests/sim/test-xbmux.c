// SPDX-License-Identifier: MIT
/*
 * test-xbmux: the guest xenbus multiplexer (hypercall/sim/xbmux.c) against
 * a scripted xenstored on a ring page in this process: request/reply
 * routing, watch tokens, transaction ownership, cleanup when a client
 * goes, and a hostile ring (indices and lengths out of range).  The event
 * channel is a mock (mock_evtchn_*): only the ring is under test.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../hypercall/sim/xbmux.c"

/* Mock event channel: xbmux only notifies and polls it. */
static int mock_efd = -1;
static unsigned int mock_notifies;

int pvk_simx_evtchn_notify(xenevtchn_handle *xce, evtchn_port_t port)
{
	mock_notifies++;
	return 0;
}

int pvk_simx_evtchn_fd(xenevtchn_handle *xce)
{
	return mock_efd;
}

xenevtchn_port_or_error_t pvk_simx_evtchn_pending(xenevtchn_handle *xce)
{
	return 5;
}

int pvk_simx_evtchn_unmask(xenevtchn_handle *xce, evtchn_port_t port)
{
	return 0;
}

struct t_env {
	struct pvk_xbmux *mux;
	struct xenstore_domain_interface *intf;
	char path[108];
};

static int t_setup(void **state)
{
	struct t_env *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	e->intf = aligned_alloc(4096, 4096);
	assert_non_null(e->intf);
	memset(e->intf, 0, 4096);
	snprintf(e->path, sizeof(e->path), "/tmp/pvk-test-xbmux.%d",
		 (int)getpid());
	mock_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_true(mock_efd >= 0);
	assert_int_equal(pvk_xbmux_create(&e->mux, e->intf,
					  (xenevtchn_handle *)e, 5, e->path,
					  "test"),
			 0);
	*state = e;
	return 0;
}

static int t_teardown(void **state)
{
	struct t_env *e = *state;

	pvk_xbmux_destroy(e->mux);
	close(mock_efd);
	free(e->intf);
	free(e);
	return 0;
}

static int t_client(struct t_env *e)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 2 };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	strcpy(sa.sun_path, e->path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	pvk_xbmux_run(e->mux);
	return fd;
}

static void t_send(int fd, uint32_t type, uint32_t req_id, uint32_t tx_id,
		   const void *body, uint32_t len)
{
	struct xsd_sockmsg h = { type, req_id, tx_id, len };

	assert_int_equal(send(fd, &h, sizeof(h), 0), sizeof(h));
	if (len)
		assert_int_equal(send(fd, body, len, 0), (ssize_t)len);
}

/* Receive one message; returns its body length, or -1 on EOF. */
static int t_recv(int fd, struct xsd_sockmsg *h, char *body)
{
	ssize_t n = recv(fd, h, sizeof(*h), MSG_WAITALL);

	if (n <= 0)
		return -1;
	assert_int_equal(n, sizeof(*h));
	assert_true(h->len <= XENSTORE_PAYLOAD_MAX);
	if (h->len)
		assert_int_equal(recv(fd, body, h->len, MSG_WAITALL),
				 (ssize_t)h->len);
	return (int)h->len;
}

/* The scripted xenstored: take one request off req[]. */
static int t_srv_read(struct t_env *e, struct xsd_sockmsg *h, char *body)
{
	struct xenstore_domain_interface *i = e->intf;
	char buf[sizeof(*h) + XENSTORE_PAYLOAD_MAX];
	uint32_t want = sizeof(*h), got = 0;

	while (got < want) {
		if (i->req_prod == i->req_cons)
			return -1;
		buf[got++] = i->req[MASK_XENSTORE_IDX(i->req_cons)];
		i->req_cons++;
		if (got == sizeof(*h)) {
			memcpy(h, buf, sizeof(*h));
			want += h->len;
		}
	}
	memcpy(body, buf + sizeof(*h), h->len);
	return (int)h->len;
}

static void t_srv_raw(struct t_env *e, const void *p, uint32_t len)
{
	struct xenstore_domain_interface *i = e->intf;
	const char *c = p;
	uint32_t k;

	for (k = 0; k < len; k++)
		i->rsp[MASK_XENSTORE_IDX(i->rsp_prod + k)] = c[k];
	i->rsp_prod += len;
}

static void t_srv_write(struct t_env *e, uint32_t type, uint32_t req_id,
			uint32_t tx_id, const void *body, uint32_t len)
{
	struct xsd_sockmsg h = { type, req_id, tx_id, len };

	t_srv_raw(e, &h, sizeof(h));
	t_srv_raw(e, body, len);
}

static void test_routing(void **state)
{
	struct t_env *e = *state;
	int a = t_client(e), b = t_client(e);
	struct xsd_sockmsg h, ra, rb;
	char body[XENSTORE_PAYLOAD_MAX];

	t_send(a, XS_READ, 7, 0, "a", 2);
	t_send(b, XS_READ, 7, 0, "b", 2);
	pvk_xbmux_run(e->mux);
	assert_int_equal(t_srv_read(e, &ra, body), 2);
	assert_int_equal(t_srv_read(e, &rb, body), 2);
	assert_int_not_equal(ra.req_id, rb.req_id); /* unique on the ring */
	assert_true(mock_notifies > 0);
	/* Replies in the other order still reach their clients. */
	t_srv_write(e, XS_READ, rb.req_id, 0, "B", 1);
	t_srv_write(e, XS_READ, ra.req_id, 0, "A", 1);
	pvk_xbmux_run(e->mux);
	assert_int_equal(t_recv(a, &h, body), 1);
	assert_int_equal(h.req_id, 7);
	assert_memory_equal(body, "A", 1);
	assert_int_equal(t_recv(b, &h, body), 1);
	assert_int_equal(h.req_id, 7);
	assert_memory_equal(body, "B", 1);
	close(a);
	close(b);
}

static void test_watch_txn_cleanup(void **state)
{
	struct t_env *e = *state;
	int a = t_client(e), b = t_client(e);
	struct xsd_sockmsg h, r;
	char body[XENSTORE_PAYLOAD_MAX], ring_tok[64];
	const char *tok;

	t_send(a, XS_WATCH, 1, 0, "p\0tok", 6);
	pvk_xbmux_run(e->mux);
	assert_true(t_srv_read(e, &r, body) > 0);
	assert_int_equal(r.type, XS_WATCH);
	tok = body + 2;
	assert_string_equal(body, "p");
	assert_non_null(strchr(tok, ':')); /* the client's id prefixed */
	assert_string_equal(strchr(tok, ':') + 1, "tok");
	assert_true(strlen(tok) < sizeof(ring_tok));
	memcpy(ring_tok, tok, strlen(tok) + 1);
	t_srv_write(e, XS_WATCH, r.req_id, 0, "OK", 3);
	memcpy(body, "p\0", 2);
	memcpy(body + 2, ring_tok, strlen(ring_tok) + 1);
	t_srv_write(e, XS_WATCH_EVENT, 0, 0, body,
		    (uint32_t)(2 + strlen(ring_tok) + 1));
	pvk_xbmux_run(e->mux);
	assert_int_equal(t_recv(a, &h, body), 3);
	assert_int_equal(h.type, XS_WATCH);
	assert_int_equal(t_recv(a, &h, body), 6);
	assert_int_equal(h.type, XS_WATCH_EVENT);
	assert_memory_equal(body, "p\0tok\0", 6); /* token restored */

	t_send(a, XS_TRANSACTION_START, 2, 0, "", 1);
	pvk_xbmux_run(e->mux);
	assert_true(t_srv_read(e, &r, body) >= 0);
	t_srv_write(e, XS_TRANSACTION_START, r.req_id, 0, "17", 3);
	pvk_xbmux_run(e->mux);
	assert_int_equal(t_recv(a, &h, body), 3);
	assert_string_equal(body, "17");
	/* Another client may not use it, nor reset everyone's watches. */
	t_send(b, XS_WRITE, 3, 17, "x\0y", 3);
	t_send(b, XS_RESET_WATCHES, 4, 0, "", 0);
	pvk_xbmux_run(e->mux);
	assert_true(t_recv(b, &h, body) > 0);
	assert_int_equal(h.type, XS_ERROR);
	assert_string_equal(body, "EACCES");
	assert_true(t_recv(b, &h, body) > 0);
	assert_int_equal(h.type, XS_ERROR);
	assert_int_equal(t_srv_read(e, &r, body), -1); /* nothing sent */

	/* A goes: its transaction is aborted and its watch removed. */
	close(a);
	pvk_xbmux_run(e->mux);
	assert_true(t_srv_read(e, &r, body) >= 0);
	assert_int_equal(r.type, XS_TRANSACTION_END);
	assert_int_equal(r.tx_id, 17);
	assert_string_equal(body, "F");
	assert_true(t_srv_read(e, &r, body) >= 0);
	assert_int_equal(r.type, XS_UNWATCH);
	assert_string_equal(body + 2, ring_tok);
	close(b);
}

static void test_client_too_long(void **state)
{
	struct t_env *e = *state;
	int a = t_client(e), b = t_client(e);
	struct xsd_sockmsg h;
	char body[XENSTORE_PAYLOAD_MAX];

	h = (struct xsd_sockmsg){ XS_WRITE, 1, 0, XENSTORE_PAYLOAD_MAX + 1 };
	assert_int_equal(send(a, &h, sizeof(h), 0), sizeof(h));
	pvk_xbmux_run(e->mux);
	assert_int_equal(t_recv(a, &h, body), -1); /* disconnected */
	t_send(b, XS_READ, 9, 0, "b", 2);
	pvk_xbmux_run(e->mux);
	assert_int_equal(t_srv_read(e, &h, body), 2); /* b unaffected */
	close(a);
	close(b);
}

static void test_hostile_index(void **state)
{
	struct t_env *e = *state;
	int a = t_client(e);
	struct xsd_sockmsg h;
	char body[XENSTORE_PAYLOAD_MAX];

	e->intf->rsp_prod = e->intf->rsp_cons + XENSTORE_RING_SIZE + 1;
	pvk_xbmux_run(e->mux);
	assert_true(e->mux->broken);
	assert_int_equal(t_recv(a, &h, body), -1);
	close(a);
	a = t_client(e); /* refused from now on */
	assert_int_equal(t_recv(a, &h, body), -1);
	close(a);
}

static void test_hostile_length(void **state)
{
	struct t_env *e = *state;
	int a = t_client(e);
	struct xsd_sockmsg h = { XS_READ, 1, 0, XENSTORE_PAYLOAD_MAX + 1 };
	char body[XENSTORE_PAYLOAD_MAX];

	t_srv_raw(e, &h, sizeof(h));
	pvk_xbmux_run(e->mux);
	assert_true(e->mux->broken);
	assert_int_equal(t_recv(a, &h, body), -1);
	close(a);
}

static void test_stray_replies(void **state)
{
	struct t_env *e = *state;
	int a = t_client(e);
	struct xsd_sockmsg h;
	char body[XENSTORE_PAYLOAD_MAX];

	t_srv_write(e, XS_READ, 12345, 0, "?", 1); /* nobody asked */
	t_srv_write(e, XS_WATCH_EVENT, 0, 0, "no-nul", 6); /* malformed */
	t_srv_write(e, XS_WATCH_EVENT, 0, 0,
		    "p\0"
		    "99:t",
		    7); /* no client */
	pvk_xbmux_run(e->mux);
	assert_false(e->mux->broken);
	t_send(a, XS_READ, 3, 0, "a", 2);
	pvk_xbmux_run(e->mux);
	assert_true(t_srv_read(e, &h, body) >= 0);
	t_srv_write(e, XS_READ, h.req_id, 0, "v", 1);
	pvk_xbmux_run(e->mux);
	assert_int_equal(t_recv(a, &h, body), 1);
	assert_int_equal(h.req_id, 3);
	close(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_routing, t_setup,
						t_teardown),
		cmocka_unit_test_setup_teardown(test_watch_txn_cleanup, t_setup,
						t_teardown),
		cmocka_unit_test_setup_teardown(test_client_too_long, t_setup,
						t_teardown),
		cmocka_unit_test_setup_teardown(test_hostile_index, t_setup,
						t_teardown),
		cmocka_unit_test_setup_teardown(test_hostile_length, t_setup,
						t_teardown),
		cmocka_unit_test_setup_teardown(test_stray_replies, t_setup,
						t_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
