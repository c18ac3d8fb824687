/* ctl: control socket server on sd-event.
 *
 * Everything here runs in netd's one event loop, so nothing may block it:
 * replies are queued per client and written as the socket takes them, a
 * client with more than CTL_OUT_MAX unread is dropped, one silent for
 * CTL_IDLE_TIMEOUT_S too, at most CTL_MAX_CLIENTS are served at once and the
 * listener pauses (instead of spinning) when it cannot accept. */
#include "netd/ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "lib/atomic_file.h"
#include "lib/env_ms.h"
#include "lib/err.h"
#include "lib/log.h"
#include "lib/unix_listen.h"
#include "netd/daemon.h"

struct ctl_server {
	struct netd *d;
	int fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	gid_t gid; /* (gid_t)-1: root only */
	char group[64]; /* its name, for the refusal */
	sd_event_source *src;
	sd_event_source *retry; /* re-enables src after a pause */
	bool paused; /* src is off: too many clients or no descriptor left */
	bool stopping;
	uint64_t warned; /* when a pause was last logged (usec, monotonic) */
	uint64_t idle_usec;
	struct ctl_client *clients;
	size_t n_clients;
};

struct ctl_client {
	struct ctl_server *s;
	int fd;
	pid_t pid;
	uid_t uid;
	sd_event_source *src;
	sd_event_source *timer; /* idle timeout */
	uint64_t active; /* last byte in or out (usec, monotonic) */
	/* replies not yet taken by the socket: out[out_off..out_len) */
	char *out;
	size_t out_off, out_len, out_cap;
	bool eof; /* peer sent EOF: flush, then close */
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

static uint64_t now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void server_resume(struct ctl_server *s);

static void client_free(struct ctl_client *c)
{
	struct ctl_server *s = c->s;
	struct ctl_client **pp;

	for (pp = &s->clients; *pp && *pp != c; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = c->next;
	s->n_clients--;
	sd_event_source_disable_unref(c->src);
	sd_event_source_disable_unref(c->timer);
	close(c->fd);
	free(c->out);
	free(c);
	server_resume(s);
}

/* A client the log can name: what SO_PEERCRED said at accept. */
__attribute__((format(printf, 2, 3)))
static void client_drop(struct ctl_client *c, const char *fmt, ...)
{
	char why[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	log_warn("control socket: dropping client pid %d uid %u: %s", (int)c->pid,
		 (unsigned)c->uid, why);
	client_free(c);
}

static size_t client_queued(const struct ctl_client *c)
{
	return c->out_len - c->out_off;
}

/* What the socket takes now; the rest waits for EPOLLOUT. 0, or -errno
 * when the peer is gone. */
static int client_flush(struct ctl_client *c)
{
	while (client_queued(c)) {
		ssize_t n = send(c->fd, c->out + c->out_off, client_queued(c),
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0)
			return -errno;
		c->out_off += (size_t)n;
		c->active = now_usec();
	}
	if (!client_queued(c))
		c->out_off = c->out_len = 0;
	return sd_event_source_set_io_events(c->src, (c->eof ? 0 : EPOLLIN) |
					     (client_queued(c) ? EPOLLOUT : 0));
}

/* Queue one reply line and write what the socket takes. 0, or -errno with
 * the client already dropped: gone, or CTL_OUT_MAX unread. One reply is
 * always queued whole, however large, so a big status still reaches a
 * client that reads. */
static int client_send(struct ctl_client *c, json_t *reply)
{
	char *text = json_dumps(reply, JSON_COMPACT);
	size_t len;
	int rc;

	json_decref(reply);
	if (!text) {
		client_drop(c, "out of memory for a reply");
		return -ENOMEM;
	}
	len = strlen(text);
	text[len++] = '\n'; /* json_dumps leaves room: we replace the NUL */
	if (client_queued(c) && client_queued(c) + len > CTL_OUT_MAX) {
		free(text);
		client_drop(c, "more than %d bytes of replies unread", CTL_OUT_MAX);
		return -ENOBUFS;
	}
	if (c->out_len + len > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		char *out;

		/* Reclaim what was sent before growing. */
		if (c->out_off) {
			memmove(c->out, c->out + c->out_off, client_queued(c));
			c->out_len -= c->out_off;
			c->out_off = 0;
		}
		while (cap < c->out_len + len)
			cap *= 2;
		out = cap == c->out_cap ? c->out : realloc(c->out, cap);
		if (!out) {
			free(text);
			client_drop(c, "out of memory for a reply");
			return -ENOMEM;
		}
		c->out = out;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, text, len);
	c->out_len += len;
	free(text);
	c->active = now_usec();
	rc = client_flush(c);
	if (rc < 0) {
		client_free(c); /* the peer went away: nothing to tell anyone */
		return rc;
	}
	return 0;
}

/* Every complete line in the buffer, answered in order. 0, or -errno with
 * the client dropped. */
static int client_lines(struct ctl_client *c)
{
	for (;;) {
		char *nl = memchr(c->buf, '\n', c->len);
		size_t used;
		int rc;

		if (!nl) {
			if (c->len < sizeof(c->buf))
				return 0;
			/* No newline in a full buffer: answer once, then skip to the next line. */
			if (!c->discarding) {
				rc = client_send(c, reply_error("message longer than %d bytes",
								CTL_LINE_MAX));
				if (rc < 0)
					return rc;
			}
			c->discarding = true;
			c->len = 0;
			return 0;
		}
		used = (size_t)(nl - c->buf) + 1;
		if (c->discarding) {
			c->discarding = false;
		} else if (used > 1) {
			rc = client_send(c, ctl_handle_line(c->s->d, c->buf, used - 1));
			if (rc < 0)
				return rc;
		}
		memmove(c->buf, c->buf + used, c->len - used);
		c->len -= used;
	}
}

static int client_io(sd_event_source *src, int fd, uint32_t events, void *data)
{
	struct ctl_client *c = data;
	ssize_t n;

	/* A hang-up or error with replies queued: the send tells which. */
	if (client_queued(c) && (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) &&
	    client_flush(c) < 0) {
		client_free(c);
		return 0;
	}
	if (c->eof) {
		if (!client_queued(c))
			client_free(c);
		return 0;
	}
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return 0;
	n = recv(fd, c->buf + c->len, sizeof(c->buf) - c->len, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n < 0) {
		client_free(c);
		return 0;
	}
	if (n == 0) {
		/* The peer is done sending (shutdown(SHUT_WR) or gone): what is
		 * queued still goes out, then the connection closes. */
		c->eof = true;
		if (!client_queued(c) || client_flush(c) < 0)
			client_free(c);
		return 0;
	}
	c->active = now_usec();
	c->len += (size_t)n;
	client_lines(c);
	return 0;
}

/* Fires idle_timeout after the client's last activity or later; a client
 * heard from since is given its full time again. */
static int client_timer(sd_event_source *src, uint64_t usec, void *data)
{
	struct ctl_client *c = data;
	uint64_t deadline = c->active + c->s->idle_usec;
	char byte;

	/* A request may be waiting unread if netd was busy: that is not idleness. */
	if (recv(c->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) > 0)
		deadline = now_usec() + c->s->idle_usec;
	if (deadline > now_usec()) {
		sd_event_source_set_time(src, deadline);
		sd_event_source_set_enabled(src, SD_EVENT_ONESHOT);
		return 0;
	}
	client_drop(c, "idle for %llu s", (unsigned long long)(c->s->idle_usec / 1000000u));
	return 0;
}

/* Root, or a member of the socket's group: primary (SO_PEERCRED) or
 * supplementary (SO_PEERGROUPS, as the peer was at connect()). */
static bool peer_allowed(struct ctl_server *s, int fd, struct ucred *cred)
{
	gid_t small[64], *groups = small;
	socklen_t len = sizeof(*cred);
	bool ok = false;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cred, &len) < 0)
		return false;
	if (cred->uid == 0)
		return true;
	if (s->gid == (gid_t)-1)
		return false;
	if (cred->gid == s->gid)
		return true;
	len = sizeof(small);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0) {
		/* ERANGE tells the size needed */
		if (errno != ERANGE || !(groups = malloc(len)))
			return false;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0) {
			free(groups);
			return false;
		}
	}
	for (size_t i = 0; i < len / sizeof(gid_t); i++)
		ok = ok || groups[i] == s->gid;
	if (groups != small)
		free(groups);
	return ok;
}

