/* xs_txn: xenstore transactions, as C xenstored keeps them since 4.9.
 *
 * TRANSACTION_START makes an overlay of the tree (xs_tree_overlay: O(1),
 * whatever the store holds; it used to clone every node, thousands per
 * start with a thousand vifs); requests carrying the tx_id work on the
 * overlay only, which copies a node's kids from the live tree the first
 * time the transaction looks below it. Every path the transaction reads or
 * writes is recorded with its generation at first touch (that of the copy
 * it saw). Commit fails with EAGAIN if any recorded path's generation in
 * the live tree differs (someone changed, created or removed it since the
 * transaction saw it), otherwise the written paths are copied into the
 * live tree and their watch events fire — only then, as xenstored does.
 * A node changed outside before the transaction first looked at it is
 * seen as changed, and is no conflict (xenstored's rule too). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hypervisor/sim/xs_store.h"
#include "lib/log.h"

static unsigned path_hash(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	while (*s)
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return h % XS_TXN_HASH;
}

static void txn_free(struct xs_txn *t)
{
	struct xs_acc *a, *next;

	for (a = t->acc_head; a; a = next) {
		next = a->next;
		free(a);
	}
	xs_tree_fini(&t->tree);
	free(t);
}

struct xs_txn *xs_txn_find(struct xs_conn *c, uint32_t id)
{
	struct xs_txn *t;

	for (t = c->txns; t; t = t->next)
		if (t->id == id)
			return t;
	return NULL;
}

int xs_txn_start(struct xs_conn *c, struct xs_txn **out)
{
	struct xs_store *st = c->st;
	struct xs_txn *t;

	/* a quota of guests only (see XS_CONN_TXNS_MAX) */
	if (!c->priv && (c->n_txns >= XS_CONN_TXNS_MAX || st->n_txns >= XS_STORE_TXNS_MAX))
		return -ENOSPC;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	if (xs_tree_overlay(&t->tree, &st->tree)) {
		txn_free(t);
		return -ENOMEM;
	}
	t->acc_tail = &t->acc_head;
	/* Ids are per connection, never 0 (0 means "no transaction"). */
	do {
		t->id = c->next_txid++;
	} while (t->id == 0 || xs_txn_find(c, t->id));
	t->next = c->txns;
	c->txns = t;
	c->n_txns++;
	st->n_txns += !c->priv;
	*out = t;
	return 0;
}

int xs_txn_note(struct xs_txn *t, const char *path, const struct xs_node *n,
		bool written, enum xs_ev ev)
{
	unsigned h = path_hash(path);
	struct xs_acc *a;
	size_t len;

	for (a = t->hash[h]; a; a = a->hnext)
		if (!strcmp(a->path, path))
			break;
	if (!a) {
		if (t->n_acc >= XS_TXN_ACCESS_MAX)
			return -ENOSPC;
		len = strlen(path);
		a = calloc(1, sizeof(*a) + len + 1);
		if (!a)
			return -ENOMEM;
		memcpy(a->path, path, len + 1);
		a->gen = n ? n->gen : 0;
		a->hnext = t->hash[h];
		t->hash[h] = a;
		*t->acc_tail = a;
		t->acc_tail = &a->next;
		t->n_acc++;
	}
	if (written)
		a->written = true;
	if (ev != XS_EV_NONE)
		a->event = ev;
	return 0;
}

static void txn_unlink(struct xs_conn *c, struct xs_txn *t)
{
	struct xs_txn **pp;

	for (pp = &c->txns; *pp; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	}
	c->n_txns--;
	c->st->n_txns -= !c->priv;
}

struct upsert {
	struct xs_acc *a;
	unsigned depth, seq;
};

