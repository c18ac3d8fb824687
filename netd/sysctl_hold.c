/* sysctl_hold: the registry of sysctls held by networks (see sysctl_hold.h). */
#include "netd/sysctl_hold.h"

#include <errno.h>
#include <jansson.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/atomic_file.h"
#include "lib/err.h"
#include "lib/log.h"
#include "lib/sysctl.h"
#include "netd/daemon.h"

#define HOLD_VERSION 1
/* Longer than any interface name, so no network's <name>.json state file
 * can ever be this file. */
#define HOLD_FILE "netd-sysctl-registry.json"
#define HOLD_FILE_MAX (1u << 20)
#define PATH_MAX_LEN 128
#define VALUE_MAX_LEN 32
#define NAME_MAX_LEN IFNAMSIZ

struct held {
	char path[PATH_MAX_LEN];
	char orig[VALUE_MAX_LEN];
	char value[VALUE_MAX_LEN]; /* what the holders want; "" unknown (never so today) */
	char (*holders)[NAME_MAX_LEN];
	size_t n_holders;
};

/* One registry per process: netd is one daemon with one state directory.
 * file names the directory it was loaded from ("" not loaded yet). */
static struct {
	char dir[4096];
	char file[4096 + sizeof(HOLD_FILE) + 1];
	struct held *v;
	size_t n;
} reg;

/* ---- validation: the file is input ---- */

static bool path_ok(const char *p)
{
	return strlen(p) < PATH_MAX_LEN && sysctl_path_is_valid(p);
}

static bool value_ok(const char *v)
{
	return strlen(v) < VALUE_MAX_LEN && sysctl_value_is_valid(v);
}

static bool name_ok(const char *n)
{
	return n[0] && strlen(n) < NAME_MAX_LEN && !strchr(n, '/');
}

/* ---- the in-memory registry ---- */

static void held_free(struct held *h)
{
	free(h->holders);
	h->holders = NULL;
	h->n_holders = 0;
}

static void reg_clear(void)
{
	for (size_t i = 0; i < reg.n; i++)
		held_free(&reg.v[i]);
	free(reg.v);
	reg.v = NULL;
	reg.n = 0;
}

static struct held *held_find(const char *path)
{
	for (size_t i = 0; i < reg.n; i++)
		if (!strcmp(reg.v[i].path, path))
			return &reg.v[i];
	return NULL;
}

static struct held *held_add(const char *path, const char *orig, const char *value)
{
	struct held *v = realloc(reg.v, (reg.n + 1) * sizeof(*v)), *h;

	if (!v) {
		err_set(-ENOMEM, "out of memory");
		return NULL;
	}
	reg.v = v;
	h = &reg.v[reg.n++];
	memset(h, 0, sizeof(*h));
	snprintf(h->path, sizeof(h->path), "%s", path);
	snprintf(h->orig, sizeof(h->orig), "%s", orig);
	snprintf(h->value, sizeof(h->value), "%s", value);
	return h;
}

static void held_drop(struct held *h)
{
	size_t i = (size_t)(h - reg.v);

	held_free(h);
	memmove(&reg.v[i], &reg.v[i + 1], (reg.n - i - 1) * sizeof(*h));
	reg.n--;
}

static ssize_t holder_index(const struct held *h, const char *name)
{
	for (size_t i = 0; i < h->n_holders; i++)
		if (!strcmp(h->holders[i], name))
			return (ssize_t)i;
	return -1;
}

static int holder_add(struct held *h, const char *name)
{
	char (*v)[NAME_MAX_LEN] = realloc(h->holders, (h->n_holders + 1) * sizeof(*v));

	if (!v)
		return err_set(-ENOMEM, "out of memory");
	h->holders = v;
	snprintf(h->holders[h->n_holders++], NAME_MAX_LEN, "%s", name);
	return 0;
}

static void holder_del(struct held *h, size_t i)
{
	memmove(&h->holders[i], &h->holders[i + 1], (h->n_holders - i - 1) * sizeof(*h->holders));
	h->n_holders--;
}

