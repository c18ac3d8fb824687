/* hv_guest: the guest's half of the simulated hypervisor.
 *
 * What a PV guest kernel does with Xen's grant table and event channels,
 * for a process standing in for domain D (hvsim guest, hostile test
 * frontends): its memory is a memfd of n pages; it grants pages to a backend
 * domain (read-only or not) and revokes them; it allocates unbound event
 * channel ports that a backend binds with hv_evtchn_bind(). The broker
 * (hvsim) hands the memfd, the grant table and the eventfds to a backend that
 * asks; the backend side (hv.h, kind "sim") enforces what the grant table
 * says, with Xen's GNTST_* codes.
 *
 * Returns 0 or -errno with err_msg(), like the rest of the tree. */
#ifndef HV_SIM_HV_GUEST_H
#define HV_SIM_HV_GUEST_H

#include <stdbool.h>
#include <stdint.h>

struct hv_guest;

/* Register domain domid with hvsim's broker, with pages pages of memory. */
int hv_guest_open(uint16_t domid, unsigned pages, struct hv_guest **out);
void hv_guest_close(struct hv_guest *g);
unsigned hv_guest_pages(const struct hv_guest *g);
/* The guest's own view of page pfn (HV_PAGE_SIZE bytes). */
void *hv_guest_page(struct hv_guest *g, unsigned pfn);

/* Grant page pfn to domain to (gnttab_grant_foreign_access). */
int hv_guest_grant(struct hv_guest *g, uint16_t to, unsigned pfn, bool readonly, uint32_t *ref);
/* End foreign access: later copies and maps through ref fail. */
int hv_guest_revoke(struct hv_guest *g, uint32_t ref);

/* Event channels: alloc_unbound for remote, notify, one pollable fd. */
int hv_guest_evtchn_alloc(struct hv_guest *g, uint16_t remote, uint32_t *port);
int hv_guest_evtchn_close(struct hv_guest *g, uint32_t port);
int hv_guest_evtchn_notify(struct hv_guest *g, uint32_t port);
int hv_guest_evtchn_fd(struct hv_guest *g);
/* Next port that fired (the kick is consumed): 0, or -EAGAIN. */
int hv_guest_evtchn_pending(struct hv_guest *g, uint32_t *port);

#endif
