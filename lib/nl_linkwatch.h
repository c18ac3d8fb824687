/* nl_linkwatch: links that appear in or leave the network namespace.
 *
 * An rtnetlink socket subscribed to RTNLGRP_LINK: the kernel reports every
 * link change, RTM_NEWLINK (new, or changed: flags, master, ...) and
 * RTM_DELLINK (gone). The caller polls nl_linkwatch_fd() and calls
 * nl_linkwatch_read() when it is readable; telling a new link from a changed
 * one is the caller's business (it knows what it has seen). */
#ifndef LIB_NL_LINKWATCH_H
#define LIB_NL_LINKWATCH_H

#include <net/if.h>
#include <stdbool.h>

struct nl_linkwatch;

struct nl_link_event {
	bool gone;           /* RTM_DELLINK */
	int ifindex;
	char name[IFNAMSIZ];
};

int nl_linkwatch_open(struct nl_linkwatch **out);
void nl_linkwatch_close(struct nl_linkwatch *w);
int nl_linkwatch_fd(const struct nl_linkwatch *w);

/* Calls fn for each event queued, without blocking. 0, or 1 when events were
 * lost (the socket overran: the caller must look again at what it cares
 * about), or -errno. */
int nl_linkwatch_read(struct nl_linkwatch *w, void (*fn)(const struct nl_link_event *ev, void *data),
		      void *data);

#endif
