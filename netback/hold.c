/* hold: how long a frontend that broke the protocol waits before the
 * handshake lets it reconnect (xenbus.c applies it at Initialising).
 *
 * Each reconnect costs Dom0 more than the violation did: xenstore writes
 * and watches, the rings mapped and the channels bound again, a worker
 * told. A frontend that breaks the ring, closes and starts over in a loop
 * could have Dom0 pay that some 35 times a second. So a violation holds
 * the next reconnect for a backoff that starts at first_ms and doubles
 * with each further violation up to max_ms; a vif that then stays
 * connected for forgive_ms is forgiven (the backoff starts over). A
 * frontend that restarts without having broken anything is never held:
 * only a violation sets a hold. Pure functions of the time given, so the
 * unit tests step the clock. */
#include "netback/netback.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/env_ms.h"
#include "lib/err.h"

uint64_t nb_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	/* never 0: 0 means "none" in struct nb_hold */
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u + 1u;
}

void nb_hold_cfg_default(struct nb_hold_cfg *c)
{
	c->first_ms = NB_HOLD_FIRST_MS;
	c->max_ms = NB_HOLD_MAX_MS;
	c->forgive_ms = NB_HOLD_FORGIVE_MS;
}

void nb_hold_connected(struct nb_hold *h, uint64_t now)
{
	h->since_ms = now ? now : 1;
}

void nb_hold_disconnected(struct nb_hold *h, const struct nb_hold_cfg *c, uint64_t now)
{
	/* connected long enough without breaking anything: forgiven */
	if (h->since_ms && now - h->since_ms >= c->forgive_ms)
		h->backoff_ms = 0;
	h->since_ms = 0;
}

uint64_t nb_hold_violation(struct nb_hold *h, const struct nb_hold_cfg *c, uint64_t now)
{
	nb_hold_disconnected(h, c, now);
	if (!h->backoff_ms)
		h->backoff_ms = c->first_ms;
	else
		h->backoff_ms = h->backoff_ms > c->max_ms / 2 ? c->max_ms : h->backoff_ms * 2;
	if (h->backoff_ms > c->max_ms)
		h->backoff_ms = c->max_ms;
	h->until_ms = now + h->backoff_ms;
	h->violations++;
	h->told = false;
	return h->backoff_ms;
}

uint64_t nb_hold_left(const struct nb_hold *h, uint64_t now)
{
	return h->until_ms > now ? h->until_ms - now : 0;
}

/* <prefix>_<name>, as env_ms() reads it. */
static int hold_env(const char *prefix, const char *name, uint64_t *ms)
{
	char var[64];

	snprintf(var, sizeof(var), "%s_%s", prefix, name);
	return env_ms(var, ms);
}

int nb_hold_cfg_from_env(struct nb_hold_cfg *c, const char *prefix)
{
	struct nb_hold_cfg n = *c;
	int rc = hold_env(prefix, "HOLD_FIRST_MS", &n.first_ms);

	if (rc == 0)
		rc = hold_env(prefix, "HOLD_MAX_MS", &n.max_ms);
	if (rc == 0)
		rc = hold_env(prefix, "HOLD_FORGIVE_MS", &n.forgive_ms);
	if (rc == 0 && n.first_ms > n.max_ms)
		rc = err_set(-EINVAL, "%s_HOLD_FIRST_MS (%llu) is above %s_HOLD_MAX_MS (%llu)", prefix,
			     (unsigned long long)n.first_ms, prefix, (unsigned long long)n.max_ms);
	if (rc == 0)
		*c = n;
	return rc;
}
