/* nl_linkwatch: link events (see nl_linkwatch.h). */
#include "lib/nl_linkwatch.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "lib/err.h"

struct nl_linkwatch {
	struct mnl_socket *nl;
};

int nl_linkwatch_open(struct nl_linkwatch **out)
{
	unsigned int group = RTNLGRP_LINK;
	struct nl_linkwatch *w = calloc(1, sizeof(*w));
	int rc;

	*out = NULL;
	if (!w)
		return err_set(-ENOMEM, "out of memory");
	w->nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (!w->nl || mnl_socket_bind(w->nl, 0, MNL_SOCKET_AUTOPID) < 0 ||
	    mnl_socket_setsockopt(w->nl, NETLINK_ADD_MEMBERSHIP, &group, sizeof(group)) < 0) {
		rc = -errno;
		nl_linkwatch_close(w);
		return err_set(rc, "link watch: cannot subscribe to link events: %s", strerror(-rc));
	}
	*out = w;
	return 0;
}

void nl_linkwatch_close(struct nl_linkwatch *w)
{
	if (!w)
		return;
	if (w->nl)
		mnl_socket_close(w->nl);
	free(w);
}

int nl_linkwatch_fd(const struct nl_linkwatch *w)
{
	return mnl_socket_get_fd(w->nl);
}

struct cb {
	void (*fn)(const struct nl_link_event *ev, void *data);
	void *data;
};

static int on_msg(const struct nlmsghdr *nlh, void *data)
{
	const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
	struct nl_link_event ev = { .gone = nlh->nlmsg_type == RTM_DELLINK };
	struct cb *cb = data;
	struct nlattr *a;

	if (nlh->nlmsg_type != RTM_NEWLINK && nlh->nlmsg_type != RTM_DELLINK)
		return MNL_CB_OK;
	ev.ifindex = ifi->ifi_index;
	mnl_attr_for_each(a, nlh, sizeof(*ifi))
		if (mnl_attr_get_type(a) == IFLA_IFNAME && mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
			snprintf(ev.name, sizeof(ev.name), "%s", mnl_attr_get_str(a));
	if (ev.name[0])
		cb->fn(&ev, cb->data);
	return MNL_CB_OK;
}

int nl_linkwatch_read(struct nl_linkwatch *w, void (*fn)(const struct nl_link_event *ev, void *data),
		      void *data)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct cb cb = { fn, data };
	int lost = 0;

	for (;;) {
		ssize_t n = mnl_socket_recvfrom(w->nl, buf, sizeof(buf));

		if (n < 0 && errno == ENOBUFS) {
			lost = 1;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return lost;
		if (n < 0)
			return err_set(-errno, "link watch: %s", strerror(errno));
		mnl_cb_run(buf, (size_t)n, 0, 0, on_msg, &cb);
	}
}
