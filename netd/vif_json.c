/* vif_json: the vif's identity and the keys that modes act on, as xl key/values. */
#include "netd/vif_json.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lib/err.h"

json_t *vif_to_json(const struct vif *v)
{
	char id[32], mac[VIF_MAC_STRLEN] = "", ips[VIF_MAX_IPS * (INET6_ADDRSTRLEN + 1)] = "";
	json_t *j;

	snprintf(id, sizeof(id), "%u.%u", v->domid, v->devid);
	for (unsigned i = 0; i < v->n_ips; i++) {
		char a[INET6_ADDRSTRLEN];

		inet_ntop(v->ips[i].family, &v->ips[i].addr, a, sizeof(a));
		snprintf(ips + strlen(ips), sizeof(ips) - strlen(ips), "%s%s", i ? " " : "", a);
	}
	j = json_pack("{s:s, s:s}", "id", id, "vifname", v->ifname);
	/* Always written: an entry without it is read the old way, by name. */
	json_object_set_new(j, "type_if", json_string(v->emu ? "tap" : "vif"));
	if (v->has_mac && vif_mac_format(v->mac, mac, sizeof(mac)) == 0)
		json_object_set_new(j, "mac", json_string(mac));
	if (v->n_ips)
		json_object_set_new(j, "ip", json_string(ips));
	if (v->bridge[0]) {
		char br[IFNAMSIZ + sizeof(v->bridge_vlan)];

		/* ":T" re-parses as given; ".TAG" (split off by netd) would
		 * read back as a bridge name: it is only for the plug. */
		snprintf(br, sizeof(br), "%s%s", v->bridge,
			 strchr(v->bridge_vlan, ':') ? v->bridge_vlan : "");
		json_object_set_new(j, "bridge", json_string(br));
	}
	if (v->iface_id[0])
		json_object_set_new(j, "iface-id", json_string(v->iface_id));
	if (v->vm_uuid[0])
		json_object_set_new(j, "vm-uuid", json_string(v->vm_uuid));
	if (v->vm_name[0])
		json_object_set_new(j, "vm-name", json_string(v->vm_name));
	/* The filters a mode installed are keyed by these: offline after a
	 * restart must remove exactly what online added. */
	if (v->rate.bytes_per_interval) {
		char rate[VIF_RATE_STRLEN];

		if (vif_rate_format_xenstore(&v->rate, rate, sizeof(rate)) == 0)
			json_object_set_new(j, "rate", json_string(rate));
	}
	/* rate_in: so that a netd adopting the vif shapes it as it was */
	if (v->rate_in.bytes_per_interval) {
		char rate[VIF_RATE_STRLEN];

		if (vif_rate_format_xenstore(&v->rate_in, rate, sizeof(rate)) == 0)
			json_object_set_new(j, "rate_in", json_string(rate));
	}
	if (v->mtu) {
		char mtu[16];

		snprintf(mtu, sizeof(mtu), "%u", v->mtu);
		json_object_set_new(j, "mtu", json_string(mtu));
	}
	return j;
}

/* State written before the type was recorded knew a tap only by its name,
 * which then always ended in -emu: read it so. */
static bool legacy_is_emu(json_t *j)
{
	const char *name = json_string_value(json_object_get(j, "vifname"));
	size_t n = name ? strlen(name) : 0;

	return n > 4 && !strcmp(name + n - 4, "-emu");
}

int vif_json_type(json_t *j, bool *emu)
{
	json_t *t = json_object_get(j, "type_if");
	const char *s = json_string_value(t);

	if (!t) {
		*emu = legacy_is_emu(j);
		return 0;
	}
	if (s && !strcmp(s, "tap"))
		*emu = true;
	else if (s && !strcmp(s, "vif"))
		*emu = false;
	else
		return err_set(-EINVAL, "type_if: expected \"vif\" or \"tap\"");
	return 0;
}

int vif_from_json(json_t *j, struct vif *v)
{
	const char *id = json_string_value(json_object_get(j, "id"));
	uint32_t domid, devid;
	const char *key;
	json_t *val;
	int rc;

	if (!id)
		return err_set(-EINVAL, "vif without id");
	rc = vif_id_parse(id, &domid, &devid);
	if (rc)
		return rc;
	vif_init(v, domid, devid);
	rc = vif_json_type(j, &v->emu);
	if (rc)
		return err_prefix(rc, "vif %s", id);
	json_object_foreach(j, key, val) {
		if (!strcmp(key, "id") || !strcmp(key, "type_if"))
			continue;
		if (!json_is_string(val))
			return err_set(-EINVAL, "vif %s: '%s' is not a string", id, key);
		rc = vif_set(v, key, json_string_value(val));
		if (rc)
			return rc;
	}
	return 0;
}
