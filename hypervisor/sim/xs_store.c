/* xs_store: store lifetime, connections, request framing and reply
 * queueing. Requests themselves are handled in xs_ops.c. */
#include "hypervisor/sim/xs_store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"

static int mkdir_dom0(struct xs_store *st, const char *path)
{
	bool missing;
	struct xs_node *n = xs_tree_nearest(&st->tree, path, &missing);
	const char *p;

	if (!missing)
		return 0;
	/* Initial nodes are created top-down, each right below an existing
	 * one: add only the last component. */
	p = strrchr(path, '/') + 1;
	return xs_node_add_child(&st->tree, n, p, strlen(p), &n);
}

int xs_store_init(struct xs_store *st)
{
	static const char *const initial[] = {
		"/local", "/local/domain", "/local/domain/0", "/tool",
	};
	static const struct xs_perm dom0_only = { 0, XS_P_NONE };
	unsigned i;
	int rc;

	memset(st, 0, sizeof(*st));
	st->next_conn_id = 1;
	rc = xs_tree_init(&st->tree, &st->gen);
	if (rc)
		return rc;
	for (i = 0; i < sizeof(initial) / sizeof(initial[0]); i++) {
		rc = mkdir_dom0(st, initial[i]);
		if (rc)
			goto fail;
	}
	st->special[0].name = "@introduceDomain";
	st->special[1].name = "@releaseDomain";
	for (i = 0; i < 2; i++) {
		st->special[i].acl = xs_acl_new(&dom0_only, 1);
		if (!st->special[i].acl) {
			rc = -ENOMEM;
			goto fail;
		}
	}
	return 0;
fail:
	xs_store_fini(st);
	return rc;
}

void xs_store_fini(struct xs_store *st)
{
	unsigned i;

	while (st->conns)
		xs_conn_free(st->conns);
	for (i = 0; i < 2; i++) {
		xs_acl_put(st->special[i].acl);
		st->special[i].acl = NULL;
	}
	free(st->domains);
	st->domains = NULL;
	st->n_domains = 0;
	xs_tree_fini(&st->tree);
}

void xs_store_set_hooks(struct xs_store *st, const struct xs_store_hooks *h,
			void *arg)
{
	st->hooks = h;
	st->hooks_arg = arg;
}

bool xs_store_has_domain(const struct xs_store *st, uint32_t domid)
{
	unsigned i;

	for (i = 0; i < st->n_domains; i++)
		if (st->domains[i] == domid)
			return true;
	return false;
}

struct xs_special *xs_store_special(struct xs_store *st, const char *name)
{
	unsigned i;

	for (i = 0; i < 2; i++)
		if (!strcmp(st->special[i].name, name))
			return &st->special[i];
	return NULL;
}

struct xs_conn *xs_conn_new(struct xs_store *st, uint32_t domid)
{
	struct xs_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->st = st;
	c->id = st->next_conn_id++;
	c->domid = domid;
	c->priv = domid == 0;
	c->fd = -1;
	c->next_txid = 1;
	c->next = st->conns;
	if (st->conns)
		st->conns->prev = c;
	st->conns = c;
	st->n_conns++;
	return c;
}

static void out_clear(struct xs_conn *c)
{
	struct xs_out *o;

	while ((o = c->out_head)) {
		c->out_head = o->next;
		free(o);
	}
	c->out_tail = NULL;
	c->out_bytes = 0;
}

void xs_conn_free(struct xs_conn *c)
{
	struct xs_store *st = c->st;

	xs_watch_clear(c);
	xs_txn_clear(c);
	out_clear(c);
	if (c->prev)
		c->prev->next = c->next;
	else
		st->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	st->n_conns--;
	free(c);
}

static void out_queue(struct xs_conn *c, const struct xs_msg_hdr *h,
		      const void *a, size_t alen, const void *b, size_t blen)
{
	struct xs_out *o = malloc(sizeof(*o) + XS_HDR_LEN + alen + blen);

	if (!o) {
		/* Losing a reply desynchronises the client: drop it. */
		log_err("xenstored: conn %u: out of memory, closing", c->id);
		c->dead = true;
		return;
	}
	o->next = NULL;
	o->off = 0;
	o->len = XS_HDR_LEN + alen + blen;
	xs_hdr_encode(h, o->data);
	if (alen)
		memcpy(o->data + XS_HDR_LEN, a, alen);
	if (blen)
		memcpy(o->data + XS_HDR_LEN + alen, b, blen);
	if (c->out_tail)
		c->out_tail->next = o;
	else
		c->out_head = o;
	c->out_tail = o;
	c->out_bytes += o->len;
}

