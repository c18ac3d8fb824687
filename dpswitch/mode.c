/* mode: netd's side of a network with datapath = dpdk (mode = bridge). No
 * kernel bridge and nothing on the host: a vif online is a port-add over
 * dpswitch's control socket with the vif's keys and the network's
 * antispoof setting (and, for a vif without ip= or mac=, Dom0's addresses
 * and routers it may not claim, as netd's gw4/gw6 sets give the kernel
 * path), offline a port-del, status dpswitch's own status
 * (per-port counters and drops by reason). dpswitch runs beside netd as
 * its own service (`dpswitch --supervise`), the backend of the network's
 * vifs; a network whose dpswitch takes the request and does not answer
 * cannot go up. One whose dpswitch is not there yet (netd is not ordered
 * after it at boot) goes up waiting: plugs are queued, and the watch
 * (below) plugs the vifs netd holds once it answers (up_waiting). One
 * whose dpswitch is gone after it answered (restarting, crashed) waits
 * for it again the same way (watch_wait).
 *
 * Requests are synchronous with a 2 s limit: dpswitch answers from its
 * loop between bursts, in microseconds. One that did not answer in time
 * (stopped, wedged) is given 200 ms per request until it answers again:
 * every request waits in netd's loop, and a network of 50 vifs going down
 * would otherwise take 100 s. That it answers again netd learns by
 * itself, without waiting: the watch (below) sends one status request on
 * its connection and reads the reply whenever it comes. Else only a
 * request that succeeds within 200 ms would say so, and the first one
 * after a stall (a hotplug's port-add, on a loaded host) would fail.
 * A request netd gave up on is still in dpswitch's socket, and carried
 * out when it resumes: a late port-del does what netd wanted, but a late
 * port-add plugs a vif netd answered with an error and does not hold, or
 * replaces the keys of one it holds. So netd remembers each port-add it
 * gave up on (the vif and what it asked for; 64 at most, and none sent
 * beyond that until some are settled: a plug netd could not settle is
 * one it must not risk), and once dpswitch answers again the watch checks
 * its ports (below) and settles those: the port of a vif netd does not
 * hold is unplugged, that of one it holds plugged again with netd's keys
 * if the late ones were others (one dpswitch refuses to settle is kept,
 * shown by status and metrics, and tried again: watch_retry). Only those:
 * a port netd merely does not
 * know (plugged by hand, or by a netd whose state_dir is gone) is not
 * netd's to judge, nor another network's (status names a vif port's
 * bridge: one dpswitch may serve several). An answer to a later request
 * for the vif settles it too (dpswitch carried the late one out first).
 * From netd's loop, not in the request that heard the answer: the vif
 * that request plugs is not among the network's yet. The check's status
 * comes after what netd gave up on: dpswitch takes connections in order
 * and answers each as it takes it. A port that is not there was refused
 * the plug; unless the dpswitch that took it is gone since: one restarted
 * with --state plugs it from its file once it probes the vif. One it keeps
 * a plug for (its status's pending_plugs) is settled at once all the same:
 * of a vif netd does not hold, a port-del forgets the kept plug there
 * (the vif may come after netd stopped looking); of one it holds, its
 * port is checked with the others once it comes. One it keeps none for
 * came to nothing, and is forgotten at once (its place is a plug netd may
 * send). Only with a dpswitch too old to say is a port looked for, 30 s.
 * A network going down unplugs them first; one dpswitch refuses to keeps
 * the network up (down_strays). netd owns the ports of the vifs it holds:
 * each check gives one plugged with other keys (compared as sets:
 * keys_equal) netd's, whatever plugged it.
 *
 * A dpswitch started again without its --state file (by hand, on a fresh
 * tmpfs) has no port plugged, and its guests would stay cut off. So netd
 * holds one idle connection to the control socket while the network is
 * up (the watch), which says so ({"cmd":"watch"}: dpswitch drops a client
 * that says nothing for a while, but not a watch) and then nothing more:
 * dpswitch writes on it only that request's reply (and the probes',
 * above), so its end is dpswitch's end. Then netd connects again (every
 * 100 ms, then every second; a dpswitch that is not there refuses at
 * once, nothing waits) and, once it answers, asks for its ports and
 * plugs again each vif it knows whose port is there but unplugged, or
 * plugged with other keys than netd holds (status shows each port's: a
 * re-plug a netd killed waiting never answered, carried out late; so a
 * re-plug needs no journal intent, dps_replug_intent). A
 * dpswitch restarted with --state has them
 * plugged already and is asked nothing more. A port not there yet (the
 * new dpswitch has not probed its vif) is looked at again, for 30 s.
 * While dpswitch does not answer, the watch asks nothing that waits: the
 * probe above, and the check of its ports once the probe is answered. */
#include <errno.h>
#include <jansson.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "antispoof/as_gw.h"
#include "lib/err.h"
#include "lib/log.h"
#include "netd/mode.h"

#define DPS_MODE_TIMEOUT_MS 2000
#define DPS_MODE_WEDGED_MS 200
#define DPS_MODE_REPLY_MAX (4u << 20)
#define DPS_WATCH_FIRST_USEC (100 * 1000ull)
#define DPS_WATCH_MAX_USEC (1000 * 1000ull)
#define DPS_WATCH_PENDING_USEC (30 * 1000 * 1000ull)
/* Port-adds netd gave up on, remembered until a check settles them: a
 * flood of hotplugs while dpswitch is stopped costs netd no more. Full,
 * a port-add for another vif is refused without being sent (dps_vif_online). */
#define DPS_GAVE_UP_MAX 64
/* A settle dpswitch refused (its answer says why: a --state file it
 * cannot write): tried again after 1 s, doubling to 30 s, while it lasts */
#define DPS_RETRY_FIRST_USEC (1000 * 1000ull)
#define DPS_RETRY_MAX_USEC (30 * 1000 * 1000ull)

/* A port-add that went unanswered: dpswitch may carry it out late. */
struct dps_gave_up {
	uint32_t domid, devid;
	char *req; /* the request as sent (JSON, keys sorted): what netd asked for */
	/* dpswitch's connection lost since: carried out by the dpswitch gone,
	 * the plug may be in its --state file, for the next one to plug again
	 * once it probes the vif */
	bool lost;
	/* dpswitch refused the port-del or port-add that settles it (its
	 * error, as netdctl status shows it), or NULL: kept, and tried again */
	char *refused;
};

/* The watch of a network's dpswitch (net->priv). */
struct dps_watch {
	/* The network: refreshed by each up, which netd calls again on a
	 * network a reload keeps (and moves). */
	struct netd_net *net;
	sd_event *ev;
	int fd; /* connected to dpswitch, -1 while it is not */
	sd_event_source *io, *timer;
	uint64_t delay_usec;  /* before the next attempt */
	uint64_t sync_since;  /* when the current check began (CLOCK_MONOTONIC, us) */
	bool sync;            /* ports to check on the next tick */
	bool strays;          /* ... and settle the port-adds netd gave up on (gave_up) */
	bool lost;            /* not connected since a loss, logged once */
	int last_err;         /* of the last failed connect, logged once per cause */
	bool wedged;          /* a request went unanswered: short waits (request) */
	bool probing;         /* a status sent on fd, its reply not read yet */
	bool hello;           /* the reply to the watch request (watch_connect) not read yet */
	bool connected;       /* the last request reached dpswitch's socket (request) */
	/* its last status showed each plugged port's keys (and pending_plugs,
	 * which came with them): a re-plug needs no journal intent */
	bool port_keys;
	/* dpswitch has not answered since the network went up (its socket
	 * not there yet, or refusing: netd started before it, as at boot):
	 * plugs are queued, the vifs netd holds plugged once it answers
	 * (waiting_over); why: the last error, for status */
	bool waiting;
	/* ... again: it answered since the network went up, then was not
	 * there (stopped, restarting, crashed: watch_wait) */
	bool again;
	/* ... and has answered since: the plugs a previous netd left
	 * half-done (net->pending) are undone once this check ends, when
	 * dpswitch has probed their vifs (watch_sync, on_watch_timer) */
	bool undo;
	char why[128];
	char waiting_text[sizeof(((struct sockaddr_un *)0)->sun_path) + 256];
	bool down; /* the network going down: its strays settled as of no vif held */
	/* port-adds that went unanswered and no check has settled yet */
	struct dps_gave_up gave_up[DPS_GAVE_UP_MAX];
	unsigned n_gave_up;
	uint64_t retry_usec;  /* before the next try of a refused settle */
	/* the check's status was answered with a refusal (watch_sync), and
	 * the wait before it is asked again (watch_refused); 0: answered */
	bool status_refused;
	uint64_t refused_usec;
};

