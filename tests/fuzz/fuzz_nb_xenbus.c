/* libFuzzer harness for netback's handshake (netback/xenbus.c, watch.c,
 * hold.c), the state machine vifback and dpswitch both run on what a
 * guest writes in its frontend directory (state, the connect keys, any
 * node under them) and what the toolstack writes in the backend
 * directory (online, frontend, frontend-id, hotplug-status, rate,
 * vifname, bridge), in any order, with the directories removed and made
 * again. xenstore is a fake in this file: a tree with watches that fire
 * as xenstored's do (our own writes too), transactions (a commit fails
 * with EAGAIN when a node the transaction read changed since, or when the
 * input says so), a connection that may break at any request, refusals
 * as xenstored's (EACCES, EIO, ENOMEM, ENOSPC, EQUOTA: of a batch's
 * requests, of a transaction's start or commit, of the requests on one
 * node), and a toolstack that may remove a backend directory between any two requests
 * (inside a transaction too). The consumer (vifback's TAPs, dpswitch's ports) is a
 * fake too, whose probe and connect may fail, and whose rings' server may
 * die. The clock is the input's, so holds end when it says.
 *
 * Besides the sanitizers (and leaks: every vif, reply and event freed) it
 * checks what the handshake promises:
 *   - the backend writes only its vifs' backend directories and their
 *     error nodes, never a frontend's nor a vif the serves hook refused,
 *     and a backend state only 1..6;
 *   - it writes Connected (4) only for a vif whose rings are served and
 *     whose hotplug-status is "connected" (bridged and filtered first);
 *   - it reads or watches a frontend's nodes only under the directory
 *     its backend's frontend key named and checked;
 *   - the consumer's calls come in order: probe once, connect only when
 *     probed and not connected, with a configuration in range,
 *     disconnect only when connected, release or close once per probe,
 *     forget only for a vif not probed, and not another backend's;
 *     what xenbus believes is connected is what the consumer serves;
 *   - no write of the backend makes a node of a vif whose backend
 *     directory the toolstack removed, nor its error node (xenstored
 *     would make the directory again, and nobody would remove it);
 *   - transactions are used as xenstored expects: one open at a time,
 *     requests with the open one's id, every one ended;
 *   - a write that gave up leaves no vif stuck: at the input's end,
 *     xenstore committing again, one look of each vif writes Closed for
 *     one the toolstack tore down (online 0) over what it wrote last, or
 *     over the toolstack's Closing (5) of one it serves and never wrote a
 *     state to (a backend restarted during a teardown);
 *   - a refusal is that vif's alone: the loop goes on (nb_back_run fails
 *     only when the connection is broken), and the backend looks at a
 *     vif refused again by itself: once xenstore stops refusing and the
 *     backoff is over, with no event since, a teardown refused is
 *     answered as check_closed says, a vif probed has its watch on
 *     the frontend's state, no other watch on a frontend is left
 *     (an UNWATCH refused is asked again), and every device's backend
 *     directory is a vif known (a listing refused is taken again),
 *     before the look of every vif;
 *   - that look takes a directory made again since the backend wrote a
 *     state to it (state missing or Initialising) for a new device's,
 *     and probes it: no vif it wrote a state to is left with such a
 *     directory.
 *
 * Input: a byte of settings (max queues, GSO, a serves hook as
 * dpswitch's, commands 12 and 13, commands 12 to 14), then commands, each an opcode byte and its arguments (see
 * run_cmd). Values are picked from a dictionary of what the keys take
 * (so the fuzzer reaches Connected) or given raw.
 *
 * The sources are included, not linked (coverage, see fuzz_vif.c); this
 * file's xsc_* replace lib/xs_client.c's, which is then never linked
 * (lib/xs_client_tx.c, the transactions netback's writes are, and
 * lib/xs_client_dir.c, its listings, run on them). A listing longer than
 * FZ_DIR_MAX is refused E2BIG and taken in DIRECTORY_PART chunks of
 * FZ_PART_MAX, as xenstored's past its 4096 bytes, small here so that a
 * few domains reach them. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The input's clock, for hold.c's nb_now_ms(). */
static uint64_t fz_now_ms = 1000;
static int fz_clock(struct timespec *ts)
{
	ts->tv_sec = (time_t)(fz_now_ms / 1000);
	ts->tv_nsec = (long)(fz_now_ms % 1000) * 1000000;
	return 0;
}
#define clock_gettime(clk, ts) fz_clock(ts)
#include "netback/hold.c"
#undef clock_gettime
#include "netback/fekeys.c"
#include "netback/xenbus.c"
#include "netback/watch.c"
#include "lib/xs_client_tx.c"
#include "lib/xs_client_dir.c"

#include "lib/log.h"
#include "vif/xsvif.h"

#include "tests/fuzz/fuzz_check.h"

/* ---- a xenstore ---- */

#define FZ_NODES 512
#define FZ_WATCHES 64
#define FZ_EVENTS 1024

struct fz_node {
	char *path, *val;
	unsigned len;
	unsigned gen; /* changed at each write (a transaction's conflicts) */
};

#define FZ_TX_OPS 16

/* A write of the open transaction, made at its commit. */
struct fz_txw {
	char *path, *val;
	unsigned len;
};

struct fz_watch {
	char *path, *token;
};

struct xsc {
	struct fz_node nodes[FZ_NODES];
	unsigned nnodes;
	struct fz_watch watches[FZ_WATCHES];
	unsigned nwatches;
	struct xsc_event *ev_head, **ev_tail;
	unsigned nevents;
	unsigned runs_left; /* requests before the connection breaks; 0: never */
	int broken;
	unsigned gen;
	unsigned tree_gen; /* changed at each write or removal: DIRECTORY_PART's generation */
	/* The open transaction (netback opens one at a time): its id, the
	 * nodes it read with their generation then (0: missing), its writes. */
	uint32_t tx, next_tx;
	struct {
		char *path;
		unsigned gen;
	} tx_reads[FZ_TX_OPS];
	unsigned n_tx_reads;
	struct fz_txw tx_writes[FZ_TX_OPS];
	unsigned n_tx_writes;
	/* the commits that fail (EAGAIN), the input's: conflicts of them
	 * after the next conflict_skip */
	unsigned conflict_skip, conflicts;
	/* The toolstack removes slot race_slot's backend directory before
	 * the race_in-th request from now (0: not armed): between any two
	 * requests of the backend, inside a transaction too; and adds the
	 * device again readd_in requests later (0: not). */
	unsigned race_in, race_slot, readd_in;
	/* xenstored refuses (refuse_err, e.g. -EACCES), the input's: the
	 * next refuse_left requests of refuse_kind (FZ_REFUSE_*); a node's
	 * requests: those on refuse_path only. */
	int refuse_err;
	unsigned refuse_kind, refuse_left;
	char refuse_path[NB_PATH_MAX + 32];
	/* requests refused, commits failed (command 12), events dropped:
	 * what the end's checks may take for granted */
	unsigned nrefused;
	bool conflicted, dropped;
};

