/* nfnl_watch: notice when someone else changes an nftables table of ours.
 *
 * A NETLINK_NETFILTER socket subscribed to NFNLGRP_NFTABLES sees every
 * committed nftables transaction of the network namespace: one message per
 * object touched (table, chain, rule, set, element, ...), then NFT_MSG_NEWGEN
 * naming the process that committed it. A transaction that touched the
 * watched table and was committed by another process is "foreign"; our own
 * changes (this pid) are not reported.
 *
 * No event loop here: the caller polls nfnl_watch_fd() (netd hooks it into
 * sd-event) and calls nfnl_watch_read() when it is readable. */
#ifndef LIB_NFNL_WATCH_H
#define LIB_NFNL_WATCH_H

#include <stdint.h>
#include <sys/types.h>

struct nfnl_watch;

/* What nfnl_watch_read() found. */
struct nfnl_watch_event {
	pid_t pid;      /* process that committed the foreign change (0: unknown) */
	char comm[32];  /* its name, as the kernel reported it */
	int lost;       /* events were dropped (socket overrun): the caller must check */
};

/* Watch table `table` of nftables family `family` (NFPROTO_IPV4, NFPROTO_INET, ...). */
int nfnl_watch_open(int family, const char *table, struct nfnl_watch **out);
void nfnl_watch_close(struct nfnl_watch *w);
int nfnl_watch_fd(const struct nfnl_watch *w);

/* Drain the socket without blocking. 1 if a foreign transaction touched the
 * table, or events were lost (ev->lost), 0 if not, -errno on error. */
int nfnl_watch_read(struct nfnl_watch *w, struct nfnl_watch_event *ev);

#endif
