/* seccomp: a worker's system calls, allow-listed.
 *
 * After set-up a worker only moves bytes between descriptors it already
 * holds (rings and grant copies through its hypervisor handles, TAP
 * queues, the supervisor's socket, the simulated hypervisor's broker
 * socket opened by hv_open) and maps the ring pages the supervisor names:
 * what hv.h lists for both implementations, plus the worker's own poll,
 * writev and clock. ioctl is allowed whatever its request (the xen kind's
 * privcmd, gntdev and evtchn requests; the TAP's TUNGETIFF for names in
 * logs and TUNSETCARRIER for a stalled guest). No open, no socket, no exec, no fork. Anything else
 * kills the process: the supervisor sees it die, closes that domain's vifs
 * and starts a fresh worker when they reconnect. */
#include "vifback/seccomp.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "lib/err.h"

#if defined(__x86_64__)
#define VB_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define VB_AUDIT_ARCH AUDIT_ARCH_AARCH64
#else
#define VB_AUDIT_ARCH 0
#endif

#define ALLOW(nr) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), \
		  BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)

int vb_seccomp_confine(void)
{
	struct sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, VB_AUDIT_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		ALLOW(__NR_read), ALLOW(__NR_write), ALLOW(__NR_readv), ALLOW(__NR_writev),
		ALLOW(__NR_recvmsg), ALLOW(__NR_sendmsg), ALLOW(__NR_ppoll),
#ifdef __NR_poll
		ALLOW(__NR_poll),
#endif
		/* hv's sim kind (hv.h lists its calls): epoll_pwait for pending
		 * ports, epoll_ctl to re-arm a port on unmask. */
		ALLOW(__NR_epoll_pwait), ALLOW(__NR_epoll_ctl), ALLOW(__NR_mmap), ALLOW(__NR_munmap),
		ALLOW(__NR_madvise), ALLOW(__NR_mremap), ALLOW(__NR_brk), ALLOW(__NR_ioctl),
		ALLOW(__NR_close), ALLOW(__NR_fcntl), ALLOW(__NR_fstat), ALLOW(__NR_newfstatat),
		ALLOW(__NR_lseek), ALLOW(__NR_pread64), ALLOW(__NR_pwrite64), ALLOW(__NR_clock_gettime), ALLOW(__NR_clock_nanosleep),
		ALLOW(__NR_nanosleep), ALLOW(__NR_gettid), ALLOW(__NR_getpid),
		ALLOW(__NR_futex), ALLOW(__NR_rt_sigreturn), ALLOW(__NR_rt_sigprocmask),
		ALLOW(__NR_restart_syscall), ALLOW(__NR_exit), ALLOW(__NR_exit_group),
		ALLOW(__NR_sched_yield), ALLOW(__NR_mprotect), ALLOW(__NR_sigaltstack),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
	};
	struct sock_fprog prog = { .len = sizeof(filter) / sizeof(filter[0]), .filter = filter };

	if (!VB_AUDIT_ARCH)
		return err_set(-ENOSYS, "seccomp: unknown architecture");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return err_set(-errno, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
		return err_set(-errno, "seccomp filter: %s", strerror(errno));
	return 0;
}