/* At CTL_MAX_CLIENTS: the client quiet longest, if quiet for
 * CTL_EVICT_QUIET_S with nothing half-read or unsent, makes room. */
static bool server_evict(struct ctl_server *s)
{
	struct ctl_client *quiet = NULL;
	uint64_t now = now_usec();

	for (struct ctl_client *c = s->clients; c; c = c->next)
		if (!c->len && !client_queued(c) && (!quiet || c->active < quiet->active))
			quiet = c;
	if (!quiet || quiet->active + CTL_EVICT_QUIET_S * 1000000u > now)
		return false;
	/* A flood of connections would log one line each. */
	if (!s->warned || now - s->warned >= 10 * 1000000u) {
		client_drop(quiet, "%d clients connected, making room for a new one (no more such messages for 10 s)",
			    CTL_MAX_CLIENTS);
		s->warned = now;
	} else {
		client_free(quiet);
	}
	return true;
}

/* New connections wait in the kernel's backlog until a client leaves or
 * the retry timer fires, instead of the listener firing again at once. */
static void server_pause(struct ctl_server *s, const char *why)
{
	if (s->paused)
		return;
	s->paused = true;
	if (!s->warned || now_usec() - s->warned >= 10 * 1000000u) {
		log_warn("control socket: %s; new connections wait", why);
		s->warned = now_usec();
	}
	sd_event_source_set_enabled(s->src, SD_EVENT_OFF);
	sd_event_source_set_time(s->retry, now_usec() + CTL_ACCEPT_RETRY_MS * 1000u);
	sd_event_source_set_enabled(s->retry, SD_EVENT_ONESHOT);
}

