/* hv_xsc: small helpers over libxenstore for hvsim's client subcommands
 * (domain, vif): they talk to whichever xenstored $XENSTORED_PATH names,
 * ours or a real one. */
#ifndef HV_SIM_HV_XSC_H
#define HV_SIM_HV_XSC_H

#include <stdbool.h>
#include <xenstore.h>

/* xs_open(0) with one clear error line on failure. */
struct xs_handle *hv_xsc_open(const char *who);

/* mkdir path and set its permissions (entry 0: owner and default). */
bool hv_xsc_mkdir_perms(struct xs_handle *h, xs_transaction_t t,
			const char *path, const struct xs_permissions *perms,
			unsigned n);

/* Write a printf-formatted value to dir/key. */
bool hv_xsc_writef(struct xs_handle *h, xs_transaction_t t, const char *dir,
		   const char *key, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

#endif