/* ---- the file ---- */

static int reg_save(void)
{
	json_t *held = json_object(), *doc;
	char *text;
	int rc;

	if (reg.n == 0) {
		json_decref(held);
		if (unlink(reg.file) < 0 && errno != ENOENT)
			return err_set(-errno, "%s: %s", reg.file, strerror(errno));
		return 0;
	}
	for (size_t i = 0; i < reg.n; i++) {
		const struct held *h = &reg.v[i];
		json_t *holders = json_array();

		for (size_t j = 0; j < h->n_holders; j++)
			json_array_append_new(holders, json_string(h->holders[j]));
		json_object_set_new(held, h->path, json_pack("{s:s, s:s, s:o}", "orig", h->orig,
							     "value", h->value, "holders", holders));
	}
	doc = json_pack("{s:i, s:o}", "version", HOLD_VERSION, "held", held);
	text = doc ? json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(doc);
	if (!text)
		return err_set(-ENOMEM, "out of memory");
	rc = mkdir_p(reg.dir, 0700);
	if (rc == 0)
		rc = atomic_file_write(reg.file, text, strlen(text), 0600);
	free(text);
	return rc;
}

static int reg_parse(json_t *doc)
{
	const char *path;
	json_t *rec, *v;
	size_t i;

	if (json_integer_value(json_object_get(doc, "version")) != HOLD_VERSION ||
	    !json_is_object(json_object_get(doc, "held")))
		return err_set(-EINVAL, "not a version %d sysctl registry", HOLD_VERSION);
	json_object_foreach(json_object_get(doc, "held"), path, rec) {
		const char *orig = json_string_value(json_object_get(rec, "orig"));
		const char *value = json_string_value(json_object_get(rec, "value"));
		json_t *holders = json_object_get(rec, "holders");
		struct held *h;

		if (!path_ok(path))
			return err_set(-EINVAL, "bad sysctl path");
		if (!orig || !value_ok(orig))
			return err_set(-EINVAL, "%s: bad original value", path);
		if (value && !value_ok(value))
			return err_set(-EINVAL, "%s: bad value", path);
		if (!json_is_array(holders) || held_find(path))
			return err_set(-EINVAL, "%s: bad holders", path);
		h = held_add(path, orig, value ? value : "");
		if (!h)
			return -ENOMEM;
		json_array_foreach(holders, i, v) {
			const char *name = json_string_value(v);
			int rc;

			if (!name || !name_ok(name))
				return err_set(-EINVAL, "%s: bad holder name", path);
			if (holder_index(h, name) >= 0)
				continue;
			rc = holder_add(h, name);
			if (rc)
				return rc;
		}
	}
	return 0;
}

/* Once per state directory. An unreadable file is moved aside (the values
 * it held cannot be trusted) and the registry starts empty. */
static int reg_load(const char *state_dir)
{
	char *text = NULL, bad[sizeof(reg.file) + 8];
	json_error_t e;
	json_t *doc;
	int rc;

	if (reg.file[0] && !strcmp(reg.dir, state_dir))
		return 0;
	reg_clear();
	if (snprintf(reg.dir, sizeof(reg.dir), "%s", state_dir) >= (int)sizeof(reg.dir))
		return err_set(-ENAMETOOLONG, "state directory path too long");
	snprintf(reg.file, sizeof(reg.file), "%s/%s", state_dir, HOLD_FILE);
	rc = file_read_all(reg.file, &text, NULL, HOLD_FILE_MAX);
	if (rc == -ENOENT)
		return 0;
	if (rc == 0) {
		doc = json_loads(text, 0, &e);
		rc = doc ? reg_parse(doc) : err_set(-EINVAL, "line %d: %s", e.line, e.text);
		json_decref(doc);
	}
	free(text);
	if (rc == 0)
		return 0;
	reg_clear();
	snprintf(bad, sizeof(bad), "%s.bad", reg.file);
	log_err("%s: %s; moved to %s, the original values it held are lost", reg.file, err_msg(),
		bad);
	if (rename(reg.file, bad) < 0 && errno != ENOENT)
		log_err("%s: cannot move it aside: %s", reg.file, strerror(errno));
	return 0;
}

