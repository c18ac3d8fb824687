/* as_nl: anti-spoofing set elements in one nf_tables batch (see as_nl.h). */
#include "antispoof/as_nl.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/set.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#include "lib/err.h"

/* A vif change is at most about twenty messages of well under 1 KiB (16
 * addresses per set at most); mnl's batch wants twice its limit. */
#define AS_NL_BATCH_LIMIT 32768
#define AS_NL_MSGS_MAX 64

/* What a message was, to name it when it fails. */
struct as_nl_desc {
	uint32_t seq;
	enum as_nl_verb verb;
	uint8_t nfproto;
	char table[NFT_TABLE_MAXNAMELEN];
	char set[NFT_SET_MAXNAMELEN];
};

static struct mnl_socket *sock;
static uint32_t seq;
static uint8_t buf[2 * AS_NL_BATCH_LIMIT] __attribute__((aligned(4)));
static struct mnl_nlmsg_batch *batch;
static uint32_t begin_seq;

static struct as_nl_desc msgs[AS_NL_MSGS_MAX];
static unsigned n_msgs;

/* The message being filled. */
static struct nftnl_set *cur;
static struct as_nl_desc cur_desc;
static unsigned cur_elems;
static int build_rc; /* first failure while building; reported by commit */

void as_nl_key_bytes(struct as_nl_key *k, const void *p, uint32_t len)
{
	uint32_t padded = (len + 3) & ~3u;

	if (k->len + padded > sizeof(k->b)) {
		k->len = sizeof(k->b) + 1; /* too long: as_nl_elem refuses it */
		return;
	}
	memcpy(k->b + k->len, p, len);
	memset(k->b + k->len + len, 0, padded - len);
	k->len += padded;
}

void as_nl_key_ifname(struct as_nl_key *k, const char *ifname)
{
	char name[IFNAMSIZ] = { 0 };

	strncpy(name, ifname, IFNAMSIZ - 1);
	as_nl_key_bytes(k, name, IFNAMSIZ);
}

static const char *verb_name(enum as_nl_verb v)
{
	return v == AS_NL_DELETE ? "delete" : v == AS_NL_CREATE ? "create" : "add";
}

static const char *proto_name(uint8_t p)
{
	return p == NFPROTO_BRIDGE ? "bridge" : p == NFPROTO_ARP ? "arp" :
	       p == NFPROTO_INET ? "inet" : "?";
}

static void fail(int rc, const struct as_nl_desc *d, const char *why)
{
	if (!build_rc)
		build_rc = err_set(rc, "%s element %s %s %s: %s", verb_name(d->verb),
				   proto_name(d->nfproto), d->table, d->set, why);
}

/* Close the open message into the batch. */
static void flush(void)
{
	struct nlmsghdr *nlh;
	uint16_t flags = NLM_F_ACK;

	if (!cur)
		return;
	if (cur_elems && !build_rc) {
		if (cur_desc.verb != AS_NL_DELETE)
			flags |= NLM_F_CREATE;
		if (cur_desc.verb == AS_NL_CREATE)
			flags |= NLM_F_EXCL;
		if (n_msgs == AS_NL_MSGS_MAX) {
			fail(-EMSGSIZE, &cur_desc, "too many messages in one batch");
		} else {
			cur_desc.seq = ++seq;
			nlh = nftnl_nlmsg_build_hdr(mnl_nlmsg_batch_current(batch),
						    cur_desc.verb == AS_NL_DELETE ?
						    NFT_MSG_DELSETELEM : NFT_MSG_NEWSETELEM,
						    cur_desc.nfproto, flags, cur_desc.seq);
			nftnl_set_elems_nlmsg_build_payload(nlh, cur);
			if (!mnl_nlmsg_batch_next(batch))
				fail(-EMSGSIZE, &cur_desc, "batch too large");
			else
				msgs[n_msgs++] = cur_desc;
		}
	}
	nftnl_set_free(cur);
	cur = NULL;
	cur_elems = 0;
}

