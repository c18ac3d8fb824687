/* unix_listen: see unix_listen.h. */
#include "lib/unix_listen.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

int unix_listen(const char *path, int type, mode_t mode)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, probe, rc;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	probe = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
	if (probe < 0)
		return -errno;
	rc = connect(probe, (struct sockaddr *)&sa, sizeof(sa));
	close(probe);
	if (rc == 0)
		return -EADDRINUSE;
	unlink(path);
	fd = socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	/* Permissions before listen(): no client connects through a wider mode. */
	if (chmod(path, mode) < 0 || listen(fd, 64) < 0) {
		rc = -errno;
		close(fd);
		unlink(path);
		return rc;
	}
	return fd;
}
