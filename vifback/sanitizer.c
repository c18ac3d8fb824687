/* sanitizer: ASan/UBSan reports from a seccomp-confined worker.
 *
 * A report makes calls the worker's filter (seccomp.c) kills: isatty() on
 * stderr to choose its colours (an ioctl, TCGETS); for its stack,
 * /proc/self/maps and the binaries' debug information (open); and UBSan
 * (GCC's libubsan, a library of its own that sets itself up at its first
 * report) reads its options from /proc/self/environ and readlink()s
 * /proc/self/exe first. Killed at the first of these, a worker's report
 * was lost: ASan's line of '=', nothing from UBSan, and the worker gone
 * as if it had exited. So in sanitized builds reports have no colours
 * unless the options ask for them, and a worker, before it confines
 * itself, has both runtimes set up, the memory map cached and its symbols
 * read. Built into sanitized builds only. */
#include "vifback/sanitizer.h"

#ifdef VB_SANITIZED
#include <dlfcn.h>
#include <sanitizer/common_interface_defs.h>
#include <stdbool.h>
#include <stdint.h>

/* The runtimes' defaults, under ASAN_OPTIONS and UBSAN_OPTIONS.
 * silence_unsigned_overflow: see ubsan_setup(). */
const char *__asan_default_options(void);
const char *__ubsan_default_options(void);
const char *__asan_default_options(void)
{
	return "color=never";
}

const char *__ubsan_default_options(void)
{
	return "color=never:silence_unsigned_overflow=1";
}

/* libubsan's handler of a recoverable overflow, and the data it reads
 * (ubsan_value.h, ubsan_handlers.h) */
struct ub_type {
	uint16_t kind, info;
	char name[16];
};
struct ub_overflow {
	struct {
		const char *file;
		uint32_t line, column;
	} loc;
	const struct ub_type *type;
};
void __ubsan_handle_add_overflow(void *data, void *lhs, void *rhs);

/* libubsan sets itself up on its first report or suppression check; no
 * call of its interface does it otherwise. An unsigned overflow reported
 * to its recoverable handler is checked against suppressions (set-up
 * done), then dropped: silence_unsigned_overflow, which no check of ours
 * can need (GCC has no unsigned-overflow check; our builds recover from
 * nothing). */
static void ubsan_setup(void)
{
	static const struct ub_type u32 = { 0, 5 << 1, "'unsigned int'" }; /* 2^5 bits */
	static struct ub_overflow o = { { __FILE__, __LINE__, 1 }, &u32 };

	__ubsan_handle_add_overflow(&o, (void *)(uintptr_t)UINT32_MAX, (void *)1);
}

/* A runtime's memory map cached, its symbolizer set up (debug
 * information read) by one symbolization. */
typedef void on_sandbox_fn(__sanitizer_sandbox_arguments *args);
typedef void symbolize_fn(void *pc, const char *fmt, char *out, size_t len);

static void prepare(on_sandbox_fn *on_sandbox, symbolize_fn *symbolize)
{
	char where[256];

	on_sandbox(NULL);
	symbolize(__builtin_return_address(0), "%p %F %L", where, sizeof(where));
}

void vb_sanitizer_prepare(void)
{
	static bool prepared; /* and inherited: clone and fork copy it */
	void *ubsan;

	if (prepared)
		return;
	prepared = true;
	ubsan = dlopen("libubsan.so.1", RTLD_NOW | RTLD_NOLOAD);
	ubsan_setup();
	/* GCC: libubsan has its own copy of the common parts; clang's
	 * runtimes are one (no such library) */
	if (ubsan) {
		on_sandbox_fn *on = (on_sandbox_fn *)dlsym(ubsan, "__sanitizer_sandbox_on_notify");
		symbolize_fn *sym = (symbolize_fn *)dlsym(ubsan, "__sanitizer_symbolize_pc");

		if (on && sym)
			prepare(on, sym);
		dlclose(ubsan);
	}
	/* ASan's last: libubsan's set-up may reach parts of it */
	prepare(__sanitizer_sandbox_on_notify, __sanitizer_symbolize_pc);
}

/* ASan knows a thread's stack by its bounds, which a clone() child on a
 * stack of its own (the spawner's, a worker's: spawner.c) inherits from
 * the supervisor's main thread. On a call that does not return (_exit(),
 * abort()) ASan unpoisons the stack between the two: with the bounds
 * wrong it declined, warning "ASan is ignoring requested
 * __asan_handle_no_return ... False positive error reports may follow" in
 * vifback's log whenever the spawner _exit()ed at a stop. A switch of
 * fiber onto the new stack, as for makecontext(), sets them. */
void vb_sanitizer_own_stack(const void *lo, size_t len)
{
	void *fake_stack = NULL;

	__sanitizer_start_switch_fiber(&fake_stack, lo, len);
	__sanitizer_finish_switch_fiber(fake_stack, NULL, NULL);
}
#endif
