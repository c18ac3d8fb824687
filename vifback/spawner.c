/* spawner: the small process that forks vifback's workers. Forked at
 * start, before the supervisor has built any state, so that a worker
 * forked from it shares its pages with a process that hardly writes any:
 * a worker forked from the supervisor itself kept private copies of every
 * page the supervisor went on writing after the fork (its stack, heap,
 * libc's and ld.so's data: about half of an idle worker's memory).
 *
 * The supervisor sends SPAWN with the worker's end of its socketpair
 * attached; the spawner forks an intermediate that forks the worker and
 * exits at once, so the worker is reparented to the supervisor (a child
 * subreaper): the supervisor reaps, kills and restarts it as before. The
 * answer (RESULT, rc = the worker's pid) comes after the intermediate is
 * reaped, when the worker is the supervisor's child already. */
#include "vifback/sup.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/log.h"
#include "vifback/worker.h"

#define VB_SPAWN_TIMEOUT_MS 5000

/* the supervisor's name, which its workers carry as they always have */
static char sup_comm[16];

/* The intermediate: forks the worker, hands its pid to the spawner
 * through the pipe, exits. */
static void intermediate(int sock, int wsock, int pipe_w, uint16_t domid, const char *hv_kind,
			 bool confine)
{
	pid_t pid = fork();

	if (pid == 0) {
		close(pipe_w);
		close(sock);
		prctl(PR_SET_NAME, sup_comm, 0, 0, 0);
		_exit(vb_worker_run(wsock, domid, hv_kind, confine) < 0 ? 1 : 0);
	}
	if (pid < 0)
		pid = -errno;
	_exit(write(pipe_w, &pid, sizeof(pid)) == sizeof(pid) ? 0 : 1);
}

/* One SPAWN: the worker's pid, or -errno with m->text saying why. */
static int spawn_one(int sock, int wsock, struct vb_msg *m, const char *hv_kind, bool confine)
{
	uint16_t domid = (uint16_t)m->devid;
	pid_t mid, pid = 0;
	int p[2], status;

	if (pipe(p) < 0)
		return err_set(-errno, "pipe: %s", strerror(errno));
	mid = fork();
	if (mid < 0) {
		int rc = err_set(-errno, "fork: %s", strerror(errno));

		close(p[0]);
		close(p[1]);
		return rc;
	}
	if (mid == 0) {
		close(p[0]);
		intermediate(sock, wsock, p[1], domid, hv_kind, confine);
	}
	close(p[1]);
	if (read(p[0], &pid, sizeof(pid)) != sizeof(pid))
		pid = err_set(-EIO, "the intermediate died before forking the worker");
	else if (pid < 0)
		err_set(pid, "fork: %s", strerror(-pid));
	close(p[0]);
	/* only once it is gone is the worker the supervisor's child */
	while (waitpid(mid, &status, 0) < 0 && errno == EINTR)
		;
	return pid;
}

static void spawner_run(int sock, pid_t sup, const char *hv_kind, bool confine)
{
	prctl(PR_GET_NAME, sup_comm, 0, 0, 0);
	prctl(PR_SET_NAME, "vifback-spawn", 0, 0, 0);
	/* it serves the supervisor alone; checked after setting it, the
	 * supervisor may have died before */
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (getppid() != sup)
		_exit(0);
	for (;;) {
		struct pollfd pfd = { .fd = sock, .events = POLLIN };
		struct vb_msg m;
		int fd[1];
		unsigned nfd = 1;
		int rc;

		if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
			_exit(1);
		rc = vb_msg_recv(sock, &m, fd, &nfd);
		if (rc == -EAGAIN)
			continue;
		if (rc < 0)
			_exit(rc == -ECONNRESET ? 0 : 1);
		if (m.type != VB_MSG_SPAWN || nfd != 1 || m.devid > UINT16_MAX) {
			for (unsigned i = 0; i < nfd; i++)
				close(fd[i]);
			rc = err_set(-EPROTO, "spawner: malformed request");
		} else {
			rc = spawn_one(sock, fd[0], &m, hv_kind, confine);
			close(fd[0]);
		}
		m = (struct vb_msg){ .type = VB_MSG_RESULT, .rc = rc };
		if (rc < 0)
			snprintf(m.text, sizeof(m.text), "%s", err_msg());
		if (vb_msg_send(sock, &m, NULL, 0) < 0)
			_exit(1);
	}
}