enum {
	FZ_REFUSE_BATCH, /* every request of a batch */
	FZ_REFUSE_START, /* a transaction's start */
	FZ_REFUSE_NODE,	 /* a request on refuse_path */
	FZ_REFUSE_COMMIT, /* a transaction's commit (nothing made) */
	FZ_REFUSE_KINDS
};

static struct xsc fz_xs;
static struct nb_back fz_b;

/* b is a or under a */
static bool under(const char *a, const char *b)
{
	size_t n = strlen(a);

	return !strncmp(a, b, n) && (b[n] == '\0' || b[n] == '/');
}

static struct fz_node *node_find(const char *path)
{
	for (unsigned i = 0; i < fz_xs.nnodes; i++)
		if (!strcmp(fz_xs.nodes[i].path, path))
			return &fz_xs.nodes[i];
	return NULL;
}

static void event_queue(const char *path, const char *token)
{
	size_t pl = strlen(path) + 1, tl = strlen(token) + 1;
	struct xsc_event *e;
	char *buf;

	if (fz_xs.nevents >= FZ_EVENTS) {
		fz_xs.dropped = true;
		return; /* xenstored drops a connection's events past a quota too */
	}
	e = malloc(sizeof(*e) + pl + tl);
	CHECK(e);
	buf = (char *)(e + 1);
	memcpy(buf, path, pl);
	memcpy(buf + pl, token, tl);
	e->path = buf;
	e->token = buf + pl;
	e->next = NULL;
	*fz_xs.ev_tail = e;
	fz_xs.ev_tail = &e->next;
	fz_xs.nevents++;
}

/* xenstored's fire_watches: a change at path fires the watches on it and
 * its ancestors; a removal also those on its descendants, with their path. */
static void fire(const char *path, bool removed)
{
	for (unsigned i = 0; i < fz_xs.nwatches; i++) {
		const struct fz_watch *w = &fz_xs.watches[i];

		if (under(w->path, path))
			event_queue(path, w->token);
		else if (removed && under(path, w->path))
			event_queue(w->path, w->token);
	}
}

static int node_put(const char *path, const char *val, unsigned len)
{
	struct fz_node *n = node_find(path);

	if (!n) {
		if (fz_xs.nnodes == FZ_NODES)
			return -ENOSPC;
		n = &fz_xs.nodes[fz_xs.nnodes++];
		n->path = strdup(path);
		n->val = NULL;
		CHECK(n->path);
	}
	free(n->val);
	n->gen = ++fz_xs.gen;
	fz_xs.tree_gen++;
	n->val = malloc(len + 1);
	CHECK(n->val);
	memcpy(n->val, val, len);
	n->val[len] = '\0';
	n->len = len;
	return 0;
}

