/* forward: nat port forwards (proto:port:ip:port, an IPv6 destination in
 * brackets: tcp:8080:[2001:db8:1::10]:80), their validation, the in-memory
 * lists (one per family: the uplink's IPv4 and IPv6 addresses are separate
 * doors, each port of each leads to one guest) and their journal.
 *
 * The journal (<run dir>/forwards) keeps run-time `netdctl forward add/del`
 * across a netd restart without rewriting a state file per change: one line
 * is appended per change ("+tcp:8080:203.0.113.10:80", "-tcp:8080:203.0.113.10:80";
 * "-tcp:8080", as netd wrote them before IPv6, removes the port in both
 * families), so the
 * 10,000th forward costs what the first does. It is rewritten whole (atomic
 * file) when the network comes up. */
#ifndef NAT_FORWARD_H
#define NAT_FORWARD_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "netd/config.h"

#define NAT_FWD_STRLEN 72 /* "tcp:65535:[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535" */

struct nat_fwd {
	uint8_t proto; /* IPPROTO_TCP / IPPROTO_UDP */
	uint16_t port; /* outside port */
	struct in_addr dest;
	uint16_t dport;
	bool v6; /* the destination is dest6, the forward is on the uplink's IPv6 */
	struct in6_addr dest6;
};

struct nat_fwds {
	struct nat_fwd *v;
	size_t n, cap;
};

/* "tcp:8080:203.0.113.10:80" or "tcp:8080:[2001:db8:1::10]:80"; with key_ok
 * also "tcp:8080" (then *has_dest is false: it names the port in both
 * families). -EINVAL with err_msg() quoting the spec and the bad token. */
int nat_fwd_parse(const char *spec, bool key_ok, struct nat_fwd *f, bool *has_dest);

/* The destination must be a guest host of the private subnet of its family
 * (not its network, broadcast, subnet-router anycast or gateway address);
 * subnet6 NULL: the network has no IPv6. */
int nat_fwd_check(const struct nat_fwd *f, const struct netd_cidr *subnet,
		  const struct netd_cidr *subnet6, const char *net);
bool nat_fwd_equal(const struct nat_fwd *a, const struct nat_fwd *b);

void nat_fwd_format(const struct nat_fwd *f, char *buf, size_t len);
const char *nat_proto_name(uint8_t proto);

/* The forward for proto:port, or NULL. */
struct nat_fwd *nat_fwds_find(struct nat_fwds *l, uint8_t proto, uint16_t port);
int nat_fwds_add(struct nat_fwds *l, const struct nat_fwd *f);
void nat_fwds_del(struct nat_fwds *l, struct nat_fwd *f);
void nat_fwds_free(struct nat_fwds *l);
/* Sorted copy (by proto, port) for listing. */
int nat_fwds_sorted(const struct nat_fwds *l, struct nat_fwd **out);

/* Journal. load replays the file onto l4 and l6 by family (missing file:
 * -ENOENT, lists untouched). */
int nat_fwd_journal_load(const char *path, struct nat_fwds *l4, struct nat_fwds *l6);
int nat_fwd_journal_rewrite(const char *path, const struct nat_fwds *l4,
			    const struct nat_fwds *l6);
int nat_fwd_journal_append(const char *path, bool add, const struct nat_fwd *f);

#endif
