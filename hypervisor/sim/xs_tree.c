/* xs_tree: node storage for the simulated xenstored. No policy here: the
 * request handlers (xs_ops.c) decide who may do what. */
#include "hypervisor/sim/xs_tree.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static uint64_t next_gen(struct xs_tree *t)
{
	return ++*t->gen;
}

int xs_path_check(const char *path)
{
	size_t len = strlen(path);
	size_t i;

	if (len == 0 || len > XS_ABS_PATH_MAX || path[0] != '/')
		return -EINVAL;
	for (i = 0; i < len; i++) {
		char c = path[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '/' ||
		      c == '_' || c == '@'))
			return -EINVAL;
		if (c == '/' && i > 0 && path[i - 1] == '/')
			return -EINVAL;
	}
	if (len > 1 && path[len - 1] == '/')
		return -EINVAL;
	return 0;
}

void xs_path_parent(const char *path, char *buf, size_t len)
{
	const char *slash = strrchr(path, '/');
	size_t n = slash ? (size_t)(slash - path) : 0;

	if (n == 0)
		n = 1; /* parent of "/x" is "/" */
	if (n >= len)
		n = len - 1;
	memcpy(buf, path, n);
	buf[n] = '\0';
}

bool xs_path_is_under(const char *path, const char *base, int depth)
{
	size_t blen = strlen(base);
	const char *rest;
	int levels = 0;

	if (blen == 1 && base[0] == '/') {
		if (path[0] != '/')
			return false;
		rest = path[1] ? path : "";
	} else {
		if (strncmp(path, base, blen) != 0)
			return false;
		rest = path + blen;
		if (*rest != '\0' && *rest != '/')
			return false;
	}
	if (depth < 0 || !*rest)
		return true;
	/* rest is "/a/b": one level per slash. */
	for (; *rest; rest++)
		if (*rest == '/')
			levels++;
	return levels <= depth;
}

struct xs_acl *xs_acl_new(const struct xs_perm *p, unsigned n)
{
	struct xs_acl *a = malloc(sizeof(*a) + n * sizeof(a->p[0]));

	if (!a)
		return NULL;
	a->ref = 1;
	a->n = n;
	memcpy(a->p, p, n * sizeof(a->p[0]));
	return a;
}

void xs_acl_get(struct xs_acl *a)
{
	if (a)
		a->ref++;
}

void xs_acl_put(struct xs_acl *a)
{
	if (a && --a->ref == 0)
		free(a);
}

void xs_blob_get(struct xs_blob *b)
{
	if (b)
		b->ref++;
}

void xs_blob_put(struct xs_blob *b)
{
	if (b && --b->ref == 0)
		free(b);
}

unsigned xs_acl_access(const struct xs_acl *acl, uint32_t domid, bool priv)
{
	const unsigned all = XS_P_READ | XS_P_WRITE | XS_P_OWNER;
	unsigned i;

	if (priv || acl->p[0].domid == domid)
		return all;
	for (i = 1; i < acl->n; i++)
		if (acl->p[i].domid == domid)
			return acl->p[i].mode & XS_P_BOTH;
	return acl->p[0].mode & XS_P_BOTH;
}

static struct xs_node *node_alloc(const char *name, size_t name_len)
{
	struct xs_node *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->name = strndup(name, name_len);
	if (!n->name) {
		free(n);
		return NULL;
	}
	return n;
}

static uint32_t *owner_slot(const struct xs_tree *t, const struct xs_acl *acl)
{
	uint32_t d = acl->p[0].domid;

	return t && t->owned && d < XS_DOMIDS ? &t->owned[d] : NULL;
}

static struct xs_owned_delta *delta_of(const struct xs_tree *t, uint32_t domid)
{
	for (unsigned i = 0; i < t->n_deltas; i++)
		if (t->deltas[i].domid == domid)
			return &t->deltas[i];
	return NULL;
}

