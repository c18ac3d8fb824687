/* daemon: networks, state files, and the operations behind the control socket. */
#include "netd/daemon.h"

#include <dirent.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "antispoof/antispoof.h"
#include "lib/atomic_file.h"
#include "lib/err.h"
#include "lib/fault.h"
#include "lib/journal.h"
#include "lib/log.h"
#include "lib/nl_link.h"
#include "lib/nl_qdisc.h"
#include "netd/backend_stats.h"
#include "netd/shape.h"
#include "netd/sysctl_hold.h"
#include "netd/vif_guard.h"
#include "netd/vif_json.h"

#define STATE_VERSION 1
#define STATE_MAX (4u << 20)
/* The journal is folded into the state file once it holds more records than
 * this plus twice the vifs: a rewrite per that many changes, O(1) each. */
#define JOURNAL_SLACK 64

static void state_path(const struct netd *d, const struct netd_net *net, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s.json", d->conf.state_dir, net->conf.name);
}

static void journal_path(const struct netd *d, const struct netd_net *net, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s.vifs", d->conf.state_dir, net->conf.name);
}

static unsigned vif_bucket(uint32_t domid, uint32_t devid, bool emu)
{
	return netd_vif_bucket(domid, devid, emu);
}

static struct netd_vif *net_vif_find(const struct netd_net *net, uint32_t domid, uint32_t devid,
				     bool emu)
{
	return netd_net_vif_find(net, domid, devid, emu);
}

static void vif_mac_index(struct netd_net *net, struct netd_vif *nv, bool add)
{
	struct netd_vif **pp;

	if (!nv->vif.has_mac)
		return;
	pp = &net->vif_hash[netd_vif_mac_bucket(nv->vif.mac)];
	if (add) {
		nv->mnext = *pp;
		*pp = nv;
		return;
	}
	while (*pp && *pp != nv)
		pp = &(*pp)->mnext;
	if (*pp)
		*pp = nv->mnext;
}

static int vif_link(struct netd_net *net, struct netd_vif *nv)
{
	unsigned b = vif_bucket(nv->vif.domid, nv->vif.devid, nv->vif.emu);
	unsigned nb = netd_vif_name_bucket(nv->vif.ifname);

	if (!net->vif_hash) {
		net->vif_hash = calloc(3 * NETD_VIF_BUCKETS, sizeof(*net->vif_hash));
		if (!net->vif_hash)
			return err_set(-ENOMEM, "out of memory");
	}
	nv->hnext = net->vif_hash[b];
	net->vif_hash[b] = nv;
	nv->nnext = net->vif_hash[nb];
	net->vif_hash[nb] = nv;
	vif_mac_index(net, nv, true);
	nv->prev = NULL;
	nv->next = net->vifs;
	if (net->vifs)
		net->vifs->prev = nv;
	net->vifs = nv;
	net->n_vifs++;
	return 0;
}

static void vif_unlink(struct netd_net *net, struct netd_vif *v)
{
	struct netd_vif **pp = &net->vif_hash[vif_bucket(v->vif.domid, v->vif.devid,
							 v->vif.emu)];

	while (*pp != v)
		pp = &(*pp)->hnext;
	*pp = v->hnext;
	pp = &net->vif_hash[netd_vif_name_bucket(v->vif.ifname)];
	while (*pp != v)
		pp = &(*pp)->nnext;
	*pp = v->nnext;
	vif_mac_index(net, v, false);
	if (v->prev)
		v->prev->next = v->next;
	else
		net->vifs = v->next;
	if (v->next)
		v->next->prev = v->prev;
	net->n_vifs--;
}

/* A vif's entry in the state file as text, made once per vif (see
 * state_text()); NULL when out of memory. */
static const char *vif_state(struct netd_vif *v)
{
	if (!v->state) {
		json_t *j = vif_to_json(&v->vif);

		v->state = j ? json_dumps(j, JSON_COMPACT) : NULL;
		json_decref(j);
	}
	return v->state;
}

/* What carries the network's frames: dpswitch (datapath = dpdk) or the
 * kernel. A bridge network's state file says which wrote it: both are
 * mode "bridge", and neither can read or undo the other's record. */
static const char *net_datapath(const struct netd_net *net)
{
	return net->ops == &dps_mode_ops ? "dpdk" : "kernel";
}

/* The datapath of a state file; one from before the field says it by its
 * mode_state: a kernel bridge's records its physdev, dpdk's is empty. */
static const char *state_datapath(json_t *doc)
{
	const char *dp = json_string_value(json_object_get(doc, "datapath"));
	const char *mode = json_string_value(json_object_get(doc, "mode"));

	if (dp)
		return dp;
	if (mode && !strcmp(mode, "bridge") &&
	    !json_object_get(json_object_get(doc, "mode_state"), "physdev"))
		return "dpdk";
	return "kernel";
}

/* The state document. The file is rewritten whole on every change; with the
 * vifs' entries serialised afresh each time, plugging the 1000th vif cost
 * several times the first. So the document is dumped with an empty "vifs"
 * (jansson keeps insertion order: it comes last) and the vifs' cached texts
 * are spliced in; the file is the same as before. */
static char *state_text(struct netd_net *net, const char *phase)
{
	static const char tail[] = "\"vifs\":[]}";
	size_t tlen = sizeof(tail) - 1, hlen, len;
	char *head, *text, *p;
	json_t *doc;

	doc = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s?, s:o, s:[]}", "version", STATE_VERSION,
			"net", net->conf.name, "mode", net->ops->name, "datapath",
			net_datapath(net), "phase", phase,
			"conf", net->conf_text, "mode_state", net->ops->save(net), "vifs");
	head = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	if (!head)
		return NULL;
	hlen = strlen(head);
	len = hlen + 1;
	for (struct netd_vif *v = net->vifs; v; v = v->next) {
		if (!vif_state(v)) {
			free(head);
			return NULL;
		}
		len += strlen(v->state) + 1;
	}
	if (hlen < tlen || strcmp(head + hlen - tlen, tail)) {
		free(head);
		return NULL; /* not jansson's usual output: never seen, but not guessed at */
	}
	text = malloc(len);
	if (!text) {
		free(head);
		return NULL;
	}
	p = mempcpy(text, head, hlen - 2); /* up to and with the '[' */
	for (struct netd_vif *v = net->vifs; v; v = v->next) {
		if (v != net->vifs)
			*p++ = ',';
		p = mempcpy(p, v->state, strlen(v->state));
	}
	memcpy(p, "]}", 3);
	free(head);
	return text;
}

static unsigned journal_count(const struct netd_net *net)
{
	unsigned records = 0;

	for (size_t i = 0; i < net->journal_len; i++)
		records += net->journal[i] == '\n';
	return records;
}

/* The records noted in memory, appended to the journal on disk now: the
 * journal and the state file before it then say what memory does. */
static int journal_sync(struct netd_net *net)
{
	unsigned records = journal_count(net);
	char path[512];
	int rc;

	if (!records)
		return 0;
	journal_path(net->daemon, net, path, sizeof(path));
	rc = journal_append(path, net->journal, net->journal_len);
	if (rc)
		return rc;
	net->journal_records += records;
	net->journal_len = 0;
	return 0;
}

/* The journal, folded into the state file just written, anew with only
 * the intents of plugs not yet undone (net->pending): none, it goes.
 * signed: the journal will stand alone (net_forget()), so its first record
 * ('=') names the mode and datapath whose plugs the intents are: a state
 * file beside it says so otherwise. */
static int journal_keep_pending(struct netd_net *net, const char *jpath, bool signed_)
{
	size_t len = 0, i;
	char *text = NULL;
	FILE *f;
	json_t *j;
	int rc;

	if (!json_array_size(net->pending)) {
		if (unlink(jpath) < 0 && errno != ENOENT)
			return err_set(-errno, "%s: %s", jpath, strerror(errno));
		net->journal_records = 0;
		return 0;
	}
	f = open_memstream(&text, &len);
	if (!f)
		return err_set(-ENOMEM, "out of memory");
	if (signed_)
		fprintf(f, "={\"mode\":\"%s\",\"datapath\":\"%s\"}\n", net->ops->name,
			net_datapath(net));
	json_array_foreach(net->pending, i, j) {
		fputc('~', f);
		json_dumpf(j, f, JSON_COMPACT);
		fputc('\n', f);
	}
	if (fclose(f)) {
		free(text);
		return err_set(-ENOMEM, "out of memory");
	}
	rc = atomic_file_write(jpath, text, len, 0600);
	free(text);
	if (rc == 0)
		net->journal_records = json_array_size(net->pending);
	return rc;
}

/* The state file: the mode's undo information, the phase and the plugged vifs.
 * phase NULL removes the file (nothing left to undo). */
static int net_checkpoint(struct netd_net *net, const char *phase)
{
	struct netd *d = net->daemon;
	bool folding = phase && net->journal_records; /* a journal is on disk */
	char path[512], jpath[512], *text;
	int rc;

	state_path(d, net, path, sizeof(path));
	journal_path(d, net, jpath, sizeof(jpath));
	/* Changes not yet in a journal on disk go there first: were netd to
	 * die between the new state file and the journal's removal, the old
	 * records replayed over the new file must end where it does, not
	 * bring back a vif unplugged since. If that append fails (a full
	 * disk), the journal stays until the state file is written: removing
	 * it first lost every vif it held when the state file could not be
	 * written either. Only a crash between the two, with the disk full,
	 * replays the old records then. */
	if (folding)
		journal_sync(net);
	if (!phase) {
		if (unlink(path) < 0 && errno != ENOENT)
			return err_set(-errno, "%s: %s", path, strerror(errno));
	} else {
		text = state_text(net, phase);
		if (!text)
			return err_set(-ENOMEM, "out of memory");
		rc = mkdir_p(d->conf.state_dir, 0700);
		if (rc == 0)
			rc = atomic_file_write(path, text, strlen(text), 0600);
		free(text);
		if (rc)
			return rc;
		if (folding && (rc = FAULT_POINT("journal-fold")) < 0) /* tests: the window */
			return rc;
	}
	/* The state file has every vif now (or is gone): the journal's
	 * records are in it. A crash before the unlink replays them onto it
	 * again, which changes nothing: each record sets one vif, and the
	 * journal ends where the file does. Intents not undone yet stay. */
	rc = phase ? journal_keep_pending(net, jpath, false) : 0;
	if (!phase && unlink(jpath) < 0 && errno != ENOENT)
		rc = err_set(-errno, "%s: %s", jpath, strerror(errno));
	if (rc)
		return rc;
	net->journal_len = 0;
	if (!phase)
		net->journal_records = 0;
	return 0;
}

/* A first up that failed, the host as before it (the mode's rollback of
 * a previous netd's setup, then its own apply undone): the state file
 * goes, but the intents of plugs a previous netd cut short
 * (net->pending) stay, alone in the journal (written before the state
 * file goes: a crash between leaves both). What those plugs did (a
 * vifname's rename, filters, a qdisc) is not the mode's setup, which the
 * rollback took away, and only an up can undo it: the next one does
 * (state_load() reads such a journal). */
static int net_forget(struct netd_net *net)
{
	char path[512], jpath[512];
	int rc;

	if (!json_array_size(net->pending))
		return net_checkpoint(net, NULL);
	journal_path(net->daemon, net, jpath, sizeof(jpath));
	rc = journal_keep_pending(net, jpath, true);
	if (rc)
		return rc;
	net->journal_len = 0;
	state_path(net->daemon, net, path, sizeof(path));
	if (unlink(path) < 0 && errno != ENOENT)
		return err_set(-errno, "%s: %s", path, strerror(errno));
	return 0;
}

static void replay_drop(json_t *list, const char *id, bool emu);

/* A record for v in the journal ends the intent of a plug of v begun
 * before (replay_vif): not one for a fold to keep (net->pending). */
static void pending_end(struct netd_net *net, const struct vif *v)
{
	char id[32];

	snprintf(id, sizeof(id), "%u.%u", v->domid, v->devid);
	replay_drop(net->pending, id, v->emu);
}

/* A vif plugged or changed ('+') or unplugged ('-'), for the journal. */
static int journal_note(struct netd_net *net, char op, struct netd_vif *v)
{
	const char *text = vif_state(v);
	size_t need = text ? strlen(text) + 2 : 0;

	if (!text)
		return err_set(-ENOMEM, "out of memory");
	if (net->journal_len + need > net->journal_cap) {
		size_t cap = (net->journal_len + need) * 2;
		char *j = realloc(net->journal, cap);

		if (!j)
			return err_set(-ENOMEM, "out of memory");
		net->journal = j;
		net->journal_cap = cap;
	}
	net->journal[net->journal_len++] = op;
	memcpy(net->journal + net->journal_len, text, need - 2);
	net->journal_len += need - 2;
	net->journal[net->journal_len++] = '\n';
	pending_end(net, &v->vif);
	return 0;
}

/* A record for v appended to the journal on disk at once. */
static int journal_mark(struct netd_net *net, char op, const struct vif *v)
{
	json_t *j = vif_to_json(v);
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL, *line = NULL, path[512];
	int rc = -ENOMEM;

	json_decref(j);
	if (text && asprintf(&line, "%c%s\n", op, text) < 0)
		line = NULL;
	if (!line) {
		free(text);
		return err_set(-ENOMEM, "out of memory");
	}
	journal_path(net->daemon, net, path, sizeof(path));
	rc = journal_append(path, line, strlen(line));
	if (rc == 0) {
		net->journal_records++;
		pending_end(net, v);
	}
	free(line);
	free(text);
	return rc;
}