static int watch_probe(struct dps_watch *w);
static int watch_poll(struct dps_watch *w);
static void watch_arm(struct dps_watch *w, uint64_t usec);
static void waiting_over(struct dps_watch *w);
static void watch_retry(struct dps_watch *w, uint64_t now);
static int watch_settle(struct dps_watch *w, json_t *by, json_t *pending, unsigned *missing);
static void watch_wait(struct dps_watch *w, int err);

/* A request's system call ran out of its bound (SO_RCVTIMEO/SNDTIMEO:
 * EAGAIN): say so, wait less from now on (DPS_MODE_WEDGED_MS), and have
 * the watch ask, without waiting, to hear when it answers again. */
static void unanswered(struct dps_watch *w, const char *path, int bound_ms)
{
	err_set(-ETIMEDOUT, "dpswitch at %s: no answer within %d ms%s", path, bound_ms,
		w && w->wedged ? " (nor the last time: waiting less until it answers)" : "");
	if (!w)
		return;
	w->wedged = true;
	watch_probe(w);
}

/* The entry for vif domid.devid in w's port-adds given up on, or NULL. */
static struct dps_gave_up *gave_up_find(struct dps_watch *w, uint32_t domid, uint32_t devid)
{
	for (unsigned i = 0; i < w->n_gave_up; i++)
		if (w->gave_up[i].domid == domid && w->gave_up[i].devid == devid)
			return &w->gave_up[i];
	return NULL;
}

/* A port-add for domid.devid went unanswered: req (taken; never NULL,
 * both callers check it, watch_settle reads it) is what it asked for. A
 * later one for the same vif replaces it: dpswitch carries its requests
 * out in order, so the last is what its port ends with.
 * The caller made room (dps_vif_online). */
static void gave_up_note(struct dps_watch *w, uint32_t domid, uint32_t devid, char *req)
{
	struct dps_gave_up *g = gave_up_find(w, domid, devid);

	if (!g) {
		if (w->n_gave_up == DPS_GAVE_UP_MAX) {
			free(req);
			return;
		}
		/* afresh: the place a dropped entry left (gave_up_drop) holds
		 * its pointers still, freed or moved to another place */
		g = &w->gave_up[w->n_gave_up++];
		*g = (struct dps_gave_up){
			.domid = domid,
			.devid = devid,
			/* the watch not connected: which dpswitch took it is unknown */
			.lost = w->fd < 0,
		};
	} else {
		free(g->req);
	}
	g->req = req;
	/* what the port ends with is this one now: a refusal was of the last */
	free(g->refused);
	g->refused = NULL;
}

/* Settled: dpswitch answered a later request for the vif (carrying out
 * the late one before it, as it takes connections in order), or a check
 * put its port as netd wants it. */
static void gave_up_drop(struct dps_watch *w, uint32_t domid, uint32_t devid)
{
	struct dps_gave_up *g = gave_up_find(w, domid, devid);

	if (!g)
		return;
	free(g->req);
	free(g->refused);
	*g = w->gave_up[--w->n_gave_up];
}

/* Those dpswitch refused to settle (refused) in *refused: how many. */
static unsigned gave_up_refused(const struct dps_watch *w)
{
	unsigned n = 0;

	for (unsigned i = 0; i < w->n_gave_up; i++)
		n += w->gave_up[i].refused != NULL;
	return n;
}

/* Forgotten: all of them (all), or those not refused (a check over). */
static void gave_up_forget(struct dps_watch *w, bool all)
{
	for (unsigned i = 0; i < w->n_gave_up;) {
		struct dps_gave_up *g = &w->gave_up[i];

		if (g->refused && !all) {
			i++;
			continue;
		}
		gave_up_drop(w, g->domid, g->devid);
	}
}

static void gave_up_clear(struct dps_watch *w)
{
	gave_up_forget(w, true);
}

/* dpswitch answered (a request, or the watch's probe): the whole bound
 * again, said once. A port-add netd gave up on meanwhile is still in
 * dpswitch's socket and carried out now: for a vif netd answered with an
 * error and does not hold, or one it holds with other keys. The ports'
 * check settles each (watch_settle): only then, since a check is a
 * request (a dpswitch stopped again before it costs netd's loop the 2 s
 * once); and from netd's loop (on_watch_timer), not here: this turn may
 * be plugging a vif not among the network's yet (the request this reply
 * answers). */
static void answers_again(struct dps_watch *w)
{
	if (!w->wedged)
		return;
	log_info("%s: dpswitch at %s answers again", w->net->conf.name, w->net->conf.dpdk_socket);
	w->wedged = false;
	if (!w->n_gave_up)
		return; /* nothing can have come of the requests it missed */
	w->strays = true;
	if (!w->sync)
		sd_event_now(w->ev, CLOCK_MONOTONIC, &w->sync_since);
	w->sync = true;
	watch_arm(w, 0);
}

/* One request, one reply (new reference), or NULL with err_msg(). */
static json_t *request(const struct netd_net *net, json_t *req)
{
	const char *path = net->conf.dpdk_socket;
	struct dps_watch *w = net->priv; /* NULL before the network is up */
	int bound_ms;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv;
	char *line = json_dumps(req, JSON_COMPACT), *buf = NULL;
	size_t len = 0, cap = 0;
	json_t *reply = NULL;
	json_error_t je;
	int fd = -1;

	/* the probe's reply may be waiting unread (dpswitch resumed in the
	 * same turn of netd's loop as this request came): not 200 ms then */
	if (w && w->wedged)
		watch_poll(w);
	bound_ms = w && w->wedged ? DPS_MODE_WEDGED_MS : DPS_MODE_TIMEOUT_MS;
	if (w)
		w->connected = false;
	tv = (struct timeval){ .tv_sec = bound_ms / 1000, .tv_usec = bound_ms % 1000 * 1000 };
	json_decref(req);
	if (!line) {
		err_set(-ENOMEM, "out of memory");
		return NULL;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno == EAGAIN) /* its listen backlog full all along */
			unanswered(w, path, bound_ms);
		else
			err_set(-errno, "dpswitch at %s: %s", path, strerror(errno));
		goto out;
	}
	if (w) /* what is sent from now on may be carried out, answered or not */
		w->connected = true;
	if (send(fd, line, strlen(line), MSG_NOSIGNAL) < 0 || send(fd, "\n", 1, MSG_NOSIGNAL) < 0) {
		if (errno == EAGAIN)
			unanswered(w, path, bound_ms);
		else
			err_set(-errno, "dpswitch at %s: send: %s", path, strerror(errno));
		goto out;
	}
	while (!len || buf[len - 1] != '\n') {
		ssize_t n;

		if (len + 4096 > cap) {
			char *nb = cap < DPS_MODE_REPLY_MAX ? realloc(buf, cap + 65536) : NULL;

			if (!nb) {
				err_set(-EMSGSIZE, "dpswitch at %s: reply too long", path);
				goto out;
			}
			buf = nb;
			cap += 65536;
		}
		n = recv(fd, buf + len, cap - len - 1, 0);
		if (n < 0 && errno == EAGAIN) {
			unanswered(w, path, bound_ms);
			goto out;
		}
		if (n <= 0) {
			err_set(n < 0 ? -errno : -ECONNRESET, "dpswitch at %s: %s", path,
				n < 0 ? strerror(errno) : "closed without a reply");
			goto out;
		}
		len += (size_t)n;
	}
	buf[len] = '\0';
	if (w)
		answers_again(w);
	reply = json_loads(buf, 0, &je);
	if (!reply)
		err_set(-EPROTO, "dpswitch at %s: bad reply: %s", path, je.text);
out:
	if (fd >= 0)
		close(fd);
	free(line);
	free(buf);
	return reply;
}

/* A request whose reply must say ok: 0, or its error in err_msg(). */
static int call(const struct netd_net *net, json_t *req, json_t **result)
{
	json_t *r = request(net, req);
	int rc = 0;

	if (!r)
		return err_code();
	if (!json_is_true(json_object_get(r, "ok"))) {
		const char *e = json_string_value(json_object_get(r, "error"));

		rc = err_set(-EINVAL, "dpswitch: %s", e ? e : "request refused");
	}
	if (rc == 0 && result)
		*result = json_incref(r);
	json_decref(r);
	return rc;
}

static int watch_start(struct netd_net *net);

/* dpswitch is not up yet: its socket is not there (ENOENT: not started,
 * as at boot, where netd is not ordered after it) or nobody listens on
 * it (ECONNREFUSED: the file of one stopped or restarting). Not one that
 * takes the request and does not answer (wedged): that one holds plugs
 * netd cannot see, and a network up over it fails as before. */
