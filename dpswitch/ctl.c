/* ctl: dpswitch's control socket, framed as netd's (docs/control.md): a
 * UNIX stream socket, root only (SO_PEERCRED), one JSON object per line
 * each way, "version" 1. Requests (docs/dpswitch.md):
 *
 *   {"cmd":"port-add","vif":"D.N","keys":{"mac":..,"ip":..},"antispoof":true,
 *    "gw":"Dom0's addresses and routers, never the guest's"}
 *   {"cmd":"port-del","vif":"D.N"}
 *   {"cmd":"status"}   ports with counters, MAC table size, moves
 *   {"cmd":"macs"}     the MAC table
 *   {"cmd":"watch"}    this connection is a watch (netd's, dpswitch/mode.c):
 *                      it may stay silent for as long as it likes
 *
 * Bad requests get {"version":1,"ok":false,"error":"..."} naming what is
 * wrong; nothing changes then. A port is found through netback's hash of
 * vifs: O(1).
 *
 * The switch never waits on a client: its loop forwards frames. A reply
 * larger than the socket takes at once (a big host's status or MAC table,
 * up to ~2 MB, where the socket takes ~200 KB) keeps its tail here and is
 * written as the client reads (POLLOUT); that client's next request is
 * read only once its reply is out, so a client holds one reply at most. A
 * client whose reply has not moved for CTL_STALL_US is dropped (it reads
 * nothing, and would keep its place among CTL_MAX_CLIENTS), and so is one
 * that sends more than a line's limit.
 *
 * A client that is not a watch and says nothing for the idle time
 * (DPS_CTL_IDLE_S) is dropped: a stray tool that connects and never
 * speaks would keep its place for ever. And with every place taken, a
 * new client takes the place of the one of those that has been silent
 * longest, if for CTL_EVICT_US at least: netd's requests are answered
 * even while strays hold the other places. Never one in the middle of a
 * request (part of a line read, or a request waiting unread in its
 * socket): it would lose the answer it waits for. */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <rte_mbuf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dpswitch/dps.h"
#include "lib/err.h"
#include "lib/log.h"
#include "lib/unix_listen.h"

#define CTL_MAX_CLIENTS DPS_CTL_CLIENTS /* dps.h: netd's watches and as many at once */
#define CTL_LINE_MAX 65536
/* long enough for a reader that is busy (netd between its own requests),
 * short enough that a stuck one does not keep its place for long */
#define CTL_STALL_US (10 * 1000000ull)
/* silent this long, a client that is not a watch gives its place to a
 * new one when none is free: long enough for a client to send the
 * request it connected for */
#define CTL_EVICT_US (1000000ull)

struct client {
	int fd;
	bool watch; /* it asked to be one ({"cmd":"watch"}): never idle */
	uint64_t heard_us; /* when it connected, sent or was sent something */
	/* the reply's tail the socket has not taken: out[out_off..out_len),
	 * NULL when there is none */
	char *out;
	size_t out_off, out_len;
	uint64_t out_moved_us; /* when the socket last took some of it */
	size_t len;
	char buf[CTL_LINE_MAX];
};

static struct client *clients[CTL_MAX_CLIENTS];
static uint64_t idle_us = DPS_CTL_IDLE_S * 1000000ull;

int dps_ctl_open(const char *path, uint64_t idle)
{
	int fd = unix_listen(path, SOCK_STREAM, 0600);

	if (fd < 0)
		return err_set(fd, "control socket %s: %s", path, strerror(-fd));
	idle_us = idle;
	return fd;
}

/* c may be dropped for saying nothing: not a watch, no reply of its
 * waiting (that has the stall's time instead). */
static bool may_idle(const struct client *c)
{
	return !c->watch && !c->out;
}

int dps_ctl_fds(int lfd, struct pollfd *pfd, unsigned max)
{
	unsigned n = 0;

	pfd[n++] = (struct pollfd){ .fd = lfd, .events = POLLIN };
	for (unsigned i = 0; i < CTL_MAX_CLIENTS && n < max; i++)
		if (clients[i])
			/* a client with a reply waiting is not read (see above) */
			pfd[n++] = (struct pollfd){ .fd = clients[i]->fd,
						    .events = clients[i]->out ? POLLOUT : POLLIN };
	return (int)n;
}

