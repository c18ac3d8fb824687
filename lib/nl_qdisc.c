/* nl_qdisc: netd's root TBF qdisc over rtnetlink (see nl_qdisc.h). */
#include "lib/nl_qdisc.h"

#include <errno.h>
#include <linux/pkt_sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "lib/err.h"
#include "lib/nl.h"

#define NETD_HANDLE ((uint32_t)NL_QDISC_NETD_MAJOR << 16)

static struct nlmsghdr *qdisc_msg(uint16_t type, uint16_t flags, int ifindex, uint32_t handle)
{
	struct nlmsghdr *nlh = nl_msg(type, flags);
	struct tcmsg *tc = mnl_nlmsg_put_extra_header(nlh, sizeof(*tc));

	tc->tcm_family = AF_UNSPEC;
	tc->tcm_ifindex = ifindex;
	tc->tcm_handle = handle;
	tc->tcm_parent = TC_H_ROOT;
	return nlh;
}

struct root_find {
	int ifindex;
	struct nl_qdisc_root *out;
	bool found;
};

static void tbf_parse(const struct nlattr *opts, struct nl_qdisc_root *r)
{
	const struct nlattr *a;

	mnl_attr_for_each_nested(a, opts) {
		if (mnl_attr_get_type(a) == TCA_TBF_PARMS &&
		    mnl_attr_get_payload_len(a) >= sizeof(struct tc_tbf_qopt)) {
			const struct tc_tbf_qopt *q = mnl_attr_get_payload(a);

			if (!r->rate)
				r->rate = q->rate.rate;
		} else if (mnl_attr_get_type(a) == TCA_TBF_RATE64 &&
			   mnl_attr_get_payload_len(a) == 8) {
			r->rate = mnl_attr_get_u64(a);
		} else if (mnl_attr_get_type(a) == TCA_TBF_BURST &&
			   mnl_attr_get_payload_len(a) == 4) {
			r->burst = mnl_attr_get_u32(a);
		}
	}
}

static int root_cb(const struct nlmsghdr *nlh, void *data)
{
	struct root_find *f = data;
	const struct tcmsg *tc = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a, *opts = NULL;

	if (nlh->nlmsg_type != RTM_NEWQDISC || tc->tcm_ifindex != f->ifindex ||
	    tc->tcm_parent != TC_H_ROOT || f->found)
		return MNL_CB_OK;
	memset(f->out, 0, sizeof(*f->out));
	f->out->handle = tc->tcm_handle;
	mnl_attr_for_each(a, nlh, sizeof(*tc)) {
		if (mnl_attr_get_type(a) == TCA_KIND)
			snprintf(f->out->kind, sizeof(f->out->kind), "%s", mnl_attr_get_str(a));
		else if (mnl_attr_get_type(a) == TCA_OPTIONS)
			opts = a;
	}
	if (opts && !strcmp(f->out->kind, "tbf"))
		tbf_parse(opts, f->out);
	f->found = true;
	return MNL_CB_OK;
}

/* One GET for the root (tcm_parent TC_H_ROOT, no handle): the kernel
 * answers with dev->qdisc, no dump of every interface's qdiscs. It answers
 * a qdisc GET only as a notification, which reaches the asker with
 * NLM_F_ECHO; and it has nothing to say of a built-in root (noqueue, a
 * virtual device's default): -EINVAL, "none" here. */
int nl_qdisc_root_get(int ifindex, struct nl_qdisc_root *out)
{
	struct nlmsghdr *nlh = qdisc_msg(RTM_GETQDISC, NLM_F_ECHO, ifindex, 0);
	struct root_find f = { .ifindex = ifindex, .out = out };
	int rc;

	rc = nl_get(nlh, root_cb, &f);
	if (rc == -EINVAL || rc == -ENOENT || (rc == 0 && !f.found))
		return err_set(-ENOENT, "interface #%d has no qdisc of its own", ifindex);
	return rc;
}

bool nl_qdisc_root_is_netd(const struct nl_qdisc_root *r)
{
	return r->handle == NETD_HANDLE && !strcmp(r->kind, "tbf");
}

/* The kinds an interface has at its root when nobody chose one. */
static bool is_default(const struct nl_qdisc_root *r)
{
	static const char *const kinds[] = { "noqueue", "pfifo_fast", "mq", "fq_codel", "fq",
					     "pfifo", "noop" };

	if (r->handle != 0 && r->handle != TC_H_UNSPEC)
		return false;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (!strcmp(r->kind, kinds[i]))
			return true;
	return false;
}

int nl_qdisc_tbf_set(int ifindex, uint64_t rate, uint32_t burst, uint32_t limit)
{
	struct nl_qdisc_root cur;
	struct tc_tbf_qopt q;
	struct nlmsghdr *nlh;
	struct nlattr *opts;
	int rc;

	/* Kernel-made roots have handle 0; any other handle was chosen. */
	rc = nl_qdisc_root_get(ifindex, &cur);
	if (rc == 0 && !nl_qdisc_root_is_netd(&cur) && !is_default(&cur))
		return err_set(-EBUSY, "its root qdisc is someone else's (%s, handle %x:); not replacing it",
			       cur.kind, cur.handle >> 16);
	if (rc && rc != -ENOENT)
		return rc;
	nlh = qdisc_msg(RTM_NEWQDISC, NLM_F_CREATE | NLM_F_REPLACE, ifindex, NETD_HANDLE);
	mnl_attr_put_strz(nlh, TCA_KIND, "tbf");
	opts = mnl_attr_nest_start(nlh, TCA_OPTIONS);
	memset(&q, 0, sizeof(q));
	/* An Ethernet link layer: the kernel computes times from the rate
	 * itself, no rate table needed. */
	q.rate.linklayer = TC_LINKLAYER_ETHERNET;
	q.rate.rate = rate >= UINT32_MAX ? UINT32_MAX : (uint32_t)rate;
	q.limit = limit;
	mnl_attr_put(nlh, TCA_TBF_PARMS, sizeof(q), &q);
	if (rate >= UINT32_MAX)
		mnl_attr_put_u64(nlh, TCA_TBF_RATE64, rate);
	mnl_attr_put_u32(nlh, TCA_TBF_BURST, burst);
	mnl_attr_nest_end(nlh, opts);
	return nl_request(nlh);
}

int nl_qdisc_netd_del(int ifindex)
{
	struct nl_qdisc_root cur;
	int rc = nl_qdisc_root_get(ifindex, &cur);

	if (rc == -ENOENT || rc == -ENODEV || (rc == 0 && !nl_qdisc_root_is_netd(&cur)))
		return 0;
	if (rc)
		return rc;
	rc = nl_request(qdisc_msg(RTM_DELQDISC, 0, ifindex, NETD_HANDLE));
	return rc == -ENOENT || rc == -EINVAL || rc == -ENODEV ? 0 : rc;
}
