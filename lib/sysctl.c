/* sysctl: plain file I/O on /proc/sys. */
#include "lib/sysctl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/err.h"

int sysctl_read(const char *path, char *buf, size_t len)
{
	char full[256];
	ssize_t n;
	int fd;

	snprintf(full, sizeof(full), "/proc/sys/%s", path);
	fd = open(full, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set(-errno, "sysctl %s: %s", path, strerror(errno));
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return err_set(-errno, "sysctl %s: %s", path, strerror(errno));
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	return 0;
}

int sysctl_write(const char *path, const char *value)
{
	char full[256];
	size_t len = strlen(value);
	ssize_t n;
	int fd;

	snprintf(full, sizeof(full), "/proc/sys/%s", path);
	fd = open(full, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set(-errno, "sysctl %s: %s", path, strerror(errno));
	n = write(fd, value, len);
	close(fd);
	if (n != (ssize_t)len)
		return err_set(n < 0 ? -errno : -EIO, "sysctl %s = %s: %s", path, value,
			       strerror(n < 0 ? errno : EIO));
	return 0;
}

int sysctl_if_read(const char *family, const char *ifname, const char *key, char *buf, size_t len)
{
	char path[128];

	snprintf(path, sizeof(path), "net/%s/conf/%s/%s", family, ifname, key);
	return sysctl_read(path, buf, len);
}

int sysctl_if_write(const char *family, const char *ifname, const char *key, const char *value)
{
	char path[128];

	snprintf(path, sizeof(path), "net/%s/conf/%s/%s", family, ifname, key);
	return sysctl_write(path, value);
}
