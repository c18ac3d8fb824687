/* libFuzzer harness for the vif parser: the input is an xl vif spec, a
 * key/value pair (split at the first NUL or newline, as a xenstore
 * directory listing would hand them over) and a bare value for each
 * stand-alone parser. Besides the sanitizers it checks the parser's
 * promises: a rejected value leaves the vif untouched, an accepted one
 * round-trips through the xenstore formatters.
 *
 * The parser's sources are included, not linked: only this translation
 * unit is built with -fsanitize=fuzzer, and the fuzzer needs coverage of
 * the parser, not of the harness. */
#include "vif/vif.c"
#include "vif/rate.c"
#include "vif/vlan.c"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "vif/vif.h"

#include "tests/fuzz/fuzz_check.h"

static void check_str(const char *s, size_t size)
{
	CHECK(memchr(s, '\0', size) != NULL);
}

/* Whatever the input, the model stays well-formed. */
static void check_vif(const struct vif *v)
{
	char buf[VIF_RATE_STRLEN];

	check_str(v->ifname, sizeof(v->ifname));
	CHECK(vif_ifname_is_valid(v->ifname));
	check_str(v->bridge, sizeof(v->bridge));
	CHECK(!v->bridge[0] || vif_ifname_is_valid(v->bridge));
	check_str(v->gatewaydev, sizeof(v->gatewaydev));
	CHECK(!v->gatewaydev[0] || vif_ifname_is_valid(v->gatewaydev));
	check_str(v->script, sizeof(v->script));
	check_str(v->model, sizeof(v->model));
	check_str(v->backend, sizeof(v->backend));
	check_str(v->vlan, sizeof(v->vlan));
	check_str(v->bridge_vlan, sizeof(v->bridge_vlan));
	if (v->bridge_vlan[0]) {
		/* vif-openvswitch's suffix: only beside a bridge, and it parses */
		uint16_t trunks[VIF_TRUNKS_MAX];
		size_t n;
		int tag;

		CHECK(v->bridge[0]);
		CHECK(vif_bridge_vlan_parse(v->bridge_vlan, &tag, trunks, VIF_TRUNKS_MAX, &n) == 0);
		CHECK(tag >= -1 && tag <= 4095 && n <= VIF_TRUNKS_MAX);
	}
	check_str(v->iface_id, sizeof(v->iface_id));
	check_str(v->vm_uuid, sizeof(v->vm_uuid));
	CHECK(!v->vm_uuid[0] || strlen(v->vm_uuid) == 36);
	check_str(v->vm_name, sizeof(v->vm_name));
	CHECK(v->n_ips <= VIF_MAX_IPS);
	CHECK(v->mtu == 0 || (v->mtu >= 68 && v->mtu <= 65535));
	CHECK(v->devid <= VIF_DEVID_MAX);
	if (v->has_mac)
		CHECK(!(v->mac[0] & 1));
	if (v->rate.bytes_per_interval) {
		struct vif_rate back;

		CHECK(vif_rate_format_xenstore(&v->rate, buf, sizeof(buf)) == 0);
		CHECK(vif_rate_parse_xenstore(buf, &back) == 0);
		CHECK(back.bytes_per_interval == v->rate.bytes_per_interval);
		CHECK(back.interval_usecs == v->rate.interval_usecs);
	}
	if (v->vlan[0]) {
		char norm[sizeof(v->vlan)];
		struct vif_vlan vl;

		/* The stored form is its own normal form. */
		CHECK(vif_vlan_normalise(v->vlan, norm, sizeof(norm)) == 0);
		CHECK(!strcmp(norm, v->vlan));
		CHECK(vif_vlan_parse(v->vlan, &vl) == 0);
		CHECK(vl.pvid && vif_vlan_is_untagged(&vl, vl.pvid));
	}
}

static void fuzz_spec(const char *s)
{
	struct vif v, before;

	vif_init(&v, 5, 0);
	memcpy(&before, &v, sizeof(v));
	if (vif_parse_spec(&v, s) != 0) {
		CHECK(err_msg()[0] != '\0');
		CHECK(!memcmp(&before, &v, sizeof(v)));
	} else {
		/* An accepted spec never names another vif's interface. */
		CHECK(vif_check(&v) == 0);
	}
	check_vif(&v);
}

static void fuzz_key_value(const char *key, const char *value)
{
	struct vif v, before;

	vif_init(&v, 5, 0);
	memcpy(&before, &v, sizeof(v));
	if (vif_set(&v, key, value) != 0)
		CHECK(!memcmp(&before, &v, sizeof(v)));
	check_vif(&v);
	/* as a bare flag too */
	if (vif_set(&v, key, NULL) == 0)
		check_vif(&v);
}

static void fuzz_values(const char *s)
{
	char buf[VIF_MAC_STRLEN];
	struct vif_ip ips[VIF_MAX_IPS];
	struct vif_vlan vl;
	struct vif_rate r;
	uint32_t d, n;
	uint8_t mac[6];
	unsigned nips;

	if (vif_id_parse(s, &d, &n) == 0) {
		char id[32];

		CHECK(d <= VIF_DOMID_MAX && n <= VIF_DEVID_MAX);
		snprintf(id, sizeof(id), "%u.%u", d, n);
		CHECK(!strcmp(id, s));
	}
	if (vif_mac_parse(s, mac) == 0) {
		CHECK(vif_mac_format(mac, buf, sizeof(buf)) == 0);
		CHECK(!strcasecmp(buf, s));
	}
	if (vif_ip_list_parse(s, ips, VIF_MAX_IPS, &nips) == 0)
		CHECK(nips <= VIF_MAX_IPS);
	if (vif_rate_parse_xl(s, &r) == 0)
		CHECK(r.bytes_per_interval > 0 && r.interval_usecs > 0);
	if (vif_rate_parse_xenstore(s, &r) == 0)
		CHECK(r.bytes_per_interval > 0 && r.interval_usecs > 0);
	if (vif_vlan_parse(s, &vl) == 0 && s[0])
		CHECK(vl.n >= 1 && vif_vlan_is_member(&vl, vl.pvid));
	vif_ifname_is_valid(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), *value;
	size_t i;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	fuzz_spec(s);
	fuzz_values(s);
	for (i = 0; i < size && s[i] != '\0' && s[i] != '\n'; i++)
		;
	if (i < size) {
		s[i] = '\0';
		value = s + i + 1;
		fuzz_key_value(s, value);
	}
	free(s);
	err_clear();
	return 0;
}
