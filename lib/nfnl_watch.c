/* nfnl_watch: nftables change events for one table (see nfnl_watch.h). */
#include "lib/nfnl_watch.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/err.h"

/* A whole 10,000-element table rewrite is ~10,000 messages of ~100 bytes;
 * a large buffer keeps our own bursts from overrunning it. */
#define NFNL_WATCH_RCVBUF (8 << 20)

struct nfnl_watch {
	struct mnl_socket *nl;
	int family;
	char table[256];
	bool pending; /* the transaction being read touched the table */
};

int nfnl_watch_open(int family, const char *table, struct nfnl_watch **out)
{
	unsigned int group = NFNLGRP_NFTABLES;
	int size = NFNL_WATCH_RCVBUF, fd;
	struct nfnl_watch *w;

	*out = NULL;
	if (strlen(table) >= sizeof(w->table))
		return err_set(-ENAMETOOLONG, "nftables watch: table name too long");
	w = calloc(1, sizeof(*w));
	if (!w)
		return err_set(-ENOMEM, "out of memory");
	w->family = family;
	snprintf(w->table, sizeof(w->table), "%s", table);
	w->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (!w->nl) {
		int rc = -errno;

		free(w);
		return err_set(rc, "nftables watch: netlink socket: %s", strerror(-rc));
	}
	if (mnl_socket_bind(w->nl, 0, MNL_SOCKET_AUTOPID) < 0 ||
	    mnl_socket_setsockopt(w->nl, NETLINK_ADD_MEMBERSHIP, &group, sizeof(group)) < 0) {
		int rc = -errno;

		nfnl_watch_close(w);
		return err_set(rc, "nftables watch: cannot subscribe to nftables events: %s",
			       strerror(-rc));
	}
	fd = mnl_socket_get_fd(w->nl);
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	*out = w;
	return 0;
}

void nfnl_watch_close(struct nfnl_watch *w)
{
	if (!w)
		return;
	if (w->nl)
		mnl_socket_close(w->nl);
	free(w);
}

int nfnl_watch_fd(const struct nfnl_watch *w)
{
	return mnl_socket_get_fd(w->nl);
}

/* Table-scoped messages all carry the table name as attribute 1
 * (NFTA_TABLE_NAME, NFTA_CHAIN_TABLE, NFTA_RULE_TABLE, NFTA_SET_TABLE,
 * NFTA_SET_ELEM_LIST_TABLE, NFTA_OBJ_TABLE, NFTA_FLOWTABLE_TABLE). */
static bool msg_is_ours(const struct nfnl_watch *w, const struct nlmsghdr *nlh)
{
	const struct nfgenmsg *g = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a;

	if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN + sizeof(*g) || g->nfgen_family != w->family)
		return false;
	mnl_attr_for_each(a, nlh, sizeof(*g)) {
		if (mnl_attr_get_type(a) != 1)
			continue;
		if (mnl_attr_validate(a, MNL_TYPE_NUL_STRING) < 0)
			return false;
		return !strcmp(mnl_attr_get_str(a), w->table);
	}
	return false;
}

static void gen_info(const struct nlmsghdr *nlh, pid_t *pid, char *comm, size_t len)
{
	const struct nlattr *a;

	*pid = 0;
	comm[0] = '\0';
	mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg)) {
		if (mnl_attr_get_type(a) == NFTA_GEN_PROC_PID &&
		    mnl_attr_validate(a, MNL_TYPE_U32) == 0)
			*pid = (pid_t)ntohl(mnl_attr_get_u32(a));
		else if (mnl_attr_get_type(a) == NFTA_GEN_PROC_NAME &&
			 mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
			snprintf(comm, len, "%s", mnl_attr_get_str(a));
	}
}

int nfnl_watch_read(struct nfnl_watch *w, struct nfnl_watch_event *ev)
{
	static char buf[65536];
	int found = 0;

	memset(ev, 0, sizeof(*ev));
	for (int rounds = 0; rounds < 100000; rounds++) {
		ssize_t n = mnl_socket_recvfrom(w->nl, buf, sizeof(buf));
		const struct nlmsghdr *nlh;
		int len;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == ENOBUFS) {
				/* Events lost: whatever was pending is unknown now. */
				w->pending = false;
				ev->lost = 1;
				found = 1;
				continue;
			}
			return err_set(-errno, "nftables watch: %s", strerror(errno));
		}
		len = (int)n;
		for (nlh = (const struct nlmsghdr *)buf; mnl_nlmsg_ok(nlh, len);
		     nlh = mnl_nlmsg_next(nlh, &len)) {
			uint16_t type = nlh->nlmsg_type;

			if (NFNL_SUBSYS_ID(type) != NFNL_SUBSYS_NFTABLES)
				continue;
			if (NFNL_MSG_TYPE(type) == NFT_MSG_NEWGEN) {
				pid_t pid;
				char comm[32];

				gen_info(nlh, &pid, comm, sizeof(comm));
				if (w->pending && pid != getpid()) {
					ev->pid = pid;
					snprintf(ev->comm, sizeof(ev->comm), "%s", comm);
					found = 1;
				}
				w->pending = false;
			} else if (msg_is_ours(w, nlh)) {
				w->pending = true;
			}
		}
	}
	return found;
}
