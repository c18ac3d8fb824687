/* as_nl: set elements sent straight to nf_tables, one batch per vif change.
 *
 * Plugging a vif adds a dozen set elements. Through libnftables each plug
 * fetched the table's cache, parsed and evaluated a command text, and that
 * cost more than the rest of the plug; here the elements are built with
 * libnftnl and sent in one NFNL_MSG_BATCH_BEGIN/END batch on a netfilter
 * socket of our own: the kernel applies all of it or none of it, as it did
 * the text. One message per set (as nft sends one per command), each with
 * its own sequence number, so a failure names the set it happened in.
 *
 * Keys are laid out the way nft lays out a concatenation: each component
 * padded to 4 bytes (see as_nl_key_*). Creating and deleting tables and
 * rules stays with libnftables: that is not the hot path.
 *
 * Single-threaded; one socket for the process, in the network namespace it
 * was opened in. Errors: 0 or -errno with err_msg(): the kernel's extended
 * ACK text when it gave one, else strerror, with the set named. */
#ifndef AS_AS_NL_H
#define AS_AS_NL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "antispoof/ratelimit.h"

#define AS_NL_KEY_MAX 40 /* ifname (16) . ipv6 (16), the longest key here */

enum as_nl_verb {
	AS_NL_ADD,    /* `add element`: an element already there is no error */
	AS_NL_CREATE, /* `create element`: -EEXIST if it is there */
	AS_NL_DELETE, /* `delete element`: -ENOENT if it is not */
};

struct as_nl_key {
	uint8_t b[AS_NL_KEY_MAX];
	uint32_t len;
};

/* Key components, appended in order. */
void as_nl_key_ifname(struct as_nl_key *k, const char *ifname); /* 16 bytes, NUL-padded */
void as_nl_key_bytes(struct as_nl_key *k, const void *p, uint32_t len); /* padded to 4 */

/* Start an empty batch (drops whatever the last one left). */
void as_nl_begin(void);

/* A message `verb element <family> <table> <set> { keys }`; nfproto is the
 * table's family (NFPROTO_BRIDGE, NFPROTO_INET, NFPROTO_ARP). A message
 * stays open for as_nl_elem until the next as_nl_set or as_nl_commit. */
void as_nl_set(enum as_nl_verb verb, uint8_t nfproto, const char *table, const char *set);

/* One element of the open message; lim: its own `limit rate over` (a set
 * declared with a limit), NULL for none. */
void as_nl_elem(const struct as_nl_key *k, const struct as_rate *lim);

/* Send the batch and wait for the kernel's answer to each message. An empty
 * batch is success. 0 or the first failure's -errno with err_msg(). */
int as_nl_commit(void);

/* Close the socket (exit paths; the next commit opens a new one). */
void as_nl_close(void);

#endif