/* An overlay counts its changes per domain: a transaction touches a few. */
static void delta_add(struct xs_tree *t, uint32_t domid, int delta)
{
	struct xs_owned_delta *d = delta_of(t, domid);

	if (!d) {
		if (t->n_deltas == t->cap_deltas) {
			unsigned cap = t->cap_deltas ? 2 * t->cap_deltas : 4;
			struct xs_owned_delta *nd = realloc(t->deltas, cap * sizeof(*nd));

			if (!nd) {
				t->broken = true;
				return;
			}
			t->deltas = nd;
			t->cap_deltas = cap;
		}
		d = &t->deltas[t->n_deltas++];
		*d = (struct xs_owned_delta){ .domid = domid };
	}
	d->delta += delta;
}

static void owned_add(const struct xs_tree *ct, const struct xs_acl *acl, int delta)
{
	/* the counts are the tree's bookkeeping, not its nodes */
	struct xs_tree *t = (struct xs_tree *)ct;
	uint32_t *c = owner_slot(t, acl);

	if (c)
		*c = (uint32_t)((int64_t)*c + delta);
	else if (t && t->base && acl->p[0].domid < XS_DOMIDS)
		delta_add(t, acl->p[0].domid, delta);
}

int64_t xs_tree_owned_delta(const struct xs_tree *t, uint32_t domid)
{
	const struct xs_owned_delta *d = t->base ? delta_of(t, domid) : NULL;

	return d ? d->delta : 0;
}

unsigned xs_tree_owned(const struct xs_tree *t, uint32_t domid)
{
	int64_t n;

	if (t->base) {
		n = (int64_t)xs_tree_owned(t->base, domid) + xs_tree_owned_delta(t, domid);
		return n > 0 ? (unsigned)n : 0;
	}
	return t->owned && domid < XS_DOMIDS ? t->owned[domid] : 0;
}

/* Frees the subtree below and including n; returns how many nodes. Their
 * owners' counts in t drop (t NULL: the whole tree goes). */
static unsigned node_free(struct xs_tree *t, struct xs_node *n)
{
	unsigned i, count = 1;

	for (i = 0; i < n->n_kids; i++)
		count += node_free(t, n->kids[i]);
	if (n->acl)
		owned_add(t, n->acl, -1);
	free(n->kids);
	free(n->index);
	xs_blob_put(n->val);
	xs_acl_put(n->acl);
	free(n->name);
	free(n);
	return count;
}

int xs_tree_init(struct xs_tree *t, uint64_t *gen)
{
	static const struct xs_perm dom0_only = { .domid = 0, .mode = XS_P_NONE };

	memset(t, 0, sizeof(*t));
	t->gen = gen;
	t->max_nodes = XS_NODES_MAX;
	t->owned = calloc(XS_DOMIDS, sizeof(*t->owned));
	t->root = node_alloc("", 0);
	if (!t->owned || !t->root) {
		xs_tree_fini(t);
		return -ENOMEM;
	}
	t->root->acl = xs_acl_new(&dom0_only, 1);
	if (!t->root->acl) {
		xs_tree_fini(t);
		return -ENOMEM;
	}
	t->root->gen = next_gen(t);
	t->n_nodes = 1;
	t->owned[0] = 1;
	return 0;
}

void xs_tree_fini(struct xs_tree *t)
{
	if (t->root)
		node_free(NULL, t->root);
	free(t->owned);
	free(t->deltas);
	t->deltas = NULL;
	t->n_deltas = t->cap_deltas = 0;
	t->owned = NULL;
	t->root = NULL;
	t->n_nodes = 0;
}

static int kids_reserve(struct xs_node *n, unsigned want)
{
	struct xs_node **k;
	unsigned cap;

	if (want <= n->cap_kids)
		return 0;
	cap = n->cap_kids ? n->cap_kids * 2 : 4;
	while (cap < want)
		cap *= 2;
	k = realloc(n->kids, cap * sizeof(*k));
	if (!k)
		return -ENOMEM;
	n->kids = k;
	n->cap_kids = cap;
	return 0;
}

/* n as it is, value and ACL shared, without its kids. */
static struct xs_node *node_copy(const struct xs_node *src, struct xs_node *parent)
{
	struct xs_node *n = node_alloc(src->name, strlen(src->name));

	if (!n)
		return NULL;
	n->parent = parent;
	n->gen = src->gen;
	n->val = src->val;
	xs_blob_get(n->val);
	n->acl = src->acl;
	xs_acl_get(n->acl);
	return n;
}

