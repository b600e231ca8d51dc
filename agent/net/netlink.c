// SPDX-License-Identifier: Apache-2.0
/*
 * Hand-rolled rtnetlink (netlink.h). Attribute layout follows
 * linux/netlink.h and linux/rtnetlink.h; the tc payloads follow
 * linux/pkt_sched.h, pkt_cls.h and tc_act/tc_mirred.h.
 */
#include "agent/net/netlink.h"

#include <errno.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <linux/if_arp.h>
#include <linux/if_ether.h>
#include <linux/netlink.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <linux/tc_act/tc_mirred.h>

static struct nlmsghdr *hdr_of(struct nl_msg *m)
{
	return (struct nlmsghdr *)m->buf;
}

void nl_msg_init(struct nl_msg *m, uint16_t type, uint16_t flags, const void *hdr, size_t hdr_len)
{
	memset(m->buf, 0, sizeof(m->buf));
	m->overflow = hdr_len > sizeof(m->buf) - NLMSG_HDRLEN;
	if (m->overflow) {
		m->len = 0;
		return;
	}
	struct nlmsghdr *h = hdr_of(m);

	h->nlmsg_type = type;
	h->nlmsg_flags = NLM_F_REQUEST | flags;
	memcpy(m->buf + NLMSG_HDRLEN, hdr, hdr_len);
	m->len = NLMSG_HDRLEN + NLMSG_ALIGN(hdr_len);
	h->nlmsg_len = (uint32_t)m->len;
}

void nl_attr_put(struct nl_msg *m, uint16_t type, const void *data, size_t len)
{
	size_t need = NLA_HDRLEN + NLA_ALIGN(len);

	if (m->overflow || len > UINT16_MAX - NLA_HDRLEN || need > sizeof(m->buf) - m->len) {
		m->overflow = true;
		return;
	}
	struct nlattr *a = (struct nlattr *)(m->buf + m->len);

	a->nla_type = type;
	a->nla_len = (uint16_t)(NLA_HDRLEN + len);
	if (len)
		memcpy(m->buf + m->len + NLA_HDRLEN, data, len);
	m->len += need;
	hdr_of(m)->nlmsg_len = (uint32_t)m->len;
}

void nl_attr_put_u32(struct nl_msg *m, uint16_t type, uint32_t v)
{
	nl_attr_put(m, type, &v, sizeof(v));
}

void nl_attr_put_str(struct nl_msg *m, uint16_t type, const char *s)
{
	nl_attr_put(m, type, s, strlen(s) + 1);
}

size_t nl_nest_start(struct nl_msg *m, uint16_t type)
{
	size_t start = m->len;

	nl_attr_put(m, type | NLA_F_NESTED, NULL, 0);
	return start;
}

void nl_nest_end(struct nl_msg *m, size_t start)
{
	if (m->overflow)
		return;
	struct nlattr *a = (struct nlattr *)(m->buf + start);

	if (m->len - start > UINT16_MAX) {
		m->overflow = true;
		return;
	}
	a->nla_len = (uint16_t)(m->len - start);
}

bool nl_attr_find(const void *data, size_t len, uint16_t type, const void **out, size_t *out_len)
{
	const uint8_t *p = data;

	while (len >= NLA_HDRLEN) {
		const struct nlattr *a = (const struct nlattr *)p;

		if (a->nla_len < NLA_HDRLEN || a->nla_len > len)
			return false;
		if ((a->nla_type & NLA_TYPE_MASK) == type) {
			*out = p + NLA_HDRLEN;
			*out_len = a->nla_len - NLA_HDRLEN;
			return true;
		}
		size_t step = NLA_ALIGN(a->nla_len);

		if (step >= len)
			return false;
		p += step;
		len -= step;
	}
	return false;
}

