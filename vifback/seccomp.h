/* seccomp: what a worker may still do once set up (see seccomp.c). */
#ifndef VIFBACK_SECCOMP_H
#define VIFBACK_SECCOMP_H

/* Installs the filter on the calling process (no_new_privs first).
 * 0 or -errno with err_msg(). */
int vb_seccomp_confine(void);

#endif
