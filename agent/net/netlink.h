/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rtnetlink, hand-rolled and bounded: a message is built in a fixed buffer
 * (NL_MSG_MAX bytes; an attribute that does not fit fails the build, it is
 * never cut), sent on an AF_NETLINK socket with NLM_F_ACK, and the kernel's
 * answer checked. The builders for the messages kvmlet needs (links, the
 * ingress qdisc, the u32 match-all filter with a mirred redirect) are pure
 * functions over the buffer, so unit tests read back what they built.
 *
 * Threads: a struct nl_msg belongs to its caller; a socket from nl_open()
 * lives in the network namespace of the thread that opened it and belongs
 * to one thread at a time.
 */
#ifndef KVMLET_AGENT_NET_NETLINK_H
#define KVMLET_AGENT_NET_NETLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

#define NL_MSG_MAX 1024

struct nl_msg {
	_Alignas(4) uint8_t buf[NL_MSG_MAX];
	size_t len;
	bool overflow; /* an append did not fit: the message must not be sent */
};

/* A header (struct nlmsghdr) of type/flags followed by a family header of hdr_len bytes. */
void nl_msg_init(struct nl_msg *m, uint16_t type, uint16_t flags, const void *hdr, size_t hdr_len);
void nl_attr_put(struct nl_msg *m, uint16_t type, const void *data, size_t len);
void nl_attr_put_u32(struct nl_msg *m, uint16_t type, uint32_t v);
void nl_attr_put_str(struct nl_msg *m, uint16_t type, const char *s);
/* Opens a nested attribute; returns its offset for nl_nest_end(). */
size_t nl_nest_start(struct nl_msg *m, uint16_t type);
void nl_nest_end(struct nl_msg *m, size_t start);

/*
 * Walks the attributes in [data, data+len): the first of type, its payload
 * and length through out and out_len; false if absent or malformed.
 */
bool nl_attr_find(const void *data, size_t len, uint16_t type, const void **out, size_t *out_len);

/* ---- the messages kvmlet sends ---------------------------------------- */

/* RTM_NEWLINK on ifindex: mtu (0: unchanged) and IFF_UP. */
void nl_build_link_up(struct nl_msg *m, int ifindex, uint32_t mtu);
/* RTM_DELLINK of ifindex. */
void nl_build_link_del(struct nl_msg *m, int ifindex);
/* RTM_GETLINK of a name. */
void nl_build_link_get(struct nl_msg *m, const char *name);
/* RTM_NEWQDISC (add) or RTM_DELQDISC of the ingress qdisc on ifindex. */
void nl_build_ingress_qdisc(struct nl_msg *m, int ifindex, bool add);
/*
 * RTM_NEWTFILTER on ifindex's ingress: protocol all, u32 match-all, action
 * mirred egress redirect to to_ifindex (tc's "u32 match u8 0 0 action
 * mirred egress redirect dev TO").
 */
void nl_build_redirect_filter(struct nl_msg *m, int ifindex, int to_ifindex);

/* ---- the socket ------------------------------------------------------- */

/* A NETLINK_ROUTE socket in the calling thread's network namespace; -errno. */
int nl_open(struct err *err);
/*
 * Sends m (with NLM_F_ACK added) and waits for the kernel's answer: 0, or
 * the kernel's negative errno with err naming what (a short text).
 */
int nl_talk(int fd, struct nl_msg *m, const char *what, struct err *err);

struct nl_link {
	int ifindex;
	uint32_t mtu;
	uint8_t mac[6];
	bool has_mac;
};
/* The link called name: -ENODEV if there is none. */
int nl_link_get(int fd, const char *name, struct nl_link *out, struct err *err);

#endif
