/* xs_wire: the xenstore wire format, as libxenstore and Xen's xenstored
 * speak it (facts from xen/include/public/io/xs_wire.h, docs/misc/xenstore.txt).
 *
 * Our own names (XS_MSG_*, XS_P_*) so this header can sit next to
 * <xenstore.h> in one translation unit without clashing. */
#ifndef LIB_XS_WIRE_H
#define LIB_XS_WIRE_H

#include <stdint.h>

#define XS_HDR_LEN	16
#define XS_PAYLOAD_MAX	4096
#define XS_ABS_PATH_MAX	3072
#define XS_REL_PATH_MAX	2048

enum xs_msg_type {
	XS_MSG_CONTROL = 0,
	XS_MSG_DIRECTORY = 1,
	XS_MSG_READ = 2,
	XS_MSG_GET_PERMS = 3,
	XS_MSG_WATCH = 4,
	XS_MSG_UNWATCH = 5,
	XS_MSG_TRANSACTION_START = 6,
	XS_MSG_TRANSACTION_END = 7,
	XS_MSG_INTRODUCE = 8,
	XS_MSG_RELEASE = 9,
	XS_MSG_GET_DOMAIN_PATH = 10,
	XS_MSG_WRITE = 11,
	XS_MSG_MKDIR = 12,
	XS_MSG_RM = 13,
	XS_MSG_SET_PERMS = 14,
	XS_MSG_WATCH_EVENT = 15,
	XS_MSG_ERROR = 16,
	XS_MSG_IS_DOMAIN_INTRODUCED = 17,
	XS_MSG_RESUME = 18,
	XS_MSG_SET_TARGET = 19,
	/* 20 was RESTRICT, removed: invalid now. */
	XS_MSG_RESET_WATCHES = 21,
	XS_MSG_DIRECTORY_PART = 22,
	XS_MSG_GET_FEATURE = 23,
	XS_MSG_SET_FEATURE = 24,
	XS_MSG_GET_QUOTA = 25,
	XS_MSG_SET_QUOTA = 26,
	XS_MSG_TYPE_COUNT,
	XS_MSG_INVALID = 0xffff,
};

/* The 16-byte header {type, req_id, tx_id, len}. Xen defines it in host
 * order; every Xen host we target is little-endian, so we fix LE. */
struct xs_msg_hdr {
	uint32_t type;
	uint32_t req_id;
	uint32_t tx_id;
	uint32_t len;
};

void xs_hdr_decode(const uint8_t raw[XS_HDR_LEN], struct xs_msg_hdr *h);
void xs_hdr_encode(const struct xs_msg_hdr *h, uint8_t raw[XS_HDR_LEN]);

/* "READ", "WRITE", ...; "?" for an unknown type. */
const char *xs_msg_type_name(uint32_t type);

/* The errno names xenstored sends in ERROR replies ("ENOENT"); an errno
 * outside Xen's table maps to "EINVAL" as xenstored's send_error does. */
const char *xs_err_name(int err);
/* Inverse, for tests and clients; 0 if unknown. */
int xs_err_from_name(const char *name);

/* Splits buf[0..len) into NUL-terminated strings: stores up to max of them
 * in vec and returns how many there are in total. Bytes after the last NUL
 * are not a string (xenstored's get_strings()). */
unsigned xs_args_split(const char *buf, unsigned len, const char **vec,
		       unsigned max);

/* Strict decimal 0..65535 (xenstore domids); -EINVAL otherwise. */
int xs_domid_parse(const char *s, uint32_t *domid);

/* Node permissions: an owner entry first, then per-domain entries. */
#define XS_P_NONE	0u
#define XS_P_READ	1u
#define XS_P_WRITE	2u
#define XS_P_BOTH	(XS_P_READ | XS_P_WRITE)
#define XS_P_OWNER	4u	/* only ever in a computed access mask */

#define XS_PERMS_MAX	64

struct xs_perm {
	uint32_t domid;
	uint8_t mode;	/* XS_P_NONE / READ / WRITE / BOTH */
};

/* Parses n strings "r5\0b0\0..." (letter n|r|w|b then a domid) at buf. */
int xs_perm_parse(const char *s, struct xs_perm *p);
/* Writes "r5" to buf (at least 8 bytes); returns the length. */
unsigned xs_perm_format(const struct xs_perm *p, char *buf);

#endif
