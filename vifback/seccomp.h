/* seccomp: what a worker may still do once set up (see seccomp.c). */
#ifndef VIFBACK_SECCOMP_H
#define VIFBACK_SECCOMP_H

#include <stdint.h>

/* Installs the filter on the calling process (no_new_privs first): the
 * worker's system calls, and of ioctl only the TAP requests a worker
 * issues plus hv_ioctls[0..n_hv) (hv_ioctl_requests() of its kind).
 * 0 or -errno with err_msg(). */
int vb_seccomp_confine(const uint32_t *hv_ioctls, unsigned n_hv);

#endif
