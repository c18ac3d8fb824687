/* spin: adaptive polling after packets (see spin.h). */
#include "netback/spin.h"

#include <stdio.h>

#include "lib/env_ms.h"

int nb_spin_cfg_from_env(struct nb_spin *s, const char *prefix)
{
	char var[64];
	uint64_t us = s->us;
	int rc;

	snprintf(var, sizeof(var), "%s_SPIN_US", prefix);
	rc = env_num(var, "microseconds", 0, NB_SPIN_US_MAX, &us);
	if (rc == 0)
		s->us = us;
	return rc;
}

void nb_spin_start(struct nb_spin *s, uint64_t now)
{
	if (!s->us)
		return;
	if (!s->until)
		s->windows++;
	s->until = now + s->us;
}

enum nb_spin_step nb_spin_step(struct nb_spin *s, uint64_t now)
{
	if (!s->until)
		return NB_SPIN_OFF;
	if (now < s->until)
		return NB_SPIN_LOOK;
	s->until = 0;
	return NB_SPIN_CLOSE;
}

bool nb_spin_queue(struct netif_queue *nq, enum nb_spin_step step)
{
	if (netif_queue_is_fatal(nq))
		return false;
	if (step == NB_SPIN_CLOSE)
		return netif_tx_arm(nq);
	return step == NB_SPIN_LOOK && netif_tx_pending(nq);
}
