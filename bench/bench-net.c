// SPDX-License-Identifier: MIT
/*
 * bench-net: 64-byte packets per second through one queue of pvkit's
 * netback, each way, against the same packets moved by a plain TAP reader
 * or writer on the same bridge, measured in the same run:
 *
 *   tx (guest -> dom0)  a frontend (raw netif rings, in this process, on
 *                       the loop hypervisor) keeps the tx ring full;
 *                       netback grant-copies each packet and writes it to
 *                       its TAP.  Baseline: writev() of the same frames
 *                       with a vnet header to a TAP on the same bridge.
 *   rx (dom0 -> guest)  a writer floods 64-byte broadcasts into a source
 *                       TAP on the bridge; netback reads them from its TAP
 *                       and grant-copies them into the buffers the
 *                       frontend keeps posted.  Baseline: a reader of a
 *                       plain TAP on the same bridge, with the same writer.
 *
 * Everything runs in a network namespace of its own (root).  Figures are
 * rates over --seconds (default 2) each; the ratio is pvkit/baseline.
 *
 * With --tcp FILE it also records the TCP cases bench/net-tcp.sh measured
 * (`make bench-net` runs both): one TCP stream with GSO from a guest to
 * dom0 and to another guest, against a veth pair, in the same run.
 *
 *   bench-net [--seconds N] [--tcp FILE]
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include <linux/virtio_net.h>

#include <pvkit/net.h>
#include <pvkit/netback.h>
#include <pvkit/netif.h>
#include <pvkit/xenbus.h>

#include "../tests/common/t_toolstack.h"
#include "bench.h"

#define NPAGES 256
#define FRAME 64

struct fe {
	struct pvk_hv *hv;
	struct pvk_ring tx, rx;
	void *tx_sring, *rx_sring, *pages;
	uint32_t tx_ref, rx_ref, refs[NPAGES];
	struct pvk_evtchn *ev;
	uint32_t port;
};

static struct pvk_xenbus_bus *bus;
static volatile bool stop;

static void die(const char *what, int err)
{
	fprintf(stderr, "bench-net: %s: %s\n", what, strerror(err));
	exit(1);
}

#define CK(call)                         \
	do {                             \
		int e_ = (call);         \
		if (e_ < 0)              \
			die(#call, -e_); \
	} while (0)

static void frame(uint8_t *f)
{
	memset(f, 0xff, 6);
	memcpy(f + 6, "\x00\x16\x3e\x00\x00\x01\x88\xb5", 8);
	memset(f + 14, 0xa5, FRAME - 14);
}

static void pump_until(struct pvk_hv *tool, const char *path, unsigned v)
{
	struct pollfd p = { .fd = pvk_xenbus_bus_fd(bus), .events = POLLIN };
	unsigned long cur;
	int i;

	for (i = 0; i < 500; i++) {
		if (pvk_xs_read_uint(tool, 0, path, &cur) == 0 && cur == v)
			return;
		if (poll(&p, 1, 10) > 0)
			pvk_xenbus_bus_handle_events(bus);
	}
	die(path, ETIMEDOUT);
}

static void fe_connect(struct fe *f, struct pvk_hv *tool, uint32_t domu)
{
	char p[96];
	int port;

	static const char *const be[] = { "mac=00:16:3e:00:00:01", "handle=0",
					  "bridge=pvkbr", NULL };
	struct t_dev d = { .type = "vif",
			   .fe_type = "vif",
			   .be = 0,
			   .fe = domu,
			   .devid = 0,
			   .be_nodes = be };

	CK(t_dev_attach(tool, &d));
	snprintf(p, sizeof(p), "/local/domain/0/backend/vif/%u/0/state", domu);
	pump_until(tool, p, PVK_XENBUS_INITWAIT);
	CK(pvk_hv_grant_alloc(f->hv, 0, 1, true, &f->tx_ref, &f->tx_sring));
	CK(pvk_hv_grant_alloc(f->hv, 0, 1, true, &f->rx_ref, &f->rx_sring));
	CK(pvk_hv_grant_alloc(f->hv, 0, NPAGES, true, f->refs, &f->pages));
	CK(pvk_netif_tx_front_init(&f->tx, f->tx_sring, PVK_PAGE_SIZE));
	CK(pvk_netif_rx_front_init(&f->rx, f->rx_sring, PVK_PAGE_SIZE));
	CK(pvk_evtchn_open(f->hv, &f->ev));
	port = pvk_evtchn_alloc_unbound(f->ev, 0);
	CK(port);
	f->port = (uint32_t)port;
	CK(pvk_xs_printf(f->hv, 0, "device/vif/0/tx-ring-ref", "%u",
			 f->tx_ref));
	CK(pvk_xs_printf(f->hv, 0, "device/vif/0/rx-ring-ref", "%u",
			 f->rx_ref));
	CK(pvk_xs_printf(f->hv, 0, "device/vif/0/event-channel", "%u",
			 f->port));
	CK(pvk_xs_write(f->hv, 0, "device/vif/0/request-rx-copy", "1"));
	CK(pvk_xs_write(f->hv, 0, "device/vif/0/feature-rx-notify", "1"));
	CK(pvk_xs_write(f->hv, 0, "device/vif/0/state", "4"));
	pump_until(tool, p, PVK_XENBUS_CONNECTED);
}

static void fe_wait(struct fe *f)
{
	int port = pvk_evtchn_wait(f->ev, 10);

	if (port >= 0)
		pvk_evtchn_unmask(f->ev, (uint32_t)port);
}

/* The frontend keeps the tx ring full of 64-byte packets. */
static double pv_tx(struct fe *f, double secs)
{
	struct pvk_netif_tx_response r;
	struct pvk_netif_tx_request q;
	uint64_t t0 = pvk_bench_now_ns(), n = 0, end;
	uint16_t id = 0;
	uint32_t i;

	for (i = 0; i < 32; i++)
		frame((uint8_t *)f->pages + i * 128);
	end = t0 + (uint64_t)(secs * 1e9);
	while (pvk_bench_now_ns() < end) {
		while (pvk_ring_space(&f->tx)) {
			q = (struct pvk_netif_tx_request){
				.gref = f->refs[0],
				.offset = (uint16_t)((id % 32) * 128),
				.id = id,
				.size = FRAME
			};
			id++;
			pvk_netif_tx_put_request(&f->tx, &q);
		}
		if (pvk_ring_push(&f->tx))
			pvk_evtchn_notify(f->ev, f->port);
		while (pvk_ring_get(&f->tx, &r, sizeof(r)) == 1)
			n += r.status == PVK_NETIF_RSP_OKAY;
		if (!pvk_ring_space(&f->tx) &&
		    pvk_ring_final_check(&f->tx) == 0)
			fe_wait(f);
	}
	return (double)n / ((double)(pvk_bench_now_ns() - t0) / 1e9);
}

