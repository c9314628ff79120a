// SPDX-License-Identifier: MIT
/*
 * t_wire.c -- the far end of a test bridge (see t_wire.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <net/if.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <linux/virtio_net.h>

#include <pvkit/net.h>

#include "t_wire.h"

static uint64_t ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int running(int s, const char *name)
{
	struct ifreq ifr = { 0 };

	strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		return 0;
	return !!(ifr.ifr_flags & IFF_RUNNING);
}

int t_net_isolate(void)
{
	int fd;

	if (access("/dev/net/tun", R_OK | W_OK) < 0 ||
	    unshare(CLONE_NEWNET) < 0) {
		fprintf(stderr, "SKIP: needs /dev/net/tun and a network "
				"namespace of its own (root)\n");
		return -1;
	}
	fd = open("/proc/sys/net/ipv6/conf/default/disable_ipv6", O_WRONLY);
	if (fd >= 0) {
		(void)!write(fd, "1", 1);
		close(fd);
	}
	return 0;
}

int t_wire_open(const char *bridge, unsigned int mtu)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET,
				   .sll_protocol = htons(ETH_P_ALL) };
	uint64_t t0;
	struct pvk_nl *nl;
	int one = 1, ps, rc;

	rc = pvk_nl_open(&nl);
	if (rc < 0)
		return rc;
	if ((rc = pvk_nl_veth_add(nl, "pvkwa", "pvkwb")) < 0 ||
	    (rc = pvk_nl_link_set_mtu(nl, "pvkwa", mtu)) < 0 ||
	    (rc = pvk_nl_link_set_mtu(nl, "pvkwb", mtu)) < 0 ||
	    (rc = pvk_nl_link_set_master(nl, "pvkwa", bridge)) < 0 ||
	    (rc = pvk_nl_link_set_up(nl, "pvkwa", true)) < 0 ||
	    (rc = pvk_nl_link_set_up(nl, "pvkwb", true)) < 0) {
		pvk_nl_close(nl);
		return rc;
	}
	pvk_nl_close(nl);
	ps = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	if (ps < 0)
		return -errno;
	if (setsockopt(ps, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)) < 0)
		goto fail;
	sll.sll_ifindex = (int)if_nametoindex("pvkwb");
	if (bind(ps, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		goto fail;
	/* Carrier on both ends before the first frame. */
	for (t0 = ms_now(); !running(ps, "pvkwa") || !running(ps, "pvkwb");
	     usleep(1000)) {
		if (ms_now() - t0 > 3000) {
			errno = ETIMEDOUT;
			goto fail;
		}
	}
	return ps;
fail:
	rc = -errno;
	close(ps);
	return rc;
}

void t_wire_close(int ps, const char *bridge)
{
	struct pvk_nl *nl;

	close(ps);
	if (pvk_nl_open(&nl) == 0) {
		pvk_nl_link_del(nl, "pvkwa");
		pvk_nl_link_del(nl, bridge);
		pvk_nl_close(nl);
	}
}

ssize_t t_wire_read(int ps, struct virtio_net_hdr *vh, void *buf, size_t len,
		    int ms)
{
	struct iovec iov[2] = { { vh, sizeof(*vh) }, { buf, len } };
	struct pollfd p = { .fd = ps, .events = POLLIN };
	const uint8_t *b = buf;
	uint64_t t0 = ms_now();
	ssize_t n;

	for (;;) {
		if (poll(&p, 1, 50) == 1) {
			n = readv(ps, iov, 2);
			if (n > (ssize_t)(sizeof(*vh) + 14) &&
			    !memcmp(b, "\xff\xff\xff\xff\xff\xff", 6) &&
			    ((b[12] == 0x88 && b[13] == 0xb5) ||
			     (b[12] == 0x08 && b[13] == 0x00)))
				return n - (ssize_t)sizeof(*vh);
		}
		if (ms_now() - t0 > (uint64_t)ms)
			return -ETIMEDOUT;
	}
}

ssize_t t_wire_write(int ps, const struct virtio_net_hdr *vh, const void *f,
		     size_t len)
{
	struct virtio_net_hdr z = { 0 };
	struct iovec iov[2] = { { vh ? (void *)vh : &z, sizeof(z) },
				{ (void *)f, len } };
	ssize_t n = writev(ps, iov, 2);

	return n < 0 ? -errno : n - (ssize_t)sizeof(z);
}

void t_frame_fill(uint8_t *f, size_t len, const uint8_t src[6], uint8_t seed)
{
	size_t i;

	memset(f, 0xff, 6); /* broadcast: the bridge floods it */
	memcpy(f + 6, src, 6);
	f[12] = 0x88;
	f[13] = 0xb5;
	for (i = 14; i < len; i++)
		f[i] = (uint8_t)(i * 13 + seed);
}
