/* SPDX-License-Identifier: MIT */
/*
 * pvkit/gio.h -- a guest's view of emulated hardware: port and MMIO
 * register accesses, string port I/O, its RAM (guest-physical addresses,
 * for DMA descriptors) and its interrupt lines.  Part of libpvkit-front
 * (pkg-config pvkit-front).
 *
 * Guest drivers for emulated devices (IDE, e1000) are written against
 * this, so the same driver runs:
 *   - through pvk_dm_guest_io on the loop hypervisor (pvk_gio_open: each
 *     access is posted as an ioreq, as Xen does after a trap), and
 *   - as real in/out/mov instructions trapping in a simulated HVM guest.
 * Every access is one trap: a driver that wants to be fast must make few.
 */
#ifndef PVKIT_GIO_H
#define PVKIT_GIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pvkit/dm.h>

#ifdef __cplusplus
extern "C" {
#endif

struct pvk_gio;

struct pvk_gio_ops {
	/* A register read or write of 1, 2, 4 (or, MMIO, 8) bytes. */
	uint64_t (*read)(struct pvk_gio *g, enum pvk_dm_space space,
			 uint64_t addr, unsigned int size);
	void (*write)(struct pvk_gio *g, enum pvk_dm_space space, uint64_t addr,
		      unsigned int size, uint64_t val);
	/* rep insX (@in) / rep outsX: @count items of @size between port
	 * @port and guest memory at @gpa, upwards.  0 or -errno. */
	int (*rep)(struct pvk_gio *g, uint16_t port, unsigned int size,
		   uint32_t count, uint64_t gpa, bool in);
	void (*close)(struct pvk_gio *g);
};

struct pvk_gio {
	const struct pvk_gio_ops *ops;
	uint8_t *ram; /* guest-physical 0 .. ram_size - 1 */
	uint64_t ram_size;
	int irq_fd; /* readable when an ISA line may have changed */
	struct pvk_hv *hv;
	unsigned int vcpu;
	int err; /* the first failed access (-ETIMEDOUT, -EPROTO), sticky */
	uint64_t traps; /* accesses made (each one a trap) */
};

/* On the loop hypervisor (or any whose pvk_dm_guest_io works): vCPU
 * @vcpu of @hv's domain, which must be the calling thread's alone.  A
 * failed access reads all-ones and sets ->err.  -EOPNOTSUPP elsewhere. */
int pvk_gio_open(struct pvk_gio **g, struct pvk_hv *hv, unsigned int vcpu);

static inline void pvk_gio_close(struct pvk_gio *g)
{
	if (g)
		g->ops->close(g);
}

static inline uint8_t pvk_inb(struct pvk_gio *g, uint16_t port)
{
	return (uint8_t)g->ops->read(g, PVK_DM_PORT, port, 1);
}

static inline uint16_t pvk_inw(struct pvk_gio *g, uint16_t port)
{
	return (uint16_t)g->ops->read(g, PVK_DM_PORT, port, 2);
}

static inline uint32_t pvk_inl(struct pvk_gio *g, uint16_t port)
{
	return (uint32_t)g->ops->read(g, PVK_DM_PORT, port, 4);
}

static inline void pvk_outb(struct pvk_gio *g, uint16_t port, uint8_t v)
{
	g->ops->write(g, PVK_DM_PORT, port, 1, v);
}

static inline void pvk_outw(struct pvk_gio *g, uint16_t port, uint16_t v)
{
	g->ops->write(g, PVK_DM_PORT, port, 2, v);
}

static inline void pvk_outl(struct pvk_gio *g, uint16_t port, uint32_t v)
{
	g->ops->write(g, PVK_DM_PORT, port, 4, v);
}

static inline uint32_t pvk_mmio_read32(struct pvk_gio *g, uint64_t gpa)
{
	return (uint32_t)g->ops->read(g, PVK_DM_MMIO, gpa, 4);
}

static inline void pvk_mmio_write32(struct pvk_gio *g, uint64_t gpa, uint32_t v)
{
	g->ops->write(g, PVK_DM_MMIO, gpa, 4, v);
}

/* The ISA lines now high (bit N: IRQ N); takes the wake-up. */
int pvk_gio_irqs(struct pvk_gio *g, uint16_t *lines);

#ifdef __cplusplus
}
#endif

#endif /* PVKIT_GIO_H */
