/* A real `hvsim xenstored` (with its broker) in a child process, for the
 * unit tests that need xenstore end to end (test_hv_sim, test_xs_client_tx):
 * its socket <tmp dir>/xs, XENSTORED_PATH set to it (connections there are
 * dom0's; a guest's is hv_xsd_domain_socket's once it is introduced).
 * Include after cmocka.h. */
#ifndef TESTS_UNIT_XSD_CHILD_H
#define TESTS_UNIT_XSD_CHILD_H

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hypervisor/sim/xenstored.h"
#include "lib/log.h"
#include "lib/xs_wire.h"

static char xsd_dir[64], xs_path[96];
static pid_t xsd_pid;

static inline int sock_connect(const char *path, int type)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);

	strcpy(sa.sun_path, path);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return fd;
	if (fd >= 0)
		close(fd);
	return -1;
}

/* One request to xenstored as dom0, on a connection of its own; returns 0
 * if it answered OK. */
static inline int xs_request(uint32_t type, const char *payload, uint32_t len)
{
	struct xs_msg_hdr h = { type, 1, 0, len };
	uint8_t buf[XS_HDR_LEN + 64];
	int fd = sock_connect(xs_path, SOCK_STREAM);
	ssize_t n;

	assert_true(fd >= 0);
	assert_true(len <= 64);
	xs_hdr_encode(&h, buf);
	memcpy(buf + XS_HDR_LEN, payload, len);
	assert_int_equal(write(fd, buf, XS_HDR_LEN + len), (ssize_t)(XS_HDR_LEN + len));
	n = read(fd, buf, sizeof(buf));
	close(fd);
	assert_true(n >= XS_HDR_LEN);
	xs_hdr_decode(buf, &h);
	return h.type == type ? 0 : -1;
}

static inline void introduce(unsigned domid)
{
	char p[32];
	int n = snprintf(p, sizeof(p), "%u%c0%c1", domid, 0, 0);

	assert_int_equal(xs_request(XS_MSG_INTRODUCE, p, (uint32_t)n + 1), 0);
}

static inline void release(unsigned domid)
{
	char p[16];
	int n = snprintf(p, sizeof(p), "%u", domid);

	assert_int_equal(xs_request(XS_MSG_RELEASE, p, (uint32_t)n + 1), 0);
}

/* Starts it in a new directory named from tmpl ("/tmp/NAME.XXXXXX") and
 * waits until it listens. */
static inline void xsd_child_start(const char *tmpl)
{
	char hv_path[128];
	int i, fd = -1;

	snprintf(xsd_dir, sizeof(xsd_dir), "%s", tmpl);
	assert_non_null(mkdtemp(xsd_dir));
	snprintf(xs_path, sizeof(xs_path), "%s/xs", xsd_dir);
	setenv("XENSTORED_PATH", xs_path, 1);
	xsd_pid = fork();
	assert_true(xsd_pid >= 0);
	if (xsd_pid == 0) {
		struct hv_xsd_opts o = { .socket_path = xs_path };

		/* A test binary that crashes leaves no daemon behind. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() == 1)
			_exit(1);
		log_set_level(LOG_LVL_WARN);
		_exit(hv_xsd_run(&o) ? 1 : 0);
	}
	snprintf(hv_path, sizeof(hv_path), "%s.hv", xs_path);
	for (i = 0; i < 1000 && fd < 0; i++) {
		fd = sock_connect(hv_path, SOCK_SEQPACKET);
		if (fd < 0)
			usleep(10000);
	}
	assert_true(fd >= 0);
	close(fd);
}

/* Stops it: it must exit cleanly. */
static inline void xsd_child_stop(void)
{
	int st;

	kill(xsd_pid, SIGTERM);
	assert_int_equal(waitpid(xsd_pid, &st, 0), xsd_pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	rmdir(xsd_dir);
}

#endif
