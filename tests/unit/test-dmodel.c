/* SPDX-License-Identifier: MIT */
/*
 * test-dmodel: the device-model core (pvkit/dmodel.h) on the loop
 * hypervisor: dispatch by range, string accesses through guest memory in
 * both directions, unclaimed accesses, a device's own fd, DMA and the
 * map cache, ISA lines.  The guest's vCPU is this thread
 * (pvk_dm_guest_io); the device model runs in another.
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

#include <pvkit/dmodel.h>
#include <pvkit/gio.h>

#include "../common/t_dmodel.h"

/* A toy device: 256 byte-registers; register 0xff counts accesses;
 * writing register 0x10 asks for a DMA of 16 bytes from guest address
 * (regs 0x20..0x27) into regs 0x40.., done from the device's own fd. */
struct toy {
	struct pvk_dmodel *dm;
	uint8_t regs[256];
	uint64_t base;
	unsigned int accesses;
	int efd;
	int dma_ret;
};

static uint64_t toy_read(void *dev, enum pvk_dm_space space, uint64_t addr,
			 unsigned int size)
{
	struct toy *t = dev;
	uint64_t v = 0, off = addr - t->base;

	t->accesses++;
	for (unsigned int i = 0; i < size && off + i < 256; i++)
		v |= (uint64_t)t->regs[off + i] << (8 * i);
	return v;
}

static void toy_write(void *dev, enum pvk_dm_space space, uint64_t addr,
		      unsigned int size, uint64_t val)
{
	struct toy *t = dev;
	uint64_t off = addr - t->base, one = 1;

	t->accesses++;
	for (unsigned int i = 0; i < size && off + i < 256; i++)
		t->regs[off + i] = (uint8_t)(val >> (8 * i));
	if (off == 0x10)
		assert_int_equal(write(t->efd, &one, sizeof(one)), 8);
}

static int toy_fd(void *dev)
{
	return ((struct toy *)dev)->efd;
}

static void toy_event(void *dev)
{
	struct toy *t = dev;
	uint64_t v, gpa = 0;

	assert_int_equal(read(t->efd, &v, sizeof(v)), 8);
	memcpy(&gpa, &t->regs[0x20], 8);
	t->dma_ret = pvk_dmodel_dma_read(t->dm, gpa, &t->regs[0x40], 16);
	pvk_dmodel_set_irq(t->dm, 5, 1);
}

static const struct pvk_dmodel_dev_ops toy_ops = {
	.name = "toy",
	.read = toy_read,
	.write = toy_write,
	.fd = toy_fd,
	.event = toy_event,
};

struct env {
	struct pvk_loop *loop;
	struct pvk_hv *hv0, *ghv;
	uint32_t guest;
	struct pvk_dmodel *dm;
	struct toy port_dev, mmio_dev;
	struct t_dmthread dmt;
	uint8_t *ram;
};

#define MMIO 0xfe000000ull

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	uint64_t size;
	void *ram;

	assert_int_equal(pvk_loop_create(&e->loop), 0);
	assert_int_equal(pvk_hv_open_loop(&e->hv0, e->loop, 0), 0);
	assert_int_equal(pvk_loop_domain_create(e->loop, "hvm", &e->guest), 0);
	assert_int_equal(pvk_hv_open_loop(&e->ghv, e->loop, e->guest), 0);
	assert_int_equal(pvk_dm_guest_memory(e->ghv, &ram, &size), 0);
	e->ram = ram;
	assert_int_equal(pvk_dmodel_create(&e->dm, e->hv0, e->guest), 0);
	e->port_dev = (struct toy){ .dm = e->dm, .base = 0x300 };
	e->mmio_dev = (struct toy){ .dm = e->dm, .base = MMIO };
	e->port_dev.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	e->mmio_dev.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_int_equal(pvk_dmodel_add(e->dm, &toy_ops, &e->port_dev,
					PVK_DM_PORT, 0x300, 0x3ff),
			 0);
	assert_int_equal(pvk_dmodel_add(e->dm, &toy_ops, &e->mmio_dev,
					PVK_DM_MMIO, MMIO, MMIO + 0xff),
			 0);
	/* Overlaps are refused. */
	assert_int_equal(pvk_dmodel_add(e->dm, &toy_ops, &e->port_dev,
					PVK_DM_PORT, 0x3ff, 0x400),
			 -EEXIST);
	assert_int_equal(pvk_dmodel_enable(e->dm), 0);
	assert_int_equal(t_dmthread_start(&e->dmt, e->dm), 0);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	t_dmthread_stop(&e->dmt);
	assert_int_equal(e->dmt.err, 0);
	pvk_dmodel_destroy(e->dm);
	close(e->port_dev.efd);
	close(e->mmio_dev.efd);
	pvk_hv_close(e->ghv);
	pvk_hv_close(e->hv0);
	pvk_loop_destroy(e->loop);
	free(e);
	return 0;
}

