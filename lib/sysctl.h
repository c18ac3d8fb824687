/* sysctl: read and write /proc/sys values (per network namespace). */
#ifndef LIB_SYSCTL_H
#define LIB_SYSCTL_H

#include <stdbool.h>
#include <stddef.h>

/* path is relative to /proc/sys, with '/' separators so that interface names
 * containing dots (vif5.0) work: "net/ipv4/conf/vif5.0/proxy_arp". */
int sysctl_read(const char *path, char *buf, size_t len);  /* trailing newline stripped */
int sysctl_write(const char *path, const char *value);

/* Convenience for per-interface keys: family "ipv4"/"ipv6", e.g.
 * sysctl_if_write("ipv4", "vif5.0", "proxy_arp", "1"). */
int sysctl_if_read(const char *family, const char *ifname, const char *key, char *buf, size_t len);
int sysctl_if_write(const char *family, const char *ifname, const char *key, const char *value);

/* Checks for paths and values that come back from state files (input):
 * a path under net/ipv4/ or net/ipv6/ with no "..", a numeric value
 * (digits, '-', blanks, as multi-value sysctls print them). */
bool sysctl_path_is_valid(const char *path);
bool sysctl_value_is_valid(const char *value);

#endif
