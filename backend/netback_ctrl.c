/* SPDX-License-Identifier: MIT */
/*
 * netback's control ring (io/netif.h, "Control ring"): the frontend sets
 * the flow hash -- algorithm, hash types, Toeplitz key, mapping table --
 * and netback then hands each received frame's hash to the guest in a
 * hash extra.  One thread per vif; requests are copied once and checked
 * as Linux's netback checks them, a bad one answered
 * INVALID_PARAMETER, an unknown one NOT_SUPPORTED.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "netback_priv.h"

#define HASH_TYPES                                   \
	((1u << PVK_NETIF_CTRL_HASH_TYPE_IPV4) |     \
	 (1u << PVK_NETIF_CTRL_HASH_TYPE_IPV4_TCP) | \
	 (1u << PVK_NETIF_CTRL_HASH_TYPE_IPV6) |     \
	 (1u << PVK_NETIF_CTRL_HASH_TYPE_IPV6_TCP))

struct nb_ctrl {
	struct nb_vif *vif;
	struct pvk_ring ring;
	void *page;
	struct pvk_evtchn *ev;
	uint32_t port;
	int stop_fd;
	pthread_t thread;
	bool thread_ok;
};

int nb_hash(struct nb_vif *vif, const uint8_t *frame, size_t len,
	    uint32_t *hash)
{
	int type = -ENOENT;

	pthread_mutex_lock(&vif->lock);
	if (vif->hash.alg == PVK_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ &&
	    vif->hash.flags)
		type = pvk_net_flow_hash(frame, len, vif->hash.flags,
					 vif->hash.key, sizeof(vif->hash.key),
					 hash);
	pthread_mutex_unlock(&vif->lock);
	return type;
}

/* Copy @len bytes from the frontend's grant @ref into @dst. */
static bool copy_in(struct nb_vif *vif, uint32_t ref, void *dst, uint32_t len)
{
	struct pvk_grant_copy c = {
		.src = { .is_gref = true, .domid = vif->fe_domid, .ref = ref },
		.dst = { .virt = dst },
		.len = (uint16_t)len,
	};

	if (len > PVK_PAGE_SIZE)
		return false;
	if (!len)
		return true;
	return pvk_hv_grant_copy(vif->hv, &c, 1) == 0 &&
	       c.status == PVK_GNTST_OKAY;
}

/* One request, on the copy; returns the status, *@data the answer. */
static uint32_t handle(struct nb_vif *vif,
		       const struct pvk_netif_ctrl_request *rq, uint32_t *data)
{
	uint32_t buf[PVK_NETIF_CTRL_HASH_MAPPING_MAX], i, n, off;
	uint8_t key[PVK_NETIF_CTRL_TOEPLITZ_KEY_MAX] = { 0 };
	uint32_t st = PVK_NETIF_CTRL_STATUS_SUCCESS;

	*data = 0;
	switch (rq->type) {
	case PVK_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM:
		if (rq->data[0] != PVK_NETIF_CTRL_HASH_ALGORITHM_NONE &&
		    rq->data[0] != PVK_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ)
			return PVK_NETIF_CTRL_STATUS_INVALID_PARAMETER;
		pthread_mutex_lock(&vif->lock);
		vif->hash.alg = (uint8_t)rq->data[0];
		pthread_mutex_unlock(&vif->lock);
		return st;
	case PVK_NETIF_CTRL_TYPE_GET_HASH_FLAGS:
		*data = HASH_TYPES;
		return st;
	case PVK_NETIF_CTRL_TYPE_SET_HASH_FLAGS:
		pthread_mutex_lock(&vif->lock);
		if ((rq->data[0] & ~HASH_TYPES) ||
		    vif->hash.alg == PVK_NETIF_CTRL_HASH_ALGORITHM_NONE)
			st = PVK_NETIF_CTRL_STATUS_INVALID_PARAMETER;
		else
			vif->hash.flags = rq->data[0];
		pthread_mutex_unlock(&vif->lock);
		return st;
	case PVK_NETIF_CTRL_TYPE_SET_HASH_KEY:
		n = rq->data[1];
		if (n > sizeof(key))
			return PVK_NETIF_CTRL_STATUS_INVALID_PARAMETER;
		if (!copy_in(vif, rq->data[0], key, n))
			return PVK_NETIF_CTRL_STATUS_INVALID_PARAMETER;
		pthread_mutex_lock(&vif->lock);
		memcpy(vif->hash.key, key, sizeof(key)); /* zero-padded */
		pthread_mutex_unlock(&vif->lock);
		return st;
	case PVK_NETIF_CTRL_TYPE_GET_HASH_MAPPING_SIZE:
		*data = PVK_NETIF_CTRL_HASH_MAPPING_MAX;
		return st;
	case PVK_NETIF_CTRL_TYPE_SET_HASH_MAPPING_SIZE:
		if (rq->data[0] > PVK_NETIF_CTRL_HASH_MAPPING_MAX)
			return PVK_NETIF_CTRL_STATUS_INVALID_PARAMETER;
		pthread_mutex_lock(&vif->lock);
		vif->hash.size = rq->data[0];
		memset(vif->hash.mapping, 0, sizeof(vif->hash.mapping));
		pthread_mutex_unlock(&vif->lock);
		return st;
	case PVK_NETIF_CTRL_TYPE_SET_HASH_MAPPING:
		n = rq->data[1];
		off = rq->data[2];
		pthread_mutex_lock(&vif->lock);
		i = vif->hash.size;
		pthread_mutex_unlock(&vif->lock);
		if (n > i || off > i - n)
			return PVK_NETIF_CTRL_STATUS_INVALID_PARAMETER;
		if (!copy_in(vif, rq->data[0], buf, n * 4))
			return PVK_NETIF_CTRL_STATUS_INVALID_PARAMETER;
		for (i = 0; i < n; i++)
			if (buf[i] >= vif->nr_queues)
				return PVK_NETIF_CTRL_STATUS_INVALID_PARAMETER;
		pthread_mutex_lock(&vif->lock);
		memcpy(vif->hash.mapping + off, buf, n * 4);
		pthread_mutex_unlock(&vif->lock);
		return st;
	default:
		return PVK_NETIF_CTRL_STATUS_NOT_SUPPORTED;
	}
}