static int io(struct env *e, uint8_t type, uint64_t addr, unsigned int size,
	      bool read, uint64_t *val)
{
	struct pvk_ioreq r = { .type = type,
			       .addr = addr,
			       .size = size,
			       .count = 1,
			       .data = *val,
			       .flags = read ? PVK_IOREQ_F_DIR_READ : 0 };
	int ret = pvk_dm_guest_io(e->ghv, 0, &r, 2000);

	*val = r.data;
	return ret;
}

static void t_registers(void **state)
{
	struct env *e = *state;
	struct pvk_dmodel_stats st;
	uint64_t v = 0xbeef;

	assert_int_equal(io(e, PVK_IOREQ_TYPE_PIO, 0x304, 2, false, &v), 0);
	assert_int_equal(e->port_dev.regs[4], 0xef);
	assert_int_equal(e->port_dev.regs[5], 0xbe);
	v = 0;
	assert_int_equal(io(e, PVK_IOREQ_TYPE_PIO, 0x304, 1, true, &v), 0);
	assert_int_equal(v, 0xef);
	v = 0x0102030405060708ull;
	assert_int_equal(io(e, PVK_IOREQ_TYPE_COPY, MMIO + 8, 8, false, &v), 0);
	v = 0;
	assert_int_equal(io(e, PVK_IOREQ_TYPE_COPY, MMIO + 12, 4, true, &v), 0);
	assert_int_equal(v, 0x01020304);
	assert_int_equal(e->port_dev.accesses, 2);
	assert_int_equal(e->mmio_dev.accesses, 2);
	pvk_dmodel_stats(e->dm, &st);
	assert_int_equal(st.requests, 4);
	assert_int_equal(st.items, 4);
	assert_int_equal(st.unclaimed, 0);
}

static void t_string_ops(void **state)
{
	struct env *e = *state;
	struct pvk_dmodel_stats st;
	struct pvk_ioreq r;

	/* rep outsb: 8 bytes of guest memory to port 0x310, upwards. */
	for (int i = 0; i < 8; i++)
		e->ram[0x2000 + i] = (uint8_t)(0xa0 + i);
	r = (struct pvk_ioreq){ .type = PVK_IOREQ_TYPE_PIO,
				.addr = 0x310,
				.size = 1,
				.count = 8,
				.data = 0x2000,
				.flags = PVK_IOREQ_F_DATA_IS_PTR };
	assert_int_equal(pvk_dm_guest_io(e->ghv, 0, &r, 2000), 0);
	assert_int_equal(e->port_dev.regs[0x10], 0xa7); /* the last one */
	assert_int_equal(e->port_dev.accesses, 8);
	/* rep insw with DF: 4 words from port 0x320 to 0x3006, 0x3004, ... */
	e->port_dev.regs[0x20] = 0x11;
	e->port_dev.regs[0x21] = 0x22;
	memset(e->ram + 0x3000, 0, 16);
	r = (struct pvk_ioreq){ .type = PVK_IOREQ_TYPE_PIO,
				.addr = 0x320,
				.size = 2,
				.count = 4,
				.data = 0x3006,
				.flags = PVK_IOREQ_F_DATA_IS_PTR |
					 PVK_IOREQ_F_DIR_READ |
					 PVK_IOREQ_F_DF };
	assert_int_equal(pvk_dm_guest_io(e->ghv, 0, &r, 2000), 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(e->ram[0x3000 + 2 * i], 0x11);
		assert_int_equal(e->ram[0x3001 + 2 * i], 0x22);
	}
	assert_int_equal(e->ram[0x3008], 0);
	/* rep movsd from MMIO to RAM: the MMIO address advances too, and
	 * crosses a page of guest memory. */
	for (int i = 0; i < 16; i++)
		e->mmio_dev.regs[0x80 + i] = (uint8_t)i;
	r = (struct pvk_ioreq){ .type = PVK_IOREQ_TYPE_COPY,
				.addr = MMIO + 0x80,
				.size = 4,
				.count = 4,
				.data = 0x4ffa,
				.flags = PVK_IOREQ_F_DATA_IS_PTR |
					 PVK_IOREQ_F_DIR_READ };
	assert_int_equal(pvk_dm_guest_io(e->ghv, 0, &r, 2000), 0);
	for (int i = 0; i < 16; i++)
		assert_int_equal(e->ram[0x4ffa + i], i);
	pvk_dmodel_stats(e->dm, &st);
	assert_int_equal(st.items, 16);
	assert_true(st.dma_bytes >= 32);
}

