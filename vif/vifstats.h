/* vifstats: a vif's data-path counters as a userspace backend keeps them
 * (vifback's worker) and netd shows them (`netdctl status`, metrics).
 *
 * They travel as a small text file per vif, `<dir>/<D>.<N>`, one
 * "name value" line per counter, every line the same width so a rewrite
 * at offset 0 never leaves a tail: the worker rewrites it at most once a
 * second while the counters move (no system call per packet), netd reads
 * it when asked. Directions are Dom0's, as netback's and the kernel's
 * counters of a vif: rx is what the guest sent, tx what it was sent.
 *
 * The worker that writes the file is the side a guest may have
 * compromised: a reader takes nothing from it but known names and decimal
 * values, and a file it cannot read twice alike counts as unreadable. */
#ifndef VIF_VIFSTATS_H
#define VIF_VIFSTATS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

enum vif_stat {
	VIF_ST_RX_PACKETS,	   /* from the guest's TX ring into Dom0 (the TAP) */
	VIF_ST_RX_BYTES,
	VIF_ST_TX_PACKETS,	   /* into the guest's receive buffers */
	VIF_ST_TX_BYTES,
	VIF_ST_RX_DROP_MALFORMED,  /* requests netback drops (slot counts, sizes) */
	VIF_ST_RX_DROP_GRANT,	   /* a grant the copy refused, or the copy failed */
	VIF_ST_RX_DROP_HEADER,	   /* checksum or GSO metadata its headers cannot carry */
	VIF_ST_RX_DROP_TAP,	   /* Dom0's side refused it (the TAP's write failed) */
	VIF_ST_TX_DROP_UNFIT,	   /* the frontend cannot take it (size without sg, GSO it did not ask for) */
	VIF_ST_TX_DROP_GRANT,	   /* a receive buffer's grant refused, or the copy failed */
	VIF_ST_TX_DROP_HEADER,	   /* metadata from Dom0 a guest cannot be given */
	VIF_ST_TX_DROP_NO_BUFFERS, /* waited the drain timeout for receive buffers */
	VIF_ST_TX_RING_FULL,	   /* times a packet had to wait for receive buffers */
	VIF_ST_TX_STALLS,	   /* times a queue stalled (the carrier went off) */
	VIF_ST_EVENTS,		   /* event channel notifications sent to the guest */
	VIF_ST_SPURIOUS_EVENTS,	   /* the guest's kicks that moved neither request producer (XSA-391) */
	VIF_ST_HOLDS,		   /* reconnects held after a protocol violation (the supervisor's) */
	VIF_ST_COUNT
};

struct vif_stats {
	uint64_t v[VIF_ST_COUNT];
};

/* Room for vif_stats_format()'s text. */
#define VIF_STATS_TEXT_MAX 1024

/* "rx_packets", "rx_drop_malformed", ... */
const char *vif_stat_name(enum vif_stat s);

void vif_stats_add(struct vif_stats *to, const struct vif_stats *from);

/* The file's text (fixed width per line); its length. */
size_t vif_stats_format(const struct vif_stats *st, char buf[VIF_STATS_TEXT_MAX]);

/* Parses len bytes of text (empty: all zero); names it does not know are
 * skipped. -EINVAL with err_msg() naming the line. */
int vif_stats_parse(const char *text, size_t len, struct vif_stats *st);

/* Reads fd's text from offset 0, twice, until two reads agree (a rewrite
 * may be under way). -errno with err_msg(). */
int vif_stats_read_fd(int fd, struct vif_stats *st);
/* Writes the text at offset 0. -errno with err_msg(). */
int vif_stats_write_fd(int fd, const struct vif_stats *st);

/* {"rx_packets": N, "rx_bytes": N, "tx_packets": N, "tx_bytes": N,
 *  "rx_drops": {"malformed": N, ...}, "tx_drops": {...},
 *  "tx_ring_full": N, "tx_stalls": N, "events": N, "spurious_events": N,
 *  "holds": N} */
json_t *vif_stats_json(const struct vif_stats *st);

#endif