static void server_resume(struct ctl_server *s)
{
	if (!s->paused || s->stopping)
		return;
	s->paused = false;
	sd_event_source_set_enabled(s->retry, SD_EVENT_OFF);
	sd_event_source_set_enabled(s->src, SD_EVENT_ON);
}

static int server_retry(sd_event_source *src, uint64_t usec, void *data)
{
	server_resume(data);
	return 0;
}

static int server_accept(sd_event_source *src, int fd, uint32_t events, void *data)
{
	struct ctl_server *s = data;
	struct ctl_client *c;
	struct ucred cred;
	char why[128];
	int cfd;

	if (s->n_clients >= CTL_MAX_CLIENTS && !server_evict(s)) {
		snprintf(why, sizeof(why), "%d clients connected, the most it serves at once",
			 CTL_MAX_CLIENTS);
		server_pause(s, why);
		return 0;
	}
	cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (cfd < 0) {
		if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
			return 0;
		/* EMFILE, ENFILE, ENOBUFS, ENOMEM: the connection stays
		 * pending and would wake us again at once. */
		snprintf(why, sizeof(why), "cannot accept: %s", strerror(errno));
		server_pause(s, why);
		return 0;
	}
	if (!peer_allowed(s, cfd, &cred)) {
		char deny[160];
		int n = snprintf(deny, sizeof(deny),
				 "{\"version\":1,\"ok\":false,\"error\":\"permission denied: root%s%s only\"}\n",
				 s->group[0] ? " or group " : "", s->group);

		send(cfd, deny, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
		close(cfd);
		return 0;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(cfd);
		return 0;
	}
	c->s = s;
	c->fd = cfd;
	c->pid = cred.pid;
	c->uid = cred.uid;
	c->active = now_usec();
	if (sd_event_add_io(s->d->ev, &c->src, cfd, EPOLLIN, client_io, c) < 0 ||
	    sd_event_add_time(s->d->ev, &c->timer, CLOCK_MONOTONIC, c->active + s->idle_usec,
			      1000000u, client_timer, c) < 0) {
		sd_event_source_disable_unref(c->src);
		close(cfd);
		free(c);
		return 0;
	}
	/* Requests read before timeouts are judged. */
	sd_event_source_set_priority(c->timer, SD_EVENT_PRIORITY_IDLE);
	c->next = s->clients;
	s->clients = c;
	s->n_clients++;
	return 0;
}

int ctl_idle_timeout(uint64_t *usec)
{
	uint64_t idle_s = CTL_IDLE_TIMEOUT_S;
	int rc = env_num("NETD_CTL_IDLE_TIMEOUT_S", "seconds", 1, 3600, &idle_s);

	if (rc < 0)
		return rc;
	*usec = idle_s * 1000000u;
	return 0;
}

int ctl_server_start(struct netd *d, const char *path, const char *group, uint64_t idle_usec,
		     struct ctl_server **out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct ctl_server *s;
	struct group *gr;
	char dir[sizeof(sa.sun_path)];
	gid_t fsgid = 0;
	int rc;

	if (strlen(path) >= sizeof(sa.sun_path))
		return err_set(-ENAMETOOLONG, "socket path too long: %s", path);
	s = calloc(1, sizeof(*s));
	if (!s)
		return err_set(-ENOMEM, "out of memory");
	s->d = d;
	s->idle_usec = idle_usec;
	snprintf(s->path, sizeof(s->path), "%s", path);
	/* config.c checked the name's characters: it is safe inside JSON */
	snprintf(s->group, sizeof(s->group), "%s", group ? group : "");
	gr = group && group[0] ? getgrnam(group) : NULL;
	s->gid = gr ? gr->gr_gid : (gid_t)-1;
	snprintf(dir, sizeof(dir), "%s", path);
	if (strrchr(dir, '/') && strrchr(dir, '/') != dir) {
		*strrchr(dir, '/') = '\0';
		mkdir_p(dir, 0755);
	}
	/* The socket is made in its group (the file system group it is bound
	 * with): no chown, so netd.service needs no CAP_CHOWN (CAP_SETGID,
	 * which it keeps for dnsmasq, covers setfsgid). */
	if (gr)
		fsgid = setfsgid(gr->gr_gid);
	s->fd = unix_listen(path, SOCK_STREAM, 0660);
	if (gr)
		setfsgid(fsgid);
	if (s->fd < 0) {
		rc = s->fd == -EADDRINUSE ?
			err_set(-EADDRINUSE, "%s: another netd is listening there", path) :
			err_set(s->fd, "%s: %s", path, strerror(-s->fd));
		free(s);
		return rc;
	}
	/* A setfsgid() refused (no CAP_SETGID) leaves root's group: try the
	 * old way, which needs CAP_CHOWN. */
	if (gr) {
		struct stat st;

		if (stat(path, &st) == 0 && st.st_gid != gr->gr_gid && chown(path, 0, gr->gr_gid) < 0)
			log_warn("%s: cannot give the socket to group %s: %s", path, group,
				 strerror(errno));
	}
	rc = sd_event_add_io(d->ev, &s->src, s->fd, EPOLLIN, server_accept, s);
	if (rc >= 0)
		rc = sd_event_add_time(d->ev, &s->retry, CLOCK_MONOTONIC, 0, 0, server_retry, s);
	if (rc >= 0)
		rc = sd_event_source_set_enabled(s->retry, SD_EVENT_OFF);
	if (rc < 0) {
		sd_event_source_disable_unref(s->src);
		sd_event_source_disable_unref(s->retry);
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
	s->stopping = true;
	while (s->clients)
		client_free(s->clients);
	sd_event_source_disable_unref(s->src);
	sd_event_source_disable_unref(s->retry);
	close(s->fd);
	unlink(s->path);
	free(s);
}
