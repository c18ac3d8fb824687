/* ctl: the control socket. UNIX stream, one JSON object per line each way,
 * root or the socket group only (SO_PEERCRED). A malformed or oversized
 * message gets an error reply; nothing a client sends can stop the daemon. */
#ifndef NETD_CTL_H
#define NETD_CTL_H

#include <jansson.h>
#include <systemd/sd-event.h>

#define CTL_VERSION 1
#define CTL_LINE_MAX 65536

struct netd;
struct ctl_server;

int ctl_server_start(struct netd *d, const char *path, const char *group, struct ctl_server **out);
void ctl_server_stop(struct ctl_server *s);

/* Handle one request line; returns the reply (new reference). Exposed for tests. */
json_t *ctl_handle_line(struct netd *d, const char *line, size_t len);

#endif
