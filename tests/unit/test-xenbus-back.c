/* SPDX-License-Identifier: MIT */
/*
 * test-xenbus-back: the backend bus (pvkit/xenbus.h) on the loop
 * hypervisor, with a mock driver that counts the ops the bus calls.  The
 * toolstack and the frontend are played by hand through xenstore.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <pvkit/xenbus.h>

#include "../common/t_toolstack.h"

/* --- the mock driver ------------------------------------------------------ */

struct mock {
	struct pvk_xenbus_driver drv;
	int probe_ret;
	int probes, publishes, connects, disconnects, removes, resumes;
	char changed[64];
	int changes;
};

static int m_probe(struct pvk_xenbus_backdev *d)
{
	struct mock *m = d->drv_arg;

	m->probes++;
	d->priv = m;
	return m->probe_ret;
}

static int m_publish(struct pvk_xenbus_backdev *d, pvk_xs_txn_t t)
{
	struct mock *m = d->drv_arg;

	m->publishes++;
	return pvk_xenbus_printf(&d->xb, t, "feature-mock", "1");
}

static int m_connect(struct pvk_xenbus_backdev *d, char *msg, size_t len)
{
	struct mock *m = d->drv_arg;

	m->connects++;
	snprintf(msg, len, "mock connected");
	return 0;
}

static void m_disconnect(struct pvk_xenbus_backdev *d)
{
	struct mock *m = d->drv_arg;

	m->disconnects++;
}

static void m_changed(struct pvk_xenbus_backdev *d, const char *node)
{
	struct mock *m = d->drv_arg;

	/* Our own feature writes come here too; count the toolstack's. */
	if (!strcmp(node, "rate"))
		m->changes++;
	snprintf(m->changed, sizeof(m->changed), "%s", node);
}

static void m_remove(struct pvk_xenbus_backdev *d)
{
	struct mock *m = d->drv_arg;

	assert_ptr_equal(d->priv, m);
	m->removes++;
}

static void mock_init(struct mock *m, const char *type, bool on_initialised)
{
	memset(m, 0, sizeof(*m));
	m->drv = (struct pvk_xenbus_driver){
		.name = "mock",
		.type = type,
		.fe_type = "vif",
		.connect_on_initialised = on_initialised,
		.probe = m_probe,
		.publish = m_publish,
		.connect = m_connect,
		.disconnect = m_disconnect,
		.node_changed = m_changed,
		.remove = m_remove,
	};
}

/* --- the environment ------------------------------------------------------ */

struct env {
	struct pvk_loop *loop;
	struct pvk_hv *hv0, *tool, *hvu;
	uint32_t domu;
	struct pvk_xenbus_bus *bus;
	struct mock m[2]; /* here, not on a test's stack: teardown uses them */
	char lines[4096];
};

static void log_line(void *arg, const char *line)
{
	struct env *e = arg;
	size_t n = strlen(e->lines);

	snprintf(e->lines + n, sizeof(e->lines) - n, "%s\n", line);
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	assert_int_equal(pvk_loop_create(&e->loop), 0);
	assert_int_equal(pvk_hv_open_loop(&e->hv0, e->loop, 0), 0);
	assert_int_equal(pvk_hv_open_loop(&e->tool, e->loop, 0), 0);
	assert_int_equal(pvk_loop_domain_create(e->loop, "guest", &e->domu), 0);
	assert_int_equal(pvk_hv_open_loop(&e->hvu, e->loop, e->domu), 0);
	assert_int_equal(pvk_xenbus_bus_create(&e->bus, e->hv0, log_line, e),
			 0);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	pvk_xenbus_bus_destroy(e->bus);
	pvk_hv_close(e->hvu);
	pvk_hv_close(e->tool);
	pvk_hv_close(e->hv0);
	pvk_loop_destroy(e->loop);
	free(e);
	return 0;
}

static void attach(struct env *e, const char *type, uint32_t devid,
		   const char *fe_path)
{
	struct t_dev d = { .type = type,
			   .fe_type = "vif",
			   .be = 0,
			   .fe = e->domu,
			   .devid = devid,
			   .fe_path = fe_path };

	assert_int_equal(t_dev_attach(e->tool, &d), 0);
}

