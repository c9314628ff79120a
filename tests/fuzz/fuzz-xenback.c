// SPDX-License-Identifier: MIT
/*
 * fuzz-xenback: the backend bus and blkback reading what a hostile
 * frontend writes in xenstore -- ring-ref lists, ring-page-order,
 * event-channel, multi-queue-num-queues and queue-N/ subtrees, protocol,
 * feature values and state transitions -- on the loop hypervisor, driven
 * synchronously (the bus's events are handled in this thread, so a run is
 * deterministic).
 *
 * Each input attaches a disk as the toolstack does, then plays the
 * frontend domain: writes and removes its nodes (each value raw bytes
 * from the input, or a real grant reference, a real unbound event-channel
 * port, a number or a state), handling the backend's events after each
 * step; then detaches (the toolstack removes both directories).
 * Checked: the backend's state node always holds a state 1-6; it is
 * Connected only while the frontend says Initialised or Connected; after
 * the detach the backend serves no device (nothing leaks from one
 * attachment to the next: ASan reports a leak at exit otherwise).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pvkit/blkback.h>
#include <pvkit/xenbus.h>

#include "../blk/back_tfront.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define DEVID 51712u
#define NGRANT 16
#define NPORT 4

static const char *const nodes[] = {
	"ring-ref",
	"ring-ref0",
	"ring-ref1",
	"ring-ref2",
	"ring-ref3",
	"ring-page-order",
	"num-ring-pages",
	"event-channel",
	"multi-queue-num-queues",
	"queue-0/ring-ref",
	"queue-0/event-channel",
	"queue-1/ring-ref",
	"queue-1/event-channel",
	"queue-0/ring-ref0",
	"queue-0/ring-ref1",
	"queue-1/ring-ref0",
	"queue-1/ring-ref1",
	"protocol",
	"feature-persistent",
	"state",
	"queue-0",
	"queue-2/ring-ref",
	"queue-2/event-channel",
	"event-channel-0",
};
#define NNODES (sizeof(nodes) / sizeof(nodes[0]))

enum {
	V_RAW, /* bytes from the input */
	V_GREF, /* a page the frontend really granted */
	V_PORT, /* a port really allocated for the backend */
	V_SMALL, /* a number 0-255 */
	V_U32, /* any 32-bit number */
	V_STATE, /* 1-6 */
	V_PROTO, /* a protocol name */
	V_COUNT
};

enum { OP_WRITE, OP_RM, OP_STATE, OP_PUMP, OP_COUNT };

static struct {
	struct pvk_loop *loop;
	struct pvk_hv *hv0, *tool, *hvu;
	struct pvk_blkback *bb;
	struct pvk_evtchn *ev;
	uint32_t dom, refs[NGRANT];
	void *pages;
	char img[64], fe_dir[128], be_dir[128];
} fx;

static void quiet(void *arg, const char *line)
{
	if (getenv("FUZZ_VERBOSE"))
		fprintf(stderr, "blkback: %s\n", line);
}

static void setup(void)
{
	struct pvk_blkback_config cfg = { .log = quiet,
					  .no_direct = true,
					  .max_ring_order = 2 };
	const char *dir = getenv("TMPDIR");
	int fd;

	FZ_CHECK(pvk_loop_create(&fx.loop) == 0);
	FZ_CHECK(pvk_hv_open_loop(&fx.hv0, fx.loop, 0) == 0);
	FZ_CHECK(pvk_hv_open_loop(&fx.tool, fx.loop, 0) == 0);
	FZ_CHECK(pvk_loop_domain_create(fx.loop, "fuzz", &fx.dom) == 0);
	FZ_CHECK(pvk_hv_open_loop(&fx.hvu, fx.loop, fx.dom) == 0);
	FZ_CHECK(pvk_evtchn_open(fx.hvu, &fx.ev) == 0);
	FZ_CHECK(pvk_hv_grant_alloc(fx.hvu, 0, NGRANT, true, fx.refs,
				    &fx.pages) == 0);
	FZ_CHECK(pvk_blkback_create(&fx.bb, fx.hv0, &cfg) == 0);
	snprintf(fx.img, sizeof(fx.img), "%s/pvk-fuzz-xenback-XXXXXX",
		 dir && *dir ? dir : "/tmp");
	fd = mkstemp(fx.img);
	FZ_CHECK(fd >= 0 && ftruncate(fd, 1 << 20) == 0);
	/* Gone from the directory at once (no file left behind however the
	 * fuzzer ends); the backend opens it through this process's fd. */
	unlink(fx.img);
	snprintf(fx.img, sizeof(fx.img), "/proc/self/fd/%d", fd);
	snprintf(fx.fe_dir, sizeof(fx.fe_dir), "/local/domain/%u/device/vbd/%u",
		 fx.dom, DEVID);
	snprintf(fx.be_dir, sizeof(fx.be_dir),
		 "/local/domain/0/backend/vbd/%u/%u", fx.dom, DEVID);
}

/* Handle the backend's events until it has none (bounded). */
static void pump(void)
{
	struct pollfd p = { .fd = pvk_blkback_fd(fx.bb), .events = POLLIN };
	int i;

	for (i = 0; i < 64 && poll(&p, 1, 0) > 0; i++)
		pvk_blkback_handle_events(fx.bb);
}

static int read_state(const char *dir)
{
	char p[160], *v = NULL, *end;
	long st;

	snprintf(p, sizeof(p), "%s/state", dir);
	if (pvk_xs_read(fx.tool, PVK_XS_NO_TXN, p, &v) < 0)
		return -1;
	st = strtol(v, &end, 10);
	if (*v == '\0' || *end != '\0')
		st = -2;
	free(v);
	return (int)st;
}

