/* xs_retry: see xs_retry.h. */
#include "lib/xs_retry.h"

#include <stdio.h>
#include <string.h>

#include "lib/log.h"

void xs_relist_init(struct xs_relist *r, const char *who, const char *root)
{
	*r = (struct xs_relist){ .who = who, .root = root };
}

void xs_relist_reset(struct xs_relist *r)
{
	r->tries = 0;
	r->due_ms = 0;
}

void xs_relist_refused(struct xs_relist *r, const char *path, bool root, uint32_t domid,
		       int err, uint64_t now_ms)
{
	r->refusals++;
	if (r->tries >= XS_REFUSED_TRIES) {
		log_err("%slist %s: %s: refused %u times in a row, given up until it changes",
			r->who, path, strerror(-err), r->tries + 1);
		xs_relist_reset(r);
		return;
	}
	/* another directory still to list again: the root lists both */
	if (r->due_ms && (r->relist_root || r->domid != domid))
		root = true;
	if (!r->tries)
		log_warn("%slist %s: %s; listed again, with backoff", r->who, path,
			 strerror(-err));
	r->relist_root = root;
	r->domid = domid;
	r->due_ms = now_ms + xs_refused_wait_ms(r->tries++);
}

bool xs_relist_due(struct xs_relist *r, uint64_t now_ms, char *path, size_t len)
{
	if (!r->due_ms || r->due_ms > now_ms)
		return false;
	r->due_ms = 0; /* xs_relist_refused() sets it again if refused again */
	if (!path)
		return true;
	if (r->relist_root)
		snprintf(path, len, "%s", r->root);
	else
		snprintf(path, len, "%s/%u", r->root, r->domid);
	return true;
}

bool xs_relist_listed(struct xs_relist *r, bool root, uint32_t domid)
{
	if (!r->tries || (!root && (r->relist_root || r->domid != domid)))
		return false;
	if (r->relist_root)
		log_info("%s%s listed (try %u)", r->who, r->root, r->tries + 1);
	else
		log_info("%s%s/%u listed (try %u)", r->who, r->root, r->domid, r->tries + 1);
	xs_relist_reset(r);
	return true;
}
