/* ovsdb: a JSON-RPC client for ovsdb-server (see ovsdb.h). */
#include "ovs/ovsdb.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "lib/err.h"
#include "ovs/ovs_msg.h"

void ovsdb_init(struct ovsdb *db, const char *path)
{
	memset(db, 0, sizeof(*db));
	db->fd = -1;
	snprintf(db->path, sizeof(db->path), "%s", path);
}

void ovsdb_close(struct ovsdb *db)
{
	if (db->fd >= 0)
		close(db->fd);
	db->fd = -1;
	free(db->buf);
	db->buf = NULL;
	db->len = db->cap = 0;
	db->scan = (struct ovs_msg_scan){ 0 };
}

static int db_connect(struct ovsdb *db)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (db->fd >= 0)
		return 0;
	if (strlen(db->path) >= sizeof(sa.sun_path))
		return err_set(-ENAMETOOLONG, "ovsdb socket path %s too long", db->path);
	strcpy(sa.sun_path, db->path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_set(-errno, "socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int rc = -errno;

		close(fd);
		return err_set(rc, "cannot connect to ovsdb-server at %s: %s", db->path,
			       strerror(-rc));
	}
	db->fd = fd;
	db->len = 0;
	db->scan = (struct ovs_msg_scan){ 0 };
	return 0;
}

static long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

static long long now_ms(void)
{
	return now_us() / 1000;
}

static int db_send(struct ovsdb *db, json_t *msg)
{
	char *text = json_dumps(msg, JSON_COMPACT);
	size_t n, off = 0;
	int rc = 0;

	if (!text)
		return err_set(-ENOMEM, "out of memory");
	n = strlen(text);
	while (off < n) {
		ssize_t w = send(db->fd, text + off, n - off, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			rc = err_set(-errno, "ovsdb-server at %s: send: %s", db->path,
				     strerror(errno));
			break;
		}
		off += (size_t)w;
	}
	free(text);
	return rc;
}

/* Read until one whole message is buffered and parsed, or the deadline. */
static int db_recv(struct ovsdb *db, long long deadline, json_t **msg)
{
	for (;;) {
		size_t used = 0, end = 0;
		/* parsed once whole, not at every read of a large reply */
		int rc = ovs_msg_scan(&db->scan, db->buf, db->len, &end)
				 ? ovs_msg_frame(db->buf, end, msg, &used)
				 : 1;
		struct pollfd pfd = { .fd = db->fd, .events = POLLIN };
		long long left;
		ssize_t r;

		if (rc < 0)
			return err_prefix(rc, "ovsdb-server at %s", db->path);
		if (rc == 0) {
			memmove(db->buf, db->buf + used, db->len - used);
			db->len -= used;
			db->scan = (struct ovs_msg_scan){ 0 };
			return 0;
		}
		if (db->len == db->cap) {
			size_t cap = db->cap ? db->cap * 2 : 4096;
			char *b;

			if (cap > OVSDB_REPLY_MAX)
				return err_set(-EMSGSIZE, "ovsdb-server at %s: reply over %u bytes",
					       db->path, OVSDB_REPLY_MAX);
			b = realloc(db->buf, cap);
			if (!b)
				return err_set(-ENOMEM, "out of memory");
			db->buf = b;
			db->cap = cap;
		}
		/* Past the deadline the socket is still looked at once, as
		 * xs_client's wait_fd does: a netd that was not scheduled
		 * meanwhile has waited for nothing, and a reply already
		 * there is taken. */
		left = deadline - now_ms();
		rc = poll(&pfd, 1, left > 0 ? (int)left : 0);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return err_set(-errno, "poll: %s", strerror(errno));
		if (rc == 0 && left <= 0)
			return err_set(-ETIMEDOUT, "ovsdb-server at %s: no reply in time", db->path);
		if (rc == 0)
			continue;
		r = recv(db->fd, db->buf + db->len, db->cap - db->len, 0);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r < 0)
			return err_set(-errno, "ovsdb-server at %s: recv: %s", db->path,
				       strerror(errno));
		if (r == 0)
			return err_set(-ECONNRESET, "ovsdb-server at %s closed the connection",
				       db->path);
		db->len += (size_t)r;
	}
}

/* One request, its reply's result (or error). */
static int db_call(struct ovsdb *db, const char *method, json_t *params, int timeout_ms,
		   json_t **reply, bool *sent)
{
	long long deadline = now_ms() + timeout_ms;
	unsigned long long id = ++db->next_id;
	json_t *req, *msg = NULL;
	int rc;

	req = json_pack("{s:s, s:O, s:I}", "method", method, "params", params, "id",
			(json_int_t)id);
	if (!req)
		return err_set(-ENOMEM, "out of memory");
	rc = db_send(db, req);
	json_decref(req);
	*sent = rc == 0;
	while (rc == 0) {
		json_t *mid, *m;

		rc = db_recv(db, deadline, &msg);
		if (rc)
			break;
		m = json_object_get(msg, "method");
		mid = json_object_get(msg, "id");
		if (json_is_string(m) && !strcmp(json_string_value(m), "echo") && mid) {
			/* The server's liveness probe: answer with its params. */
			json_t *ans = json_pack("{s:O, s:n, s:O}", "result",
						json_object_get(msg, "params") ?: json_null(),
						"error", "id", mid);

			rc = ans ? db_send(db, ans) : err_set(-ENOMEM, "out of memory");
			json_decref(ans);
		} else if (json_is_integer(mid) && (unsigned long long)json_integer_value(mid) == id &&
			   !m) {
			*reply = msg;
			return 0;
		}
		/* Anything else (a notification, a stale reply) is not ours. */
		json_decref(msg);
		msg = NULL;
	}
	return rc;
}

int ovsdb_transact(struct ovsdb *db, json_t *ops, int timeout_ms, json_t **result)
{
	json_t *params, *reply = NULL;
	long long t0 = now_us();
	bool sent = false;
	int rc, tries = 0;

	if (!ops)
		return err_set(-ENOMEM, "out of memory");
	params = json_array();
	json_array_append_new(params, json_string(OVSDB_DB));
	json_array_extend(params, ops);
again:
	rc = db_connect(db);
	if (rc == 0)
		rc = db_call(db, "transact", params, timeout_ms, &reply, &sent);
	if (rc) {
		/* A broken connection is closed, so that the next call
		 * reconnects. A transaction is never sent twice: only one
		 * whose send found the old connection dead (a restarted
		 * server) is tried once more, on a new one. */
		bool stale = db->fd >= 0 && !sent && tries == 0;

		ovsdb_close(db);
		if (stale && ++tries == 1)
			goto again;
		goto out;
	}
	rc = ovs_msg_result_check(reply, ops);
	if (rc == 0 && result)
		*result = json_incref(json_object_get(reply, "result"));
out:
	json_decref(reply);
	json_decref(params);
	json_decref(ops);
	db->busy_us += (unsigned long long)(now_us() - t0);
	return rc;
}
