/* ovsdb: a JSON-RPC client for ovsdb-server (RFC 7047) over its unix socket.
 *
 * Just what netd needs: "transact" on the Open_vSwitch database, one request
 * at a time, answering the server's "echo" probes while it waits. Messages
 * are JSON values back to back on the stream, with no delimiter (RFC 7047
 * §4), so a reply is cut off the buffer by jansson's parser itself
 * (JSON_DISABLE_EOF_CHECK tells how much it read). The connection is opened
 * on first use and again after the server went away: a restarted
 * ovsdb-server costs one failed call, not a stuck netd.
 *
 * Blocking, with a deadline per call: netd is one event loop and a plug is
 * one short transaction; a call that would wait longer (OVN's readiness)
 * says so in its timeout. Errors: 0 or -errno with err_msg(). */
#ifndef OVS_OVSDB_H
#define OVS_OVSDB_H

#include <jansson.h>
#include <stddef.h>

#include "ovs/ovs_msg.h"

#define OVSDB_DB "Open_vSwitch"
/* A reply must come within this after the request (the server answers a
 * plain transaction in microseconds; this bounds a hung one). */
#define OVSDB_CALL_TIMEOUT_MS 5000
/* A reply larger than this is not one netd asked for. */
#define OVSDB_REPLY_MAX (16u << 20)

struct ovsdb {
	int fd; /* -1: not connected */
	char path[108];
	unsigned long long next_id;
	char *buf; /* bytes read and not parsed yet */
	size_t len, cap;
	struct ovs_msg_scan scan; /* how far into buf's first message */
	/* Wall time spent in ovsdb_transact(), in microseconds: what OVS
	 * charged (the server's work, ovs-vswitchd's for a wait), for the
	 * caller's accounting. */
	unsigned long long busy_us;
};

void ovsdb_init(struct ovsdb *db, const char *path);
void ovsdb_close(struct ovsdb *db);

/* Run ops (a JSON array of RFC 7047 operations; stolen) as one
 * transaction. *result (new reference, may be NULL) is the reply's result
 * array. A transaction whose reply carries an error, in the whole or in one
 * operation, fails with -EIO (-ETIMEDOUT for a "wait" that timed out,
 * -EEXIST for a constraint violation: a duplicate name) and err_msg()
 * naming the operation. timeout_ms: how long the server may take (a wait
 * operation's own timeout plus the round trip). */
int ovsdb_transact(struct ovsdb *db, json_t *ops, int timeout_ms, json_t **result);

#endif
