/* metrics_file: see metrics_file.h. The text is netdctl's (netdctl/metrics.c)
 * built from the same status and vif list the control socket answers. */
#include "netd/metrics_file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/atomic_file.h"
#include "lib/err.h"
#include "lib/log.h"
#include "netdctl/metrics.h"

struct netd_metrics_file {
	struct netd *d;
	sd_event_source *timer;
	bool failing; /* the last write failed: logged once until one succeeds */
};

static int write_once(struct netd_metrics_file *m)
{
	const struct netd_conf *c = &m->d->conf;
	json_t *status = netd_status(m->d), *vifs = netd_vif_list(m->d);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int rc;

	if (!f || !status || !vifs) {
		rc = err_set(-ENOMEM, "metrics: out of memory");
	} else {
		netdctl_metrics_print(f, status, vifs);
		rc = fclose(f) ? err_set(-errno, "metrics: %s", strerror(errno)) : 0;
		f = NULL;
		/* 0644: the scraper (node_exporter) is another user */
		if (!rc)
			rc = atomic_file_write(c->metrics_file, buf, len, 0644);
	}
	if (f)
		fclose(f);
	free(buf);
	json_decref(status);
	json_decref(vifs);
	return rc;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *data)
{
	struct netd_metrics_file *m = data;
	int rc = write_once(m);

	if (rc && !m->failing)
		log_warn("metrics_file %s: %s", m->d->conf.metrics_file, err_msg());
	else if (!rc && m->failing)
		log_info("metrics_file %s: written again", m->d->conf.metrics_file);
	m->failing = rc != 0;
	sd_event_source_set_time_relative(s, (uint64_t)m->d->conf.metrics_interval * 1000000);
	sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
	return 0;
}

int netd_metrics_file_start(struct netd *d, struct netd_metrics_file **out)
{
	struct netd_metrics_file *m;
	int rc;

	*out = NULL;
	if (!d->conf.metrics_file[0])
		return 0;
	m = calloc(1, sizeof(*m));
	if (!m)
		return err_set(-ENOMEM, "out of memory");
	m->d = d;
	/* at once, so a scraper has a file from READY on */
	rc = sd_event_add_time_relative(d->ev, &m->timer, CLOCK_MONOTONIC, 0, 0, on_timer, m);
	if (rc < 0) {
		free(m);
		return err_set(rc, "metrics_file timer: %s", strerror(-rc));
	}
	*out = m;
	return 0;
}

void netd_metrics_file_stop(struct netd_metrics_file *m)
{
	if (!m)
		return;
	sd_event_source_disable_unref(m->timer);
	free(m);
}