/* The frontend keeps the rx ring full of buffers and counts frames. */
static double pv_rx(struct fe *f, double secs)
{
	struct pvk_netif_rx_response r;
	struct pvk_netif_rx_request q;
	uint64_t t0, n = 0, end;
	uint16_t id = 0;

	t0 = pvk_bench_now_ns();
	end = t0 + (uint64_t)(secs * 1e9);
	while (pvk_bench_now_ns() < end) {
		while (pvk_ring_space(&f->rx)) {
			q = (struct pvk_netif_rx_request){
				.id = id, .gref = f->refs[id % NPAGES]
			};
			id++;
			pvk_netif_rx_put_request(&f->rx, &q);
		}
		if (pvk_ring_push(&f->rx))
			pvk_evtchn_notify(f->ev, f->port);
		while (pvk_ring_get(&f->rx, &r, sizeof(r)) == 1)
			n += r.status == FRAME;
		if (pvk_ring_final_check(&f->rx) == 0)
			fe_wait(f);
	}
	return (double)n / ((double)(pvk_bench_now_ns() - t0) / 1e9);
}

static int tap_on_bridge(struct pvk_nl *nl, const char *name)
{
	char ifn[PVK_NET_IFNAMSIZ];
	int fd;

	CK(pvk_tap_open(name, PVK_TAP_VNET_HDR, 1, &fd, ifn));
	CK(pvk_nl_link_set_master(nl, ifn, "pvkbr"));
	CK(pvk_nl_link_set_up(nl, ifn, true));
	/* Blocking: the baselines wait in the kernel as netback does. */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return fd;
}

static double native_tx(int fd, double secs)
{
	struct virtio_net_hdr vh = { 0 };
	uint8_t f[FRAME];
	struct iovec iov[2] = { { &vh, sizeof(vh) }, { f, FRAME } };
	uint64_t t0 = pvk_bench_now_ns(), n = 0, end;

	frame(f);
	end = t0 + (uint64_t)(secs * 1e9);
	while (pvk_bench_now_ns() < end)
		n += writev(fd, iov, 2) > 0;
	return (double)n / ((double)(pvk_bench_now_ns() - t0) / 1e9);
}

static void *flood(void *arg)
{
	struct virtio_net_hdr vh = { 0 };
	uint8_t f[FRAME];
	struct iovec iov[2] = { { &vh, sizeof(vh) }, { f, FRAME } };
	int fd = *(int *)arg;

	frame(f);
	while (!stop)
		(void)!writev(fd, iov, 2);
	return NULL;
}