void as_nl_begin(void)
{
	flush();
	n_msgs = 0;
	build_rc = 0;
	if (batch)
		mnl_nlmsg_batch_stop(batch);
	batch = mnl_nlmsg_batch_start(buf, AS_NL_BATCH_LIMIT);
	if (!batch) {
		build_rc = err_set(-ENOMEM, "antispoof: out of memory");
		return;
	}
	begin_seq = ++seq;
	nftnl_batch_begin(mnl_nlmsg_batch_current(batch), begin_seq);
	mnl_nlmsg_batch_next(batch);
}

void as_nl_set(enum as_nl_verb verb, uint8_t nfproto, const char *table, const char *set)
{
	flush();
	memset(&cur_desc, 0, sizeof(cur_desc));
	cur_desc.verb = verb;
	cur_desc.nfproto = nfproto;
	snprintf(cur_desc.table, sizeof(cur_desc.table), "%s", table);
	snprintf(cur_desc.set, sizeof(cur_desc.set), "%s", set);
	cur = nftnl_set_alloc();
	if (!cur || nftnl_set_set_str(cur, NFTNL_SET_TABLE, table) ||
	    nftnl_set_set_str(cur, NFTNL_SET_NAME, set))
		fail(-ENOMEM, &cur_desc, "out of memory");
}

/* `limit rate over R bytes/second burst B bytes`, as nft encodes it. */
static struct nftnl_expr *limit_expr(const struct as_rate *lim)
{
	struct nftnl_expr *e = nftnl_expr_alloc("limit");

	if (!e)
		return NULL;
	nftnl_expr_set_u64(e, NFTNL_EXPR_LIMIT_RATE, lim->bytes_per_sec);
	nftnl_expr_set_u64(e, NFTNL_EXPR_LIMIT_UNIT, 1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_LIMIT_BURST, lim->burst);
	nftnl_expr_set_u32(e, NFTNL_EXPR_LIMIT_TYPE, NFT_LIMIT_PKT_BYTES);
	nftnl_expr_set_u32(e, NFTNL_EXPR_LIMIT_FLAGS, NFT_LIMIT_F_INV);
	return e;
}

void as_nl_elem(const struct as_nl_key *k, const struct as_rate *lim)
{
	struct nftnl_set_elem *e;
	struct nftnl_expr *x;

	if (!cur || build_rc)
		return;
	if (k->len > sizeof(k->b))
		return fail(-EINVAL, &cur_desc, "key too long");
	e = nftnl_set_elem_alloc();
	if (!e || nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, k->b, k->len) < 0) {
		nftnl_set_elem_free(e);
		return fail(-ENOMEM, &cur_desc, "out of memory");
	}
	if (lim) {
		x = limit_expr(lim);
		if (!x) {
			nftnl_set_elem_free(e);
			return fail(-ENOMEM, &cur_desc, "out of memory");
		}
		nftnl_set_elem_add_expr(e, x);
	}
	nftnl_set_elem_add(cur, e);
	cur_elems++;
}

void as_nl_close(void)
{
	flush();
	if (sock)
		mnl_socket_close(sock);
	sock = NULL;
}

static int sock_open(void)
{
	struct timeval tv = { .tv_sec = 10 };
	int one = 1, rc;

	if (sock)
		return 0;
	sock = mnl_socket_open(NETLINK_NETFILTER);
	if (!sock)
		return err_set(-errno, "antispoof: cannot open a netfilter socket: %s",
			       strerror(errno));
	mnl_socket_setsockopt(sock, NETLINK_EXT_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(sock, NETLINK_CAP_ACK, &one, sizeof(one));
	/* A lost answer must not hold netd's event loop for good. */
	setsockopt(mnl_socket_get_fd(sock), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (mnl_socket_bind(sock, 0, MNL_SOCKET_AUTOPID) < 0) {
		rc = -errno;
		mnl_socket_close(sock);
		sock = NULL;
		return err_set(rc, "antispoof: cannot bind a netfilter socket: %s", strerror(-rc));
	}
	if (!seq)
		seq = (uint32_t)time(NULL);
	return 0;
}

/* The kernel's extended-ACK text of an error, or NULL. */
static const char *extack_msg(const struct nlmsghdr *nlh, const struct nlmsgerr *e)
{
	const struct nlattr *attr;
	size_t off = sizeof(*e);

	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return NULL;
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - sizeof(struct nlmsghdr);
	if (nlh->nlmsg_len < mnl_nlmsg_size(off))
		return NULL;
	/* mnl_attr_for_each_payload() names its cursor `attr`. */
	mnl_attr_for_each_payload((const struct nlattr *)((const uint8_t *)e + off),
				  nlh->nlmsg_len - mnl_nlmsg_size(off)) {
		if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG &&
		    mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) == 0)
			return mnl_attr_get_str(attr);
	}
	return NULL;
}

