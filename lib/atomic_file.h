/* atomic_file: replace a file so readers see the old or the new content,
 * never a torn one, even across a crash (temp file, fsync, rename, fsync dir). */
#ifndef LIB_ATOMIC_FILE_H
#define LIB_ATOMIC_FILE_H

#include <stddef.h>

/* The file gets exactly mode, the umask notwithstanding. */
int atomic_file_write(const char *path, const void *data, size_t len, unsigned mode);

/* Reads a whole (small) file; *out is malloc'ed and NUL-terminated. -ENOENT if absent. */
int file_read_all(const char *path, char **out, size_t *len, size_t max);

/* mkdir -p for a directory path. */
int mkdir_p(const char *dir, unsigned mode);

#endif