/* A write makes the missing ancestors, empty, as xenstored does. */
static int store_write(const char *path, const char *val, unsigned len)
{
	char anc[XS_PAYLOAD_MAX + 1];
	int rc;

	if (path[0] != '/' || strlen(path) > XS_PAYLOAD_MAX || len > XS_PAYLOAD_MAX)
		return -EINVAL;
	snprintf(anc, sizeof(anc), "%s", path);
	for (char *s = strchr(anc + 1, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		if (!node_find(anc) && (rc = node_put(anc, "", 0)) < 0)
			return rc;
		*s = '/';
	}
	rc = node_put(path, val, len);
	if (rc == 0)
		fire(path, false);
	return rc;
}

static int store_rm(const char *path)
{
	unsigned j = 0;
	bool found = false;

	for (unsigned i = 0; i < fz_xs.nnodes; i++) {
		if (under(path, fz_xs.nodes[i].path)) {
			found = true;
			free(fz_xs.nodes[i].path);
			free(fz_xs.nodes[i].val);
		} else {
			fz_xs.nodes[j++] = fz_xs.nodes[i];
		}
	}
	fz_xs.nnodes = j;
	if (!found)
		return -ENOENT;
	fz_xs.tree_gen++;
	fire(path, true);
	return 0;
}

/* The names right under path, each NUL-terminated; NULL: no such node. */
static char *store_dir(const char *path, unsigned *len)
{
	size_t pl = strlen(path), cap = 1, off = 0;
	char *out;

	if (!node_find(path))
		return NULL;
	for (unsigned i = 0; i < fz_xs.nnodes; i++)
		cap += strlen(fz_xs.nodes[i].path) + 1;
	out = malloc(cap);
	CHECK(out);
	for (unsigned i = 0; i < fz_xs.nnodes; i++) {
		const char *p = fz_xs.nodes[i].path;

		if (strncmp(p, path, pl) || p[pl] != '/' || strchr(p + pl + 1, '/'))
			continue;
		memcpy(out + off, p + pl + 1, strlen(p + pl + 1) + 1);
		off += strlen(p + pl + 1) + 1;
	}
	out[off] = '\0';
	*len = (unsigned)off;
	return out;
}

/* Two domains' directories under the backend root ("5\09\0"), or two
 * devices', are too long; a chunk holds a name or two. */
#define FZ_DIR_MAX 3
#define FZ_PART_MAX 6

/* DIRECTORY_PART: `<generation>\0` and the names from byte offset off
 * that fit in FZ_PART_MAX, the last chunk ending with an empty name, as
 * xenstored's send_directory_part() (a name longer than a chunk, which
 * xenstored's 4096 bytes never meet, whole in a chunk of its own); NULL:
 * no such node. */
static char *store_dir_part(const char *path, const char *offstr, unsigned *len)
{
	unsigned total, off = (unsigned)strtoul(offstr, NULL, 10), n = 0;
	char gen[24], *kids = store_dir(path, &total), *out;
	unsigned genlen = (unsigned)snprintf(gen, sizeof(gen), "%u", fz_xs.tree_gen) + 1;

	if (!kids)
		return NULL;
	out = malloc(genlen + total + 2);
	CHECK(out);
	memcpy(out, gen, genlen);
	if (off >= total) {
		out[genlen] = '\0';
		*len = genlen + 1;
		free(kids);
		return out;
	}
	while (off + n < total &&
	       (n == 0 || genlen + n + strlen(kids + off + n) + 2 <= FZ_PART_MAX))
		n += (unsigned)strlen(kids + off + n) + 1;
	memcpy(out + genlen, kids + off, n);
	*len = genlen + n;
	if (off + n == total)
		out[(*len)++] = '\0';
	free(kids);
	return out;
}

/* ---- the promises on what the backend reads and writes ---- */

/* A path in a frontend's directory is read only for a vif whose frontend
 * key was checked, and only under that directory. */
static void check_read(const char *path)
{
	char want[NB_PATH_MAX];
	uint32_t d, n;
	struct nb_vif *v;

	if (under(XSVIF_ROOT, path))
		return;
	CHECK(sscanf(path, "/local/domain/%u/device/vif/%u", &d, &n) == 2);
	snprintf(want, sizeof(want), "/local/domain/%u/device/vif/%u", d, n);
	v = nb_vif_get(&fz_b, d, n, false);
	CHECK(under(want, path) && v && !strcmp(v->fe, want));
}

static void check_write(const char *path, const char *val, unsigned len)
{
	char be[NB_PATH_MAX + 24];
	uint32_t d = 0, n = 0;
	struct nb_vif *v;
	int end = 0;

	if (sscanf(path, "/local/domain/0/error/backend/vif/%u/%u/error%n", &d, &n, &end) == 2 &&
	    (size_t)end == strlen(path)) {
		CHECK(nb_vif_get(&fz_b, d, n, false));
		return;
	}
	CHECK(xsvif_path_depth(path, &d, &n) == 2);
	v = nb_vif_get(&fz_b, d, n, false);
	CHECK(v && !v->ignored); /* never another backend's (serves) */
	snprintf(be, sizeof(be), "%s/state", v->be);
	if (strcmp(path, be))
		return;
	CHECK(len == 1 && val[0] >= '1' && val[0] <= '6');
	if (val[0] == '4') {
		const struct fz_node *hp;

		snprintf(be, sizeof(be), "%s/hotplug-status", v->be);
		hp = node_find(be);
		CHECK(v->connected);
		CHECK(hp && !strcmp(hp->val, "connected"));
	}
}

/* The promise this fake was extended for: no write of the backend makes a
 * node of a vif whose backend directory the toolstack removed (xenstored
 * would create the missing parents: the directory again, which nobody
 * removes), nor that vif's error node. Checked as the write is made
 * (a transaction's at its commit), after check_write's checks. */
static void check_dir_alive(const char *path)
{
	char be[NB_PATH_MAX];
	uint32_t d = 0, n = 0;

	if (sscanf(path, "/local/domain/0/error/backend/vif/%u/%u/", &d, &n) != 2)
		CHECK(xsvif_path_depth(path, &d, &n) == 2);
	snprintf(be, sizeof(be), "%s/%u/%u", XSVIF_ROOT, d, n);
	CHECK(node_find(be));
}

/* ---- lib/xs_client.h over it ---- */

int xsc_open(struct xsc **out, unsigned timeout_ms)
{
	(void)timeout_ms;
	*out = &fz_xs;
	return 0;
}

void xsc_close(struct xsc *c)
{
	(void)c;
}

int xsc_fd(const struct xsc *c)
{
	(void)c;
	return -1;
}

/* nothing waits here: no hook to call */
void xsc_wait_hook(struct xsc *c, xsc_wait_fn *fn, void *arg)
{
	(void)c;
	(void)fn;
	(void)arg;
}

bool xsc_events_queued(const struct xsc *c)
{
	return c->ev_head != NULL;
}

void xsc_hangup(struct xsc *c)
{
	if (!c->broken)
		c->broken = -ENOTCONN;
}

int xsc_broken(const struct xsc *c)
{
	return c->broken;
}

void xsc_ops_free(struct xsc_op *ops, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		free(ops[i].reply);
		ops[i].reply = NULL;
	}
}

static int watch_add(struct xsc *c, const char *path, const char *token)
{
	for (unsigned i = 0; i < c->nwatches; i++)
		if (!strcmp(c->watches[i].path, path) && !strcmp(c->watches[i].token, token))
			return -EEXIST;
	if (c->nwatches == FZ_WATCHES)
		return -E2BIG;
	c->watches[c->nwatches].path = strdup(path);
	c->watches[c->nwatches].token = strdup(token);
	CHECK(c->watches[c->nwatches].path && c->watches[c->nwatches].token);
	c->nwatches++;
	event_queue(path, token); /* a watch fires when it is set */
	return 0;
}

static int watch_del(struct xsc *c, const char *path, const char *token)
{
	for (unsigned i = 0; i < c->nwatches; i++)
		if (!strcmp(c->watches[i].path, path) && !strcmp(c->watches[i].token, token)) {
			free(c->watches[i].path);
			free(c->watches[i].token);
			c->watches[i] = c->watches[--c->nwatches];
			return 0;
		}
	return -ENOENT;
}

static void tx_clear(struct xsc *c)
{
	for (unsigned i = 0; i < c->n_tx_reads; i++)
		free(c->tx_reads[i].path);
	for (unsigned i = 0; i < c->n_tx_writes; i++) {
		free(c->tx_writes[i].path);
		free(c->tx_writes[i].val);
	}
	c->n_tx_reads = c->n_tx_writes = 0;
	c->tx = 0;
}

/* A read in the transaction: its own writes first; the node noted. */
static const char *tx_read(struct xsc *c, const char *path, unsigned *len)
{
	const struct fz_node *n = node_find(path);

	for (unsigned i = c->n_tx_writes; i-- > 0;)
		if (!strcmp(c->tx_writes[i].path, path)) {
			*len = c->tx_writes[i].len;
			return c->tx_writes[i].val;
		}
	CHECK(c->n_tx_reads < FZ_TX_OPS);
	c->tx_reads[c->n_tx_reads].path = strdup(path);
	CHECK(c->tx_reads[c->n_tx_reads].path);
	c->tx_reads[c->n_tx_reads++].gen = n ? n->gen : 0;
	if (!n)
		return NULL;
	*len = n->len;
	return n->val;
}

static void fz_state_noted(const char *path);

static void write_now(struct xsc_op *op, const char *path, const char *val, unsigned len)
{
	check_write(path, val, len);
	check_dir_alive(path);
	op->err = store_write(path, val, len);
	if (op->err == 0)
		fz_state_noted(path);
}

