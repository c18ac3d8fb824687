/* stats: where a vif's counters are kept for netd (vif/vifstats.h): one
 * file per vif, `<stats dir>/<D>.<N>`, opened here and handed to the
 * domain's worker with the vif's TAP queues; the worker rewrites it while
 * the counters move. The counters live as long as the vif's TAP: a
 * reconnect, a new worker or a restarted vifback that takes the TAP over
 * carries on from what the file says; a new TAP starts from zero and a
 * removed one takes its file along. */
#include "vifback/sup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/log.h"
#include "vif/vifstats.h"

int vb_stats_init(struct vb_sup *s)
{
	if (!s->stats_dir)
		return 0;
	if (mkdir(s->stats_dir, 0755) < 0 && errno != EEXIST)
		return err_set(-errno, "%s: %s", s->stats_dir, strerror(errno));
	return 0;
}

static void stats_path(const struct vb_sup *s, const struct nb_vif *v, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%u.%u", s->stats_dir, v->domid, v->devid);
}

int vb_stats_open(struct vb_sup *s, struct nb_vif *v)
{
	char path[VB_STATS_PATH_MAX];
	int fd;

	if (!s->stats_dir)
		return -1;
	stats_path(s, v, path, sizeof(path));
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		log_warn("vif%u.%u: counters: %s: %s", v->domid, v->devid, path, strerror(errno));
	return fd;
}

void vb_stats_held(struct vb_sup *s, struct nb_vif *v)
{
	struct vif_stats st;
	int fd = vb_stats_open(s, v);

	/* the vif is not connected while held: no worker writes the file,
	 * the next one carries the count on from it */
	if (fd < 0)
		return;
	if (vif_stats_read_fd(fd, &st) < 0 ||
	    (st.v[VIF_ST_HOLDS]++, vif_stats_write_fd(fd, &st)) < 0)
		log_warn("vif%u.%u: counters: holds: %s", v->domid, v->devid, err_msg());
	close(fd);
}

void vb_stats_forget(struct vb_sup *s, struct nb_vif *v)
{
	char path[VB_STATS_PATH_MAX];

	if (!s->stats_dir)
		return;
	stats_path(s, v, path, sizeof(path));
	if (unlink(path) < 0 && errno != ENOENT)
		log_warn("vif%u.%u: counters: %s: %s", v->domid, v->devid, path, strerror(errno));
}
