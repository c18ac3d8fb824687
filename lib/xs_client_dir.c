/* xs_client_dir: a directory listed whatever its size (see xsc_list in
 * xs_client.h). Apart from xs_client.c, and on its public calls only, so
 * a harness that fakes them runs this too. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/fault.h"
#include "lib/log.h"
#include "lib/xs_client.h"

/* A directory changing under every pass of it: given up after this many. */
#define XSC_LIST_TRIES 8
/* Names past this are no directory xenstored keeps (its quotas are far
 * below): a reply that never ends. */
#define XSC_LIST_MAX (16u << 20)

/* The names so far, and the generation they are of. */
struct parts {
	char *names;
	unsigned len, cap;
	char gen[24];
};

static int parts_add(struct parts *p, const char *names, unsigned len)
{
	char *buf;

	if (len > XSC_LIST_MAX - p->len)
		return -EPROTO;
	if (p->len + len + 1 > p->cap) {
		p->cap = (p->len + len + 1) * 2;
		buf = realloc(p->names, p->cap);
		if (!buf)
			return -ENOMEM;
		p->names = buf;
	}
	memcpy(p->names + p->len, names, len);
	p->len += len;
	p->names[p->len] = '\0';
	return 0;
}

/* One DIRECTORY_PART reply, `<generation>\0<names from off>`, the last one
 * ending with an empty name (xenstored's send_directory_part): 1 when it
 * was the last, 0 when more follow, -EAGAIN when the generation is not the
 * first chunk's (the directory changed), -EPROTO when it is none of these. */
static int part_take(struct parts *p, const struct xsc_op *part, bool first)
{
	size_t genlen = strnlen(part->reply, part->len);
	const char *names = part->reply + genlen + 1;
	unsigned nlen;
	bool last;
	int rc;

	if (genlen == part->len || genlen == 0 || genlen >= sizeof(p->gen))
		return -EPROTO;
	if (first)
		memcpy(p->gen, part->reply, genlen + 1);
	else if (strcmp(p->gen, part->reply))
		return -EAGAIN;
	nlen = part->len - (unsigned)genlen - 1;
	/* every name ends with its NUL: so must the chunk */
	if (nlen == 0 || names[nlen - 1] != '\0')
		return -EPROTO;
	last = nlen == 1 || names[nlen - 2] == '\0';
	rc = parts_add(p, names, last ? nlen - 1 : nlen);
	return rc ? rc : last;
}

/* One pass over the directory, a chunk at a time. 0: the pass ended,
 * op->err set (0: p holds the names); -EAGAIN: it changed meanwhile;
 * else xsc_run_tx's failure. */
static int list_pass(struct xsc *c, uint32_t tx, const char *path, struct parts *p,
		     struct xsc_op *op)
{
	bool first = true;
	char off[16];
	int rc, done = 0;

	p->len = 0;
	while (!done) {
		struct xsc_op part = { .type = XS_MSG_DIRECTORY_PART, .path = path, .arg = off };

		snprintf(off, sizeof(off), "%u", p->len);
		rc = xsc_run_tx(c, tx, &part, 1);
		if (rc)
			return rc;
		if (part.err) {
			/* a xenstored without it: the listing too long, as before */
			op->err = part.err == -ENOSYS ? -E2BIG : part.err;
			return 0;
		}
		done = part_take(p, &part, first);
		xsc_ops_free(&part, 1);
		first = false;
		if (done == -EAGAIN)
			return -EAGAIN;
		if (done < 0) {
			log_warn("xenstore: %s: listing in parts: %s", path,
				 done == -EPROTO ? "a reply not understood" : strerror(-done));
			op->err = done;
			return 0;
		}
	}
	op->err = 0;
	return 0;
}

int xsc_list(struct xsc *c, uint32_t tx, const char *path, struct xsc_op *op)
{
	struct parts p = { 0 };
	int rc = 0;

	*op = (struct xsc_op){ .type = XS_MSG_DIRECTORY, .path = path };
	rc = xsc_run_tx(c, tx, op, 1);
	/* tests: a refusal, as xenstored's (NETD_FAULT=xs-list-refused:N) */
	if (rc == 0 && op->err == 0 && FAULT_POINT("xs-list-refused") < 0) {
		xsc_ops_free(op, 1);
		op->len = 0;
		op->err = -EIO;
		return 0;
	}
	/* too long for one reply: in parts, as libxenstore's xs_directory() */
	if (rc || op->err != -E2BIG)
		return rc;
	rc = -EAGAIN;
	for (unsigned t = 0; t < XSC_LIST_TRIES && rc == -EAGAIN; t++)
		rc = list_pass(c, tx, path, &p, op);
	if (rc == -EAGAIN) {
		log_warn("xenstore: %s: changed while listed, %u times", path, XSC_LIST_TRIES);
		op->err = -EAGAIN;
		rc = 0;
	}
	if (rc == 0 && op->err == 0 && !p.names)
		op->err = parts_add(&p, "", 0);
	if (rc == 0 && op->err == 0) {
		op->reply = p.names;
		op->len = p.len;
		return 0;
	}
	free(p.names);
	return rc;
}
