#!/bin/sh
# install.sh: installs netd, netdctl, the Xen hotplug scripts, vifback and
# dpswitch (each when built), their systemd units and man pages, as the
# packages do (debian/*.install, debian/*.manpages).
#
#   DESTDIR=/tmp/stage scripts/install.sh [BUILD_DIR]     staged (packaging)
#   scripts/install.sh --system [BUILD_DIR]                onto this host
#
# BUILD_DIR defaults to ./build. PREFIX (default /usr) gets sbin/netd and
# sbin/netdctl; XEN_SCRIPT_DIR (default /etc/xen/scripts) gets vif-bridge,
# vif-route, vif-nat and vif-openvswitch, Xen's own kept beside them as <name>.xen the first
# time (put them back with `mv vif-bridge.xen vif-bridge`). The installed
# scripts find netdctl on PATH (they add /usr/sbin, /usr/local/sbin, /sbin).
# UNIT_DIR (default /lib/systemd/system) gets the units, MAN_DIR (default
# PREFIX/share/man) the man pages.
# Without DESTDIR, --system is required: this replaces Xen's scripts.
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
system=no
if [ "${1:-}" = "--system" ]; then
	system=yes
	shift
fi
build=${1:-$src/build}
DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/usr}
XEN_SCRIPT_DIR=${XEN_SCRIPT_DIR:-/etc/xen/scripts}

if [ -z "$DESTDIR" ] && [ "$system" != yes ]; then
	echo "install.sh: set DESTDIR, or pass --system to install onto this host" >&2
	exit 2
fi
for b in netd netdctl; do
	if [ ! -x "$build/bin/$b" ]; then
		echo "install.sh: $build/bin/$b not built (make, or pass BUILD_DIR)" >&2
		exit 1
	fi
done

install -d "$DESTDIR$PREFIX/sbin" "$DESTDIR$XEN_SCRIPT_DIR"
install -m 0755 "$build/bin/netd" "$build/bin/netdctl" "$DESTDIR$PREFIX/sbin/"
for s in vif-bridge vif-route vif-nat vif-openvswitch; do
	dst=$DESTDIR$XEN_SCRIPT_DIR/$s
	# Keep Xen's original once; never overwrite the kept copy with ours.
	if [ -f "$dst" ] && [ ! -e "$dst.xen" ] && ! grep -q 'netdctl hotplug' "$dst"; then
		mv "$dst" "$dst.xen"
	fi
	install -m 0755 "$src/scripts/$s" "$dst"
done
UNIT_DIR=${UNIT_DIR:-/lib/systemd/system}
install -d "$DESTDIR$UNIT_DIR"
sed "s|/usr/sbin/|$PREFIX/sbin/|g" "$src/scripts/netd.service" > "$DESTDIR$UNIT_DIR/netd.service"
chmod 0644 "$DESTDIR$UNIT_DIR/netd.service"
# nat networks' dnsmasq, a unit of its own (netd.service names it), and its
# user; its ExecStart= is Debian's dnsmasq, not under PREFIX
install -m 0644 "$src/scripts/netd-dnsmasq@.service" "$DESTDIR$UNIT_DIR/"
SYSUSERS_DIR=${SYSUSERS_DIR:-/usr/lib/sysusers.d}
install -d "$DESTDIR$SYSUSERS_DIR"
install -m 0644 "$src/debian/xen-netfabric.sysusers" "$DESTDIR$SYSUSERS_DIR/xen-netfabric.conf"
if [ -z "$DESTDIR" ]; then
	systemd-sysusers "$SYSUSERS_DIR/xen-netfabric.conf"
fi
# vifback (the userspace netback) when built: its own service next to netd's
if [ -x "$build/bin/vifback" ]; then
	install -m 0755 "$build/bin/vifback" "$DESTDIR$PREFIX/sbin/"
	sed "s|/usr/sbin/|$PREFIX/sbin/|g" "$src/scripts/vifback.service" > "$DESTDIR$UNIT_DIR/vifback.service"
	chmod 0644 "$DESTDIR$UNIT_DIR/vifback.service"
	echo "installed vifback in $DESTDIR$PREFIX/sbin, vifback.service in $DESTDIR$UNIT_DIR"
fi
# dpswitch (the DPDK switch, built with NETD_DPDK when DPDK is found): its
# unit is a template, one instance per network, started by the operator
# (dpswitch@NAME, options from /etc/dpswitch/NAME.conf: dpswitch(8))
if [ -x "$build/bin/dpswitch" ]; then
	install -m 0755 "$build/bin/dpswitch" "$DESTDIR$PREFIX/sbin/"
	sed "s|/usr/sbin/|$PREFIX/sbin/|g" "$src/scripts/dpswitch@.service" > "$DESTDIR$UNIT_DIR/dpswitch@.service"
	chmod 0644 "$DESTDIR$UNIT_DIR/dpswitch@.service"
	echo "installed dpswitch in $DESTDIR$PREFIX/sbin, dpswitch@.service in $DESTDIR$UNIT_DIR"
fi
# the man pages of what was installed
MAN_DIR=${MAN_DIR:-$PREFIX/share/man}
install -d "$DESTDIR$MAN_DIR/man5" "$DESTDIR$MAN_DIR/man8"
install -m 0644 "$src/man/netd.conf.5" "$DESTDIR$MAN_DIR/man5/"
for m in netd netdctl vifback dpswitch; do
	if [ "$m" = netd ] || [ "$m" = netdctl ] || [ -x "$build/bin/$m" ]; then
		install -m 0644 "$src/man/$m.8" "$DESTDIR$MAN_DIR/man8/"
	fi
done
echo "installed netd, netdctl in $DESTDIR$PREFIX/sbin; vif-bridge, vif-route, vif-nat, vif-openvswitch in $DESTDIR$XEN_SCRIPT_DIR; netd.service and netd-dnsmasq@.service in $DESTDIR$UNIT_DIR, the user netd-dnsmasq in $DESTDIR$SYSUSERS_DIR, man pages in $DESTDIR$MAN_DIR"
