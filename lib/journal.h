/* journal: an append-only file of one-line records ("+entry", "-key"), so
 * that recording one change to a large set costs one short write, not a
 * rewrite of the set.
 *
 * One write(2) per append with O_APPEND: a reader sees each record whole or
 * not at all; a record torn by a crash mid-write has no '\n' and is never
 * handed out (its change never got its reply either). No fsync: netd's
 * journals live in /run with the kernel state they mirror, and a power loss
 * takes both; a crash of netd alone loses nothing the kernel has written. */
#ifndef LIB_JOURNAL_H
#define LIB_JOURNAL_H

#include <stddef.h>

/* Appends len bytes (whole records, each ending in '\n'). */
int journal_append(const char *path, const char *buf, size_t len);

/* Calls fn for each whole line (without its '\n', NUL-terminated, writable)
 * in order; stops at fn's first non-zero return, which it returns. A file
 * over max bytes is an error; a missing one -ENOENT. */
int journal_foreach(const char *path, size_t max, int (*fn)(char *line, void *data), void *data);

#endif
