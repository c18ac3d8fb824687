/* as_ifidx: the index each vif's fast-path elements were keyed by (see
 * as_ifidx.h). */
#include "antispoof/as_ifidx.h"

#include <net/if.h>
#include <stdlib.h>
#include <string.h>

struct as_ifidx_ent {
	char name[IFNAMSIZ];
	uint32_t ifindex;
};

static struct as_ifidx_ent *ents;
static size_t n_ents, cap_ents;

static struct as_ifidx_ent *find(const char *ifname)
{
	for (size_t i = 0; i < n_ents; i++)
		if (!strncmp(ents[i].name, ifname, IFNAMSIZ))
			return &ents[i];
	return NULL;
}

void as_ifidx_set(const char *ifname, uint32_t ifindex)
{
	struct as_ifidx_ent *e = find(ifname);

	if (!ifindex) {
		if (e)
			*e = ents[--n_ents]; /* order does not matter */
		return;
	}
	if (!e) {
		if (n_ents == cap_ents) {
			size_t cap = cap_ents ? 2 * cap_ents : 64;
			struct as_ifidx_ent *p = realloc(ents, cap * sizeof(*p));

			if (!p)
				return;
			ents = p;
			cap_ents = cap;
		}
		e = &ents[n_ents++];
		memset(e->name, 0, sizeof(e->name));
		strncpy(e->name, ifname, IFNAMSIZ - 1);
	}
	e->ifindex = ifindex;
}

uint32_t as_ifidx_get(const char *ifname)
{
	struct as_ifidx_ent *e = find(ifname);

	return e ? e->ifindex : 0;
}

void as_ifidx_clear(void)
{
	free(ents);
	ents = NULL;
	n_ents = cap_ents = 0;
}
