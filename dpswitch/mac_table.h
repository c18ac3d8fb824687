/* mac_table: dpswitch's MAC learning table. Fixed size, allocated once:
 * DPS_MAC_BUCKETS buckets of DPS_MAC_WAYS entries, a MAC hashed to one
 * bucket, so a lookup or a learn reads one bucket whatever the table holds
 * (no chains, nothing to rehash, nothing allocated per packet).
 *
 * An entry names a port and that port's generation when it was learnt: a
 * port removed (its generation bumped) loses every MAC at once, with no
 * walk of the table, so a port's removal is O(1) like its addition. An
 * entry older than the ageing time is gone for lookups and is the first
 * to be reused. A MAC seen on another port than its entry's is a move:
 * the entry follows it, and moves are counted (a guest migrating, or one
 * port claiming another's MAC, which anti-spoofing stops on guest ports). */
#ifndef DPSWITCH_MAC_TABLE_H
#define DPSWITCH_MAC_TABLE_H

#include <stdbool.h>
#include <stdint.h>

#define DPS_MAC_BUCKETS 4096u
#define DPS_MAC_WAYS 8u
#define DPS_MAC_NONE UINT16_MAX

struct dps_mac_entry {
	uint64_t mac;	  /* 48 bits; 0: empty */
	uint64_t seen_ms; /* last learnt */
	uint32_t gen;	  /* the port's generation then */
	uint16_t port;
};

struct dps_mac_table {
	struct dps_mac_entry *e; /* DPS_MAC_BUCKETS * DPS_MAC_WAYS */
	const uint32_t *port_gen; /* the caller's, indexed by port */
	uint64_t age_ms;
	uint64_t moves, learnt, evicted;
};

/* port_gen: one generation per port, bumped by the caller when a port goes. */
int dps_mac_init(struct dps_mac_table *t, const uint32_t *port_gen, uint64_t age_ms);
void dps_mac_free(struct dps_mac_table *t);

static inline uint64_t dps_mac_key(const uint8_t *mac)
{
	return (uint64_t)mac[0] << 40 | (uint64_t)mac[1] << 32 | (uint64_t)mac[2] << 24 |
	       (uint64_t)mac[3] << 16 | (uint64_t)mac[4] << 8 | mac[5];
}

/* The port mac was last seen on, or DPS_MAC_NONE (unknown, aged, or its
 * port gone). */
uint16_t dps_mac_lookup(const struct dps_mac_table *t, const uint8_t *mac, uint64_t now_ms);
/* mac was seen on port now. Returns true when it moved from another live
 * port. Multicast sources are never learnt (the caller drops them). */
bool dps_mac_learn(struct dps_mac_table *t, const uint8_t *mac, uint16_t port, uint64_t now_ms);
/* Live entries (a walk: for status, not the data path). */
unsigned dps_mac_count(const struct dps_mac_table *t, uint64_t now_ms);
/* Calls fn for each live entry (status and tests). */
void dps_mac_foreach(const struct dps_mac_table *t, uint64_t now_ms,
		     void (*fn)(uint64_t mac, uint16_t port, uint64_t age_ms, void *arg), void *arg);

#endif