/* Let the bus handle what is queued, until nothing more comes. */
static void pump(struct env *e)
{
	struct pollfd p = { .fd = pvk_xenbus_bus_fd(e->bus), .events = POLLIN };
	int i;

	for (i = 0; i < 50; i++) {
		if (poll(&p, 1, 20) <= 0)
			return;
		assert_int_equal(pvk_xenbus_bus_handle_events(e->bus), 0);
	}
}

static unsigned long be_node(struct env *e, const char *type, uint32_t devid,
			     const char *node)
{
	char p[160];
	unsigned long v;

	snprintf(p, sizeof(p), "/local/domain/0/backend/%s/%u/%u/%s", type,
		 e->domu, devid, node);
	return pvk_xs_read_uint(e->tool, PVK_XS_NO_TXN, p, &v) ? 999 : v;
}

static void fe_state(struct env *e, uint32_t devid, int st)
{
	char p[128];

	snprintf(p, sizeof(p), "device/vif/%u/state", devid);
	assert_int_equal(pvk_xs_printf(e->hvu, PVK_XS_NO_TXN, p, "%d", st), 0);
}

static void be_write(struct env *e, const char *type, uint32_t devid,
		     const char *node, const char *val)
{
	char p[160];

	snprintf(p, sizeof(p), "/local/domain/0/backend/%s/%u/%u/%s", type,
		 e->domu, devid, node);
	assert_int_equal(pvk_xs_write(e->tool, PVK_XS_NO_TXN, p, val), 0);
}

/* --- tests ---------------------------------------------------------------- */

static void test_lifecycle(void **state)
{
	struct env *e = *state;
	struct mock *mp = &e->m[0];
	int conn;

	mock_init(mp, "pvkmock", false);
	assert_int_equal(pvk_xenbus_bus_register(e->bus, &mp->drv, mp), 0);
	assert_int_equal(pvk_xenbus_bus_register(e->bus, &mp->drv, mp),
			 -EEXIST);
	attach(e, "pvkmock", 0, NULL);
	pump(e);
	assert_int_equal(mp->probes, 1);
	assert_int_equal(mp->publishes, 1);
	assert_int_equal(be_node(e, "pvkmock", 0, "state"),
			 PVK_XENBUS_INITWAIT);
	assert_int_equal(be_node(e, "pvkmock", 0, "feature-mock"), 1);
	assert_int_equal(pvk_xenbus_bus_count(e->bus, &mp->drv, &conn), 1);
	assert_int_equal(conn, 0);

	/* netif connects on Connected only. */
	fe_state(e, 0, PVK_XENBUS_INITIALISED);
	pump(e);
	assert_int_equal(mp->connects, 0);
	fe_state(e, 0, PVK_XENBUS_CONNECTED);
	pump(e);
	assert_int_equal(mp->connects, 1);
	assert_int_equal(be_node(e, "pvkmock", 0, "state"),
			 PVK_XENBUS_CONNECTED);
	assert_int_equal(pvk_xenbus_bus_count(e->bus, NULL, &conn), 1);
	assert_int_equal(conn, 1);
	assert_non_null(strstr(e->lines, "mock 1/0: Connected - mock "
					 "connected"));

	/* Another node of ours changes: the driver hears of it. */
	be_write(e, "pvkmock", 0, "rate", "1000,20000");
	pump(e);
	assert_int_equal(mp->changes, 1);
	assert_string_equal(mp->changed, "rate");

	/* Frontend closes in order (Closing, then Closed), then comes back
	 * (Initialising, as Linux's frontends do): the device stays Closed
	 * until then -- xen-netfront's remove waits to read our Closed --
	 * then is published again. */
	fe_state(e, 0, PVK_XENBUS_CLOSING);
	pump(e);
	assert_int_equal(mp->disconnects, 1);
	assert_int_equal(be_node(e, "pvkmock", 0, "state"), PVK_XENBUS_CLOSING);
	fe_state(e, 0, PVK_XENBUS_CLOSED);
	pump(e);
	assert_int_equal(be_node(e, "pvkmock", 0, "state"), PVK_XENBUS_CLOSED);
	assert_int_equal(mp->publishes, 1);
	fe_state(e, 0, PVK_XENBUS_INITIALISING);
	pump(e);
	assert_int_equal(be_node(e, "pvkmock", 0, "state"),
			 PVK_XENBUS_INITWAIT);
	assert_int_equal(mp->publishes, 2);
	fe_state(e, 0, PVK_XENBUS_CONNECTED);
	pump(e);
	assert_int_equal(mp->connects, 2);

	/* The toolstack detaches (online=0, our state Closing). */
	be_write(e, "pvkmock", 0, "online", "0");
	be_write(e, "pvkmock", 0, "state", "5");
	pump(e);
	assert_true(mp->disconnects >= 2);
	assert_int_equal(mp->removes, 0);
	fe_state(e, 0, PVK_XENBUS_CLOSED);
	pump(e);
	assert_int_equal(mp->removes, 1);
	assert_int_equal(pvk_xenbus_bus_count(e->bus, &mp->drv, NULL), 0);
	assert_non_null(strstr(e->lines, "mock 1/0: removed (detached)"));
	pvk_xenbus_bus_unregister(e->bus, &mp->drv);
}