/* n as it is, but its kids: they are copied when first looked for. */
static struct xs_node *node_copy_lazy(const struct xs_node *src, struct xs_node *parent)
{
	struct xs_node *n = node_copy(src, parent);

	if (n)
		n->lazy = true;
	return n;
}

int xs_tree_overlay(struct xs_tree *dst, const struct xs_tree *base)
{
	memset(dst, 0, sizeof(*dst));
	dst->base = base;
	dst->gen = base->gen;
	dst->n_nodes = base->n_nodes;
	dst->max_nodes = base->max_nodes;
	dst->root = node_copy_lazy(base->root, NULL);
	return dst->root ? 0 : -ENOMEM;
}

/* The base's node at n's path now, or NULL: gone since n was copied (or
 * never a base node, or t no overlay). */
static const struct xs_node *base_of(const struct xs_tree *t, const struct xs_node *n)
{
	char path[XS_ABS_PATH_MAX + 1];

	if (!t->base || xs_node_path(n, path, sizeof(path)))
		return NULL;
	return xs_tree_lookup(t->base, path);
}

static void index_drop(struct xs_node *n)
{
	free(n->index);
	n->index = NULL;
	n->index_cap = 0;
}

static struct xs_node *kid_of(const struct xs_node *n, const struct xs_node *copy_of)
{
	return xs_node_child(n, copy_of->name, strlen(copy_of->name));
}

/* All of n's kids: the base's, in its order (those copied already kept,
 * with what the transaction did to them), then those not in the base
 * (the transaction's own, and copies of kids removed since), in theirs.
 * Taken before a removal below n (which a copy on demand would undo)
 * and for whatever lists or walks n's kids. */
int xs_node_load(const struct xs_tree *ct, struct xs_node *n)
{
	/* copies of what the base holds: the overlay's content as it was */
	struct xs_tree *t = (struct xs_tree *)ct;
	const struct xs_node *src;
	struct xs_node **kids, *k;
	unsigned i, nk = 0, cap;

	if (!n->lazy)
		return 0;
	src = base_of(t, n);
	cap = n->n_kids + (src ? src->n_kids : 0);
	kids = malloc((cap ? cap : 1) * sizeof(*kids));
	if (!kids)
		goto nomem;
	for (i = 0; src && i < src->n_kids; i++) {
		k = kid_of(n, src->kids[i]);
		if (!k) {
			k = node_copy_lazy(src->kids[i], n);
			if (!k) {
				while (nk)
					if (!kid_of(n, kids[--nk]))
						node_free(NULL, kids[nk]);
				free(kids);
				goto nomem;
			}
		}
		kids[nk++] = k;
	}
	for (i = 0; i < n->n_kids; i++)
		if (!src || !xs_node_child(src, n->kids[i]->name, strlen(n->kids[i]->name)))
			kids[nk++] = n->kids[i];
	free(n->kids);
	index_drop(n); /* rebuilt at the next lookup */
	n->kids = kids;
	n->n_kids = nk;
	n->cap_kids = cap ? cap : 1;
	n->lazy = false;
	return 0;
nomem:
	t->broken = true;
	return -ENOMEM;
}

int xs_node_load_all(const struct xs_tree *t, struct xs_node *n)
{
	int rc = xs_node_load(t, n);

	for (unsigned i = 0; rc == 0 && i < n->n_kids; i++)
		rc = xs_node_load_all(t, n->kids[i]);
	return rc;
}

/* Does n's list hold only kids src has too (and all of src's, once n's
 * were copied)? Else what n's list says is not what src's does, and a
 * generation taken from src would hide that from the commit. */
static bool kids_as_base(const struct xs_node *n, const struct xs_node *src)
{
	for (unsigned i = 0; i < n->n_kids; i++)
		if (!xs_node_child(src, n->kids[i]->name, strlen(n->kids[i]->name)))
			return false;
	return n->lazy || n->n_kids == src->n_kids;
}

