/* xs_tree: the xenstore node tree, its permissions and generation counts.
 *
 * A node has a value, an ACL and ordered children. Values and ACLs are
 * immutable and reference counted, so copying a node shares them. Every
 * change stamps the changed node (and a parent whose child list changed)
 * with a fresh generation from the store-wide counter: transactions detect
 * conflicts by comparing them.
 *
 * A transaction works on an overlay of the store's tree (xs_tree_overlay):
 * at its start a copy of the root only, whose children are copied from the
 * store's tree the first time the transaction looks below a node (each with
 * its generation then, taken again at the transaction's first look at the
 * node itself: xs_node_look), as C xenstored copies a node into a
 * transaction at its first access. A start costs the same with ten nodes
 * or a million; a transaction copies the levels it walks, not the tree. */
#ifndef HV_SIM_XS_TREE_H
#define HV_SIM_XS_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/xs_wire.h"

/* Nodes an unprivileged domain may own (xenstored's quota-nbentry, 1000
 * by default in C xenstored): a guest cannot make dom0 allocate without
 * bound, however many nodes dom0 itself keeps for thousands of vifs. */
#define XS_DOMAIN_NODES_MAX	1000
/* Owners counted per domain: domids below DOMID_FIRST_RESERVED. */
#define XS_DOMIDS	0x7ff0u
/* A tree's node cap, a memory backstop only (about 300 MB at the cap): the
 * guests are held by their quota, and 1024 domains at theirs leave dom0
 * a million nodes. */
#define XS_NODES_MAX	(1u << 21)

struct xs_blob {
	unsigned ref;
	unsigned len;
	char data[];
};

struct xs_acl {
	unsigned ref;
	unsigned n;		/* >= 1: p[0] is the owner and default */
	struct xs_perm p[];
};

struct xs_node {
	struct xs_node *parent;
	char *name;		/* last component; "" for the root */
	struct xs_node **kids;	/* in creation order: DIRECTORY lists so */
	unsigned n_kids, cap_kids;
	/* Kids by name hash (open addressing, index_cap a power of two), made
	 * when a lookup meets many kids, dropped on removal: a directory of a
	 * thousand vifs is looked up in O(1), as xenstored's database does. */
	struct xs_node **index;
	unsigned index_cap;
	struct xs_blob *val;	/* NULL: empty value */
	struct xs_acl *acl;
	uint64_t gen;
	bool lazy;		/* an overlay's: kids not copied yet */
	/* an overlay's: its transaction looked at it (xs_node_look) or made
	 * it; a copy made on the way to a node below is not yet */
	bool seen;
};

/* A transaction's change to what a domain owns (its quota). */
struct xs_owned_delta {
	uint32_t domid;
	int32_t delta;
};

struct xs_tree {
	struct xs_node *root;
	unsigned n_nodes;
	unsigned max_nodes;	/* XS_NODES_MAX (tests lower it) */
	uint32_t *owned;	/* XS_DOMIDS: nodes owned per domain (ACL p[0]) */
	uint64_t *gen;		/* the store's generation counter */
	/* An overlay: the tree its nodes are copied from, and what it
	 * changed of each domain's count (owned is NULL). */
	const struct xs_tree *base;
	struct xs_owned_delta *deltas;
	unsigned n_deltas, cap_deltas;
	bool broken;		/* a copy or a count failed for want of memory */
};

/* 0 if path is a valid absolute node path: starts with '/', only
 * [A-Za-z0-9-/_@], no "//", no trailing '/' except "/" itself, at most
 * XS_ABS_PATH_MAX bytes. -EINVAL otherwise. */
int xs_path_check(const char *path);

/* The parent path of an absolute path other than "/" into buf. */
void xs_path_parent(const char *path, char *buf, size_t len);

/* Is path equal to or below base? depth < 0: any depth; otherwise at most
 * depth levels below base (xenstored's is_child()). */
bool xs_path_is_under(const char *path, const char *base, int depth);

/* Nodes domid owns in t (0 for a reserved domid); an overlay's: its
 * base's now and its own changes. */
unsigned xs_tree_owned(const struct xs_tree *t, uint32_t domid);
/* What overlay t changed of domid's count. */
int64_t xs_tree_owned_delta(const struct xs_tree *t, uint32_t domid);

/* Root with owner dom0 and no access for others ("n0"). */
int xs_tree_init(struct xs_tree *t, uint64_t *gen);
void xs_tree_fini(struct xs_tree *t);
/* dst: an overlay of base (see above), O(1); -ENOMEM. base must outlive
 * it, and is read (never written) each time dst copies a level. */
int xs_tree_overlay(struct xs_tree *dst, const struct xs_tree *base);
/* n's kids (and, for _all, its whole subtree) copied from the base, if
 * t is an overlay that has not yet; -ENOMEM (t->broken). Lookups do it
 * themselves; code that walks n->kids calls it first. */
int xs_node_load(const struct xs_tree *t, struct xs_node *n);
int xs_node_load_all(const struct xs_tree *t, struct xs_node *n);
/* The transaction of overlay t looks at n (a request names it, or finds
 * it the nearest of a missing node): the first time, a copy made on the
 * way to a node below takes the value, ACL and generation the base has
 * at its path now, so that it is seen as it is at this first look and
 * not as it was when the walk passed it. Not when the base no longer
 * has a kid the copy holds (or, kids copied, has others): the copy is
 * then kept as it is, a conflict at commit. */
void xs_node_look(const struct xs_tree *t, struct xs_node *n);

struct xs_node *xs_tree_lookup(const struct xs_tree *t, const char *path);
/* The node at path or, if missing, its deepest existing ancestor; never
 * NULL for a valid path. *missing is set when the node itself is absent. */
struct xs_node *xs_tree_nearest(const struct xs_tree *t, const char *path,
				bool *missing);

/* New child of parent inheriting parent's ACL; -ENOSPC at max_nodes. */
int xs_node_add_child(struct xs_tree *t, struct xs_node *parent,
		      const char *name, size_t name_len, struct xs_node **out);
int xs_node_set_value(struct xs_tree *t, struct xs_node *n, const void *data,
		      unsigned len);
/* Shares blob (may be NULL) instead of copying it. */
void xs_node_share_value(struct xs_tree *t, struct xs_node *n,
			 struct xs_blob *blob);
void xs_node_set_acl(struct xs_tree *t, struct xs_node *n, struct xs_acl *acl);
/* Unlinks and frees n and its subtree (n must not be the root). */
void xs_node_remove(struct xs_tree *t, struct xs_node *n);
struct xs_node *xs_node_child(const struct xs_node *n, const char *name,
			      size_t name_len);
/* Full path of n into buf; -ENAMETOOLONG if it does not fit. */
int xs_node_path(const struct xs_node *n, char *buf, size_t len);

struct xs_acl *xs_acl_new(const struct xs_perm *p, unsigned n);
void xs_acl_get(struct xs_acl *a);
void xs_acl_put(struct xs_acl *a);
void xs_blob_get(struct xs_blob *b);
void xs_blob_put(struct xs_blob *b);

/* What domain domid may do under acl: XS_P_READ|WRITE|OWNER bits.
 * Privileged callers and the owner get everything; otherwise the first
 * entry naming domid, else the owner entry's mode (xenstored's
 * perm_for_conn()). */
unsigned xs_acl_access(const struct xs_acl *acl, uint32_t domid, bool priv);

#endif