uint64_t dps_ctl_wait_us(uint64_t now_us)
{
	uint64_t wait = UINT64_MAX;

	for (unsigned i = 0; i < CTL_MAX_CLIENTS; i++) {
		uint64_t due;

		if (!clients[i] || (!clients[i]->out && !may_idle(clients[i])))
			continue;
		due = clients[i]->out ? clients[i]->out_moved_us + CTL_STALL_US
				      : clients[i]->heard_us + idle_us;
		if (due <= now_us)
			return 0;
		if (due - now_us < wait)
			wait = due - now_us;
	}
	return wait;
}

static void drop_client(unsigned i)
{
	close(clients[i]->fd);
	free(clients[i]->out);
	free(clients[i]);
	clients[i] = NULL;
}

/* r as one line, its length in *len; r is consumed. NULL: out of memory. */
static char *reply_line(json_t *r, size_t *len)
{
	char *s = json_dumps(r, JSON_COMPACT);

	json_decref(r);
	if (!s)
		return NULL;
	*len = strlen(s);
	s[(*len)++] = '\n'; /* json_dumps leaves room: the NUL becomes the newline */
	return s;
}

/* The last word to a client about to be dropped (or never kept): a short
 * error, which what the socket takes at once holds, or nothing. */
static void send_last(int fd, json_t *r)
{
	size_t len;
	char *s = reply_line(r, &len);

	if (s)
		send(fd, s, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	free(s);
}

/* What the socket takes now of c's reply; the rest waits for POLLOUT.
 * 0, or -errno when the client is gone. */
static int flush(struct client *c, uint64_t now_us)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
		c->out_off += (size_t)n;
		c->out_moved_us = now_us;
	}
	free(c->out);
	c->out = NULL;
	c->heard_us = now_us; /* its idle time starts with the reply out */
	return 0;
}

static int send_reply(struct client *c, json_t *r, uint64_t now_us)
{
	c->out = reply_line(r, &c->out_len);
	if (!c->out)
		return -ENOMEM;
	c->out_off = 0;
	c->out_moved_us = now_us;
	return flush(c, now_us);
}

static json_t *error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static json_t *error(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return json_pack("{s:i,s:b,s:s}", "version", 1, "ok", 0, "error", msg);
}

static json_t *ok(void)
{
	return json_pack("{s:i,s:b}", "version", 1, "ok", 1);
}

/* The vif's port: known to netback and probed (its bridge= is ours). */
static json_t *find(struct dps *d, json_t *req, struct nb_vif **out)
{
	json_t *jv = json_object_get(req, "vif");
	uint32_t domid, devid;
	struct nb_vif *v;

	if (!json_is_string(jv))
		return error("\"vif\": expected a string \"D.N\"");
	if (vif_id_parse(json_string_value(jv), &domid, &devid) < 0)
		return error("\"vif\": '%.32s': expected D.N", json_string_value(jv));
	v = nb_vif_get(&d->nb, domid, devid, false);
	if (!v || v->port < 0)
		return error("vif %u.%u: not served by dpswitch (no backend directory whose "
			     "bridge= is one of its networks, or not probed yet)",
			     domid, devid);
	*out = v;
	return NULL;
}

/* The policy a port-add asks for, applied to nv's port; NULL when done,
 * else the error reply. keep: record it for a restart (plugs.c). */
