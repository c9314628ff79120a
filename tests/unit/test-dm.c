/* SPDX-License-Identifier: MIT */
/*
 * test-dm: ioreq servers (pvkit/dm.h, pvkit/ioreq.h) on the loop
 * hypervisor.  A device-model thread on domain 0 serves a register file
 * for a guest whose vCPU (the test's thread) traps into it; the device
 * model can be told to misbehave.  The wire format is checked against
 * Xen's own hvm/ioreq.h.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include <xen/xen.h>
#include <xen/hvm/ioreq.h>

#include <pvkit/dm.h>

/* --- the wire format against Xen's ------------------------------------- */

static void t_abi(void **state)
{
	struct ioreq x;
	struct pvk_ioreq p;
	struct buf_ioreq xb;
	struct pvk_buf_ioreq pb;

	(void)state;
	assert_int_equal(sizeof(struct pvk_ioreq), sizeof(struct ioreq));
	assert_int_equal(offsetof(struct pvk_ioreq, addr),
			 offsetof(struct ioreq, addr));
	assert_int_equal(offsetof(struct pvk_ioreq, data),
			 offsetof(struct ioreq, data));
	assert_int_equal(offsetof(struct pvk_ioreq, count),
			 offsetof(struct ioreq, count));
	assert_int_equal(offsetof(struct pvk_ioreq, size),
			 offsetof(struct ioreq, size));
	assert_int_equal(offsetof(struct pvk_ioreq, vp_eport),
			 offsetof(struct ioreq, vp_eport));
	assert_int_equal(offsetof(struct pvk_ioreq, type),
			 offsetof(struct ioreq, type));
	/* Each of Xen's bitfields lands on our flag bits. */
	memset(&x, 0, sizeof(x));
	x.state = STATE_IORESP_READY;
	x.dir = IOREQ_READ;
	x.df = 1;
	x.data_is_ptr = 1;
	x.type = IOREQ_TYPE_COPY;
	memcpy(&p, &x, sizeof(p));
	assert_int_equal(pvk_ioreq_state(&p), PVK_IORESP_READY);
	assert_int_equal(p.flags, PVK_IORESP_READY | PVK_IOREQ_F_DIR_READ |
					  PVK_IOREQ_F_DF |
					  PVK_IOREQ_F_DATA_IS_PTR);
	assert_int_equal(p.type, PVK_IOREQ_TYPE_COPY);
	assert_int_equal(STATE_IOREQ_INPROCESS, PVK_IOREQ_INPROCESS);
	assert_int_equal(IOREQ_TYPE_PIO, PVK_IOREQ_TYPE_PIO);

	assert_int_equal(sizeof(struct pvk_buf_ioreq),
			 sizeof(struct buf_ioreq));
	memset(&xb, 0, sizeof(xb));
	xb.type = IOREQ_TYPE_COPY;
	xb.dir = 0;
	xb.size = 2;
	xb.addr = 0xabcde;
	xb.data = 0x12345678;
	memcpy(&pb, &xb, sizeof(pb));
	assert_int_equal(pvk_buf_ioreq_type(&pb), IOREQ_TYPE_COPY);
	assert_int_equal(pvk_buf_ioreq_size(&pb), 4);
	assert_int_equal(pvk_buf_ioreq_addr(&pb), 0xabcde);
	assert_int_equal(pb.data, 0x12345678);
	assert_int_equal(sizeof(struct pvk_buf_iopage),
			 sizeof(struct buffered_iopage));
	assert_int_equal(offsetof(struct pvk_buf_iopage, slot),
			 offsetof(struct buffered_iopage, buf_ioreq));
}