/* ---- hold, release ---- */

static const char *state_dir_of(const struct netd_net *net)
{
	const struct netd *d = net->daemon;

	return d ? d->conf.state_dir : NULL;
}

/* The first hold of path: record, persist, then change the host. */
static int hold_first(const char *name, const char *path, const char *value)
{
	char cur[VALUE_MAX_LEN], msg[ERR_MSG_MAX];
	struct held *h;
	int rc = sysctl_read(path, cur, sizeof(cur));

	if (rc)
		return rc;
	if (!value_ok(cur))
		return err_set(-EINVAL, "sysctl %s: unexpected value '%s'", path, cur);
	h = held_add(path, cur, value);
	if (!h)
		return -ENOMEM;
	rc = holder_add(h, name);
	if (rc == 0)
		rc = reg_save();
	if (rc) {
		held_drop(held_find(path));
		return rc;
	}
	if (!strcmp(cur, value))
		return 0;
	rc = sysctl_write(path, value);
	if (rc == 0) {
		log_debug("%s: %s = %s (was %s)", name, path, value, cur);
		return 0;
	}
	snprintf(msg, sizeof(msg), "%s", err_msg());
	held_drop(held_find(path));
	if (reg_save())
		log_err("%s: %s", name, err_msg());
	return err_set(rc, "%s", msg);
}

int netd_sysctl_hold(struct netd_net *net, const char *path, const char *value)
{
	const char *name = net->conf.name, *dir = state_dir_of(net);
	char cur[VALUE_MAX_LEN];
	struct held *h;
	bool joined = false;
	ssize_t i;
	int rc;

	if (!dir)
		return err_set(-EINVAL, "%s: no daemon to hold %s", name, path);
	if (!path_ok(path) || !value_ok(value))
		return err_set(-EINVAL, "%s: cannot hold sysctl %s = %s", name, path, value);
	rc = reg_load(dir);
	if (rc)
		return rc;
	h = held_find(path);
	if (!h)
		return hold_first(name, path, value);
	if (h->value[0] && strcmp(h->value, value))
		return err_set(-EBUSY, "%s: sysctl %s is held at %s by %s, cannot set it to %s",
			       name, path, h->value, h->n_holders ? h->holders[0] : "netd", value);
	if (holder_index(h, name) < 0) {
		rc = holder_add(h, name);
		if (rc == 0) {
			snprintf(h->value, sizeof(h->value), "%s", value);
			rc = reg_save();
			if (rc)
				holder_del(h, h->n_holders - 1);
		}
		if (rc)
			return rc;
		joined = true;
	}
	rc = sysctl_read(path, cur, sizeof(cur));
	if (rc == 0 && strcmp(cur, value)) {
		log_warn("%s: sysctl %s is %s, changed behind netd's back; setting it to %s again",
			 name, path, cur, value);
		rc = sysctl_write(path, value);
	}
	if (rc && joined) {
		char msg[ERR_MSG_MAX];

		snprintf(msg, sizeof(msg), "%s", err_msg());
		i = holder_index(h, name);
		if (i >= 0)
			holder_del(h, (size_t)i);
		if (reg_save())
			log_err("%s: %s", name, err_msg());
		err_set(rc, "%s", msg);
	}
	return rc;
}