static void run_op(struct xsc *c, uint32_t tx, struct xsc_op *op)
{
	const struct fz_node *n;
	const char *val;
	struct fz_txw *w;
	unsigned len = 0;

	switch (op->type) {
	case XS_MSG_READ:
		check_read(op->path);
		if (tx) {
			val = tx_read(c, op->path, &len);
		} else {
			n = node_find(op->path);
			val = n ? n->val : NULL;
			len = n ? n->len : 0;
		}
		if (!val) {
			op->err = -ENOENT;
			return;
		}
		op->reply = malloc(len + 1);
		CHECK(op->reply);
		memcpy(op->reply, val, len);
		op->reply[len] = '\0';
		op->len = len;
		return;
	case XS_MSG_DIRECTORY:
		CHECK(!tx); /* xenbus lists nothing in a transaction */
		check_read(op->path);
		op->reply = store_dir(op->path, &op->len);
		if (!op->reply) {
			op->err = -ENOENT;
		} else if (op->len > FZ_DIR_MAX) {
			free(op->reply);
			op->reply = NULL;
			op->len = 0;
			op->err = -E2BIG;
		}
		return;
	case XS_MSG_DIRECTORY_PART:
		CHECK(!tx);
		check_read(op->path);
		CHECK(op->arg);
		op->reply = store_dir_part(op->path, op->arg, &op->len);
		if (!op->reply)
			op->err = -ENOENT;
		return;
	case XS_MSG_WRITE:
		/* a transaction's writes are checked as its commit makes them */
		if (!tx) {
			write_now(op, op->path, op->arg, op->vlen);
		} else {
			CHECK(c->n_tx_writes < FZ_TX_OPS);
			w = &c->tx_writes[c->n_tx_writes++];
			w->path = strdup(op->path);
			w->val = malloc(op->vlen + 1);
			CHECK(w->path && w->val);
			memcpy(w->val, op->arg, op->vlen);
			w->len = op->vlen;
		}
		if (op->err == 0)
			op->reply = strdup("OK");
		return;
	case XS_MSG_RM:
		CHECK(!tx);
		check_write(op->path, "", 0);
		op->err = store_rm(op->path);
		return;
	case XS_MSG_WATCH:
		CHECK(!tx);
		check_read(op->path);
		op->err = watch_add(c, op->path, op->arg);
		return;
	case XS_MSG_UNWATCH:
		CHECK(!tx);
		op->err = watch_del(c, op->path, op->arg);
		return;
	default:
		CHECK(!"a request xenbus never sends");
	}
}

static void be_dir(unsigned s, char *buf, size_t cap);
static void good_backend(unsigned s);

/* Does xenstored refuse this request (of that kind)? One of refuse_left. */
static bool refused(struct xsc *c, unsigned kind)
{
	if (!c->refuse_left || c->refuse_kind != kind)
		return false;
	c->refuse_left--;
	c->nrefused++;
	return true;
}

/* xenstored's ERROR reply to one request: nothing done, but what the
 * backend asked is held to the same promises as if it were done. */
static void refuse_op(struct xsc *c, uint32_t tx, struct xsc_op *op)
{
	switch (op->type) {
	case XS_MSG_READ:
		check_read(op->path);
		break;
	case XS_MSG_WRITE:
		if (!tx)
			check_write(op->path, op->arg, op->vlen);
		break;
	case XS_MSG_RM:
		CHECK(!tx);
		check_write(op->path, "", 0);
		break;
	case XS_MSG_DIRECTORY:
	case XS_MSG_DIRECTORY_PART:
	case XS_MSG_WATCH:
		CHECK(!tx);
		check_read(op->path);
		break;
	case XS_MSG_UNWATCH:
		CHECK(!tx);
		break;
	default:
		CHECK(!"a request xenbus never sends");
	}
	op->err = c->refuse_err;
}

/* One request (a batch, a transaction's start or end) goes out: the
 * connection may break here, or the toolstack remove a directory first. */
static int request(struct xsc *c)
{
	char be[NB_PATH_MAX];

	if (c->broken)
		return err_set(c->broken, "xenstore: connection unusable after an earlier error");
	if (c->runs_left && !--c->runs_left) {
		c->broken = -ETIMEDOUT;
		return err_set(-ETIMEDOUT, "xenstore: no reply");
	}
	if (c->race_in && !--c->race_in) {
		be_dir(c->race_slot, be, sizeof(be));
		store_rm(be);
	} else if (!c->race_in && c->readd_in && !--c->readd_in) {
		good_backend(c->race_slot);
	}
	return 0;
}

int xsc_run_tx(struct xsc *c, uint32_t tx, struct xsc_op *ops, unsigned n)
{
	bool refuse_batch;
	int rc = request(c);

	if (rc)
		return rc;
	/* a transaction's requests carry the id of the open one */
	CHECK(tx == 0 || tx == c->tx);
	for (unsigned i = 0; i < n; i++) {
		ops[i].err = 0;
		ops[i].reply = NULL;
		ops[i].len = 0;
	}
	refuse_batch = refused(c, FZ_REFUSE_BATCH);
	for (unsigned i = 0; i < n; i++)
		if (refuse_batch || (!strcmp(ops[i].path, c->refuse_path) &&
				     refused(c, FZ_REFUSE_NODE)))
			refuse_op(c, tx, &ops[i]);
		else
			run_op(c, tx, &ops[i]);
	return 0;
}

int xsc_run(struct xsc *c, struct xsc_op *ops, unsigned n)
{
	return xsc_run_tx(c, 0, ops, n);
}

int xsc_tx_start(struct xsc *c, uint32_t *tx)
{
	int rc = request(c);

	if (rc)
		return rc;
	CHECK(!c->tx); /* one at a time, every one ended */
	if (refused(c, FZ_REFUSE_START))
		return err_set(c->refuse_err, "xenstore: transaction start refused");
	c->tx = ++c->next_tx ?: ++c->next_tx;
	*tx = c->tx;
	return 0;
}

/* xenstored's commit: EAGAIN when a node the transaction read changed
 * since (or when the input says so: a xenstored may fail a commit for
 * less), else its writes, in order, with their watch events. */