static void t_check(void **state)
{
	struct pvk_ioreq r = { .addr = 0x1f0, .size = 2, .count = 1 };

	(void)state;
	assert_int_equal(pvk_ioreq_check(&r), 0);
	r.size = 3;
	assert_int_equal(pvk_ioreq_check(&r), -EINVAL);
	r.size = 4;
	r.count = 0;
	assert_int_equal(pvk_ioreq_check(&r), -EINVAL);
	r.count = 2; /* a count without data_is_ptr */
	assert_int_equal(pvk_ioreq_check(&r), -EINVAL);
	r.flags = PVK_IOREQ_F_DATA_IS_PTR;
	assert_int_equal(pvk_ioreq_check(&r), 0);
	r.size = 8; /* no 8-byte port I/O on x86 */
	assert_int_equal(pvk_ioreq_check(&r), -EINVAL);
	r.size = 4;
	r.addr = 0xfffe; /* a 4-byte port access past 0xffff */
	assert_int_equal(pvk_ioreq_check(&r), -EINVAL);
	r.type = PVK_IOREQ_TYPE_COPY;
	r.addr = UINT64_MAX - 4;
	assert_int_equal(pvk_ioreq_check(&r), -EINVAL); /* wraps */
	r.flags |= PVK_IOREQ_F_DF;
	r.addr = 3; /* its second item would start below 0 */
	assert_int_equal(pvk_ioreq_check(&r), -EINVAL);
	r.addr = 0x1000;
	assert_int_equal(pvk_ioreq_check(&r), 0);
	r.type = 5;
	assert_int_equal(pvk_ioreq_check(&r), -EINVAL);
}

/* --- a device model thread ---------------------------------------------- */

enum misbehave {
	DM_GOOD,
	DM_SILENT, /* takes the request (INPROCESS), never answers */
	DM_GARBAGE, /* writes state 9 */
	DM_BACKWARDS, /* INPROCESS, then READY again */
	DM_TWICE, /* answers, then answers again with junk */
	DM_LATE, /* answers after 300 ms */
};

struct dm {
	struct pvk_loop *loop;
	struct pvk_hv *hv0, *ghv;
	uint32_t guest;
	pvk_ioservid_t id;
	struct pvk_dm_server srv;
	struct pvk_evtchn *ev;
	uint32_t local[PVK_IOREQ_MAX_VCPUS];
	pthread_t thread;
	int stop_fd;
	enum misbehave mode;
	uint8_t regs[0x10000]; /* ports and a 64 KiB MMIO window */
	int served, rejected;
};

#define MMIO_BASE 0xfeb00000ull

