/* mac_table: see mac_table.h. */
#include "dpswitch/mac_table.h"

#include <errno.h>
#include <stdlib.h>

#include "lib/err.h"

int dps_mac_init(struct dps_mac_table *t, const uint32_t *port_gen, uint64_t age_ms)
{
	size_t len = (size_t)DPS_MAC_BUCKETS * DPS_MAC_WAYS * sizeof(*t->e);

	t->e = calloc(1, len);
	if (!t->e)
		return err_set(-ENOMEM, "MAC table: out of memory");
	t->port_gen = port_gen;
	t->age_ms = age_ms;
	t->moves = t->learnt = t->evicted = 0;
	return 0;
}

void dps_mac_free(struct dps_mac_table *t)
{
	free(t->e);
	t->e = NULL;
}

static struct dps_mac_entry *bucket(const struct dps_mac_table *t, uint64_t key)
{
	/* a multiplicative hash: guests' MACs share their OUI and differ in
	 * the low bytes, which the high bits of the product mix */
	uint64_t h = key * 0x9E3779B97F4A7C15ull;

	return &t->e[(h >> 40) % DPS_MAC_BUCKETS * DPS_MAC_WAYS];
}

static bool live(const struct dps_mac_table *t, const struct dps_mac_entry *e, uint64_t now_ms)
{
	return e->mac && t->port_gen[e->port] == e->gen && now_ms - e->seen_ms <= t->age_ms;
}

uint16_t dps_mac_lookup(const struct dps_mac_table *t, const uint8_t *mac, uint64_t now_ms)
{
	uint64_t key = dps_mac_key(mac);
	const struct dps_mac_entry *b = bucket(t, key);

	for (unsigned i = 0; i < DPS_MAC_WAYS; i++)
		if (b[i].mac == key)
			return live(t, &b[i], now_ms) ? b[i].port : DPS_MAC_NONE;
	return DPS_MAC_NONE;
}

bool dps_mac_learn(struct dps_mac_table *t, const uint8_t *mac, uint16_t port, uint64_t now_ms)
{
	uint64_t key = dps_mac_key(mac);
	struct dps_mac_entry *b = bucket(t, key), *victim = NULL;
	bool moved;

	if (mac[0] & 1 || !key)
		return false;
	for (unsigned i = 0; i < DPS_MAC_WAYS; i++) {
		struct dps_mac_entry *e = &b[i];

		if (e->mac == key) {
			moved = live(t, e, now_ms) && e->port != port;
			if (moved)
				t->moves++;
			e->port = port;
			e->gen = t->port_gen[port];
			e->seen_ms = now_ms;
			return moved;
		}
		/* an empty or dead entry first, else the least recently seen */
		if (!victim || (live(t, victim, now_ms) &&
				(!live(t, e, now_ms) || e->seen_ms < victim->seen_ms)))
			victim = e;
	}
	if (live(t, victim, now_ms))
		t->evicted++;
	victim->mac = key;
	victim->port = port;
	victim->gen = t->port_gen[port];
	victim->seen_ms = now_ms;
	t->learnt++;
	return false;
}

void dps_mac_foreach(const struct dps_mac_table *t, uint64_t now_ms,
		     void (*fn)(uint64_t mac, uint16_t port, uint64_t age_ms, void *arg), void *arg)
{
	for (size_t i = 0; i < (size_t)DPS_MAC_BUCKETS * DPS_MAC_WAYS; i++)
		if (live(t, &t->e[i], now_ms))
			fn(t->e[i].mac, t->e[i].port, now_ms - t->e[i].seen_ms, arg);
}

static void count_one(uint64_t mac, uint16_t port, uint64_t age_ms, void *arg)
{
	(*(unsigned *)arg)++;
}

unsigned dps_mac_count(const struct dps_mac_table *t, uint64_t now_ms)
{
	unsigned n = 0;

	dps_mac_foreach(t, now_ms, count_one, &n);
	return n;
}
