#!/bin/sh
# Installs the Debian 12 packages the build, the demo and the tests need.
# Does nothing (and needs no network) when they are all present already.
# DEPS_EXTRA: more packages, for a target that needs them (make fuzz, which
# make check runs: clang).
set -eu
PKGS="build-essential cmake ninja-build pkg-config procps
libmnl-dev libnftnl-dev libnftables-dev nftables libcmocka-dev libjansson-dev libinih-dev libsystemd-dev
liburing-dev
iproute2 iputils-ping busybox-static isc-dhcp-client dnsmasq-base
python3 python3-scapy python3-pytest tcpdump iperf3 xenstore-utils libxen-dev
qemu-system-x86 libdpdk-dev
debhelper lintian mandoc systemd systemd-container python3-prometheus-client
openvswitch-switch ovn-central ovn-host
${DEPS_EXTRA:-}"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
		missing="$missing $p"
done

# Xen's own hotplug scripts (package xen-utils-common) for the compatibility
# test and bench/hotplug: unpacked, never installed. Installing it would pull
# in udev, whose postinst starts udevd on the host, and register Xen's init
# scripts; unpacking runs nothing. Fetched once, then no network.
XEN_UTILS_DIR=${XEN_UTILS_DIR:-/var/cache/netd/xen-utils-common}
xen_scripts() {
	[ -x "$XEN_UTILS_DIR/etc/xen/scripts/vif-bridge" ] && return 0
	[ "$(id -u)" = 0 ] || return 0
	tmp=$(mktemp -d)
	if (cd "$tmp" && { apt-get -q -o APT::Sandbox::User=root download xen-utils-common ||
		{ apt-get -o DPkg::Lock::Timeout=600 update -q &&
		  apt-get -q -o APT::Sandbox::User=root download xen-utils-common; }; }) &&
	   mkdir -p "$XEN_UTILS_DIR" && dpkg-deb -x "$tmp"/xen-utils-common_*.deb "$XEN_UTILS_DIR"; then
		echo "deps: Xen's hotplug scripts unpacked in $XEN_UTILS_DIR/etc/xen/scripts"
	else
		echo "deps: could not fetch xen-utils-common: the Xen script comparison tests will fail" >&2
	fi
	rm -rf "$tmp"
}
if [ -z "$missing" ]; then
	xen_scripts
	exit 0
fi
echo "deps: installing:$missing"
if [ "$(id -u)" != 0 ]; then
	echo "deps: missing packages and not root; run 'make deps' as root" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive

# Open vSwitch and OVN are for the tests, which run their own daemons in
# namespaces: their packages must not start the host's. policy-rc.d (which
# invoke-rc.d and deb-systemd-invoke obey) refuses every start while we
# install; one already there is left alone.
POLICY=/usr/sbin/policy-rc.d
own_policy=
if [ ! -e "$POLICY" ]; then
	printf '#!/bin/sh\n# scripts/deps.sh: no service starts while it installs\nexit 101\n' >"$POLICY"
	chmod 755 "$POLICY"
	own_policy=1
fi
trap '[ -n "$own_policy" ] && rm -f "$POLICY"' EXIT
ovs_pids() {
	for f in /run/openvswitch/*.pid /run/ovn/*.pid /var/run/openvswitch/*.pid /var/run/ovn/*.pid; do
		[ -f "$f" ] || continue
		p=$(cat "$f" 2>/dev/null) || continue
		[ -n "$p" ] && kill -0 "$p" 2>/dev/null && echo "$p"
	done | sort -u
}
before=$(ovs_pids)
apt-get -o DPkg::Lock::Timeout=600 update -q
# shellcheck disable=SC2086
apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends $missing
# Whatever of theirs runs now and did not before, the install started:
# stop it, by PID.
for p in $(ovs_pids); do
	case " $(echo $before) " in *" $p "*) continue ;; esac
	echo "deps: stopping $(cat /proc/"$p"/comm 2>/dev/null) (pid $p), started by the install" >&2
	kill "$p" 2>/dev/null || true
done
xen_scripts
