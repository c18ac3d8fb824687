/* rename: the mark netd leaves on a guest's interface it renamed (xl's
 * vifname=), and the way back to the backend's name. The mark is the
 * interface's alias (IFLA_IFALIAS, which `ip link` shows), naming the
 * backend's vifD.N[-emu]: with a record of netd's lost, its sweep still
 * knows that port for a guest's vif netd plugged, and what it was called,
 * while an operator's own port of the bridge, whatever its name, carries no
 * such mark and stays. */
#include "vif/vif.h"

#include <stdio.h>
#include <string.h>

#include "lib/nl_link.h"

#define RENAMED_PREFIX "netd: renamed from "

bool vif_is_backend_name(const char *name)
{
	unsigned d, n;
	char back[IFNAMSIZ + 8];

	if (sscanf(name, "vif%u.%u", &d, &n) != 2 || d == 0)
		return false;
	snprintf(back, sizeof(back), "vif%u.%u", d, n);
	return !strcmp(name, back) || (!strncmp(name, back, strlen(back)) &&
				       !strcmp(name + strlen(back), "-emu"));
}

bool vif_renamed_from(const char *alias, char backend[IFNAMSIZ])
{
	const char *name;

	if (strncmp(alias, RENAMED_PREFIX, strlen(RENAMED_PREFIX)))
		return false;
	name = alias + strlen(RENAMED_PREFIX);
	if (strlen(name) >= IFNAMSIZ || !vif_is_backend_name(name))
		return false;
	snprintf(backend, IFNAMSIZ, "%s", name);
	return true;
}

int vif_link_mark_renamed(int ifindex, const char *backend)
{
	char alias[sizeof(RENAMED_PREFIX) + IFNAMSIZ];

	snprintf(alias, sizeof(alias), RENAMED_PREFIX "%s", backend);
	return nl_link_set_alias(ifindex, alias);
}

/* Renamed before the mark goes: a failure leaves the interface marked, for
 * the next sweep to try again. Older kernels (Debian 12's 6.1) rename no
 * interface that is up. */
int vif_link_rename_back(int ifindex, const char *backend)
{
	int rc = nl_link_set_up(ifindex, false);

	if (rc == 0)
		rc = nl_link_rename(ifindex, backend);
	if (rc == 0)
		rc = nl_link_set_alias(ifindex, "");
	return rc;
}