static void pending_keep(struct netd_net *net, const struct vif *v);

/* A plug about to touch the host, on disk at once ("~" and the vif): a netd
 * killed half-way through it finds the record and undoes what was done
 * (net_up). The "+" for the vif, written once it is plugged, cancels it. */
static int journal_intent(struct netd_net *net, const struct vif *v)
{
	int rc = journal_mark(net, '~', v);

	if (rc == 0)
		pending_keep(net, v);
	return rc;
}

/* A fresh plug refused, the host as before it (the mode undid its part,
 * netd its rename): a "-" cancels its intent, or the next netd would undo
 * a plug that never happened with the mode's vif_offline, on whatever
 * holds those keys by then. A rollback that did not complete keeps the
 * intent for the next netd to finish. The refusal's error is kept. */
static void journal_cancel(struct netd_net *net, const struct vif *v)
{
	char msg[ERR_MSG_MAX];
	int rc = err_code();

	snprintf(msg, sizeof(msg), "%s", err_msg());
	if (journal_mark(net, '-', v))
		log_warn("%s: %s: the refused plug's record stays: %s", net->conf.name, v->ifname,
			 err_msg());
	err_set(rc ? rc : -EIO, "%s", msg);
}

/* An intent on disk, kept in the journal when the journal is folded too
 * (net->pending) until a record of the vif ends it: one a refused plug
 * leaves (its request unanswered, its rollback incomplete) is there for
 * the next netd, and a fold that dropped it left a netd killed after it
 * nothing to undo the plug with. */
static void pending_keep(struct netd_net *net, const struct vif *v)
{
	json_t *j = vif_to_json(v);

	/* one per vif, as a replay of the journal keeps (replay_vif): a
	 * record of the vif ends it whole */
	pending_end(net, v);
	if (!net->pending)
		net->pending = json_array();
	if (!j || !net->pending || json_array_append_new(net->pending, j)) {
		if (!net->pending)
			json_decref(j);
		log_warn("%s: %s: its plug's intent may go with the journal's next fold",
			 net->conf.name, v->ifname);
	}
}

/* The vif changes noted since the last checkpoint: appended to the
 * journal, or the whole state file anew once the journal outgrows it. */
static int journal_flush(struct netd_net *net)
{
	unsigned records = journal_count(net);

	if (!records)
		return 0;
	if (net->ops->save_has_vifs ||
	    net->journal_records + records > JOURNAL_SLACK + 2 * net->n_vifs)
		return net_checkpoint(net, "applied");
	if (journal_sync(net))
		return net_checkpoint(net, "applied"); /* the state file then */
	return 0;
}

struct replay {
	json_t *vifs; /* the state file's */
	json_t *pending; /* plugs begun ('~') and not finished since */
	unsigned records;
	const char *net;
	json_t *by; /* a lone journal's '=' record: whose plugs they are */
};

/* The entry in list for the vif id (emu: the HVM tap of that id) goes, if
 * there is one. */
static void replay_drop(json_t *list, const char *id, bool emu)
{
	json_t *o;
	size_t i;
	bool oemu;

	json_array_foreach(list, i, o) {
		const char *oid = json_string_value(json_object_get(o, "id"));

		if (oid && !strcmp(oid, id) && vif_json_type(o, &oemu) == 0 && oemu == emu) {
			json_array_remove(list, i);
			return;
		}
	}
}

/* One journal record onto the state file's vifs: the entry for its vif
 * goes, and comes back as recorded if it was a '+'. A '~' (a plug begun)
 * is pending until a '+' or '-' for its vif follows. */
static int replay_vif(char *line, void *data)
{
	struct replay *r = data;
	const char *id, *name;
	bool emu = false;
	json_t *v;

	r->records++;
	if (line[0] == '=') {
		json_decref(r->by);
		r->by = json_loads(line + 1, 0, NULL);
		return 0;
	}
	v = line[0] == '+' || line[0] == '-' || line[0] == '~' ? json_loads(line + 1, 0, NULL)
								 : NULL;
	id = json_string_value(json_object_get(v, "id"));
	name = json_string_value(json_object_get(v, "vifname"));
	if (!id || !name || vif_json_type(v, &emu) < 0) {
		log_warn("%s: vif journal: skipping unreadable line '%.60s'", r->net, line);
		json_decref(v);
		return 0;
	}
	replay_drop(r->pending, id, emu);
	if (line[0] == '~') {
		json_array_append(r->pending, v);
		json_decref(v);
		return 0;
	}
	replay_drop(r->vifs, id, emu);
	if (line[0] == '+')
		json_array_append(r->vifs, v);
	json_decref(v);
	return 0;
}

static void lone_intent_undo(struct netd *d, const char *name, json_t *j);

/* Are the intents of a lone journal whose '=' record is by another mode's
 * or datapath's (the network's mode changed in the config since)? Its
 * mode's setup is gone (the failed up rolled it back), and this mode's
 * vif_offline would undo what it never did: dpdk's a port-del of a vif id
 * that may be another network's port by now, a kernel mode's the routes,
 * proxy entries or links of whatever has those names or addresses now.
 * So a kernel mode's are undone as a journal of a network no longer
 * configured is (lone_intent_undo(): netd's qdisc, the vifname= rename,
 * unless a network netd runs holds that vif or name; the filters go with
 * the start's sweep), and dpdk's, whose plugs only dpswitch holds, are
 * left, logged. A journal without the record (an older netd's) is the
 * network's mode's. true: handled, nothing pending for this mode. */
static bool intents_foreign(struct netd_net *net, json_t *by, json_t *pending,
			    const char *path)
{
	const char *mode = json_string_value(json_object_get(by, "mode"));
	const char *dp = json_string_value(json_object_get(by, "datapath"));
	json_t *j;
	size_t i;

	if (!mode || !dp || (!strcmp(mode, net->ops->name) && !strcmp(dp, net_datapath(net))))
		return false;
	if (!strcmp(dp, "dpdk")) {
		log_warn("%s: now %s (datapath %s), its vif journal %s holds %zu plug(s) a previous "
			 "netd cut short in its %s (datapath dpdk) setup: left as they are (only "
			 "that datapath could undo them, and dpswitch's port of such a vif may be "
			 "another network's by now)", net->conf.name, net->ops->name,
			 net_datapath(net), path, json_array_size(pending), mode);
		return true;
	}
	log_warn("%s: now %s (datapath %s), its vif journal %s holds %zu plug(s) a previous netd "
		 "cut short in its %s (datapath %s) setup, which is gone: only what is left of "
		 "them beside it is undone", net->conf.name, net->ops->name, net_datapath(net),
		 path, json_array_size(pending), mode, dp);
	json_array_foreach(pending, i, j)
		lone_intent_undo(net->daemon, net->conf.name, j);
	return true;
}

/* A journal without its state file, as a failed first up leaves it
 * (net_forget()): the intents of plugs a previous netd cut short, and
 * nothing else it may hold (records of vifs of a setup no longer there);
 * NULL when there is none, or when they are another mode's
 * (intents_foreign()). */
static json_t *journal_intents(const struct netd *d, struct netd_net *net)
{
	struct replay r = { json_array(), json_array(), 0, net->conf.name, NULL };
	char path[512];
	int rc = r.vifs && r.pending ? 0 : -ENOMEM;
	bool foreign;

	journal_path(d, net, path, sizeof(path));
	if (rc == 0)
		rc = journal_foreach(path, STATE_MAX, replay_vif, &r);
	if (rc && rc != -ENOENT)
		log_err("%s: vif journal %s not read: %s", net->conf.name, path, err_msg());
	net->journal_records = r.records;
	json_decref(r.vifs);
	foreign = json_array_size(r.pending) && intents_foreign(net, r.by, r.pending, path);
	json_decref(r.by);
	if (json_array_size(r.pending) && !foreign)
		return r.pending;
	json_decref(r.pending);
	return NULL;
}

static void record_unparsed(struct netd_net *net, const char *path, const char *why);

/* The state file with its journal's records applied; *pending (NULL when
 * the caller does not want it) the plugs a previous netd began and never
 * finished. */
static json_t *state_load(const struct netd *d, struct netd_net *net, json_t **pending)
{
	char path[512], *text;
	struct replay r;
	json_error_t e;
	json_t *doc;
	int rc;

	state_path(d, net, path, sizeof(path));
	if (file_read_all(path, &text, NULL, STATE_MAX) < 0) {
		if (pending)
			*pending = journal_intents(d, net);
		return NULL;
	}
	doc = json_loads(text, 0, &e);
	free(text);
	if (!doc || json_integer_value(json_object_get(doc, "version")) != STATE_VERSION) {
		char why[JSON_ERROR_TEXT_LENGTH + 64];

		if (doc)
			snprintf(why, sizeof(why), "version %lld, not %d",
				 (long long)json_integer_value(json_object_get(doc, "version")),
				 STATE_VERSION);
		else
			snprintf(why, sizeof(why), "line %d: %s", e.line, e.text);
		json_decref(doc);
		record_unparsed(net, path, why);
		if (pending)
			*pending = NULL;
		return NULL;
	}
	if (strcmp(json_string_value(json_object_get(doc, "mode")) ?: "", net->ops->name) ||
	    strcmp(state_datapath(doc), net_datapath(net))) {
		log_err("%s: ignoring unreadable or foreign state file %s", net->conf.name, path);
		json_decref(doc);
		return NULL;
	}
	r = (struct replay){ json_object_get(doc, "vifs"), json_array(), 0, net->conf.name, NULL };
	journal_path(d, net, path, sizeof(path));
	rc = json_is_array(r.vifs) && r.pending ? journal_foreach(path, STATE_MAX, replay_vif, &r)
						: 0;
	json_decref(r.by); /* the state file says whose they are */
	if (rc && rc != -ENOENT)
		log_err("%s: vif journal %s not read: %s", net->conf.name, path, err_msg());
	net->journal_records = r.records;
	if (pending)
		*pending = r.pending;
	else
		json_decref(r.pending);
	return doc;
}

static void vifs_free(struct netd_net *net)
{
	while (net->vifs) {
		struct netd_vif *v = net->vifs;

		net->vifs = v->next;
		free(v->state);
		free(v);
	}
	free(net->vif_hash);
	net->vif_hash = NULL;
	net->n_vifs = 0;
	net->unsaved = NULL;
}

static void vifs_load(struct netd_net *net, json_t *doc)
{
	json_t *v;
	size_t i;

	json_array_foreach(json_object_get(doc, "vifs"), i, v) {
		struct netd_vif *nv = calloc(1, sizeof(*nv));

		if (!nv)
			return;
		if (vif_from_json(v, &nv->vif) < 0 || vif_link(net, nv) < 0) {
			log_warn("%s: state: skipping a vif: %s", net->conf.name, err_msg());
			free(nv);
			continue;
		}
	}
}

static int conf_copy(struct netd_net_conf *dst, const struct netd_net_conf *src)
{
	*dst = *src;
	dst->forwards = NULL;
	if (src->n_forwards) {
		dst->forwards = calloc(src->n_forwards, sizeof(*dst->forwards));
		if (!dst->forwards)
			return err_set(-ENOMEM, "out of memory");
		memcpy(dst->forwards, src->forwards, src->n_forwards * sizeof(*dst->forwards));
	}
	return 0;
}

/* The network alone as a config file ([netd] and its own section). NULL if
 * it cannot be written (then an orphaned state file cannot be undone, which
 * is logged when it happens). */
static char *conf_text(const struct netd *d, const struct netd_net_conf *c)
{
	struct netd_conf one = d->conf;
	size_t len = 16384;
	char *buf;

	one.nets = (struct netd_net_conf *)c;
	one.n_nets = 1;
	for (;;) {
		buf = malloc(len);
		if (!buf)
			return NULL;
		if (netd_conf_write(&one, buf, len) == 0)
			return buf;
		free(buf);
		if (err_code() != -ENOSPC || len >= STATE_MAX)
			return NULL;
		len *= 4;
	}
}

static int net_init(struct netd *d, struct netd_net *net, const struct netd_net_conf *c)
{
	int rc;

	memset(net, 0, sizeof(*net));
	net->ops = netd_net_ops_for(c);
	if (!net->ops)
		return err_set(-EOPNOTSUPP, "%s: mode %s is not available in this build", c->name,
			       netd_mode_name(c->mode));
	net->checkpoint = net_checkpoint;
	net->daemon = d;
	rc = conf_copy(&net->conf, c);
	if (rc == 0)
		net->conf_text = conf_text(d, &net->conf);
	return rc;
}

static void net_fini(struct netd_net *net)
{
	if (net->ops && net->ops->free)
		net->ops->free(net);
	vifs_free(net);
	free(net->journal);
	net->journal = NULL;
	net->journal_len = net->journal_cap = 0;
	json_decref(net->pending);
	net->pending = NULL;
	free(net->conf.forwards);
	net->conf.forwards = NULL;
	free(net->conf_text);
	net->conf_text = NULL;
}

int netd_init(struct netd *d, const struct netd_conf *conf)
{
	int rc;

	d->conf = *conf;
	d->conf.nets = NULL;
	d->conf.n_nets = 0;
	d->nets = calloc(conf->n_nets ? conf->n_nets : 1, sizeof(*d->nets));
	if (!d->nets)
		return err_set(-ENOMEM, "out of memory");
	for (size_t i = 0; i < conf->n_nets; i++) {
		rc = net_init(d, &d->nets[i], &conf->nets[i]);
		d->n_nets = i + 1;
		if (rc)
			return rc;
	}
	return 0;
}

