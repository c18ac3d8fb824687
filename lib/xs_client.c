/* xs_client: batched xenstore requests with a deadline (see xs_client.h). */
#include "lib/xs_client.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "lib/dec.h"
#include "lib/err.h"

#define XSC_DEV "/dev/xen/xenbus"
#define XSC_BATCH_MAX 64

struct xsc {
	int fd;
	bool dev; /* the xenbus device: one message per write, one request in flight */
	unsigned timeout_ms;
	uint64_t end_ms; /* xsc_deadline()'s, on now_ms()'s clock; 0: none */
	unsigned wait_ms; /* the batch in flight's bound, for its error */
	uint32_t next_req;
	int broken; /* the error that made the connection unusable, or 0 */
	uint8_t *in; /* bytes read, not yet a whole message */
	size_t in_len, in_cap;
	struct xsc_event *ev_head, **ev_tail;
	/* The batch in flight: replies are matched by req_id. */
	struct xsc_op *ops;
	unsigned n_ops, n_answered;
	uint32_t base;
	uint32_t tx; /* the transaction the batch runs in, 0: none */
	xsc_wait_fn *wait; /* instead of poll(2) while a batch waits (xsc_wait_hook) */
	void *wait_arg;
};

static const char *socket_path(void)
{
	static char buf[sizeof(((struct sockaddr_un *)0)->sun_path)];
	const char *p = getenv("XENSTORED_PATH"), *dir;

	if (p)
		return p;
	dir = getenv("XENSTORED_RUNDIR");
	snprintf(buf, sizeof(buf), "%s/socket", dir ? dir : "/var/run/xenstored");
	return buf;
}

static int connect_socket(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, rc;

	if (strlen(path) >= sizeof(sa.sun_path))
		return err_set(-ENAMETOOLONG, "xenstore: socket path too long: %s", path);
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return err_set(-errno, "xenstore: socket: %s", strerror(errno));
	/* A local socket connects at once or not at all. */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		close(fd);
		return err_set(rc, "xenstore: cannot connect to %s: %s", path, strerror(-rc));
	}
	return fd;
}

static int open_device(const char *path)
{
	int fd = open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK);

	return fd >= 0 ? fd : err_set(-errno, "xenstore: cannot open %s: %s", path, strerror(errno));
}

int xsc_open(struct xsc **out, unsigned timeout_ms)
{
	const char *path = socket_path();
	bool dev = false;
	struct stat st;
	struct xsc *c;
	int fd;

	if (stat(path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
		dev = true;
		fd = open_device(path);
	} else {
		fd = connect_socket(path);
		/* No daemon socket: a xenstored elsewhere (a stub domain) is
		 * reached through the kernel, as libxenstore falls back. */
		if (fd < 0 && !getenv("XENSTORED_PATH") && access(XSC_DEV, F_OK) == 0) {
			dev = true;
			fd = open_device(XSC_DEV);
		}
	}
	if (fd < 0)
		return fd;
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return err_set(-ENOMEM, "out of memory");
	}
	c->fd = fd;
	c->dev = dev;
	c->timeout_ms = timeout_ms;
	c->next_req = 1;
	c->ev_tail = &c->ev_head;
	*out = c;
	return 0;
}

void xsc_close(struct xsc *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	while (c->ev_head) {
		struct xsc_event *e = c->ev_head;

		c->ev_head = e->next;
		free(e);
	}
	free(c->in);
	free(c);
}

void xsc_hangup(struct xsc *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	if (!c->broken)
		c->broken = -ENOTCONN;
	while (c->ev_head) {
		struct xsc_event *e = c->ev_head;

		c->ev_head = e->next;
		free(e);
	}
	c->ev_tail = &c->ev_head;
	c->in_len = 0;
}

void xsc_wait_hook(struct xsc *c, xsc_wait_fn *fn, void *arg)
{
	c->wait = fn;
	c->wait_arg = arg;
}

int xsc_fd(const struct xsc *c)
{
	return c->fd;
}

