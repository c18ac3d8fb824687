/* flows: per-port anti-spoofing in OpenFlow (see flows.h). */
#include "ovs/flows.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/textbuf.h"

extern char **environ;

/* The MAC's link-local address, as text. */
static void link_local(const uint8_t mac[6], char *buf, size_t len)
{
	struct in6_addr a;

	vif_eui64(mac, NULL, &a);
	inet_ntop(AF_INET6, &a, buf, len);
}

int ovs_flows_text(const struct vif *v, bool trunked, char *buf, size_t len)
{
	struct textbuf o = { .buf = buf, .len = len };
	char head[160], src[48] = "", mac[VIF_MAC_STRLEN], ll[INET6_ADDRSTRLEN];
	unsigned long long cookie = OVS_FLOW_COOKIE(v->domid, v->devid, v->emu);
	bool any_ip = v->n_ips == 0, v4 = false;

	if (len)
		buf[0] = '\0';
	snprintf(head, sizeof(head), "cookie=0x%llx,table=0,in_port=\"%s\"", cookie, v->ifname);
	if (v->has_mac) {
		vif_mac_format(v->mac, mac, sizeof(mac));
		snprintf(src, sizeof(src), ",dl_src=%s", mac);
		link_local(v->mac, ll, sizeof(ll));
	}
	for (unsigned i = 0; i < v->n_ips; i++)
		v4 |= v->ips[i].family == AF_INET;

	/* Server-side and router traffic: never, whatever else is allowed. */
	textbuf_printf(&o, "%s,priority=300,udp,tp_src=67,actions=drop\n", head);
	textbuf_printf(&o, "%s,priority=300,udp6,tp_src=547,actions=drop\n", head);
	textbuf_printf(&o, "%s,priority=300,icmp,icmp_type=5,actions=drop\n", head);
	textbuf_printf(&o, "%s,priority=300,icmp6,icmp_type=134,actions=drop\n", head);
	textbuf_printf(&o, "%s,priority=300,icmp6,icmp_type=137,actions=drop\n", head);
	/* 802.1Q: OpenFlow's ip, arp and ipv6 match the type inside the tag,
	 * and NORMAL puts a tagged frame in the VLAN it names when the port
	 * trunks it, which a port without tag or trunks does for every VLAN.
	 * So a port without trunks sends untagged frames only (priority-tagged
	 * ones too go: the kernel-bridge path drops them alike); a trunk port
	 * also tagged ones, with the same source checks, in the VLANs NORMAL
	 * admits on it (its trunks), never VLAN 0. */
	textbuf_printf(&o, "%s,priority=300,vlan_tci=0x1000/%s,actions=drop\n", head,
	               trunked ? "0x1fff" : "0x1000");

	/* IPv4 and ARP. */
	if (any_ip) {
		textbuf_printf(&o, "%s,priority=100%s,ip,actions=NORMAL\n", head, src);
		textbuf_printf(&o, "%s,priority=100%s,arp%s%s,actions=NORMAL\n", head, src,
		               v->has_mac ? ",arp_sha=" : "", v->has_mac ? mac : "");
	} else if (v4) {
		textbuf_printf(&o, "%s,priority=100%s,udp,nw_src=0.0.0.0,tp_src=68,tp_dst=67,actions=NORMAL\n",
		               head, src);
		textbuf_printf(&o, "%s,priority=100%s,arp,arp_spa=0.0.0.0%s%s,actions=NORMAL\n", head, src,
		               v->has_mac ? ",arp_sha=" : "", v->has_mac ? mac : "");
	}
	for (unsigned i = 0; i < v->n_ips; i++) {
		char a[INET6_ADDRSTRLEN];

		if (v->ips[i].family != AF_INET)
			continue;
		inet_ntop(AF_INET, &v->ips[i].addr, a, sizeof(a));
		textbuf_printf(&o, "%s,priority=100%s,ip,nw_src=%s,actions=NORMAL\n", head, src, a);
		textbuf_printf(&o, "%s,priority=100%s,arp,arp_spa=%s%s%s,actions=NORMAL\n", head, src, a,
		               v->has_mac ? ",arp_sha=" : "", v->has_mac ? mac : "");
	}

	/* IPv6. Without ip= any source (Xen's semantics), ND included.
	 * With it: ND first (a higher priority than the source rules, so
	 * that an advertisement from an allowed source still has to be for
	 * an allowed target), then the sources. */
	if (any_ip) {
		textbuf_printf(&o, "%s,priority=100%s,ipv6,actions=NORMAL\n", head, src);
	} else {
		char addrs[VIF_MAX_IPS + 1][INET6_ADDRSTRLEN];
		unsigned n = 0;

		if (v->has_mac)
			snprintf(addrs[n++], sizeof(addrs[0]), "%s", ll);
		for (unsigned i = 0; i < v->n_ips; i++)
			if (v->ips[i].family == AF_INET6)
				inet_ntop(AF_INET6, &v->ips[i].addr, addrs[n++], sizeof(addrs[0]));
		for (unsigned i = 0; i < n; i++) {
			textbuf_printf(&o, "%s,priority=210%s,icmp6,icmp_type=136,icmp_code=0,nd_target=%s,actions=NORMAL\n",
			               head, src, addrs[i]);
			textbuf_printf(&o, "%s,priority=210%s,icmp6,ipv6_src=::,icmp_type=135,icmp_code=0,nd_target=%s,actions=NORMAL\n",
			               head, src, addrs[i]);
			textbuf_printf(&o, "%s,priority=100%s,ipv6,ipv6_src=%s,actions=NORMAL\n", head, src,
			               addrs[i]);
		}
		textbuf_printf(&o, "%s,priority=200,icmp6,icmp_type=136,actions=drop\n", head);
		textbuf_printf(&o, "%s,priority=200,icmp6,ipv6_src=::,icmp_type=135,actions=drop\n", head);
		/* From :: only RS and MLDv2 reports (and DAD, above). */
		textbuf_printf(&o, "%s,priority=150%s,icmp6,ipv6_src=::,icmp_type=133,actions=NORMAL\n", head,
		               src);
		textbuf_printf(&o, "%s,priority=150%s,icmp6,ipv6_src=::,icmp_type=143,actions=NORMAL\n", head,
		               src);
	}

	/* Everything else from the port. */
	textbuf_printf(&o, "%s,priority=10,actions=drop\n", head);
	return o.full ? err_set(-ENOSPC, "%s: anti-spoofing rules do not fit", v->ifname) : 0;
}

