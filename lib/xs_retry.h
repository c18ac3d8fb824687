/* xs_retry: when a client that lost xenstored tries to connect again.
 * One policy for netd's watch and netback (vifback, dpswitch).
 *
 * A xenstored that is gone (connection refused, reset: restarting) is
 * tried again after XS_RETRY_MIN_MS, doubling to XS_RETRY_MAX_MS: a
 * restart is over in well under a second. One that timed out (alive, still
 * accepting connections, but not answering) holds the caller for the
 * request timeout at each try: XS_HUNG_MIN_MS doubling to XS_HUNG_MAX_MS
 * between tries, so it costs the caller 2 s a minute at most, not all the
 * time, until a batch is answered again. */
#ifndef LIB_XS_RETRY_H
#define LIB_XS_RETRY_H

#include <errno.h>

#define XS_RETRY_MIN_MS 50u
#define XS_RETRY_MAX_MS 2000u
#define XS_HUNG_MIN_MS 1000u
#define XS_HUNG_MAX_MS 60000u

struct xs_retry {
	unsigned backoff_ms; /* the next wait while xenstored is gone */
	unsigned hung_ms;    /* not 0 since a batch timed out, until one is answered */
};

static inline void xs_retry_init(struct xs_retry *r)
{
	r->backoff_ms = XS_RETRY_MIN_MS;
	r->hung_ms = 0;
}

/* After each batch (rc as xsc_run's): did xenstored answer? */
static inline void xs_retry_reply(struct xs_retry *r, int rc)
{
	if (rc == -ETIMEDOUT)
		r->hung_ms = !r->hung_ms ? XS_HUNG_MIN_MS
			     : r->hung_ms > XS_HUNG_MAX_MS / 2 ? XS_HUNG_MAX_MS
							       : r->hung_ms * 2;
	else if (rc == 0)
		r->hung_ms = 0;
}

/* The wait before the next try. */
static inline unsigned xs_retry_wait(const struct xs_retry *r)
{
	return r->hung_ms ? r->hung_ms : r->backoff_ms;
}

/* A try failed: the next wait while xenstored is gone is longer. */
static inline void xs_retry_failed(struct xs_retry *r)
{
	r->backoff_ms = r->backoff_ms > XS_RETRY_MAX_MS / 2 ? XS_RETRY_MAX_MS : r->backoff_ms * 2;
}

/* Connected (or lost anew): the next loss starts from the shortest wait. */
static inline void xs_retry_reset(struct xs_retry *r)
{
	r->backoff_ms = XS_RETRY_MIN_MS;
}

#endif
