/* unix_listen: a listening UNIX socket at a path, the way daemons here share
 * their socket paths: a socket file left by a dead process is replaced, one a
 * live process still listens on is not (-EADDRINUSE), so a second daemon
 * started by mistake cannot silently steal the first one's clients. */
#ifndef LIB_UNIX_LISTEN_H
#define LIB_UNIX_LISTEN_H

#include <sys/types.h>

/* type: SOCK_STREAM or SOCK_SEQPACKET (made non-blocking and close-on-exec);
 * mode: the socket file's permissions. Returns the fd or -errno (no message). */
int unix_listen(const char *path, int type, mode_t mode);

#endif