static json_t *apply_add(struct dps *d, struct nb_vif *nv, json_t *req, bool keep)
{
	json_t *keys = json_object_get(req, "keys"), *as = json_object_get(req, "antispoof"), *val;
	json_t *jgw = json_object_get(req, "gw");
	struct dps_policy pol;
	struct dps_port *p;
	struct vif v;
	const char *k;

	if (keys && !json_is_object(keys))
		return error("\"keys\": expected an object of vif keys");
	if (as && !json_is_boolean(as))
		return error("\"antispoof\": expected true or false");
	vif_init(&v, nv->domid, nv->devid);
	json_object_foreach(keys, k, val) {
		if (!json_is_string(val))
			return error("\"keys\": %.32s: expected a string", k);
		if (vif_set(&v, k, json_string_value(val)) < 0)
			return error("vif %u.%u: %s", nv->domid, nv->devid, err_msg());
	}
	if (jgw && !json_is_string(jgw))
		return error("\"gw\": expected a string of addresses");
	dps_pol_from_vif(&pol, &v, as ? json_is_true(as) : true);
	if (jgw && dps_pol_parse_gw(&pol, json_string_value(jgw)) < 0)
		return error("\"gw\": %s", err_msg());
	if (keep) {
		char *rec = json_dumps(req, JSON_COMPACT | JSON_SORT_KEYS);
		int rc = rec ? dps_plugs_record(nv->domid, nv->devid, rec) : -ENOMEM;

		free(rec);
		if (rc < 0)
			return error("vif %u.%u: not plugged, it cannot be kept: %s", nv->domid,
				     nv->devid, rc == -ENOMEM ? "out of memory" : err_msg());
	}
	p = &d->ports[nv->port];
	free(p->keys);
	p->keys = keys ? json_dumps(keys, JSON_COMPACT | JSON_SORT_KEYS) : strdup("{}");
	p->pol = pol;
	p->plugged = true;
	dps_port_update(d, (unsigned)nv->port);
	log_info("vif%u.%u: plugged (anti-spoofing %s)", nv->domid, nv->devid,
		 p->pol.guard ? "on" : "off");
	return NULL;
}

static json_t *port_add(struct dps *d, json_t *req)
{
	struct nb_vif *nv;
	json_t *e = find(d, req, &nv);

	if (!e)
		e = apply_add(d, nv, req, true);
	return e ? e : ok();
}

void dps_ctl_replug(struct dps *d, struct nb_vif *v)
{
	const char *rec = dps_plugs_find(v->domid, v->devid);
	json_t *req, *e;

	if (!rec)
		return;
	req = json_loads(rec, 0, NULL);
	e = req ? apply_add(d, v, req, false) : error("unreadable record");
	if (e) {
		log_warn("vif%u.%u: not plugged again: %s", v->domid, v->devid,
			 json_string_value(json_object_get(e, "error")));
		json_decref(e);
	}
	json_decref(req);
}

/* A port-del of a vif with no port (e, find's error): a plug kept by
 * --state for it, which would be plugged as soon as the vif is probed
 * (after a restart), is forgotten, and that is the answer; else e. netd's
 * check after a restart settles so at once a plug it gave up on that the
 * dpswitch gone carried out and kept (status's pending_plugs), rather
 * than wait for a vif that may come after it stopped looking. */
static json_t *forget_kept(json_t *req, json_t *e)
{
	uint32_t domid, devid;

	if (vif_id_parse(json_string_value(json_object_get(req, "vif")) ?: "", &domid, &devid) < 0 ||
	    !dps_plugs_find(domid, devid))
		return e;
	json_decref(e);
	if (dps_plugs_record(domid, devid, NULL) < 0)
		return error("vif %u.%u: its kept plug not forgotten: %s", domid, devid, err_msg());
	log_info("vif%u.%u: its kept plug forgotten (not probed yet)", domid, devid);
	return ok();
}

static json_t *port_del(struct dps *d, json_t *req)
{
	struct nb_vif *nv;
	json_t *e = find(d, req, &nv);
	struct dps_port *p;

	if (e)
		return forget_kept(req, e);
	p = &d->ports[nv->port];
	if (!p->plugged)
		return error("vif %u.%u: not plugged", nv->domid, nv->devid);
	if (dps_plugs_record(nv->domid, nv->devid, NULL) < 0)
		return error("vif %u.%u: not unplugged, it cannot be kept: %s", nv->domid,
			     nv->devid, err_msg());
	p->plugged = false;
	free(p->keys);
	p->keys = NULL;
	dps_port_update(d, (unsigned)nv->port);
	log_info("vif%u.%u: unplugged", nv->domid, nv->devid);
	return ok();
}

