/* SPDX-License-Identifier: MIT */
/* rtnetlink through libmnl (pvkit/net.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>

#include <pvkit/net.h>

struct pvk_nl {
	struct mnl_socket *sk;
	uint32_t portid, seq;
};

/* What a RTM_GETLINK answer told us. */
struct link_info {
	int index;
	uint32_t mtu, master;
};

int pvk_nl_open(struct pvk_nl **out)
{
	struct pvk_nl *nl;
	int err;

	*out = NULL;
	nl = calloc(1, sizeof(*nl));
	if (!nl)
		return -ENOMEM;
	nl->sk = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!nl->sk)
		goto free_nl;
	if (mnl_socket_bind(nl->sk, 0, MNL_SOCKET_AUTOPID) < 0)
		goto close_sk;
	nl->portid = mnl_socket_get_portid(nl->sk);
	nl->seq = (uint32_t)time(NULL);
	*out = nl;
	return 0;

close_sk:
	err = -errno;
	mnl_socket_close(nl->sk);
	free(nl);
	return err;
free_nl:
	err = -errno;
	free(nl);
	return err;
}

void pvk_nl_close(struct pvk_nl *nl)
{
	if (!nl)
		return;
	mnl_socket_close(nl->sk);
	free(nl);
}

static int link_attr(const struct nlattr *a, void *arg)
{
	struct link_info *li = arg;

	if (mnl_attr_type_valid(a, IFLA_MAX) < 0)
		return MNL_CB_OK;
	switch (mnl_attr_get_type(a)) {
	case IFLA_MTU:
		if (mnl_attr_validate(a, MNL_TYPE_U32) == 0)
			li->mtu = mnl_attr_get_u32(a);
		break;
	case IFLA_MASTER:
		if (mnl_attr_validate(a, MNL_TYPE_U32) == 0)
			li->master = mnl_attr_get_u32(a);
		break;
	}
	return MNL_CB_OK;
}

static int link_cb(const struct nlmsghdr *n, void *arg)
{
	const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(n);
	struct link_info *li = arg;

	if (n->nlmsg_type != RTM_NEWLINK)
		return MNL_CB_OK;
	li->index = ifi->ifi_index;
	return mnl_attr_parse(n, sizeof(*ifi), link_attr, li);
}

/* Send @n and wait for its answer: the kernel's ack (or error), and for
 * a request with a reply, that reply through @cb. */
static int nl_talk(struct pvk_nl *nl, struct nlmsghdr *n, mnl_cb_t cb,
		   void *arg)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	ssize_t len;
	int ret;

	n->nlmsg_seq = ++nl->seq;
	n->nlmsg_flags |= NLM_F_ACK;
	if (mnl_socket_sendto(nl->sk, n, n->nlmsg_len) < 0)
		return -errno;
	do {
		len = mnl_socket_recvfrom(nl->sk, buf, sizeof(buf));
		if (len < 0)
			return -errno;
		ret = mnl_cb_run(buf, (size_t)len, nl->seq, nl->portid, cb,
				 arg);
	} while (ret > MNL_CB_STOP);
	return ret < 0 ? -errno : 0;
}

/* @buf holds MNL_SOCKET_BUFFER_SIZE bytes, zeroed here: attribute
 * padding goes to the kernel too. */
static struct nlmsghdr *link_msg(char *buf, uint16_t type, uint16_t flags,
				 struct ifinfomsg **ifi)
{
	struct nlmsghdr *n;

	memset(buf, 0, MNL_SOCKET_BUFFER_SIZE);
	n = mnl_nlmsg_put_header(buf);

	n->nlmsg_type = type;
	n->nlmsg_flags = NLM_F_REQUEST | flags;
	*ifi = mnl_nlmsg_put_extra_header(n, sizeof(**ifi));
	(*ifi)->ifi_family = AF_UNSPEC;
	return n;
}

static bool name_ok(const char *name)
{
	return name && *name && strlen(name) < IFNAMSIZ;
}

static int link_get(struct pvk_nl *nl, const char *name, struct link_info *li)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct ifinfomsg *ifi;
	struct nlmsghdr *n;
	int err;

	if (!name_ok(name))
		return -EINVAL;
	memset(li, 0, sizeof(*li));
	n = link_msg(buf, RTM_GETLINK, 0, &ifi);
	mnl_attr_put_strz(n, IFLA_IFNAME, name);
	err = nl_talk(nl, n, link_cb, li);
	if (err == -ENODEV || (!err && li->index <= 0))
		return -ENODEV;
	return err;
}

int pvk_nl_link_index(struct pvk_nl *nl, const char *name)
{
	struct link_info li;
	int err = link_get(nl, name, &li);

	return err < 0 ? err : li.index;
}

