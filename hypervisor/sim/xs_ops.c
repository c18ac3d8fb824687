/* xs_ops: one handler per xenstore request type, with xenstored's
 * argument, permission and error conventions (tools/xenstored/core.c and
 * domain.c are the reference for behaviour, docs/misc/xenstore.txt for the
 * payloads). Each handler returns 0 after queueing its reply, or -errno for
 * the dispatcher to send as an ERROR reply. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hypervisor/sim/xs_store.h"
#include "lib/log.h"

/* Room for an absolute path plus the relative-path prefix. */
#define PATH_BUF	(XS_ABS_PATH_MAX + 32)

struct req {
	struct xs_conn *c;
	struct xs_store *st;
	const struct xs_msg_hdr *h;
	char *buf;
	unsigned len;
	struct xs_txn *txn;
	struct xs_tree *tree;	/* the transaction's snapshot or the live tree */
};

static void reply(struct req *r, const void *data, size_t len)
{
	xs_conn_reply(r->c, r->h->type, r->h->req_id, r->h->tx_id, data, len);
}

static void ack(struct req *r)
{
	reply(r, "OK", 3);
}

/* The payload as one string with its only NUL at the end, or NULL. */
static const char *onearg(struct req *r)
{
	if (!r->len || memchr(r->buf, 0, r->len) != r->buf + r->len - 1)
		return NULL;
	return r->buf;
}

static int special_check(const char *s)
{
	size_t len = strlen(s), i;

	if (len > XS_ABS_PATH_MAX || s[len - 1] == '/')
		return -EINVAL;
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '/' ||
		      c == '_' || c == '@'))
			return -EINVAL;
		if (c == '/' && s[i + 1] == '/')
			return -EINVAL;
	}
	return 0;
}

/* Canonical form of a request path into out: relative paths live under
 * /local/domain/<caller>; "@name" only where special paths make sense. */
static int canon(struct req *r, const char *in, char *out, bool allow_special,
		 unsigned *prefix_len)
{
	int n;

	if (prefix_len)
		*prefix_len = 0;
	if (!in || !*in)
		return -EINVAL;
	if (in[0] == '@') {
		if (!allow_special || special_check(in))
			return -EINVAL;
		strcpy(out, in);
		return 0;
	}
	if (in[0] == '/') {
		if (strlen(in) > XS_ABS_PATH_MAX)
			return -EINVAL;
		strcpy(out, in);
	} else {
		if (strlen(in) > XS_REL_PATH_MAX)
			return -EINVAL;
		n = snprintf(out, PATH_BUF, "/local/domain/%u/%s",
			     (unsigned)r->c->domid, in);
		if (n < 0 || n >= PATH_BUF)
			return -EINVAL;
		if (prefix_len)
			*prefix_len = (unsigned)(strchr(out + 14, '/') - out) + 1;
	}
	return xs_path_check(out);
}

static unsigned access_of(struct req *r, const struct xs_acl *acl)
{
	return xs_acl_access(acl, r->c->domid, r->c->priv);
}

/* The node at path if the caller may access it with want. A missing node
 * is ENOENT only if the caller could have that access on its nearest
 * ancestor, so guests cannot probe for nodes they cannot see. */
static int get_node(struct req *r, const char *path, unsigned want,
		    struct xs_node **out)
{
	bool missing;
	struct xs_node *n = xs_tree_nearest(r->tree, path, &missing);

	*out = NULL;
	/* a transaction's first look: n as it is now (its ACL too) */
	xs_node_look(r->tree, n);
	if (!missing) {
		if ((access_of(r, n->acl) & want) != want)
			return -EACCES;
		*out = n;
		return 0;
	}
	return (access_of(r, n->acl) & want) ? -ENOENT : -EACCES;
}

static int note(struct req *r, const char *path, const struct xs_node *n,
		bool written, enum xs_ev ev)
{
	if (!r->txn)
		return 0;
	return xs_txn_note(r->txn, path, n, written, ev);
}