static void check(void)
{
	int be = read_state(fx.be_dir), fe = read_state(fx.fe_dir);

	/* Absent (-1) once the device is gone; otherwise a state. */
	FZ_CHECK(be == -1 || (be >= 1 && be <= 6));
	if (be == PVK_XENBUS_CONNECTED)
		FZ_CHECK(fe == PVK_XENBUS_INITIALISED ||
			 fe == PVK_XENBUS_CONNECTED);
}

static void value(struct fz *f, char *v, size_t len, const int *ports)
{
	static const char *const protos[] = { "x86_64-abi", "x86_32-abi",
					      "arm-abi", "native", "" };
	uint8_t k;

	switch (fz_u8(f) % V_COUNT) {
	case V_RAW:
		k = fz_u8(f) % 24;
		fz_bytes(f, v, k);
		v[k] = '\0';
		break;
	case V_GREF:
		snprintf(v, len, "%u", fx.refs[fz_u8(f) % NGRANT]);
		break;
	case V_PORT:
		snprintf(v, len, "%d", ports[fz_u8(f) % NPORT]);
		break;
	case V_SMALL:
		snprintf(v, len, "%u", fz_u8(f));
		break;
	case V_U32:
		snprintf(v, len, "%u", fz_u32(f));
		break;
	case V_STATE:
		snprintf(v, len, "%u", 1 + fz_u8(f) % 6);
		break;
	case V_PROTO:
		snprintf(v, len, "%s", protos[fz_u8(f) % 5]);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	int ports[NPORT], i, steps = 0, conn;
	char p[192], v[40];

	if (!fx.loop)
		setup();
	for (i = 0; i < NPORT; i++) {
		ports[i] = pvk_evtchn_alloc_unbound(fx.ev, 0);
		FZ_CHECK(ports[i] >= 0);
	}
	FZ_CHECK(t_attach(fx.tool, 0, fx.dom, DEVID, fx.img, fz_u8(&f) & 1) ==
		 0);
	pump();
	check();
	while (fz_more(&f) && steps++ < 64) {
		uint8_t op = fz_u8(&f) % OP_COUNT;

		switch (op) {
		case OP_WRITE:
			snprintf(p, sizeof(p), "%s/%s", fx.fe_dir,
				 nodes[fz_u8(&f) % NNODES]);
			value(&f, v, sizeof(v), ports);
			/* Refused writes (a bad path byte) are fine. */
			(void)pvk_xs_write(fx.hvu, PVK_XS_NO_TXN, p, v);
			break;
		case OP_RM:
			snprintf(p, sizeof(p), "%s/%s", fx.fe_dir,
				 nodes[fz_u8(&f) % NNODES]);
			(void)pvk_xs_rm(fx.hvu, PVK_XS_NO_TXN, p);
			break;
		case OP_STATE:
			snprintf(p, sizeof(p), "%s/state", fx.fe_dir);
			(void)pvk_xs_printf(fx.hvu, PVK_XS_NO_TXN, p, "%u",
					    fz_u8(&f) % 8);
			break;
		case OP_PUMP:
			break;
		}
		pump();
		check();
	}
	/* The toolstack's forced detach: both directories go. */
	FZ_CHECK(pvk_xs_rm(fx.tool, PVK_XS_NO_TXN, fx.be_dir) == 0);
	FZ_CHECK(pvk_xs_rm(fx.tool, PVK_XS_NO_TXN, fx.fe_dir) == 0);
	pump();
	FZ_CHECK(pvk_blkback_count(fx.bb, &conn) == 0);
	for (i = 0; i < NPORT; i++)
		pvk_evtchn_unbind(fx.ev, (uint32_t)ports[i]);
	return 0;
}

static void w(struct fz_out *o, int node, uint8_t kind, uint8_t arg)
{
	fzo_u8(o, OP_WRITE);
	fzo_u8(o, (uint8_t)node);
	fzo_u8(o, kind);
	fzo_u8(o, arg);
}

/* Seeds: the negotiations a correct frontend performs. */
void fuzz_seeds(void)
{
	struct fz_out o;

	/* One page, one queue, as a minimal frontend. */
	o.n = 0;
	fzo_u8(&o, 0);
	w(&o, 0, V_GREF, 0);
	w(&o, 7, V_PORT, 0);
	w(&o, 17, V_PROTO, 0);
	fzo_u8(&o, OP_STATE);
	fzo_u8(&o, PVK_XENBUS_INITIALISED);
	fzo_u8(&o, OP_STATE);
	fzo_u8(&o, PVK_XENBUS_CONNECTED);
	fz_seed_emit("seed-single", &o);

	/* Two pages, two queues, persistent grants; then Closing. */
	o.n = 0;
	fzo_u8(&o, 0);
	w(&o, 5, V_SMALL, 1);
	w(&o, 8, V_SMALL, 2);
	w(&o, 13, V_GREF, 1);
	w(&o, 14, V_GREF, 2);
	w(&o, 10, V_PORT, 1);
	w(&o, 15, V_GREF, 3);
	w(&o, 16, V_GREF, 4);
	w(&o, 12, V_PORT, 2);
	w(&o, 18, V_SMALL, 1);
	fzo_u8(&o, OP_STATE);
	fzo_u8(&o, PVK_XENBUS_INITIALISED);
	fzo_u8(&o, OP_STATE);
	fzo_u8(&o, PVK_XENBUS_CLOSING);
	fzo_u8(&o, OP_STATE);
	fzo_u8(&o, PVK_XENBUS_CLOSED);
	fz_seed_emit("seed-multi", &o);
}
