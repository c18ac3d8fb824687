/* nl: one rtnetlink socket on libmnl, with extended ACK.
 *
 * Every request waits for its ACK; a failure returns -errno and leaves the
 * kernel's extended-ACK text (or strerror when the kernel gave none) in
 * err_msg(). netd is single-threaded, so one socket serves the process. */
#ifndef LIB_NL_H
#define LIB_NL_H

#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>
#include <stddef.h>
#include <stdint.h>

int nl_open(void);
void nl_close(void);

/* Start a request in the shared buffer: header with type/flags and a fresh seq. */
struct nlmsghdr *nl_msg(uint16_t type, uint16_t flags);

/* Send nlh, wait for the ACK. 0 or -errno with the kernel's message. */
int nl_request(struct nlmsghdr *nlh);

/* Send a single-object GET; cb sees the one reply. */
int nl_get(struct nlmsghdr *nlh, mnl_cb_t cb, void *data);

/* Send a dump request; cb is called for each message. */
int nl_dump(struct nlmsghdr *nlh, mnl_cb_t cb, void *data);

/* A list of raw netlink messages (addresses, routes) kept verbatim so they can
 * be replayed with every attribute the kernel reported. */
struct nl_blob {
	uint32_t len;
	uint8_t *data; /* a whole struct nlmsghdr */
};

struct nl_blobs {
	struct nl_blob *v;
	size_t n;
};

int nl_blobs_push(struct nl_blobs *b, const struct nlmsghdr *nlh);
void nl_blobs_free(struct nl_blobs *b);
/* Hex text round trip for the state file. */
char *nl_blob_to_hex(const struct nl_blob *b);
int nl_blob_from_hex(const char *hex, struct nl_blob *out);

#endif
