/* hv_broker: hvsim's broker of guest memory, grant tables and event
 * channels, run inside `hvsim xenstored` so that domains come and go with
 * INTRODUCE and RELEASE (see hv_sim_proto.h for sockets and messages).
 *
 * A guest registers once per domain and gets its memory and grant table as
 * sealed memfds (fixed size: a guest cannot truncate them under a backend's
 * mapping); it allocates event channel ports (an eventfd each way). A
 * backend asks for a domain's memfds and binds ports. When the guest's
 * connection closes (its process died) the domain is marked dead in its
 * grant table header and forgotten: mappings a backend holds stay valid,
 * new binds fail and the backend's copies fail with GNTST_bad_domain.
 *
 * No threads: the owner polls hv_brk_pollfds() and hands the results to
 * hv_brk_dispatch(). Messages are logged with log_*(), never err_*(). */
#ifndef HV_SIM_HV_BROKER_H
#define HV_SIM_HV_BROKER_H

#include <poll.h>
#include <stdint.h>

struct hv_brk;

/* Listens on "<xs_path>.hv" for backends. */
int hv_brk_open(const char *xs_path, struct hv_brk **out);
void hv_brk_close(struct hv_brk *b);
/* Guest D's socket "<xs_path>.hv.dD" (INTRODUCE) and its end (RELEASE). */
int hv_brk_domain_add(struct hv_brk *b, uint32_t domid);
void hv_brk_domain_del(struct hv_brk *b, uint32_t domid);

/* How many pollfds hv_brk_pollfds() fills at most right now. */
unsigned hv_brk_nfds(const struct hv_brk *b);
unsigned hv_brk_pollfds(struct hv_brk *b, struct pollfd *p);
/* p, n: what hv_brk_pollfds() filled, after poll(). */
void hv_brk_dispatch(struct hv_brk *b, const struct pollfd *p, unsigned n);

#endif