int vb_spawner_start(struct vb_sup *s)
{
	pid_t sup = getpid(), pid;
	int sv[2];

	/* orphaned workers (their intermediate exits) come to us, not to init */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
		return err_set(-errno, "PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return err_set(-errno, "socketpair: %s", strerror(errno));
	pid = fork();
	if (pid < 0) {
		int rc = err_set(-errno, "fork: %s", strerror(errno));

		close(sv[0]);
		close(sv[1]);
		return rc;
	}
	if (pid == 0) {
		close(sv[0]);
		spawner_run(sv[1], sup, s->hv_kind, s->confine);
	}
	close(sv[1]);
	s->spawner = sv[0];
	s->spawner_pid = pid;
	return 0;
}

pid_t vb_spawner_spawn(struct vb_sup *s, uint16_t domid, int wsock)
{
	struct vb_msg m = { .type = VB_MSG_SPAWN, .devid = domid };
	int rc;

	if (s->spawner < 0)
		return err_set(-ESRCH, "the spawner is gone, no worker can be started");
	/* an answer that came after its request timed out: that worker's
	 * socket is closed, it exits and is reaped as nobody's */
	for (;;) {
		int in[1];
		unsigned nin = 1;

		rc = vb_msg_recv(s->spawner, &m, in, &nin);
		for (unsigned i = 0; i < nin; i++)
			close(in[i]);
		if (rc < 0)
			break;
	}
	m = (struct vb_msg){ .type = VB_MSG_SPAWN, .devid = domid };
	rc = vb_msg_send(s->spawner, &m, &wsock, 1);
	if (rc < 0)
		return rc;
	for (;;) {
		struct pollfd p = { .fd = s->spawner, .events = POLLIN };
		int in[1];
		unsigned nin = 1;

		rc = poll(&p, 1, VB_SPAWN_TIMEOUT_MS);
		if (rc == 0)
			return err_set(-ETIMEDOUT, "the spawner does not answer");
		if (rc < 0 && errno != EINTR)
			return err_set(-errno, "poll: %s", strerror(errno));
		if (rc < 0)
			continue;
		rc = vb_msg_recv(s->spawner, &m, in, &nin);
		for (unsigned i = 0; i < nin; i++)
			close(in[i]); /* it sends none */
		if (rc == -EAGAIN)
			continue;
		if (rc < 0)
			return rc;
		if (m.type != VB_MSG_RESULT)
			return err_set(-EPROTO, "the spawner answered type %u", m.type);
		if (m.rc <= 0)
			return err_set(m.rc < 0 && m.rc > -4096 ? m.rc : -EIO, "%s", m.text);
		return (pid_t)m.rc;
	}
}

void vb_spawner_gone(struct vb_sup *s, int status)
{
	if (WIFSIGNALED(status))
		log_err("vifback: the worker spawner (pid %d) was killed by signal %d: no new "
			"worker can be started", (int)s->spawner_pid, WTERMSIG(status));
	else
		log_err("vifback: the worker spawner (pid %d) exited with status %d: no new "
			"worker can be started", (int)s->spawner_pid, WEXITSTATUS(status));
	close(s->spawner);
	s->spawner = -1;
	s->spawner_pid = 0;
}

void vb_spawner_stop(struct vb_sup *s)
{
	if (s->spawner < 0)
		return;
	close(s->spawner);
	kill(s->spawner_pid, SIGKILL);
	waitpid(s->spawner_pid, NULL, 0);
	s->spawner = -1;
	s->spawner_pid = 0;
}
