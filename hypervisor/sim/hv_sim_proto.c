/* hv_sim_proto: socket paths and the message transport shared by hvsim's
 * broker and its two kinds of clients (see hv_sim_proto.h). */
#include "hypervisor/sim/hv_sim_proto.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/err.h"

/* A broker that stops answering costs a client this long, not for ever. */
#define HV_SIM_CALL_TIMEOUT_S 5

int hv_sim_sock_path(const char *xs_path, int domid, char *buf, size_t len)
{
	char def[256];
	size_t max = sizeof(((struct sockaddr_un *)0)->sun_path);
	int n;

	if (!xs_path) {
		const char *p = getenv("XENSTORED_PATH");
		const char *rundir = getenv("XENSTORED_RUNDIR");

		if (p && *p) {
			xs_path = p;
		} else {
			snprintf(def, sizeof(def), "%s/socket",
				 rundir && *rundir ? rundir : "/var/run/xenstored");
			xs_path = def;
		}
	}
	if (domid < 0)
		n = snprintf(buf, len, "%s.hv", xs_path);
	else
		n = snprintf(buf, len, "%s.hv.d%d", xs_path, domid);
	if (n < 0 || (size_t)n >= len || (size_t)n >= max)
		return err_set(-ENAMETOOLONG, "broker socket path too long for %s", xs_path);
	return 0;
}

int hv_sim_connect(const char *path, int *fd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = HV_SIM_CALL_TIMEOUT_S };
	int s, rc;

	if (strlen(path) >= sizeof(sa.sun_path))
		return err_set(-ENAMETOOLONG, "%s: path too long", path);
	strcpy(sa.sun_path, path);
	s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s < 0)
		return err_set(-errno, "socket: %s", strerror(errno));
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) ||
	    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv))) {
		rc = -errno;
		close(s);
		return err_set(rc, "cannot reach hvsim's broker at %s: %s", path,
			       strerror(-rc));
	}
	*fd = s;
	return 0;
}

int hv_sim_send(int fd, const struct hv_sim_msg *m, const int *fds, unsigned nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * HV_SIM_FDS_MAX)];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = (void *)m, .iov_len = sizeof(*m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (nfds > HV_SIM_FDS_MAX)
		return -EINVAL;
	if (nfds) {
		struct cmsghdr *cm;

		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	do
		n = sendmsg(fd, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n == (ssize_t)sizeof(*m) ? 0 : -EPROTO;
}

int hv_sim_recv(int fd, struct hv_sim_msg *m, int *fds, unsigned maxfds, unsigned *nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * (HV_SIM_FDS_MAX + 4))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = m, .iov_len = sizeof(*m) };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = u.buf, .msg_controllen = sizeof(u.buf),
	};
	struct cmsghdr *cm;
	unsigned got = 0;
	ssize_t n;

	do
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN ? -EAGAIN : -errno;
	/* Whatever came, descriptors we do not keep must not leak. */
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		unsigned k, cnt;
		int *p;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		cnt = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		p = (int *)CMSG_DATA(cm);
		for (k = 0; k < cnt; k++) {
			int f;

			memcpy(&f, p + k, sizeof(f));
			if (got < maxfds)
				fds[got++] = f;
			else
				close(f);
		}
	}
	if (nfds)
		*nfds = got;
	else
		while (got)
			close(fds[--got]);
	if (n == 0)
		return -ECONNRESET;
	if (n != (ssize_t)sizeof(*m) || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
		while (got)
			close(fds[--got]);
		if (nfds)
			*nfds = 0;
		return -EPROTO;
	}
	return 0;
}

int hv_sim_call(int fd, struct hv_sim_msg *m, int *fds, unsigned nfds)
{
	uint32_t op = m->op;
	unsigned got = 0;
	int rc;

	rc = hv_sim_send(fd, m, NULL, 0);
	if (rc)
		return err_set(rc, "broker: send: %s", strerror(-rc));
	rc = hv_sim_recv(fd, m, fds, nfds, &got);
	if (rc == -EAGAIN)
		rc = -ETIMEDOUT;
	if (rc)
		return err_set(rc, "broker: %s", rc == -ECONNRESET ? "connection closed" :
			       strerror(-rc));
	if (m->op != op) {
		rc = -EPROTO;
	} else if (m->rc) {
		rc = m->rc < 0 && m->rc > -4096 ? m->rc : -EPROTO;
	} else if (got != nfds) {
		rc = -EPROTO;
	}
	if (rc) {
		while (got)
			close(fds[--got]);
		return err_set(rc, "broker: %s", strerror(-rc));
	}
	return 0;
}
