/* xs_retry: when a client that lost xenstored tries to connect again, and
 * when it asks again what xenstored refused it. One policy for netd's
 * watch and netback (vifback, dpswitch).
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
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/* xenstored's refusals (EACCES, EIO, ENOMEM, its quotas...) of a
 * connection that still serves: what was refused is tried again after
 * XS_REFUSED_FIRST_MS, doubled each refusal in a row up to
 * XS_REFUSED_MAX_MS, XS_REFUSED_TRIES times (about 15 s), then given up
 * until its next watch event. */
#define XS_REFUSED_FIRST_MS 50u
#define XS_REFUSED_MAX_MS 2000u
#define XS_REFUSED_TRIES 12u

/* The wait before try tries+1 of something xenstored refused. */
static inline unsigned xs_refused_wait_ms(unsigned tries)
{
	unsigned ms = XS_REFUSED_FIRST_MS << (tries < 6 ? tries : 6);

	return ms > XS_REFUSED_MAX_MS ? XS_REFUSED_MAX_MS : ms;
}

/* A listing of the backend root or of a domain's directory under it that
 * xenstored refused (EACCES, EIO, ENOMEM, EDQUOT; EAGAIN: changed under
 * every pass of xsc_list): the devices in it that the caller does not
 * know (the first listing after a (re)connect is such a listing) have no
 * event of their own to bring them, so it is listed again with the
 * backoff of refusals, XS_REFUSED_TRIES times in a row at most; then the
 * next event of that directory. Two directories refused: the root, which
 * lists both. Logged once per run of refusals, and when it ends. */
struct xs_relist {
	const char *who;  /* the log lines' prefix ("xenstore watch: ", or "") */
	const char *root; /* the root's path */
	uint64_t due_ms;  /* to be listed again then (0: not, or being listed) */
	unsigned tries;   /* refusals in a row (0: no run of them) */
	unsigned refusals; /* ever: did a listing of the root meet one? */
	bool relist_root; /* the root to be listed again, else domid's directory */
	uint32_t domid;
};

void xs_relist_init(struct xs_relist *r, const char *who, const char *root);
/* The connection is gone: the listing after reconnecting lists all. */
void xs_relist_reset(struct xs_relist *r);
/* path's listing refused with err (-errno) at now_ms: the root's (root),
 * or domain domid's. due_ms is when to list again, 0 when given up. */
void xs_relist_refused(struct xs_relist *r, const char *path, bool root, uint32_t domid,
		       int err, uint64_t now_ms);
/* Is a listing due at now_ms? Then path (unless NULL) is the directory
 * to list (the root if relist_root, else domid's), and due_ms 0 while it
 * is listed. */
bool xs_relist_due(struct xs_relist *r, uint64_t now_ms, char *path, size_t len);
/* The root (root: and each domain's directory in it, with no refusal
 * since refusals was read), or domain domid's directory, was listed:
 * a run of refusals of it, if any, is over. True if one was. */
bool xs_relist_listed(struct xs_relist *r, bool root, uint32_t domid);

#endif
