/* xs_watch: watch registration and change-event delivery, following
 * xenstored's matching rules (watch.c there): an event on P reaches
 * watches on P and its ancestors; a removal also reaches watches on each
 * removed descendant (exact match); @introduceDomain / @releaseDomain are
 * invented by the daemon. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hypervisor/sim/xs_store.h"

int xs_watch_add(struct xs_conn *c, const char *path, const char *token,
		 unsigned prefix_len, int depth)
{
	struct xs_watch *w;

	for (w = c->watches; w; w = w->next)
		if (!strcmp(w->path, path) && !strcmp(w->token, token))
			return -EEXIST;
	if (c->n_watches >= XS_CONN_WATCHES_MAX)
		return -ENOSPC;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->path = strdup(path);
	w->token = strdup(token);
	if (!w->path || !w->token) {
		free(w->path);
		free(w->token);
		free(w);
		return -ENOMEM;
	}
	w->prefix_len = prefix_len;
	w->depth = depth;
	/* Append: events for one change go out in registration order. */
	if (!c->watches) {
		c->watches = w;
	} else {
		struct xs_watch *last = c->watches;

		while (last->next)
			last = last->next;
		last->next = w;
	}
	c->n_watches++;
	return 0;
}

static void watch_free(struct xs_watch *w)
{
	free(w->path);
	free(w->token);
	free(w);
}

int xs_watch_del(struct xs_conn *c, const char *path, const char *token)
{
	struct xs_watch **pp, *w;

	for (pp = &c->watches; (w = *pp); pp = &w->next) {
		if (!strcmp(w->path, path) && !strcmp(w->token, token)) {
			*pp = w->next;
			watch_free(w);
			c->n_watches--;
			return 0;
		}
	}
	return -ENOENT;
}

void xs_watch_clear(struct xs_conn *c)
{
	struct xs_watch *w;

	while ((w = c->watches)) {
		c->watches = w->next;
		watch_free(w);
	}
	c->n_watches = 0;
}

/* A watcher sees an event if it may read the node or its parent, or could
 * read it before a permission change (xenstored's watch_permitted()). */
static bool may_see(struct xs_store *st, const struct xs_conn *c,
		    const char *path, const struct xs_acl *old_acl)
{
	const struct xs_node *n;

	if (c->priv)
		return true;
	if (old_acl && (xs_acl_access(old_acl, c->domid, false) & XS_P_READ))
		return true;
	n = xs_tree_lookup(&st->tree, path);
	if (!n)
		return false;
	if (xs_acl_access(n->acl, c->domid, false) & XS_P_READ)
		return true;
	return n->parent &&
	       (xs_acl_access(n->parent->acl, c->domid, false) & XS_P_READ);
}

void xs_watch_fire(struct xs_store *st, const char *path, enum xs_ev ev,
		   const struct xs_acl *old_acl)
{
	struct xs_conn *c;
	struct xs_watch *w;

	if (ev == XS_EV_NONE)
		return;
	for (c = st->conns; c; c = c->next) {
		int allowed = -1; /* computed once per connection, lazily */

		if (c->dead)
			continue;
		for (w = c->watches; w; w = w->next) {
			bool match = ev == XS_EV_EXACT ?
				!strcmp(w->path, path) :
				xs_path_is_under(path, w->path, w->depth);

			if (!match)
				continue;
			if (allowed < 0)
				allowed = may_see(st, c, path, old_acl);
			if (!allowed)
				break;
			xs_conn_event(c, path + w->prefix_len, w->token);
		}
	}
}

void xs_watch_fire_special(struct xs_store *st, const char *name,
			   uint32_t domid)
{
	struct xs_special *sp = xs_store_special(st, name);
	char with_dom[40];
	struct xs_conn *c;
	struct xs_watch *w;

	snprintf(with_dom, sizeof(with_dom), "%s/%u", name, (unsigned)domid);
	for (c = st->conns; c; c = c->next) {
		if (c->dead)
			continue;
		if (!c->priv && sp &&
		    !(xs_acl_access(sp->acl, c->domid, false) & XS_P_READ))
			continue;
		for (w = c->watches; w; w = w->next) {
			/* Plain watch: the bare name. With a depth, or on
			 * name/<domid>: the name with the domid appended. */
			if (!strcmp(w->path, name) && w->depth < 0)
				xs_conn_event(c, name, w->token);
			else if (!strcmp(w->path, with_dom) ||
				 (w->depth > 0 && !strcmp(w->path, name)))
				xs_conn_event(c, with_dom, w->token);
		}
	}
}