void nl_build_link_up(struct nl_msg *m, int ifindex, uint32_t mtu)
{
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC,
				 .ifi_index = ifindex,
				 .ifi_flags = IFF_UP,
				 .ifi_change = IFF_UP };

	nl_msg_init(m, RTM_NEWLINK, 0, &ifi, sizeof(ifi));
	if (mtu)
		nl_attr_put_u32(m, IFLA_MTU, mtu);
}

void nl_build_link_del(struct nl_msg *m, int ifindex)
{
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_index = ifindex };

	nl_msg_init(m, RTM_DELLINK, 0, &ifi, sizeof(ifi));
}

void nl_build_link_get(struct nl_msg *m, const char *name)
{
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };

	nl_msg_init(m, RTM_GETLINK, 0, &ifi, sizeof(ifi));
	nl_attr_put_str(m, IFLA_IFNAME, name);
}

void nl_build_ingress_qdisc(struct nl_msg *m, int ifindex, bool add)
{
	struct tcmsg tc = { .tcm_family = AF_UNSPEC,
			    .tcm_ifindex = ifindex,
			    .tcm_handle = TC_H_MAKE(TC_H_INGRESS, 0),
			    .tcm_parent = TC_H_INGRESS };

	nl_msg_init(m, add ? RTM_NEWQDISC : RTM_DELQDISC, add ? NLM_F_CREATE | NLM_F_EXCL : 0, &tc,
		    sizeof(tc));
	nl_attr_put_str(m, TCA_KIND, "ingress");
}

void nl_build_redirect_filter(struct nl_msg *m, int ifindex, int to_ifindex)
{
	/* Priority 1 in the upper half of tcm_info, the protocol (network order) in the lower. */
	struct tcmsg tc = { .tcm_family = AF_UNSPEC,
			    .tcm_ifindex = ifindex,
			    .tcm_parent = TC_H_MAKE(TC_H_INGRESS, 0),
			    .tcm_info = TC_H_MAKE(1u << 16, htons(ETH_P_ALL)) };
	/* One key that matches every packet: offset 0, mask 0, value 0 (the key stays zero). */
	const struct tc_u32_sel head = { .flags = TC_U32_TERMINAL, .nkeys = 1 };
	uint8_t sel[sizeof(struct tc_u32_sel) + sizeof(struct tc_u32_key)] = { 0 };

	memcpy(sel, &head, sizeof(head));
	struct tc_mirred mirred = { .action = TC_ACT_STOLEN,
				    .eaction = TCA_EGRESS_REDIR,
				    .ifindex = (uint32_t)to_ifindex };

	nl_msg_init(m, RTM_NEWTFILTER, NLM_F_CREATE | NLM_F_EXCL, &tc, sizeof(tc));
	nl_attr_put_str(m, TCA_KIND, "u32");
	size_t opts = nl_nest_start(m, TCA_OPTIONS);

	nl_attr_put(m, TCA_U32_SEL, sel, sizeof(sel));
	size_t acts = nl_nest_start(m, TCA_U32_ACT);
	size_t act = nl_nest_start(m, 1);

	nl_attr_put_str(m, TCA_ACT_KIND, "mirred");
	size_t aopts = nl_nest_start(m, TCA_ACT_OPTIONS);

	nl_attr_put(m, TCA_MIRRED_PARMS, &mirred, sizeof(mirred));
	nl_nest_end(m, aopts);
	nl_nest_end(m, act);
	nl_nest_end(m, acts);
	nl_nest_end(m, opts);
}

int nl_open(struct err *err)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);

	if (fd < 0)
		return err_set(err, -errno, "netlink socket: %s", strerror(errno));
	/* The kernel answers at once; a bound wait keeps a stuck socket from holding a thread. */
	struct timeval tv = { .tv_sec = 5 };

	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
		int e = -errno;

		close(fd);
		return err_set(err, e, "netlink SO_RCVTIMEO: %s", strerror(-e));
	}
	return fd;
}

/*
 * Receives the answer to seq: for a GET, the first reply message is copied
 * to reply (up to cap); the ACK or error ends it. Returns 0 or -errno.
 */