void netd_fini(struct netd *d)
{
	for (size_t i = 0; i < d->n_nets; i++)
		net_fini(&d->nets[i]);
	free(d->nets);
	d->nets = NULL;
	d->n_nets = 0;
}

sd_event *netd_net_event(struct netd_net *net)
{
	return ((struct netd *)net->daemon)->ev;
}

int netd_net_run_dir(struct netd_net *net, char *buf, size_t len)
{
	struct netd *d = net->daemon;

	if (snprintf(buf, len, "%s/%s", d->conf.state_dir, net->conf.name) >= (int)len)
		return err_set(-ENAMETOOLONG, "%s: state directory path too long", net->conf.name);
	return mkdir_p(buf, 0700);
}

int netd_net_pub_dir(struct netd_net *net, bool create, char *buf, size_t len)
{
	struct netd *d = net->daemon;
	mode_t old;
	int rc;

	if (snprintf(buf, len, "%s/%s", d->conf.dnsmasq_dir, net->conf.name) >= (int)len)
		return err_set(-ENAMETOOLONG, "%s: dnsmasq_dir path too long", net->conf.name);
	if (!create)
		return 0;
	/* Not the service's UMask: the helper reads these as another user. */
	old = umask(022);
	rc = mkdir_p(buf, 0755);
	umask(old);
	if (rc == 0 && chmod(buf, 0755) < 0)
		rc = err_set(-errno, "%s: %s", buf, strerror(errno));
	return rc;
}

const char *netd_net_helper_user(struct netd_net *net)
{
	return ((struct netd *)net->daemon)->conf.dnsmasq_user;
}

static struct netd_net *net_find(struct netd *d, const char *name)
{
	for (size_t i = 0; i < d->n_nets; i++)
		if (!strcmp(d->nets[i].conf.name, name))
			return &d->nets[i];
	return NULL;
}

/* A vif plugged whose record could not be saved: unplugged again, and a
 * '-' noted so the journal, once it can be written, ends without it. */
static void vif_unsave(struct netd_net *net, struct netd_vif *nv)
{
	if (netd_shape_remove(net, &nv->vif))
		log_warn("%s: %s", net->conf.name, err_msg());
	if (net->ops->vif_offline(net, &nv->vif))
		log_err("%s: %s", net->conf.name, err_msg());
	/* On disk at once if it can be: a failed state file write may have
	 * put the vif's '+' in the journal (see net_checkpoint()). */
	if (journal_note(net, '-', nv) == 0)
		journal_sync(net);
	vif_unlink(net, nv);
	free(nv->state);
	free(nv);
}

/* A vif netd renamed for its vifname= gets the backend's name
 * vifD.N[-emu] back, down (as a vif is before its plug), and loses its
 * mark, so that the toolstack, vifback (whose TAP outlives an unplug) and a
 * later plug find the interface as the backend made it:
 * - a plug cut short after vif_rename() (pending_undo()), as
 *   vif_rename_undo() would have done;
 * - an unplug (need_mark): only an interface marked as renamed from that
 *   name, since a record from before vifnames were checked may name
 *   another vif's interface.
 * Only when the backend's name is free: then the vifname, free before the
 * plug, is the one renamed. def gets the backend's name. 1: renamed back,
 * 0: nothing to do (no rename, or the interface gone, as netback's goes
 * at an unplug), -errno logged. */
static int vif_rename_back(struct netd_net *net, const struct vif *v, bool need_mark,
			   char def[IFNAMSIZ + 8])
{
	char back[IFNAMSIZ];
	struct nl_link l;
	int rc;

	snprintf(def, IFNAMSIZ + 8, "vif%u.%u%s", v->domid, v->devid, v->emu ? "-emu" : "");
	if (net->ops == &dps_mode_ops || !strcmp(v->ifname, def) || nl_link_exists(def) ||
	    nl_link_get(v->ifname, &l) < 0)
		return 0;
	if (need_mark && !(vif_renamed_from(l.alias, back) && !strcmp(back, def)))
		return 0;
	rc = vif_link_rename_back(l.ifindex, def);
	if (rc == -ENODEV)
		return 0;
	if (rc < 0) {
		log_err("%s: %s: cannot rename back to %s: %s", net->conf.name, v->ifname, def,
			err_msg());
		return rc;
	}
	return 1;
}

static const char *net_waiting(struct netd_net *net);

/* Plugs a previous netd began and did not finish (killed half-way): what
 * they did goes, as a vif offline would remove it; the hotplug script or
 * the toolstack was never told they succeeded. A vif remembered all the
 * same (a re-plug) stays; the sweep removes what that one left over, and
 * a dpdk one is plugged again with the keys netd holds. Then
 * the state file takes the journal in, and the records are gone; but for
 * those whose undo the mode could not make, finding that what serves the
 * network is gone (net_waiting: dpdk's dpswitch restarting, which may
 * plug them again from its --state file): kept, undone once it serves. */
static void pending_undo(struct netd_net *net)
{
	json_t *pending = net->pending, *kept = NULL, *j;
	size_t i;

	if (!json_array_size(pending)) {
		net->pending = NULL;
		json_decref(pending);
		return;
	}
	if (FAULT_POINT("pending-undo") < 0) /* tests: up, its plugs not undone */
		log_err("%s: %s", net->conf.name, err_msg());
	json_array_foreach(pending, i, j) {
		char def[IFNAMSIZ + 8];
		struct netd_vif *held;
		struct vif v;
		uint32_t domid, devid;

		if (vif_from_json(j, &v) < 0) {
			log_warn("%s: vif journal: skipping an unreadable plug: %s", net->conf.name,
				 err_msg());
			continue;
		}
		domid = v.domid;
		devid = v.devid;
		held = net_vif_find(net, domid, devid, v.emu);
		if (held && net->ops == &dps_mode_ops) {
			/* a re-plug with other keys cut short, which dpswitch
			 * may have carried out all the same: the keys netd
			 * holds go back (a port-add replaces a port's policy) */
			log_warn("%s: %s was being plugged again when netd stopped; plugging it "
				 "with the keys netd holds", net->conf.name, v.ifname);
			if (net->ops->vif_online(net, &held->vif))
				log_err("%s: %s", net->conf.name, err_msg());
			continue;
		}
		if (held)
			continue;
		log_warn("%s: %s was being plugged when netd stopped; undoing what was done",
			 net->conf.name, v.ifname);
		if (netd_shape_remove(net, &v))
			log_warn("%s: %s", net->conf.name, err_msg());
		if (net->ops->vif_offline(net, &v))
			log_err("%s: %s", net->conf.name, err_msg());
		else if (net_waiting(net) && (kept || (kept = json_array())))
			json_array_append(kept, j);
		if (vif_rename_back(net, &v, false, def) > 0)
			log_warn("%s: %s: renamed back to %s", net->conf.name, v.ifname, def);
	}
	net->pending = kept; /* undone: the checkpoint folds them away */
	json_decref(pending);
	if (net_checkpoint(net, "applied"))
		log_err("%s: state not saved: %s", net->conf.name, err_msg());
}

static const char *net_state_name(enum netd_net_state st)
{
	switch (st) {
	case NETD_NET_DOWN:
		return "down";
	case NETD_NET_UP:
		return "up";
	case NETD_NET_UNSAVED:
		return "up, unsaved";
	case NETD_NET_FAILED:
		return "failed";
	}
	return "?";
}

/* The one place a network's state changes (logged at debug level):
 *
 *            mode's up ok                   vif plugged or unplugged
 *   DOWN ─────────────────────> UP ───────────────────────────> UNSAVED
 *    ^                           │ ^  while checkpoints deferred    │
 *    │        mode's down ok     │ │                                │
 *    ├───────────────────────────┘ └────────────────────────────────┤
 *    │                               deferred checkpoint written    │
 *    │                               (or failed: its vifs undone)   │
 *    └──────────────────────────────────────────────────────────────┘
 *                            mode's down ok
 *
 *          up again (a repair) failed
 *   UP ─────────────────────────────> FAILED ──── mode's down ok ───> DOWN
 *    ^                                  │
 *    └──────── up again ok ─────────────┘
 *
 * Anything else is a bug in the caller: logged, and the state kept. */
static void netd_net_set_state(struct netd_net *net, enum netd_net_state to)
{
	enum netd_net_state from = net->state;
	/* Only an applied network has vif changes to save, or a repair to
	 * fail; a failed one is applied again or taken down. */
	bool ok = (to != NETD_NET_UNSAVED || from == NETD_NET_UP) &&
		  (to != NETD_NET_FAILED || from == NETD_NET_UP) &&
		  (from != NETD_NET_FAILED || to == NETD_NET_UP || to == NETD_NET_DOWN);

	if (from == to)
		return;
	if (!ok) {
		log_err("%s: state %s -> %s is not a transition; staying %s", net->conf.name,
			net_state_name(from), net_state_name(to), net_state_name(from));
		return;
	}
	log_debug("%s: %s -> %s", net->conf.name, net_state_name(from), net_state_name(to));
	net->state = to;
}

static int state_other_restore(struct netd *d, struct netd_net *net);

/* Why the network's vifs wait (its mode's waiting: dpdk's dpswitch not
 * there yet), or NULL: applied and served, or not applied. */
static const char *net_waiting(struct netd_net *net)
{
	return netd_net_is_applied(net) && net->ops->waiting ? net->ops->waiting(net) : NULL;
}

/* After a first up failed: must the state file stay, because the host
 * still holds what it records and the next up (or netd) has to restore
 * it from there? A previous netd's record (saved) that the mode neither
 * rolled back in full (net->prev_undone: its rollback failed, an adoption
 * failed with the setup still there, or the up failed before it looked)
 * nor may drop (up_keeps_record: dpdk's plugs outlive netd); or an apply
 * whose own undo did not complete, whose "applying" checkpoint is the
 * record of what it left. */
static bool record_needed(const struct netd_net *net, json_t *saved)
{
	if (net->undo_incomplete)
		return true;
	return saved && (net->ops->up_keeps_record || !net->prev_undone);
}

/* Is net one of the networks netd runs (not an orphan's, brought back
 * from its state file only to be taken down)? */
static bool net_configured(const struct netd *d, const struct netd_net *net)
{
	return net >= d->nets && net < d->nets + d->n_nets;
}

/* net's vif named ifname, or NULL; by the name chain, as a mode's adoption
 * asks for each of its vifs. */
static const struct netd_vif *net_vif_named(const struct netd_net *net, const char *ifname)
{
	if (!net->vif_hash)
		return NULL;
	for (const struct netd_vif *v = net->vif_hash[netd_vif_name_bucket(ifname)]; v;
	     v = v->nnext)
		if (!strcmp(v->vif.ifname, ifname))
			return v;
	return NULL;
}

/* The network netd runs, other than net, holding a vif by the id of v
 * (v NULL: by none) or named ifname, or NULL. */
static const struct netd_net *held_elsewhere(const struct netd_net *net, const struct vif *v,
					     const char *ifname)
{
	const struct netd *d = net->daemon;

	for (size_t i = 0; d && i < d->n_nets; i++) {
		const struct netd_net *o = &d->nets[i];

		if (o == net)
			continue;
		if (v && net_vif_find(o, v->domid, v->devid, v->emu))
			return o;
		if (net_vif_named(o, ifname))
			return o;
	}
	return NULL;
}

/* (mode.h) */
const struct netd_net *netd_vif_held_elsewhere(const struct netd_net *net, const struct vif *v)
{
	return held_elsewhere(net, v, v->ifname);
}

/* (mode.h) */
const struct netd_net *netd_ifname_held_elsewhere(const struct netd_net *net, const char *ifname)
{
	return held_elsewhere(net, NULL, ifname);
}

/* The vifs of a record set aside (up_without_record), kept for the fresh
 * apply to plug again, as after a rollback (the mode's done hook, or
 * route's replug): the guests keep their network across the restart.
 * They are the record's own entries with its journal's records replayed
 * (state_load), each read and checked as any record's (vif_from_json):
 * only its mode_state is unreadable. Of what could name them, they are
 * the one source with every key the plug was given (ip=, mac=, rate=,
 * vifname=) and the one there whoever plugged the vif: a plug over the
 * control socket leaves no backend entry netd reads, xenstore is not
 * watched unless configured, a renamed vif's mark names an interface and
 * not its keys, and the journal holds only the changes since the last
 * fold. A vif whose interface is gone (its guest with it) is dropped: the
 * guest's next hotplug brings it. So is one another network netd runs
 * holds now (plugged there since the record was written): the record is
 * evidence, not the vif's owner, and a plug here took the guest off the
 * network it is on. Returns how many stay. */
static unsigned vifs_keep_present(struct netd_net *net)
{
	struct netd_vif *v, *next;
	const struct netd_net *holder;

	for (v = net->vifs; v; v = next) {
		next = v->next;
		holder = netd_vif_held_elsewhere(net, &v->vif);
		if (holder)
			log_warn("%s: %s, of the state file set aside, is network %s's now: not "
				 "plugged again", net->conf.name, v->vif.ifname, holder->conf.name);
		else if (nl_link_exists(v->vif.ifname))
			continue;
		else
			log_warn("%s: %s, of the state file set aside, is gone from the host: not "
				 "plugged again", net->conf.name, v->vif.ifname);
		vif_unlink(net, v);
		free(v->state);
		free(v);
	}
	net->unsaved = NULL;
	return net->n_vifs;
}