static const struct as_nl_desc *desc_of(uint32_t s)
{
	for (unsigned i = 0; i < n_msgs; i++)
		if (msgs[i].seq == s)
			return &msgs[i];
	return NULL;
}

/* One answer: *acked counts the batch's messages answered; *done when the
 * kernel refused the batch as a whole (it answers nothing else then). The
 * message goes to err_msg() only when record (the first failure). */
static int handle(const struct nlmsghdr *nlh, unsigned *acked, bool *done, bool record)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	const struct as_nl_desc *d;
	const char *msg;
	char why[256];
	int rc;

	if (nlh->nlmsg_type != NLMSG_ERROR || nlh->nlmsg_seq < begin_seq || nlh->nlmsg_seq > seq)
		return 0; /* not ours, or an answer to an earlier batch */
	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e)))
		return err_set(-EBADMSG, "antispoof: truncated netlink answer");
	d = desc_of(nlh->nlmsg_seq);
	if (d)
		(*acked)++;
	else
		*done = true;
	if (e->error == 0)
		return 0;
	rc = e->error < 0 ? e->error : -EIO;
	if (!record)
		return rc;
	msg = extack_msg(nlh, e);
	if (msg)
		snprintf(why, sizeof(why), "Error: %s.", msg);
	else
		snprintf(why, sizeof(why), "%s", strerror(-rc));
	if (d)
		return err_set(rc, "%s element %s %s %s: %s", verb_name(d->verb),
			       proto_name(d->nfproto), d->table, d->set, why);
	return err_set(rc, "nftables batch: %s", why);
}

int as_nl_commit(void)
{
	static uint8_t rcv[16384] __attribute__((aligned(4)));
	unsigned acked = 0;
	bool done = false;
	int rc, first = 0;
	ssize_t n;
	int len;

	flush();
	if (build_rc)
		return build_rc;
	if (!n_msgs)
		return 0;
	rc = sock_open();
	if (rc)
		return rc;
	nftnl_batch_end(mnl_nlmsg_batch_current(batch), ++seq);
	mnl_nlmsg_batch_next(batch);
	err_clear();
	if (mnl_socket_sendto(sock, mnl_nlmsg_batch_head(batch),
			      mnl_nlmsg_batch_size(batch)) < 0)
		return err_set(-errno, "antispoof: netlink send: %s", strerror(errno));
	/* Every message asked for an answer; the kernel sends them all, the
	 * failed ones with the reason, after the commit or the abort. */
	while (acked < n_msgs && !done) {
		n = mnl_socket_recvfrom(sock, rcv, sizeof(rcv));
		if (n < 0) {
			rc = -errno;
			/* Answers may still come: they must not meet the next batch. */
			as_nl_close();
			return first ? first : err_set(rc, "antispoof: netlink receive: %s",
						       strerror(-rc));
		}
		len = (int)n;
		for (const struct nlmsghdr *nlh = (const void *)rcv; mnl_nlmsg_ok(nlh, len);
		     nlh = mnl_nlmsg_next(nlh, &len)) {
			rc = handle(nlh, &acked, &done, !first);
			if (rc && !first)
				first = rc;
		}
	}
	return first;
}