bool xsc_events_queued(const struct xsc *c)
{
	return c->ev_head != NULL;
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

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Waits for `events` on the fd until the deadline. Past it, the fd is
 * still looked at once: the deadline bounds how long we wait for
 * xenstored, and a process that did not run meanwhile (stopped, or not
 * scheduled on a loaded host) has waited for nothing. Before, one
 * stopped past the timeout in the middle of a batch gave up on the
 * replies waiting for it, and so on its connection (dpswitch exited,
 * and its control clients' connections were reset). */
static int wait_fd(struct xsc *c, short events, uint64_t deadline)
{
	struct pollfd p = { .fd = c->fd, .events = events };
	uint64_t now;
	bool late;
	int rc;

	for (;;) {
		now = now_ms();
		late = now >= deadline;
		if (c->wait) {
			rc = c->wait(c->wait_arg, c->fd, events, late ? 0 : (int)(deadline - now));
			if (rc < 0 && rc != -EINTR)
				return err_set(rc, "xenstore: wait: %s", strerror(-rc));
		} else {
			rc = poll(&p, 1, late ? 0 : (int)(deadline - now));
			if (rc < 0 && errno != EINTR)
				return err_set(-errno, "xenstore: poll: %s", strerror(errno));
		}
		if (rc > 0)
			return 0;
		if (rc == 0 && late)
			return err_set(-ETIMEDOUT, "xenstore: no reply within %u ms", c->wait_ms);
	}
}

static int write_all(struct xsc *c, const uint8_t *buf, size_t len, uint64_t deadline)
{
	while (len) {
		ssize_t w = send(c->fd, buf, len, MSG_NOSIGNAL);

		if (w < 0 && errno == ENOTSOCK)
			w = write(c->fd, buf, len);
		if (w > 0) {
			buf += w;
			len -= (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			int rc = wait_fd(c, POLLOUT, deadline);

			if (rc)
				return rc;
			continue;
		}
		return err_set(w < 0 ? -errno : -EIO, "xenstore: write: %s",
			       w < 0 ? strerror(errno) : "short write");
	}
	return 0;
}

/* Reads what the fd holds now. 0 if something came (or nothing yet),
 * -ECONNRESET when xenstored closed the connection. */
static int read_some(struct xsc *c)
{
	ssize_t r;

	if (c->in_cap - c->in_len < XS_HDR_LEN + XS_PAYLOAD_MAX) {
		size_t cap = c->in_len + 2 * (XS_HDR_LEN + XS_PAYLOAD_MAX);
		uint8_t *in = realloc(c->in, cap);

		if (!in)
			return err_set(-ENOMEM, "out of memory");
		c->in = in;
		c->in_cap = cap;
	}
	r = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
	if (r > 0) {
		c->in_len += (size_t)r;
		return 0;
	}
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	return err_set(r < 0 ? -errno : -ECONNRESET, "xenstore: connection to xenstored lost: %s",
		       r < 0 ? strerror(errno) : "closed by xenstored");
}

static int queue_event(struct xsc *c, const uint8_t *payload, uint32_t len)
{
	const char *vec[2];
	struct xsc_event *e;
	char *buf;

	if (xs_args_split((const char *)payload, len, vec, 2) < 2)
		return err_set(-EPROTO, "xenstore: malformed watch event");
	e = malloc(sizeof(*e) + len);
	if (!e)
		return err_set(-ENOMEM, "out of memory");
	buf = (char *)(e + 1);
	memcpy(buf, payload, len);
	e->path = buf;
	e->token = buf + ((const char *)vec[1] - (const char *)payload);
	e->next = NULL;
	*c->ev_tail = e;
	c->ev_tail = &e->next;
	return 0;
}

static int take_reply(struct xsc *c, const struct xs_msg_hdr *h, const uint8_t *payload)
{
	uint32_t i = h->req_id - c->base;
	struct xsc_op *op;

	if (i >= c->n_ops || c->ops[i].reply || c->ops[i].err)
		return err_set(-EPROTO, "xenstore: reply %u (%s) to no request", h->req_id,
			       xs_msg_type_name(h->type));
	op = &c->ops[i];
	if (h->type == XS_MSG_ERROR) {
		char name[16] = "";

		memcpy(name, payload, h->len < sizeof(name) - 1 ? h->len : sizeof(name) - 1);
		/* oxenstored's quota refusal, in no table of Xen's: not the
		 * EINVAL (a bad request) an unknown name would be */
		if (!strcmp(name, "EQUOTA"))
			op->err = -EDQUOT;
		else
			op->err = -(xs_err_from_name(name) ?: EINVAL);
	} else if (h->type != op->type) {
		return err_set(-EPROTO, "xenstore: %s answered with %s", xs_msg_type_name(op->type),
			       xs_msg_type_name(h->type));
	} else {
		op->reply = malloc(h->len + 1);
		if (!op->reply)
			return err_set(-ENOMEM, "out of memory");
		memcpy(op->reply, payload, h->len);
		op->reply[h->len] = '\0';
		op->len = h->len;
	}
	c->n_answered++;
	return 0;
}

/* Every whole message in the buffer: replies to the batch, events queued. */
static int parse(struct xsc *c)
{
	size_t off = 0;
	int rc = 0;

	while (rc == 0 && c->in_len - off >= XS_HDR_LEN) {
		struct xs_msg_hdr h;

		xs_hdr_decode(c->in + off, &h);
		if (h.len > XS_PAYLOAD_MAX) {
			rc = err_set(-EPROTO, "xenstore: message of %u bytes", h.len);
			break;
		}
		if (c->in_len - off < XS_HDR_LEN + h.len)
			break;
		if (h.type == XS_MSG_WATCH_EVENT)
			rc = queue_event(c, c->in + off + XS_HDR_LEN, h.len);
		else
			rc = take_reply(c, &h, c->in + off + XS_HDR_LEN);
		off += XS_HDR_LEN + h.len;
	}
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
	return rc;
}

/* path NUL, then WRITE's value, or WATCH's token (DIRECTORY_PART's
 * offset) NUL (TRANSACTION_START's
 * path is "", TRANSACTION_END's "T" or "F") */
static size_t payload_len(const struct xsc_op *op)
{
	size_t n = strlen(op->path) + 1;

	if (op->type == XS_MSG_WRITE)
		n += op->vlen;
	else if (op->arg)
		n += strlen(op->arg) + 1;
	return n;
}

static size_t encode(const struct xsc_op *op, uint32_t req, uint32_t tx, uint8_t *buf)
{
	struct xs_msg_hdr h = { .type = op->type, .req_id = req, .tx_id = tx,
				.len = (uint32_t)payload_len(op) };
	size_t plen = strlen(op->path) + 1;

	xs_hdr_encode(&h, buf);
	memcpy(buf + XS_HDR_LEN, op->path, plen);
	if (h.len > plen)
		memcpy(buf + XS_HDR_LEN + plen, op->arg, h.len - plen);
	return XS_HDR_LEN + h.len;
}

/* ops[0..n) in one write (the device: one message per write), then their
 * replies. */
static int run_batch(struct xsc *c, struct xsc_op *ops, unsigned n, uint64_t deadline)
{
	size_t total = 0, size, off = 0;
	uint8_t *buf;
	int rc = 0;

	for (unsigned i = 0; i < n; i++)
		total += XS_HDR_LEN + payload_len(&ops[i]);
	buf = malloc(total);
	if (!buf)
		return err_set(-ENOMEM, "out of memory");
	c->ops = ops;
	c->n_ops = n;
	c->n_answered = 0;
	c->base = c->next_req;
	for (unsigned i = 0; i < n; i++) {
		ops[i].err = 0;
		ops[i].reply = NULL;
		ops[i].len = 0;
		size = encode(&ops[i], c->next_req++, c->tx, buf + off);
		if (c->dev)
			rc = rc ?: write_all(c, buf + off, size, deadline);
		off += size;
	}
	if (!c->dev)
		rc = write_all(c, buf, total, deadline);
	free(buf);
	while (rc == 0 && c->n_answered < n) {
		rc = wait_fd(c, POLLIN, deadline);
		if (rc == 0)
			rc = read_some(c);
		if (rc == 0)
			rc = parse(c);
	}
	c->ops = NULL;
	c->n_ops = 0;
	if (rc)
		xsc_ops_free(ops, n);
	return rc;
}

void xsc_deadline(struct xsc *c, unsigned ms)
{
	c->end_ms = now_ms() + ms;
}

int xsc_run_tx(struct xsc *c, uint32_t tx, struct xsc_op *ops, unsigned n)
{
	uint64_t now = now_ms(), deadline = now + c->timeout_ms;
	unsigned step = c->dev ? 1 : XSC_BATCH_MAX;
	int rc = 0;

	/* the caller's whole bound (xsc_deadline) ends the batch's sooner */
	if (c->end_ms && c->end_ms < deadline)
		deadline = c->end_ms > now ? c->end_ms : now;
	c->wait_ms = (unsigned)(deadline - now);

	/* After a timeout or a protocol error, replies would not match
	 * requests any more: the caller reconnects. */
	if (c->broken)
		return err_set(c->broken, "xenstore: connection unusable after an earlier error");
	/* The caller's mistake, found before anything is sent: not the connection's. */
	for (unsigned i = 0; i < n; i++)
		if (payload_len(&ops[i]) > XS_PAYLOAD_MAX)
			return err_set(-E2BIG, "xenstore: request for %s too long", ops[i].path);
	c->tx = tx;
	for (unsigned i = 0; i < n && rc == 0; i += step)
		rc = run_batch(c, ops + i, n - i < step ? n - i : step, deadline);
	c->tx = 0;
	if (rc) {
		c->broken = rc;
		xsc_ops_free(ops, n);
	}
	return rc;
}

int xsc_run(struct xsc *c, struct xsc_op *ops, unsigned n)
{
	return xsc_run_tx(c, 0, ops, n);
}

/* The id TRANSACTION_START answers: decimal digits and the NUL xenstored
 * ends it with, read by the project's one reader of a number (lib/dec.h),
 * so " 17", "+17" or "017" (each 17 to strtoul) are refused as what they
 * are, a reply we cannot trust; 0 means "no transaction" and is none. */
static int tx_id_parse(const struct xsc_op *op, uint32_t *tx)
{
	size_t len = strlen(op->reply);
	uint64_t id;

	if (op->len > len + 1 || dec_parse(op->reply, len, UINT32_MAX, &id) || id == 0)
		return err_set(-EPROTO,
			       "xenstore: transaction start answered \"%.16s\"%s: not a transaction id "
			       "(decimal 1..%u)",
			       op->reply, op->len > len + 1 ? " and more" : dec_why(op->reply, len),
			       UINT32_MAX);
	*tx = (uint32_t)id;
	return 0;
}

int xsc_tx_start(struct xsc *c, uint32_t *tx)
{
	struct xsc_op op = { .type = XS_MSG_TRANSACTION_START, .path = "" };
	int rc = xsc_run(c, &op, 1);

	if (rc)
		return rc;
	if (op.err) {
		rc = err_set(op.err, "xenstore: transaction start: %s", strerror(-op.err));
	} else {
		rc = tx_id_parse(&op, tx);
		/* what else it answers cannot be trusted either */
		if (rc)
			c->broken = rc;
	}
	xsc_ops_free(&op, 1);
	return rc;
}

int xsc_tx_end(struct xsc *c, uint32_t tx, bool commit)
{
	struct xsc_op op = { .type = XS_MSG_TRANSACTION_END, .path = commit ? "T" : "F" };
	int rc = xsc_run_tx(c, tx, &op, 1);

	if (rc)
		return rc;
	if (op.err == -EAGAIN)
		rc = err_set(-EAGAIN, "xenstore: transaction %u conflicted", tx);
	else if (op.err)
		rc = err_set(op.err, "xenstore: transaction %u end: %s", tx, strerror(-op.err));
	xsc_ops_free(&op, 1);
	return rc;
}

struct xsc_event *xsc_event_next(struct xsc *c, int *err)
{
	struct xsc_event *e;

	*err = 0;
	if (!c->ev_head) {
		if (c->broken) {
			*err = err_set(c->broken, "xenstore: connection unusable after an earlier error");
			return NULL;
		}
		*err = read_some(c);
		if (*err == 0)
			*err = parse(c);
		if (*err) {
			c->broken = *err;
			return NULL;
		}
	}
	e = c->ev_head;
	if (e) {
		c->ev_head = e->next;
		if (!c->ev_head)
			c->ev_tail = &c->ev_head;
	}
	return e;
}