static void t_unclaimed_and_faults(void **state)
{
	struct env *e = *state;
	struct pvk_dmodel_stats st;
	struct pvk_ioreq r;
	uint64_t v = 0;

	/* A string op whose later MMIO items leave the device's range:
	 * those read all-ones. */
	memset(e->ram + 0x5000, 0, 16);
	r = (struct pvk_ioreq){ .type = PVK_IOREQ_TYPE_COPY,
				.addr = MMIO + 0xfc,
				.size = 4,
				.count = 2,
				.data = 0x5000,
				.flags = PVK_IOREQ_F_DATA_IS_PTR |
					 PVK_IOREQ_F_DIR_READ };
	assert_int_equal(pvk_dm_guest_io(e->ghv, 0, &r, 2000), 0);
	assert_int_equal(e->ram[0x5004], 0xff);
	pvk_dmodel_stats(e->dm, &st);
	assert_int_equal(st.unclaimed, 1);
	/* Guest memory that does not exist ends a string op, nothing else. */
	r = (struct pvk_ioreq){ .type = PVK_IOREQ_TYPE_PIO,
				.addr = 0x310,
				.size = 1,
				.count = 4,
				.data = 1ull << 40,
				.flags = PVK_IOREQ_F_DATA_IS_PTR };
	assert_int_equal(pvk_dm_guest_io(e->ghv, 0, &r, 2000), 0);
	assert_int_equal(io(e, PVK_IOREQ_TYPE_PIO, 0x304, 1, true, &v), 0);
}

static void t_device_fd_dma_irq(void **state)
{
	struct env *e = *state;
	struct pollfd p = { .events = POLLIN };
	uint64_t v = 0x6000;
	uint16_t lines = 0;

	for (int i = 0; i < 16; i++)
		e->ram[0x6000 + i] = (uint8_t)(0x50 + i);
	p.fd = pvk_dm_guest_irq_fd(e->ghv);
	assert_int_equal(io(e, PVK_IOREQ_TYPE_PIO, 0x320, 8, false, &v),
			 -EINVAL); /* no 8-byte port access */
	assert_int_equal(io(e, PVK_IOREQ_TYPE_COPY, MMIO + 0x20, 8, false, &v),
			 0);
	v = 1;
	assert_int_equal(io(e, PVK_IOREQ_TYPE_COPY, MMIO + 0x10, 1, false, &v),
			 0);
	/* The device's fd fires in the model's loop: it DMAs, then raises
	 * line 5. */
	assert_int_equal(poll(&p, 1, 2000), 1);
	assert_int_equal(pvk_dm_guest_irqs(e->ghv, &lines), 0);
	assert_int_equal(lines, 1u << 5);
	assert_int_equal(e->mmio_dev.dma_ret, 0);
	for (int i = 0; i < 16; i++)
		assert_int_equal(e->mmio_dev.regs[0x40 + i], 0x50 + i);
}

/* The guest's side as drivers use it (pvkit/gio.h). */
static void t_gio(void **state)
{
	struct env *e = *state;
	struct pvk_gio *g;
	uint16_t lines = 1;

	assert_int_equal(pvk_gio_open(&g, e->ghv, 1), 0);
	assert_ptr_equal(g->ram, e->ram);
	pvk_outb(g, 0x305, 0x7e);
	assert_int_equal(pvk_inb(g, 0x305), 0x7e);
	pvk_outl(g, 0x308, 0xcafef00d);
	assert_int_equal(pvk_inw(g, 0x30a), 0xcafe);
	pvk_mmio_write32(g, MMIO + 0x30, 0x12345678);
	assert_int_equal(pvk_mmio_read32(g, MMIO + 0x30), 0x12345678);
	assert_int_equal(pvk_inb(g, 0x60), 0xff); /* nobody's */
	/* 3000 words out of guest memory: split into page-sized ioreqs. */
	for (int i = 0; i < 6000; i++)
		g->ram[0x10000 + i] = (uint8_t)i;
	assert_int_equal(g->ops->rep(g, 0x330, 2, 3000, 0x10000, false), 0);
	assert_int_equal(e->port_dev.regs[0x30], (uint8_t)5998);
	assert_int_equal(e->port_dev.regs[0x31], (uint8_t)5999);
	assert_int_equal(g->ops->rep(g, 0x330, 2, 4, g->ram_size - 4, true),
			 -EFAULT);
	assert_int_equal(g->err, 0);
	assert_int_equal(g->traps, 7 + 2); /* rep: 2048 + 952 items */
	assert_int_equal(pvk_gio_irqs(g, &lines), 0);
	assert_int_equal(lines, 0);
	pvk_gio_close(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(t_registers, setup, teardown),
		cmocka_unit_test_setup_teardown(t_string_ops, setup, teardown),
		cmocka_unit_test_setup_teardown(t_unclaimed_and_faults, setup,
						teardown),
		cmocka_unit_test_setup_teardown(t_device_fd_dma_irq, setup,
						teardown),
		cmocka_unit_test_setup_teardown(t_gio, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