void xs_node_look(const struct xs_tree *t, struct xs_node *n)
{
	const struct xs_node *src;

	if (!t->base || n->seen)
		return;
	n->seen = true;
	src = base_of(t, n);
	if (!src || src->gen == n->gen || !kids_as_base(n, src))
		return;
	/* what an outside change made of it before this first look */
	xs_blob_get(src->val);
	xs_blob_put(n->val);
	n->val = src->val;
	xs_acl_get(src->acl);
	xs_acl_put(n->acl);
	n->acl = src->acl;
	n->gen = src->gen;
}

static void index_put(struct xs_node *n, struct xs_node *kid);
static void index_build(struct xs_node *n, unsigned want);

/* A kid at the end of n's list, its index kept. */
static int kid_append(struct xs_node *n, struct xs_node *kid)
{
	if (kids_reserve(n, n->n_kids + 1))
		return -ENOMEM;
	n->kids[n->n_kids++] = kid;
	if (n->index && 2 * n->n_kids > n->index_cap)
		index_build(n, 2 * n->n_kids);
	else if (n->index)
		index_put(n, kid);
	return 0;
}

/* n's kid name: copied from the base the first time an overlay looks
 * for it (one kid, not its siblings: a walk down a directory of a
 * thousand vifs copies one). */
static struct xs_node *child_copied(const struct xs_tree *ct, struct xs_node *n, const char *name,
				    size_t len)
{
	struct xs_tree *t = (struct xs_tree *)ct;
	struct xs_node *kid = xs_node_child(n, name, len);
	const struct xs_node *src, *skid;

	if (kid || !n->lazy)
		return kid;
	src = base_of(t, n);
	skid = src ? xs_node_child(src, name, len) : NULL;
	if (!skid)
		return NULL;
	kid = node_copy_lazy(skid, n);
	if (!kid || kid_append(n, kid)) {
		if (kid)
			node_free(NULL, kid);
		/* seen as missing: the transaction fails at its end */
		t->broken = true;
		return NULL;
	}
	return kid;
}

#define INDEX_MIN_KIDS 16

static unsigned name_hash(const char *name, size_t len)
{
	unsigned h = 2166136261u; /* FNV-1a */

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)name[i]) * 16777619u;
	return h;
}

static void index_put(struct xs_node *n, struct xs_node *kid)
{
	unsigned mask = n->index_cap - 1, i = name_hash(kid->name, strlen(kid->name)) & mask;

	while (n->index[i])
		i = (i + 1) & mask;
	n->index[i] = kid;
}

/* (Re)builds n's index for at least `want` kids at load <= 1/2; on no
 * memory there is no index, and lookups scan. */
static void index_build(struct xs_node *n, unsigned want)
{
	unsigned cap = 64;

	while (cap < 2 * want)
		cap *= 2;
	free(n->index);
	n->index = calloc(cap, sizeof(*n->index));
	n->index_cap = n->index ? cap : 0;
	for (unsigned i = 0; n->index && i < n->n_kids; i++)
		index_put(n, n->kids[i]);
}

struct xs_node *xs_node_child(const struct xs_node *cn, const char *name,
			      size_t name_len)
{
	/* The index is a cache: building it does not change the node. */
	struct xs_node *n = (struct xs_node *)cn;
	unsigned i;

	if (n->n_kids >= INDEX_MIN_KIDS && !n->index)
		index_build(n, n->n_kids);
	if (n->index) {
		unsigned mask = n->index_cap - 1;

		for (i = name_hash(name, name_len) & mask; n->index[i]; i = (i + 1) & mask)
			if (strncmp(n->index[i]->name, name, name_len) == 0 &&
			    n->index[i]->name[name_len] == '\0')
				return n->index[i];
		return NULL;
	}
	for (i = 0; i < n->n_kids; i++) {
		const char *kn = n->kids[i]->name;

		if (strncmp(kn, name, name_len) == 0 && kn[name_len] == '\0')
			return n->kids[i];
	}
	return NULL;
}

struct xs_node *xs_tree_nearest(const struct xs_tree *t, const char *path,
				bool *missing)
{
	struct xs_node *n = t->root, *kid;
	const char *p = path;

	*missing = false;
	while (*p == '/')
		p++;
	while (*p) {
		size_t len = strcspn(p, "/");

		kid = child_copied(t, n, p, len);
		if (!kid) {
			*missing = true;
			return n;
		}
		n = kid;
		p += len;
		while (*p == '/')
			p++;
	}
	return n;
}

