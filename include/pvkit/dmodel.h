/* SPDX-License-Identifier: MIT */
/*
 * pvkit/dmodel.h -- a device model: emulated devices of one guest, served
 * from the control domain through an ioreq server (pvkit/dm.h), as QEMU
 * does on Xen.  Part of libpvkit-back (pkg-config pvkit-back).
 *
 * A device is an ops table plus the ranges of ports or guest-physical
 * addresses it decodes.  The device model owns the ioreq server: it binds
 * every vCPU's event channel, takes each request once (copied, checked:
 * pvk_ioreq_check), dispatches it to the device whose range holds its
 * first byte, and answers.  Repeated string accesses (rep ins/outs, rep
 * movs to MMIO: data_is_ptr) become one read or write per item, with the
 * data moved from or to guest memory here: devices only ever see register
 * accesses.  A request no device decodes reads all-ones.  A request that
 * fails its check is answered all-ones and counted, never dispatched.
 *
 * Threading: one thread calls pvk_dmodel_handle() and the devices' ops;
 * a device's own fds (a disk's io_uring, a TAP) are polled by the same
 * loop through ->fd / ->event.
 */
#ifndef PVKIT_DMODEL_H
#define PVKIT_DMODEL_H

#include <stddef.h>
#include <stdint.h>

#include <pvkit/dm.h>

#ifdef __cplusplus
extern "C" {
#endif

struct pvk_dmodel;

struct pvk_dmodel_dev_ops {
	const char *name;
	/* A register access of @size (1, 2, 4 or 8) bytes at @addr (a port
	 * or a guest-physical address, absolute).  A read returns the value
	 * (bits above @size are ignored). */
	uint64_t (*read)(void *dev, enum pvk_dm_space space, uint64_t addr,
			 unsigned int size);
	void (*write)(void *dev, enum pvk_dm_space space, uint64_t addr,
		      unsigned int size, uint64_t val);
	/* Optional: an fd of the device's own to poll (readable), and what
	 * to do when it is. */
	int (*fd)(void *dev);
	void (*event)(void *dev);
};

/* Serve guest @domid from @hv's domain (which the model does not own):
 * create, map and bind the ioreq server (disabled until
 * pvk_dmodel_enable).  -EOPNOTSUPP where the hypervisor has none. */
int pvk_dmodel_create(struct pvk_dmodel **dm, struct pvk_hv *hv,
		      uint32_t domid);
/* Destroy the server (a vCPU waiting then reads all-ones), unmap, free.
 * Devices are the caller's to free afterwards. */
void pvk_dmodel_destroy(struct pvk_dmodel *dm);
/* Decode @start..@end (inclusive) of @space for @dev; -EEXIST if another
 * device, or another server of the guest, has any of it. */
int pvk_dmodel_add(struct pvk_dmodel *dm, const struct pvk_dmodel_dev_ops *ops,
		   void *dev, enum pvk_dm_space space, uint64_t start,
		   uint64_t end);
int pvk_dmodel_enable(struct pvk_dmodel *dm);

/* Polls readable when a vCPU posted a request (an epoll set of the
 * vCPUs' event channels and the devices' fds): pvk_dmodel_handle then
 * serves everything pending.  0 or -errno (the guest is gone). */
int pvk_dmodel_fd(struct pvk_dmodel *dm);
int pvk_dmodel_handle(struct pvk_dmodel *dm);

/* For devices: guest memory (DMA), @len bytes at guest-physical @gpa, any
 * alignment; -EFAULT outside the guest's memory. */
int pvk_dmodel_dma_read(struct pvk_dmodel *dm, uint64_t gpa, void *buf,
			size_t len);
int pvk_dmodel_dma_write(struct pvk_dmodel *dm, uint64_t gpa, const void *buf,
			 size_t len);
/* Drive ISA line @irq of the guest. */
int pvk_dmodel_set_irq(struct pvk_dmodel *dm, unsigned int irq,
		       unsigned int level);

struct pvk_dmodel_stats {
	uint64_t requests; /* ioreqs answered */
	uint64_t items; /* register accesses dispatched (rep: one each) */
	uint64_t unclaimed; /* decoded by no device */
	uint64_t rejected; /* failed pvk_ioreq_check */
	uint64_t dma_bytes;
};
void pvk_dmodel_stats(const struct pvk_dmodel *dm, struct pvk_dmodel_stats *st);

#ifdef __cplusplus
}
#endif

#endif /* PVKIT_DMODEL_H */
