/* seccomp: a worker's system calls, allow-listed.
 *
 * After set-up a worker only moves bytes between descriptors it already
 * holds (rings and grant copies through its hypervisor handles, TAP
 * queues, its counter file, the supervisor's socket, the simulated
 * hypervisor's broker socket opened by hv_open) and maps the ring pages
 * the supervisor names: what hv.h lists for both implementations, plus the
 * worker's own poll, writev, pread/pwrite and clock; of io_uring only
 * io_uring_enter, for the ring the worker made before confining itself,
 * restricted to readv and writev (lib/batchio.h); never io_uring_setup or
 * io_uring_register (a ring made or widened here would act past this
 * filter). ioctl only with the
 * requests it issues: the TAP's TUNGETIFF (names in logs) and
 * TUNSETCARRIER (a stalled guest), and those its hypervisor kind lists
 * (xen: evtchn bind/unbind/notify, gntdev map/unmap/copy); not TUNSETIFF,
 * TUNSETPERSIST, TUNSETOFFLOAD (the supervisor's), nor any privcmd or
 * terminal request. Only the request's low 32 bits are compared: the
 * kernel's ioctl takes an unsigned int and ignores the rest. No open, no
 * socket, no exec, no fork. Anything else kills the process: the
 * supervisor sees it die, closes that domain's vifs and starts a fresh
 * worker when they reconnect. */
#include "vifback/seccomp.h"

#include <endian.h>
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/if_tun.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "lib/err.h"
#include "vifback/sanitizer.h"

#if defined(__x86_64__)
#define VB_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define VB_AUDIT_ARCH AUDIT_ARCH_AARCH64
#else
#define VB_AUDIT_ARCH 0
#endif

#define ALLOW(nr) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), \
		  BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)

/* the low 32 bits of ioctl's request argument */
#if __BYTE_ORDER == __LITTLE_ENDIAN
#define VB_ARG1_LO offsetof(struct seccomp_data, args[1])
#else
#define VB_ARG1_LO (offsetof(struct seccomp_data, args[1]) + 4)
#endif

/* A worker's own ioctl requests, on its TAP queues. */
static const uint32_t tap_ioctls[] = { TUNGETIFF, TUNSETCARRIER };

#define VB_MAX_IOCTLS 32
#define N_TAP (sizeof(tap_ioctls) / sizeof(tap_ioctls[0]))

int vb_seccomp_confine(const uint32_t *hv_ioctls, unsigned n_hv)
{
	static const struct sock_filter head[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, VB_AUDIT_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	};
	static const struct sock_filter calls[] = {
		ALLOW(__NR_read), ALLOW(__NR_write), ALLOW(__NR_readv), ALLOW(__NR_writev),
		ALLOW(__NR_recvmsg), ALLOW(__NR_sendmsg), ALLOW(__NR_ppoll),
#ifdef __NR_poll
		ALLOW(__NR_poll),
#endif
		/* hv's sim kind (hv.h lists its calls): epoll_pwait for pending
		 * ports, epoll_ctl to re-arm a port on unmask. */
		ALLOW(__NR_epoll_pwait), ALLOW(__NR_epoll_ctl), ALLOW(__NR_mmap), ALLOW(__NR_munmap),
		ALLOW(__NR_madvise), ALLOW(__NR_mremap), ALLOW(__NR_brk),
		ALLOW(__NR_close), ALLOW(__NR_fcntl), ALLOW(__NR_fstat), ALLOW(__NR_newfstatat),
		ALLOW(__NR_lseek), ALLOW(__NR_pread64), ALLOW(__NR_pwrite64), ALLOW(__NR_clock_gettime),
		ALLOW(__NR_clock_nanosleep), ALLOW(__NR_nanosleep), ALLOW(__NR_gettid), ALLOW(__NR_getpid),
		ALLOW(__NR_futex), ALLOW(__NR_rt_sigreturn), ALLOW(__NR_rt_sigprocmask),
		ALLOW(__NR_restart_syscall), ALLOW(__NR_exit), ALLOW(__NR_exit_group),
		ALLOW(__NR_sched_yield), ALLOW(__NR_mprotect), ALLOW(__NR_sigaltstack),
		ALLOW(__NR_io_uring_enter),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
	};
	/* head, "ioctl?" (else skip the block), the block: load the request,
	 * one ALLOW per request, kill; then the other calls */
	struct sock_filter f[sizeof(head) / sizeof(head[0]) + 1 + 1 + 2 * VB_MAX_IOCTLS + 1 +
			     sizeof(calls) / sizeof(calls[0])];
	struct sock_fprog prog = { .filter = f };
	unsigned n = 0, nreq = (unsigned)N_TAP + n_hv, block = 1 + 2 * nreq + 1;

	if (!VB_AUDIT_ARCH)
		return err_set(-ENOSYS, "seccomp: unknown architecture");
	if (nreq > VB_MAX_IOCTLS)
		return err_set(-E2BIG, "seccomp: %u ioctl requests, at most %d", nreq, VB_MAX_IOCTLS);
	memcpy(f, head, sizeof(head));
	n = sizeof(head) / sizeof(head[0]);
	f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_ioctl, 0, block);
	f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, VB_ARG1_LO);
	for (unsigned i = 0; i < nreq; i++) {
		uint32_t req = i < N_TAP ? tap_ioctls[i] : hv_ioctls[i - N_TAP];

		f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, req, 0, 1);
		f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	}
	f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
	/* the accumulator still holds nr when the block was skipped */
	memcpy(f + n, calls, sizeof(calls));
	n += sizeof(calls) / sizeof(calls[0]);
	prog.len = (unsigned short)n;
	vb_sanitizer_prepare(); /* sanitized builds: their reports from here on */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return err_set(-errno, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
		return err_set(-errno, "seccomp filter: %s", strerror(errno));
	return 0;
}