static void test_connect_on_initialised(void **state)
{
	struct env *e = *state;
	struct mock *mp = &e->m[0];

	mock_init(mp, "pvkblk", true);
	assert_int_equal(pvk_xenbus_bus_register(e->bus, &mp->drv, mp), 0);
	attach(e, "pvkblk", 3, NULL);
	pump(e);
	fe_state(e, 3, PVK_XENBUS_INITIALISED);
	pump(e);
	assert_int_equal(mp->connects, 1);
	assert_int_equal(be_node(e, "pvkblk", 3, "state"),
			 PVK_XENBUS_CONNECTED);
}

static void test_domain_gone_removes_directory(void **state)
{
	struct env *e = *state;
	struct mock *mp = &e->m[0];
	char p[96], *v;

	mock_init(mp, "pvkmock", false);
	assert_int_equal(pvk_xenbus_bus_register(e->bus, &mp->drv, mp), 0);
	attach(e, "pvkmock", 1, NULL);
	pump(e);
	fe_state(e, 1, PVK_XENBUS_CONNECTED);
	pump(e);
	assert_int_equal(mp->connects, 1);
	assert_int_equal(pvk_loop_domain_destroy(e->loop, e->domu), 0);
	pump(e);
	assert_int_equal(mp->removes, 1);
	assert_true(mp->disconnects >= 1);
	snprintf(p, sizeof(p), "/local/domain/0/backend/pvkmock/%u/1", e->domu);
	assert_int_equal(pvk_xs_read(e->tool, PVK_XS_NO_TXN, p, &v), -ENOENT);
	assert_non_null(strstr(e->lines, "frontend domain gone"));
}

static void test_drivers_do_not_share_devices(void **state)
{
	struct env *e = *state;
	struct mock *ap = &e->m[0], *bp = &e->m[1];

	mock_init(ap, "pvka", false);
	mock_init(bp, "pvkb", false);
	assert_int_equal(pvk_xenbus_bus_register(e->bus, &ap->drv, ap), 0);
	assert_int_equal(pvk_xenbus_bus_register(e->bus, &bp->drv, bp), 0);
	attach(e, "pvka", 0, NULL);
	pump(e);
	fe_state(e, 0, PVK_XENBUS_CONNECTED);
	pump(e);
	assert_int_equal(ap->probes, 1);
	assert_int_equal(ap->connects, 1);
	assert_int_equal(bp->probes, 0);
	assert_int_equal(bp->connects, 0);
	assert_int_equal(pvk_xenbus_bus_count(e->bus, &bp->drv, NULL), 0);
	assert_int_equal(pvk_xenbus_bus_count(e->bus, NULL, NULL), 1);
}

static void test_hostile_frontend_path_ignored(void **state)
{
	struct env *e = *state;
	struct mock *mp = &e->m[0];

	mock_init(mp, "pvkmock", false);
	assert_int_equal(pvk_xenbus_bus_register(e->bus, &mp->drv, mp), 0);
	/* The backend's frontend node names another domain's device. */
	attach(e, "pvkmock", 2, "/local/domain/0/device/vif/2");
	pump(e);
	assert_int_equal(mp->probes, 0);
	assert_int_equal(pvk_xenbus_bus_count(e->bus, NULL, NULL), 0);
	assert_int_equal(be_node(e, "pvkmock", 2, "state"), 1);
}

