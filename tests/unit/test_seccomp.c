/* vifback/seccomp: the filter a worker installs, installed here by the same
 * function in a forked child that then tries ioctl requests: the ones a
 * worker issues (its TAP's, and what libxenevtchn/libxengnttab issue for
 * the xen kind) return the device's own error; any other request, and
 * any call off the list, kills the child with SIGSYS. Done on /dev/null:
 * the filter looks at the request, not at the descriptor. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/io_uring.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xen/xen.h>
#include <xen/sys/evtchn.h>
#include <xen/sys/gntdev.h>
#include <xen/sys/privcmd.h>

#include "hypervisor/hv.h"
#include "vifback/sanitizer.h"
#include "vifback/seccomp.h"

/* In a child confined for kind: ioctl(req) on /dev/null, then exit 0 (or
 * 2 when the call itself did not fail as /dev/null's requests do, 3 when
 * the filter could not be installed). The wait status. */
static int confined_ioctl(const char *kind, unsigned long req)
{
	int status = -1;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		const uint32_t *reqs;
		unsigned n;
		int fd = open("/dev/null", O_RDWR);
		long rc;

		if (fd < 0 || hv_ioctl_requests(kind, &reqs, &n) || vb_seccomp_confine(reqs, n))
			syscall(SYS_exit_group, 3);
		rc = syscall(SYS_ioctl, fd, req, 0);
		/* raw exit: no atexit handler (a sanitizer's) runs confined */
		syscall(SYS_exit_group, rc == -1 && errno == ENOTTY ? 0 : 2);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static void assert_allowed(const char *kind, unsigned long req)
{
	int st = confined_ioctl(kind, req);

	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("%s: ioctl 0x%lx: status 0x%x, expected allowed", kind, req, st);
}

static void assert_killed(const char *kind, unsigned long req)
{
	int st = confined_ioctl(kind, req);

	if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGSYS)
		fail_msg("%s: ioctl 0x%lx: status 0x%x, expected killed by SIGSYS", kind, req, st);
}

static const unsigned long xen_reqs[] = {
	IOCTL_EVTCHN_BIND_INTERDOMAIN, IOCTL_EVTCHN_UNBIND, IOCTL_EVTCHN_NOTIFY,
	IOCTL_GNTDEV_MAP_GRANT_REF, IOCTL_GNTDEV_UNMAP_GRANT_REF,
	IOCTL_GNTDEV_GET_OFFSET_FOR_VADDR, IOCTL_GNTDEV_GRANT_COPY,
};

static void test_worker_requests_pass(void **state)
{
	(void)state;
	for (unsigned k = 0; k < 2; k++) {
		const char *kind = k ? "xen" : "sim";

		assert_allowed(kind, TUNGETIFF);
		assert_allowed(kind, TUNSETCARRIER);
	}
	for (size_t i = 0; i < sizeof(xen_reqs) / sizeof(xen_reqs[0]); i++)
		assert_allowed("xen", xen_reqs[i]);
	/* the kernel reads the request as an unsigned int: so does the filter */
	assert_allowed("xen", (unsigned long)IOCTL_GNTDEV_GRANT_COPY | (1ul << 40));
}

static void test_other_requests_kill(void **state)
{
	static const unsigned long forbidden[] = {
		TUNSETIFF, TUNSETPERSIST, TUNSETOFFLOAD, TUNSETOWNER, TIOCSTI, FIONREAD,
		IOCTL_PRIVCMD_HYPERCALL, IOCTL_PRIVCMD_MMAPBATCH_V2, IOCTL_EVTCHN_BIND_VIRQ,
		IOCTL_EVTCHN_RESET, IOCTL_GNTDEV_SET_MAX_GRANTS,
	};

	(void)state;
	for (size_t i = 0; i < sizeof(forbidden) / sizeof(forbidden[0]); i++)
		assert_killed("xen", forbidden[i]);
	/* the sim kind issues no hypervisor ioctl: the xen ones kill it */
	for (size_t i = 0; i < sizeof(xen_reqs) / sizeof(xen_reqs[0]); i++)
		assert_killed("sim", xen_reqs[i]);
}

/* In a child confined with no hypervisor requests: the call nr with
 * arguments that would do something if it ran; the wait status. */
static int confined_call(long nr, long a0, long a1, long a2)
{
	int status = -1;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		if (vb_seccomp_confine(NULL, 0))
			syscall(SYS_exit_group, 3);
		syscall(nr, a0, a1, a2);
		syscall(SYS_exit_group, 0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static void test_calls_off_the_list_kill(void **state)
{
	struct io_uring_params p;
	int st;

	(void)state;
	st = confined_call(SYS_openat, AT_FDCWD, (long)"/dev/null", O_RDONLY);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS);
	/* a worker uses the ring it made before confining itself: it may
	 * neither make another (unrestricted) one nor change its own */
	memset(&p, 0, sizeof(p));
	st = confined_call(SYS_io_uring_setup, 8, (long)&p, 0);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS);
	st = confined_call(SYS_io_uring_register, 0, IORING_REGISTER_ENABLE_RINGS, 0);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS);
}

/* io_uring_enter, on the ring it has (here none: EBADF), is allowed. */
static void test_ring_enter_allowed(void **state)
{
	int st;

	(void)state;
	st = confined_call(SYS_io_uring_enter, -1, 0, 0);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_worker_requests_pass),
		cmocka_unit_test(test_other_requests_kill),
		cmocka_unit_test(test_calls_off_the_list_kill),
		cmocka_unit_test(test_ring_enter_allowed),
	};

	/* sanitized builds: once, for every forked child (as vifback does) */
	vb_sanitizer_prepare();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