struct xs_node *xs_tree_lookup(const struct xs_tree *t, const char *path)
{
	bool missing;
	struct xs_node *n = xs_tree_nearest(t, path, &missing);

	return missing ? NULL : n;
}

int xs_node_add_child(struct xs_tree *t, struct xs_node *parent,
		      const char *name, size_t name_len, struct xs_node **out)
{
	struct xs_node *n;

	if (t->n_nodes >= t->max_nodes)
		return -ENOSPC;
	/* a lazy parent takes the kid as the last of the base's (see
	 * xs_node_load), as after all of them in a copy of the whole tree */
	if (kids_reserve(parent, parent->n_kids + 1))
		return -ENOMEM;
	n = node_alloc(name, name_len);
	if (!n)
		return -ENOMEM;
	n->parent = parent;
	n->acl = parent->acl;
	xs_acl_get(n->acl);
	n->gen = next_gen(t);
	n->seen = true; /* an overlay's own: nothing in the base to take */
	parent->kids[parent->n_kids++] = n;
	if (parent->index && 2 * parent->n_kids > parent->index_cap)
		index_build(parent, 2 * parent->n_kids);
	else if (parent->index)
		index_put(parent, n);
	parent->gen = next_gen(t);
	t->n_nodes++;
	owned_add(t, n->acl, 1);
	*out = n;
	return 0;
}

int xs_node_set_value(struct xs_tree *t, struct xs_node *n, const void *data,
		      unsigned len)
{
	struct xs_blob *b = NULL;

	if (len) {
		b = malloc(sizeof(*b) + len);
		if (!b)
			return -ENOMEM;
		b->ref = 1;
		b->len = len;
		memcpy(b->data, data, len);
	}
	xs_blob_put(n->val);
	n->val = b;
	n->gen = next_gen(t);
	return 0;
}

void xs_node_share_value(struct xs_tree *t, struct xs_node *n,
			 struct xs_blob *blob)
{
	xs_blob_get(blob);
	xs_blob_put(n->val);
	n->val = blob;
	n->gen = next_gen(t);
}

void xs_node_set_acl(struct xs_tree *t, struct xs_node *n, struct xs_acl *acl)
{
	xs_acl_get(acl);
	owned_add(t, n->acl, -1);
	owned_add(t, acl, 1);
	xs_acl_put(n->acl);
	n->acl = acl;
	n->gen = next_gen(t);
}

void xs_node_remove(struct xs_tree *t, struct xs_node *n)
{
	struct xs_node *p = n->parent;
	unsigned i;

	/* every node counted out (n_nodes, owners): all of them copied; and
	 * the parent's list whole, or a later look would copy n back */
	xs_node_load_all(t, n);
	xs_node_load(t, p);
	for (i = 0; i < p->n_kids; i++) {
		if (p->kids[i] == n) {
			/* memmove keeps sibling order: DIRECTORY lists in
			 * creation order, like xenstored. */
			memmove(&p->kids[i], &p->kids[i + 1],
				(p->n_kids - i - 1) * sizeof(p->kids[0]));
			p->n_kids--;
			break;
		}
	}
	if (p->index) { /* open addressing: rebuilt at the next lookup */
		free(p->index);
		p->index = NULL;
		p->index_cap = 0;
	}
	p->gen = next_gen(t);
	t->n_nodes -= node_free(t, n);
}

int xs_node_path(const struct xs_node *n, char *buf, size_t len)
{
	const struct xs_node *a;
	size_t need = 0, pos;

	if (!n->parent) {
		if (len < 2)
			return -ENAMETOOLONG;
		strcpy(buf, "/");
		return 0;
	}
	for (a = n; a->parent; a = a->parent)
		need += 1 + strlen(a->name);
	if (need + 1 > len)
		return -ENAMETOOLONG;
	buf[need] = '\0';
	pos = need;
	for (a = n; a->parent; a = a->parent) {
		size_t l = strlen(a->name);

		pos -= l;
		memcpy(buf + pos, a->name, l);
		buf[--pos] = '/';
	}
	return 0;
}