static int tx_commit(struct xsc *c)
{
	const struct fz_node *n;

	if (c->conflict_skip)
		c->conflict_skip--;
	else if (c->conflicts) {
		c->conflicts--;
		return -EAGAIN;
	}
	/* xenstored's quota, checked before a commit applies anything */
	if (fz_xs.nnodes + 8 * c->n_tx_writes > FZ_NODES)
		return -ENOSPC;
	for (unsigned i = 0; i < c->n_tx_reads; i++) {
		n = node_find(c->tx_reads[i].path);
		if ((n ? n->gen : 0) != c->tx_reads[i].gen)
			return -EAGAIN;
	}
	for (unsigned i = 0; i < c->n_tx_writes; i++) {
		struct xsc_op op = { 0 };
		const struct fz_txw *w = &c->tx_writes[i];

		write_now(&op, w->path, w->val, w->len);
		CHECK(op.err == 0);
	}
	return 0;
}

int xsc_tx_end(struct xsc *c, uint32_t tx, bool commit)
{
	int rc = request(c);

	if (rc)
		return rc;
	CHECK(tx && tx == c->tx);
	/* a commit refused (xenstored's quota of nodes): the transaction
	 * gone, nothing of it made */
	if (commit && refused(c, FZ_REFUSE_COMMIT))
		rc = c->refuse_err;
	else
		rc = commit ? tx_commit(c) : 0;
	tx_clear(c);
	return rc ? err_set(rc, "xenstore: transaction %u: %s", tx, strerror(-rc)) : 0;
}

struct xsc_event *xsc_event_next(struct xsc *c, int *err)
{
	struct xsc_event *e = c->ev_head;

	*err = c->broken;
	if (c->broken || !e)
		return NULL;
	c->ev_head = e->next;
	if (!c->ev_head)
		c->ev_tail = &c->ev_head;
	c->nevents--;
	return e;
}

/* ---- a consumer ---- */

#define FZ_PORTS 64

static struct {
	struct nb_vif *v;
	bool live, connected;
} fz_ports[FZ_PORTS];
static unsigned fz_nports;
static int fz_probe_fail, fz_connect_fail;

static bool fz_serves(struct nb_back *b, const struct nb_vif *v, const char *bridge)
{
	(void)b;
	(void)v;
	return bridge && !strcmp(bridge, "xenbr0");
}

static int fz_probe(struct nb_back *b, struct nb_vif *v, const char *vifname, const char *bridge)
{
	(void)b;
	CHECK(!v->probed && v->port < 0 && !v->connected);
	CHECK(v->fe[0]);
	CHECK(!vifname || vif_ifname_is_valid(vifname));
	if (fz_probe_fail) {
		fz_probe_fail = 0;
		return err_set(-EIO, "no port");
	}
	if (fz_nports == FZ_PORTS)
		return err_set(-ENOSPC, "no port");
	fz_ports[fz_nports].v = v;
	fz_ports[fz_nports].live = true;
	fz_ports[fz_nports].connected = false;
	v->port = (int)fz_nports++;
	return 0;
}

static int fz_connect(struct nb_back *b, struct nb_vif *v)
{
	int rc = fz_connect_fail;

	CHECK(v->probed && v->port >= 0 && fz_ports[v->port].live && fz_ports[v->port].v == v);
	CHECK(!fz_ports[v->port].connected && !v->connected);
	CHECK(v->cfg.nqueues >= 1 && v->cfg.nqueues <= b->max_queues);
	for (unsigned i = 0; i < v->cfg.nqueues; i++)
		CHECK(v->cfg.q[i].evtchn_tx && v->cfg.q[i].evtchn_rx);
	fz_connect_fail = 0;
	if (rc < 0)
		return err_set(rc, "rings not served");
	fz_ports[v->port].connected = true;
	return 0;
}

static void fz_disconnect(struct nb_back *b, struct nb_vif *v)
{
	(void)b;
	CHECK(v->port >= 0 && fz_ports[v->port].live && fz_ports[v->port].connected);
	fz_ports[v->port].connected = false;
}

static void fz_release(struct nb_back *b, struct nb_vif *v)
{
	(void)b;
	CHECK(v->port >= 0 && fz_ports[v->port].live && fz_ports[v->port].v == v);
	CHECK(!fz_ports[v->port].connected);
	fz_ports[v->port].live = false;
}

static void fz_rate(struct nb_back *b, struct nb_vif *v)
{
	(void)b;
	CHECK(v->port >= 0 && fz_ports[v->port].connected);
}

static void fz_close(struct nb_back *b, struct nb_vif *v)
{
	(void)b;
	CHECK(v->port >= 0 && fz_ports[v->port].live && fz_ports[v->port].v == v);
	fz_ports[v->port].live = fz_ports[v->port].connected = false;
}

/* What an earlier run left for a vif this one never probed. */
static void fz_forget(struct nb_back *b, struct nb_vif *v, const char *vifname)
{
	(void)b;
	CHECK(!v->probed && v->port < 0 && !v->connected);
	CHECK(!v->ignored); /* never another backend's */
	CHECK(!vifname || vif_ifname_is_valid(vifname));
}

static struct nb_ops fz_ops = {
	.probe = fz_probe,
	.connect = fz_connect,
	.disconnect = fz_disconnect,
	.release = fz_release,
	.rate = fz_rate,
	.close = fz_close,
	.forget = fz_forget,
};

/* What xenbus believes of each vif is what the consumer has. */
static void check_vif(struct nb_back *b, struct nb_vif *v, void *arg)
{
	(void)b;
	(void)arg;
	CHECK(v->state >= XB_UNKNOWN && v->state <= XB_CLOSED);
	if (v->probed)
		CHECK(v->port >= 0 && fz_ports[v->port].live && fz_ports[v->port].v == v);
	if (v->connected)
		CHECK(v->probed && fz_ports[v->port].connected);
	else if (v->port >= 0)
		CHECK(!fz_ports[v->port].connected);
}

/* ---- the input ---- */

struct in {
	const uint8_t *p;
	size_t n;
};