static json_t *port_json(const struct dps_port *p)
{
	json_t *drops = json_object();
	json_int_t mbufs = 0;

	for (unsigned i = 0; i < DPS_DROP_COUNT; i++)
		json_object_set_new(drops, dps_drop_name(i), json_integer((json_int_t)p->c.drops[i]));
	/* what waits for the port, and the pool's mbufs it holds (a frame
	 * every port floods counts in each) */
	for (unsigned i = 0; i < p->nout; i++)
		mbufs += p->outq[i]->nb_segs;
	return json_pack("{s:s,s:s,s:b,s:b,s:b,s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:o}",
			 "name", p->name,
			 "kind",
			 p->kind == DPS_PORT_NIC ? "nic" : "vif", "plugged", p->plugged,
			 "connected", p->connected, "forwarding", p->forwarding,
			 /* a guest that posts no buffers (DPSWITCH_RX_STALL_MS) */
			 "stalled", p->kind == DPS_PORT_GUEST && p->q.stalled, "stalls",
			 (json_int_t)p->c.stalls, "rx_packets",
			 (json_int_t)p->c.rx_pkts, "rx_bytes", (json_int_t)p->c.rx_bytes,
			 "tx_packets", (json_int_t)p->c.tx_pkts, "tx_bytes",
			 (json_int_t)p->c.tx_bytes, "tx_tso", (json_int_t)p->c.tx_tso, "holds",
			 (json_int_t)p->c.holds, "spurious_events", (json_int_t)p->c.spurious_events,
			 "queued", (json_int_t)p->nout, "queued_mbufs", mbufs, "drops", drops);
}

struct pending_arg {
	struct dps *d;
	json_t *a;
};

static void pending_one(uint32_t domid, uint32_t devid, void *arg)
{
	struct pending_arg *pa = arg;
	struct nb_vif *v = nb_vif_get(&pa->d->nb, domid, devid, false);
	char id[24];

	if (v && v->port >= 0)
		return; /* its port is in "ports", plugged from the record */
	snprintf(id, sizeof(id), "%u.%u", domid, devid);
	json_array_append_new(pa->a, json_string(id));
}

/* The vifs a record kept (--state) plugs as soon as they are probed,
 * which have no port yet: netd's check after a restart tells a port-add
 * it gave up on that the dpswitch gone carried out (kept here) from one
 * that came to nothing (no record, no port: settled at once). */
static json_t *pending_plugs(struct dps *d)
{
	struct pending_arg pa = { d, json_array() };

	dps_plugs_foreach(pending_one, &pa);
	return pa.a;
}

static json_t *status(struct dps *d)
{
	json_t *r = ok(), *ports = json_array(), *pj;

	/* the slots past nslots were never used (nor touched: dps.h) */
	for (unsigned i = 0; i < d->nslots; i++) {
		if (d->ports[i].kind == DPS_PORT_FREE)
			continue;
		pj = port_json(&d->ports[i]);
		/* a vif's network: netd's check of its own leaves the others' */
		if (pj && d->ports[i].bridge)
			json_object_set_new(pj, "bridge", json_string(d->ports[i].bridge));
		/* a plugged vif's keys, as its port-add gave them */
		if (pj && d->ports[i].plugged && d->ports[i].keys)
			json_object_set_new(pj, "keys", json_loads(d->ports[i].keys, 0, NULL));
		json_array_append_new(ports, pj);
	}
	json_object_set_new(r, "ports", ports);
	json_object_set_new(r, "pending_plugs", pending_plugs(d));
	json_object_set_new(r, "macs", json_integer(dps_mac_count(&d->macs, d->now_ms)));
	json_object_set_new(r, "mac_moves", json_integer((json_int_t)d->macs.moves));
	json_object_set_new(r, "flooded", json_integer((json_int_t)d->flooded));
	/* the loop's sleeps, and the windows of polling after frames that
	 * spared some (netback/spin.h) */
	json_object_set_new(r, "sleeps", json_integer((json_int_t)d->sleeps));
	json_object_set_new(r, "poll_windows", json_integer((json_int_t)d->spin.windows));
	json_object_set_new(r, "mbufs", json_integer(d->mbufs));
	json_object_set_new(r, "mbufs_free",
			    json_integer((json_int_t)rte_mempool_avail_count(d->pool)));
	/* while fewer than that are free, what a guest's queue holds at most */
	json_object_set_new(r, "mbufs_low", json_integer(d->pool_low));
	json_object_set_new(r, "held_share", json_integer(d->held_share));
	/* connections to xenstore opened again after xenstored went away
	 * or stopped answering (netback/watch.c): the guests' traffic went
	 * on meanwhile (main.c's xs_wait), this says it happened */
	json_object_set_new(r, "xenstore_reconnects", json_integer(d->nb.xs_reconnects));
	return r;
}

