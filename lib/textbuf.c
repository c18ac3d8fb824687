/* textbuf: printf into a caller's fixed buffer (textbuf.h). */
#include "lib/textbuf.h"

#include <stdarg.h>
#include <stdio.h>

void textbuf_printf(struct textbuf *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->full)
		return;
	va_start(ap, fmt);
	n = vsnprintf(t->buf + t->used, t->len - t->used, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= t->len - t->used)
		t->full = true;
	else
		t->used += (size_t)n;
}