/* The set-aside files a state file set aside before left (<file>.bad and
 * the <journal>.bad beside it) are evidence the operator may not have
 * read yet: kept as <file>.bad.1 (with <journal>.bad.1, or none) rather
 * than replaced; the generation before those goes, logged. Two
 * generations, bounded: the state directory is a tmpfs. Only a regular
 * file is a set-aside one. */
static void bad_keep_earlier(struct netd_net *net, const char *bad, const char *jbad)
{
	char old[530], jold[530];
	struct stat st;

	if (lstat(bad, &st) || !S_ISREG(st.st_mode))
		return;
	snprintf(old, sizeof(old), "%s.1", bad);
	snprintf(jold, sizeof(jold), "%s.1", jbad);
	if (access(old, F_OK) == 0)
		log_warn("%s: %s, of a state file set aside before the last, is replaced by the "
			 "last one (%s)", net->conf.name, old, bad);
	if (rename(bad, old)) {
		log_warn("%s: %s, of a state file set aside before, cannot be kept as %s (%s): "
			 "replaced", net->conf.name, bad, old, strerror(errno));
		return;
	}
	/* its journal with it, or (it had none) no older one left beside it */
	if (rename(jbad, jold)) {
		if (errno != ENOENT)
			log_warn("%s: %s, the vif journal of %s, cannot be kept as %s (%s): the "
				 "next set aside replaces it", net->conf.name, jbad, old, jold,
				 strerror(errno));
		else if (unlink(jold) && errno != ENOENT)
			log_warn("%s: %s, of a state file set aside before the last, not removed: %s",
				 net->conf.name, jold, strerror(errno));
	}
	log_warn("%s: %s, of a state file set aside before, kept as %s", net->conf.name, bad,
		 old);
}

/* The state file at path goes to <path>.bad, its vif journal (jpath) to
 * <jpath>.bad, an earlier pair kept (bad_keep_earlier); 0, or -errno with
 * both as they were. */
static int record_set_aside(struct netd_net *net, const char *path, const char *jpath)
{
	char bad[520], jbad[520];
	int rc;

	snprintf(bad, sizeof(bad), "%s.bad", path);
	snprintf(jbad, sizeof(jbad), "%s.bad", jpath);
	bad_keep_earlier(net, bad, jbad);
	rc = rename(path, bad) ? -errno : 0;
	if (rc == 0 && rename(jpath, jbad)) {
		if (errno != ENOENT) {
			rc = -errno;
			if (rename(bad, path)) /* as it was: the file with its journal */
				log_err("%s: cannot move %s back: %s", net->conf.name, bad,
					strerror(errno));
		} else if (unlink(jbad) && errno != ENOENT) {
			/* no journal: one set aside with an earlier <file>.bad,
			 * which this one replaced, is not this file's */
			log_warn("%s: %s, of a state file set aside before, not removed: %s",
				 net->conf.name, jbad, strerror(errno));
		}
	}
	return rc;
}

/* A state file that is not one (not JSON, or not of this netd's version):
 * nothing in it can be read, its vifs neither. Applied afresh over, it
 * was overwritten and its journal removed by the first checkpoint: the
 * evidence lost. Both are set aside as an unreadable one's are
 * (record_set_aside), for the operator to check the host against; the
 * network is applied afresh, as before. */
static void record_unparsed(struct netd_net *net, const char *path, const char *why)
{
	char jpath[512];
	int rc;

	journal_path(net->daemon, net, jpath, sizeof(jpath));
	rc = record_set_aside(net, path, jpath);
	if (rc)
		log_err("%s: ignoring its unreadable state file %s (%s), which cannot be set aside "
			"(%s); applying the network afresh", net->conf.name, path, why,
			strerror(-rc));
	else
		log_err("%s: its state file %s is not one (%s): moved aside to %s.bad, with its vif "
			"journal; what a previous netd recorded there is not undone, nor its vifs "
			"plugged again (check the host against it); applying the network afresh",
			net->conf.name, path, why, path);
}

/* The mode could not read net's state file (net->record_unreadable),
 * and did nothing on the host: kept, the file would fail every up the
 * same way until removed by hand, and it cannot undo anything all the
 * same. So it goes aside, <file>.bad, its vif journal with it (its
 * records are of that file's vifs), both for the operator to check the
 * host against (an earlier pair kept, bad_keep_earlier); the network is
 * applied afresh (a configured one: its own transaction, rolled back if
 * it fails, never half-done; a previous netd's setup still there makes
 * the mode's checks refuse: the mode's up's answer), the record's vifs
 * still on the host plugged again (vifs_keep_present), or (an orphan's)
 * left down, nothing to undo known: 1. *saved is dropped. err_msg() is
 * the mode's reason on entry. */
static int up_without_record(struct netd_net *net, json_t **saved)
{
	struct netd *d = net->daemon;
	char why[ERR_MSG_MAX], path[512], bad[520], jpath[512], again[64] = "";
	size_t n = strlen(net->conf.name);
	bool conf = net_configured(d, net);
	unsigned vifs;
	int rc;

	snprintf(why, sizeof(why), "%s",
		 strncmp(err_msg(), net->conf.name, n) || strncmp(err_msg() + n, ": ", 2)
			 ? err_msg()
			 : err_msg() + n + 2);
	state_path(d, net, path, sizeof(path));
	journal_path(d, net, jpath, sizeof(jpath));
	snprintf(bad, sizeof(bad), "%s.bad", path);
	rc = record_set_aside(net, path, jpath);
	if (rc)
		return err_set(rc, "%s: its state file %s cannot be read (%s), nor set aside (%s): "
			       "check the host against it, remove it and its vif journal %s, then "
			       "`netdctl up %s`", net->conf.name, path, why, strerror(-rc), jpath,
			       net->conf.name);
	if (!conf)
		vifs_free(net);
	vifs = vifs_keep_present(net);
	if (vifs)
		snprintf(again, sizeof(again), ", plugging its %u vif%s again", vifs,
			 vifs == 1 ? "" : "s");
	log_err("%s: its state file %s cannot be read (%s): moved aside to %s, with its vif "
		"journal; what a previous netd recorded there is not undone (check the host "
		"against it); %s%s", net->conf.name, path, why, bad,
		conf ? "applying the network afresh" : "nothing more to undo", again);
	json_decref(*saved);
	*saved = NULL;
	json_decref(net->pending);
	net->pending = NULL;
	net->journal_records = 0;
	net->prev_undone = net->undo_incomplete = net->record_unreadable = false;
	net->record_waits = false;
	return conf ? net->ops->up(net, NULL) : 1;
}

static uint64_t now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Seconds until a failed network's next try, rounded up. */
static long long retry_in_s(const struct netd_net *net)
{
	uint64_t now = now_usec();

	return net->retry_at > now ? (long long)((net->retry_at - now + 999999u) / 1000000u) : 0;
}

/* A configured network's first up failed (its own changes undone as far
 * as the up could, err_msg() why): failed, and (but held) tried again
 * after its backoff, 1 s doubling to NETD_RETRY_MAX_S. held: the host is
 * part-changed (record_needed(), not on purpose): only the operator's
 * `netdctl up` (or a reload changing the network) tries again. kept: its
 * state file stays. The error is kept. */
static void net_up_failed(struct netd_net *net, bool held, bool kept)
{
	char msg[ERR_MSG_MAX];
	int rc = err_code();

	if (!net_configured(net->daemon, net))
		return;
	snprintf(msg, sizeof(msg), "%s", err_msg());
	snprintf(net->error, sizeof(net->error), "%s", msg);
	net->up_failed = true;
	net->up_held = held;
	net->record_kept = kept || held;
	if (held) {
		net->retry_at = 0;
	} else {
		net->retry_s = net->retry_s ? net->retry_s * 2 : 1;
		if (net->retry_s > NETD_RETRY_MAX_S)
			net->retry_s = NETD_RETRY_MAX_S;
		net->retry_at = now_usec() + (uint64_t)net->retry_s * 1000000u;
	}
	/* at start, the start says it (netd_log_failed()): it may yet fail */
	if (((struct netd *)net->daemon)->notified[0])
		netd_log_failed(net);
	err_set(rc ? rc : -EIO, "%s", msg);
}

void netd_log_failed(const struct netd_net *net)
{
	if (net->up_held) {
		log_err("%s: not applied, and not tried again by itself: what it changed on "
			"the host is not all undone (its state file kept); check the host, then "
			"`netdctl up %s`: %s", net->conf.name, net->conf.name, net->error);
	} else {
		log_err("%s: not applied (tried again in %u s, or at `netdctl up %s`): %s",
			net->conf.name, net->retry_s, net->conf.name, net->error);
	}
}

/* Up, or taken down on purpose: no longer failed, nothing to try again. */
static void net_up_clear(struct netd_net *net)
{
	net->up_failed = net->up_held = net->record_kept = false;
	net->retry_s = 0;
	net->retry_at = 0;
	net->error[0] = '\0';
}

/* Before a first up with no state file (nothing of a previous netd's to
 * restore, which the mode checks itself): the network's device is there,
 * said as the config check says it (file, line, key), before anything on
 * the host changes. (A nat subnet inside its uplink's the mode refuses in
 * its own words, as for any up.) */
static int net_check_host(struct netd *d, struct netd_net *net)
{
	char path[512];

	state_path(d, net, path, sizeof(path));
	if (!net_configured(d, net) || access(path, F_OK) == 0)
		return 0;
	return netd_conf_check_net_dev(&d->conf, &net->conf);
}

static int vif_checkpoint(struct netd_net *net);

/* The vifs net's mode left to another network that holds them (its
 * adoption: netd_vif.elsewhere) are that network's: dropped from net's
 * vifs and record, as vifs_keep_present() drops them. Kept, the vif was
 * listed in both; and once unplugged from its network (vif_find() finds
 * that one first), its plug back there was refused as "online already"
 * in net, which had never plugged it. */
static void vifs_drop_elsewhere(struct netd_net *net)
{
	struct netd_vif *v, *next;
	bool dropped = false;

	for (v = net->vifs; v; v = next) {
		next = v->next;
		if (!v->elsewhere)
			continue;
		log_info("%s: %s forgotten: another network holds it", net->conf.name,
			 v->vif.ifname);
		for (struct netd_vif **pp = &net->unsaved; *pp; pp = &(*pp)->unext)
			if (*pp == v) {
				*pp = v->unext;
				break;
			}
		if (journal_note(net, '-', v))
			log_err("%s: state not saved: %s", net->conf.name, err_msg());
		vif_unlink(net, v);
		free(v->state);
		free(v);
		dropped = true;
	}
	if (dropped && vif_checkpoint(net))
		log_err("%s: state not saved: %s", net->conf.name, err_msg());
}

static int net_up(struct netd_net *net)
{
	struct netd *d = net->daemon;
	char fail[ERR_MSG_MAX];
	json_t *saved = NULL;
	bool was_up = netd_net_is_up(net), keep;
	int rc;

	if (!was_up) {
		rc = net_check_host(d, net);
		if (rc) {
			net_up_failed(net, false, false);
			return rc;
		}
		/* one whose previous setup (another mode's) cannot be
		 * undone: the host holds it, half of it maybe */
		rc = state_other_restore(d, net);
		if (rc) {
			net_up_failed(net, true, true);
			return rc;
		}
		json_decref(net->pending);
		net->pending = NULL;
		saved = state_load(d, net, &net->pending);
		if (saved && !net->vifs)
			vifs_load(net, saved);
	}
	net->prev_undone = net->undo_incomplete = net->record_unreadable = false;
	net->record_waits = false;
	rc = net->ops->up(net, saved);
	if (rc && !was_up && saved && net->record_unreadable) {
		rc = up_without_record(net, &saved);
		if (rc == 1)
			return 0; /* an orphan's: nothing known to take down */
	}
	keep = record_needed(net, saved);
	json_decref(saved);
	if (rc) {
		/* Up again (`netdctl up`, a reload keeping the network) and
		 * failed: the mode repaired nothing or put the host back as
		 * before the network was up, and keeps how to restore it. The
		 * network keeps its state file and vifs: dropping them left a
		 * netd stopped or killed then nothing to undo it with; and the
		 * intents it keeps (net->pending: its refused plugs'). It is
		 * FAILED, not up: its setup is not there to plug vifs into. */
		if (was_up) {
			snprintf(net->error, sizeof(net->error), "%s", err_msg());
			netd_net_set_state(net, NETD_NET_FAILED);
			return rc;
		}
		/* A first up: the mode left the host as before it, the
		 * previous netd's intents stay for the next up (net_forget);
		 * or it did not, and the record stays for that up to retry
		 * the restore (record_needed) */
		snprintf(fail, sizeof(fail), "%s", err_msg());
		/* (one unreadable, not set aside, or one kept for a later
		 * adoption (record_waits): the error says which and what to
		 * do, the host as before) */
		if (keep && !net->record_unreadable && !net->record_waits)
			log_warn("%s: its state file stays: the host is not as before the network "
				 "was up, the next up restores it", net->conf.name);
		else if (!keep && net_forget(net))
			log_err("%s: state not removed: %s", net->conf.name, err_msg());
		json_decref(net->pending);
		net->pending = NULL;
		vifs_free(net);
		err_set(rc, "%s", fail);
		/* a record kept for a later adoption (record_waits) is no
		 * half-undone host: tried again, as any other failure */
		net_up_failed(net, keep && !net->record_waits, keep);
		return rc;
	}
	if (!netd_net_is_applied(net))
		netd_net_set_state(net, NETD_NET_UP);
	if (net->up_failed)
		log_info("%s: applied (it had failed: %s)", net->conf.name, net->error);
	net_up_clear(net);
	vifs_drop_elsewhere(net);
	/* The vifs a previous netd plugged (adopted, or plugged again after a
	 * rollback): shaped as they were, a qdisc deleted meanwhile put back. */
	for (struct netd_vif *v = net->vifs; v; v = v->next)
		if (netd_shape_apply(net, &v->vif, NULL))
			log_warn("%s: %s", net->conf.name, err_msg());
	/* up again: those of a previous netd are undone, the refused plugs'
	 * kept for the next netd (pending_keep). Not while the mode waits
	 * for what serves the network (net_waiting): nothing could undo
	 * them yet; kept in the journal, undone once it serves. */
	if (!was_up && !net_waiting(net))
		pending_undo(net);
	return 0;
}