struct mac_arg {
	struct dps *d;
	json_t *a;
};

static void mac_one(uint64_t mac, uint16_t port, uint64_t age_ms, void *arg)
{
	struct mac_arg *m = arg;
	char s[18];

	snprintf(s, sizeof(s), "%02x:%02x:%02x:%02x:%02x:%02x", (unsigned)(mac >> 40) & 255,
		 (unsigned)(mac >> 32) & 255, (unsigned)(mac >> 24) & 255,
		 (unsigned)(mac >> 16) & 255, (unsigned)(mac >> 8) & 255, (unsigned)mac & 255);
	json_array_append_new(m->a, json_pack("{s:s,s:s,s:I}", "mac", s, "port",
					      m->d->ports[port].name, "age_ms",
					      (json_int_t)age_ms));
}

static json_t *macs(struct dps *d)
{
	json_t *r = ok();
	struct mac_arg m = { d, json_array() };

	dps_mac_foreach(&d->macs, d->now_ms, mac_one, &m);
	json_object_set_new(r, "macs", m.a);
	return r;
}

static json_t *handle(struct dps *d, const char *line, bool *watch)
{
	json_error_t je;
	json_t *req = json_loads(line, JSON_REJECT_DUPLICATES, &je), *ver, *cmd, *r;
	const char *c;

	if (!req)
		return error("malformed JSON: %s", je.text);
	if (!json_is_object(req)) {
		json_decref(req);
		return error("expected a JSON object");
	}
	ver = json_object_get(req, "version");
	cmd = json_object_get(req, "cmd");
	if (ver && (!json_is_integer(ver) || json_integer_value(ver) != 1))
		r = error("unsupported version: expected 1");
	else if (!json_is_string(cmd))
		r = error("\"cmd\": expected a string");
	else if (!strcmp((c = json_string_value(cmd)), "port-add"))
		r = port_add(d, req);
	else if (!strcmp(c, "port-del"))
		r = port_del(d, req);
	else if (!strcmp(c, "status"))
		r = status(d);
	else if (!strcmp(c, "macs"))
		r = macs(d);
	else if (!strcmp(c, "watch")) {
		*watch = true;
		r = ok();
	} else
		r = error("unknown command '%.32s' (port-add, port-del, status, macs, watch)", c);
	json_decref(req);
	return r;
}

/* c is in the middle of a request: part of a line read (the rest to
 * come), or what it sent waiting in its socket, unread (dpswitch was
 * busy or stopped; a new client is taken before the others are read).
 * Its silence is dpswitch's, not its own. */