static unsigned byte(struct in *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

static const struct {
	uint32_t domid, devid;
} slots[] = { { 5, 0 }, { 5, 1 }, { 9, 2 } };
#define NSLOTS (sizeof(slots) / sizeof(slots[0]))

/* The generation of the backend state node as the backend last wrote
 * it, per slot (0: none since the input began): a node written since by
 * anyone else, or made again, has another. */
static unsigned fz_state_gen[NSLOTS];

static void fz_state_noted(const char *path)
{
	char want[NB_PATH_MAX + 8];

	for (unsigned s = 0; s < NSLOTS; s++) {
		be_dir(s, want, sizeof(want));
		strcat(want, "/state");
		if (!strcmp(path, want))
			fz_state_gen[s] = node_find(path)->gen;
	}
}

/* A vif of slot s the backend knows and serves (its bridge key, as
 * fz_serves reads it), to whose state it never wrote: a backend started
 * after the toolstack tore it down. */
static bool fz_closing_unprobed(unsigned s, const char *dir, const struct fz_node *state)
{
	char p[NB_PATH_MAX + 16];
	const struct fz_node *bridge;

	if (fz_state_gen[s] || strcmp(state->val, "5") ||
	    !nb_vif_get(&fz_b, slots[s].domid, slots[s].devid, false))
		return false;
	snprintf(p, sizeof(p), "%s/bridge", dir);
	bridge = node_find(p);
	return !fz_ops.serves || (bridge && fz_serves(&fz_b, NULL, bridge->val));
}

/* The promise of a write that gave up (commits failing, a conflict every
 * time): the vif is not left stuck. Once xenstore commits again, a look
 * of a vif the toolstack tore down (online 0) writes Closed, which libxl
 * waits for, over the state the backend wrote last (one someone else
 * wrote since is not the backend's to judge); and over the toolstack's
 * Closing of a vif of ours the backend never wrote a state to (it was
 * restarted while the toolstack removed the device). */
static void check_closed(void)
{
	char dir[NB_PATH_MAX], p[NB_PATH_MAX + 16];
	const struct fz_node *online, *state;

	for (unsigned s = 0; s < NSLOTS; s++) {
		be_dir(s, dir, sizeof(dir));
		snprintf(p, sizeof(p), "%s/online", dir);
		online = node_find(p);
		snprintf(p, sizeof(p), "%s/state", dir);
		state = node_find(p);
		if (!online || strcmp(online->val, "0") || !state ||
		    (state->gen != fz_state_gen[s] && !fz_closing_unprobed(s, dir, state)))
			continue;
		CHECK(!strcmp(state->val, "6"));
	}
}

/* The promise of a look (the last one, every vif looked at once): a vif
 * the backend wrote a state to has a directory whose state is not missing
 * nor Initialising (1), which the toolstack writes for a device it makes
 * and the backend never does. Such a directory is a new device's (removed
 * and added again between two looks, no online 0 first), to be probed
 * (InitWait) as any: taken for the old vif, it was left so, and libxl
 * waited for InitWait in vain. A vif torn down (gone) waits for its
 * directory to go. */
static void check_same_device(struct nb_back *b, struct nb_vif *v, void *arg)
{
	char p[NB_PATH_MAX + 8];
	const struct fz_node *state;

	(void)b;
	(void)arg;
	if (v->gone || v->state == XB_UNKNOWN || !node_find(v->be))
		return;
	snprintf(p, sizeof(p), "%s/state", v->be);
	state = node_find(p);
	CHECK(state && strcmp(state->val, "1"));
}

static const char *const be_keys[] = { "online", "frontend", "frontend-id", "hotplug-status",
				       "rate",	 "vifname",  "bridge",	    "state" };
#define NBE (sizeof(be_keys) / sizeof(be_keys[0]))

/* A value: the dictionary's (what the keys take, for slot s), or raw. */
static unsigned value(struct in *in, unsigned s, char *buf, size_t cap)
{
	static const char *const dict[] = {
		"0", "1", "2", "3", "4", "5", "6", "connected", "", "xenbr0", "vif5.0",
		"62500,50000", "8", "4294967300", "-1", "4 ", "1\n", "error", "17", "1024",
	};
	unsigned k = byte(in), len;

	if (k < sizeof(dict) / sizeof(dict[0])) {
		snprintf(buf, cap, "%s", dict[k]);
		return (unsigned)strlen(buf);
	}
	if (k == 250)
		return (unsigned)snprintf(buf, cap, "/local/domain/%u/device/vif/%u", slots[s].domid,
					  slots[s].devid);
	if (k == 251)
		return (unsigned)snprintf(buf, cap, "%u", slots[s].domid);
	len = byte(in);
	if (len > in->n)
		len = (unsigned)in->n;
	if (len >= cap)
		len = (unsigned)cap - 1;
	memcpy(buf, in->p, len); /* may hold NULs: xenstore values do */
	buf[len] = '\0';
	in->p += len;
	in->n -= len;
	return len;
}

/* A frontend key of slot s: the connect keys, state, a queue's keys. */
static void fe_key(unsigned s, unsigned k, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "/local/domain/%u/device/vif/%u/", slots[s].domid,
			 slots[s].devid);

	k %= NB_FK_COUNT + 1 + 5 * NB_FQ_COUNT;
	if (k < NB_FK_COUNT)
		snprintf(buf + n, cap - n, "%s", nb_fe_key_name(k));
	else if (k == NB_FK_COUNT)
		snprintf(buf + n, cap - n, "state");
	else if ((k -= NB_FK_COUNT + 1) < NB_FQ_COUNT)
		snprintf(buf + n, cap - n, "%s", nb_fq_key_name(k));
	else
		snprintf(buf + n, cap - n, "queue-%u/%s", k / NB_FQ_COUNT - 1,
			 nb_fq_key_name(k % NB_FQ_COUNT));
}

static void be_dir(unsigned s, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s/%u/%u", XSVIF_ROOT, slots[s].domid, slots[s].devid);
}

static void fe_dir(unsigned s, char *buf, size_t cap)
{
	snprintf(buf, cap, "/local/domain/%u/device/vif/%u", slots[s].domid, slots[s].devid);
}

static void put(const char *path, const char *val)
{
	store_write(path, val, (unsigned)strlen(val));
}

/* The toolstack's backend directory, as libxl writes it. */
static void good_backend(unsigned s)
{
	char dir[NB_PATH_MAX], p[NB_PATH_MAX + 32], v[64];

	be_dir(s, dir, sizeof(dir));
	snprintf(p, sizeof(p), "%s/frontend", dir);
	fe_dir(s, v, sizeof(v));
	put(p, v);
	snprintf(p, sizeof(p), "%s/frontend-id", dir);
	snprintf(v, sizeof(v), "%u", slots[s].domid);
	put(p, v);
	snprintf(p, sizeof(p), "%s/bridge", dir);
	put(p, "xenbr0");
	snprintf(p, sizeof(p), "%s/online", dir);
	put(p, "1");
}