/* The node at path (canonical) for a request that reads it: access
 * checked, the read noted in the caller's transaction. */
static int read_node(struct req *r, const char *path, struct xs_node **out)
{
	int rc = get_node(r, path, XS_P_READ, out);

	if (rc)
		return rc;
	return note(r, path, *out, false, XS_EV_NONE);
}

/* The children's names, each NUL-terminated, as DIRECTORY and
 * DIRECTORY_PART send them: their size, and the bytes. */
static size_t kids_size(const struct xs_node *n)
{
	size_t total = 0;

	for (unsigned i = 0; i < n->n_kids; i++)
		total += strlen(n->kids[i]->name) + 1;
	return total;
}

static void kids_copy(const struct xs_node *n, char *out)
{
	for (unsigned i = 0; i < n->n_kids; i++) {
		size_t l = strlen(n->kids[i]->name) + 1;

		memcpy(out, n->kids[i]->name, l);
		out += l;
	}
}

/* Checked before a multi-node change so it cannot fail half-way. */
static int txn_room(struct req *r, unsigned notes)
{
	if (r->txn && r->txn->n_acc + notes > XS_TXN_ACCESS_MAX)
		return -ENOSPC;
	return 0;
}

static void fire(struct req *r, const char *path, enum xs_ev ev,
		 const struct xs_acl *old_acl)
{
	/* Inside a transaction events wait for the commit. */
	if (!r->txn)
		xs_watch_fire(r->st, path, ev, old_acl);
}

/* Creates path and its missing ancestors. New nodes inherit their parent's
 * ACL, but an unprivileged creator owns what it creates (xenstored's
 * construct_node()). */
static int create_path(struct req *r, const char *path, struct xs_node **out)
{
	char sub[PATH_BUF];
	bool missing;
	struct xs_node *n = xs_tree_nearest(r->tree, path, &missing);
	const char *p;
	unsigned levels = 0;
	size_t sub_len;
	bool first = true;
	int rc;

	xs_node_look(r->tree, n);
	rc = xs_node_path(n, sub, sizeof(sub));
	if (rc)
		return rc;
	sub_len = strcmp(sub, "/") ? strlen(sub) : 0;
	p = path + sub_len + 1;
	for (const char *q = p; q && *q; q = strchr(q + 1, '/'))
		levels++;
	if (r->tree->n_nodes + levels > r->tree->max_nodes)
		return -ENOSPC;
	/* what an unprivileged caller creates is its own: its quota */
	if (!r->c->priv && xs_tree_owned(r->tree, r->c->domid) + levels > XS_DOMAIN_NODES_MAX)
		return -ENOSPC;
	rc = txn_room(r, levels + 1);
	if (rc)
		return rc;
	/* The ancestor's child list changes: a conflict if someone else
	 * changes it first. */
	rc = note(r, sub_len ? sub : "/", n, false, XS_EV_NONE);
	if (rc)
		return rc;
	while (*p) {
		size_t len = strcspn(p, "/");

		sub[sub_len] = '/';
		memcpy(sub + sub_len + 1, p, len);
		sub_len += 1 + len;
		sub[sub_len] = '\0';
		rc = note(r, sub, NULL, true,
			  p[len] ? XS_EV_NONE : XS_EV_SUBTREE);
		if (rc)
			return rc;
		rc = xs_node_add_child(r->tree, n, p, len, &n);
		if (rc)
			return rc;
		if (first && !r->c->priv && n->acl->p[0].domid != r->c->domid) {
			struct xs_acl *acl = xs_acl_new(n->acl->p, n->acl->n);

			if (!acl)
				return -ENOMEM;
			acl->p[0].domid = r->c->domid;
			xs_node_set_acl(r->tree, n, acl);
			xs_acl_put(acl);
		}
		first = false;
		p += len;
		if (*p == '/')
			p++;
	}
	*out = n;
	return 0;
}

