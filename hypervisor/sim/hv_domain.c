/* hv_domain: `hvsim domain add|del D` — what libxl does in xenstore when a
 * guest comes and goes, minus the guest: the domain's home directory with
 * libxl's permissions, then INTRODUCE (our xenstored then listens on the
 * guest socket $XENSTORED_PATH.dD) or RELEASE. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hypervisor/sim/hv_xsc.h"
#include "hypervisor/sim/hvsim.h"
#include "hypervisor/sim/xenstored.h"
#include "lib/xs_wire.h"

/* libxl_create.c: the guest may read its home, and owns these subdirs. */
static const char *const guest_rw_dirs[] = {
	"device", "data", "drivers", "feature", "attr", "error",
};

static int domain_add(struct xs_handle *h, unsigned domid)
{
	const struct xs_permissions ro[2] = {
		{ .id = 0, .perms = XS_PERM_NONE },
		{ .id = domid, .perms = XS_PERM_READ },
	};
	const struct xs_permissions rw[1] = {
		{ .id = domid, .perms = XS_PERM_NONE },
	};
	char home[64], sub[96], sock[256];
	xs_transaction_t t;
	unsigned i;
	bool ok;

	snprintf(home, sizeof(home), "/local/domain/%u", domid);
	for (;;) {
		t = xs_transaction_start(h);
		if (t == XBT_NULL)
			goto fail;
		ok = hv_xsc_mkdir_perms(h, t, home, ro, 2) &&
		     hv_xsc_writef(h, t, home, "domid", "%u", domid) &&
		     hv_xsc_writef(h, t, home, "name", "hvsim-dom%u", domid) &&
		     /* libxl's link to the VM's UUID; a fixed one per domid. */
		     hv_xsc_writef(h, t, home, "vm", "/vm/00000000-0000-4000-8000-%012x", domid);
		snprintf(sub, sizeof(sub), "%s/control", home);
		ok = ok && hv_xsc_mkdir_perms(h, t, sub, ro, 2);
		for (i = 0; ok && i < sizeof(guest_rw_dirs) / sizeof(guest_rw_dirs[0]); i++) {
			snprintf(sub, sizeof(sub), "%s/%s", home, guest_rw_dirs[i]);
			ok = hv_xsc_mkdir_perms(h, t, sub, rw, 1);
		}
		if (!ok) {
			int err = errno;

			xs_transaction_end(h, t, true);
			errno = err;
			goto fail;
		}
		if (xs_transaction_end(h, t, false))
			break;
		if (errno != EAGAIN)
			goto fail;
	}
	if (!xs_introduce_domain(h, domid, 0, 1))
		goto fail;
	if (!hv_xsd_domain_socket(hv_xsd_default_path(sub, sizeof(sub)),
				  domid, sock, sizeof(sock)))
		printf("%s\n", sock);
	return 0;
fail:
	fprintf(stderr, "hvsim domain add %u: %s\n", domid, strerror(errno));
	return 1;
}

static int domain_del(struct xs_handle *h, unsigned domid)
{
	char home[64];

	snprintf(home, sizeof(home), "/local/domain/%u", domid);
	/* Not introduced is fine: del also cleans up a half-added domain. */
	if (!xs_release_domain(h, domid) && errno != ENOENT)
		goto fail;
	if (!xs_rm(h, XBT_NULL, home) && errno != ENOENT)
		goto fail;
	return 0;
fail:
	fprintf(stderr, "hvsim domain del %u: %s\n", domid, strerror(errno));
	return 1;
}

int hv_cmd_domain(int argc, char **argv)
{
	struct xs_handle *h;
	uint32_t domid;
	int rc;

	if (argc != 3 || (strcmp(argv[1], "add") && strcmp(argv[1], "del"))) {
		fprintf(stderr, "usage: hvsim domain add|del DOMID\n");
		return 2;
	}
	if (xs_domid_parse(argv[2], &domid) || domid == 0 || domid >= 0x7ff0) {
		fprintf(stderr, "hvsim domain: bad domain id `%s'\n", argv[2]);
		return 2;
	}
	h = hv_xsc_open("hvsim domain");
	if (!h)
		return 1;
	rc = argv[1][0] == 'a' ? domain_add(h, domid) : domain_del(h, domid);
	xs_close(h);
	return rc;
}