static bool not_there_yet(int rc)
{
	return rc == -ENOENT || rc == -ECONNREFUSED;
}

/* The network up, waiting for its dpswitch (not_there_yet): the state
 * file written as any up's, the watch started, which connects once
 * dpswitch listens and then plugs the vifs netd holds (watch_sync,
 * waiting_over). Until then a plug is queued (dps_vif_online), an unplug
 * remembered (dps_vif_offline), and status says the network waits. */
static int up_waiting(struct netd_net *net, int err)
{
	struct dps_watch *w;
	int rc = net->checkpoint(net, "applied");

	if (rc < 0)
		return err_prefix(rc, "%s: datapath dpdk: state not saved", net->conf.name);
	rc = watch_start(net);
	if (rc < 0)
		return rc;
	w = net->priv;
	w->waiting = true;
	/* what netd's up left undone (net_up), for once dpswitch answers */
	w->undo = json_array_size(net->pending) > 0;
	snprintf(w->why, sizeof(w->why), "%s", strerror(-err));
	/* told once here: the watch's first failed connect would say it again */
	w->last_err = err;
	log_warn("%s: dpswitch at %s: %s; the network waits for it: vifs are queued and "
		 "plugged once it answers", net->conf.name, net->conf.dpdk_socket, w->why);
	return 0;
}

static int dps_up(struct netd_net *net, json_t *saved)
{
	struct dps_watch *w = net->priv;
	json_t *st = NULL;
	bool port_keys;
	int rc;

	/* a network a reload keeps is moved, its watch with it: the watch's
	 * callbacks must find it where it is now. Nothing more: it is up as
	 * it was, and its watch goes on (a dpswitch not answering now would
	 * fail the reload for nothing, and cost the 2 s in netd's loop) */
	if (w) {
		w->net = net;
		return 0;
	}
	rc = call(net, json_pack("{s:i,s:s}", "version", 1, "cmd", "status"), &st);
	if (not_there_yet(rc) && netd_net_event(net))
		return up_waiting(net, rc);
	if (rc < 0)
		return err_prefix(rc, "%s: datapath dpdk", net->conf.name);
	port_keys = json_object_get(st, "pending_plugs") != NULL;
	json_decref(st);
	/* the state file, as every mode's up writes one (netd_txn_apply):
	 * without it a netd started again reads no vif journal either, and
	 * forgets the network's vifs (the watch would not plug them again,
	 * and takes ports it does not hold for strays) */
	rc = net->checkpoint(net, "applied");
	if (rc < 0)
		return err_prefix(rc, "%s: datapath dpdk: state not saved", net->conf.name);
	rc = watch_start(net);
	if (rc == 0 && net->priv)
		((struct dps_watch *)net->priv)->port_keys = port_keys;
	return rc;
}

static json_t *vif_keys(const struct vif *v)
{
	json_t *k = json_object();
	char mac[VIF_MAC_STRLEN], ips[VIF_MAX_IPS * (INET6_ADDRSTRLEN + 1) + 1] = "";
	size_t off = 0;

	if (v->has_mac && vif_mac_format(v->mac, mac, sizeof(mac)) == 0)
		json_object_set_new(k, "mac", json_string(mac));
	for (unsigned i = 0; i < v->n_ips; i++) {
		char a[INET6_ADDRSTRLEN];

		inet_ntop(v->ips[i].family, &v->ips[i].addr, a, sizeof(a));
		off += (size_t)snprintf(ips + off, sizeof(ips) - off, "%s%s", i ? " " : "", a);
	}
	if (v->n_ips)
		json_object_set_new(k, "ip", json_string(ips));
	return k;
}

static json_t *port_req(const char *cmd, const struct vif *v)
{
	char id[24];

	snprintf(id, sizeof(id), "%u.%u", v->domid, v->devid);
	return json_pack("{s:i,s:s,s:s}", "version", 1, "cmd", cmd, "vif", id);
}

/* as_gw's list, space-separated as ip= is; NULL when out of memory. */
static json_t *gw_string(void)
{
	const struct as_gw *g = as_gw_get();
	char *buf = malloc(AS_GW_MAX * (INET6_ADDRSTRLEN + 1) + 1);
	size_t off = 0;
	json_t *j;

	if (!buf)
		return NULL;
	buf[0] = '\0';
	for (unsigned i = 0; i < g->n; i++) {
		if (!inet_ntop(g->ips[i].family, &g->ips[i].addr, buf + off, INET6_ADDRSTRLEN))
			continue;
		off += strlen(buf + off);
		buf[off++] = ' ';
		buf[off] = '\0';
	}
	if (off)
		buf[off - 1] = '\0';
	j = json_string(buf);
	free(buf);
	return j;
}

/* The port-add for v (new reference): its keys, the network's
 * antispoof setting, and Dom0's addresses for a vif without ip= or mac=. */
static json_t *add_req(const struct netd_net *net, const struct vif *v)
{
	json_t *req = port_req("port-add", v);

	json_object_set_new(req, "keys", vif_keys(v));
	json_object_set_new(req, "antispoof", json_boolean(net->conf.antispoof));
	if (net->conf.antispoof && (!v->n_ips || !v->has_mac))
		json_object_set_new(req, "gw", gw_string());
	return req;
}

/* req as text, keys sorted (what a check compares); NULL when out of
 * memory. */
