/* plugs: what was plugged, kept across a restart. With --state FILE each
 * port-add appends "+D.N <request>" and each port-del "-D.N" to FILE
 * (lib/journal: one short write, so the 1000th plug costs what the 1st
 * does); a restarted dpswitch (after kill -9 under --supervise) reads it
 * back, rewrites it compacted, and plugs each vif again as netback probes
 * it, so the guests that reconnect find their policy and forward without
 * waiting for whoever plugged them. Records are hashed by domain and
 * device: a lookup is O(1). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dpswitch/dps.h"
#include "lib/atomic_file.h"
#include "lib/err.h"
#include "lib/journal.h"
#include "lib/log.h"

#define PLUGS_MAX_FILE (64u << 20)

struct plug {
	uint32_t domid, devid;
	char *req; /* the port-add request, JSON */
	struct plug *next;
};

static struct plug *plugs[NB_HASH];
static const char *state_path;

static struct plug **slot(uint32_t domid, uint32_t devid)
{
	struct plug **pp = &plugs[(domid * 2654435761u ^ devid * 40503u) % NB_HASH];

	while (*pp && ((*pp)->domid != domid || (*pp)->devid != devid))
		pp = &(*pp)->next;
	return pp;
}

static int set(uint32_t domid, uint32_t devid, const char *req)
{
	struct plug **pp = slot(domid, devid), *p = *pp;

	if (!req) {
		if (p) {
			*pp = p->next;
			free(p->req);
			free(p);
		}
		return 0;
	}
	if (!p) {
		p = calloc(1, sizeof(*p));
		if (!p)
			return -ENOMEM;
		p->domid = domid;
		p->devid = devid;
		*pp = p;
	}
	free(p->req);
	p->req = strdup(req);
	return p->req ? 0 : -ENOMEM;
}

static int replay_line(char *line, void *data)
{
	uint32_t domid, devid;
	int n = 0;

	if ((line[0] != '+' && line[0] != '-') ||
	    sscanf(line + 1, "%u.%u%n", &domid, &devid, &n) != 2)
		return 0; /* a torn or foreign line: skipped */
	return set(domid, devid, line[0] == '+' && line[1 + n] == ' ' ? line + 2 + n : NULL) < 0
		       ? -ENOMEM
		       : 0;
}

int dps_plugs_load(const char *path)
{
	size_t len = 0, cap = 0;
	char *buf = NULL;
	int rc;

	state_path = path;
	rc = journal_foreach(path, PLUGS_MAX_FILE, replay_line, NULL);
	if (rc == -ENOENT)
		return 0;
	if (rc < 0)
		return err_set(rc, "%s: %s", path, strerror(-rc));
	/* compacted: one record per plug */
	for (unsigned h = 0; h < NB_HASH; h++)
		for (struct plug *p = plugs[h]; p; p = p->next) {
			size_t need = strlen(p->req) + 32;

			if (len + need > cap) {
				char *nb = realloc(buf, cap + need + 65536);

				if (!nb) {
					free(buf);
					return err_set(-ENOMEM, "out of memory");
				}
				buf = nb;
				cap += need + 65536;
			}
			len += (size_t)snprintf(buf + len, cap - len, "+%u.%u %s\n", p->domid, p->devid,
						p->req);
		}
	rc = atomic_file_write(path, buf ? buf : "", len, 0600);
	free(buf);
	return rc < 0 ? err_set(rc, "%s: %s", path, strerror(-rc)) : 0;
}

int dps_plugs_record(uint32_t domid, uint32_t devid, const char *req)
{
	char line[80], *rec;
	size_t n;
	int rc;

	if (!state_path)
		return 0;
	if (!req) {
		/* the file first: a record it keeps stays kept here too (the
		 * port-del refused), as the next dpswitch would plug it */
		rc = journal_append(state_path, line,
				    (size_t)snprintf(line, sizeof(line), "-%u.%u\n", domid, devid));
		if (rc < 0)
			return err_set(rc, "%s: %s", state_path, strerror(-rc));
		return set(domid, devid, NULL);
	}
	rc = set(domid, devid, req);
	if (rc < 0)
		return err_set(rc, "out of memory");
	n = strlen(req);
	rec = malloc(n + 32);
	if (!rec)
		return err_set(-ENOMEM, "out of memory");
	n = (size_t)snprintf(rec, n + 32, "+%u.%u %s\n", domid, devid, req);
	rc = journal_append(state_path, rec, n);
	free(rec);
	return rc < 0 ? err_set(rc, "%s: %s", state_path, strerror(-rc)) : 0;
}

const char *dps_plugs_find(uint32_t domid, uint32_t devid)
{
	struct plug *p = *slot(domid, devid);

	return p ? p->req : NULL;
}

void dps_plugs_foreach(void (*fn)(uint32_t domid, uint32_t devid, void *arg), void *arg)
{
	for (unsigned h = 0; h < NB_HASH; h++)
		for (struct plug *p = plugs[h]; p; p = p->next)
			fn(p->domid, p->devid, arg);
}
