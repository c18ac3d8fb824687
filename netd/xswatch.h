/* xswatch: no-fork hotplug. With `xenstore_watch = yes` netd watches
 * /local/domain/0/backend/vif itself and plugs each vif the toolstack
 * brings online, from the same backend keys and with the same hotplug-status
 * a vif-* script would write, without forking anything. */
#ifndef NETD_XSWATCH_H
#define NETD_XSWATCH_H

struct netd;
struct netd_xswatch;

/* Starts watching on d->ev. Never fails for want of xenstored: it logs and
 * keeps retrying (with backoff) until one answers. -ENOMEM otherwise. */
int netd_xswatch_start(struct netd *d, struct netd_xswatch **out);
void netd_xswatch_stop(struct netd_xswatch *w);

#endif