static int op_read(struct req *r)
{
	char path[PATH_BUF];
	struct xs_node *n;
	int rc;

	rc = canon(r, onearg(r), path, false, NULL);
	if (rc)
		return rc;
	rc = read_node(r, path, &n);
	if (rc == -ENOENT)
		note(r, path, NULL, false, XS_EV_NONE);
	if (rc)
		return rc;
	reply(r, n->val ? n->val->data : "", n->val ? n->val->len : 0);
	return 0;
}

static int op_write(struct req *r)
{
	char path[PATH_BUF];
	const char *nul = memchr(r->buf, 0, r->len);
	const char *val;
	unsigned vlen;
	struct xs_node *n;
	int rc;

	if (!nul)
		return -EINVAL;
	val = nul + 1;
	vlen = r->len - (unsigned)(val - r->buf);
	rc = canon(r, r->buf, path, false, NULL);
	if (rc)
		return rc;
	rc = get_node(r, path, XS_P_WRITE, &n);
	if (rc == -ENOENT) {
		rc = create_path(r, path, &n);
	} else if (!rc) {
		rc = note(r, path, n, true, XS_EV_SUBTREE);
	}
	if (rc)
		return rc;
	rc = xs_node_set_value(r->tree, n, val, vlen);
	if (rc)
		return rc;
	fire(r, path, XS_EV_SUBTREE, NULL);
	ack(r);
	return 0;
}

static int op_mkdir(struct req *r)
{
	char path[PATH_BUF];
	struct xs_node *n;
	int rc;

	rc = canon(r, onearg(r), path, false, NULL);
	if (rc)
		return rc;
	rc = get_node(r, path, XS_P_WRITE, &n);
	if (rc == -ENOENT) {
		rc = create_path(r, path, &n);
		if (rc)
			return rc;
		fire(r, path, XS_EV_SUBTREE, NULL);
	} else if (!rc) {
		rc = note(r, path, n, false, XS_EV_NONE);
	}
	if (rc)
		return rc;
	ack(r);
	return 0;
}

static unsigned subtree_size(const struct xs_node *n)
{
	unsigned i, count = 1;

	for (i = 0; i < n->n_kids; i++)
		count += subtree_size(n->kids[i]);
	return count;
}

/* Post-order over n's subtree (xenstored removes and reports children
 * first): path holds n's path and is extended in place. */
static int rm_walk(struct req *r, struct xs_node *n, char *path, size_t len,
		   bool root)
{
	enum xs_ev ev = root ? XS_EV_SUBTREE : XS_EV_EXACT;
	unsigned i;
	int rc;

	for (i = 0; i < n->n_kids; i++) {
		size_t kl = strlen(n->kids[i]->name);

		if (len + 1 + kl >= PATH_BUF)
			return -EIO; /* cannot happen: paths were checked */
		path[len] = '/';
		memcpy(path + len + 1, n->kids[i]->name, kl + 1);
		rc = rm_walk(r, n->kids[i], path, len + 1 + kl, false);
		path[len] = '\0';
		if (rc)
			return rc;
	}
	if (r->txn) {
		xs_node_look(r->tree, n);
		return note(r, path, n, true, ev);
	}
	xs_watch_fire(r->st, path, ev, NULL);
	return 0;
}

static int op_rm(struct req *r)
{
	char path[PATH_BUF], parent[PATH_BUF];
	struct xs_node *n;
	int rc;

	rc = canon(r, onearg(r), path, false, NULL);
	if (rc)
		return rc;
	rc = get_node(r, path, XS_P_WRITE, &n);
	if (rc == -ENOENT) {
		/* Removing what is not there is fine if the parent is. */
		xs_path_parent(path, parent, sizeof(parent));
		if (!xs_tree_lookup(r->tree, parent))
			return -ENOENT;
		rc = note(r, path, NULL, false, XS_EV_NONE);
		if (rc)
			return rc;
		ack(r);
		return 0;
	}
	if (rc)
		return rc;
	if (!n->parent)
		return -EINVAL;
	/* a transaction's: the whole subtree, each node noted as removed */
	rc = xs_node_load_all(r->tree, n);
	if (rc)
		return rc;
	rc = txn_room(r, subtree_size(n) + 1);
	if (rc)
		return rc;
	xs_path_parent(path, parent, sizeof(parent));
	xs_node_look(r->tree, n->parent);
	rc = note(r, parent, n->parent, false, XS_EV_NONE);
	if (rc)
		return rc;
	rc = rm_walk(r, n, path, strlen(path), true);
	if (rc)
		return rc;
	xs_node_remove(r->tree, n);
	ack(r);
	return 0;
}