static bool mid_request(const struct client *c)
{
	char b;

	return c->len || recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

/* Every place taken: the one of the client that is not a watch, is not
 * in the middle of a request and has said nothing for longest, if for
 * CTL_EVICT_US, made free; else CTL_MAX_CLIENTS. */
static unsigned evict(uint64_t now_us)
{
	unsigned found = CTL_MAX_CLIENTS;

	for (unsigned i = 0; i < CTL_MAX_CLIENTS; i++)
		if (clients[i] && may_idle(clients[i]) && !mid_request(clients[i]) &&
		    now_us - clients[i]->heard_us >= CTL_EVICT_US &&
		    (found == CTL_MAX_CLIENTS || clients[i]->heard_us < clients[found]->heard_us))
			found = i;
	if (found < CTL_MAX_CLIENTS) {
		log_warn("control socket: every place taken: dropping a client silent for %llu ms "
			 "(not a watch) for a new one",
			 (unsigned long long)((now_us - clients[found]->heard_us) / 1000u));
		send_last(clients[found]->fd, error("dropped: silent, and a new client needed "
						    "its place"));
		drop_client(found);
	}
	return found;
}

static void accept_one(int lfd, uint64_t now_us)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	unsigned i;

	if (fd < 0)
		return;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0 || cr.uid != 0) {
		send_last(fd, error("permission denied: root only"));
		close(fd);
		return;
	}
	for (i = 0; i < CTL_MAX_CLIENTS && clients[i]; i++)
		;
	if (i == CTL_MAX_CLIENTS)
		i = evict(now_us);
	if (i == CTL_MAX_CLIENTS || !(clients[i] = calloc(1, sizeof(*clients[i])))) {
		send_last(fd, error("too many clients"));
		close(fd);
		return;
	}
	clients[i]->fd = fd;
	clients[i]->heard_us = now_us;
}

/* The requests read and not answered yet, in order, until one's reply
 * waits for the client. 0, or -errno when the client is gone. */
static int answer(struct dps *d, struct client *c, uint64_t now_us)
{
	char *nl;

	while (!c->out && (nl = memchr(c->buf, '\n', c->len))) {
		size_t used = (size_t)(nl - c->buf) + 1;
		int rc = 0;

		*nl = '\0';
		if (c->buf[0])
			rc = send_reply(c, handle(d, c->buf, &c->watch), now_us);
		memmove(c->buf, c->buf + used, c->len - used);
		c->len -= used;
		c->buf[c->len] = '\0';
		if (rc < 0)
			return rc;
	}
	return 0;
}

static void serve(struct dps *d, unsigned i, uint64_t now_us)
{
	struct client *c = clients[i];
	ssize_t n;

	if (c->out) {
		if (flush(c, now_us) < 0) {
			drop_client(i);
			return;
		}
		if (c->out && now_us - c->out_moved_us >= CTL_STALL_US) {
			log_warn("control socket: dropping a client that reads nothing of its reply "
				 "(%zu bytes left) for %llu s", c->out_len - c->out_off,
				 CTL_STALL_US / 1000000ull);
			drop_client(i);
			return;
		}
	}
	/* requests that came with an earlier one, then what came since */
	if (answer(d, c, now_us) < 0) {
		drop_client(i);
		return;
	}
	if (c->out)
		return;
	n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len - 1, 0);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		drop_client(i);
		return;
	}
	if (n < 0) {
		if (may_idle(c) && now_us - c->heard_us >= idle_us) {
			log_warn("control socket: dropping a client silent for %llu s (not a watch)",
				 (unsigned long long)(idle_us / 1000000u));
			drop_client(i);
		}
		return;
	}
	c->heard_us = now_us;
	c->len += (size_t)n;
	c->buf[c->len] = '\0';
	if (answer(d, c, now_us) < 0) {
		drop_client(i);
		return;
	}
	if (!c->out && c->len >= sizeof(c->buf) - 1) {
		send_last(c->fd, error("message longer than %d bytes", CTL_LINE_MAX - 1));
		drop_client(i);
	}
}

void dps_ctl_run(struct dps *d, int lfd)
{
	struct pollfd pfd[CTL_MAX_CLIENTS + 1];
	int n = dps_ctl_fds(lfd, pfd, CTL_MAX_CLIENTS + 1);

	/* every client, not only those the poll names: one whose reply
	 * stalled is dropped on time (dps_ctl_wait_us). The clock is read
	 * for each: with one reading for the pass, a pass held up between
	 * two clients (a loaded host, SIGSTOP) made a client answered after
	 * it look silent for as long, and the next new client evicted it. */
	if (poll(pfd, (nfds_t)n, 0) > 0 && pfd[0].revents)
		accept_one(lfd, nb_now_us());
	for (unsigned i = 0; i < CTL_MAX_CLIENTS; i++)
		if (clients[i])
			serve(d, i, nb_now_us());
}