static char *req_text(const json_t *req)
{
	return req ? json_dumps(req, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
}

/* The port-add for v. settle: what a late one would have asked for is
 * kept if it goes unanswered, and with no room to keep it, it is not sent
 * (a plug netd could not settle later is one it must not risk). The
 * watch's plug again of a vif with the keys netd holds needs neither:
 * carried out late, it plugs what netd holds (and a full list of plugs
 * given up on must not keep the network's own vifs cut off). */
static int port_add(struct netd_net *net, const struct vif *v, bool settle)
{
	struct dps_watch *w = settle ? net->priv : NULL;
	char *text = NULL;
	json_t *req;
	int rc;

	if (w && !gave_up_find(w, v->domid, v->devid) && w->n_gave_up == DPS_GAVE_UP_MAX) {
		unsigned refused = gave_up_refused(w);

		if (refused)
			return err_set(-EBUSY, "%s: dpswitch at %s left %u plugs unsettled (%u "
				       "refused to be undone: netdctl status); no more until they "
				       "are", v->ifname, net->conf.dpdk_socket, w->n_gave_up,
				       refused);
		return err_set(-EBUSY, "%s: dpswitch at %s left %u plugs unanswered; no more "
			       "until it answers again", v->ifname, net->conf.dpdk_socket,
			       w->n_gave_up);
	}
	req = add_req(net, v);
	if (w && !(text = req_text(req))) {
		json_decref(req);
		return err_set(-ENOMEM, "%s: out of memory", v->ifname);
	}
	rc = call(net, req, NULL);
	/* unanswered, or the connection closed without a reply: a dpswitch
	 * killed after it plugged the vif (and kept it in its --state) */
	if (w && (rc == -ETIMEDOUT || rc == -ECONNRESET) && w->connected) {
		gave_up_note(w, v->domid, v->devid, text); /* watch_settle looks at it */
		text = NULL;
	} else if (net->priv && (rc == 0 || rc == -EINVAL)) {
		/* answered: the late one came first */
		gave_up_drop(net->priv, v->domid, v->devid);
	}
	free(text);
	return rc < 0 ? err_prefix(rc, "%s", v->ifname) : 0;
}

/* A plug while the network waits for dpswitch: queued, netd holds it,
 * and the watch plugs it with the keys netd holds once dpswitch answers
 * (watch_sync); a port-add given up on for it before is moot. */
static int online_waiting(struct netd_net *net, struct dps_watch *w, const struct vif *v)
{
	gave_up_drop(w, v->domid, v->devid);
	log_info("%s: %s queued: dpswitch at %s has not answered yet; plugged once it does",
		 net->conf.name, v->ifname, net->conf.dpdk_socket);
	return 0;
}

static int dps_vif_online(struct netd_net *net, const struct vif *v)
{
	struct dps_watch *w = net->priv;
	int rc;

	if (v->emu)
		return err_set(-EOPNOTSUPP, "%s: an emulated NIC (QEMU's tap) cannot join datapath dpdk",
			       v->ifname);
	if (w && w->waiting)
		return online_waiting(net, w, v);
	rc = port_add(net, v, true);
	/* dpswitch gone since it answered (a restart: systemd starts it
	 * again within 200 ms; a crash): as at up, the network waits */
	if (w && not_there_yet(rc)) {
		watch_wait(w, rc);
		return online_waiting(net, w, v);
	}
	return rc;
}

/* An unplug while the network waits for dpswitch: the port of a vif
 * plugged before (by a previous netd, or by the dpswitch that is gone)
 * may be in the --state file of the dpswitch to come, which plugs it
 * again. netd's journal keeps it as the intent of a plug to undo (netd
 * writes it after the vif's record: netd_vif_offline), so that this netd
 * once dpswitch answers, or the next one if this one is killed first,
 * unplugs it (pending_undo), once dpswitch has probed the vif (undo). */
static int offline_waiting(struct netd_net *net, struct dps_watch *w, const struct vif *v)
{
	w->undo = true;
	log_info("%s: %s unplugged while dpswitch at %s does not answer; its port, if "
		 "plugged, is unplugged once it does", net->conf.name, v->ifname,
		 net->conf.dpdk_socket);
	return 0;
}

/* The port-del for v: 0 once dpswitch answered, whatever it said (gone
 * already: not plugged, or the vif gone from dpswitch with its domain, is
 * what an unplug wants), else -errno (err_msg()). */
static int port_del(struct netd_net *net, const struct vif *v)
{
	json_t *r = request(net, port_req("port-del", v));

	if (!r)
		return err_prefix(err_code(), "%s", v->ifname);
	json_decref(r);
	if (net->priv) /* answered: a late port-add for it came before, and is undone */
		gave_up_drop(net->priv, v->domid, v->devid);
	return 0;
}

static int dps_vif_offline(struct netd_net *net, const struct vif *v)
{
	struct dps_watch *w = net->priv;
	int rc;

	/* an emulated NIC never joins (dps_vif_online): its port-del would
	 * name its PV vif, D.N, and unplug that one (a refused plug's intent
	 * undone at netd's next start) */
	if (v->emu)
		return 0;
	if (w && w->waiting)
		return offline_waiting(net, w, v);
	rc = port_del(net, v);
	/* gone since it answered (restarting, crashed): as at up */
	if (w && not_there_yet(rc)) {
		watch_wait(w, rc);
		return offline_waiting(net, w, v);
	}
	return rc;
}

/* Why a network waiting for dpswitch does not go down (dps_down). */
static int down_refused(struct netd_net *net, struct dps_watch *w)
{
	return err_set(-EAGAIN, "%s: datapath dpdk: dpswitch at %s has not answered since %s "
		       "(%s): the plugs of its %u vif%s cannot be undone; the network stays up, "
		       "waiting for it", net->conf.name, net->conf.dpdk_socket,
		       w->again ? "it was lost" : "the network went up", w->why, net->n_vifs,
		       net->n_vifs == 1 ? "" : "s");
}

static void watch_stop(struct netd_net *net);
static int down_strays(struct dps_watch *w);

static int dps_down(struct netd_net *net)
{
	struct dps_watch *w = net->priv;
	int rc;

	/* Waiting for a dpswitch that never answered: the vifs a previous
	 * netd plugged may be in the --state file of the one to come, and
	 * nothing can unplug them now. Refused, the record kept (for the
	 * next netd, or a down once dpswitch answers). Nothing to undo, the
	 * network goes. */
	if (w && w->waiting && (net->vifs || w->n_gave_up || json_array_size(net->pending)))
		return down_refused(net, w);
	/* first the port-adds netd gave up on, which the watch would have
	 * settled: unplugged as of no vif held. One dpswitch refuses to
	 * unplug keeps the network up as it was (nothing else undone yet) */
	rc = w ? down_strays(w) : 0;
	if (rc < 0)
		return rc;
	/* answered since, the plugs a previous netd left half-done still to
	 * undo (undo: their vifs not probed yet): undone now, as far as
	 * dpswitch has their ports, rather than forgotten with the record */
	if (w && w->undo) {
		w->undo = false;
		netd_net_undo_pending(net);
		/* gone meanwhile (restarting): those are kept, for then */
		if (w->waiting)
			return down_refused(net, w);
	}
	/* the watch last: it carries a wedged dpswitch's short waits. One
	 * gone since it answered (restarting) may plug them again from its
	 * --state: refused as while waiting (those unplugged already are
	 * plugged again once it answers: the network stays as it was) */
	for (struct netd_vif *v = net->vifs; v; v = v->next) {
		rc = v->vif.emu ? 0 : port_del(net, &v->vif);
		if (w && not_there_yet(rc)) {
			watch_wait(w, rc);
			return down_refused(net, w);
		}
	}
	watch_stop(net);
	return 0;
}

/* A dpswitch serving several networks (--bridge, repeated) reports every
 * vif port: this network's status, and so its metrics, keep the vifs whose
 * `bridge` is this network, and the NIC ports the networks share. */
static void own_ports(const struct netd_net *net, json_t *status)
{
	json_t *ports = json_object_get(status, "ports"), *p;
	size_t i;

	json_array_foreach(ports, i, p) {
		const char *bridge = json_string_value(json_object_get(p, "bridge"));

		if (bridge && strcmp(bridge, net->conf.name)) {
			json_array_remove(ports, i);
			i--;
		}
	}
}

/* The plugs netd gave up on whose settle dpswitch refused: each
 * "vifD.N: why" (the text view prints string lists), and how many (the
 * metric netd_dpswitch_unsettled_plugs). Shown whether dpswitch answers
 * or not: it is what netd knows. */
static void unsettled(const struct dps_watch *w, json_t *st)
{
	json_t *list = json_array();
	unsigned n = 0;

	for (unsigned i = 0; w && i < w->n_gave_up; i++) {
		const struct dps_gave_up *g = &w->gave_up[i];
		char line[640];

		if (!g->refused)
			continue;
		snprintf(line, sizeof(line), "vif%u.%u: %s", g->domid, g->devid, g->refused);
		json_array_append_new(list, json_string(line));
		n++;
	}
	json_object_set_new(st, "unsettled_plugs", json_integer(n));
	if (n)
		json_object_set_new(st, "unsettled", list);
	else
		json_decref(list);
}

/* For `netdctl status`: one line of counters per port (the text view
 * prints string lists), and dpswitch's whole status for --json. */
static json_t *dps_status(struct netd_net *net)
{
	json_t *st = json_pack("{s:s,s:s,s:s}", "datapath", "dpdk", "dpdk_socket",
			       net->conf.dpdk_socket, "antispoof", net->conf.antispoof ? "yes" : "no");
	json_t *r = NULL, *ports = json_array(), *counters = json_array(), *p;
	size_t i;

	unsettled(net->priv, st);

	if (call(net, json_pack("{s:i,s:s}", "version", 1, "cmd", "status"), &r) < 0) {
		json_object_set_new(st, "dpswitch_error", json_string(err_msg()));
		json_decref(ports);
		json_decref(counters);
		return st;
	}
	own_ports(net, r);
	json_array_foreach(json_object_get(r, "ports"), i, p) {
		const char *name = json_string_value(json_object_get(p, "name"));
		json_t *drops = json_object_get(p, "drops"), *n;
		char line[512];
		const char *k;
		int off;

		json_array_append_new(ports, json_string(name ? name : "?"));
		off = snprintf(line, sizeof(line), "%s:rx=%lld/%lldB:tx=%lld/%lldB", name ? name : "?",
			       json_integer_value(json_object_get(p, "rx_packets")),
			       json_integer_value(json_object_get(p, "rx_bytes")),
			       json_integer_value(json_object_get(p, "tx_packets")),
			       json_integer_value(json_object_get(p, "tx_bytes")));
		json_object_foreach(drops, k, n)
			if (json_integer_value(n) && off > 0 && (size_t)off < sizeof(line))
				off += snprintf(line + off, sizeof(line) - (size_t)off, ":%s=%lld", k,
						json_integer_value(n));
		for (unsigned c = 0; c < 2; c++) {
			static const char *const more[] = { "holds", "spurious_events" };

			n = json_object_get(p, more[c]);
			if (json_integer_value(n) && off > 0 && (size_t)off < sizeof(line))
				off += snprintf(line + off, sizeof(line) - (size_t)off, ":%s=%lld",
						more[c], json_integer_value(n));
		}
		json_array_append_new(counters, json_string(line));
	}
	json_object_set_new(st, "ports", ports);
	json_object_set_new(st, "port_counters", counters);
	/* how often dpswitch lost xenstored and found it again: on the
	 * network's line of the text view too */
	if (json_is_integer(json_object_get(r, "xenstore_reconnects")))
		json_object_set(st, "dpswitch_xenstore_reconnects",
				json_object_get(r, "xenstore_reconnects"));
	json_object_set(st, "dpswitch", r);
	json_decref(r);
	return st;
}

static json_t *dps_save(struct netd_net *net)
{
	return json_object();
}

static void dps_free(struct netd_net *net)
{
	watch_stop(net);
}

/* ---- the watch ---- */

static void watch_close(struct dps_watch *w)
{
	w->io = sd_event_source_disable_unref(w->io);
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	w->probing = false; /* gone with its connection */
}

/* dpswitch's end of the watch: it stopped (or dropped netd). */
static void watch_lost(struct dps_watch *w)
{
	watch_close(w);
	if (!w->lost)
		log_warn("%s: dpswitch at %s: connection lost (stopped or restarted); netd plugs "
			 "the network's vifs again when it answers", w->net->conf.name,
			 w->net->conf.dpdk_socket);
	w->lost = true;
	w->last_err = 0;
	w->sync = false;
	for (unsigned i = 0; i < w->n_gave_up; i++)
		w->gave_up[i].lost = true;
	w->delay_usec = DPS_WATCH_FIRST_USEC;
	watch_arm(w, w->delay_usec);
}

/* What dpswitch wrote on the watch's connection, read to the end of
 * what is there: 1 if a reply to a probe ended in it (a line: dpswitch
 * answers one per request, the watch request's first), 0 if not, -1 at
 * the connection's end (end of file, an error), which stays readable for
 * on_watch_io. */
static int watch_read(struct dps_watch *w)
{
	char buf[4096];
	int replied = 0;

	for (;;) {
		ssize_t n = recv(w->fd, buf, sizeof(buf), MSG_DONTWAIT);

		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] != '\n')
				continue;
			if (w->hello)
				w->hello = false;
			else
				replied = 1;
		}
		if (n > 0 || (n < 0 && errno == EINTR))
			continue;
		return n < 0 && errno == EAGAIN ? replied : -1;
	}
}

