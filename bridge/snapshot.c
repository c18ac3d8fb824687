/* snapshot: capture, persist and restore a physical device (see snapshot.h). */
#include "bridge/snapshot.h"

#include <errno.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>

#include "lib/err.h"
#include "lib/log.h"
#include "lib/nl_addr.h"
#include "lib/nl_link.h"
#include "lib/nl_route.h"

int br_snapshot_take(const char *physdev, struct br_snapshot *s)
{
	struct nl_link l;
	int rc;

	memset(s, 0, sizeof(*s));
	rc = nl_link_get(physdev, &l);
	if (rc)
		return rc;
	snprintf(s->name, sizeof(s->name), "%s", l.name);
	s->ifindex = l.ifindex;
	memcpy(s->mac, l.mac, 6);
	s->mtu = l.mtu;
	s->flags = l.flags;
	s->master = l.master;
	rc = nl_addr_list(l.ifindex, AF_UNSPEC, &s->addrs);
	if (rc == 0)
		rc = nl_route_list(l.ifindex, AF_UNSPEC, &s->routes);
	if (rc) {
		br_snapshot_free(s);
		return err_prefix(rc, "%s: cannot read its configuration", physdev);
	}
	return 0;
}

void br_snapshot_free(struct br_snapshot *s)
{
	nl_blobs_free(&s->addrs);
	nl_blobs_free(&s->routes);
}

static json_t *blobs_to_json(const struct nl_blobs *b)
{
	json_t *a = json_array();

	for (size_t i = 0; i < b->n; i++) {
		char *hex = nl_blob_to_hex(&b->v[i]);

		json_array_append_new(a, json_string(hex ? hex : ""));
		free(hex);
	}
	return a;
}

static int blobs_from_json(json_t *a, struct nl_blobs *b)
{
	size_t i;
	json_t *v;

	if (!json_is_array(a))
		return err_set(-EINVAL, "state: expected an array");
	json_array_foreach(a, i, v) {
		struct nl_blob blob;
		int rc;

		if (!json_is_string(v))
			return err_set(-EINVAL, "state: expected a string");
		rc = nl_blob_from_hex(json_string_value(v), &blob);
		if (rc)
			return rc;
		rc = nl_blobs_push(b, (const struct nlmsghdr *)blob.data);
		free(blob.data);
		if (rc)
			return rc;
	}
	return 0;
}

json_t *br_snapshot_to_json(const struct br_snapshot *s)
{
	char mac[18];

	nl_mac_format(s->mac, mac);
	return json_pack("{s:s, s:i, s:s, s:i, s:i, s:i, s:o, s:o}",
			 "name", s->name, "ifindex", s->ifindex, "mac", mac,
			 "mtu", (int)s->mtu, "flags", (int)s->flags, "master", s->master,
			 "addrs", blobs_to_json(&s->addrs), "routes", blobs_to_json(&s->routes));
}

int br_snapshot_from_json(json_t *j, struct br_snapshot *s)
{
	const char *name, *mac;
	json_t *addrs, *routes;
	int ifindex, mtu, flags, master, rc;
	json_error_t e;

	memset(s, 0, sizeof(*s));
	if (json_unpack_ex(j, &e, 0, "{s:s, s:i, s:s, s:i, s:i, s:i, s:o, s:o}",
			   "name", &name, "ifindex", &ifindex, "mac", &mac, "mtu", &mtu,
			   "flags", &flags, "master", &master, "addrs", &addrs, "routes", &routes))
		return err_set(-EINVAL, "state: physdev snapshot: %s", e.text);
	if (strlen(name) >= IFNAMSIZ ||
	    sscanf(mac, "%2hhx:%2hhx:%2hhx:%2hhx:%2hhx:%2hhx", &s->mac[0], &s->mac[1],
		   &s->mac[2], &s->mac[3], &s->mac[4], &s->mac[5]) != 6)
		return err_set(-EINVAL, "state: physdev snapshot: bad name or MAC");
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->ifindex = ifindex;
	s->mtu = (unsigned)mtu;
	s->flags = (unsigned)flags;
	s->master = master;
	rc = blobs_from_json(addrs, &s->addrs);
	if (rc == 0)
		rc = blobs_from_json(routes, &s->routes);
	if (rc)
		br_snapshot_free(s);
	return rc;
}

/* Delete a link we created, found by name; never the snapshot's own device. */
static int delete_created(const char *name, const char *kind, int keep_ifindex)
{
	struct nl_link l;
	int rc;

	if (!name[0] || nl_link_get(name, &l) < 0)
		return 0;
	if (l.ifindex == keep_ifindex || strcmp(l.kind, kind))
		return 0;
	rc = nl_link_delete(l.ifindex);
	return rc ? err_prefix(rc, "cannot delete %s", name) : 0;
}

/* Keep the first error, but go on: a restore does all it can. */
static void first_error(int *first, char *msg, size_t len, int rc)
{
	if (rc && !*first) {
		*first = rc;
		snprintf(msg, len, "%s", err_msg());
	}
	if (rc)
		log_err("restore: %s", err_msg());
}

int br_snapshot_restore(const struct br_snapshot *s, const struct br_created *c)
{
	char msg[ERR_MSG_MAX] = "";
	struct nl_link l;
	int first = 0, rc;

	/* Deleting vif0.0 takes its peer (veth0, maybe already named eth0) with it,
	 * which frees the physdev's name for the rename below. */
	first_error(&first, msg, sizeof(msg), delete_created(c->vif0, "veth", s->ifindex));
	first_error(&first, msg, sizeof(msg), delete_created(c->veth, "veth", s->ifindex));
	first_error(&first, msg, sizeof(msg), delete_created(c->bridge, "bridge", s->ifindex));

	rc = nl_link_get_index(s->ifindex, &l);
	if (rc)
		return err_prefix(rc, "cannot find %s (ifindex %d) to restore it", s->name, s->ifindex);
	if (strcmp(l.name, s->name)) {
		/* Renaming needs the link down on older kernels. */
		first_error(&first, msg, sizeof(msg), nl_link_set_up(s->ifindex, false));
		first_error(&first, msg, sizeof(msg), nl_link_rename(s->ifindex, s->name));
		l.flags &= ~(unsigned)IFF_UP;
	}
	if (l.master != s->master)
		first_error(&first, msg, sizeof(msg), nl_link_set_master(s->ifindex, s->master));
	if (memcmp(l.mac, s->mac, 6))
		first_error(&first, msg, sizeof(msg), nl_link_set_mac(s->ifindex, s->mac));
	if (l.mtu != s->mtu)
		first_error(&first, msg, sizeof(msg), nl_link_set_mtu(s->ifindex, s->mtu));
	if ((l.flags ^ s->flags) & IFF_NOARP)
		first_error(&first, msg, sizeof(msg), nl_link_set_arp(s->ifindex, !(s->flags & IFF_NOARP)));
	if ((l.flags ^ s->flags) & IFF_UP)
		first_error(&first, msg, sizeof(msg), nl_link_set_up(s->ifindex, s->flags & IFF_UP));
	/* Addresses first: routes need their prefix routes and source addresses. */
	for (size_t i = 0; i < s->addrs.n; i++)
		first_error(&first, msg, sizeof(msg), nl_addr_replay(&s->addrs.v[i], s->ifindex));
	for (size_t i = 0; i < s->routes.n; i++)
		first_error(&first, msg, sizeof(msg), nl_route_replay(&s->routes.v[i], s->ifindex));
	if (first)
		return err_set(first, "%s", msg);
	return 0;
}