static int op_directory(struct req *r)
{
	char path[PATH_BUF], out[XS_PAYLOAD_MAX];
	struct xs_node *n;
	size_t used;
	int rc;

	rc = canon(r, onearg(r), path, false, NULL);
	if (rc)
		return rc;
	rc = read_node(r, path, &n);
	if (rc == 0)
		rc = xs_node_load(r->tree, n); /* a transaction's: its kids now */
	if (rc)
		return rc;
	used = kids_size(n);
	/* Too long: the client falls back to DIRECTORY_PART. */
	if (used > sizeof(out))
		return -E2BIG;
	kids_copy(n, out);
	reply(r, out, used);
	return 0;
}

/* <path>|<offset>| -> <gen>|<children from offset>: xenstored's
 * send_directory_part(), byte for byte, since libxenstore's
 * xs_directory_part() depends on its chunking. */
static int op_directory_part(struct req *r)
{
	const char *vec[2];
	char path[PATH_BUF], gen[24], *kids, *data;
	struct xs_node *n;
	size_t total, off, len, maxlen, genlen;
	char *end;
	int rc;

	if (xs_args_split(r->buf, r->len, vec, 2) != 2)
		return -EINVAL;
	rc = canon(r, vec[0], path, false, NULL);
	if (rc)
		return rc;
	rc = read_node(r, path, &n);
	if (rc == 0)
		rc = xs_node_load(r->tree, n);
	if (rc)
		return rc;
	off = strtoul(vec[1], &end, 10);
	if (*end || !*vec[1])
		return -EINVAL;
	total = kids_size(n);
	kids = malloc(total + 1);
	data = malloc(XS_PAYLOAD_MAX + 1);
	if (!kids || !data) {
		free(kids);
		free(data);
		return -ENOMEM;
	}
	kids_copy(n, kids);
	kids[total] = '\0';
	genlen = (size_t)snprintf(gen, sizeof(gen), "%llu",
				  (unsigned long long)n->gen) + 1;
	if (off >= total) {
		/* Past the end: the generation and an empty string. */
		memcpy(data, gen, genlen);
		data[genlen] = '\0';
		reply(r, data, genlen + 1);
		goto out;
	}
	len = 0;
	maxlen = XS_PAYLOAD_MAX - genlen - 1;
	while (len + strlen(kids + off + len) < maxlen) {
		len += strlen(kids + off + len) + 1;
		if (off + len == total)
			break;
	}
	memcpy(data, gen, genlen);
	memcpy(data + genlen, kids + off, len);
	if (off + len == total)
		data[genlen + len++] = '\0';
	reply(r, data, genlen + len);
out:
	free(kids);
	free(data);
	return 0;
}

static int reply_acl(struct req *r, const struct xs_acl *acl)
{
	char out[XS_PERMS_MAX * 8];
	size_t used = 0;
	unsigned i;

	for (i = 0; i < acl->n; i++)
		used += xs_perm_format(&acl->p[i], out + used) + 1;
	reply(r, out, used);
	return 0;
}