static int upsert_cmp(const void *x, const void *y)
{
	const struct upsert *a = x, *b = y;

	if (a->depth != b->depth)
		return a->depth < b->depth ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static unsigned path_depth(const char *p)
{
	unsigned d = 0;

	for (; *p; p++)
		d += *p == '/';
	return d;
}

/* Copies one node's value and ACL from the snapshot into the live tree,
 * creating it under its (already present) live parent if needed. */
static int apply_upsert(struct xs_store *st, const char *path,
			const struct xs_node *tn)
{
	char parent_path[XS_ABS_PATH_MAX + 1];
	struct xs_node *mn = xs_tree_lookup(&st->tree, path), *mp;
	int rc;

	if (!mn) {
		xs_path_parent(path, parent_path, sizeof(parent_path));
		mp = xs_tree_lookup(&st->tree, parent_path);
		if (!mp)
			return -EIO; /* impossible: parents sort first */
		rc = xs_node_add_child(&st->tree, mp, tn->name,
				       strlen(tn->name), &mn);
		if (rc)
			return rc;
	}
	xs_node_share_value(&st->tree, mn, tn->val);
	xs_node_set_acl(&st->tree, mn, tn->acl);
	return 0;
}

static int txn_commit(struct xs_conn *c, struct xs_txn *t)
{
	struct xs_store *st = c->st;
	struct upsert *ups;
	struct xs_acc *a;
	unsigned n_ups = 0, n_new = 0, i, seq = 0;
	int rc = 0;

	/* a level it could not copy: what it saw is not what was there */
	if (t->tree.broken)
		return -ENOMEM;
	for (a = t->acc_head; a; a = a->next) {
		const struct xs_node *mn = xs_tree_lookup(&st->tree, a->path);

		if ((mn ? mn->gen : 0) != a->gen)
			return -EAGAIN;
		if (a->written && xs_tree_lookup(&t->tree, a->path)) {
			n_ups++;
			n_new += !mn;
		}
	}
	/* Check the node cap up front: a commit must not half-apply. */
	if (st->tree.n_nodes + n_new > st->tree.max_nodes)
		return -ENOSPC;
	/* and the caller's quota: what it owns now plus what the transaction
	 * added (others' commits since its start count too) */
	if (!c->priv) {
		int64_t now = xs_tree_owned(&st->tree, c->domid);
		int64_t after = now + xs_tree_owned_delta(&t->tree, c->domid);

		if (after > now && after > XS_DOMAIN_NODES_MAX)
			return -ENOSPC;
	}
	ups = calloc(n_ups ? n_ups : 1, sizeof(*ups));
	if (!ups)
		return -ENOMEM;

	/* Removals: events first, while watchers can still be checked
	 * against the nodes' permissions, then the removal itself. */
	for (a = t->acc_head; a; a = a->next) {
		if (!a->written || xs_tree_lookup(&t->tree, a->path))
			continue;
		if (xs_tree_lookup(&st->tree, a->path))
			xs_watch_fire(st, a->path, a->event, NULL);
	}
	for (a = t->acc_head; a; a = a->next) {
		struct xs_node *mn;

		if (!a->written || xs_tree_lookup(&t->tree, a->path))
			continue;
		mn = xs_tree_lookup(&st->tree, a->path);
		if (mn && mn->parent)
			xs_node_remove(&st->tree, mn);
	}

	n_ups = 0;
	for (a = t->acc_head; a; a = a->next, seq++) {
		if (!a->written || !xs_tree_lookup(&t->tree, a->path))
			continue;
		ups[n_ups].a = a;
		ups[n_ups].depth = path_depth(a->path);
		ups[n_ups].seq = seq;
		n_ups++;
	}
	qsort(ups, n_ups, sizeof(*ups), upsert_cmp);
	for (i = 0; i < n_ups; i++) {
		a = ups[i].a;
		rc = apply_upsert(st, a->path, xs_tree_lookup(&t->tree, a->path));
		if (rc) {
			/* Only ENOMEM gets here (the cap was checked). */
			log_err("xenstored: transaction commit of %s failed: %s",
				a->path, xs_err_name(rc));
			break;
		}
	}
	/* Events in the order the transaction made the changes. */
	for (a = t->acc_head; a; a = a->next)
		if (a->written && a->event != XS_EV_NONE &&
		    xs_tree_lookup(&t->tree, a->path))
			xs_watch_fire(st, a->path, a->event, NULL);
	free(ups);
	return rc;
}

int xs_txn_end(struct xs_conn *c, struct xs_txn *t, bool commit)
{
	int rc = 0;

	/* The id is gone whatever happens next, as in xenstored. */
	txn_unlink(c, t);
	if (commit)
		rc = txn_commit(c, t);
	txn_free(t);
	return rc;
}

void xs_txn_clear(struct xs_conn *c)
{
	while (c->txns)
		xs_txn_end(c, c->txns, false);
}
