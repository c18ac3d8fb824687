/* snapshot: what a physical device looked like before bridge mode took it,
 * and the one function that puts it back.
 *
 * br_snapshot_restore() is idempotent and works from any intermediate state
 * (a failed step, a crash mid-way, a finished setup): it deletes what bridge
 * mode creates, then converges the device to the snapshot. Rollback, `down`
 * and crash recovery all use it, so there is one undo path to get right. */
#ifndef BRIDGE_SNAPSHOT_H
#define BRIDGE_SNAPSHOT_H

#include <jansson.h>
#include <net/if.h>
#include <stdint.h>

#include "lib/nl.h"

struct br_snapshot {
	char name[IFNAMSIZ];
	int ifindex; /* stable across renames: how we find the device again */
	uint8_t mac[6];
	unsigned mtu;
	unsigned flags;
	int master;
	struct nl_blobs addrs;
	struct nl_blobs routes;
};

/* Names of what bridge mode creates; restore deletes exactly these. */
struct br_created {
	char bridge[IFNAMSIZ];
	char veth[IFNAMSIZ];     /* classic: veth0 (renamed to the physdev's name) */
	char vif0[IFNAMSIZ];     /* classic: vif0.0, the veth's bridge end */
};

int br_snapshot_take(const char *physdev, struct br_snapshot *s);
void br_snapshot_free(struct br_snapshot *s);
json_t *br_snapshot_to_json(const struct br_snapshot *s);
int br_snapshot_from_json(json_t *j, struct br_snapshot *s);

int br_snapshot_restore(const struct br_snapshot *s, const struct br_created *c);

#endif
