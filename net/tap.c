/* SPDX-License-Identifier: MIT */
/* TAP devices (pvkit/net.h). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>

#include <pvkit/net.h>

#define TAP_MAX_QUEUES 16u

int pvk_tap_open(const char *name, unsigned int flags, unsigned int nqueues,
		 int *fds, char ifname[PVK_NET_IFNAMSIZ])
{
	struct ifreq ifr;
	unsigned int q;
	int err, hdr = sizeof(struct virtio_net_hdr);

	if ((flags & ~PVK_TAP_VALID_FLAGS) || !name ||
	    strlen(name) >= IFNAMSIZ || !nqueues || nqueues > TAP_MAX_QUEUES ||
	    (nqueues > 1 && !(flags & PVK_TAP_MULTI_QUEUE)))
		return -EINVAL;
	for (q = 0; q < nqueues; q++)
		fds[q] = -1;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	if (flags & PVK_TAP_VNET_HDR)
		ifr.ifr_flags |= IFF_VNET_HDR;
	if (flags & PVK_TAP_MULTI_QUEUE)
		ifr.ifr_flags |= IFF_MULTI_QUEUE;
	strcpy(ifr.ifr_name, name);
	for (q = 0; q < nqueues; q++) {
		fds[q] = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
		if (fds[q] < 0)
			goto close_fds;
		/* The first TUNSETIFF creates the device (filling in a
		 * template); the others attach queues to it by name. */
		if (ioctl(fds[q], TUNSETIFF, &ifr) < 0)
			goto close_fds;
		if ((flags & PVK_TAP_VNET_HDR) &&
		    ioctl(fds[q], TUNSETVNETHDRSZ, &hdr) < 0)
			goto close_fds;
	}
	memcpy(ifname, ifr.ifr_name, IFNAMSIZ);
	ifname[IFNAMSIZ - 1] = 0;
	return 0;

close_fds:
	err = -errno;
	pvk_tap_close(fds, nqueues);
	return err;
}

void pvk_tap_close(int *fds, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}

int pvk_tap_offload(int fd, unsigned int offloads)
{
	unsigned long o = 0;

	if (offloads &
	    ~(PVK_TAP_OFF_CSUM | PVK_TAP_OFF_TSO4 | PVK_TAP_OFF_TSO6))
		return -EINVAL;
	if ((offloads & (PVK_TAP_OFF_TSO4 | PVK_TAP_OFF_TSO6)) &&
	    !(offloads & PVK_TAP_OFF_CSUM))
		return -EINVAL;
	if (offloads & PVK_TAP_OFF_CSUM)
		o |= TUN_F_CSUM;
	if (offloads & PVK_TAP_OFF_TSO4)
		o |= TUN_F_TSO4;
	if (offloads & PVK_TAP_OFF_TSO6)
		o |= TUN_F_TSO6;
	return ioctl(fd, TUNSETOFFLOAD, o) < 0 ? -errno : 0;
}

int pvk_tap_queue_enable(int fd, bool on)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = on ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE;
	if (ioctl(fd, TUNSETQUEUE, &ifr) == 0)
		return 0;
	/* tun answers EINVAL for a queue already attached (detached). */
	return errno == EINVAL ? 0 : -errno;
}
