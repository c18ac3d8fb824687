/* libFuzzer harness for what dpswitch reads before each frame a kernel
 * port receives (dpswitch/vnet.c: dps_vnet_rx): the virtio-net header is
 * the kernel's, the frame the network's. Input: the header (10 bytes, as
 * the kernel writes it), then the frame. Besides the sanitizers (a write
 * outside the frame) it checks: a frame refused or sent as it is is not
 * changed; a completed partial checksum is never 0 and (at an even
 * offset, as every TCP and UDP one is) verifies with the pseudo-header
 * sum the field held, as a receiver checks it.
 *
 * The source is included, not linked, as fuzz_dps_policy's. */
#include "dpswitch/vnet.c"

#include <stdint.h>
#include <string.h>

#include "tests/fuzz/fuzz_check.h"

static uint8_t pkt[65536], orig[65536];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct virtio_net_hdr vh;
	uint32_t len, at;
	uint8_t type = 0;
	int rc;

	if (size < sizeof(vh) || size - sizeof(vh) > sizeof(pkt))
		return 0;
	memcpy(&vh, data, sizeof(vh));
	len = (uint32_t)(size - sizeof(vh));
	memcpy(pkt, data + sizeof(vh), len);
	memcpy(orig, pkt, len);
	rc = dps_vnet_rx(&vh, pkt, len, &type);
	CHECK(rc == 0 || rc == 1 || rc == -EINVAL);
	if (rc == 1)
		CHECK(type == XEN_NETIF_GSO_TYPE_TCPV4 || type == XEN_NETIF_GSO_TYPE_TCPV6 ||
		      type == DPS_GSO_UDP_L4);
	at = (uint32_t)vh.csum_start + vh.csum_offset;
	if (rc != 0 || !(vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)) {
		CHECK(!memcmp(pkt, orig, len));
		return 0;
	}
	CHECK(at + 2 <= len);
	CHECK(!memcmp(pkt, orig, at) && !memcmp(pkt + at + 2, orig + at + 2, len - at - 2));
	CHECK(pkt[at] || pkt[at + 1]);
	/* (a field at an odd offset from csum_start straddles the sum's
	 * words: no checksum is there, and the kernel never says so) */
	if (vh.csum_offset % 2 == 0)
		CHECK(inet_csum_fold(inet_csum_add(pkt + vh.csum_start, len - vh.csum_start,
						   (uint32_t)(orig[at] << 8 | orig[at + 1]))) == 0xffff);
	return 0;
}
