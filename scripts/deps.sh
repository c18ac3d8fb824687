#!/bin/sh
# Installs the Debian 12 packages the build, the demo and the tests need.
# Does nothing (and needs no network) when they are all present already.
set -eu
PKGS="build-essential cmake ninja-build pkg-config procps
libmnl-dev libnftables-dev nftables libcmocka-dev libjansson-dev libinih-dev libsystemd-dev
iproute2 iputils-ping busybox-static isc-dhcp-client dnsmasq-base
python3 python3-scapy python3-pytest tcpdump iperf3 xenstore-utils libxen-dev"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing:$missing"
if [ "$(id -u)" != 0 ]; then
	echo "deps: missing packages and not root; run 'make deps' as root" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 update -q
# shellcheck disable=SC2086
apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends $missing
