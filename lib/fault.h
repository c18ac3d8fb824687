/* fault: test-only fault injection for multi-step host changes.
 *
 * NETD_FAULT=<step> makes fault_check("<step>") fail with -EIO, so tests can
 * prove that a failure at every step rolls the host back. NETD_FAULT=<step>:crash
 * kills the process with SIGKILL at that step instead, to test crash recovery.
 * NETD_FAULT=<step>:stop stops it (SIGSTOP) at that step's first check, and
 * the check passes: a window a test opens, changes the world in, and closes
 * with SIGCONT.
 * NETD_FAULT=<step>:N fails its first N checks only, then passes: a condition
 * that clears (xenstore's conflicts), to test that it is tried again.
 * Several, comma-separated, are each live (a step and the undo after it:
 * NETD_FAULT=create-bridge,txn-undo).
 *
 * The steps of a mode's up are named by its step table (netd/txn.h). Every
 * other fault point is named where it is written, by FAULT_POINT(),
 * FAULT_DECLARE() or a FAULT_TABLE, which also put the name in the binary's
 * fault_points section: fault_names() lists them from there (`netd
 * --list-steps`), so the list is the code's own and cannot miss a point, as
 * one built from the step tables alone did. */
#ifndef LIB_FAULT_H
#define LIB_FAULT_H

#include <stddef.h>

int fault_check(const char *step);

/* The name step (a string literal), registered. Not for a mode's up steps,
 * nor in an initializer: clang folds a constant one at compile time and
 * never emits the static (FAULT_DECLARE() instead). The section is not
 * called fault_names: the assembler's symbol for it would take the place
 * of the function in a file that has a point. */
#define FAULT_NAME(step)                                                                   \
	({                                                                                 \
		static const char *const fault_name_                                       \
			__attribute__((used, section("fault_points"))) = (step);            \
		fault_name_;                                                               \
	})

/* A table of such names (a vif plug's steps), registered whole: its entries
 * are the section's; NULL entries are skipped. */
#define FAULT_TABLE __attribute__((used, section("fault_points")))

/* A registered name at file scope, const char *var: for an initializer
 * (a repair's step, netd/txn.h). */
#define FAULT_DECLARE(var, step) static const char *const var FAULT_TABLE = (step)

/* fault_check() at a point outside a mode's up steps. */
#define FAULT_POINT(step) fault_check(FAULT_NAME(step))

/* The registered names, each once, sorted: up to max into names; returns
 * how many there are (more than max: the rest left out). */
size_t fault_names(const char **names, size_t max);

#endif