/* ovs-ofctl ARGS... with stdin from text (NULL: /dev/null); its stderr
 * is the error message. */
static int ofctl(const char *const argv[], const char *text)
{
	int in[2] = { -1, -1 }, errp[2] = { -1, -1 }, status, rc;
	posix_spawn_file_actions_t fa;
	char msg[512];
	ssize_t n = 0, r;
	pid_t pid;

	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
		rc = err_set(-errno, "pipe: %s", strerror(errno));
		goto out;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
	posix_spawn_file_actions_adddup2(&fa, errp[1], 1);
	rc = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc) {
		rc = err_set(-rc, "cannot run %s: %s", argv[0], strerror(rc));
		goto out;
	}
	close(in[0]);
	close(errp[1]);
	in[0] = errp[1] = -1;
	if (text) {
		size_t off = 0, len = strlen(text);
		void (*old)(int) = signal(SIGPIPE, SIG_IGN);

		while (off < len) {
			r = write(in[1], text + off, len - off);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				break;
			off += (size_t)r;
		}
		signal(SIGPIPE, old);
	}
	close(in[1]);
	in[1] = -1;
	while ((size_t)n < sizeof(msg) - 1) {
		r = read(errp[0], msg + n, sizeof(msg) - 1 - (size_t)n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += r;
	}
	msg[n] = '\0';
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		msg[--n] = '\0';
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		rc = 0;
	else
		rc = err_set(-EIO, "%s %s: %s", argv[0], argv[1], n ? msg : "failed");
out:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (errp[i] >= 0)
			close(errp[i]);
	}
	return rc;
}

int ovs_flows_del(const char *target, const struct vif *v)
{
	char match[64];
	const char *argv[] = { "ovs-ofctl", "del-flows", target, match, NULL };

	snprintf(match, sizeof(match), "cookie=0x%llx/-1",
		 (unsigned long long)OVS_FLOW_COOKIE(v->domid, v->devid, v->emu));
	return ofctl(argv, NULL);
}

int ovs_flows_add(const char *target, const struct vif *v, bool trunked, bool replace)
{
	const char *argv[] = { "ovs-ofctl", "add-flows", target, "-", NULL };
	char *text;
	int rc;

	text = malloc(16384);
	if (!text)
		return err_set(-ENOMEM, "out of memory");
	rc = ovs_flows_text(v, trunked, text, 16384);
	/* A re-plug with other keys: the old rules go first, as one file
	 * replaces them all (add-flows only adds or overwrites). */
	if (rc == 0 && replace)
		rc = ovs_flows_del(target, v);
	if (rc == 0)
		rc = ofctl(argv, text);
	free(text);
	return rc;
}
