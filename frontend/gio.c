/* SPDX-License-Identifier: MIT */
/*
 * pvkit/gio.h on pvk_dm_guest_io: each register access is one ioreq
 * posted for the vCPU and answered by the device model, as after a trap.
 */
#include <errno.h>
#include <stdlib.h>

#include <pvkit/gio.h>

#define GIO_TIMEOUT_MS 10000

static int post(struct pvk_gio *g, struct pvk_ioreq *r)
{
	int ret = pvk_dm_guest_io(g->hv, g->vcpu, r, GIO_TIMEOUT_MS);

	g->traps++;
	if (ret < 0 && !g->err)
		g->err = ret;
	return ret;
}

static uint64_t io_read(struct pvk_gio *g, enum pvk_dm_space space,
			uint64_t addr, unsigned int size)
{
	struct pvk_ioreq r = {
		.type = space == PVK_DM_PORT ? PVK_IOREQ_TYPE_PIO :
					       PVK_IOREQ_TYPE_COPY,
		.addr = addr,
		.size = size,
		.count = 1,
		.flags = PVK_IOREQ_F_DIR_READ,
	};

	return post(g, &r) < 0 ? pvk_ioreq_size_mask(size) : r.data;
}

static void io_write(struct pvk_gio *g, enum pvk_dm_space space, uint64_t addr,
		     unsigned int size, uint64_t val)
{
	struct pvk_ioreq r = {
		.type = space == PVK_DM_PORT ? PVK_IOREQ_TYPE_PIO :
					       PVK_IOREQ_TYPE_COPY,
		.addr = addr,
		.size = size,
		.count = 1,
		.data = val,
	};

	post(g, &r);
}

/* As Xen splits a rep string instruction: at most a page's worth of
 * items per ioreq. */
static int io_rep(struct pvk_gio *g, uint16_t port, unsigned int size,
		  uint32_t count, uint64_t gpa, bool in)
{
	struct pvk_ioreq r;
	uint32_t n;
	int ret;

	if (gpa > g->ram_size || (uint64_t)count * size > g->ram_size - gpa)
		return -EFAULT;
	while (count) {
		n = PVK_PAGE_SIZE / size;
		n = n < count ? n : count;
		r = (struct pvk_ioreq){
			.type = PVK_IOREQ_TYPE_PIO,
			.addr = port,
			.size = size,
			.count = n,
			.data = gpa,
			.flags = PVK_IOREQ_F_DATA_IS_PTR |
				 (in ? PVK_IOREQ_F_DIR_READ : 0),
		};
		ret = post(g, &r);
		if (ret < 0)
			return ret;
		gpa += (uint64_t)n * size;
		count -= n;
	}
	return 0;
}

static void io_close(struct pvk_gio *g)
{
	free(g);
}

static const struct pvk_gio_ops io_ops = {
	.read = io_read,
	.write = io_write,
	.rep = io_rep,
	.close = io_close,
};

int pvk_gio_open(struct pvk_gio **out, struct pvk_hv *hv, unsigned int vcpu)
{
	struct pvk_gio *g;
	void *ram;
	int ret;

	*out = NULL;
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	ret = pvk_dm_guest_memory(hv, &ram, &g->ram_size);
	if (ret < 0)
		goto free_gio;
	ret = pvk_dm_guest_irq_fd(hv);
	if (ret < 0)
		goto free_gio;
	g->irq_fd = ret;
	g->ram = ram;
	g->ops = &io_ops;
	g->hv = hv;
	g->vcpu = vcpu;
	*out = g;
	return 0;

free_gio:
	free(g);
	return ret;
}

int pvk_gio_irqs(struct pvk_gio *g, uint16_t *lines)
{
	return pvk_dm_guest_irqs(g->hv, lines);
}