static int nl_recv(int fd, uint32_t seq, void *reply, size_t cap, size_t *reply_len)
{
	_Alignas(4) uint8_t buf[8192];

	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		if (n < 0)
			return errno == EINTR ? -EINTR : -errno;
		size_t len = (size_t)n;

		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, len);
		     h = NLMSG_NEXT(h, len)) {
			if (h->nlmsg_seq != seq)
				continue;
			if (h->nlmsg_type == NLMSG_ERROR) {
				if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct nlmsgerr)))
					return -EBADMSG;
				const struct nlmsgerr *e = NLMSG_DATA(h);

				return e->error;
			}
			if (h->nlmsg_type == NLMSG_DONE)
				return 0;
			if (reply && reply_len && !*reply_len) {
				size_t l = h->nlmsg_len < cap ? h->nlmsg_len : cap;

				memcpy(reply, h, l);
				*reply_len = l;
			}
		}
	}
}

static int nl_exchange(int fd, struct nl_msg *m, void *reply, size_t cap, size_t *reply_len)
{
	static const struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	struct nlmsghdr *h = hdr_of(m);
	/* Sequence numbers only need to differ between the messages of one socket. */
	uint32_t seq = (uint32_t)m->len ^ (uint32_t)h->nlmsg_type << 16 ^ (uint32_t)getpid();

	if (m->overflow)
		return -EMSGSIZE;
	h->nlmsg_flags |= NLM_F_ACK;
	h->nlmsg_seq = seq;
	if (sendto(fd, m->buf, m->len, 0, (const struct sockaddr *)&kernel, sizeof(kernel)) < 0)
		return -errno;
	int r;

	do
		r = nl_recv(fd, seq, reply, cap, reply_len);
	while (r == -EINTR);
	return r;
}

int nl_talk(int fd, struct nl_msg *m, const char *what, struct err *err)
{
	int r = nl_exchange(fd, m, NULL, 0, NULL);

	if (r < 0)
		return err_set(err, r, "%s: %s", what, strerror(-r));
	return 0;
}

int nl_link_get(int fd, const char *name, struct nl_link *out, struct err *err)
{
	struct nl_msg m;
	_Alignas(4) uint8_t reply[4096];
	size_t len = 0;

	if (strlen(name) >= IFNAMSIZ)
		return err_set(err, -EINVAL, "interface name '%s': too long", name);
	nl_build_link_get(&m, name);
	int r = nl_exchange(fd, &m, reply, sizeof(reply), &len);

	if (r == -ENODEV || (r == 0 && !len))
		return err_set(err, -ENODEV, "no interface '%s' in the network namespace", name);
	if (r < 0)
		return err_set(err, r, "netlink RTM_GETLINK %s: %s", name, strerror(-r));
	const struct nlmsghdr *h = (const struct nlmsghdr *)reply;

	if (len < NLMSG_LENGTH(sizeof(struct ifinfomsg)) || h->nlmsg_type != RTM_NEWLINK)
		return err_set(err, -EBADMSG, "netlink RTM_GETLINK %s: bad answer", name);
	const struct ifinfomsg *ifi = NLMSG_DATA(h);
	const uint8_t *attrs = (const uint8_t *)ifi + NLMSG_ALIGN(sizeof(*ifi));
	size_t alen = len - NLMSG_LENGTH(NLMSG_ALIGN(sizeof(*ifi)));
	const void *p;
	size_t plen;

	memset(out, 0, sizeof(*out));
	out->ifindex = ifi->ifi_index;
	if (nl_attr_find(attrs, alen, IFLA_MTU, &p, &plen) && plen == 4)
		memcpy(&out->mtu, p, 4);
	if (nl_attr_find(attrs, alen, IFLA_ADDRESS, &p, &plen) && plen == 6) {
		memcpy(out->mac, p, 6);
		out->has_mac = true;
	}
	return 0;
}
