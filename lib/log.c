/* log: stderr with sd-daemon priority prefixes, so journald keeps levels. */
#include "lib/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

static enum log_level log_level = LOG_LVL_INFO;

void log_set_level(enum log_level lvl)
{
	log_level = lvl;
}

/* One write(2) per line: vifback's supervisor and workers share one stderr,
 * and stdio's three pieces (prefix, message, newline) interleaved between
 * processes. Longer messages are cut; a log line is not a data channel. */
void log_msg(enum log_level lvl, const char *fmt, ...)
{
	/* <3> err, <4> warning, <6> info, <7> debug: see sd-daemon(3). */
	static const char prio[] = { '3', '4', '6', '7' };
	char line[4096];
	size_t n;
	va_list ap;
	int len;

	if (lvl > log_level)
		return;
	line[0] = '<';
	line[1] = prio[lvl];
	line[2] = '>';
	va_start(ap, fmt);
	len = vsnprintf(line + 3, sizeof(line) - 4, fmt, ap);
	va_end(ap);
	n = len < 0 ? 3 : 3 + ((size_t)len < sizeof(line) - 4 ? (size_t)len : sizeof(line) - 5);
	line[n++] = '\n';
	fflush(stderr); /* anything printed through stdio comes first */
	if (write(STDERR_FILENO, line, n) < 0) {
		/* nowhere left to report it */
	}
}
