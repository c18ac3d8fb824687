/* spawner: the small process that starts vifback's workers. Cloned at
 * start, before the supervisor has built any state, so that a worker
 * cloned from it shares its pages with a process that hardly writes any:
 * a worker forked from the supervisor itself kept private copies of every
 * page the supervisor went on writing after the fork (its stack, heap,
 * libc's and ld.so's data: about half of an idle worker's memory).
 *
 * The supervisor sends SPAWN with the worker's end of its socketpair
 * attached; the spawner clones the worker as the supervisor's child
 * (CLONE_PARENT: the supervisor reaps, kills and restarts it as any child
 * of its own) and answers RESULT, rc = the worker's pid.
 *
 * Every page an idle worker writes, or the spawner writes after cloning
 * it, is the worker's own (bench/vifback's memory per idle vif). So:
 * - clone(), not fork(): fork() runs libc's child-side resets (ld.so's and
 *   malloc's locks, stdio's list lock, the fork generation), two pages of
 *   ld.so's data and one of libc's written with the values they already
 *   hold. The spawner is single threaded and clones outside any libc call:
 *   no lock is held, there is nothing to reset. (What that skips: the
 *   thread's cached tid stays the spawner's; libc asks the kernel for it
 *   in raise() and abort(), and no worker takes a lock that records its
 *   owner's tid.)
 * - the spawner runs on a stack of its own, which each worker unmaps:
 *   the spawner goes on writing its stack after a clone, which left the
 *   worker the old copies of two pages.
 * - the worker runs on a stack of its own too, whose top is a page
 *   boundary: it writes ceil(depth / 4 KiB) pages of it in every run. On
 *   the spawner's stack it wrote one page more or less as ASLR placed the
 *   stack's top within a page (60 or 64 KiB of private dirty per worker,
 *   from one run to the next).
 * - malloc is set up in the spawner, before any worker: a worker's first
 *   malloc set it up in its own copy (main_arena's bins, malloc's
 *   globals, the thread's tcache pointer: four pages). */
#include "vifback/sup.h"

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/log.h"
#include "vifback/sanitizer.h"
#include "vifback/worker.h"

#define VB_SPAWN_TIMEOUT_MS 5000
/* Stacks, reserved and backed only where they reach, each above a guard
 * page: the spawner's, and the one every worker runs on (each worker's
 * copy its own). */
#define VB_SPAWNER_STACK (256 * 1024)
#define VB_WORKER_STACK (1024 * 1024)

/* the supervisor's name, which its workers carry as they always have */
static char sup_comm[16];
/* Mapped by the supervisor before it clones the spawner, unmapped there
 * once it has. Of worker_stack the spawner writes only what clone() puts at its
 * top for the child; each worker unmaps its copy of spawner_stack first
 * thing. */
static uint8_t *spawner_stack, *worker_stack;

struct spawn_args {
	int sock, wsock;
	pid_t sup;
	uint16_t domid;
	const char *hv_kind;
	bool confine;
};

/* What stack_map() mapped, its guard page with it. */
static void stack_unmap(uint8_t *lo, size_t len)
{
	size_t guard = (size_t)getpagesize();

	munmap(lo - guard, guard + len);
}

/* The worker, on worker_stack; clone() makes its return the exit status. */
static int worker_main(void *arg)
{
	struct spawn_args a = *(const struct spawn_args *)arg; /* on spawner_stack */

	vb_sanitizer_own_stack(worker_stack, VB_WORKER_STACK);
	stack_unmap(spawner_stack, VB_SPAWNER_STACK);
	close(a.sock);
	prctl(PR_SET_NAME, sup_comm, 0, 0, 0);
	return vb_worker_run(a.wsock, a.domid, a.hv_kind, a.confine, worker_stack) < 0 ? 1 : 0;
}

/* One SPAWN: the worker's pid, or -errno with err_msg() saying why. */
static int spawn_one(int sock, int wsock, struct vb_msg *m, const char *hv_kind, bool confine)
{
	struct spawn_args a = { .sock = sock, .wsock = wsock, .domid = (uint16_t)m->devid,
				.hv_kind = hv_kind, .confine = confine };
	pid_t pid;

	/* the exit signal is ours, SIGCHLD, as for any child of the supervisor */
	pid = clone(worker_main, worker_stack + VB_WORKER_STACK, CLONE_PARENT, &a);
	if (pid < 0)
		return err_set(-errno, "clone: %s", strerror(errno));
	return pid;
}

/* The spawner, on spawner_stack: serves SPAWN requests until the
 * supervisor closes its socket. */
static int spawner_main(void *arg)
{
	const struct spawn_args *start = arg; /* the supervisor's end in .wsock */
	int sock = start->sock;
	const char *hv_kind = start->hv_kind;
	bool confine = start->confine;
	pid_t sup = start->sup;

	vb_sanitizer_own_stack(spawner_stack, VB_SPAWNER_STACK);
	close(start->wsock);
	prctl(PR_GET_NAME, sup_comm, 0, 0, 0);
	prctl(PR_SET_NAME, "vifback-spawn", 0, 0, 0);
	/* it serves the supervisor alone; checked after setting it, the
	 * supervisor may have died before */
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (getppid() != sup)
		_exit(0);
	/* malloc's arena, heap and tcache, set up once for every worker */
	void *volatile first = malloc(1);

	free(first);
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

/* A stack of len bytes above a guard page: its lowest usable byte. */
static uint8_t *stack_map(size_t len)
{
	size_t guard = (size_t)getpagesize();
	uint8_t *p = mmap(NULL, guard + len, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	if (mprotect(p, guard, PROT_NONE) < 0) {
		munmap(p, guard + len);
		return NULL;
	}
	return p + guard;
}

int vb_spawner_start(struct vb_sup *s)
{
	struct spawn_args a = { .sup = getpid(), .hv_kind = s->hv_kind, .confine = s->confine };
	int sv[2], rc;
	pid_t pid;

	spawner_stack = stack_map(VB_SPAWNER_STACK);
	if (spawner_stack)
		worker_stack = stack_map(VB_WORKER_STACK);
	if (!spawner_stack || !worker_stack) {
		rc = err_set(-errno, "stacks: %s", strerror(errno));
		goto unmap;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		rc = err_set(-errno, "socketpair: %s", strerror(errno));
		goto unmap;
	}
	a.sock = sv[1];
	a.wsock = sv[0];
	/* SIGCHLD: a child the supervisor reaps as any other */
	pid = clone(spawner_main, spawner_stack + VB_SPAWNER_STACK, SIGCHLD, &a);
	if (pid < 0) {
		rc = err_set(-errno, "clone: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		goto unmap;
	}
	close(sv[1]);
	s->spawner = sv[0];
	s->spawner_pid = pid;
	rc = 0;
unmap:
	/* the supervisor runs on neither */
	if (spawner_stack)
		stack_unmap(spawner_stack, VB_SPAWNER_STACK);
	if (worker_stack)
		stack_unmap(worker_stack, VB_WORKER_STACK);
	spawner_stack = worker_stack = NULL;
	return rc;
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