/* While wedged (request), a reply on the watch's connection since then is
 * dpswitch answering again. 0, or -1 at the connection's end. */
static int watch_poll(struct dps_watch *w)
{
	int rc = w->fd >= 0 ? watch_read(w) : 0;

	if (rc <= 0)
		return rc;
	w->probing = false;
	answers_again(w);
	if (w->sync) {
		/* the ports' check waited for it (on_watch_timer): now, and
		 * its 30 s for ports not there yet count from now */
		sd_event_now(w->ev, CLOCK_MONOTONIC, &w->sync_since);
		watch_arm(w, 0);
	}
	return 0;
}

/* One status request on the watch's connection, not waited for: its reply
 * (watch_poll) says dpswitch answers again. Status because it is what up
 * asks to learn whether dpswitch answers: it changes nothing there, and
 * dpswitch builds it in its loop like any other request. One at a time,
 * and on the connection the watch holds anyway: a dpswitch stopped for
 * good finds one line more in its socket, no connection more, however
 * many requests time out. 0, or -errno if it could not be sent. */
static int watch_probe(struct dps_watch *w)
{
	static const char req[] = "{\"version\":1,\"cmd\":\"status\"}\n";

	if (w->fd < 0)
		return 0; /* the watch connects again and probes then */
	/* a reply that came before the request that just went unanswered
	 * (to an earlier probe) says nothing of now */
	if (watch_read(w) > 0)
		w->probing = false;
	if (w->probing)
		return 0;
	if (send(w->fd, req, sizeof(req) - 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		return -errno; /* its end, which on_watch_io sees */
	w->probing = true;
	return 0;
}

static int on_watch_io(sd_event_source *s, int fd, uint32_t revents, void *data)
{
	struct dps_watch *w = data;

	/* dpswitch writes on this connection only the replies to the watch
	 * request and the probes: anything else (end of file, an error) is
	 * its end */
	if (watch_poll(w) < 0)
		watch_lost(w);
	return 0;
}

/* A non-blocking connect: on a UNIX socket it is done or refused at once.
 * The connection says at once that it is a watch: dpswitch drops a client
 * that is not one and says nothing for a while (DPS_CTL_IDLE_S). Its
 * reply, the connection's first line, is read and left aside (hello):
 * only a probe's reply says that dpswitch answers again (watch_poll). */
static int watch_connect(struct dps_watch *w)
{
	static const char req[] = "{\"version\":1,\"cmd\":\"watch\"}\n";
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, rc;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", w->net->conf.dpdk_socket);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    send(fd, req, sizeof(req) - 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	rc = sd_event_add_io(w->ev, &w->io, fd, EPOLLIN | EPOLLRDHUP, on_watch_io, w);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	w->fd = fd;
	w->hello = true;
	return 0;
}

/* The watch's ports, "vifD.N", as a JSON object by name (new reference),
 * from a status reply. */
static json_t *ports_by_name(json_t *status)
{
	json_t *by = json_object(), *p;
	size_t i;

	json_array_foreach(json_object_get(status, "ports"), i, p) {
		const char *name = json_string_value(json_object_get(p, "name"));

		if (name)
			json_object_set(by, name, p);
	}
	return by;
}

/* The vifs a status says dpswitch plugs from its --state records once it
 * probes them ("pending_plugs", "D.N"), as a JSON object by id (new
 * reference); NULL from a dpswitch that does not say (older). */
static json_t *pending_by_id(json_t *status)
{
	json_t *list = json_object_get(status, "pending_plugs"), *by, *id;
	size_t i;

	if (!json_is_array(list))
		return NULL;
	by = json_object();
	json_array_foreach(list, i, id)
		if (json_is_string(id))
			json_object_set_new(by, json_string_value(id), json_true());
	return by;
}

/* The vif the network holds as domid.devid, or NULL. */
static const struct vif *held_vif(const struct netd_net *net, uint32_t domid, uint32_t devid)
{
	for (const struct netd_vif *nv = net->vifs; nv; nv = nv->next)
		if (!nv->vif.emu && nv->vif.domid == domid && nv->vif.devid == devid)
			return &nv->vif;
	return NULL;
}

/* ip in ips[0..n): the same address, however written. */
static bool ip_in(const struct vif_ip *ip, const struct vif_ip *ips, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (ips[i].family == ip->family &&
		    !memcmp(&ips[i].addr, &ip->addr,
			    ip->family == AF_INET ? sizeof(ip->addr.v4) : sizeof(ip->addr.v6)))
			return true;
	return false;
}

/* keys (a port-add's "keys", as dpswitch shows or netd asked them) say what
 * v's say: the same MAC, and the same addresses as a set, whatever their
 * order or spelling (a vif's ip= seen in another order after a reload is
 * the same policy: dpswitch builds it from the set). Keys of which netd
 * sends none, or that do not parse, differ. */
static bool keys_equal(json_t *keys, const struct vif *v)
{
	struct vif k;
	const char *name;
	json_t *val;

	if (!json_is_object(keys))
		return false;
	vif_init(&k, v->domid, v->devid);
	json_object_foreach(keys, name, val) {
		if ((strcmp(name, "mac") && strcmp(name, "ip")) || !json_is_string(val) ||
		    vif_set(&k, name, json_string_value(val)) < 0)
			return false;
	}
	if (k.has_mac != v->has_mac || (k.has_mac && memcmp(k.mac, v->mac, sizeof(k.mac))))
		return false;
	for (unsigned i = 0; i < k.n_ips; i++)
		if (!ip_in(&k.ips[i], v->ips, v->n_ips))
			return false;
	for (unsigned i = 0; i < v->n_ips; i++)
		if (!ip_in(&v->ips[i], k.ips, k.n_ips))
			return false;
	return true;
}

/* names of the plugs w gave up on, "vifD.N: why" for those refused
 * (refused_only), into buf. */
static void gave_up_names(const struct dps_watch *w, bool refused_only, char *buf, size_t size)
{
	size_t off = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < w->n_gave_up && off < size; i++) {
		const struct dps_gave_up *g = &w->gave_up[i];

		if (refused_only && !g->refused)
			continue;
		off += (size_t)snprintf(buf + off, size - off, "%svif%u.%u%s%s", off ? ", " : "",
					g->domid, g->devid, refused_only ? ": " : "",
					refused_only ? g->refused : "");
	}
}

/* The network going down: each port-add netd gave up on unplugged (a
 * check of its ports, as of no vif held: watch_settle). One dpswitch
 * refuses to unplug (its --state file it cannot write) would stay
 * plugged after the network is gone, a guest netd answered with an error
 * forwarding, which nothing of netd would show: refused, the network up
 * as it was, the plug shown by status and tried again (watch_retry). A
 * dpswitch that does not answer cannot be asked: said, naming them, and
 * forgotten with the network (one restarted without --state plugs none). */
static int down_strays(struct dps_watch *w)
{
	struct netd_net *net = w->net;
	json_t *st = NULL, *by = NULL, *pending = NULL;
	unsigned missing = 0, refused;
	char names[512];
	uint64_t now = 0;
	int rc;

	if (!w->n_gave_up)
		return 0;
	rc = w->wedged ? err_set(-ETIMEDOUT, "dpswitch at %s does not answer",
				 net->conf.dpdk_socket)
		       : call(net, json_pack("{s:i,s:s}", "version", 1, "cmd", "status"), &st);
	if (rc == 0) {
		by = ports_by_name(st);
		pending = pending_by_id(st);
		json_decref(st);
		w->down = true;
		rc = by ? watch_settle(w, by, pending, &missing)
			: err_set(-ENOMEM, "out of memory");
		w->down = false;
		json_decref(by);
		json_decref(pending);
	}
	/* gone since it answered (restarting): refused as while waiting */
	if (not_there_yet(rc)) {
		watch_wait(w, rc);
		return down_refused(net, w);
	}
	if (rc < 0) {
		gave_up_names(w, false, names, sizeof(names));
		log_warn("%s: going down: %s; %u port-add%s netd gave up on may stay plugged there: "
			 "%s", net->conf.name, err_msg(), w->n_gave_up, w->n_gave_up == 1 ? "" : "s",
			 names);
		return 0;
	}
	refused = gave_up_refused(w);
	if (!refused)
		return 0;
	gave_up_names(w, true, names, sizeof(names));
	sd_event_now(w->ev, CLOCK_MONOTONIC, &now);
	if (!w->retry_usec)
		watch_retry(w, now);
	return err_set(-EBUSY, "%s: not taken down: dpswitch refuses to unplug %u port%s netd gave "
		       "up on (%s); the network stays up, and netd tries again (netdctl status)",
		       net->conf.name, refused, refused == 1 ? "" : "s", names);
}

/* Port p (of a status) is plugged with other keys than v's: a port-add
 * netd did not answer carried out (a re-plug of a netd killed waiting for
 * it, a late one it gave up on), or one by hand: netd owns the ports of
 * the vifs it holds, and each check puts its keys back. A dpswitch that
 * does not show a port's keys says nothing of them. */
static bool other_keys(json_t *p, const struct vif *v)
{
	json_t *keys = json_object_get(p, "keys");

	if (!json_is_true(json_object_get(p, "plugged")) || !json_is_object(keys))
		return false;
	return !keys_equal(keys, v);
}

/* asked (a port-add netd gave up on, as sent) is what mine (netd's for v
 * now) asks: the same keys as sets (keys_equal), antispoof and gw. */
static bool same_plug(const char *asked, json_t *mine, const struct vif *v)
{
	json_t *a = json_loads(asked, 0, NULL);
	bool same = a && keys_equal(json_object_get(a, "keys"), v);

	for (unsigned i = 0; same && i < 2; i++) {
		static const char *const more[] = { "antispoof", "gw" };
		json_t *x = json_object_get(a, more[i]), *y = json_object_get(mine, more[i]);

		same = x && y ? json_equal(x, y) : x == y;
	}
	json_decref(a);
	return same;
}

/* Settle each port-add netd gave up on by the ports by (ports_by_name),
 * which dpswitch listed after carrying it out:
 * - a vif netd does not hold, its port plugged: unplugged (the hotplug
 *   was answered with an error);
 * - a vif netd holds, its port plugged with what netd asked for then, if
 *   that is not what netd holds: plugged again with netd's (a port-add
 *   replaces a plugged port's policy);
 * - a port of another network, or unplugged, or plugged with netd's own:
 *   nothing to do.
 * Only these: a port netd merely does not know (plugged by hand, or by a
 * netd whose state_dir is gone) is not netd's to judge. A port not there
 * was refused the plug, unless dpswitch restarted since (lost): then the
 * new one may keep a record of it (pending, pending_by_id), to plug it
 * from its file as soon as it probes its vif. Kept, of a vif netd does
 * not hold: a port-del forgets the record there; of one it holds: the
 * check of its port (watch_sync) looks after it. No record, nothing came
 * of it: settled at once, its place free for a new plug (an older
 * dpswitch, pending NULL, does not say: remembered, counted in *missing,
 * looked for 30 s). With w->down (the network going down) none is held.
 * 0, or -errno when dpswitch does not answer (err_msg()). */
static int watch_settle(struct dps_watch *w, json_t *by, json_t *pending, unsigned *missing)
{
	struct netd_net *net = w->net;
	unsigned n = 0, put = 0, none = 0, nkept = 0;
	char names[256] = "", back[256] = "", knames[256] = "";
	size_t off = 0, boff = 0, koff = 0;
	int rc = 0;

	for (unsigned i = 0; i < w->n_gave_up;) {
		struct dps_gave_up *g = &w->gave_up[i];
		uint32_t domid = g->domid, devid = g->devid;
		/* the network going down holds none of them (dps_down) */
		const struct vif *h = w->down ? NULL : held_vif(net, domid, devid);
		bool kept;
		const char *bridge;
		char name[32], *mine;
		struct vif v;
		json_t *p;

		snprintf(name, sizeof(name), "vif%u.%u", domid, devid);
		p = json_object_get(by, name);
		/* the dpswitch restarted since keeps it (--state), to plug as
		 * soon as it probes the vif */
		kept = !p && g->lost && pending && json_object_get(pending, name + 3);
		if (!p && g->lost && !pending) {
			/* a dpswitch too old to say whether it keeps one:
			 * looked for until its port comes, or for 30 s */
			(*missing)++;
			i++;
			continue;
		}
		if (kept && h) {
			/* the vif netd holds: its port, once probed, is checked
			 * with the others (watch_sync: plugged, with netd's keys),
			 * and for as long; nothing more to remember */
			gave_up_drop(w, domid, devid);
			continue;
		}
		if (!p && !kept) {
			/* the dpswitch that took it has no such port: it refused
			 * the plug, and keeps no record of it; or (lost) the one
			 * restarted since keeps none: nothing came of it */
			none += g->lost;
			gave_up_drop(w, domid, devid);
			continue;
		}
		bridge = p ? json_string_value(json_object_get(p, "bridge")) : net->conf.name;
		if ((p && !json_is_true(json_object_get(p, "plugged"))) || !bridge ||
		    strcmp(bridge, net->conf.name)) {
			gave_up_drop(w, domid, devid);
			continue;
		}
		if (h) {
			json_t *req = add_req(net, h);

			/* netd's keys on the port, and the late plug asked for
			 * what netd holds: nothing to put back. A port with other
			 * keys (a plug by hand after the late one) gets netd's, as
			 * the check of the vifs netd holds would give them
			 * (other_keys): this one is not looked at again there */
			mine = req_text(req);
			if (mine && !other_keys(p, h) && same_plug(g->req, req, h)) {
				json_decref(req);
				free(mine);
				gave_up_drop(w, domid, devid);
				continue;
			}
			/* not dps_vif_online: a refusal keeps the entry (below) */
			rc = call(net, req, NULL);
			if (rc == -ETIMEDOUT && w->connected && mine) {
				gave_up_note(w, domid, devid, mine); /* the late one now */
				mine = NULL;
			}
			free(mine);
			if (rc == 0 && boff < sizeof(back))
				boff += (size_t)snprintf(back + boff, sizeof(back) - boff, " %s", name);
			put += rc == 0;
		} else {
			/* a kept plug of a vif not probed yet: a port-del forgets
			 * it there (no port to unplug), before the vif comes */
			vif_init(&v, domid, devid);
			rc = call(net, port_req("port-del", &v), NULL);
			if (rc == 0 && kept && koff < sizeof(knames))
				koff += (size_t)snprintf(knames + koff, sizeof(knames) - koff, " %s",
							 name);
			else if (rc == 0 && off < sizeof(names))
				off += (size_t)snprintf(names + off, sizeof(names) - off, " %s", name);
			n += rc == 0 && !kept;
			nkept += rc == 0 && kept;
		}
		if (rc == -EINVAL) {
			/* refused (its answer says why; a --state file it cannot
			 * write): kept, shown by status, looked at again
			 * (on_watch_timer), said once per cause; the others go on */
			char *why = strdup(err_msg());

			if (!g->refused || !why || strcmp(g->refused, why))
				log_warn("%s: dpswitch refused to %s %s: %s; netd looks at it again "
					 "until it is settled", net->conf.name,
					 h ? "plug again with netd's keys" : "unplug", name, err_msg());
			free(g->refused);
			g->refused = why; /* NULL when out of memory: forgotten */
			rc = 0;
			i++;
			continue;
		}
		if (rc < 0)
			break;
		rc = 0;
		gave_up_drop(w, domid, devid);
	}
	if (none)
		log_info("%s: dpswitch at %s keeps no plug for %u vif%s whose port-add netd gave "
			 "up on before it restarted (nothing came of %s); forgotten",
			 net->conf.name, net->conf.dpdk_socket, none, none == 1 ? "" : "s",
			 none == 1 ? "it" : "them");
	if (nkept)
		log_info("%s: dpswitch at %s kept a plug (--state) for %u vif%s that netd does "
			 "not hold (a plug netd gave up on, carried out before it restarted), not "
			 "probed yet; forgotten there:%s%s", net->conf.name, net->conf.dpdk_socket,
			 nkept, nkept == 1 ? "" : "s", knames, koff >= sizeof(knames) ? " ..." : "");
	if (n)
		log_info("%s: dpswitch at %s had %u port%s plugged that netd does not hold "
			 "(a plug netd gave up on, carried out late); unplugged %s:%s%s",
			 net->conf.name, net->conf.dpdk_socket, n, n == 1 ? "" : "s",
			 n == 1 ? "it" : "them", names, off >= sizeof(names) ? " ..." : "");
	if (put)
		log_info("%s: dpswitch at %s had %u port%s plugged with keys netd gave up on "
			 "(carried out late); plugged %s again with netd's:%s%s",
			 net->conf.name, net->conf.dpdk_socket, put, put == 1 ? "" : "s",
			 put == 1 ? "it" : "them", back, boff >= sizeof(back) ? " ..." : "");
	return rc;
}

/* The vifs of the plugs a previous netd left half-done (net->pending,
 * not held) whose ports dpswitch has not probed yet and keeps a --state
 * plug for (pending, pending_by_id): their undoing waits for the ports,
 * which a port-del now would not find, and which dpswitch would plug. */
static unsigned intents_unprobed(const struct netd_net *net, json_t *pending)
{
	unsigned n = 0;
	size_t i;
	json_t *j;

	json_array_foreach(net->pending, i, j) {
		const char *id = json_string_value(json_object_get(j, "id"));
		const char *type = json_string_value(json_object_get(j, "type_if"));
		unsigned domid, devid;

		if (!id || (type && !strcmp(type, "tap")) || sscanf(id, "%u.%u", &domid, &devid) != 2)
			continue;
		n += !held_vif(net, domid, devid) && json_object_get(pending, id);
	}
	return n;
}

/* Plug again, from netd's records, every vif whose port dpswitch has
 * unplugged, or plugged with other keys than netd holds (other_keys), and with w->strays settle the port-adds netd gave up on
 * (watch_settle). 0: all checked; 1: some ports are not there yet;
 * -errno: dpswitch does not answer (err_msg()). At most one status and
 * one port-add or port-del per vif. */
static int watch_sync(struct dps_watch *w)
{
	struct netd_net *net = w->net;
	json_t *st = NULL, *by, *pending, *settled = NULL;
	unsigned again = 0, rekeyed = 0, missing = 0, refused = 0;
	char names[256] = "", knames[256] = "";
	size_t off = 0, koff = 0;
	int rc = call(net, json_pack("{s:i,s:s}", "version", 1, "cmd", "status"), &st);

	/* an answer, refusing (call's -EINVAL): dpswitch is there, and so is
	 * the watch's connection */
	w->status_refused = rc == -EINVAL;
	if (rc < 0)
		return rc;
	by = ports_by_name(st);
	pending = pending_by_id(st);
	json_decref(st);
	w->port_keys = pending != NULL; /* they came together */
	if (!by) {
		json_decref(pending);
		return err_set(-ENOMEM, "out of memory");
	}
	/* first: the plugs netd gave up on (watch_settle); the vifs it settles, by what netd asked for then, are not looked
	 * at again below (by is from before it) */
	if (w->strays) {
		settled = json_object();
		for (unsigned i = 0; i < w->n_gave_up; i++) {
			char id[32];

			snprintf(id, sizeof(id), "vif%u.%u", w->gave_up[i].domid,
				 w->gave_up[i].devid);
			json_object_set_new(settled, id, json_true());
		}
		rc = watch_settle(w, by, pending, &missing);
	}
	if (w->undo)
		missing += intents_unprobed(net, pending);
	json_decref(pending);
	for (struct netd_vif *nv = net->vifs; rc >= 0 && nv; nv = nv->next) {
		const struct vif *v = &nv->vif;
		char name[32];
		bool rekey;
		json_t *p;

		if (v->emu)
			continue;
		snprintf(name, sizeof(name), "vif%u.%u", v->domid, v->devid);
		p = json_object_get(by, name);
		if (!p) {
			missing++;
			continue;
		}
		rekey = !json_object_get(settled, name) && other_keys(p, v);
		if (json_is_true(json_object_get(p, "plugged")) && !rekey)
			continue;
		rc = port_add(net, v, false); /* netd's keys: nothing to settle */
		if (rc == -EINVAL) {
			/* dpswitch refused this one (its answer says why): the
			 * others still go */
			log_warn("%s: not plugged again into dpswitch: %s", net->conf.name, err_msg());
			refused++;
			rc = 0;
			continue;
		}
		if (rc < 0)
			break;
		if (rekey) {
			rekeyed++;
			if (koff < sizeof(knames))
				koff += (size_t)snprintf(knames + koff, sizeof(knames) - koff, " %s",
							 v->ifname);
			continue;
		}
		again++;
		if (off < sizeof(names))
			off += (size_t)snprintf(names + off, sizeof(names) - off, " %s", v->ifname);
	}
	json_decref(by);
	json_decref(settled);
	if (rc < 0)
		return rc;
	if (again)
		log_info("%s: dpswitch at %s had %u vif%s unplugged; plugged %s again:%s%s",
			 net->conf.name, net->conf.dpdk_socket, again, again == 1 ? "" : "s",
			 again == 1 ? "it" : "them", names, off >= sizeof(names) ? " ..." : "");
	if (rekeyed)
		log_warn("%s: dpswitch at %s had %u vif%s plugged with other keys than netd holds "
			 "(a re-plug netd did not answer, or a plug by hand); plugged %s again with "
			 "netd's:%s%s", net->conf.name, net->conf.dpdk_socket, rekeyed,
			 rekeyed == 1 ? "" : "s", rekeyed == 1 ? "it" : "them", knames,
			 koff >= sizeof(knames) ? " ..." : "");
	return missing ? 1 : 0;
}

/* A check over with settles dpswitch refused (gave_up's refused): another
 * in retry_usec, doubling; a stray port plugged is a guest netd answered
 * with an error forwarding, kept so until it is settled (or its vif gone,
 * or the network down). */
static void watch_retry(struct dps_watch *w, uint64_t now)
{
	if (!gave_up_refused(w)) {
		w->retry_usec = 0;
		return;
	}
	w->retry_usec = !w->retry_usec ? DPS_RETRY_FIRST_USEC :
		w->retry_usec * 2 > DPS_RETRY_MAX_USEC ? DPS_RETRY_MAX_USEC : w->retry_usec * 2;
	w->sync = w->strays = true;
	w->sync_since = now;
	watch_arm(w, w->retry_usec);
}

/* dpswitch takes connections and answers, but refuses the check's status
 * (err_msg() its answer): the watch's connection is kept and the check
 * asked again after 1 s, doubling to 30 s, said once per episode, until a
 * status is answered (on_watch_timer). Before, each refusal dropped the
 * connection: netd connected again at once to be refused again, three
 * lines in its log each time, several times a second, for as long as it
 * lasted. */
static void watch_refused(struct dps_watch *w)
{
	struct netd_net *net = w->net;

	if (w->waiting)
		snprintf(w->why, sizeof(w->why), "%s", err_msg());
	if (!w->refused_usec)
		log_warn("%s: dpswitch at %s takes connections but refuses status (%s): its ports "
			 "are checked again after 1 s, doubling to 30 s; not said again until it "
			 "answers", net->conf.name, net->conf.dpdk_socket, err_msg());
	else
		log_debug("%s: dpswitch at %s refuses status again (%s)", net->conf.name,
			  net->conf.dpdk_socket, err_msg());
	w->refused_usec = !w->refused_usec ? DPS_RETRY_FIRST_USEC :
		w->refused_usec * 2 > DPS_RETRY_MAX_USEC ? DPS_RETRY_MAX_USEC :
		w->refused_usec * 2;
	watch_arm(w, w->refused_usec);
}

static int on_watch_timer(sd_event_source *s, uint64_t usec, void *data)
{
	struct dps_watch *w = data;
	uint64_t now = 0;
	int rc;

	w->timer = sd_event_source_disable_unref(w->timer);
	sd_event_now(w->ev, CLOCK_MONOTONIC, &now);
	if (w->fd < 0) {
		rc = watch_connect(w);
		if (rc < 0) {
			/* gone (restarting, crashed): the network waits for it,
			 * said once there */
			if (not_there_yet(rc) && !w->waiting) {
				watch_wait(w, rc);
				w->last_err = rc;
			}
			if (w->waiting)
				snprintf(w->why, sizeof(w->why), "%s", strerror(-rc));
			if (rc != w->last_err)
				log_warn("%s: dpswitch at %s: %s; trying again every second at "
					 "most", w->net->conf.name, w->net->conf.dpdk_socket,
					 strerror(-rc));
			w->last_err = rc;
			w->delay_usec = w->delay_usec * 2 > DPS_WATCH_MAX_USEC ?
						DPS_WATCH_MAX_USEC : w->delay_usec * 2;
			watch_arm(w, w->delay_usec);
			return 0;
		}
		/* a connection taken is not an answer yet: the check's
		 * status is (a restarted dpswitch may be stopped again) */
		if (w->lost)
			log_info("%s: dpswitch at %s takes connections again; checking its ports",
				 w->net->conf.name, w->net->conf.dpdk_socket);
		w->lost = false;
		w->last_err = 0;
		w->sync = true;
		/* a port-add netd gave up on, carried out by the dpswitch
		 * gone and kept in its --state: the new one plugs it again */
		w->strays = w->n_gave_up > 0;
		w->sync_since = now;
		w->delay_usec = DPS_WATCH_FIRST_USEC;
	}
	if (!w->sync)
		return 0;
	if (w->wedged) {
		/* a status now would wait in netd's loop: the probe's reply
		 * arms this timer again (watch_poll) */
		if (watch_probe(w) < 0)
			watch_arm(w, w->delay_usec);
		return 0;
	}
	rc = watch_sync(w);
	if (rc < 0 && w->status_refused) {
		watch_refused(w);
		return 0;
	}
	if (rc >= 0 && w->refused_usec) {
		log_info("%s: dpswitch at %s answers status again", w->net->conf.name,
			 w->net->conf.dpdk_socket);
		w->refused_usec = 0;
	}
	if (rc < 0) {
		log_warn("%s: %s", w->net->conf.name, err_msg());
		if (w->waiting)
			snprintf(w->why, sizeof(w->why), "%s", err_msg());
		/* no answer in time: the connection is still dpswitch's, and
		 * the probe sent on it (unanswered) says when to check again */
		if (!w->wedged || !w->probing)
			watch_lost(w);
		return 0;
	}
	if (w->waiting)
		waiting_over(w);
	if (w->undo && (rc == 0 || now - w->sync_since >= DPS_WATCH_PENDING_USEC)) {
		/* their vifs probed (or 30 s gone): what they plugged is found */
		w->undo = false;
		netd_net_undo_pending(w->net);
	}
	if (rc == 0 || now - w->sync_since >= DPS_WATCH_PENDING_USEC) {
		/* refused ones are kept (watch_retry) */
		unsigned left = w->n_gave_up - gave_up_refused(w);

		if (rc)
			log_warn("%s: dpswitch at %s still has no port for some of the network's "
				 "vifs after 30 s; not looking again", w->net->conf.name,
				 w->net->conf.dpdk_socket);
		/* a port-add given up on whose vif has no port after 30 s
		 * (its domain gone): nothing came of it */
		if (w->strays && left)
			log_warn("%s: %u port-add%s netd gave up on found no port in dpswitch "
				 "after 30 s; forgotten", w->net->conf.name, left,
				 left == 1 ? "" : "s");
		if (w->strays)
			gave_up_forget(w, false);
		w->sync = w->strays = false;
		watch_retry(w, now);
		return 0;
	}
	w->delay_usec = w->delay_usec * 2 > DPS_WATCH_MAX_USEC ? DPS_WATCH_MAX_USEC :
								  w->delay_usec * 2;
	watch_arm(w, w->delay_usec);
	return 0;
}

/* The first check of the ports after the network went up waiting for
 * dpswitch (up_waiting) got an answer and plugged the vifs netd holds
 * (those whose ports are not there yet as they come): the network is
 * served. The plugs a previous netd left half-done, which netd's up left
 * for now, are undone once the check has found their ports (undo). */
static void waiting_over(struct dps_watch *w)
{
	struct netd_net *net = w->net;

	log_info("%s: dpswitch at %s answers%s; the network is served, its %u vif%s plugged",
		 net->conf.name, net->conf.dpdk_socket, w->again ? " again" : "", net->n_vifs,
		 net->n_vifs == 1 ? "" : "s");
	w->waiting = w->again = false;
}

/* dpswitch, which answered since the network went up, is not there
 * (not_there_yet: stopped, restarting, crashed), as a plug, an unplug or
 * the watch's connect finds: the network waits for it as at up
 * (up_waiting). A guest started meanwhile should not fail for a switch
 * systemd starts again within 200 ms: plugs are queued, unplugs
 * journalled, and the check once it answers plugs the vifs netd holds.
 * A watch that has not seen it go yet checks now, and so finds out. */
static void watch_wait(struct dps_watch *w, int err)
{
	snprintf(w->why, sizeof(w->why), "%s", strerror(-err));
	if (w->waiting)
		return;
	w->waiting = w->again = true;
	log_warn("%s: dpswitch at %s: %s; the network waits for it again: vifs are queued and "
		 "plugged once it answers", w->net->conf.name, w->net->conf.dpdk_socket, w->why);
	if (w->fd >= 0 && !w->sync) {
		sd_event_now(w->ev, CLOCK_MONOTONIC, &w->sync_since);
		w->sync = true;
		watch_arm(w, 0);
	}
}

static void watch_arm(struct dps_watch *w, uint64_t usec)
{
	int rc;

	if (w->timer)
		return;
	rc = sd_event_add_time_relative(w->ev, &w->timer, CLOCK_MONOTONIC, usec, 0,
					on_watch_timer, w);
	if (rc < 0)
		log_err("%s: dpswitch at %s: cannot arm a timer: %s; a restarted dpswitch is "
			"not noticed", w->net->conf.name, w->net->conf.dpdk_socket, strerror(-rc));
}

/* At up: the watch, and a first check of the ports, which after a netd
 * restart finds those a dpswitch restarted meanwhile lost (again, on a
 * network a reload keeps: the watch it has goes on). Outside netd's loop
 * there is nothing to watch from. */
static int watch_start(struct netd_net *net)
{
	struct dps_watch *w = net->priv;
	sd_event *ev = netd_net_event(net);

	if (w)
		return 0;
	if (!ev)
		return 0;
	w = calloc(1, sizeof(*w));
	if (!w)
		return err_set(-ENOMEM, "%s: out of memory", net->conf.name);
	w->net = net;
	w->ev = ev;
	w->fd = -1;
	w->delay_usec = DPS_WATCH_FIRST_USEC;
	net->priv = w;
	watch_arm(w, 0);
	return 0;
}

static void watch_stop(struct netd_net *net)
{
	struct dps_watch *w = net->priv;

	if (!w)
		return;
	watch_close(w);
	w->timer = sd_event_source_disable_unref(w->timer);
	gave_up_clear(w);
	free(w);
	net->priv = NULL;
}

/* A re-plug needs its journal intent unless dpswitch shows its ports'
 * keys, which the next netd's first check compares with those it holds
 * (watch_sync): a netd with no watch (no event loop) cannot tell. */
static bool dps_replug_intent(struct netd_net *net)
{
	const struct dps_watch *w = net->priv;

	return !w || !w->port_keys;
}

/* Why vifs wait, while the network waits for dpswitch (up_waiting);
 * NULL once it is served. */
static const char *dps_waiting(struct netd_net *net)
{
	struct dps_watch *w = net->priv;

	if (!w || !w->waiting)
		return NULL;
	snprintf(w->waiting_text, sizeof(w->waiting_text),
		 "for dpswitch at %s (%s); vifs are queued and plugged once it answers",
		 net->conf.dpdk_socket, w->why);
	return w->waiting_text;
}

const struct netd_mode_ops dps_mode_ops = {
	.name = "bridge",
	.up = dps_up,
	.down = dps_down,
	.vif_online = dps_vif_online,
	.vif_offline = dps_vif_offline,
	.status = dps_status,
	.save = dps_save,
	/* a dpswitch that does not answer at start still holds the plugs */
	.up_keeps_record = true,
	.replug_intent = dps_replug_intent,
	.waiting = dps_waiting,
	.free = dps_free,
};