static void test_probe_failure_and_retry(void **state)
{
	struct env *e = *state;
	struct mock *mp = &e->m[0];
	int conn;

	mock_init(mp, "pvkmock", false);
	/* Not complete yet: dropped quietly, probed again later. */
	mp->probe_ret = -EAGAIN;
	assert_int_equal(pvk_xenbus_bus_register(e->bus, &mp->drv, mp), 0);
	attach(e, "pvkmock", 4, NULL);
	pump(e);
	assert_true(mp->probes >= 1);
	assert_int_equal(pvk_xenbus_bus_count(e->bus, NULL, NULL), 0);
	/* Failed: kept, never served, never connected. */
	mp->probe_ret = -EINVAL;
	be_write(e, "pvkmock", 4, "params", "x");
	pump(e);
	assert_int_equal(pvk_xenbus_bus_count(e->bus, NULL, &conn), 1);
	assert_int_equal(conn, 0);
	fe_state(e, 4, PVK_XENBUS_CONNECTED);
	pump(e);
	assert_int_equal(mp->connects, 0);
	assert_int_equal(mp->publishes, 0);
	assert_int_equal(be_node(e, "pvkmock", 4, "state"), 1);
	pvk_xenbus_bus_unregister(e->bus, &mp->drv);
	assert_int_equal(mp->removes, 1);
}

/* A frontend follows its backend into a directory of the backend's own
 * type, and nowhere else. */
static void test_frontend_follows_private_type(void **state)
{
	struct env *e = *state;
	struct pvk_xenbus_dev dev;
	char p[128], want[128];

	attach(e, "pvkmock", 5, NULL);
	assert_int_equal(pvk_xenbus_frontend_init(&dev, e->hvu, "vif", 5), 0);
	snprintf(want, sizeof(want), "/local/domain/0/backend/pvkmock/%u/5",
		 e->domu);
	assert_string_equal(pvk_xenbus_peer_path(&dev), want);
	snprintf(p, sizeof(p), "/local/domain/%u/device/vif/5/backend",
		 e->domu);
	snprintf(want, sizeof(want), "/local/domain/0/backend/a/b/%u/5",
		 e->domu);
	assert_int_equal(pvk_xs_write(e->tool, PVK_XS_NO_TXN, p, want), 0);
	assert_int_equal(pvk_xenbus_frontend_init(&dev, e->hvu, "vif", 5),
			 -EPROTO);
	snprintf(want, sizeof(want), "/local/domain/0/backend/pvkmock/%u/6",
		 e->domu);
	assert_int_equal(pvk_xs_write(e->tool, PVK_XS_NO_TXN, p, want), 0);
	assert_int_equal(pvk_xenbus_frontend_init(&dev, e->hvu, "vif", 5),
			 -EPROTO);
}

static void test_register_rejects_bad_drivers(void **state)
{
	struct env *e = *state;
	struct mock *mp = &e->m[0];

	mock_init(mp, "a/b", false);
	assert_int_equal(pvk_xenbus_bus_register(e->bus, &mp->drv, mp),
			 -EINVAL);
	mock_init(mp, "an-overlong-type-name", false);
	assert_int_equal(pvk_xenbus_bus_register(e->bus, &mp->drv, mp),
			 -EINVAL);
	mock_init(mp, "ok", false);
	mp->drv.connect = NULL;
	assert_int_equal(pvk_xenbus_bus_register(e->bus, &mp->drv, mp),
			 -EINVAL);
	assert_string_equal(pvk_xenbus_phase_name(PVK_XENBUS_PH_CONNECTED),
			    "Connected");
	assert_string_equal(pvk_xenbus_phase_name(42), "invalid");
}

/* Wait on the bus fd alone (no xenstore event is coming) for up to @ms
 * and handle what it reports; how long it took, in ms. */
static long wait_bus(struct env *e, int ms)
{
	struct pollfd p = { .fd = pvk_xenbus_bus_fd(e->bus), .events = POLLIN };
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (poll(&p, 1, ms) == 1)
		assert_int_equal(pvk_xenbus_bus_handle_events(e->bus), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0.tv_sec) * 1000 +
	       (t1.tv_nsec - t0.tv_nsec) / 1000000;
}

/* The frontend connects and drops to Closed @n times. */
static void flap(struct env *e, int n)
{
	for (int i = 0; i < n; i++) {
		fe_state(e, 0, PVK_XENBUS_CONNECTED);
		pump(e);
		fe_state(e, 0, PVK_XENBUS_CLOSED);
		pump(e);
	}
}