static void *ctrl_main(void *arg)
{
	struct nb_ctrl *c = arg;
	struct pvk_netif_ctrl_request rq;
	struct pvk_netif_ctrl_response rs;
	struct pollfd p[2];
	int n, port;

	for (;;) {
		while ((n = pvk_netif_ctrl_get_request(&c->ring, &rq)) == 1) {
			rs = (struct pvk_netif_ctrl_response){
				.id = rq.id, .type = rq.type
			};
			rs.status = handle(c->vif, &rq, &rs.data);
			pvk_netif_ctrl_put_response(&c->ring, &rs);
		}
		if (n < 0) {
			pvk_xenbus_bus_log(c->vif->bus,
					   "vif %s: control ring: %s; no more "
					   "control requests taken",
					   c->vif->name,
					   pvk_ring_broken_reason(&c->ring));
		}
		if (pvk_ring_push(&c->ring))
			pvk_evtchn_notify(c->ev, c->port);
		if (n == 0 && pvk_ring_final_check(&c->ring) > 0)
			continue;
		p[0] = (struct pollfd){ .fd = n < 0 ? -1 : pvk_evtchn_fd(c->ev),
					.events = POLLIN };
		p[1] = (struct pollfd){ .fd = c->stop_fd, .events = POLLIN };
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break;
		while ((port = pvk_evtchn_pending(c->ev)) >= 0)
			pvk_evtchn_unmask(c->ev, (uint32_t)port);
	}
	return NULL;
}

int nb_ctrl_start(struct nb_vif *vif, uint32_t ref, uint32_t evtchn)
{
	struct nb_ctrl *c = calloc(1, sizeof(*c));
	int err, port;

	if (!c)
		return -ENOMEM;
	c->vif = vif;
	vif->ctrl = c;
	c->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->stop_fd < 0)
		return -errno;
	err = pvk_hv_grant_map(vif->hv, vif->fe_domid, 1, &ref, true, &c->page);
	if (err < 0) {
		c->page = NULL;
		return err;
	}
	if (pvk_netif_ctrl_back_attach(&c->ring, c->page, PVK_PAGE_SIZE) < 0)
		return -EINVAL;
	err = pvk_evtchn_open(vif->hv, &c->ev);
	if (err < 0) {
		c->ev = NULL;
		return err;
	}
	port = pvk_evtchn_bind(c->ev, vif->fe_domid, evtchn);
	if (port < 0)
		return port;
	c->port = (uint32_t)port;
	err = -pthread_create(&c->thread, NULL, ctrl_main, c);
	if (err < 0)
		return err;
	c->thread_ok = true;
	return 0;
}

void nb_ctrl_stop(struct nb_vif *vif)
{
	struct nb_ctrl *c = vif->ctrl;
	uint64_t one = 1;

	if (!c)
		return;
	if (c->thread_ok) {
		if (write(c->stop_fd, &one, sizeof(one)) < 0)
			pvk_xenbus_bus_log(vif->bus, "vif %s: stop: %m",
					   vif->name);
		pthread_join(c->thread, NULL);
	}
	pvk_evtchn_close(c->ev);
	if (c->page)
		pvk_hv_grant_unmap(vif->hv, c->page, 1);
	if (c->stop_fd >= 0)
		close(c->stop_fd);
	free(c);
	vif->ctrl = NULL;
}
