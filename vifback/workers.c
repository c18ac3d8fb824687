/* workers: the supervisor's side of its worker processes, one per guest
 * domain with a connected vif. Started on first use by the spawner
 * (spawner.c), which hands them back as our children: asked synchronously
 * to connect or drop a vif, reaped on SIGCHLD; a dead worker's vifs are
 * served again by a fresh one, on the same rings (nb_vif_lost: Closing
 * instead when that happened less than a minute before). */
#include "vifback/sup.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/log.h"
#include "vifback/worker.h"

#define VB_CALL_TIMEOUT_MS 5000

struct vb_worker *vb_worker_find(struct vb_sup *s, uint16_t domid)
{
	for (struct vb_worker *w = s->workers; w; w = w->next)
		if (w->domid == domid)
			return w;
	return NULL;
}

struct vb_worker *vb_worker_get(struct vb_sup *s, uint16_t domid)
{
	struct vb_worker *w;
	int sv[2];
	pid_t pid;

	for (w = s->workers; w; w = w->next)
		if (w->domid == domid)
			return w;
	w = calloc(1, sizeof(*w));
	if (!w) {
		err_set(-ENOMEM, "out of memory");
		return NULL;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		err_set(-errno, "socketpair: %s", strerror(errno));
		free(w);
		return NULL;
	}
	/* the spawner has a duplicate of sv[1]: ours goes either way */
	pid = vb_spawner_spawn(s, domid, sv[1]);
	close(sv[1]);
	if (pid < 0) {
		close(sv[0]);
		free(w);
		return NULL;
	}
	w->domid = domid;
	w->pid = pid;
	w->sock = sv[0];
	w->next = s->workers;
	s->workers = w;
	log_info("worker for domain %u started (pid %d)", domid, (int)pid);
	return w;
}

static void on_fatal(struct vb_sup *s, struct vb_worker *w, const struct vb_msg *m)
{
	struct nb_vif *v = nb_vif_get(&s->nb, w->domid, m->devid, false);

	if (v && v->connected)
		nb_vif_broke(&s->nb, v, m->text);
}

int vb_worker_call(struct vb_sup *s, struct vb_worker *w, struct vb_msg *m, const int *fds,
		   unsigned nfds)
{
	uint32_t devid = m->devid;
	int rc = vb_msg_send(w->sock, m, fds, nfds);

	if (rc < 0)
		return rc;
	for (;;) {
		struct pollfd p = { .fd = w->sock, .events = POLLIN };
		struct vb_msg r;
		int in[VB_MAX_QUEUES];
		unsigned nin = VB_MAX_QUEUES;

		rc = poll(&p, 1, VB_CALL_TIMEOUT_MS);
		if (rc == 0) {
			/* a hung worker serves nobody: SIGCHLD reaps it and its
			 * vifs start over with a fresh one */
			kill(w->pid, SIGKILL);
			return err_set(-ETIMEDOUT, "worker for domain %u does not answer", w->domid);
		}
		if (rc < 0 && errno != EINTR)
			return err_set(-errno, "poll: %s", strerror(errno));
		if (rc < 0)
			continue;
		rc = vb_msg_recv(w->sock, &r, in, &nin);
		for (unsigned i = 0; i < nin; i++)
			close(in[i]); /* a worker sends none */
		if (rc == -EAGAIN)
			continue;
		if (rc < 0)
			return rc;
		if (r.type == VB_MSG_FATAL) {
			on_fatal(s, w, &r);
			continue;
		}
		if (r.type == VB_MSG_RESULT && r.devid == devid) {
			if (r.rc < 0)
				return err_set(r.rc > -4096 ? r.rc : -EIO, "%s", r.text);
			memcpy(m->text, r.text, sizeof(m->text));
			return 0;
		}
	}
}

void vb_worker_input(struct vb_sup *s, struct vb_worker *w)
{
	for (unsigned n = 0; n < 64; n++) {
		struct vb_msg r;
		int in[VB_MAX_QUEUES];
		unsigned nin = VB_MAX_QUEUES;
		int rc = vb_msg_recv(w->sock, &r, in, &nin);

		for (unsigned i = 0; i < nin; i++)
			close(in[i]);
		if (rc < 0)
			return; /* EAGAIN; or gone: SIGCHLD tells */
		if (r.type == VB_MSG_FATAL)
			on_fatal(s, w, &r);
	}
}

/* A domain's vifs, for a walk of them: the ones a dead worker served are
 * lost; a worker with one left connected stays. */
struct lost {
	uint16_t domid;
	const char *why;
	bool connected;
};

static void lose(struct nb_back *b, struct nb_vif *v, void *arg)
{
	struct lost *l = arg;

	if (v->domid == l->domid && v->connected)
		nb_vif_lost(b, v, l->why);
}

static void count_connected(struct nb_back *b, struct nb_vif *v, void *arg)
{
	struct lost *l = arg;

	if (v->domid == l->domid && v->connected)
		l->connected = true;
}

static void worker_gone(struct vb_sup *s, struct vb_worker *w, int status)
{
	struct vb_worker **pp = &s->workers;
	char why[96];

	while (*pp != w)
		pp = &(*pp)->next;
	*pp = w->next;
	if (WIFSIGNALED(status))
		snprintf(why, sizeof(why), "worker (pid %d) killed by signal %d", (int)w->pid,
			 WTERMSIG(status));
	else
		snprintf(why, sizeof(why), "worker (pid %d) exited with status %d", (int)w->pid,
			 WEXITSTATUS(status));
	log_warn("domain %u: %s", w->domid, why);
	struct lost l = { w->domid, why, false };

	nb_vif_foreach(&s->nb, lose, &l);
	close(w->sock);
	free(w);
}

void vb_worker_reap(struct vb_sup *s)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (pid == s->spawner_pid)
			vb_spawner_gone(s, status);
		for (struct vb_worker *w = s->workers; w; w = w->next)
			if (w->pid == pid) {
				worker_gone(s, w, status);
				break;
			}
	}
}

void vb_worker_stop_all(struct vb_sup *s)
{
	while (s->workers) {
		struct vb_worker *w = s->workers;

		s->workers = w->next;
		close(w->sock);
		kill(w->pid, SIGKILL);
		waitpid(w->pid, NULL, 0);
		free(w);
	}
}

void vb_worker_put(struct vb_sup *s, uint16_t domid)
{
	struct vb_worker **pp = &s->workers, *w;

	struct lost l = { domid, NULL, false };

	nb_vif_foreach(&s->nb, count_connected, &l);
	if (l.connected)
		return;
	while (*pp && (*pp)->domid != domid)
		pp = &(*pp)->next;
	if (!(w = *pp))
		return;
	*pp = w->next;
	/* it has nothing left to serve; SIGKILL so that a stuck one cannot
	 * hold the wait (the kernel drops its mappings and descriptors) */
	close(w->sock);
	kill(w->pid, SIGKILL);
	waitpid(w->pid, NULL, 0);
	log_info("worker for domain %u stopped (pid %d)", domid, (int)w->pid);
	free(w);
}
