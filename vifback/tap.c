/* tap: TAP creation and the virtio_net_hdr <-> netif metadata mapping. */
#include "vifback/tap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/nl_link.h"

static int tap_open(const char *name, int *fd)
{
	struct ifreq ifr;
	int hdrsz = sizeof(struct virtio_net_hdr);
	int f = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);

	if (f < 0)
		return err_set(-errno, "%s: open /dev/net/tun: %s", name, strerror(errno));
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE;
	if (ioctl(f, TUNSETIFF, &ifr) < 0) {
		int e = errno;

		close(f);
		return err_set(-e, "%s: TUNSETIFF: %s", name, strerror(e));
	}
	if (ioctl(f, TUNSETVNETHDRSZ, &hdrsz) < 0) {
		int e = errno;

		close(f);
		return err_set(-e, "%s: TUNSETVNETHDRSZ: %s", name, strerror(e));
	}
	*fd = f;
	return 0;
}

void vb_tap_mark_name(uint32_t domid, uint32_t devid, char mark[VB_TAP_MARK_MAX])
{
	snprintf(mark, VB_TAP_MARK_MAX, VB_TAP_MARK_PREFIX "%u.%u", domid, devid);
}

bool vb_tap_mark_parse(const char *altname, uint32_t *domid, uint32_t *devid)
{
	char canon[VB_TAP_MARK_MAX];
	unsigned d, n;
	char end;

	if (sscanf(altname, VB_TAP_MARK_PREFIX "%u.%u%c", &d, &n, &end) != 2)
		return false;
	/* canonical only (no "vifback-05.0", "vifback-+5.0") */
	vb_tap_mark_name(d, n, canon);
	if (strcmp(canon, altname))
		return false;
	*domid = d;
	*devid = n;
	return true;
}

/* The ifindex of fd's TAP, by its name now. */
static int tap_ifindex(int fd, struct nl_link *l)
{
	char name[IFNAMSIZ];

	vb_tap_name(fd, name);
	return nl_link_get(name, l);
}

int vb_tap_create(const char *name, const char *mark, int *fd)
{
	struct nl_link l;
	int rc;

	if (if_nametoindex(name))
		return err_set(-EEXIST, "%s: an interface of that name exists", name);
	rc = tap_open(name, fd);
	if (rc < 0)
		return rc;
	/* marked before it persists: a TAP that is not yet persistent goes
	 * with its last descriptor, this process's */
	rc = tap_ifindex(*fd, &l);
	if (rc == 0) {
		rc = nl_link_add_altname(l.ifindex, mark);
		if (rc < 0)
			err_prefix(rc, "%s: cannot mark it %s", name, mark);
	}
	if (rc == 0 && ioctl(*fd, TUNSETPERSIST, 1) < 0)
		rc = err_set(-errno, "%s: TUNSETPERSIST: %s", name, strerror(errno));
	if (rc < 0)
		close(*fd);
	return rc;
}

int vb_tap_adopt(const char *name, int *fd)
{
	struct ifreq ifr;
	int rc;

	if (!if_nametoindex(name))
		return -ENODEV;
	/* TUNSETIFF attaches only to a TAP whose flags match ours
	 * (multi-queue, vnet header): anything else is refused */
	rc = tap_open(name, fd);
	if (rc < 0)
		return err_set(-EEXIST, "%s: an interface of that name exists and is not our TAP",
			       name);
	memset(&ifr, 0, sizeof(ifr));
	if (ioctl(*fd, TUNGETIFF, &ifr) < 0 || !(ifr.ifr_flags & IFF_PERSIST)) {
		close(*fd);
		return err_set(-EEXIST, "%s: not a persistent TAP", name);
	}
	return 0;
}

int vb_tap_adopt_marked(const char *mark, int *fd)
{
	struct nl_link l, now;
	int rc;

	rc = nl_link_get_altname(mark, &l);
	if (rc < 0)
		return rc == -ENODEV ? rc : err_prefix(rc, "%s", mark);
	rc = vb_tap_adopt(l.name, fd);
	if (rc == -EEXIST)
		return err_set(-EEXIST, "%s (%s) is no persistent TAP of vifback's", l.name, mark);
	if (rc < 0)
		return rc; /* -ENODEV: renamed or removed meanwhile */
	/* the interface of that name still the one that holds the mark */
	if (tap_ifindex(*fd, &now) < 0 || now.ifindex != l.ifindex) {
		close(*fd);
		return err_set(-EAGAIN, "%s (%s) renamed while attaching", l.name, mark);
	}
	return 0;
}

struct mark_find {
	int ifindex;
	char mark[VB_TAP_MARK_MAX];
};

static int mark_find_one(const struct nl_link *l, const char *altname, void *arg)
{
	struct mark_find *m = arg;
	uint32_t d, n;

	if (l->ifindex == m->ifindex && vb_tap_mark_parse(altname, &d, &n))
		vb_tap_mark_name(d, n, m->mark);
	return 0;
}