/* A frontend that reconnects in a loop (as pvkit's does when connecting
 * keeps failing) is offered the device at once 8 times, then once a
 * second; the bus fd wakes the caller when the next offer is due. */
static void test_reconnect_rate_limited(void **state)
{
	struct env *e = *state;
	struct mock *mp = &e->m[0];
	long waited;

	mock_init(mp, "pvkmock", false);
	assert_int_equal(pvk_xenbus_bus_register(e->bus, &mp->drv, mp), 0);
	attach(e, "pvkmock", 0, NULL);
	pump(e);
	assert_int_equal(mp->publishes, 1);
	flap(e, 12);
	/* The first offer is not a reconnection; then a burst of 8. */
	assert_int_equal(mp->publishes, 1 + 8);
	assert_int_equal(mp->connects, 9);
	assert_int_equal(be_node(e, "pvkmock", 0, "state"), PVK_XENBUS_CLOSED);
	assert_non_null(strstr(e->lines, "mock 1/0: reconnecting too often"));
	waited = wait_bus(e, 3000);
	assert_int_equal(be_node(e, "pvkmock", 0, "state"),
			 PVK_XENBUS_INITWAIT);
	assert_int_equal(mp->publishes, 10);
	print_message("the deferred offer came after %ld ms\n", waited);
	assert_true(waited >= 200 && waited < 2000);
	/* Not faster than once a second from now on. */
	fe_state(e, 0, PVK_XENBUS_CONNECTED);
	pump(e);
	fe_state(e, 0, PVK_XENBUS_CLOSED);
	pump(e);
	assert_int_equal(mp->publishes, 10);
	waited = wait_bus(e, 3000);
	assert_int_equal(mp->publishes, 11);
	assert_true(waited >= 500 && waited < 2000);
}

/* With the limit set to 0 every reconnection is offered at once, and
 * nothing is deferred; a limit over the maximum is refused. */
static void test_reconnect_unlimited(void **state)
{
	struct env *e = *state;
	struct mock *mp = &e->m[0];

	assert_int_equal(pvk_xenbus_bus_set_reconnect_ms(
				 e->bus, PVK_XENBUS_RECONNECT_MS_MAX + 1),
			 -EINVAL);
	assert_int_equal(pvk_xenbus_bus_set_reconnect_ms(e->bus, 0), 0);
	mock_init(mp, "pvkmock", false);
	assert_int_equal(pvk_xenbus_bus_register(e->bus, &mp->drv, mp), 0);
	attach(e, "pvkmock", 0, NULL);
	pump(e);
	flap(e, 12);
	assert_int_equal(mp->publishes, 1 + 12);
	assert_int_equal(mp->connects, 12);
	assert_int_equal(be_node(e, "pvkmock", 0, "state"),
			 PVK_XENBUS_INITWAIT);
	assert_null(strstr(e->lines, "reconnecting too often"));
}

/* A first offer that xenstore refuses (every commit conflicts) is made
 * again by the bus itself, woken through its fd. */
static void test_publish_retried(void **state)
{
	struct env *e = *state;
	struct mock *mp = &e->m[0];

	mock_init(mp, "pvkmock", false);
	assert_int_equal(pvk_xenbus_bus_register(e->bus, &mp->drv, mp), 0);
	attach(e, "pvkmock", 0, NULL);
	assert_int_equal(pvk_hv_fault_set(PVK_HV_FAULT_XS_COMMIT, 1), 0);
	pump(e);
	assert_int_equal(pvk_hv_fault_set(PVK_HV_FAULT_XS_COMMIT, 0), 0);
	assert_true(mp->publishes >= 1);
	assert_int_not_equal(be_node(e, "pvkmock", 0, "state"),
			     PVK_XENBUS_INITWAIT);
	assert_non_null(strstr(e->lines, "publishing features: Resource "
					 "temporarily unavailable (trying "
					 "again in"));
	wait_bus(e, 3000);
	assert_int_equal(be_node(e, "pvkmock", 0, "state"),
			 PVK_XENBUS_INITWAIT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lifecycle, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_connect_on_initialised,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_domain_gone_removes_directory, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_drivers_do_not_share_devices, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_hostile_frontend_path_ignored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reconnect_rate_limited,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_reconnect_unlimited, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_publish_retried, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_probe_failure_and_retry,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_register_rejects_bad_drivers, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_frontend_follows_private_type, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