void netd_net_undo_pending(struct netd_net *net)
{
	pending_undo(net);
}

static int net_down(struct netd_net *net)
{
	int rc;

	/* A failed first up, taken down: left down, not tried again. One
	 * held (its state file kept, the host part-changed) stays failed:
	 * nothing in memory to restore the host from, the next up does. */
	if (!netd_net_is_up(net) && net->up_failed && !net->up_held)
		net_up_clear(net);
	if (!netd_net_is_up(net))
		return 0;
	rc = net->ops->down(net);
	if (rc)
		return rc;
	/* The vifs outlive the network (the guests' interfaces): their
	 * shaping goes with it, as the rest of what netd did. */
	for (struct netd_vif *v = net->vifs; v; v = v->next)
		if (netd_shape_remove(net, &v->vif))
			log_warn("%s: %s", net->conf.name, err_msg());
	netd_net_set_state(net, NETD_NET_DOWN);
	vifs_free(net);
	return net_checkpoint(net, NULL);
}

/* The journal a failed up of a network restored as an orphan left alone
 * with the intents of plugs its previous netd cut short (net_forget): only
 * that mode could undo them, and no network netd runs is of it under that
 * name (a network of another mode would read them as its own). One beside
 * the state file a failed up keeps (up_keeps_record) stays with it. */
static void intents_drop(struct netd_net *net)
{
	char path[512], jpath[512];

	state_path(net->daemon, net, path, sizeof(path));
	journal_path(net->daemon, net, jpath, sizeof(jpath));
	if (access(path, F_OK) == 0)
		return;
	if (unlink(jpath) == 0)
		log_warn("%s: its vif journal %s, with plugs a previous netd cut short, is "
			 "removed undone: no network of mode %s is there to undo them",
			 net->conf.name, jpath, net->ops->name);
}

/* A state file of a network the config no longer has (removed while netd
 * was not running): bring the network back from its recorded config, adopt
 * what is on the host, and take it down, so nothing it did is left behind.
 * A setup the mode cannot adopt is rolled back and applied again before the
 * down; if that second apply fails, the rollback has restored the host
 * already: logged, and 0 when the failed apply was undone in full too. The
 * error names the network once (the caller adds its context with
 * err_prefix_for()); *undone: the setup the file records is gone from the
 * host all the same (what is left is of the failed second apply). */
static int orphan_restore(struct netd *d, const char *name, const char *path, bool *undone)
{
	struct netd_conf oc;
	struct netd_net net;
	bool second = false;
	const char *text;
	json_error_t e;
	json_t *doc;
	char *raw;
	int rc;

	*undone = false; /* every return reads it, the early ones too */
	if (file_read_all(path, &raw, NULL, STATE_MAX) < 0)
		return err_code();
	doc = json_loads(raw, 0, &e);
	free(raw);
	text = json_string_value(json_object_get(doc, "conf"));
	memset(&oc, 0, sizeof(oc));
	if (!text || netd_conf_parse(path, text, strlen(text), &oc) < 0 || oc.n_nets != 1 ||
	    strcmp(oc.nets[0].name, name)) {
		json_decref(doc);
		netd_conf_free(&oc);
		return err_set(-EINVAL, "%s: its state file %s does not say how to undo it; left as "
			       "it is", name, path);
	}
	rc = net_init(d, &net, &oc.nets[0]);
	/* Its recorded config must be of the mode and datapath that wrote
	 * the file: else its up would not read it (and would come here). */
	if (rc == 0 && (strcmp(json_string_value(json_object_get(doc, "mode")) ?: "",
			       net.ops->name) ||
			strcmp(state_datapath(doc), net_datapath(&net))))
		rc = err_set(-EINVAL, "%s: its state file %s does not say how to undo it; left "
				      "as it is", name, path);
	json_decref(doc);
	if (rc == 0) {
		rc = net_up(&net);
		if (rc)
			intents_drop(&net);
		else
			rc = net_down(&net);
		/* the second apply failed, not the down after it */
		second = rc && !netd_net_is_up(&net) && net.prev_undone;
	}
	if (second && !net.undo_incomplete) {
		log_warn("%s: the %s setup a previous netd left is undone; applying it again, to "
			 "take it down, failed and was undone too: %s", name, net.ops->name,
			 err_msg());
		rc = 0;
	} else if (second) {
		*undone = true;
		err_prefix_for(rc, name, "the %s setup a previous netd left is undone, but "
			       "applying it again, to take it down, failed and left part of it",
			       net.ops->name);
	}
	net_fini(&net);
	netd_conf_free(&oc);
	return rc;
}

/* A state file of the network another mode or datapath wrote (the config
 * changed while netd was not running, or restore_on_exit = no left it up):
 * this one's mode can neither read nor undo it, and applying over it left
 * the old setup on the host, its record overwritten (kernel bridge to
 * dpdk) or refused as incomplete (dpdk to kernel). What it records is
 * restored first, as for a network no longer configured; if it cannot be,
 * the network is refused and the file stays for a later try. */
static int state_other_restore(struct netd *d, struct netd_net *net)
{
	char path[512], *raw, was[64];
	bool other, undone;
	const char *mode;
	json_t *doc;
	int rc;

	state_path(d, net, path, sizeof(path));
	if (file_read_all(path, &raw, NULL, STATE_MAX) < 0)
		return 0;
	doc = json_loads(raw, 0, NULL);
	free(raw);
	mode = json_string_value(json_object_get(doc, "mode"));
	other = mode && json_integer_value(json_object_get(doc, "version")) == STATE_VERSION &&
		(strcmp(mode, net->ops->name) || strcmp(state_datapath(doc), net_datapath(net)));
	if (other)
		snprintf(was, sizeof(was), "%s (datapath %s)", mode, state_datapath(doc));
	json_decref(doc);
	if (!other)
		return 0;
	log_warn("%s: now %s (datapath %s), its state file is of %s; restoring what that changed "
		 "first", net->conf.name, net->ops->name, net_datapath(net), was);
	rc = orphan_restore(d, net->conf.name, path, &undone);
	if (rc && undone)
		return err_prefix_for(rc, net->conf.name, "not applied");
	if (rc)
		return err_prefix_for(rc, net->conf.name, "not applied: the %s setup a previous "
				      "netd left is not undone", was);
	return 0;
}

void netd_restore_orphans(struct netd *d)
{
	struct dirent *de;
	DIR *dir = opendir(d->conf.state_dir);

	if (!dir)
		return;
	while ((de = readdir(dir))) {
		char name[IFNAMSIZ], path[512];
		size_t n = strlen(de->d_name);
		bool undone;

		/* <name>.json where name could be a network (an interface name). */
		if (n <= 5 || n - 5 >= IFNAMSIZ || strcmp(de->d_name + n - 5, ".json"))
			continue;
		snprintf(name, sizeof(name), "%.*s", (int)(n - 5), de->d_name);
		if (net_find(d, name))
			continue;
		snprintf(path, sizeof(path), "%s/%s", d->conf.state_dir, de->d_name);
		log_warn("%s: no longer configured; restoring what it changed on the host", name);
		if (orphan_restore(d, name, path, &undone)) {
			if (!undone)
				err_prefix_for(err_code(), name, "could not restore it");
			log_err("%s", err_msg());
		}
	}
	closedir(dir);
}

static int up_nets(struct netd *d, const char *name)
{
	struct netd_net *net;

	if (name) {
		net = net_find(d, name);
		if (!net)
			return err_set(-ENOENT, "no network named '%s'", name);
		return net_up(net);
	}
	/* each on its own: one that fails (its changes undone, or held) does
	 * not keep the others down, nor take down those up already */
	int first = 0;
	char msg[ERR_MSG_MAX] = "";

	for (size_t i = 0; i < d->n_nets; i++) {
		int rc = net_up(&d->nets[i]);

		if (rc && !first) {
			first = rc;
			snprintf(msg, sizeof(msg), "%s", err_msg());
		}
	}
	return first ? err_set(first, "%s", msg) : 0;
}

size_t netd_n_applied(const struct netd *d)
{
	size_t n = 0;

	for (size_t i = 0; i < d->n_nets; i++)
		n += netd_net_is_applied(&d->nets[i]);
	return n;
}

/* What systemd shows (STATUS=): how many networks are up, and each failed
 * one with why, those held saying so. */
static void status_text(const struct netd *d, char *buf, size_t len)
{
	size_t off, failed = 0;

	off = (size_t)snprintf(buf, len, "%zu of %zu network(s) up", netd_n_applied(d),
			       d->n_nets);
	for (size_t i = 0; i < d->n_nets && off < len; i++) {
		const struct netd_net *net = &d->nets[i];

		if (!net->up_failed && net->state != NETD_NET_FAILED)
			continue;
		off += (size_t)snprintf(buf + off, len - off, "%s %s%s (%s)",
					failed++ ? "," : "; failed:", net->conf.name,
					net->up_held ? " held" : "", net->error);
	}
	/* one line: STATUS= ends at a newline */
	for (char *p = buf; *p; p++)
		if (*p == '\n')
			*p = ' ';
}

static void notify_status(struct netd *d)
{
	char text[sizeof(d->notified)], msg[sizeof(text) + 8];

	status_text(d, text, sizeof(text));
	if (!strcmp(text, d->notified))
		return;
	snprintf(d->notified, sizeof(d->notified), "%s", text);
	snprintf(msg, sizeof(msg), "STATUS=%s", text);
	sd_notify(0, msg);
}

void netd_notify_ready(struct netd *d)
{
	char text[sizeof(d->notified)], msg[sizeof(text) + 16];

	status_text(d, text, sizeof(text));
	snprintf(d->notified, sizeof(d->notified), "%s", text);
	snprintf(msg, sizeof(msg), "READY=1\nSTATUS=%s", text);
	sd_notify(0, msg);
}

static int retry_due(sd_event_source *s, uint64_t usec, void *data)
{
	struct netd *d = data;
	uint64_t now = now_usec();

	(void)s;
	(void)usec;
	for (size_t i = 0; i < d->n_nets; i++) {
		struct netd_net *net = &d->nets[i];

		if (!net->up_failed || net->up_held || !net->retry_at || net->retry_at > now)
			continue;
		log_info("%s: trying again to apply it (failed: %s)", net->conf.name, net->error);
		net_up(net); /* logged either way */
	}
	netd_retry_arm(d);
	return 0;
}

void netd_retry_arm(struct netd *d)
{
	uint64_t at = 0;
	int rc;

	if (!d->ev)
		return;
	for (size_t i = 0; i < d->n_nets; i++) {
		const struct netd_net *net = &d->nets[i];

		if (net->up_failed && !net->up_held && net->retry_at &&
		    (!at || net->retry_at < at))
			at = net->retry_at;
	}
	if (d->notified[0])
		notify_status(d);
	if (!at) {
		netd_retry_stop(d);
		return;
	}
	if (d->retry) {
		rc = sd_event_source_set_time(d->retry, at);
		if (rc >= 0)
			rc = sd_event_source_set_enabled(d->retry, SD_EVENT_ONESHOT);
	} else {
		rc = sd_event_add_time(d->ev, &d->retry, CLOCK_MONOTONIC, at, 0, retry_due, d);
	}
	if (rc < 0)
		log_err("failed networks will not be tried again by themselves (`netdctl up` "
			"does): cannot set a timer: %s", strerror(-rc));
}

void netd_retry_stop(struct netd *d)
{
	d->retry = sd_event_source_disable_unref(d->retry);
}

static int down_nets(struct netd *d, const char *name)
{
	int first = 0;
	char msg[ERR_MSG_MAX] = "";

	if (name) {
		struct netd_net *net = net_find(d, name);

		if (!net)
			return err_set(-ENOENT, "no network named '%s'", name);
		return net_down(net);
	}
	/* Reverse order: later networks may sit on earlier ones. */
	for (size_t i = d->n_nets; i-- > 0;) {
		int rc = net_down(&d->nets[i]);

		if (rc && !first) {
			first = rc;
			snprintf(msg, sizeof(msg), "%s", err_msg());
		}
	}
	return first ? err_set(first, "%s", msg) : 0;
}

/* (the retry timer and systemd's STATUS= follow what they did) */
int netd_up(struct netd *d, const char *name)
{
	int rc = up_nets(d, name);

	netd_retry_arm(d);
	return rc;
}