static int op_get_perms(struct req *r)
{
	char path[PATH_BUF];
	struct xs_special *sp;
	struct xs_node *n;
	int rc;

	rc = canon(r, onearg(r), path, true, NULL);
	if (rc)
		return rc;
	if (path[0] == '@') {
		sp = xs_store_special(r->st, path);
		if (!sp)
			return -ENOENT;
		if (!(access_of(r, sp->acl) & XS_P_READ))
			return -EACCES;
		return reply_acl(r, sp->acl);
	}
	rc = read_node(r, path, &n);
	if (rc)
		return rc;
	return reply_acl(r, n->acl);
}

static int op_set_perms(struct req *r)
{
	const char *vec[XS_PERMS_MAX + 1];
	struct xs_perm perms[XS_PERMS_MAX];
	char path[PATH_BUF];
	struct xs_acl *acl, *old;
	struct xs_special *sp = NULL;
	struct xs_node *n = NULL;
	unsigned count, i;
	int rc;

	count = xs_args_split(r->buf, r->len, vec, XS_PERMS_MAX + 1);
	if (count < 2)
		return -EINVAL;
	if (count - 1 > XS_PERMS_MAX)
		return -ENOSPC;
	for (i = 0; i < count - 1; i++)
		if (xs_perm_parse(vec[i + 1], &perms[i]))
			return -EINVAL;
	rc = canon(r, vec[0], path, true, NULL);
	if (rc)
		return rc;
	if (path[0] == '@') {
		sp = xs_store_special(r->st, path);
		if (!sp)
			return -ENOENT;
		if ((access_of(r, sp->acl) & (XS_P_WRITE | XS_P_OWNER)) !=
		    (XS_P_WRITE | XS_P_OWNER))
			return -EACCES;
		old = sp->acl;
	} else {
		rc = get_node(r, path, XS_P_WRITE | XS_P_OWNER, &n);
		if (rc)
			return rc;
		old = n->acl;
	}
	/* Only the privileged may give a node away. */
	if (!r->c->priv && perms[0].domid != old->p[0].domid)
		return -EPERM;
	acl = xs_acl_new(perms, count - 1);
	if (!acl)
		return -ENOMEM;
	if (sp) {
		xs_acl_put(sp->acl);
		sp->acl = acl;
		ack(r);
		return 0;
	}
	rc = note(r, path, n, true, XS_EV_SUBTREE);
	if (rc) {
		xs_acl_put(acl);
		return rc;
	}
	/* Keep the old ACL alive for the watch check: watchers losing
	 * access still hear about the change. */
	xs_acl_get(old);
	xs_node_set_acl(r->tree, n, acl);
	xs_acl_put(acl);
	fire(r, path, XS_EV_SUBTREE, old);
	xs_acl_put(old);
	ack(r);
	return 0;
}

static int op_watch(struct req *r)
{
	const char *vec[3];
	char path[PATH_BUF];
	unsigned n, prefix_len;
	int depth = -1, rc;

	n = xs_args_split(r->buf, r->len, vec, 3);
	if (n == 3 && *vec[2]) {
		char *end;
		long d = strtol(vec[2], &end, 10);

		if (*end || d < 0 || d > XS_ABS_PATH_MAX)
			return -EINVAL;
		depth = (int)d;
	} else if (n != 2 && n != 3) {
		return -EINVAL;
	}
	rc = canon(r, vec[0], path, true, &prefix_len);
	if (rc)
		return rc;
	rc = xs_watch_add(r->c, path, vec[1], prefix_len, depth);
	if (rc)
		return rc;
	ack(r);
	/* A new watch fires once straight away (clients rely on it). */
	xs_conn_event(r->c, path + prefix_len, vec[1]);
	return 0;
}

static int op_unwatch(struct req *r)
{
	const char *vec[2];
	char path[PATH_BUF];
	int rc;

	if (xs_args_split(r->buf, r->len, vec, 2) != 2)
		return -EINVAL;
	rc = canon(r, vec[0], path, true, NULL);
	if (rc)
		return rc;
	rc = xs_watch_del(r->c, path, vec[1]);
	if (rc)
		return rc;
	ack(r);
	return 0;
}

