/* as_ifidx: the interface index each vif's fast-path elements are keyed by.
 *
 * The fast path's sets (pass4, pass6: antispoof.c) are keyed by interface
 * index (`iif`), not name: a 4-byte key part instead of 16, about 1% of a
 * guest's 64-byte frame (bench/datapath). Deleting those elements needs the
 * index they were added with, and at unplug the vif is usually gone, so its
 * name no longer tells. This remembers it, from the plug (or, after a
 * restart, from the kernel's listing at the sweep) to the unplug. It is a
 * memory of what this process did, never the truth: an index it does not
 * have is looked up by name, and elements whose interface is gone are
 * removed from the listing (antispoof.c). Indexes are not reused while the
 * namespace lives (the kernel allocates them cyclically), so an element left
 * for a gone index can match nothing.
 *
 * A linear table: a few thousand vifs at most, one scan per plug or unplug
 * (microseconds), never per packet. Single-threaded. */
#ifndef AS_IFIDX_H
#define AS_IFIDX_H

#include <stdint.h>

/* Remember ifname's index (0: forget it). Out of memory: not remembered,
 * which only sends a later unplug to the listing. */
void as_ifidx_set(const char *ifname, uint32_t ifindex);

/* The index remembered for ifname, else 0. */
uint32_t as_ifidx_get(const char *ifname);

/* Forget everything (tests, and a table that went). */
void as_ifidx_clear(void);

#endif
