/* ctl: the control socket. UNIX stream, one JSON object per line each way,
 * root or the socket group only (SO_PEERCRED, SO_PEERGROUPS). A malformed or
 * oversized message gets an error reply; nothing a client sends (or fails to
 * read) can stop or stall the daemon. */
#ifndef NETD_CTL_H
#define NETD_CTL_H

#include <jansson.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#define CTL_VERSION 1
#define CTL_LINE_MAX 65536
/* Replies a client leaves unread beyond this get it dropped. */
#define CTL_OUT_MAX (1 << 20)
/* Clients served at once; more wait in the listen backlog. Far below the
 * usual 1024 descriptors, so netd keeps some for its own work. */
#define CTL_MAX_CLIENTS 256
/* A client that sends nothing and reads nothing for this long is dropped
 * (NETD_CTL_IDLE_TIMEOUT_S overrides it, for tests). */
#define CTL_IDLE_TIMEOUT_S 30
/* At CTL_MAX_CLIENTS, a client quiet this long gives its place to a new one. */
#define CTL_EVICT_QUIET_S 1
/* After accept() failed for want of descriptors or memory. */
#define CTL_ACCEPT_RETRY_MS 250

struct netd;
struct ctl_server;

/* The idle timeout, in microseconds: CTL_IDLE_TIMEOUT_S, or
 * NETD_CTL_IDLE_TIMEOUT_S (1..3600); -EINVAL with err_msg() naming it for
 * anything else. Read before netd touches the host: a netd that will not
 * start must not take down the networks a previous one left up. */
int ctl_idle_timeout(uint64_t *usec);
int ctl_server_start(struct netd *d, const char *path, const char *group, uint64_t idle_usec,
		     struct ctl_server **out);
void ctl_server_stop(struct ctl_server *s);

/* Handle one request line; returns the reply (new reference). Exposed for tests. */
json_t *ctl_handle_line(struct netd *d, const char *line, size_t len);

#endif