int pvk_nl_link_mtu(struct pvk_nl *nl, const char *name, uint32_t *mtu)
{
	struct link_info li;
	int err = link_get(nl, name, &li);

	if (err < 0)
		return err;
	*mtu = li.mtu;
	return 0;
}

int pvk_nl_link_master(struct pvk_nl *nl, const char *name)
{
	struct link_info li;
	int err = link_get(nl, name, &li);

	return err < 0 ? err : (int)li.master;
}

/* RTM_NEWLINK on an existing link, by name: flags, and one attribute. */
static int link_set(struct pvk_nl *nl, const char *name, unsigned int flags,
		    unsigned int change, uint16_t attr, const void *val,
		    size_t len)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct ifinfomsg *ifi;
	struct nlmsghdr *n;

	if (!name_ok(name))
		return -EINVAL;
	n = link_msg(buf, RTM_NEWLINK, 0, &ifi);
	ifi->ifi_flags = flags;
	ifi->ifi_change = change;
	mnl_attr_put_strz(n, IFLA_IFNAME, name);
	if (attr)
		mnl_attr_put(n, attr, len, val);
	return nl_talk(nl, n, NULL, NULL);
}

int pvk_nl_link_set_up(struct pvk_nl *nl, const char *name, bool up)
{
	return link_set(nl, name, up ? IFF_UP : 0, IFF_UP, 0, NULL, 0);
}

int pvk_nl_link_set_mtu(struct pvk_nl *nl, const char *name, uint32_t mtu)
{
	if (mtu < 68 || mtu > 65535)
		return -EINVAL;
	return link_set(nl, name, 0, 0, IFLA_MTU, &mtu, sizeof(mtu));
}

int pvk_nl_link_set_mac(struct pvk_nl *nl, const char *name,
			const uint8_t mac[6])
{
	return link_set(nl, name, 0, 0, IFLA_ADDRESS, mac, 6);
}

int pvk_nl_link_set_master(struct pvk_nl *nl, const char *name,
			   const char *master)
{
	uint32_t idx = 0;
	int err;

	if (master) {
		err = pvk_nl_link_index(nl, master);
		if (err < 0)
			return err;
		idx = (uint32_t)err;
	}
	return link_set(nl, name, 0, 0, IFLA_MASTER, &idx, sizeof(idx));
}

int pvk_nl_link_set_netns(struct pvk_nl *nl, const char *name, int netns_fd)
{
	uint32_t fd = (uint32_t)netns_fd;

	if (netns_fd < 0)
		return -EBADF;
	return link_set(nl, name, 0, 0, IFLA_NET_NS_FD, &fd, sizeof(fd));
}

int pvk_nl_link_del(struct pvk_nl *nl, const char *name)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct ifinfomsg *ifi;
	struct nlmsghdr *n;

	if (!name_ok(name))
		return -EINVAL;
	n = link_msg(buf, RTM_DELLINK, 0, &ifi);
	mnl_attr_put_strz(n, IFLA_IFNAME, name);
	return nl_talk(nl, n, NULL, NULL);
}

int pvk_nl_bridge_add(struct pvk_nl *nl, const char *name)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct ifinfomsg *ifi;
	struct nlattr *info;
	struct nlmsghdr *n;

	if (!name_ok(name))
		return -EINVAL;
	n = link_msg(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &ifi);
	mnl_attr_put_strz(n, IFLA_IFNAME, name);
	info = mnl_attr_nest_start(n, IFLA_LINKINFO);
	mnl_attr_put_strz(n, IFLA_INFO_KIND, "bridge");
	mnl_attr_nest_end(n, info);
	return nl_talk(nl, n, NULL, NULL);
}

int pvk_nl_veth_add(struct pvk_nl *nl, const char *a, const char *b)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlattr *info, *data, *peer;
	struct ifinfomsg *ifi, *pifi;
	struct nlmsghdr *n;

	if (!name_ok(a) || !name_ok(b))
		return -EINVAL;
	n = link_msg(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &ifi);
	mnl_attr_put_strz(n, IFLA_IFNAME, a);
	info = mnl_attr_nest_start(n, IFLA_LINKINFO);
	mnl_attr_put_strz(n, IFLA_INFO_KIND, "veth");
	data = mnl_attr_nest_start(n, IFLA_INFO_DATA);
	peer = mnl_attr_nest_start(n, VETH_INFO_PEER);
	/* The peer's own ifinfomsg, then its attributes. */
	pifi = mnl_nlmsg_put_extra_header(n, sizeof(*pifi));
	pifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(n, IFLA_IFNAME, b);
	mnl_attr_nest_end(n, peer);
	mnl_attr_nest_end(n, data);
	mnl_attr_nest_end(n, info);
	return nl_talk(nl, n, NULL, NULL);
}
