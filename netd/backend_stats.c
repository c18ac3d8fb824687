/* backend_stats: the counters a userspace backend keeps for each vif it
 * serves (vifback: `<vifback_stats_dir>/<D>.<N>`, vif/vifstats.h), for
 * `status` beside what the modes say about the same vifs. A vif with no
 * file is served by some other backend (the kernel's netback, whose
 * counters are the interface's own): it simply has none. The file comes
 * from a process a guest may have compromised: it is read like any
 * untrusted input (bounded, known names and numbers only). */
#include "netd/backend_stats.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/log.h"
#include "vif/vifstats.h"

static json_t *vif_counters(const char *dir, const struct vif *v)
{
	char path[NETD_PATH_MAX + 32];
	struct vif_stats st;
	json_t *o;
	int fd, rc;

	if (v->emu)
		return NULL; /* qemu's tap: no ring behind it */
	snprintf(path, sizeof(path), "%s/%u.%u", dir, v->domid, v->devid);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return NULL;
	rc = vif_stats_read_fd(fd, &st);
	close(fd);
	if (rc < 0) {
		/* shown as such rather than as zeros */
		log_warn("%s: %s: %s", v->ifname, path, err_msg());
		return json_pack("{s:s}", "error", err_msg());
	}
	o = vif_stats_json(&st);
	if (o)
		json_object_set_new(o, "backend", json_string("vifback"));
	return o;
}

json_t *netd_backend_stats(const struct netd *d, const struct netd_net *net)
{
	json_t *all = json_object();

	for (struct netd_vif *v = net->vifs; all && v; v = v->next) {
		json_t *c = vif_counters(d->conf.vifback_stats_dir, &v->vif);

		if (c)
			json_object_set_new(all, v->vif.ifname, c);
	}
	return all;
}