int netd_down(struct netd *d, const char *name)
{
	int rc = down_nets(d, name);

	netd_retry_arm(d);
	return rc;
}

int netd_stop(struct netd *d, unsigned *kept)
{
	int first = 0;
	char msg[ERR_MSG_MAX] = "", path[512];

	*kept = 0;
	for (size_t i = d->n_nets; i-- > 0;) {
		struct netd_net *net = &d->nets[i];
		int rc = net_down(net);

		/* refused on purpose, nothing undone: what the next start
		 * restores from (docs/state.md), not a failed stop */
		if (rc && net_waiting(net)) {
			state_path(d, net, path, sizeof(path));
			err_prefix_for(rc, net->conf.name, "not taken down at stop, its state file "
				       "%s kept for the next start", path);
			log_warn("%s", err_msg());
			(*kept)++;
			continue;
		}
		if (rc && !first) {
			first = rc;
			snprintf(msg, sizeof(msg), "%s", err_msg());
		}
	}
	return first ? err_set(first, "%s", msg) : 0;
}

static bool vif_remembered(const char *ifname, void *data)
{
	struct netd *d = data;

	for (size_t i = 0; i < d->n_nets; i++)
		for (struct netd_vif *v = d->nets[i].vifs; v; v = v->next)
			if (!strcmp(v->vif.ifname, ifname))
				return true;
	return false;
}

/* Does a network netd runs hold the vif v (by its id or its name)? */
static bool vif_held(struct netd *d, const struct vif *v)
{
	for (size_t i = 0; i < d->n_nets; i++)
		if (net_vif_find(&d->nets[i], v->domid, v->devid, v->emu))
			return true;
	return vif_remembered(v->ifname, d);
}

/* One plug a previous netd cut short, from a lone journal (lone_journals()):
 * what it did beside the mode's setup, which is gone, goes, if nothing netd
 * holds now is that vif or has its name: netd's qdisc on it, and its
 * vifname=, only on an interface marked as renamed from its backend's name
 * (an interface of that name may be another's by now). Its filters are
 * swept with every other unknown name's (as_sweep). */
static void lone_intent_undo(struct netd *d, const char *name, json_t *j)
{
	char def[IFNAMSIZ + 8], back[IFNAMSIZ];
	struct nl_link l;
	struct vif v;

	if (vif_from_json(j, &v) < 0) {
		log_warn("%s: vif journal: skipping an unreadable plug: %s", name, err_msg());
		return;
	}
	if (vif_held(d, &v) || nl_link_get(v.ifname, &l) < 0)
		return;
	log_warn("%s: %s was being plugged when netd stopped; undoing what is left of it", name,
		 v.ifname);
	if (nl_qdisc_netd_del(l.ifindex))
		log_warn("%s: %s: %s", name, v.ifname, err_msg());
	snprintf(def, sizeof(def), "vif%u.%u%s", v.domid, v.devid, v.emu ? "-emu" : "");
	if (!strcmp(v.ifname, def) || nl_link_exists(def) ||
	    !(vif_renamed_from(l.alias, back) && !strcmp(back, def)))
		return;
	if (vif_link_rename_back(l.ifindex, def) < 0)
		log_err("%s: %s: cannot rename back to %s: %s", name, v.ifname, def, err_msg());
	else
		log_warn("%s: %s: renamed back to %s", name, v.ifname, def);
}

/* <name>.vifs without <name>.json of a network the config no longer has:
 * the intents a failed first up kept (net_forget()) for an up that will
 * not come. The mode's setup they were plugs into is gone (that up rolled
 * it back: only then does the state file go), and with it what the mode
 * did for them (a port of a deleted bridge; a route mode's marked routes
 * are swept by its sweep); what is left is undone (lone_intent_undo()) and
 * the journal removed, logged. Once every network is up: a vif one of
 * them holds is left alone. */
static void lone_journals(struct netd *d)
{
	DIR *dir = opendir(d->conf.state_dir);
	struct dirent *de;

	if (!dir)
		return;
	while ((de = readdir(dir))) {
		char name[IFNAMSIZ], path[512], jpath[512];
		size_t n = strlen(de->d_name), i;
		struct replay r;
		json_t *j;
		int rc;

		if (n <= 5 || n - 5 >= IFNAMSIZ || strcmp(de->d_name + n - 5, ".vifs"))
			continue;
		snprintf(name, sizeof(name), "%.*s", (int)(n - 5), de->d_name);
		snprintf(path, sizeof(path), "%s/%s.json", d->conf.state_dir, name);
		if (net_find(d, name) || access(path, F_OK) == 0)
			continue;
		snprintf(jpath, sizeof(jpath), "%s/%s", d->conf.state_dir, de->d_name);
		r = (struct replay){ json_array(), json_array(), 0, name, NULL };
		rc = r.vifs && r.pending ? journal_foreach(jpath, STATE_MAX, replay_vif, &r)
					 : err_set(-ENOMEM, "out of memory");
		if (rc == 0) {
			log_warn("%s: no longer configured; its vif journal %s, with %zu plug(s) a "
				 "previous netd cut short, is undone and removed", name, jpath,
				 json_array_size(r.pending));
			json_array_foreach(r.pending, i, j)
				lone_intent_undo(d, name, j);
			if (unlink(jpath) < 0 && errno != ENOENT)
				log_err("%s: %s: %s", name, jpath, strerror(errno));
		} else {
			log_err("%s: vif journal %s not read: %s", name, jpath, err_msg());
		}
		json_decref(r.vifs);
		json_decref(r.pending);
		json_decref(r.by);
	}
	closedir(dir);
}

/* Mark and sweep, once every network is up with its record: what netd puts
 * on the host for a vif and no network remembers goes, and only what is
 * provably netd's (its bridges' guest ports, its marked routes, its tables'
 * elements). Plugs a crash cut short are undone from their journal records
 * already (net_up); this catches what no record tells of. */
void netd_reconcile(struct netd *d)
{
	static const enum netd_mode modes[] = { NETD_MODE_BRIDGE, NETD_MODE_ROUTE, NETD_MODE_NAT,
						NETD_MODE_OVS };
	struct netd_net **nets = calloc(d->n_nets ? d->n_nets : 1, sizeof(*nets));

	if (!nets) {
		log_err("reconcile: out of memory");
		return;
	}
	for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
		const struct netd_mode_ops *ops = netd_mode_ops_for(modes[m]);
		size_t n = 0;

		if (!ops || !ops->sweep)
			continue;
		const char *kept = NULL;

		for (size_t i = 0; i < d->n_nets; i++) {
			if (d->nets[i].ops == ops && netd_net_is_up(&d->nets[i]))
				nets[n++] = &d->nets[i];
			if (d->nets[i].ops == ops && d->nets[i].record_kept)
				kept = d->nets[i].conf.name;
		}
		/* a failed network's record, kept for its next up, names vifs
		 * netd does not hold in memory: what they have stays */
		if (kept) {
			log_warn("reconcile (%s mode): not swept: %s failed, its state file kept "
				 "for its next up", ops->name, kept);
			continue;
		}
		if (ops->sweep(nets, n))
			log_err("reconcile (%s mode): %s", ops->name, err_msg());
	}
	free(nets);
	lone_journals(d);
	for (size_t i = 0; i < d->n_nets; i++)
		if (d->nets[i].record_kept) {
			log_warn("reconcile: anti-spoofing elements not swept: %s failed, its "
				 "state file kept for its next up", d->nets[i].conf.name);
			return;
		}
	for (int fam = AS_FAM_BRIDGE; fam <= AS_FAM_INET; fam++)
		if (as_sweep(fam, vif_remembered, d))
			log_err("reconcile: %s", err_msg());
}

/* The vifs of a network a reload re-applies, kept across its down and up. */
struct replug {
	char net[IFNAMSIZ];
	struct vif *v;
	size_t n;
};

static int replug_keep(struct replug *rp, const struct netd_net *net)
{
	snprintf(rp->net, sizeof(rp->net), "%s", net->conf.name);
	rp->n = 0;
	rp->v = calloc(net->n_vifs ? net->n_vifs : 1, sizeof(*rp->v));
	if (!rp->v)
		return err_set(-ENOMEM, "out of memory");
	for (const struct netd_vif *v = net->vifs; v; v = v->next)
		rp->v[rp->n++] = v->vif;
	return 0;
}

static void replug_lost(struct netd *d, const struct vif *v, const char *why)
{
	char msg[ERR_MSG_MAX + 40];

	if (!d->vif_lost)
		return;
	snprintf(msg, sizeof(msg), "not plugged again after a reload: %s", why);
	d->vif_lost(d->vif_lost_data, v, msg);
}

/* The kept vifs plugged into the re-applied network as they were (same
 * keys, same names), and recorded; one that cannot be is named in the
 * error (the others stay plugged). */
static int replug_run(struct netd *d, const struct replug *rp)
{
	struct netd_net *net = net_find(d, rp->net);
	char first[ERR_MSG_MAX] = "";
	size_t failed = 0;
	int rc = 0;

	if (!rp->n)
		return 0;
	if (!net || !netd_net_is_up(net)) {
		err_set(-ENETDOWN, "%s is down: its %zu vif(s) are unplugged", rp->net, rp->n);
		snprintf(first, sizeof(first), "%s", err_msg());
		for (size_t i = 0; i < rp->n; i++) {
			replug_lost(d, &rp->v[i], first);
			/* off the switch for good: Dom0's IPv6 back (the down
			 * left it off for a re-plug, vifs_stay_ports) */
			if (vif_port_ipv6_restore(rp->v[i].ifname, NULL))
				log_warn("%s: %s", rp->net, err_msg());
		}
		return err_set(-ENETDOWN, "%s", first);
	}
	for (size_t i = 0; i < rp->n; i++) {
		const struct vif *v = &rp->v[i];
		struct netd_vif *nv = calloc(1, sizeof(*nv));

		rc = nv ? net->ops->vif_online(net, v) : err_set(-ENOMEM, "out of memory");
		if (rc == 0) {
			rc = netd_shape_apply(net, v, NULL);
			if (rc) {
				char msg[ERR_MSG_MAX];

				snprintf(msg, sizeof(msg), "%s", err_msg());
				net->ops->vif_offline(net, v);
				err_set(rc, "%s", msg);
			}
		}
		if (rc == 0) {
			nv->vif = *v;
			rc = vif_link(net, nv);
			if (rc)
				net->ops->vif_offline(net, v);
		}
		if (rc) {
			free(nv);
			log_err("reload: %s: %s not plugged again: %s", rp->net, v->ifname, err_msg());
			if (!failed++)
				snprintf(first, sizeof(first), "%s", err_msg());
			replug_lost(d, v, err_msg());
			continue;
		}
		log_info("%s: %s plugged again", rp->net, v->ifname);
	}
	rc = net_checkpoint(net, "applied");
	if (rc) {
		/* Not remembered, so not left plugged either (see netd_vif_online). */
		char msg[ERR_MSG_MAX];

		snprintf(msg, sizeof(msg), "%s", err_msg());
		while (net->vifs) {
			replug_lost(d, &net->vifs->vif, msg);
			vif_unsave(net, net->vifs);
		}
		return err_set(rc, "%s: its vifs are unplugged, their state cannot be saved: %s",
			       rp->net, msg);
	}
	if (failed)
		return err_set(-EIO, "%s: %zu vif(s) not plugged again, the first: %s", rp->net,
			       failed, first);
	return 0;
}

/* The new config against the host: netd's own keys, and each network that
 * is new or changed (a typo in a physdev refuses the reload, the running
 * network kept). One unchanged is not checked again: a network failed
 * for want of its device (a late NIC) would refuse every reload. */
static int reload_check_host(struct netd *d, const struct netd_conf *nc)
{
	int rc = netd_conf_check_daemon(nc);

	for (size_t i = 0; rc == 0 && i < nc->n_nets; i++) {
		struct netd_net *old = net_find(d, nc->nets[i].name);

		if (!old || !netd_net_conf_equal(&nc->nets[i], &old->conf))
			rc = netd_conf_check_net_host(nc, &nc->nets[i]);
	}
	return rc;
}