/* A netfront's keys, one queue, then Connected. */
static void good_frontend(unsigned s)
{
	static const char *const kv[][2] = {
		{ "tx-ring-ref", "8" },	     { "rx-ring-ref", "9" }, { "event-channel", "3" },
		{ "request-rx-copy", "1" }, { "feature-sg", "1" },  { "state", "4" },
	};
	char dir[NB_PATH_MAX], p[NB_PATH_MAX + 32];

	fe_dir(s, dir, sizeof(dir));
	for (unsigned i = 0; i < sizeof(kv) / sizeof(kv[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, kv[i][0]);
		put(p, kv[i][1]);
	}
}

/* The settings' bit 6: commands 12 and 13 too; bit 7: 12 to 14 (inputs
 * made before them keep their meaning: none has the bit set). */
static unsigned fz_ncmds;

/* Command 14's refusals, as xenstored answers them: EACCES (a driver
 * domain's node it may not read), EIO, ENOMEM, ENOSPC (C xenstored's
 * quotas, a full store), EDQUOT (oxenstored's EQUOTA, as xs_client
 * maps it). */
static const int fz_refusals[] = { -EACCES, -EIO, -ENOMEM, -ENOSPC, -EDQUOT };

/* Command 14's node of slot s: a backend key or the directory, the
 * frontend directory, the error node, or a frontend key. */
static void refuse_node(unsigned s, unsigned k, char *buf, size_t cap)
{
	if (k < NBE) {
		be_dir(s, buf, cap);
		snprintf(buf + strlen(buf), cap - strlen(buf), "/%s", be_keys[k]);
	} else if (k == NBE) {
		be_dir(s, buf, cap);
	} else if (k == NBE + 1) {
		fe_dir(s, buf, cap);
	} else if (k == NBE + 2) {
		snprintf(buf, cap, "/local/domain/0/error/backend/vif/%u/%u/error",
			 slots[s].domid, slots[s].devid);
	} else {
		fe_key(s, k - NBE - 3, buf, cap);
	}
}

/* false: the daemon would stop here (xenstore gone) */
static bool run_cmd(struct in *in)
{
	char path[XS_PAYLOAD_MAX + 1], val[XS_PAYLOAD_MAX + 1];
	unsigned op = byte(in), s = byte(in) % NSLOTS, k, len;
	struct nb_vif *v;
	int rc;

	switch (op % fz_ncmds) {
	case 0: /* the toolstack writes a backend key */
		be_dir(s, path, sizeof(path));
		k = byte(in) % NBE;
		len = (unsigned)strlen(path);
		snprintf(path + len, sizeof(path) - len, "/%s", be_keys[k]);
		len = value(in, s, val, sizeof(val));
		store_write(path, val, len);
		return true;
	case 1: /* the guest writes a frontend key */
		fe_key(s, byte(in), path, sizeof(path));
		len = value(in, s, val, sizeof(val));
		store_write(path, val, len);
		return true;
	case 2: /* the toolstack removes a backend key, or the directory */
		be_dir(s, path, sizeof(path));
		k = byte(in);
		if (k < NBE) {
			len = (unsigned)strlen(path);
			snprintf(path + len, sizeof(path) - len, "/%s", be_keys[k]);
		}
		store_rm(path);
		return true;
	case 3: /* the guest removes a frontend key, or its directory */
		k = byte(in);
		if (k < 128)
			fe_key(s, k, path, sizeof(path));
		else
			fe_dir(s, path, sizeof(path));
		store_rm(path);
		return true;
	case 4: /* a node of any name under a directory (a watch fires) */
		k = byte(in) % 4;
		if (k == 0)
			snprintf(path, sizeof(path), "%s", XSVIF_ROOT);
		else if (k == 1)
			be_dir(s, path, sizeof(path));
		else if (k == 2)
			fe_dir(s, path, sizeof(path));
		else
			snprintf(path, sizeof(path), "/local/domain/%u", slots[s].domid);
		len = (unsigned)strlen(path);
		path[len++] = '/';
		value(in, s, path + len, sizeof(path) - len - 256);
		len = value(in, s, val, sizeof(val));
		store_write(path, val, len);
		return true;
	case 5: /* the time goes by */
		k = byte(in);
		fz_now_ms += (uint64_t)(k + 1) * (k + 1) * 10;
		return true;
	case 6: /* the consumer's server of the rings dies, or finds them broken */
		v = nb_vif_get(&fz_b, slots[s].domid, slots[s].devid, false);
		if (!v || !v->connected)
			return true;
		fz_ports[v->port].connected = false;
		if (byte(in) & 1)
			nb_vif_broke(&fz_b, v, "ring broken");
		else
			nb_vif_lost(&fz_b, v, "worker died");
		return true;
	case 7: /* the consumer's next probe or connect fails */
		k = byte(in) % 3;
		if (k == 0)
			fz_probe_fail = 1;
		else
			fz_connect_fail = k == 1 ? -EINVAL : -EIO;
		return true;
	case 8:
		good_backend(s);
		return true;
	case 9:
		good_frontend(s);
		return true;
	case 10: /* xenstore stops answering after so many more requests */
		if (!fz_xs.runs_left && !fz_xs.broken)
			fz_xs.runs_left = byte(in) + 1u;
		return true;
	case 12: /* xenstored fails commits (EAGAIN) after the next few, 8 or
		  * more: every try of a write */
		fz_xs.conflict_skip = byte(in) % 4;
		fz_xs.conflicts = byte(in) % 20;
		fz_xs.conflicted = fz_xs.conflicted || fz_xs.conflicts;
		return true;
	case 13: /* the toolstack removes a backend directory between two
		  * requests of the backend (xl destroy racing a state switch),
		  * and may add the device again a few requests later */
		fz_xs.race_in = byte(in) % 8 + 1;
		k = byte(in);
		fz_xs.readd_in = k & 8 ? (k & 7) + 1 : 0;
		fz_xs.race_slot = s;
		return true;
	case 14: /* xenstored refuses the next few requests of a kind: every
		  * one of a batch, a transaction's start or commit, or the
		  * requests on one node of slot s */
		fz_xs.refuse_err = fz_refusals[byte(in) % (sizeof(fz_refusals) / sizeof(int))];
		fz_xs.refuse_kind = byte(in) % FZ_REFUSE_KINDS;
		fz_xs.refuse_left = byte(in) % 8 + 1;
		refuse_node(s, byte(in), fz_xs.refuse_path, sizeof(fz_xs.refuse_path));
		if (fz_xs.refuse_kind != FZ_REFUSE_NODE)
			fz_xs.refuse_path[0] = '\0';
		return true;
	default: /* the daemon's loop wakes */
		rc = nb_back_run(&fz_b);
		/* a refusal is that vif's (looked at again): the loop stops
		 * only when xenstore is gone */
		CHECK(rc == 0 || fz_xs.broken);
		nb_vif_foreach(&fz_b, check_vif, NULL);
		return rc == 0 || !fz_xs.broken;
	}
}

static void reset(void)
{
	tx_clear(&fz_xs);
	for (unsigned i = 0; i < fz_xs.nnodes; i++) {
		free(fz_xs.nodes[i].path);
		free(fz_xs.nodes[i].val);
	}
	for (unsigned i = 0; i < fz_xs.nwatches; i++) {
		free(fz_xs.watches[i].path);
		free(fz_xs.watches[i].token);
	}
	while (fz_xs.ev_head) {
		struct xsc_event *e = fz_xs.ev_head;

		fz_xs.ev_head = e->next;
		free(e);
	}
	memset(&fz_xs, 0, sizeof(fz_xs));
	fz_xs.ev_tail = &fz_xs.ev_head;
	memset(fz_ports, 0, sizeof(fz_ports));
	fz_nports = 0;
	fz_probe_fail = fz_connect_fail = 0;
	fz_now_ms = 1000;
	memset(fz_state_gen, 0, sizeof(fz_state_gen));
}

/* The promise of a refusal (command 14): it is that vif's alone, which
 * the backend looks at again by itself, after a backoff (XS_REFUSED_*, lib/xs_retry.h):
 * once xenstore stops refusing, that wait over and no event since, the
 * teardowns refused are answered (check_closed), a watch on the
 * frontend's state refused is set (check_fe_watched), an unwatch refused
 * is made (check_no_watch_left), and a listing refused is taken again
 * (check_known). Not when the input had
 * commits fail every try (a vif then waits for its next change), events
 * dropped, or XS_REFUSED_TRIES refusals or more (a vif refused that often
 * in a row waits for its next change too). */
/* A vif probed (and not torn down) and online has its watch on the
 * frontend's state: without it, the frontend's Connected is never seen.
 * (Not online, the frontend's state is not acted on anyway.) */
static void check_fe_watched(struct nb_back *b, struct nb_vif *v, void *arg)
{
	char p[NB_PATH_MAX + 8];
	const struct fz_node *online;
	bool found = false;

	(void)b;
	(void)arg;
	snprintf(p, sizeof(p), "%s/online", v->be);
	online = node_find(p);
	if (!v->probed || v->gone || !online || strcmp(online->val, "1"))
		return;
	snprintf(p, sizeof(p), "%s/state", v->fe);
	for (unsigned i = 0; i < fz_xs.nwatches; i++)
		found = found || !strcmp(fz_xs.watches[i].path, p);
	CHECK(found);
}

/* No watch of the backend's is left in xenstore but the root's and those
 * of the vifs it watches: an UNWATCH refused was asked again (left, it
 * counted against the connection's quota of watches for ever). */
static void check_no_watch_left(void)
{
	for (unsigned i = 0; i < fz_xs.nwatches; i++) {
		const struct fz_watch *w = &fz_xs.watches[i];
		uint32_t d, n;
		struct nb_vif *v;
		char p[NB_PATH_MAX + 8];

		if (!strcmp(w->token, BE_TOKEN))
			continue;
		CHECK(!strcmp(w->token, FE_TOKEN));
		CHECK(sscanf(w->path, "/local/domain/%u/device/vif/%u/state", &d, &n) == 2);
		v = nb_vif_get(&fz_b, d, n, false);
		CHECK(v && v->fe_watched);
		snprintf(p, sizeof(p), "%s/state", v->fe);
		CHECK(!strcmp(w->path, p));
	}
}

/* Every backend directory of a device (its online key written) is a vif
 * the backend knows: a listing refused was taken again. */
static void check_known(void)
{
	char p[NB_PATH_MAX + 16];

	for (unsigned s = 0; s < NSLOTS; s++) {
		be_dir(s, p, sizeof(p));
		strcat(p, "/online");
		if (node_find(p))
			CHECK(nb_vif_get(&fz_b, slots[s].domid, slots[s].devid, false));
	}
}

static void check_refused_retried(void)
{
	int rc;

	if (fz_xs.conflicted || fz_xs.dropped || fz_xs.nrefused >= XS_REFUSED_TRIES)
		return;
	fz_now_ms += XS_REFUSED_MAX_MS;
	rc = nb_back_run(&fz_b);
	CHECK(rc == 0);
	nb_vif_foreach(&fz_b, check_vif, NULL);
	nb_vif_foreach(&fz_b, check_fe_watched, NULL);
	check_no_watch_left();
	check_known();
	check_closed();
}

static void mark_one(struct nb_back *b, struct nb_vif *v, void *arg)
{
	(void)arg;
	nb_vif_mark(b, v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = { data, size };
	unsigned cfg = byte(&in);
	bool up;

	/* FZ_LOG=1: every step, to read what an input does */
	log_set_level(getenv("FZ_LOG") ? LOG_LVL_DEBUG : LOG_LVL_ERR);
	reset();
	nb_back_init(&fz_b);
	fz_b.xs = &fz_xs;
	fz_b.max_queues = 1 + (cfg & 7);
	fz_b.gso = cfg & 8;
	fz_ops.serves = cfg & 16 ? fz_serves : NULL;
	fz_ncmds = cfg & 128 ? 15 : cfg & 64 ? 14 : 12;
	fz_b.ops = &fz_ops;
	put("/local/domain/0/backend/vif", "");
	up = nb_back_watch(&fz_b) == 0;
	for (unsigned i = 0; up && in.n && i < 256; i++) {
		up = run_cmd(&in);
		/* every transaction ended (unless the connection broke in it) */
		CHECK(!fz_xs.tx || fz_xs.broken);
	}
	if (up) {
		nb_back_run(&fz_b);
		nb_vif_foreach(&fz_b, check_vif, NULL);
	}
	if (up && !fz_xs.broken) {
		/* xenstore commits again, and every vif is looked at once */
		fz_xs.runs_left = fz_xs.race_in = fz_xs.readd_in = 0;
		fz_xs.conflict_skip = fz_xs.conflicts = 0;
		fz_xs.refuse_left = 0;
		if (fz_xs.nrefused)
			check_refused_retried();
		nb_vif_foreach(&fz_b, mark_one, NULL);
		if (nb_back_run(&fz_b) == 0) {
			check_closed();
			nb_vif_foreach(&fz_b, check_same_device, NULL);
		}
		nb_vif_foreach(&fz_b, check_vif, NULL);
	}
	nb_back_shutdown(&fz_b);
	CHECK(fz_b.nvifs == 0);
	for (unsigned i = 0; i < fz_nports; i++)
		CHECK(!fz_ports[i].live);
	reset();
	return 0;
}
