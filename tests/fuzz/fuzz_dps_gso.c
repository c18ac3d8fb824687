/* libFuzzer harness for dpswitch's software GSO (dpswitch/gso.c), which
 * cuts every GSO packet a guest puts on its TX ring (and the kernel's UDP
 * GSO packets from a kernel port) into frames: the headers, gso_type and
 * gso_size are all the guest's. Input: gso_type (0 TCPv4, 1 TCPv6, 2 the
 * kernel's UDP GSO, else the byte as is), gso_size (2 bytes), a byte for
 * the output's room (max frames, a tight buffer or not), then the packet.
 * Besides the sanitizers (a read or write past either buffer) it checks
 * what gso.h promises of the frames: each at most the headers and one
 * gso_size of payload, the payload in order and whole, the guest's
 * headers unchanged but for each frame's IP length, IPv4 id (consecutive),
 * TCP sequence number (advancing by the payload) and flags (FIN and PSH on
 * the last frame only), UDP length and checksums, and the IPv4 header and
 * TCP/UDP checksums valid as a receiver checks them.
 *
 * The source is included, not linked, as fuzz_dps_policy's. */
#include "dpswitch/gso.c"

#include <stdint.h>
#include <string.h>

#include "tests/fuzz/fuzz_check.h"

#define MAX_SEGS 128u
static uint8_t out[NETIF_MAX_PKT + MAX_SEGS * 1024u];
static uint32_t seg_len[MAX_SEGS];

/* a sum over the bytes, checksum field included, is all ones */
static bool verifies(uint32_t sum)
{
	return inet_csum_fold(sum) == 0xffff;
}

static void check_frame(const uint8_t *f, uint32_t sl, const struct dps_gso_hdr *h, bool udp)
{
	const uint8_t *ip = f + h->l2_len, *l4 = ip + h->l3_len;
	uint32_t l4_len = sl - h->l2_len - h->l3_len, s;

	if (h->v6) {
		CHECK(get16(ip + 4) + 40u == sl - h->l2_len);
		s = inet_csum_add(ip + 8, 32, (udp ? 17u : 6u) + l4_len);
	} else {
		CHECK(get16(ip + 2) == sl - h->l2_len);
		CHECK(verifies(inet_csum_add(ip, (size_t)(ip[0] & 15) * 4, 0)));
		s = inet_csum_add(ip + 12, 8, (udp ? 17u : 6u) + l4_len);
	}
	if (udp)
		CHECK(get16(l4 + 4) == l4_len);
	CHECK(verifies(inet_csum_add(l4, l4_len, s)));
}

/* a header byte a frame may change: the IP length, the IPv4 id and
 * header checksum, the TCP sequence number, flags and checksum, the UDP
 * length and checksum; every other byte is the guest's */
static bool changes(const struct dps_gso_hdr *h, bool udp, uint32_t j)
{
	uint32_t l3 = h->l2_len, l4 = l3 + h->l3_len;

	if (j >= l3 && j < l4)
		return h->v6 ? j - l3 == 4 || j - l3 == 5
			     : (j - l3 >= 2 && j - l3 <= 5) || j - l3 == 10 || j - l3 == 11;
	if (j < l4)
		return false;
	j -= l4;
	return udp ? j >= 4 && j <= 7 : (j >= 4 && j <= 7) || j == 13 || j == 16 || j == 17;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t types[3] = { XEN_NETIF_GSO_TYPE_TCPV4, XEN_NETIF_GSO_TYPE_TCPV6,
					  DPS_GSO_UDP_L4 };
	struct dps_gso_hdr h;
	uint32_t len, hdr, off = 0, payload = 0;
	unsigned n = 0, max_segs;
	uint8_t type;
	uint16_t mss;
	size_t cap;
	bool udp, parsed;
	int rc;

	if (size < 4 || size - 4 > NETIF_MAX_PKT)
		return 0;
	type = data[0] < 3 ? types[data[0]] : data[0];
	mss = get16(data + 1);
	max_segs = 1u + (data[3] & 0x7f);
	cap = data[3] & 0x80 ? sizeof(out) : (size - 4) + max_segs * 8u;
	data += 4;
	len = (uint32_t)(size - 4);
	udp = type == DPS_GSO_UDP_L4;
	parsed = dps_gso_parse(data, len, type, mss, &h) == 0;
	rc = dps_gso_segment(data, len, type, mss, out, cap, seg_len, max_segs, &n);
	if (!parsed) {
		CHECK(rc == -EINVAL);
		return 0;
	}
	hdr = h.l2_len + h.l3_len + h.l4_len;
	CHECK(hdr + h.payload == len && h.nseg >= 1);
	if (h.nseg > max_segs) {
		CHECK(rc == -EINVAL);
		return 0;
	}
	if ((size_t)h.nseg * hdr + h.payload > cap) {
		CHECK(rc == -ENOSPC);
		return 0;
	}
	CHECK(rc == 0 && n == h.nseg);
	for (unsigned i = 0; i < n; i++) {
		const uint8_t *f = out + off, *l4 = f + h.l2_len + h.l3_len;
		uint32_t chunk = seg_len[i] - hdr;

		CHECK(seg_len[i] >= hdr && chunk <= mss);
		CHECK(i + 1 == n || chunk == mss);
		/* the guest's headers but for what a frame changes, and
		 * the payload, in order */
		for (uint32_t j = 0; j < hdr; j++)
			CHECK(f[j] == data[j] || changes(&h, udp, j));
		CHECK(!memcmp(f + hdr, data + hdr + payload, chunk));
		if (!h.v6) /* consecutive IPv4 ids, as the kernel's GSO */
			CHECK(get16(f + h.l2_len + 4) == (uint16_t)(get16(data + h.l2_len + 4) + i));
		if (!udp) {
			uint32_t seq0 = (uint32_t)get16(data + h.l2_len + h.l3_len + 4) << 16 |
					get16(data + h.l2_len + h.l3_len + 6);

			CHECK(((uint32_t)get16(l4 + 4) << 16 | get16(l4 + 6)) == seq0 + payload);
			if (i + 1 < n)
				CHECK(!(l4[13] & 0x09));
		}
		check_frame(f, seg_len[i], &h, udp);
		payload += chunk;
		off += seg_len[i];
	}
	CHECK(payload == h.payload);
	return 0;
}