static int op_transaction_start(struct req *r)
{
	struct xs_txn *t;
	char id[16];
	int rc;

	/* No nesting: a request already inside a transaction. */
	if (r->txn)
		return -EBUSY;
	rc = xs_txn_start(r->c, &t);
	if (rc)
		return rc;
	snprintf(id, sizeof(id), "%u", (unsigned)t->id);
	reply(r, id, strlen(id) + 1);
	return 0;
}

static int op_transaction_end(struct req *r)
{
	const char *arg = onearg(r);
	int rc;

	if (!arg || (strcmp(arg, "T") && strcmp(arg, "F")))
		return -EINVAL;
	if (!r->txn)
		return -ENOENT;
	rc = xs_txn_end(r->c, r->txn, arg[0] == 'T');
	r->txn = NULL;
	r->tree = &r->st->tree;
	if (rc)
		return rc;
	ack(r);
	return 0;
}

static int domid_arg(const char *s, uint32_t *domid)
{
	if (!s)
		return -EINVAL;
	return xs_domid_parse(s, domid);
}

static int op_introduce(struct req *r)
{
	const char *vec[3];
	struct xs_store *st = r->st;
	uint32_t domid, *doms;
	char *end;
	long port;
	int rc;

	if (xs_args_split(r->buf, r->len, vec, 3) < 3)
		return -EINVAL;
	rc = xs_domid_parse(vec[0], &domid);
	if (rc)
		return rc;
	port = strtol(vec[2], &end, 10);
	if (domid == 0 || domid >= XS_DOMID_SELF || *end || port <= 0)
		return -EINVAL;
	if (xs_store_has_domain(st, domid)) {
		/* xenstored re-binds the event channel; nothing to do. */
		ack(r);
		return 0;
	}
	if (st->n_domains >= XS_STORE_DOMAINS_MAX)
		return -ENOSPC;
	doms = realloc(st->domains, (st->n_domains + 1) * sizeof(*doms));
	if (!doms)
		return -ENOMEM;
	st->domains = doms;
	if (st->hooks && st->hooks->domain_add) {
		rc = st->hooks->domain_add(st->hooks_arg, domid);
		if (rc)
			return rc;
	}
	st->domains[st->n_domains++] = domid;
	log_info("xenstored: domain %u introduced", (unsigned)domid);
	xs_watch_fire_special(st, "@introduceDomain", domid);
	ack(r);
	return 0;
}

static int lookup_domain(struct req *r, uint32_t *domid)
{
	int rc = domid_arg(onearg(r), domid);

	if (rc)
		return rc;
	if (*domid == 0 || *domid == XS_DOMID_SELF)
		return -EINVAL;
	return xs_store_has_domain(r->st, *domid) ? 0 : -ENOENT;
}

static int op_release(struct req *r)
{
	struct xs_store *st = r->st;
	struct xs_conn *c;
	uint32_t domid;
	unsigned i;
	int rc;

	rc = lookup_domain(r, &domid);
	if (rc)
		return rc;
	for (i = 0; i < st->n_domains; i++) {
		if (st->domains[i] == domid) {
			st->domains[i] = st->domains[--st->n_domains];
			break;
		}
	}
	/* The domain's connections go away without firing anything. */
	for (c = st->conns; c; c = c->next) {
		if (c->domid == domid && !c->priv) {
			xs_watch_clear(c);
			xs_txn_clear(c);
			c->dead = true;
		}
	}
	if (st->hooks && st->hooks->domain_del)
		st->hooks->domain_del(st->hooks_arg, domid);
	log_info("xenstored: domain %u released", (unsigned)domid);
	xs_watch_fire_special(st, "@releaseDomain", domid);
	ack(r);
	return 0;
}

static int op_resume(struct req *r)
{
	uint32_t domid;
	int rc = lookup_domain(r, &domid);

	if (rc)
		return rc;
	ack(r);
	return 0;
}

