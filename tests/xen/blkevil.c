/* SPDX-License-Identifier: MIT */
/*
 * pvk-xen-blkevil: a hostile blkif backend in dom0, for the real-Xen
 * lane's check of pvkit-blkfront's hardening.
 *
 *   pvk-xen-blkevil FE_DOMID DEVID CASE
 *
 * It serves backend/pvkvbd/FE_DOMID/DEVID (written by `pvkit disk attach
 * --type pvkvbd --frontend-type pvkvbd`, with no pvkit-backd running): a
 * 4 MiB disk, no optional feature, a one-page ring.  The first request
 * the frontend sends is answered in one of these wrong ways:
 *
 *   bad-id         a response id the frontend never used (1000000)
 *   dup-id         a correct response, then the same id again
 *   bad-status     status 7 (blkif has 0, -1, -2)
 *   bad-op         operation 0x42 instead of the request's
 *   prod-overflow  rsp_prod 2^31 ahead of the requests published
 *
 * It then watches the ring's req_prod for WATCH_SECS seconds, switches to
 * Closed and prints "CASE sent; req_prod A at +1s, B at the end": a
 * latched frontend publishes nothing more (A == B) however much I/O is
 * tried meanwhile.  Exit status: 0 when the case was sent, 1 when the
 * handshake failed, 2 on usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pvkit/blkif.h>
#include <pvkit/hv.h>
#include <pvkit/xenbus.h>

#define WATCH_SECS 8
#define DISK_SECTORS 8192

static int wait_peer(struct pvk_xenbus_dev *dev, int want, int secs)
{
	int st = 0, i;

	for (i = 0; i < secs * 10; i++) {
		st = pvk_xenbus_read_state(dev, true);
		if (st == want)
			return 0;
		usleep(100000);
	}
	fprintf(stderr, "pvk-xen-blkevil: frontend is %s, wanted %s\n",
		st < 0 ? strerror(-st) : pvk_xenbus_state_name(st),
		pvk_xenbus_state_name(want));
	return -ETIMEDOUT;
}

static void answer(struct pvk_ring *r, uint64_t id, uint8_t op, int16_t st)
{
	struct pvk_blkif_response rsp = { .id = id,
					  .operation = op,
					  .status = st };

	pvk_blkif_put_response(r, &rsp);
}

/* Write a response straight into the shared ring and publish it, past
 * what the ring API lets a backend produce. */
static void force_answer(struct pvk_blkif_sring *s, uint64_t id, uint8_t op)
{
	pvk_ring_idx_t prod = s->rsp_prod;

	s->ring[prod & (pvk_blkif_ring_size(PVK_PAGE_SIZE) - 1)].rsp =
		(struct pvk_blkif_response){ .id = id, .operation = op };
	__atomic_store_n(&s->rsp_prod, prod + 1, __ATOMIC_RELEASE);
}

/* Answer the first request @req the wrong way @name; 0 or -EINVAL. */
static int send_case(struct pvk_ring *r, struct pvk_blkif_sring *s,
		     const union pvk_blkif_any_request *req, const char *name)
{
	uint8_t op = req->hdr.operation;
	uint64_t id = op == PVK_BLKIF_OP_INDIRECT ? req->indirect.id :
						    req->rw.id;

	if (!strcmp(name, "bad-id")) {
		answer(r, 1000000, op, PVK_BLKIF_RSP_OKAY);
	} else if (!strcmp(name, "dup-id")) {
		answer(r, id, op, PVK_BLKIF_RSP_OKAY);
		pvk_ring_push(r);
		force_answer(s, id, op); /* the same id again */
		return 0;
	} else if (!strcmp(name, "bad-status")) {
		answer(r, id, op, 7);
	} else if (!strcmp(name, "bad-op")) {
		answer(r, id, 0x42, PVK_BLKIF_RSP_OKAY);
	} else if (!strcmp(name, "prod-overflow")) {
		answer(r, id, op, PVK_BLKIF_RSP_OKAY);
		pvk_ring_push(r);
		__atomic_store_n(&s->rsp_prod, s->rsp_prod + 0x80000000u,
				 __ATOMIC_RELEASE);
		return 0;
	} else {
		return -EINVAL;
	}
	pvk_ring_push(r);
	return 0;
}