static int release_by_name(const char *holder, const char *what)
{
	char cur[VALUE_MAX_LEN], orig[VALUE_MAX_LEN], value[VALUE_MAX_LEN];
	char name[NAME_MAX_LEN], path[PATH_MAX_LEN];
	struct held *h;
	ssize_t i;
	int rc;

	/* Own copies: the arguments may point into the registry, which moves. */
	snprintf(name, sizeof(name), "%s", holder);
	snprintf(path, sizeof(path), "%s", what);
	h = held_find(path);
	i = h ? holder_index(h, name) : -1;
	if (i < 0)
		return 0;
	if (h->n_holders > 1) {
		holder_del(h, (size_t)i);
		rc = reg_save();
		if (rc) {
			holder_add(h, name);
			return rc;
		}
		log_debug("%s: %s stays %s for %s", name, path, h->value, h->holders[0]);
		return 0;
	}
	/* The last holder: the original goes back before the record. */
	rc = sysctl_read(path, cur, sizeof(cur));
	if (rc == 0 && strcmp(cur, h->orig))
		rc = sysctl_write(path, h->orig);
	if (rc == -ENOENT)
		rc = 0; /* the device went away, and its setting with it */
	if (rc)
		return rc;
	snprintf(orig, sizeof(orig), "%s", h->orig);
	snprintf(value, sizeof(value), "%s", h->value);
	held_drop(h);
	rc = reg_save();
	if (rc) {
		/* Still held on disk: so in memory too, for a retry. */
		h = held_add(path, orig, value);
		if (h)
			holder_add(h, name);
		return rc;
	}
	log_debug("%s: %s restored to %s", name, path, orig);
	return 0;
}

int netd_sysctl_release(struct netd_net *net, const char *path)
{
	const char *dir = state_dir_of(net);
	int rc;

	if (!dir)
		return 0;
	rc = reg_load(dir);
	if (rc)
		return rc;
	rc = release_by_name(net->conf.name, path);
	return rc ? err_prefix(rc, "%s: cannot restore %s", net->conf.name, path) : 0;
}

/* ---- sweep ---- */

static bool is_up_network(const struct netd *d, const char *name)
{
	for (size_t i = 0; i < d->n_nets; i++)
		/* one failed whose record stays (the host part-changed, or
		 * kept for its next up) keeps its holds for that up too */
		if ((netd_net_is_up(&d->nets[i]) || d->nets[i].record_kept) &&
		    !strcmp(d->nets[i].conf.name, name))
			return true;
	return false;
}

void netd_sysctl_sweep(struct netd *d)
{
	struct stale {
		char name[NAME_MAX_LEN], path[PATH_MAX_LEN];
	} *v = NULL;
	char saved[ERR_MSG_MAX];
	int code = err_code();
	size_t n = 0, max = 0;

	snprintf(saved, sizeof(saved), "%s", err_msg());
	if (reg_load(d->conf.state_dir)) {
		log_err("sysctl registry: %s", err_msg());
		goto out;
	}
	/* A record nobody holds (a file edited by hand): its original back. */
	for (size_t i = reg.n; i-- > 0;) {
		char path[PATH_MAX_LEN];

		if (reg.v[i].n_holders)
			continue;
		snprintf(path, sizeof(path), "%s", reg.v[i].path);
		if (holder_add(&reg.v[i], "netd") == 0 && release_by_name("netd", path))
			log_err("cannot restore %s: %s", path, err_msg());
	}
	/* Listed first: each release may drop a record and move the others. */
	for (size_t i = 0; i < reg.n; i++)
		max += reg.v[i].n_holders;
	v = calloc(max ? max : 1, sizeof(*v));
	if (!v) {
		log_err("sysctl registry: out of memory");
		goto out;
	}
	for (size_t i = 0; i < reg.n; i++)
		for (size_t j = 0; j < reg.v[i].n_holders; j++)
			if (!is_up_network(d, reg.v[i].holders[j])) {
				snprintf(v[n].name, sizeof(v[n].name), "%s", reg.v[i].holders[j]);
				snprintf(v[n].path, sizeof(v[n].path), "%s", reg.v[i].path);
				n++;
			}
	for (size_t k = 0; k < n; k++) {
		log_warn("%s is not a network that is up: releasing its hold on %s", v[k].name,
			 v[k].path);
		if (release_by_name(v[k].name, v[k].path))
			log_err("%s: cannot restore %s: %s", v[k].name, v[k].path, err_msg());
	}
out:
	free(v);
	err_set(code, "%s", saved);
}
