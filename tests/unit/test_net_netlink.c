// SPDX-License-Identifier: Apache-2.0
/*
 * agent/net/netlink: the messages read back attribute by attribute, as the
 * kernel would parse them (the tc redirect is tc's "u32 match u8 0 0
 * action mirred egress redirect dev X"), and the bounds of the builder and
 * the attribute walker.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <linux/if_ether.h>
#include <linux/netlink.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <linux/tc_act/tc_mirred.h>

#include "agent/net/netlink.h"

static const void *attr(const void *data, size_t len, uint16_t type, size_t *out_len)
{
	const void *p;

	assert_true(nl_attr_find(data, len, type, &p, out_len));
	return p;
}

static const struct tcmsg *tc_of(const struct nl_msg *m, const uint8_t **attrs, size_t *len)
{
	const struct nlmsghdr *h = (const void *)m->buf;

	assert_false(m->overflow);
	assert_int_equal(h->nlmsg_len, m->len);
	*attrs = m->buf + NLMSG_LENGTH(sizeof(struct tcmsg));
	*len = m->len - NLMSG_LENGTH(sizeof(struct tcmsg));
	return NLMSG_DATA(h);
}

static void test_redirect_filter(void **state)
{
	struct nl_msg m;
	const uint8_t *a;
	size_t len, l;

	(void)state;
	nl_build_redirect_filter(&m, 7, 9);
	const struct nlmsghdr *h = (const void *)m.buf;
	const struct tcmsg *tc = tc_of(&m, &a, &len);

	assert_int_equal(h->nlmsg_type, RTM_NEWTFILTER);
	assert_int_equal(h->nlmsg_flags, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL);
	assert_int_equal(tc->tcm_ifindex, 7);
	assert_int_equal(tc->tcm_parent, 0xffff0000u);
	assert_int_equal(TC_H_MIN(tc->tcm_info), htons(ETH_P_ALL));
	assert_int_equal(TC_H_MAJ(tc->tcm_info) >> 16, 1);
	assert_string_equal(attr(a, len, TCA_KIND, &l), "u32");
	const uint8_t *opts = attr(a, len, TCA_OPTIONS, &l);
	size_t olen = l;
	const struct tc_u32_sel *sel = attr(opts, olen, TCA_U32_SEL, &l);

	assert_int_equal(l, sizeof(*sel) + sizeof(struct tc_u32_key));
	assert_int_equal(sel->nkeys, 1);
	assert_true(sel->flags & TC_U32_TERMINAL);
	assert_int_equal(sel->keys[0].mask, 0);
	assert_int_equal(sel->keys[0].val, 0);
	const uint8_t *acts = attr(opts, olen, TCA_U32_ACT, &l);
	size_t alen = l;
	const uint8_t *act = attr(acts, alen, 1, &l);
	size_t a1len = l;

	assert_string_equal(attr(act, a1len, TCA_ACT_KIND, &l), "mirred");
	const uint8_t *aopts = attr(act, a1len, TCA_ACT_OPTIONS, &l);
	const struct tc_mirred *mir = attr(aopts, l, TCA_MIRRED_PARMS, &l);

	assert_int_equal(l, sizeof(*mir));
	assert_int_equal(mir->ifindex, 9);
	assert_int_equal(mir->eaction, TCA_EGRESS_REDIR);
	assert_int_equal(mir->action, TC_ACT_STOLEN);
}

static void test_ingress_qdisc(void **state)
{
	struct nl_msg m;
	const uint8_t *a;
	size_t len, l;

	(void)state;
	nl_build_ingress_qdisc(&m, 3, true);
	const struct tcmsg *tc = tc_of(&m, &a, &len);

	assert_int_equal(((const struct nlmsghdr *)m.buf)->nlmsg_type, RTM_NEWQDISC);
	assert_int_equal(tc->tcm_parent, TC_H_INGRESS);
	assert_int_equal(tc->tcm_handle, 0xffff0000u);
	assert_string_equal(attr(a, len, TCA_KIND, &l), "ingress");
	nl_build_ingress_qdisc(&m, 3, false);
	assert_int_equal(((const struct nlmsghdr *)m.buf)->nlmsg_type, RTM_DELQDISC);
	assert_int_equal(((const struct nlmsghdr *)m.buf)->nlmsg_flags, NLM_F_REQUEST);
}

static void test_link_up(void **state)
{
	struct nl_msg m;
	size_t l;

	(void)state;
	nl_build_link_up(&m, 5, 1400);
	const struct ifinfomsg *ifi = NLMSG_DATA((const struct nlmsghdr *)m.buf);
	const uint8_t *a = m.buf + NLMSG_LENGTH(sizeof(*ifi));
	const uint32_t *mtu = attr(a, m.len - NLMSG_LENGTH(sizeof(*ifi)), IFLA_MTU, &l);

	assert_int_equal(ifi->ifi_index, 5);
	assert_int_equal(ifi->ifi_flags & ifi->ifi_change, 1 /* IFF_UP */);
	assert_int_equal(*mtu, 1400);
}

static void test_builder_bounds(void **state)
{
	struct nl_msg m;
	static char big[NL_MSG_MAX];
	struct ifinfomsg ifi = { 0 };

	(void)state;
	nl_msg_init(&m, RTM_NEWLINK, 0, &ifi, sizeof(ifi));
	nl_attr_put(&m, 1, big, sizeof(big) - 16);
	assert_true(m.overflow);
	size_t len = m.len;

	nl_attr_put_u32(&m, 2, 1);
	assert_int_equal(m.len, len); /* nothing is appended after an overflow */
}

static void test_attr_walk_bounds(void **state)
{
	/* An attribute that claims more than there is, then one shorter than its header. */
	uint8_t bad[8] = { 64, 0, 1, 0, 0, 0, 0, 0 };
	uint8_t tiny[8] = { 2, 0, 1, 0, 0, 0, 0, 0 };
	const void *p;
	size_t l;

	(void)state;
	assert_false(nl_attr_find(bad, sizeof(bad), 1, &p, &l));
	assert_false(nl_attr_find(tiny, sizeof(tiny), 1, &p, &l));
	assert_false(nl_attr_find(bad, 3, 1, &p, &l));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_redirect_filter),	 cmocka_unit_test(test_ingress_qdisc),
		cmocka_unit_test(test_link_up),		 cmocka_unit_test(test_builder_bounds),
		cmocka_unit_test(test_attr_walk_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