static int setup(struct pvk_xenbus_dev *dev, struct pvk_hv *hv, uint32_t fe,
		 uint32_t devid, struct pvk_evtchn **ev, int *port, void **ring)
{
	unsigned long ref, rport;
	uint32_t gref;
	int err;

	err = pvk_xenbus_backend_init_as(dev, hv, "pvkvbd", "pvkvbd", fe,
					 devid);
	if (err < 0)
		return err;
	err = pvk_xenbus_printf(dev, PVK_XS_NO_TXN, "sectors", "%u",
				DISK_SECTORS);
	if (!err)
		err = pvk_xenbus_printf(dev, PVK_XS_NO_TXN, "info", "0");
	if (!err)
		err = pvk_xenbus_printf(dev, PVK_XS_NO_TXN, "sector-size",
					"512");
	if (!err)
		err = pvk_xenbus_switch_state(dev, PVK_XENBUS_INITWAIT);
	if (!err)
		err = wait_peer(dev, PVK_XENBUS_INITIALISED, 30);
	if (!err)
		err = pvk_xenbus_read_feature(dev, PVK_XS_NO_TXN, "ring-ref", 0,
					      &ref);
	if (!err)
		err = pvk_xenbus_read_feature(dev, PVK_XS_NO_TXN,
					      "event-channel", 0, &rport);
	if (err < 0)
		return err;
	gref = (uint32_t)ref;
	err = pvk_hv_grant_map(hv, fe, 1, &gref, true, ring);
	if (err < 0)
		return err;
	err = pvk_evtchn_open(hv, ev);
	if (err < 0)
		return err;
	*port = pvk_evtchn_bind(*ev, fe, (uint32_t)rport);
	if (*port < 0)
		return *port;
	return pvk_xenbus_switch_state(dev, PVK_XENBUS_CONNECTED);
}

int main(int argc, char **argv)
{
	union pvk_blkif_any_request req;
	struct pvk_xenbus_dev dev;
	struct pvk_evtchn *ev = NULL;
	struct pvk_hv *hv = NULL;
	struct pvk_ring r;
	void *ring = NULL;
	struct pvk_blkif_sring *sring;
	pvk_ring_idx_t early, late;
	int err, port = -1, n = 0, i;

	if (argc != 4) {
		fprintf(stderr,
			"usage: pvk-xen-blkevil FE_DOMID DEVID CASE\n"
			"CASE: bad-id dup-id bad-status bad-op prod-overflow\n");
		return 2;
	}
	err = pvk_hv_open(&hv, 0);
	if (!err)
		err = setup(&dev, hv, (uint32_t)atoi(argv[1]),
			    (uint32_t)atoi(argv[2]), &ev, &port, &ring);
	if (!err)
		err = pvk_blkif_back_attach(&r, ring, PVK_PAGE_SIZE);
	if (err < 0) {
		fprintf(stderr, "pvk-xen-blkevil: handshake: %s\n",
			strerror(-err));
		return 1;
	}
	sring = ring;
	/* The first request, then WATCH_SECS seconds of watching. */
	for (i = 0; i < 300 && !n; i++) {
		if (pvk_blkif_get_any_request(&r, &req) == 1) {
			n = 1;
			if (send_case(&r, ring, &req, argv[3]) < 0) {
				fprintf(stderr, "pvk-xen-blkevil: no case %s\n",
					argv[3]);
				return 2;
			}
			pvk_evtchn_notify(ev, (uint32_t)port);
			break;
		}
		usleep(100000);
	}
	if (!n) {
		fprintf(stderr, "pvk-xen-blkevil: no request in 30 s\n");
		return 1;
	}
	sleep(1);
	early = __atomic_load_n(&sring->req_prod, __ATOMIC_ACQUIRE);
	sleep(WATCH_SECS - 1);
	late = __atomic_load_n(&sring->req_prod, __ATOMIC_ACQUIRE);
	printf("%s sent; req_prod %u at +1s, %u at the end\n", argv[3], early,
	       late);
	pvk_xenbus_switch_state(&dev, PVK_XENBUS_CLOSED);
	wait_peer(&dev, PVK_XENBUS_CLOSED, 10);
	pvk_evtchn_close(ev);
	pvk_hv_grant_unmap(hv, ring, 1);
	pvk_hv_close(hv);
	return 0;
}
