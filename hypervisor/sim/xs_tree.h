/* xs_tree: the xenstore node tree, its permissions and generation counts.
 *
 * A node has a value, an ACL and ordered children. Values and ACLs are
 * immutable and reference counted, so cloning a tree for a transaction
 * snapshot copies only the node skeleton. Every change stamps the changed
 * node (and a parent whose child list changed) with a fresh generation from
 * the store-wide counter: transactions detect conflicts by comparing them. */
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
};

struct xs_tree {
	struct xs_node *root;
	unsigned n_nodes;
	unsigned max_nodes;	/* XS_NODES_MAX (tests lower it) */
	uint32_t *owned;	/* XS_DOMIDS: nodes owned per domain (ACL p[0]) */
	uint64_t *gen;		/* the store's generation counter */
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

/* Nodes domid owns in t (0 for a reserved domid). */
unsigned xs_tree_owned(const struct xs_tree *t, uint32_t domid);

/* Root with owner dom0 and no access for others ("n0"). */
int xs_tree_init(struct xs_tree *t, uint64_t *gen);
void xs_tree_fini(struct xs_tree *t);
/* Copies src into dst (sharing values and ACLs); -ENOMEM. */
int xs_tree_clone(struct xs_tree *dst, const struct xs_tree *src);

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
