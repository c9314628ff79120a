/* SPDX-License-Identifier: MIT */
/*
 * pvkit/dm.h's entry points: arguments checked once, then the
 * hypervisor's op; -EOPNOTSUPP where it has none.
 */
#include <errno.h>
#include <string.h>

#include "hv_impl.h"

#define OP(hv, op) ((hv)->ops->op)

static bool target_ok(struct pvk_hv *hv, uint32_t domid)
{
	return hv && domid > 0 && domid <= PVK_DOMID_MAX;
}

int pvk_dm_server_create(struct pvk_hv *hv, uint32_t domid, unsigned int flags,
			 pvk_ioservid_t *id)
{
	if (!target_ok(hv, domid) || !id || flags & ~PVK_DM_BUFIOREQ)
		return -EINVAL;
	if (!OP(hv, dm_server_create))
		return -EOPNOTSUPP;
	return OP(hv, dm_server_create)(hv, domid, flags, id);
}

int pvk_dm_server_map(struct pvk_hv *hv, uint32_t domid, pvk_ioservid_t id,
		      struct pvk_dm_server *s)
{
	if (!target_ok(hv, domid) || !s)
		return -EINVAL;
	memset(s, 0, sizeof(*s));
	if (!OP(hv, dm_server_map))
		return -EOPNOTSUPP;
	return OP(hv, dm_server_map)(hv, domid, id, s);
}

void pvk_dm_server_unmap(struct pvk_hv *hv, struct pvk_dm_server *s)
{
	if (hv && s && s->ioreq && OP(hv, dm_server_unmap))
		OP(hv, dm_server_unmap)(hv, s);
}

static int range(struct pvk_hv *hv, uint32_t domid, pvk_ioservid_t id,
		 enum pvk_dm_space space, uint64_t start, uint64_t end,
		 bool map)
{
	if (!target_ok(hv, domid) || start > end ||
	    (space != PVK_DM_PORT && space != PVK_DM_MMIO) ||
	    (space == PVK_DM_PORT && end > 0xffff))
		return -EINVAL;
	if (!OP(hv, dm_range))
		return -EOPNOTSUPP;
	return OP(hv, dm_range)(hv, domid, id, space, start, end, map);
}

int pvk_dm_range_map(struct pvk_hv *hv, uint32_t domid, pvk_ioservid_t id,
		     enum pvk_dm_space space, uint64_t start, uint64_t end)
{
	return range(hv, domid, id, space, start, end, true);
}

int pvk_dm_range_unmap(struct pvk_hv *hv, uint32_t domid, pvk_ioservid_t id,
		       enum pvk_dm_space space, uint64_t start, uint64_t end)
{
	return range(hv, domid, id, space, start, end, false);
}

int pvk_dm_server_enable(struct pvk_hv *hv, uint32_t domid, pvk_ioservid_t id,
			 bool enabled)
{
	if (!target_ok(hv, domid))
		return -EINVAL;
	if (!OP(hv, dm_server_enable))
		return -EOPNOTSUPP;
	return OP(hv, dm_server_enable)(hv, domid, id, enabled);
}

int pvk_dm_server_destroy(struct pvk_hv *hv, uint32_t domid, pvk_ioservid_t id)
{
	if (!target_ok(hv, domid))
		return -EINVAL;
	if (!OP(hv, dm_server_destroy))
		return -EOPNOTSUPP;
	return OP(hv, dm_server_destroy)(hv, domid, id);
}

int pvk_dm_set_isa_irq(struct pvk_hv *hv, uint32_t domid, unsigned int irq,
		       unsigned int level)
{
	if (!target_ok(hv, domid) || irq > 15 || level > 1)
		return -EINVAL;
	if (!OP(hv, dm_set_isa_irq))
		return -EOPNOTSUPP;
	return OP(hv, dm_set_isa_irq)(hv, domid, irq, level);
}

int pvk_dm_foreign_map(struct pvk_hv *hv, uint32_t domid, const uint64_t *gfns,
		       uint32_t count, bool writable, void **addr)
{
	if (!target_ok(hv, domid) || !gfns || !addr || count == 0 ||
	    count > PVK_HV_GRANT_BATCH_MAX)
		return -EINVAL;
	*addr = NULL;
	if (!OP(hv, dm_foreign_map))
		return -EOPNOTSUPP;
	return OP(hv, dm_foreign_map)(hv, domid, gfns, count, writable, addr);
}

int pvk_dm_foreign_unmap(struct pvk_hv *hv, void *addr, uint32_t count)
{
	if (!hv || !addr || count == 0 || count > PVK_HV_GRANT_BATCH_MAX)
		return -EINVAL;
	if (!OP(hv, dm_foreign_unmap))
		return -EOPNOTSUPP;
	return OP(hv, dm_foreign_unmap)(hv, addr, count);
}

int pvk_dm_guest_io(struct pvk_hv *hv, unsigned int vcpu, struct pvk_ioreq *req,
		    int timeout_ms)
{
	if (!hv || !req || timeout_ms < -1)
		return -EINVAL;
	if (!OP(hv, dm_guest_io))
		return -EOPNOTSUPP;
	return OP(hv, dm_guest_io)(hv, vcpu, req, timeout_ms);
}

int pvk_dm_guest_irq_fd(struct pvk_hv *hv)
{
	if (!hv)
		return -EINVAL;
	if (!OP(hv, dm_guest_irq_fd))
		return -EOPNOTSUPP;
	return OP(hv, dm_guest_irq_fd)(hv);
}

int pvk_dm_guest_irqs(struct pvk_hv *hv, uint16_t *lines)
{
	if (!hv || !lines)
		return -EINVAL;
	if (!OP(hv, dm_guest_irqs))
		return -EOPNOTSUPP;
	return OP(hv, dm_guest_irqs)(hv, lines);
}

int pvk_dm_guest_memory(struct pvk_hv *hv, void **addr, uint64_t *size)
{
	if (!hv || !addr || !size)
		return -EINVAL;
	if (!OP(hv, dm_guest_memory))
		return -EOPNOTSUPP;
	return OP(hv, dm_guest_memory)(hv, addr, size);
}
