/* netif_credit: netback's credit scheduler for rate= (tx_credit_exceeded,
 * tx_add_credit in drivers/net/xen-netback/netback.c): `bytes` of credit
 * per `usecs` window, unused credit carried over up to a burst of
 * max(128 KiB, bytes) so that a 64 KiB packet always gets through
 * eventually. The clock is the caller's (testable, no timer here). */
#include "vif/netif.h"

#define NETIF_CREDIT_MIN_BURST 131072u

void netif_credit_set(struct netif_credit *c, uint64_t bytes, uint64_t usecs, uint64_t now_us)
{
	c->bytes = bytes;
	c->usecs = bytes ? usecs : 0;
	c->remaining = bytes;
	c->window_start_us = now_us;
}

static void credit_add(struct netif_credit *c)
{
	uint64_t max_burst = c->bytes > NETIF_CREDIT_MIN_BURST ? c->bytes : NETIF_CREDIT_MIN_BURST;
	uint64_t max_credit = c->remaining + c->bytes;

	if (max_credit < c->remaining)
		max_credit = UINT64_MAX;
	c->remaining = max_credit < max_burst ? max_credit : max_burst;
}

bool netif_credit_take(struct netif_credit *c, uint32_t size, uint64_t now_us, uint64_t *wait_us)
{
	uint64_t next;

	if (!c->usecs)
		return true;
	next = c->window_start_us + c->usecs;
	if (now_us >= next) {
		c->window_start_us = now_us;
		credit_add(c);
		next = now_us + c->usecs;
	}
	if (size <= c->remaining) {
		c->remaining -= size;
		return true;
	}
	*wait_us = next > now_us ? next - now_us : 1;
	return false;
}
