/* err: the one error path of the project.
 *
 * Functions return 0 or -errno. The function that knows what failed leaves a
 * one-line message here with err_set(); callers that add context wrap it with
 * err_prefix(). The layer that reports to the user reads err_msg() once.
 * Single-threaded by design (netd is one event loop), so one buffer suffices. */
#ifndef LIB_ERR_H
#define LIB_ERR_H

#include <stddef.h>

#define ERR_MSG_MAX 512

/* Sets the message and returns rc (a negative errno) so callers can write
 * `return err_set(-EINVAL, "bad %s", x);`. */
int err_set(int rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prepends "<context>: " to the current message; returns rc. */
int err_prefix(int rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* err_prefix() about obj: "<obj>: <context>: <message>", with the message's
 * own leading "<obj>: " dropped, so that a caller adding context to an
 * error that names obj already names it once. */
int err_prefix_for(int rc, const char *obj, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The current message; never NULL. Falls back to strerror of the last rc. */
const char *err_msg(void);

/* The rc of the last err_set(), 0 after err_clear(). */
int err_code(void);

void err_clear(void);

#endif