int netd_reload(struct netd *d)
{
	struct netd_conf nc;
	struct netd_net *nets;
	struct replug *keep;
	size_t n = 0, n_keep = 0;
	char first[ERR_MSG_MAX] = "";
	int rc;

	memset(&nc, 0, sizeof(nc));
	rc = netd_conf_load(d->conf_path, &nc);
	if (rc == 0)
		rc = reload_check_host(d, &nc);
	if (rc) {
		netd_conf_free(&nc);
		return err_prefix(rc, "reload refused, running configuration kept");
	}
	nets = calloc(nc.n_nets ? nc.n_nets : 1, sizeof(*nets));
	if (!nets) {
		netd_conf_free(&nc);
		return err_set(-ENOMEM, "out of memory");
	}
	keep = calloc(d->n_nets ? d->n_nets : 1, sizeof(*keep));
	if (!keep) {
		free(nets);
		netd_conf_free(&nc);
		return err_set(-ENOMEM, "out of memory");
	}
	/* Networks gone or changed go down first. A changed one's vifs are
	 * plugged again once it is back (an operator flipping antispoof
	 * expects the guests to stay, with the new setting); a removed
	 * one's go with it. */
	for (size_t i = 0; i < d->n_nets; i++) {
		struct netd_net *net = &d->nets[i];
		const struct netd_net_conf *c = netd_conf_find(&nc, net->conf.name);

		if (c && netd_net_conf_equal(c, &net->conf))
			continue;
		bool kept = c && netd_net_is_up(net) && net->n_vifs &&
			    replug_keep(&keep[n_keep], net) == 0;

		if (kept)
			n_keep++;
		else if (!c && net->n_vifs)
			log_warn("reload: %s is no longer configured; its %u vif(s) are unplugged",
				 net->conf.name, net->n_vifs);
		net->vifs_stay_ports = kept && c->mode != NETD_MODE_ROUTE &&
				       c->datapath != NETD_DP_DPDK;
		if (net_down(net))
			log_err("reload: %s", err_msg());
		net->vifs_stay_ports = false;
	}
	for (size_t i = 0; i < nc.n_nets; i++) {
		struct netd_net *old = net_find(d, nc.nets[i].name);

		if (old && netd_net_conf_equal(&nc.nets[i], &old->conf) && netd_net_is_up(old)) {
			nets[n] = *old; /* keep it running, as it is */
			old->ops = NULL;
			old->priv = NULL;
			old->vifs = NULL;
			old->vif_hash = NULL;
			old->journal = NULL;
			old->pending = NULL;
			old->conf.forwards = NULL;
			old->conf_text = NULL;
		} else if (net_init(d, &nets[n], &nc.nets[i])) {
			log_err("reload: %s", err_msg());
			continue;
		} else if (old && netd_net_conf_equal(&nc.nets[i], &old->conf) && old->up_failed) {
			/* failed, unchanged: its failure and backoff kept (not
			 * tried by the reload); one held stays so */
			nets[n].up_failed = true;
			nets[n].up_held = old->up_held;
			nets[n].record_kept = old->record_kept;
			nets[n].retry_s = old->retry_s;
			nets[n].retry_at = old->retry_at;
			snprintf(nets[n].error, sizeof(nets[n].error), "%s", old->error);
		}
		n++;
	}
	netd_fini(d);
	d->nets = nets;
	d->n_nets = n;
	netd_conf_free(&nc);
	rc = 0;
	for (size_t i = 0; i < d->n_nets; i++) {
		int r;

		/* unchanged and failed: kept as it is, as an unchanged network
		 * that is up is; its retries (or, held, the operator) go on */
		if (d->nets[i].up_failed)
			continue;
		r = net_up(&d->nets[i]);
		if (r && !rc) {
			rc = r;
			snprintf(first, sizeof(first), "%s", err_msg());
		}
		if (r)
			log_err("reload: %s", err_msg());
	}
	for (size_t i = 0; i < n_keep; i++) {
		int r = replug_run(d, &keep[i]);

		if (r && !rc) {
			rc = r;
			snprintf(first, sizeof(first), "%s", err_msg());
		}
		if (r)
			log_err("reload: %s", err_msg());
		free(keep[i].v);
	}
	free(keep);
	netd_sysctl_sweep(d);
	netd_retry_arm(d);
	return rc ? err_set(rc, "%s", first) : 0;
}

/* Which network a vif joins:
 * - bridge= names it (libxl always writes one, default xenbr0);
 * - a vif-route or vif-nat script (mode hint) whose bridge= names no network
 *   of that mode — Xen's own vif-route ignores bridge= — joins the network of
 *   that mode whose physdev is the vif's gatewaydev, else the only one;
 * - no bridge= at all: xenbr0, else the only network there is. */
static struct netd_net *vif_network(struct netd *d, const struct vif *v, const char *mode)
{
	struct netd_net *net = v->bridge[0] ? net_find(d, v->bridge) : NULL, *only = NULL;
	size_t n = 0;

	if (net && (!mode || !strcmp(mode, net->ops->name)))
		return net;
	if (mode && strcmp(mode, "bridge")) {
		for (size_t i = 0; i < d->n_nets; i++) {
			struct netd_net *c = &d->nets[i];

			if (strcmp(c->ops->name, mode))
				continue;
			if (v->gatewaydev[0] && !strcmp(c->conf.physdev, v->gatewaydev))
				return c;
			only = c;
			n++;
		}
		if (n == 1)
			return only;
		if (n > 1) {
			err_set(-EINVAL, "%s: %zu %s networks; name one with bridge= or gatewaydev=",
				v->ifname, n, mode);
			return NULL;
		}
		if (!net) {
			err_set(-ENOENT, "%s: no %s network is configured", v->ifname, mode);
			return NULL;
		}
	}
	if (net) {
		err_set(-EINVAL, "%s: a vif-%s script cannot plug into %s, a %s network",
			v->ifname, mode, net->conf.name, net->ops->name);
		return NULL;
	}
	if (v->bridge[0]) {
		err_set(-ENOENT, "vif%u.%u: unknown bridge '%s'", v->domid, v->devid, v->bridge);
		return NULL;
	}
	net = net_find(d, "xenbr0");
	if (net)
		return net;
	if (d->n_nets == 1)
		return &d->nets[0];
	err_set(-EINVAL, "vif%u.%u: no bridge= given and %zu networks configured",
		v->domid, v->devid, d->n_nets);
	return NULL;
}

/* "D.N" is the PV vif vifD.N; "D.N-emu" the tap of an HVM guest's emulated
 * NIC (qemu's vifD.N-emu, Xen's type_if=tap), plugged alongside the PV vif
 * until the guest's PV drivers take over. Which of the two a plugged vif is
 * stays in its record (vif.emu), whatever its name. */
static int vif_ref_parse(const char *id, uint32_t *domid, uint32_t *devid, bool *emu)
{
	size_t n = id ? strlen(id) : 0;
	char buf[32];

	*emu = n > 4 && !strcmp(id + n - 4, "-emu");
	if (!*emu)
		return vif_id_parse(id, domid, devid);
	snprintf(buf, sizeof(buf), "%.*s", (int)(n - 4), id);
	return vif_id_parse(buf, domid, devid);
}

static struct netd_vif *vif_find(struct netd *d, uint32_t domid, uint32_t devid, bool emu,
				 struct netd_net **net_out)
{
	for (size_t i = 0; i < d->n_nets; i++) {
		struct netd_vif *v = net_vif_find(&d->nets[i], domid, devid, emu);

		if (v) {
			*net_out = &d->nets[i];
			return v;
		}
	}
	return NULL;
}

/* A vif given vifname=NAME is renamed from the backend's vifD.N (vifD.N-emu)
 * before the mode plugs it, as vif-common.sh does, and marked as renamed by
 * netd (vif/rename.c), so that a sweep knows it with its record lost. A
 * NAME that exists is refused, never reused: it may be another guest's vif.
 * On success *undo holds what vif_rename_undo() needs (ifindex 0: nothing
 * was renamed). */
struct vif_rename_undo {
	int ifindex;
	bool was_up;
	char name[IFNAMSIZ + 8]; /* vifD.N[-emu]; fits IFNAMSIZ for every valid id */
};

static bool vif_rename_undo(const struct vif_rename_undo *undo);

static int vif_rename(const struct vif *v, bool emu, struct vif_rename_undo *undo)
{
	char def[IFNAMSIZ + 8];
	struct nl_link l;
	int rc = 0;

	memset(undo, 0, sizeof(*undo));
	snprintf(def, sizeof(def), "vif%u.%u%s", v->domid, v->devid, emu ? "-emu" : "");
	if (!strcmp(v->ifname, def))
		return 0;
	if (nl_link_exists(v->ifname))
		return err_set(-EEXIST, "vifname %s already exists", v->ifname);
	if (nl_link_get(def, &l) < 0)
		return err_set(-ENODEV, "%s: no such interface (to be renamed %s)", def, v->ifname);
	/* Older kernels (Debian 12's 6.1) refuse to rename an interface that is up. */
	if (l.flags & IFF_UP)
		rc = nl_link_set_up(l.ifindex, false);
	if (rc == 0)
		rc = nl_link_rename(l.ifindex, v->ifname);
	if (rc) {
		if (rc == -EEXIST)
			err_set(rc, "vifname %s already exists", v->ifname);
		else
			err_prefix(rc, "%s: cannot rename to %s", def, v->ifname);
		if (l.flags & IFF_UP)
			nl_link_set_up(l.ifindex, true);
		return rc;
	}
	undo->ifindex = l.ifindex;
	undo->was_up = l.flags & IFF_UP;
	snprintf(undo->name, sizeof(undo->name), "%s", def);
	rc = vif_link_mark_renamed(l.ifindex, def);
	if (rc) {
		err_prefix(rc, "%s: cannot mark as renamed to %s", def, v->ifname);
		vif_rename_undo(undo);
		memset(undo, 0, sizeof(*undo));
	}
	return rc;
}

/* After the mode failed (and put back what it changed), or the mark could
 * not be set: the old name and up state, keeping the error message. false:
 * the name could not be given back. */
static bool vif_rename_undo(const struct vif_rename_undo *undo)
{
	char msg[ERR_MSG_MAX];
	int rc = err_code();
	bool ok = true;

	if (!undo->ifindex)
		return true;
	snprintf(msg, sizeof(msg), "%s", err_msg());
	if (vif_link_rename_back(undo->ifindex, undo->name) < 0) {
		log_err("%s: cannot rename back to %s: %s", msg, undo->name, err_msg());
		ok = false;
	}
	if (undo->was_up)
		nl_link_set_up(undo->ifindex, true);
	err_set(rc ? rc : -EIO, "%s", msg);
	return ok;
}

/* After a vif change: the state file now, or at netd_defer_checkpoints(d, false).
 * A failed network's (an unplug: plugs are refused) is saved now: only an
 * applied one can be UNSAVED, which is how the deferred write finds it. */
static int vif_checkpoint(struct netd_net *net)
{
	struct netd *d = net->daemon;

	if (d->defer_checkpoints && netd_net_is_applied(net)) {
		netd_net_set_state(net, NETD_NET_UNSAVED);
		return 0;
	}
	return journal_flush(net);
}

int netd_defer_checkpoints(struct netd *d, bool defer)
{
	int first = 0;

	d->defer_checkpoints = defer;
	if (defer)
		return 0;
	for (size_t i = 0; i < d->n_nets; i++) {
		struct netd_net *net = &d->nets[i];
		struct netd_vif *nv;
		int rc;

		/* One that went down meanwhile is DOWN: its file is gone,
		 * rightly, and vifs_free() forgot its unsaved vifs. */
		if (net->state != NETD_NET_UNSAVED)
			continue;
		netd_net_set_state(net, NETD_NET_UP);
		rc = journal_flush(net);
		if (rc) {
			snprintf(d->save_error, sizeof(d->save_error), "%s", err_msg());
			log_err("%s: state not saved, the vifs just plugged are unplugged again: %s",
				net->conf.name, err_msg());
			if (!first)
				first = rc;
		}
		while ((nv = net->unsaved)) {
			net->unsaved = nv->unext;
			nv->unext = NULL;
			if (rc)
				vif_unsave(net, nv);
		}
	}
	return first ? err_set(first, "%s", d->save_error) : 0;
}

bool netd_vif_is_online(struct netd *d, const char *id)
{
	struct netd_net *net;
	uint32_t domid, devid;
	bool emu;

	return vif_ref_parse(id, &domid, &devid, &emu) == 0 &&
	       vif_find(d, domid, devid, emu, &net) != NULL;
}

/* A fresh plug the mode made, undone after a failure of netd's own (its
 * shaping, memory), keeping the error. true: the host is as before it. */
static bool plug_undo(struct netd_net *net, const struct vif *v,
		      const struct vif_rename_undo *undo)
{
	char msg[ERR_MSG_MAX];
	int rc = err_code();
	bool ok = true;

	snprintf(msg, sizeof(msg), "%s", err_msg());
	if (net->ops->vif_offline(net, v)) {
		log_err("%s: %s", net->conf.name, err_msg());
		ok = false;
	}
	err_set(rc ? rc : -EIO, "%s", msg);
	return vif_rename_undo(undo) && ok;
}