void xs_conn_reply(struct xs_conn *c, uint32_t type, uint32_t req_id,
		   uint32_t tx_id, const void *data, size_t len)
{
	struct xs_msg_hdr h = { type, req_id, tx_id, (uint32_t)len };

	if (len > XS_PAYLOAD_MAX) {
		struct xs_msg_hdr req = { type, req_id, tx_id, 0 };

		xs_conn_error(c, &req, E2BIG);
		return;
	}
	out_queue(c, &h, data, len, NULL, 0);
}

void xs_conn_error(struct xs_conn *c, const struct xs_msg_hdr *req, int err)
{
	const char *name = xs_err_name(err);
	struct xs_msg_hdr h = { XS_MSG_ERROR, req->req_id, req->tx_id,
				(uint32_t)strlen(name) + 1 };

	log_debug("xenstored: conn %u dom%u: %s -> %s", c->id, c->domid,
		  xs_msg_type_name(req->type), name);
	out_queue(c, &h, name, strlen(name) + 1, NULL, 0);
}

void xs_conn_event(struct xs_conn *c, const char *path, const char *token)
{
	size_t plen = strlen(path) + 1, tlen = strlen(token) + 1;
	struct xs_msg_hdr h = { XS_MSG_WATCH_EVENT, 0, 0,
				(uint32_t)(plen + tlen) };

	if (c->dead)
		return;
	if (c->out_bytes > XS_OUT_EVENTS_MAX || plen + tlen > XS_PAYLOAD_MAX) {
		if (c->events_dropped++ == 0)
			log_warn("xenstored: conn %u dom%u not reading: dropping watch events",
				 c->id, c->domid);
		return;
	}
	out_queue(c, &h, path, plen, token, tlen);
}

bool xs_conn_out_pending(const struct xs_conn *c)
{
	return c->out_head != NULL;
}

const uint8_t *xs_conn_out_peek(const struct xs_conn *c, size_t *len)
{
	if (!c->out_head) {
		*len = 0;
		return NULL;
	}
	*len = c->out_head->len - c->out_head->off;
	return c->out_head->data + c->out_head->off;
}

void xs_conn_out_consume(struct xs_conn *c, size_t n)
{
	while (n && c->out_head) {
		struct xs_out *o = c->out_head;
		size_t left = o->len - o->off;

		if (n < left) {
			o->off += n;
			c->out_bytes -= n;
			return;
		}
		n -= left;
		c->out_bytes -= left;
		c->out_head = o->next;
		if (!c->out_head)
			c->out_tail = NULL;
		free(o);
	}
}

void xs_conn_feed(struct xs_conn *c, const void *data, size_t len)
{
	const uint8_t *p = data;
	size_t n;

	while (len && !c->dead) {
		if (!c->in_payload) {
			n = XS_HDR_LEN - c->hdr_used;
			if (n > len)
				n = len;
			memcpy(c->in_hdr + c->hdr_used, p, n);
			c->hdr_used += n;
			p += n;
			len -= n;
			if (c->hdr_used < XS_HDR_LEN)
				return;
			c->hdr_used = 0;
			xs_hdr_decode(c->in_hdr, &c->hdr);
			if (c->hdr.len > XS_PAYLOAD_MAX) {
				/* xenstored kills such a connection; we say
				 * why first, since we cannot resync anyway. */
				log_warn("xenstored: conn %u dom%u: payload %u > %u, closing",
					 c->id, c->domid, c->hdr.len,
					 XS_PAYLOAD_MAX);
				xs_conn_error(c, &c->hdr, E2BIG);
				c->dead = true;
				return;
			}
			c->in_payload = true;
			c->buf_used = 0;
		}
		n = c->hdr.len - c->buf_used;
		if (n > len)
			n = len;
		memcpy(c->in_buf + c->buf_used, p, n);
		c->buf_used += n;
		p += n;
		len -= n;
		if (c->buf_used < c->hdr.len)
			return;
		c->in_payload = false;
		c->in_buf[c->hdr.len] = '\0';
		xs_ops_handle(c, &c->hdr, c->in_buf, c->hdr.len);
	}
}
