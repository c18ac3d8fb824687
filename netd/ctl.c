/* ctl: control socket server on sd-event. */
#include "netd/ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/atomic_file.h"
#include "lib/err.h"
#include "lib/log.h"
#include "netd/daemon.h"

struct ctl_server {
	struct netd *d;
	int fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	gid_t gid; /* (gid_t)-1: root only */
	sd_event_source *src;
	struct ctl_client *clients;
};

struct ctl_client {
	struct ctl_server *s;
	int fd;
	sd_event_source *src;
	size_t len;
	bool discarding; /* inside an oversized line: drop bytes until '\n' */
	struct ctl_client *next;
	char buf[CTL_LINE_MAX];
};

static json_t *reply_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static json_t *reply_error(const char *fmt, ...)
{
	char msg[ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* Messages may quote what the client sent; a JSON string must be UTF-8,
	 * and a reply that cannot be built would leave the client unanswered. */
	for (char *c = msg; *c; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
			*c = '?';
	return json_pack("{s:i, s:b, s:s}", "version", CTL_VERSION, "ok", 0, "error", msg);
}

static json_t *reply_ok(json_t *result)
{
	json_t *r = json_pack("{s:i, s:b}", "version", CTL_VERSION, "ok", 1);

	if (result)
		json_object_set_new(r, "result", result);
	return r;
}

/* An op's outcome: ok, or its err_msg(). */
static json_t *reply_rc(int rc, json_t *result)
{
	if (rc) {
		json_decref(result);
		return reply_error("%s", err_msg());
	}
	return reply_ok(result);
}

static const char *opt_string(json_t *req, const char *key, bool *bad)
{
	json_t *v = json_object_get(req, key);

	if (v && !json_is_string(v))
		*bad = true;
	return json_string_value(v);
}

json_t *ctl_handle_line(struct netd *d, const char *line, size_t len)
{
	json_t *req, *v, *result = NULL, *reply;
	const char *cmd, *net, *vif;
	json_error_t e;
	bool bad = false;
	int rc;

	req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &e);
	if (!req)
		return reply_error("malformed JSON: %s", e.text);
	if (!json_is_object(req)) {
		json_decref(req);
		return reply_error("%s", "request must be a JSON object");
	}
	v = json_object_get(req, "version");
	if (v && (!json_is_integer(v) || json_integer_value(v) != CTL_VERSION)) {
		json_decref(req);
		return reply_error("unsupported protocol version (this netd speaks %d)", CTL_VERSION);
	}
	cmd = json_string_value(json_object_get(req, "cmd"));
	net = opt_string(req, "net", &bad);
	vif = opt_string(req, "vif", &bad);
	if (!cmd || bad) {
		json_decref(req);
		return reply_error("%s", "'cmd' must be a string, 'net' and 'vif' strings if given");
	}

	if (!strcmp(cmd, "status")) {
		reply = reply_ok(netd_status(d));
	} else if (!strcmp(cmd, "up")) {
		reply = reply_rc(netd_up(d, net), NULL);
	} else if (!strcmp(cmd, "down")) {
		reply = reply_rc(netd_down(d, net), NULL);
	} else if (!strcmp(cmd, "reload")) {
		reply = reply_rc(netd_reload(d), NULL);
	} else if (!strcmp(cmd, "vif-list")) {
		reply = reply_ok(netd_vif_list(d));
	} else if (!strcmp(cmd, "vif-online") || !strcmp(cmd, "vif-offline")) {
		if (!vif) {
			reply = reply_error("'%s' needs a 'vif' string (\"D.N\")", cmd);
		} else if (!strcmp(cmd, "vif-online")) {
			rc = netd_vif_online(d, vif, json_object_get(req, "args"), &result);
			reply = reply_rc(rc, result);
		} else {
			reply = reply_rc(netd_vif_offline(d, vif), NULL);
		}
	} else {
		rc = netd_mode_command(d, cmd, net, req, &result);
		reply = reply_rc(rc, result);
	}
	json_decref(req);
	return reply;
}

static void client_free(struct ctl_client *c)
{
	struct ctl_client **pp;

	for (pp = &c->s->clients; *pp && *pp != c; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = c->next;
	sd_event_source_unref(c->src);
	close(c->fd);
	free(c);
}

static int client_send(struct ctl_client *c, json_t *reply)
{
	char *text = json_dumps(reply, JSON_COMPACT);
	size_t len, off = 0;
	int rc = 0;

	json_decref(reply);
	if (!text)
		return -ENOMEM;
	len = strlen(text);
	text[len++] = '\n'; /* json_dumps leaves room: we replace the NUL */
	while (off < len) {
		ssize_t n = send(c->fd, text + off, len - off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			break;
		}
		off += (size_t)n;
	}
	free(text);
	return rc;
}

static int client_io(sd_event_source *src, int fd, uint32_t events, void *data)
{
	struct ctl_client *c = data;
	ssize_t n;

	n = recv(fd, c->buf + c->len, sizeof(c->buf) - c->len, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0) {
		client_free(c);
		return 0;
	}
	c->len += (size_t)n;
	for (;;) {
		char *nl = memchr(c->buf, '\n', c->len);
		size_t used;

		if (!nl) {
			if (c->len < sizeof(c->buf))
				return 0;
			/* No newline in a full buffer: answer once, then skip to the next line. */
			if (!c->discarding &&
			    client_send(c, reply_error("message longer than %d bytes", CTL_LINE_MAX)) < 0) {
				client_free(c);
				return 0;
			}
			c->discarding = true;
			c->len = 0;
			return 0;
		}
		used = (size_t)(nl - c->buf) + 1;
		if (c->discarding) {
			c->discarding = false;
		} else if (used > 1 &&
			   client_send(c, ctl_handle_line(c->s->d, c->buf, used - 1)) < 0) {
			client_free(c);
			return 0;
		}
		memmove(c->buf, c->buf + used, c->len - used);
		c->len -= used;
	}
}

static bool peer_allowed(struct ctl_server *s, int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return false;
	return cred.uid == 0 || (s->gid != (gid_t)-1 && cred.gid == s->gid);
}

static int server_accept(sd_event_source *src, int fd, uint32_t events, void *data)
{
	struct ctl_server *s = data;
	struct timeval tv = { .tv_sec = 2 };
	struct ctl_client *c;
	int cfd;

	cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
	if (cfd < 0)
		return 0;
	if (!peer_allowed(s, cfd)) {
		static const char deny[] =
			"{\"version\":1,\"ok\":false,\"error\":\"permission denied: root or group netd only\"}\n";

		send(cfd, deny, sizeof(deny) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		close(cfd);
		return 0;
	}
	/* Replies are small; a client that stops reading must not stall netd. */
	setsockopt(cfd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(cfd);
		return 0;
	}
	c->s = s;
	c->fd = cfd;
	if (sd_event_add_io(s->d->ev, &c->src, cfd, EPOLLIN, client_io, c) < 0) {
		close(cfd);
		free(c);
		return 0;
	}
	c->next = s->clients;
	s->clients = c;
	return 0;
}

int ctl_server_start(struct netd *d, const char *path, const char *group, struct ctl_server **out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct ctl_server *s;
	struct group *gr;
	char dir[sizeof(sa.sun_path)];
	int rc;

	if (strlen(path) >= sizeof(sa.sun_path))
		return err_set(-ENAMETOOLONG, "socket path too long: %s", path);
	s = calloc(1, sizeof(*s));
	if (!s)
		return err_set(-ENOMEM, "out of memory");
	s->d = d;
	snprintf(s->path, sizeof(s->path), "%s", path);
	gr = group && group[0] ? getgrnam(group) : NULL;
	s->gid = gr ? gr->gr_gid : (gid_t)-1;
	snprintf(dir, sizeof(dir), "%s", path);
	if (strrchr(dir, '/') && strrchr(dir, '/') != dir) {
		*strrchr(dir, '/') = '\0';
		mkdir_p(dir, 0755);
	}
	s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s->fd < 0) {
		rc = err_set(-errno, "socket: %s", strerror(errno));
		free(s);
		return rc;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	unlink(path); /* a stale socket of a dead netd */
	if (bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s->fd, 64) < 0) {
		rc = err_set(-errno, "%s: %s", path, strerror(errno));
		close(s->fd);
		free(s);
		return rc;
	}
	chmod(path, 0660);
	if (gr && chown(path, 0, gr->gr_gid) < 0)
		log_warn("%s: cannot give the socket to group %s: %s", path, group, strerror(errno));
	rc = sd_event_add_io(d->ev, &s->src, s->fd, EPOLLIN, server_accept, s);
	if (rc < 0) {
		close(s->fd);
		unlink(path);
		free(s);
		return err_set(rc, "event loop: %s", strerror(-rc));
	}
	*out = s;
	return 0;
}

void ctl_server_stop(struct ctl_server *s)
{
	if (!s)
		return;
	while (s->clients)
		client_free(s->clients);
	sd_event_source_unref(s->src);
	close(s->fd);
	unlink(s->path);
	free(s);
}
