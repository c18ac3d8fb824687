/* hv_xsc: libxenstore helpers shared by hvsim's client subcommands. */
#include "hypervisor/sim/hv_xsc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct xs_handle *hv_xsc_open(const char *who)
{
	struct xs_handle *h = xs_open(0);

	if (!h)
		fprintf(stderr, "%s: cannot connect to xenstored (%s): %s\n",
			who, getenv("XENSTORED_PATH") ?: "default socket",
			strerror(errno));
	return h;
}

bool hv_xsc_mkdir_perms(struct xs_handle *h, xs_transaction_t t,
			const char *path, const struct xs_permissions *perms,
			unsigned n)
{
	/* libxenstore takes a non-const array it does not modify. */
	struct xs_permissions p[8];

	if (n > sizeof(p) / sizeof(p[0]))
		return false;
	memcpy(p, perms, n * sizeof(p[0]));
	return xs_mkdir(h, t, path) && xs_set_permissions(h, t, path, p, n);
}

bool hv_xsc_writef(struct xs_handle *h, xs_transaction_t t, const char *dir,
		   const char *key, const char *fmt, ...)
{
	char path[512], val[1024];
	va_list ap;
	int n;

	n = snprintf(path, sizeof(path), "%s/%s", dir, key);
	if (n < 0 || (size_t)n >= sizeof(path))
		return false;
	va_start(ap, fmt);
	n = vsnprintf(val, sizeof(val), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(val))
		return false;
	return xs_write(h, t, path, val, (unsigned)n);
}
