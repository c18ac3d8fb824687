/* ipc: supervisor <-> worker messages, one fixed-size struct per
 * SOCK_SEQPACKET datagram with file descriptors (a vif's TAP queues) as
 * SCM_RIGHTS. The worker is the less trusted side once a guest has had a go
 * at it: what it sends is checked like any input. */
#include "vifback/vb.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/err.h"

int vb_msg_send(int sock, const struct vb_msg *m, const int *fds, unsigned nfds)
{
	char cbuf[CMSG_SPACE(sizeof(int) * VB_MAX_FDS)];
	struct iovec iov = { .iov_base = (void *)m, .iov_len = sizeof(*m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (nfds > VB_MAX_FDS)
		return err_set(-EINVAL, "%u fds in one message", nfds);
	if (nfds) {
		struct cmsghdr *c;

		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	do
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return err_set(-errno, "send to worker: %s", strerror(errno));
	return 0;
}

int vb_msg_recv(int sock, struct vb_msg *m, int *fds, unsigned *nfds)
{
	char cbuf[CMSG_SPACE(sizeof(int) * VB_MAX_FDS)];
	struct iovec iov = { .iov_base = m, .iov_len = sizeof(*m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	unsigned room = *nfds, got = 0;
	ssize_t n;

	*nfds = 0;
	do
		n = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN ? -EAGAIN : err_set(-ECONNRESET, "worker: %s", strerror(errno));
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		int *in;
		unsigned k;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		in = (int *)CMSG_DATA(c);
		k = (unsigned)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		for (unsigned i = 0; i < k; i++) {
			if (got < room)
				fds[got++] = in[i];
			else
				close(in[i]);
		}
	}
	*nfds = got;
	if (n == 0)
		return err_set(-ECONNRESET, "worker closed its socket");
	if ((size_t)n != sizeof(*m) || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
		for (unsigned i = 0; i < got; i++)
			close(fds[i]);
		*nfds = 0;
		return err_set(-EPROTO, "malformed message (%zd bytes)", n);
	}
	m->text[sizeof(m->text) - 1] = '\0';
	return 0;
}
