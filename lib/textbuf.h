/* textbuf: printf into a caller's fixed buffer, many times, checking once.
 * A write that does not fit sets `full` and every later one is dropped,
 * so a writer formats everything and asks at the end whether it fit. */
#ifndef NETD_LIB_TEXTBUF_H
#define NETD_LIB_TEXTBUF_H

#include <stdbool.h>
#include <stddef.h>

struct textbuf {
	char *buf;
	size_t len, used;
	bool full; /* something did not fit: buf holds a prefix only */
};

void textbuf_printf(struct textbuf *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