int vb_tap_mark(int fd, const char *mark)
{
	struct mark_find m = { 0, "" };
	struct nl_link l;
	int rc;

	rc = tap_ifindex(fd, &l);
	if (rc == 0) {
		m.ifindex = l.ifindex;
		rc = nl_link_for_each_altname(mark_find_one, &m);
	}
	if (rc < 0)
		return rc;
	if (m.mark[0])
		return strcmp(m.mark, mark) ? err_set(-EEXIST, "%s is vifback's TAP %s", l.name, m.mark)
					    : 0;
	rc = nl_link_add_altname(l.ifindex, mark);
	return rc < 0 ? err_prefix(rc, "%s: cannot mark it %s", l.name, mark) : 0;
}

void vb_tap_remove(int fd)
{
	ioctl(fd, TUNSETPERSIST, 0);
	close(fd);
}

void vb_tap_name(int fd, char name[IFNAMSIZ])
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	if (ioctl(fd, TUNGETIFF, &ifr) < 0)
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "?");
	memcpy(name, ifr.ifr_name, IFNAMSIZ);
	name[IFNAMSIZ - 1] = '\0';
}

int vb_tap_set_carrier(int fd, bool on)
{
	int v = on;

	if (ioctl(fd, TUNSETCARRIER, &v) < 0)
		return err_set(-errno, "TUNSETCARRIER %d: %s", v, strerror(errno));
	return 0;
}

int vb_tap_queue_open(int fd0, int *fd)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	if (ioctl(fd0, TUNGETIFF, &ifr) < 0)
		return err_set(-errno, "TUNGETIFF: %s", strerror(errno));
	return tap_open(ifr.ifr_name, fd);
}

int vb_tap_set_offload(int fd, const struct netif_features *feat)
{
	unsigned off = 0;

	/* a partial checksum only when the guest takes blank ones for both
	 * families: TUN_F_CSUM does not tell IPv4 from IPv6 */
	if (feat->csum && feat->ipv6_csum) {
		off |= TUN_F_CSUM;
		if (feat->sg && feat->gso_tcpv4)
			off |= TUN_F_TSO4;
		if (feat->sg && feat->gso_tcpv6)
			off |= TUN_F_TSO6;
	}
	if (ioctl(fd, TUNSETOFFLOAD, off) < 0)
		return err_set(-errno, "TUNSETOFFLOAD %#x: %s", off, strerror(errno));
	return 0;
}

int vb_tap_hdr_from_pkt(const struct netif_pkt *p, struct virtio_net_hdr *h)
{
	uint16_t l3;
	uint32_t l4_off;
	uint8_t l4;
	unsigned field;

	memset(h, 0, sizeof(*h));
	if (p->flags & NETIF_PKT_CSUM_BLANK) {
		if (netif_hdr_l4(p->data, p->len, &l3, &l4_off, &l4) < 0)
			return -EINVAL;
		field = netif_hdr_csum_field(l4);
		if (!field || l4_off + field + 2 > p->len)
			return -EINVAL;
		h->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
		h->csum_start = (uint16_t)l4_off;
		h->csum_offset = (uint16_t)field;
		if (p->gso_type != XEN_NETIF_GSO_TYPE_NONE) {
			uint32_t thl;

			if (l4 != 6 || l4_off + 20 > p->len)
				return -EINVAL;
			if ((p->gso_type == XEN_NETIF_GSO_TYPE_TCPV4) != (l3 == 0x0800))
				return -EINVAL;
			thl = (uint32_t)(p->data[l4_off + 12] >> 4) * 4;
			if (thl < 20 || l4_off + thl > p->len)
				return -EINVAL;
			h->gso_type = p->gso_type == XEN_NETIF_GSO_TYPE_TCPV4
					      ? VIRTIO_NET_HDR_GSO_TCPV4
					      : VIRTIO_NET_HDR_GSO_TCPV6;
			h->gso_size = p->gso_size;
			h->hdr_len = (uint16_t)(l4_off + thl);
		}
	} else if (p->flags & NETIF_PKT_DATA_VALIDATED) {
		h->flags = VIRTIO_NET_HDR_F_DATA_VALID;
	}
	return 0;
}

int vb_tap_pkt_from_hdr(const struct virtio_net_hdr *h, struct netif_pkt *p)
{
	p->flags = 0;
	p->gso_type = XEN_NETIF_GSO_TYPE_NONE;
	p->gso_size = 0;
	if (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)
		p->flags |= NETIF_PKT_CSUM_BLANK;
	if (h->flags & VIRTIO_NET_HDR_F_DATA_VALID)
		p->flags |= NETIF_PKT_DATA_VALIDATED;
	switch (h->gso_type) {
	case VIRTIO_NET_HDR_GSO_NONE:
		return 0;
	case VIRTIO_NET_HDR_GSO_TCPV4:
		p->gso_type = XEN_NETIF_GSO_TYPE_TCPV4;
		break;
	case VIRTIO_NET_HDR_GSO_TCPV6:
		p->gso_type = XEN_NETIF_GSO_TYPE_TCPV6;
		break;
	default: /* ECN, UDP: never offered (TUNSETOFFLOAD) */
		return -EINVAL;
	}
	if (!h->gso_size)
		return -EINVAL;
	p->gso_size = h->gso_size;
	return 0;
}
