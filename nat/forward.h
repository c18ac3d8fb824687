/* forward: nat port forwards (proto:port:ip:port), their validation, the
 * in-memory list and its journal.
 *
 * The journal (<run dir>/forwards) keeps run-time `netdctl forward add/del`
 * across a netd restart without rewriting a state file per change: one line
 * is appended per change ("+tcp:8080:203.0.113.10:80", "-tcp:8080"), so the
 * 10,000th forward costs what the first does. It is rewritten whole (atomic
 * file) when the network comes up. */
#ifndef NAT_FORWARD_H
#define NAT_FORWARD_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "netd/config.h"

#define NAT_FWD_STRLEN 48 /* "tcp:65535:255.255.255.255:65535" */

struct nat_fwd {
	uint8_t proto; /* IPPROTO_TCP / IPPROTO_UDP */
	uint16_t port; /* outside port */
	struct in_addr dest;
	uint16_t dport;
};

struct nat_fwds {
	struct nat_fwd *v;
	size_t n, cap;
};

/* "tcp:8080:203.0.113.10:80"; with key_ok also "tcp:8080" (then *has_dest
 * is false). -EINVAL with err_msg() quoting the spec and the bad token. */
int nat_fwd_parse(const char *spec, bool key_ok, struct nat_fwd *f, bool *has_dest);

/* The destination must be a guest host of the private subnet (not its
 * network, broadcast or gateway address). */
int nat_fwd_check(const struct nat_fwd *f, const struct netd_cidr *subnet, const char *net);

void nat_fwd_format(const struct nat_fwd *f, char *buf, size_t len);
const char *nat_proto_name(uint8_t proto);

/* The forward for proto:port, or NULL. */
struct nat_fwd *nat_fwds_find(struct nat_fwds *l, uint8_t proto, uint16_t port);
int nat_fwds_add(struct nat_fwds *l, const struct nat_fwd *f);
void nat_fwds_del(struct nat_fwds *l, struct nat_fwd *f);
void nat_fwds_free(struct nat_fwds *l);
/* Sorted copy (by proto, port) for listing. */
int nat_fwds_sorted(const struct nat_fwds *l, struct nat_fwd **out);

/* Journal. load replays the file onto l (missing file: -ENOENT, l untouched). */
int nat_fwd_journal_load(const char *path, struct nat_fwds *l);
int nat_fwd_journal_rewrite(const char *path, const struct nat_fwds *l);
int nat_fwd_journal_append(const char *path, bool add, const struct nat_fwd *f);

#endif
