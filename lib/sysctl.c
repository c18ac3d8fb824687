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

bool sysctl_path_is_valid(const char *p)
{
	if (strncmp(p, "net/ipv4/", 9) && strncmp(p, "net/ipv6/", 9))
		return false;
	if (strstr(p, ".."))
		return false;
	for (; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '/' || *p == '.' || *p == '_' || *p == '-'))
			return false;
	return true;
}

bool sysctl_value_is_valid(const char *v)
{
	if (!*v)
		return false;
	for (; *v; v++)
		if (!((*v >= '0' && *v <= '9') || *v == '-' || *v == ' ' || *v == '\t'))
			return false;
	return true;
}
