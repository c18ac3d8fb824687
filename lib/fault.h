/* fault: test-only fault injection for multi-step host changes.
 *
 * NETD_FAULT=<step> makes fault_check("<step>") fail with -EIO, so tests can
 * prove that a failure at every step rolls the host back. NETD_FAULT=<step>:crash
 * kills the process with SIGKILL at that step instead, to test crash recovery. */
#ifndef LIB_FAULT_H
#define LIB_FAULT_H

int fault_check(const char *step);

#endif