static int op_get_domain_path(struct req *r)
{
	char out[32];
	uint32_t domid;
	int rc = domid_arg(onearg(r), &domid);

	if (rc)
		return rc;
	snprintf(out, sizeof(out), "/local/domain/%u", (unsigned)domid);
	reply(r, out, strlen(out) + 1);
	return 0;
}

static int op_is_domain_introduced(struct req *r)
{
	uint32_t domid;
	int rc = domid_arg(onearg(r), &domid);
	bool yes;

	if (rc)
		return rc;
	yes = domid == 0 || domid == XS_DOMID_SELF ||
	      xs_store_has_domain(r->st, domid);
	reply(r, yes ? "T" : "F", 2);
	return 0;
}

static int op_reset_watches(struct req *r)
{
	xs_watch_clear(r->c);
	xs_txn_clear(r->c);
	r->txn = NULL;
	ack(r);
	return 0;
}

#define OP_NOTID	1u	/* tx_id ignored */
#define OP_PRIV		2u	/* dom0 only */

static const struct {
	int (*fn)(struct req *r);
	unsigned flags;
} ops[XS_MSG_TYPE_COUNT] = {
	[XS_MSG_DIRECTORY] = { op_directory, 0 },
	[XS_MSG_READ] = { op_read, 0 },
	[XS_MSG_GET_PERMS] = { op_get_perms, 0 },
	[XS_MSG_WATCH] = { op_watch, OP_NOTID },
	[XS_MSG_UNWATCH] = { op_unwatch, OP_NOTID },
	[XS_MSG_TRANSACTION_START] = { op_transaction_start, 0 },
	[XS_MSG_TRANSACTION_END] = { op_transaction_end, 0 },
	[XS_MSG_INTRODUCE] = { op_introduce, OP_PRIV },
	[XS_MSG_RELEASE] = { op_release, OP_PRIV },
	[XS_MSG_GET_DOMAIN_PATH] = { op_get_domain_path, 0 },
	[XS_MSG_WRITE] = { op_write, 0 },
	[XS_MSG_MKDIR] = { op_mkdir, 0 },
	[XS_MSG_RM] = { op_rm, 0 },
	[XS_MSG_SET_PERMS] = { op_set_perms, 0 },
	[XS_MSG_IS_DOMAIN_INTRODUCED] = { op_is_domain_introduced, OP_PRIV },
	[XS_MSG_RESUME] = { op_resume, OP_PRIV },
	[XS_MSG_RESET_WATCHES] = { op_reset_watches, 0 },
	[XS_MSG_DIRECTORY_PART] = { op_directory_part, 0 },
};

void xs_ops_handle(struct xs_conn *c, const struct xs_msg_hdr *h,
		   char *payload, unsigned len)
{
	struct req r = {
		.c = c, .st = c->st, .h = h, .buf = payload, .len = len,
		.tree = &c->st->tree,
	};
	int rc;

	log_debug("xenstored: conn %u dom%u: %s req %u tx %u len %u '%.64s'",
		  c->id, c->domid, xs_msg_type_name(h->type), h->req_id,
		  h->tx_id, h->len, payload);
	/* Unknown or reply-only types: ENOSYS, as docs/misc/xenstore.txt
	 * specifies for anything the daemon does not implement. */
	if (h->type >= XS_MSG_TYPE_COUNT || !ops[h->type].fn) {
		xs_conn_error(c, h, ENOSYS);
		return;
	}
	if ((ops[h->type].flags & OP_PRIV) && !c->priv) {
		xs_conn_error(c, h, EACCES);
		return;
	}
	if (!(ops[h->type].flags & OP_NOTID) && h->tx_id) {
		r.txn = xs_txn_find(c, h->tx_id);
		if (!r.txn) {
			xs_conn_error(c, h, ENOENT);
			return;
		}
		r.tree = &r.txn->tree;
	}
	rc = ops[h->type].fn(&r);
	if (rc)
		xs_conn_error(c, h, -rc);
}