static int vif_online(struct netd *d, const char *id, json_t *args, json_t **result)
{
	struct netd_net *net, *cur;
	struct netd_vif *nv, *old;
	struct vif_rename_undo undo;
	const char *key, *mode = NULL;
	json_t *val;
	struct vif v;
	uint32_t domid, devid;
	bool emu, fresh;
	int rc;

	rc = vif_ref_parse(id, &domid, &devid, &emu);
	if (rc)
		return rc;
	vif_init(&v, domid, devid);
	v.emu = emu;
	if (args && !json_is_object(args))
		return err_set(-EINVAL, "vif %s: 'args' must be an object of strings", id);
	json_object_foreach(args, key, val) {
		if (!json_is_string(val))
			return err_set(-EINVAL, "vif %s: value of '%s' must be a string", id, key);
		/* The mode the caller expects (vif-route, vif-nat scripts). */
		if (!strcmp(key, "mode")) {
			mode = json_string_value(val);
			continue;
		}
		rc = vif_set(&v, key, json_string_value(val));
		if (rc)
			return err_prefix(rc, "vif %s", id);
	}
	rc = vif_check(&v);
	if (rc)
		return err_prefix(rc, "vif %s", id);
	if (emu && strlen(v.ifname) + 4 >= IFNAMSIZ)
		return err_set(-EINVAL, "vif %s: %s-emu is longer than 15 characters", id, v.ifname);
	if (emu)
		strcat(v.ifname, "-emu");
	/* vif-openvswitch's bridge=BR.TAG: a name no network has, whose BR
	 * is an ovs network's. */
	if (v.bridge[0] && !net_find(d, v.bridge) && strchr(v.bridge, '.')) {
		char br[IFNAMSIZ];
		struct netd_net *o;

		snprintf(br, sizeof(br), "%.*s", (int)(strchr(v.bridge, '.') - v.bridge), v.bridge);
		o = net_find(d, br);
		if (o && o->conf.mode == NETD_MODE_OVS) {
			rc = vif_bridge_split(&v);
			if (rc)
				return err_prefix(rc, "vif %s", id);
		}
	}
	net = vif_network(d, &v, mode);
	if (!net)
		return err_code();
	if (v.bridge_vlan[0] && net->conf.mode != NETD_MODE_OVS)
		return err_set(-EINVAL, "%s: bridge=%s%s: VLANs in bridge= are Open vSwitch's syntax; %s is a %s network",
			       v.ifname, v.bridge, v.bridge_vlan, net->conf.name, net->ops->name);
	if (net->state == NETD_NET_FAILED)
		return err_set(-ENETDOWN, "%s: network %s is not applied, its repair failed (`netdctl "
			       "up %s` tries again): %s", v.ifname, net->conf.name, net->conf.name,
			       net->error);
	if (net->up_failed && net->up_held)
		return err_set(-ENETDOWN, "%s: network %s failed to come up and is held (the host "
			       "part-changed; check it, then `netdctl up %s`): %s", v.ifname,
			       net->conf.name, net->conf.name, net->error);
	if (net->up_failed)
		return err_set(-ENETDOWN, "%s: network %s failed to come up (tried again in "
			       "%lld s, or at `netdctl up %s`): %s", v.ifname, net->conf.name,
			       retry_in_s(net), net->conf.name, net->error);
	if (!netd_net_is_up(net))
		return err_set(-ENETDOWN, "%s: network %s is down", v.ifname, net->conf.name);
	old = vif_find(d, domid, devid, emu, &cur);
	if (old && (cur != net || strcmp(old->vif.ifname, v.ifname)))
		return err_set(-EBUSY, "vif %s is online already as %s in %s", id, old->vif.ifname,
			       cur->conf.name);
	rc = netd_vif_guard_ips(net, &v);
	if (rc == 0)
		rc = netd_vif_guard_names(d, &v);
	if (rc == 0)
		rc = netd_vif_guard_mac(net, &v);
	if (rc)
		return rc;
	/* A new plug is on disk before it touches the host (see
	 * journal_intent()); one that cannot be is refused, untouched. So is
	 * a dpdk vif's re-plug with a dpswitch that does not show its ports'
	 * keys (replug_intent): dpswitch may carry out a port-add netd gave
	 * up on (or was killed waiting for) late, with keys netd does not
	 * hold, which the next netd puts back (pending_undo). One that shows
	 * them tells the next netd itself (its first check of the ports): the
	 * re-plug's one record is its '+', as in the other modes. */
	if (!old || (net->ops->replug_intent && net->ops->replug_intent(net))) {
		rc = journal_intent(net, &v);
		if (rc)
			return err_prefix(rc, "vif %s: not plugged, its state cannot be saved", id);
	}
	/* Plugged already under its name: renamed then, nothing to rename now.
	 * A dpdk network's vif has no interface to rename (dpswitch's port). */
	memset(&undo, 0, sizeof(undo));
	if (!old && net->ops != &dps_mode_ops) {
		rc = vif_rename(&v, emu, &undo);
		if (rc) {
			journal_cancel(net, &v); /* vif_rename() undoes its own */
			return rc;
		}
	}
	rc = FAULT_POINT("vif-renamed"); /* tests: renamed, not yet plugged */
	if (rc == 0)
		rc = net->ops->vif_online(net, &v);
	if (rc) {
		/* The mode put back what it changed (every op does), unless
		 * its request went unanswered (-ETIMEDOUT: dpswitch carries out
		 * a port-add netd gave up on when it answers again; or
		 * -ECONNRESET: it died after reading it, maybe after carrying
		 * it out and keeping it in its --state): the intent is what
		 * lets the next netd undo that. */
		if (vif_rename_undo(&undo) && !old && rc != -ETIMEDOUT && rc != -ECONNRESET)
			journal_cancel(net, &v);
		return rc;
	}
	rc = netd_shape_apply(net, &v, old ? &old->vif : NULL);
	if (rc) {
		/* Refused as a whole: a fresh plug undone, a re-plug back to its
		 * old keys. */
		char msg[ERR_MSG_MAX];

		snprintf(msg, sizeof(msg), "%s", err_msg());
		if (old) {
			if (net->ops->vif_online(net, &old->vif) ||
			    netd_shape_apply(net, &old->vif, NULL))
				log_err("%s: %s", net->conf.name, err_msg());
		} else {
			err_set(rc, "vif %s: %s", id, msg);
			if (plug_undo(net, &v, &undo))
				journal_cancel(net, &v);
		}
		return err_set(rc, "vif %s: %s", id, msg);
	}
	fresh = !old;
	if (!old) {
		nv = calloc(1, sizeof(*nv));
		if (nv)
			nv->vif = v;
		if (!nv || vif_link(net, nv)) {
			free(nv);
			err_set(-ENOMEM, "out of memory");
			if (plug_undo(net, &v, &undo))
				journal_cancel(net, &v);
			return -ENOMEM;
		}
		old = nv;
	}
	/* A re-plug may bring another MAC (never another name: refused above). */
	vif_mac_index(net, old, false);
	old->vif = v;
	vif_mac_index(net, old, true);
	free(old->state);
	old->state = NULL;
	rc = journal_note(net, '+', old);
	if (rc == 0)
		rc = vif_checkpoint(net);
	if (rc && fresh) {
		/* Answered ok, it would be forgotten by the next netd: refused. */
		char msg[ERR_MSG_MAX];

		snprintf(msg, sizeof(msg), "%s", err_msg());
		log_err("%s: state not saved, %s unplugged again: %s", net->conf.name, v.ifname,
			msg);
		vif_unsave(net, old);
		err_set(rc, "vif %s: not plugged, its state cannot be saved: %s", id, msg);
		vif_rename_undo(&undo);
		return rc;
	}
	if (rc) /* a re-plug: the vif stays remembered, with its old keys */
		log_err("%s: state not saved: %s", net->conf.name, err_msg());
	if (fresh && d->defer_checkpoints) {
		old->unext = net->unsaved;
		net->unsaved = old;
	}
	if (result) {
		*result = json_pack("{s:s, s:s, s:s}", "ifname", v.ifname, "network",
				    net->conf.name, "mode", net->ops->name);
		/* accepted and held, plugged once the network is served */
		if (*result && net_waiting(net))
			json_object_set_new(*result, "queued", json_string(net_waiting(net)));
	}
	return 0;
}

/* An unplug the mode could not make yet, its network waiting for what
 * serves it (net_waiting: dpdk's dpswitch, whose --state file may plug
 * the port again once it comes): after the vif's '-', on disk at once,
 * the intent a plug cut short leaves, so that this netd once the mode
 * serves (netd_net_undo_pending), or the next one if this one is killed
 * first (net_up), undoes it. One that cannot be written is kept in
 * memory (pending_keep): this netd still undoes it. */
static void unplug_intent(struct netd_net *net, const struct vif *v)
{
	if (journal_sync(net) == 0 && journal_intent(net, v) == 0)
		return;
	log_warn("%s: %s: its unplug, to be made once the network is served, is not in the vif "
		 "journal (a netd killed before then leaves it undone): %s", net->conf.name,
		 v->ifname, err_msg());
	pending_keep(net, v);
}

int netd_vif_offline(struct netd *d, const char *id)
{
	char def[IFNAMSIZ + 8];
	struct netd_vif *v;
	struct netd_net *net;
	struct vif gone;
	uint32_t domid, devid;
	bool emu, waiting;
	int rc;

	rc = vif_ref_parse(id, &domid, &devid, &emu);
	if (rc)
		return rc;
	v = vif_find(d, domid, devid, emu, &net);
	if (!v)
		return err_set(-ENOENT, "vif %s is not online", id);
	if (netd_shape_remove(net, &v->vif))
		log_warn("%s: %s", net->conf.name, err_msg());
	rc = net->ops->vif_offline(net, &v->vif);
	if (rc)
		return rc;
	/* not unplugged yet: after the op, which may have found that the
	 * network waits (dpdk: dpswitch gone since it answered) */
	waiting = !v->vif.emu && net_waiting(net);
	gone = v->vif;
	/* unplugged: a vif renamed for its vifname= is the backend's again */
	if (vif_rename_back(net, &v->vif, true, def) > 0)
		log_info("%s: %s unplugged, renamed back to %s", net->conf.name, v->vif.ifname, def);
	for (struct netd_vif **pp = &net->unsaved; *pp; pp = &(*pp)->unext)
		if (*pp == v) {
			*pp = v->unext;
			break;
		}
	rc = journal_note(net, '-', v);
	vif_unlink(net, v);
	free(v->state);
	free(v);
	if (rc == 0)
		rc = vif_checkpoint(net);
	if (rc)
		log_err("%s: state not saved: %s", net->conf.name, err_msg());
	if (waiting)
		unplug_intent(net, &gone);
	return 0;
}

/* Why no network answered cmd: a mode's command with no network of that
 * mode (or the one named is of another) is not an unknown command. */
static int mode_command_unanswered(struct netd *d, const char *cmd, const char *name)
{
	const struct netd_mode_ops *mode = netd_mode_of_command(cmd);
	struct netd_net *net = name ? net_find(d, name) : NULL;

	if (name && !net)
		return err_set(-ENOENT, "no network named '%s'", name);
	if (!mode)
		return err_set(-EOPNOTSUPP, "unknown command '%s'", cmd);
	if (net && net->ops != mode)
		return err_set(-EOPNOTSUPP, "%s: network %s is in %s mode, not %s", cmd, name,
			       net->ops->name, mode->name);
	for (size_t i = 0; i < d->n_nets; i++)
		if (d->nets[i].ops == mode)
			return err_set(-EOPNOTSUPP, "%s: no %s network took it", cmd, mode->name);
	return err_set(-ENOENT, "%s: no network in %s mode", cmd, mode->name);
}

int netd_mode_command(struct netd *d, const char *cmd, const char *name, json_t *req,
		      json_t **result)
{
	for (size_t i = 0; i < d->n_nets; i++) {
		struct netd_net *net = &d->nets[i];
		int rc;

		if ((name && strcmp(net->conf.name, name)) || !net->ops->command)
			continue;
		rc = net->ops->command(net, cmd, req, result);
		if (rc != -EOPNOTSUPP)
			return rc;
	}
	return mode_command_unanswered(d, cmd, name);
}

/* The plug itself is vif_online(); this counts and times it (metrics). */
int netd_vif_online(struct netd *d, const char *id, json_t *args, json_t **result)
{
	struct timespec a, b;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &a);
	rc = vif_online(d, id, args, result);
	clock_gettime(CLOCK_MONOTONIC, &b);
	netd_stats_plug(&d->stats, rc,
			(uint64_t)((b.tv_sec - a.tv_sec) * 1000000000ll + (b.tv_nsec - a.tv_nsec)) / 1000);
	return rc;
}

/* What `status` says: up, down, failed (with the error beside it), or
 * waiting (applied, what serves it not there yet: why beside it). */
static const char *net_status_state(struct netd_net *net)
{
	if (net->state == NETD_NET_FAILED || net->up_failed)
		return "failed";
	if (net_waiting(net))
		return "waiting";
	return netd_net_is_up(net) ? "up" : "down";
}

json_t *netd_status(struct netd *d)
{
	json_t *nets = json_array();

	for (size_t i = 0; i < d->n_nets; i++) {
		struct netd_net *net = &d->nets[i];
		json_t *vifs = json_array(), *n;

		for (struct netd_vif *v = net->vifs; v; v = v->next)
			json_array_append_new(vifs, json_string(v->vif.ifname));
		n = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o}",
			"name", net->conf.name, "mode", net->ops->name,
			"state", net_status_state(net),
			"details", netd_net_is_up(net) ? net->ops->status(net) : json_object(), "vifs", vifs,
			"backend", netd_backend_stats(d, net));
		if (net->state == NETD_NET_FAILED || net->up_failed)
			json_object_set_new(n, "error", json_string(net->error));
		if (net->up_failed && net->up_held)
			json_object_set_new(n, "held", json_true());
		else if (net->up_failed && net->retry_at)
			json_object_set_new(n, "retry_in_s", json_integer(retry_in_s(net)));
		if (net_waiting(net))
			json_object_set_new(n, "waiting", json_string(net_waiting(net)));
		json_array_append_new(nets, n);
	}
	return json_pack("{s:o, s:o}", "networks", nets, "daemon", netd_stats_json(&d->stats));
}

json_t *netd_vif_list(struct netd *d)
{
	json_t *list = json_array();

	for (size_t i = 0; i < d->n_nets; i++)
		for (struct netd_vif *v = d->nets[i].vifs; v; v = v->next) {
			char id[32];

			snprintf(id, sizeof(id), "%u.%u%s", v->vif.domid, v->vif.devid,
				 v->vif.emu ? "-emu" : "");
			json_array_append_new(list, json_pack("{s:s, s:s, s:s}", "vif", id,
				"ifname", v->vif.ifname, "network", d->nets[i].conf.name));
		}
	return json_pack("{s:o}", "vifs", list);
}