static double native_rx(int fd, double secs)
{
	uint8_t buf[2048];
	uint64_t t0 = pvk_bench_now_ns(), n = 0, end;
	struct pollfd p = { .fd = fd, .events = POLLIN };

	end = t0 + (uint64_t)(secs * 1e9);
	while (pvk_bench_now_ns() < end)
		if (poll(&p, 1, 10) > 0)
			n += read(fd, buf, sizeof(buf)) ==
			     (ssize_t)(sizeof(struct virtio_net_hdr) + FRAME);
	return (double)n / ((double)(pvk_bench_now_ns() - t0) / 1e9);
}

/*
 * The TCP cases bench/net-tcp.sh measured on the simulator (guests running
 * pvkit's netfront in `pvkit nic serve-tap`, pvkit-backd): "NAME MB/s"
 * lines, veth.tcp first, the baseline of the others.
 */
static void tcp_cases(struct pvk_bench *b, const char *path)
{
	char name[64];
	double v, veth = 0;
	FILE *f = fopen(path, "re");

	if (!f)
		die(path, errno);
	while (fscanf(f, "%63s %lf", name, &v) == 2) {
		if (!strcmp(name, "veth.tcp")) {
			veth = v;
			pvk_bench_case(b, name, "throughput", "MB/s", v, NULL,
				       0);
		} else {
			pvk_bench_case(b, name, "throughput", "MB/s", v,
				       veth ? "veth.tcp" : NULL, veth);
		}
	}
	fclose(f);
}

int main(int argc, char **argv)
{
	struct pvk_netback_config cfg = { .type = "vif",
					  .max_queues = 1,
					  .bridge = "pvkbr",
					  .tap_fmt = "pvkb%u.%u" };
	struct pvk_hv *hv0, *tool;
	struct pvk_netback *nb;
	struct pvk_loop *loop;
	struct pvk_bench *b;
	struct pvk_nl *nl;
	struct fe f = { 0 };
	double secs = 2, pv, nat;
	const char *tcp = NULL;
	uint32_t domu;
	pthread_t th;
	int nat_fd, src_fd;

	for (int i = 1; i < argc; i += 2) {
		if (i + 1 < argc && !strcmp(argv[i], "--seconds"))
			secs = atof(argv[i + 1]);
		else if (i + 1 < argc && !strcmp(argv[i], "--tcp"))
			tcp = argv[i + 1];
		else
			secs = -1;
	}
	if (secs <= 0 || secs > 60) {
		fprintf(stderr, "usage: bench-net [--seconds N (0-60)] "
				"[--tcp FILE (from bench/net-tcp.sh)]\n");
		return 2;
	}
	if (unshare(CLONE_NEWNET) < 0)
		die("a network namespace of its own (run as root)", errno);
	CK(pvk_loop_create(&loop));
	CK(pvk_hv_open_loop(&hv0, loop, 0));
	CK(pvk_hv_open_loop(&tool, loop, 0));
	CK(pvk_loop_domain_create(loop, "guest", &domu));
	CK(pvk_hv_open_loop(&f.hv, loop, domu));
	CK(pvk_xenbus_bus_create(&bus, hv0, NULL, NULL));
	CK(pvk_netback_create_on(&nb, bus, &cfg));
	fe_connect(&f, tool, domu);
	CK(pvk_nl_open(&nl));
	nat_fd = tap_on_bridge(nl, "pvknat0");
	src_fd = tap_on_bridge(nl, "pvksrc0");

	b = pvk_bench_open("net");
	if (!b)
		die("pvk_bench_open", errno);
	printf("bench-net: 64-byte frames, one queue, %.1f s per case\n", secs);
	nat = native_tx(nat_fd, secs);
	pvk_bench_case(b, "tap.tx64", "rate", "pps", nat, NULL, 0);
	pv = pv_tx(&f, secs);
	pvk_bench_case(b, "pv.tx64", "rate", "pps", pv, "tap.tx64", nat);

	pthread_create(&th, NULL, flood, &src_fd);
	nat = native_rx(nat_fd, secs);
	pvk_bench_case(b, "tap.rx64", "rate", "pps", nat, NULL, 0);
	pv = pv_rx(&f, secs);
	pvk_bench_case(b, "pv.rx64", "rate", "pps", pv, "tap.rx64", nat);
	stop = true;
	pthread_join(th, NULL);

	if (tcp)
		tcp_cases(b, tcp);
	close(nat_fd);
	close(src_fd);
	pvk_nl_close(nl);
	pvk_netback_destroy(nb);
	pvk_xenbus_bus_destroy(bus);
	return pvk_bench_close(b) ? 1 : 0;
}