static uint64_t get_le(const uint8_t *p, unsigned int size)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < size; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static void put_le(uint8_t *p, unsigned int size, uint64_t v)
{
	for (unsigned int i = 0; i < size; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Emulate one request; rep forms go through guest memory (DMA). */
static void emulate(struct dm *d, struct pvk_ioreq *r)
{
	uint64_t off = r->type == PVK_IOREQ_TYPE_PIO ? r->addr :
						       r->addr - MMIO_BASE;
	uint64_t gfn = r->data >> 12;
	uint8_t *mem;
	void *map;

	if (off + r->size > sizeof(d->regs))
		return;
	if (!(r->flags & PVK_IOREQ_F_DATA_IS_PTR)) {
		if (pvk_ioreq_is_read(r))
			r->data = get_le(&d->regs[off], r->size);
		else
			put_le(&d->regs[off], r->size, r->data);
		return;
	}
	/* rep ins: the same port, count items into guest memory (one page
	 * here). */
	if (pvk_dm_foreign_map(d->hv0, d->guest, &gfn, 1, true, &map) < 0)
		return;
	mem = (uint8_t *)map + (r->data & 0xfff);
	for (uint32_t i = 0;
	     i < r->count && (r->data & 0xfff) + (i + 1) * r->size <= 4096;
	     i++) {
		if (pvk_ioreq_is_read(r))
			memcpy(mem + i * r->size, &d->regs[off], r->size);
		else
			memcpy(&d->regs[off], mem + i * r->size, r->size);
	}
	pvk_dm_foreign_unmap(d->hv0, map, 1);
}

static void answer(struct dm *d, struct pvk_ioreq *slot, uint64_t data,
		   unsigned int v)
{
	*(volatile uint64_t *)&slot->data = data;
	pvk_ioreq_store_state(slot, PVK_IORESP_READY);
	pvk_evtchn_notify(d->ev, d->local[v]);
}

static void serve_vcpu(struct dm *d, unsigned int v)
{
	struct pvk_ioreq *slot = &d->srv.ioreq[v], r;

	if (pvk_ioreq_load_state(slot) != PVK_IOREQ_READY)
		return;
	pvk_ioreq_get(slot, &r);
	if (pvk_ioreq_check(&r) < 0) {
		d->rejected++;
		answer(d, slot, ~0ull, v);
		return;
	}
	pvk_ioreq_store_state(slot, PVK_IOREQ_INPROCESS);
	d->served++;
	switch (d->mode) {
	case DM_SILENT:
		return;
	case DM_GARBAGE:
		pvk_ioreq_store_state(slot, 9);
		pvk_evtchn_notify(d->ev, d->local[v]);
		return;
	case DM_BACKWARDS:
		/* Let the vCPU see INPROCESS first. */
		pvk_evtchn_notify(d->ev, d->local[v]);
		usleep(50 * 1000);
		pvk_ioreq_store_state(slot, PVK_IOREQ_READY);
		pvk_evtchn_notify(d->ev, d->local[v]);
		return;
	case DM_LATE:
		usleep(300 * 1000);
		break;
	default:
		break;
	}
	emulate(d, &r);
	answer(d, slot, r.data, v);
	if (d->mode == DM_TWICE) {
		usleep(20 * 1000); /* the guest has taken the first */
		answer(d, slot, 0xdeadbeef, v);
	}
}

static void *dm_main(void *arg)
{
	struct dm *d = arg;
	struct pollfd p[2];
	int port;

	for (;;) {
		p[0] = (struct pollfd){ .fd = pvk_evtchn_fd(d->ev),
					.events = POLLIN };
		p[1] = (struct pollfd){ .fd = d->stop_fd, .events = POLLIN };
		if (poll(p, 2, -1) < 0)
			continue;
		if (p[1].revents)
			return NULL;
		while ((port = pvk_evtchn_pending(d->ev)) >= 0) {
			pvk_evtchn_unmask(d->ev, (uint32_t)port);
			for (unsigned int v = 0; v < d->srv.nr_vcpus; v++)
				if (d->local[v] == (uint32_t)port)
					serve_vcpu(d, v);
		}
	}
}

static int setup(void **state)
{
	struct dm *d = calloc(1, sizeof(*d));
	int port;

	assert_non_null(d);
	assert_int_equal(pvk_loop_create(&d->loop), 0);
	assert_int_equal(pvk_hv_open_loop(&d->hv0, d->loop, 0), 0);
	assert_int_equal(pvk_loop_domain_create(d->loop, "hvm", &d->guest), 0);
	assert_int_equal(pvk_hv_open_loop(&d->ghv, d->loop, d->guest), 0);
	assert_int_equal(pvk_dm_server_create(d->hv0, d->guest, PVK_DM_BUFIOREQ,
					      &d->id),
			 0);
	assert_int_equal(pvk_dm_server_map(d->hv0, d->guest, d->id, &d->srv),
			 0);
	assert_non_null(d->srv.ioreq);
	assert_non_null(d->srv.buf);
	assert_true(d->srv.buf_port > 0);
	assert_true(d->srv.nr_vcpus >= 1);
	assert_int_equal(pvk_evtchn_open(d->hv0, &d->ev), 0);
	for (unsigned int v = 0; v < d->srv.nr_vcpus; v++) {
		port = pvk_evtchn_bind(d->ev, d->guest,
				       d->srv.ioreq[v].vp_eport);
		assert_true(port > 0);
		d->local[v] = (uint32_t)port;
	}
	assert_int_equal(pvk_dm_range_map(d->hv0, d->guest, d->id, PVK_DM_PORT,
					  0x1f0, 0x1f7),
			 0);
	assert_int_equal(pvk_dm_range_map(d->hv0, d->guest, d->id, PVK_DM_MMIO,
					  MMIO_BASE, MMIO_BASE + 0xffff),
			 0);
	d->stop_fd = eventfd(0, EFD_CLOEXEC);
	assert_int_equal(pthread_create(&d->thread, NULL, dm_main, d), 0);
	*state = d;
	return 0;
}

static int teardown(void **state)
{
	struct dm *d = *state;
	uint64_t one = 1;

	assert_int_equal(write(d->stop_fd, &one, sizeof(one)), sizeof(one));
	pthread_join(d->thread, NULL);
	close(d->stop_fd);
	pvk_evtchn_close(d->ev);
	pvk_dm_server_unmap(d->hv0, &d->srv);
	pvk_hv_close(d->ghv);
	pvk_hv_close(d->hv0);
	pvk_loop_destroy(d->loop);
	free(d);
	return 0;
}

static struct pvk_ioreq pio(uint16_t port, unsigned int size, bool read,
			    uint64_t val)
{
	return (struct pvk_ioreq){ .type = PVK_IOREQ_TYPE_PIO,
				   .addr = port,
				   .size = size,
				   .count = 1,
				   .data = val,
				   .flags = read ? PVK_IOREQ_F_DIR_READ : 0 };
}

static struct pvk_ioreq mmio(uint64_t off, unsigned int size, bool read,
			     uint64_t val)
{
	struct pvk_ioreq r = pio(0, size, read, val);

	r.type = PVK_IOREQ_TYPE_COPY;
	r.addr = MMIO_BASE + off;
	return r;
}

/* --- tests --------------------------------------------------------------- */

static void t_disabled_then_served(void **state)
{
	struct dm *d = *state;
	struct pvk_ioreq r = pio(0x1f2, 1, true, 0);

	/* Not enabled yet: nobody claims it; a read is all-ones. */
	assert_int_equal(pvk_dm_guest_io(d->ghv, 0, &r, 1000), 1);
	assert_int_equal(r.data, 0xff);
	assert_int_equal(d->served, 0);
	assert_int_equal(pvk_dm_server_enable(d->hv0, d->guest, d->id, true),
			 0);
	r = pio(0x1f2, 1, false, 0x5a);
	assert_int_equal(pvk_dm_guest_io(d->ghv, 0, &r, 1000), 0);
	assert_int_equal(d->regs[0x1f2], 0x5a);
	r = pio(0x1f2, 1, true, 0);
	assert_int_equal(pvk_dm_guest_io(d->ghv, 0, &r, 1000), 0);
	assert_int_equal(r.data, 0x5a);
	/* A 2-byte read: two registers, little-endian, nothing above. */
	d->regs[0x1f3] = 0xc3;
	r = pio(0x1f2, 2, true, ~0ull);
	assert_int_equal(pvk_dm_guest_io(d->ghv, 1, &r, 1000), 0);
	assert_int_equal(r.data, 0xc35a);
	/* MMIO, 8 bytes, another vCPU. */
	r = mmio(0x100, 8, false, 0x1122334455667788ull);
	assert_int_equal(pvk_dm_guest_io(d->ghv, 2, &r, 1000), 0);
	r = mmio(0x104, 4, true, 0);
	assert_int_equal(pvk_dm_guest_io(d->ghv, 3, &r, 1000), 0);
	assert_int_equal(r.data, 0x11223344);
	/* Outside every range; a port range not ours. */
	r = mmio(0x10000, 4, true, 0);
	assert_int_equal(pvk_dm_guest_io(d->ghv, 0, &r, 1000), 1);
	assert_int_equal(r.data, 0xffffffff);
	r = pio(0x60, 1, false, 1);
	assert_int_equal(pvk_dm_guest_io(d->ghv, 0, &r, 1000), 1);
	assert_int_equal(d->served, 5);
	/* Disabled again: no longer reaches the device model. */
	assert_int_equal(pvk_dm_server_enable(d->hv0, d->guest, d->id, false),
			 0);
	r = pio(0x1f2, 1, true, 0);
	assert_int_equal(pvk_dm_guest_io(d->ghv, 0, &r, 1000), 1);
	assert_int_equal(d->served, 5);
}

static void t_bad_requests(void **state)
{
	struct dm *d = *state;
	struct pvk_ioreq r = pio(0x1f0, 3, true, 0);

	assert_int_equal(pvk_dm_server_enable(d->hv0, d->guest, d->id, true),
			 0);
	assert_int_equal(pvk_dm_guest_io(d->ghv, 0, &r, 1000), -EINVAL);
	r = pio(0x1f0, 1, true, 0);
	assert_int_equal(pvk_dm_guest_io(d->ghv, 99, &r, 1000), -EINVAL);
	r.type = PVK_IOREQ_TYPE_INVALIDATE;
	assert_int_equal(pvk_dm_guest_io(d->ghv, 0, &r, 1000), -EINVAL);
	assert_int_equal(pvk_dm_guest_io(d->ghv, 0, NULL, 1000), -EINVAL);
	assert_int_equal(d->served, 0);
}

static void t_rep_ins_dma(void **state)
{
	struct dm *d = *state;
	struct pvk_ioreq r = pio(0x1f0, 2, true, 0);
	uint8_t *ram;
	uint64_t size;
	void *p;

	assert_int_equal(pvk_dm_server_enable(d->hv0, d->guest, d->id, true),
			 0);
	assert_int_equal(pvk_dm_guest_memory(d->ghv, &p, &size), 0);
	assert_true(size >= 1 << 20);
	ram = p;
	memset(ram + 5 * 4096, 0, 4096);
	d->regs[0x1f0] = 0x34;
	d->regs[0x1f1] = 0x12;
	/* rep insw: 8 words from port 0x1f0 into guest frame 5 + 0x10. */
	r.count = 8;
	r.flags |= PVK_IOREQ_F_DATA_IS_PTR;
	r.data = 5 * 4096 + 0x10;
	assert_int_equal(pvk_dm_guest_io(d->ghv, 0, &r, 1000), 0);
	for (int i = 0; i < 8; i++) {
		assert_int_equal(ram[5 * 4096 + 0x10 + 2 * i], 0x34);
		assert_int_equal(ram[5 * 4096 + 0x11 + 2 * i], 0x12);
	}
	assert_int_equal(ram[5 * 4096 + 0x10 + 16], 0);
}

static void t_foreign_map(void **state)
{
	struct dm *d = *state;
	uint64_t gfns[2] = { 7, 3 }, size, bad = 1ull << 40;
	uint8_t *ram, *m;
	void *p;

	assert_int_equal(pvk_dm_guest_memory(d->ghv, &p, &size), 0);
	ram = p;
	ram[7 * 4096 + 1] = 0x77;
	ram[3 * 4096 + 2] = 0x33;
	assert_int_equal(
		pvk_dm_foreign_map(d->hv0, d->guest, gfns, 2, true, &p), 0);
	m = p;
	assert_int_equal(m[1], 0x77);
	assert_int_equal(m[4096 + 2], 0x33);
	m[4096 + 3] = 0x99;
	assert_int_equal(ram[3 * 4096 + 3], 0x99);
	assert_int_equal(pvk_dm_foreign_unmap(d->hv0, p, 2), 0);
	assert_int_equal(pvk_dm_foreign_map(d->hv0, d->guest, &bad, 1, false,
					    &p),
			 -EFAULT);
	/* Only the control domain maps a guest's memory. */
	assert_int_equal(pvk_dm_foreign_map(d->ghv, d->guest, gfns, 1, false,
					    &p),
			 -EPERM);
	assert_int_equal(pvk_dm_guest_memory(d->hv0, &p, &size), -EINVAL);
}

static void t_isa_irq(void **state)
{
	struct dm *d = *state;
	struct pollfd p = { .events = POLLIN };
	uint16_t lines = 0;

	p.fd = pvk_dm_guest_irq_fd(d->ghv);
	assert_true(p.fd >= 0);
	assert_int_equal(poll(&p, 1, 0), 0);
	assert_int_equal(pvk_dm_set_isa_irq(d->hv0, d->guest, 14, 1), 0);
	assert_int_equal(poll(&p, 1, 1000), 1);
	assert_int_equal(pvk_dm_guest_irqs(d->ghv, &lines), 0);
	assert_int_equal(lines, 1u << 14);
	assert_int_equal(poll(&p, 1, 0), 0); /* taken */
	/* The same level again is no change: no wake-up. */
	assert_int_equal(pvk_dm_set_isa_irq(d->hv0, d->guest, 14, 1), 0);
	assert_int_equal(poll(&p, 1, 0), 0);
	assert_int_equal(pvk_dm_set_isa_irq(d->hv0, d->guest, 14, 0), 0);
	assert_int_equal(poll(&p, 1, 1000), 1);
	assert_int_equal(pvk_dm_guest_irqs(d->ghv, &lines), 0);
	assert_int_equal(lines, 0);
	assert_int_equal(pvk_dm_set_isa_irq(d->hv0, d->guest, 16, 1), -EINVAL);
	assert_int_equal(pvk_dm_set_isa_irq(d->ghv, d->guest, 1, 1), -EPERM);
}

static void t_ranges_and_servers(void **state)
{
	struct dm *d = *state;
	pvk_ioservid_t ids[8];
	int n = 0, ret;

	/* Another server may not claim what the first one has. */
	assert_int_equal(pvk_dm_server_create(d->hv0, d->guest, 0, &ids[0]), 0);
	n = 1;
	assert_int_equal(pvk_dm_range_map(d->hv0, d->guest, ids[0], PVK_DM_PORT,
					  0x1f7, 0x1f8),
			 -EEXIST);
	assert_int_equal(pvk_dm_range_map(d->hv0, d->guest, ids[0], PVK_DM_PORT,
					  0x170, 0x177),
			 0);
	assert_int_equal(pvk_dm_range_unmap(d->hv0, d->guest, ids[0],
					    PVK_DM_PORT, 0x170, 0x170),
			 -ENOENT);
	assert_int_equal(pvk_dm_range_unmap(d->hv0, d->guest, ids[0],
					    PVK_DM_PORT, 0x170, 0x177),
			 0);
	assert_int_equal(pvk_dm_range_map(d->hv0, d->guest, ids[0], PVK_DM_PORT,
					  0x10, 0x10000),
			 -EINVAL);
	assert_int_equal(pvk_dm_range_map(d->hv0, d->guest, ids[0], PVK_DM_MMIO,
					  10, 9),
			 -EINVAL);
	/* Eight servers per guest, as Xen. */
	while ((ret = pvk_dm_server_create(d->hv0, d->guest, 0, &ids[n])) == 0)
		n++;
	assert_int_equal(ret, -ENOSPC);
	assert_int_equal(n, 7); /* with the fixture's */
	assert_int_equal(pvk_dm_server_destroy(d->hv0, d->guest, ids[0]), 0);
	assert_int_equal(pvk_dm_server_destroy(d->hv0, d->guest, ids[0]),
			 -ENOENT);
	assert_int_equal(pvk_dm_server_create(d->hv0, d->guest, 0, &ids[0]), 0);
	/* Guests, and absent domains, get nothing. */
	assert_int_equal(pvk_dm_server_create(d->ghv, d->guest, 0, &ids[0]),
			 -EPERM);
	assert_int_equal(pvk_dm_server_create(d->hv0, 77, 0, &ids[0]), -ESRCH);
	assert_int_equal(pvk_dm_server_create(d->hv0, 0, 0, &ids[0]), -EINVAL);
	assert_int_equal(pvk_dm_server_create(d->hv0, d->guest, 0x80, &ids[0]),
			 -EINVAL);
}

/* --- a hostile device model ---------------------------------------------- */

static void t_silent_then_late(void **state)
{
	struct dm *d = *state;
	struct pvk_ioreq r = pio(0x1f4, 1, true, 0);

	assert_int_equal(pvk_dm_server_enable(d->hv0, d->guest, d->id, true),
			 0);
	d->regs[0x1f4] = 0x44;
	d->mode = DM_SILENT;
	assert_int_equal(pvk_dm_guest_io(d->ghv, 0, &r, 200), -ETIMEDOUT);
	/* Still posted: the next call on that vCPU waits for it first. */
	assert_int_equal(pvk_dm_guest_io(d->ghv, 0, &r, 200), -ETIMEDOUT);
	assert_int_equal(d->served, 1);
	/* The device model finally answers the old one. */
	d->mode = DM_GOOD;
	answer(d, &d->srv.ioreq[0], 0x11, 0);
	r = pio(0x1f4, 1, true, 0);
	assert_int_equal(pvk_dm_guest_io(d->ghv, 0, &r, 1000), 0);
	assert_int_equal(r.data, 0x44);
	assert_int_equal(d->served, 2);
	/* Slow but within the time: fine. */
	d->mode = DM_LATE;
	r = pio(0x1f4, 1, true, 0);
	assert_int_equal(pvk_dm_guest_io(d->ghv, 1, &r, 2000), 0);
	assert_int_equal(r.data, 0x44);
}

static void t_garbage_states(void **state)
{
	struct dm *d = *state;
	struct pvk_ioreq r = pio(0x1f4, 1, true, 0);

	assert_int_equal(pvk_dm_server_enable(d->hv0, d->guest, d->id, true),
			 0);
	d->mode = DM_GARBAGE;
	assert_int_equal(pvk_dm_guest_io(d->ghv, 0, &r, 1000), -EPROTO);
	d->mode = DM_BACKWARDS;
	r = pio(0x1f4, 1, true, 0);
	assert_int_equal(pvk_dm_guest_io(d->ghv, 1, &r, 1000), -EPROTO);
	/* The vCPUs are not stuck: a good answer goes through again. */
	d->mode = DM_GOOD;
	d->regs[0x1f4] = 0x21;
	r = pio(0x1f4, 1, true, 0);
	assert_int_equal(pvk_dm_guest_io(d->ghv, 0, &r, 1000), 0);
	assert_int_equal(r.data, 0x21);
}

static void t_answers_twice(void **state)
{
	struct dm *d = *state;
	struct pvk_ioreq r;

	assert_int_equal(pvk_dm_server_enable(d->hv0, d->guest, d->id, true),
			 0);
	d->mode = DM_TWICE;
	d->regs[0x1f5] = 0x55;
	r = pio(0x1f5, 1, true, 0);
	assert_int_equal(pvk_dm_guest_io(d->ghv, 0, &r, 1000), 0);
	assert_int_equal(r.data, 0x55);
	usleep(100 * 1000); /* the second answer lands in the idle slot */
	d->mode = DM_GOOD;
	d->regs[0x1f5] = 0x66;
	r = pio(0x1f5, 1, true, 0);
	assert_int_equal(pvk_dm_guest_io(d->ghv, 0, &r, 1000), 0);
	assert_int_equal(r.data, 0x66); /* not the stale 0xef */
}

struct waiter {
	struct pvk_hv *ghv;
	int ret;
	uint64_t data;
};

static void *wait_io(void *arg)
{
	struct waiter *w = arg;
	struct pvk_ioreq r = pio(0x1f6, 2, true, 0);

	w->ret = pvk_dm_guest_io(w->ghv, 2, &r, 5000);
	w->data = r.data;
	return NULL;
}

static void t_destroyed_while_waiting(void **state)
{
	struct dm *d = *state;
	struct waiter w = { .ghv = d->ghv, .ret = 99 };
	pthread_t t;

	assert_int_equal(pvk_dm_server_enable(d->hv0, d->guest, d->id, true),
			 0);
	d->mode = DM_SILENT;
	assert_int_equal(pthread_create(&t, NULL, wait_io, &w), 0);
	while (__atomic_load_n(&d->served, __ATOMIC_ACQUIRE) == 0)
		usleep(1000);
	assert_int_equal(pvk_dm_server_destroy(d->hv0, d->guest, d->id), 0);
	pthread_join(t, NULL);
	/* As Xen when its emulator goes: the access completes, all-ones. */
	assert_int_equal(w.ret, 0);
	assert_int_equal(w.data, 0xffff);
	d->srv.ioreq = NULL; /* gone with the server */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_abi),
		cmocka_unit_test(t_check),
		cmocka_unit_test_setup_teardown(t_disabled_then_served, setup,
						teardown),
		cmocka_unit_test_setup_teardown(t_bad_requests, setup,
						teardown),
		cmocka_unit_test_setup_teardown(t_rep_ins_dma, setup, teardown),
		cmocka_unit_test_setup_teardown(t_foreign_map, setup, teardown),
		cmocka_unit_test_setup_teardown(t_isa_irq, setup, teardown),
		cmocka_unit_test_setup_teardown(t_ranges_and_servers, setup,
						teardown),
		cmocka_unit_test_setup_teardown(t_silent_then_late, setup,
						teardown),
		cmocka_unit_test_setup_teardown(t_garbage_states, setup,
						teardown),
		cmocka_unit_test_setup_teardown(t_answers_twice, setup,
						teardown),
		cmocka_unit_test_setup_teardown(t_destroyed_while_waiting,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
