/* xenstored: the simulated xenstore daemon's socket side.
 *
 * Listens on a UNIX socket (libxenstore's XENSTORED_PATH); connections
 * there act as dom0 (privileged). After INTRODUCE of domain D it also
 * listens on "<path>.d<D>", where connections act as domain D
 * (unprivileged), until RELEASE of D. Single-threaded poll loop; SIGTERM
 * or SIGINT stop it cleanly. */
#ifndef HV_SIM_XENSTORED_H
#define HV_SIM_XENSTORED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* At most this many client connections at once; more are refused. */
#define HV_XSD_CONNS_MAX	512

struct hv_xsd_opts {
	const char *socket_path;	/* required */
	const char *pid_file;		/* optional: written once listening */
	bool print_ready;		/* "ready\n" on stdout once listening */
	bool verbose;			/* log every request to stderr */
};

/* Runs until SIGTERM/SIGINT: 0 on a clean stop, -errno if it could not
 * start (message already logged). */
int hv_xsd_run(const struct hv_xsd_opts *o);

/* "<socket_path>.d<domid>" into buf: the scheme tests use to act as a
 * guest domain. -ENAMETOOLONG if it would not fit a sockaddr_un. */
int hv_xsd_domain_socket(const char *socket_path, uint32_t domid, char *buf,
			 size_t len);

/* The socket path libxenstore would use: $XENSTORED_PATH, else
 * $XENSTORED_RUNDIR/socket, else /var/run/xenstored/socket. */
const char *hv_xsd_default_path(char *buf, size_t len);

#endif
