/* log: stderr with sd-daemon priority prefixes, so journald keeps levels. */
#include "lib/log.h"

#include <stdarg.h>
#include <stdio.h>

static enum log_level log_level = LOG_LVL_INFO;

void log_set_level(enum log_level lvl)
{
	log_level = lvl;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	/* <3> err, <4> warning, <6> info, <7> debug: see sd-daemon(3). */
	static const char prio[] = { '3', '4', '6', '7' };
	va_list ap;

	if (lvl > log_level)
		return;
	fprintf(stderr, "<%c>", prio[lvl]);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
