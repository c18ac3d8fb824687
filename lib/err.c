/* err: a single last-error message buffer (see err.h). */
#include "lib/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static char err_buf[ERR_MSG_MAX];
static int err_rc;

int err_set(int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err_buf, sizeof(err_buf), fmt, ap);
	va_end(ap);
	err_rc = rc;
	return rc;
}

int err_prefix(int rc, const char *fmt, ...)
{
	char ctx[ERR_MSG_MAX], old[ERR_MSG_MAX];
	va_list ap;

	snprintf(old, sizeof(old), "%s", err_msg());
	va_start(ap, fmt);
	vsnprintf(ctx, sizeof(ctx), fmt, ap);
	va_end(ap);
	snprintf(err_buf, sizeof(err_buf), "%.200s: %.300s", ctx, old);
	err_rc = rc;
	return rc;
}

int err_prefix_for(int rc, const char *obj, const char *fmt, ...)
{
	char ctx[ERR_MSG_MAX], old[ERR_MSG_MAX];
	size_t n = strlen(obj);
	const char *rest = old;
	va_list ap;

	snprintf(old, sizeof(old), "%s", err_msg());
	if (!strncmp(old, obj, n) && !strncmp(old + n, ": ", 2))
		rest += n + 2;
	va_start(ap, fmt);
	vsnprintf(ctx, sizeof(ctx), fmt, ap);
	va_end(ap);
	snprintf(err_buf, sizeof(err_buf), "%.40s: %.180s: %.280s", obj, ctx, rest);
	err_rc = rc;
	return rc;
}

const char *err_msg(void)
{
	if (!err_buf[0])
		return err_rc ? strerror(-err_rc) : "unknown error";
	return err_buf;
}

int err_code(void)
{
	return err_rc;
}

void err_clear(void)
{
	/* written only when set: a data path clears after every batch, and
	 * a store, even of the value there, makes a forked worker's copy of
	 * the page its own */
	if (err_buf[0] || err_rc) {
		err_buf[0] = '\0';
		err_rc = 0;
	}
}
