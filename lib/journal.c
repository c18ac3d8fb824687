/* journal: append-only record files (see journal.h). */
#include "lib/journal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/atomic_file.h"
#include "lib/err.h"

int journal_append(const char *path, const char *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600), rc = 0;
	ssize_t w;

	if (fd < 0)
		return err_set(-errno, "%s: %s", path, strerror(errno));
	w = write(fd, buf, len);
	if (w < 0 || (size_t)w != len) {
		rc = w < 0 ? -errno : -EIO;
		/* A short append leaves a torn record: cut it off again. */
		if (w > 0 && ftruncate(fd, lseek(fd, 0, SEEK_END) - w) < 0)
			rc = -errno;
		err_set(rc, "%s: cannot append: %s", path, strerror(-rc));
	}
	close(fd);
	return rc;
}

int journal_foreach(const char *path, size_t max, int (*fn)(char *line, void *data), void *data)
{
	char *text, *line, *nl;
	int rc;

	rc = file_read_all(path, &text, NULL, max);
	if (rc)
		return rc;
	for (line = text; (nl = strchr(line, '\n')) && rc == 0; line = nl + 1) {
		*nl = '\0';
		rc = fn(line, data);
	}
	free(text);
	return rc;
}
