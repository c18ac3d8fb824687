/* fwd_spec: a port forward as netd.conf's `forward` key and netdctl's
 * forward-add|del write it: PROTO:PORT:ADDRESS:PORT (tcp:8080:203.0.113.10:80;
 * an IPv6 destination in brackets, so that its colons cannot be mistaken for
 * the separators: tcp:8080:[2001:db8::10]:80), or PROTO:PORT where only the
 * outside port names it (a forward-del). One reading for both, so that a
 * forward the config takes is one the control socket takes, and the same
 * error says why not. */
#ifndef NETD_FWD_SPEC_H
#define NETD_FWD_SPEC_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#define FWD_SPEC_MAX 127 /* bytes: longer is not a forward */

struct fwd_spec {
	uint8_t proto; /* IPPROTO_TCP or IPPROTO_UDP */
	uint16_t port; /* outside port */
	int family;    /* the destination's: AF_INET, AF_INET6, or 0 (PROTO:PORT) */
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} dest;
	uint16_t dport;
};

/* 0 and *f; -EINVAL with err_msg() naming the bad part ("port '0':
 * expected 1..65535"), not spec itself: the caller says where it was.
 * PROTO:PORT only when dest_optional. */
int fwd_spec_parse(const char *spec, bool dest_optional, struct fwd_spec *f);

#endif
