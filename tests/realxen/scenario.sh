#!/bin/bash
# scenario.sh: runs in Dom0 (real Xen 4.17) from the host's share, after
# tests/realxen/dom0-init.sh started xenstored, xen-init-dom0 and xenconsoled.
#
#   a  script mode:  netd (bridge, modern style, antispoof), our vif-bridge
#                    as /etc/xen/scripts/vif-bridge, xl runs it (online and
#                    offline) for a real PV guest's vif
#   b  no-fork mode: netd with xenstore_watch = yes; xl.conf
#                    run_hotplug_scripts=0 and vif.default.script="/bin/true":
#                    libxl 4.17 ignores the first (it always runs the vif's
#                    script), so the script must do nothing. Only netd's
#                    watch writes hotplug-status, and netback waits for it.
#   c  vifback:      xen-netback unloaded (and kept from loading), the
#                    project's userspace backend serves the guest's own
#                    netfront; script mode as in a; plus 4 MiB over TCP
#                    each way, xl network-detach / network-attach, and
#                    no worker or TAP left after xl destroy
#
# LAN: Dom0 eth0 (192.0.2.2/24) is a veth to netns "upstream", whose bridge
# "lan" holds 192.0.2.1/24 and a port to netns "witness" (192.0.2.3/24). The
# guest (tests/realxen/guest-init.sh, 192.0.2.10) pings upstream and the
# witness, then pings the witness from a forged 192.0.2.99; the witness's
# ICMP InEchos counter tells how many requests reached it.
#
# Each check appends "PASS|FAIL<TAB>name<TAB>observed<TAB>expected" to
# out/results.tsv and prints a line; the host reads the file.
set -u
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
SHARE=/mnt/host
OUT=$SHARE/out
RES=$OUT/results.tsv
GUEST_MAC=00:16:3e:00:00:02
: > "$RES"

result() {
	printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >> "$RES"
	echo "$1 $2: observed '$3', expected $4"
}

check_eq() { # name observed expected
	if [ "$2" = "$3" ]; then result PASS "$1" "$2" "'$3'"; else result FAIL "$1" "$2" "'$3'"; fi
}

check_true() { # name observed expectation-text command...
	local name=$1 obs=$2 exp=$3
	shift 3
	if "$@"; then result PASS "$name" "$obs" "$exp"; else result FAIL "$name" "$obs" "$exp"; fi
}

# wait_until SECONDS command...: poll every 0.5 s, bounded.
wait_until() {
	local n=$(($1 * 2))
	shift
	while [ $n -gt 0 ]; do
		"$@" && return 0
		sleep 0.5
		n=$((n - 1))
	done
	return 1
}

# ICMP InEchos of a namespace (echo requests that reached its stack).
in_echos() {
	ip netns exec "$1" cat /proc/net/snmp |
		awk '/^Icmp:/ { if (!h) { for (i = 1; i <= NF; i++) col[$i] = i; h = 1 }
				else print $col["InEchos"] }'
}

xs() { xenstore-read "$1" 2>/dev/null; }
guest_line() { sed -n "s/^.*RXG: $2//p" "$1" | tr -d '\r' | head -n 1; }

lan_setup() {
	ip link set lo up
	ip netns add upstream
	ip netns add witness
	ip -n upstream link set lo up
	ip -n witness link set lo up
	ip link add eth0 type veth peer name up0 netns upstream
	ip -n upstream link add lan type bridge
	ip -n upstream link set up0 master lan
	ip link add w0 netns upstream type veth peer name eth0 netns witness
	ip -n upstream link set w0 master lan
	ip -n upstream addr add 192.0.2.1/24 dev lan
	for l in up0 w0 lan; do ip -n upstream link set "$l" up; done
	ip -n witness addr add 192.0.2.3/24 dev eth0
	ip -n witness link set eth0 up
	ip addr add 192.0.2.2/24 dev eth0
	ip link set eth0 up
}

# What scripts/install.sh does, into Dom0's (tmpfs) root.
install_netd() {
	mkdir -p /etc/netd
	ln -sf $SHARE/bin/netd /usr/sbin/netd
	ln -sf $SHARE/bin/netdctl /usr/sbin/netdctl
	ln -sf $SHARE/bin/vifback /usr/sbin/vifback
	[ -e /etc/xen/scripts/vif-bridge.xen ] || mv /etc/xen/scripts/vif-bridge /etc/xen/scripts/vif-bridge.xen
	cp $SHARE/scripts/vif-bridge /etc/xen/scripts/vif-bridge
	chmod 0755 /etc/xen/scripts/vif-bridge
}

# Process ids whose parent is $1 (busybox has no pgrep).
children_of() {
	local p
	for p in /proc/[0-9]*; do
		[ "$(awk '{ print $4 }' "$p/stat" 2>/dev/null)" = "$1" ] && echo "${p#/proc/}"
	done
}

# vifback's workers: its children but the spawner they are forked from.
workers_of() {
	local c
	for c in $(children_of "$1"); do
		[ "$(cat "/proc/$c/comm" 2>/dev/null)" != vifback-spawn ] && echo "$c"
	done
}

# Seconds (bash's clock) a command took, 3 decimals; the command's output
# goes nowhere, its status is the function's.
timed() {
	local t0=$EPOCHREALTIME rc
	"$@" > /dev/null 2>&1
	rc=$?
	T=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }')
	return $rc
}

# Upstream's 4 MiB for the guest to fetch, served from netns upstream.
UP_MD5=
UP_HTTPD=
upstream_httpd() {
	mkdir -p /tmp/up-www
	dd if=/dev/urandom of=/tmp/up-www/blob bs=65536 count=64 2>/dev/null
	UP_MD5=$(md5sum < /tmp/up-www/blob | cut -d ' ' -f 1)
	ip netns exec upstream httpd -f -p 8080 -h /tmp/up-www &
	UP_HTTPD=$!
}

# The guest's blob (guest -> upstream), fetched by upstream BENCH_RUNS
# times: the first is checked against the guest's checksum, every run is
# timed for the bench table (kernel netback against vifback, same boot).
BENCH_RUNS=3
fetch_from_guest() { # scenario backend glog
	local s=$1 backend=$2 glog=$3 i md5 size
	for i in $(seq 1 $BENCH_RUNS); do
		rm -f /tmp/from-guest
		if timed ip netns exec upstream timeout 120 wget -q -O /tmp/from-guest \
			http://192.0.2.10:8080/blob; then
			printf '%s\t%s\t%s\t%s\n' "$s" "$backend" 4194304 "$T" >> "$OUT/bench.tsv"
		fi
		if [ "$i" = 1 ]; then
			md5=$(md5sum < /tmp/from-guest 2>/dev/null | cut -d ' ' -f 1)
			size=$(wc -c < /tmp/from-guest 2>/dev/null)
			check_eq "$s.xfer_guest_to_upstream" "$md5 size=${size:-0}" \
				"$(guest_line "$glog" 'blob-md5 ') size=4194304"
		fi
	done
	rm -f /tmp/from-guest
}

# scenario NAME WATCH(yes|no) BACKEND(kernel|vifback) GUEST-FLAGS
#   kernel:  Linux's xen-netback serves the vif
#   vifback: the project's userspace backend, xen-netback unloaded and
#            kept from loading again
#   GUEST-FLAGS (on the guest's kernel command line, guest-init.sh):
#            rxxfer   4 MiB each way over TCP, MTU and full-size frames
#            rxdetach xl network-detach and network-attach while it runs
scenario() {
	local s=$1 watch=$2 backend=$3 flags=$4 cfg=/tmp/rx$1.cfg netd_pid vb_pid= d vif be fe glog
	local xlog mtu obs before after
	echo "=== scenario $s (xenstore_watch=$watch, backend $backend, guest: $flags) at ${SECONDS}s ==="
	if [ "$backend" = vifback ]; then
		# udev would load xen-netback for every vif; this Dom0 has no
		# udev, but modprobe by alias must not bring it back either.
		rmmod xen_netback 2>/dev/null
		mkdir -p /etc/modprobe.d
		printf 'blacklist xen_netback\ninstall xen_netback /bin/false\n' \
			> /etc/modprobe.d/netd-realxen.conf
		obs=$(grep -c '^xen_netback ' /proc/modules)
		check_eq "$s.no_netback" "$obs" 0
		obs=$(ls /dev/xen/gntdev /dev/xen/evtchn 2>&1 | tr '\n' ' ')
		check_eq "$s.xen_devices" "$obs" "/dev/xen/evtchn /dev/xen/gntdev "
		# Logged to tmpfs, copied to the share when it stops: the
		# supervisor and its workers write the same stderr, and lines
		# written through 9p came out garbled.
		vifback -v --hv xen > "/tmp/vifback-$s.log" 2>&1 &
		vb_pid=$!
		wait_until 10 grep -q 'vifback: serving' "/tmp/vifback-$s.log"
		obs=$(grep -o 'vifback: serving [^ ]*' "/tmp/vifback-$s.log" | head -n 1)
		check_eq "$s.vifback_up" "$obs" "vifback: serving /local/domain/0/backend/vif"
	fi
	printf '[netd]\nxenstore_watch = %s\n\n[xenbr0]\nmode = bridge\nphysdev = eth0\nstyle = modern\nantispoof = yes\n' \
		"$watch" > /etc/netd/netd.conf
	if [ "$watch" = yes ]; then
		# libxl 4.17 runs a vif's script whatever run_hotplug_scripts says
		# (the udev path it selected is gone: libxenlight has no
		# libxl/disable_udev any more). So no-fork on 4.17 means a script
		# that does nothing; netd's watch does the work.
		printf 'run_hotplug_scripts=0\nvif.default.script="/bin/true"\n' > /etc/xen/xl.conf
	else
		echo 'run_hotplug_scripts=1' > /etc/xen/xl.conf
	fi
	before=$(in_echos witness)
	netd -c /etc/netd/netd.conf -f > "$OUT/netd-$s.log" 2>&1 &
	netd_pid=$!
	wait_until 20 netdctl status > /dev/null 2>&1
	obs=$(netdctl status 2>&1 | awk '$1 == "xenbr0" { print $2, $3 }')
	check_eq "$s.netd_up" "$obs" "bridge up"
	obs=$(ip -o -4 addr show dev xenbr0 2>&1 | awk '{ print $4 }')
	check_eq "$s.xenbr0_addr" "$obs" "192.0.2.2/24"
	obs=$(ping -c 1 -W 3 192.0.2.1 2>&1 | grep -o '[0-9]* packets received')
	check_eq "$s.dom0_lan" "$obs" "1 packets received"
	if [ "$watch" = yes ]; then
		wait_until 10 grep -q 'xenstore watch on' "$OUT/netd-$s.log"
		obs=$(grep -o 'xenstore watch on [^ ]*' "$OUT/netd-$s.log" | head -n 1)
		check_eq "$s.watch_started" "$obs" "xenstore watch on /local/domain/0/backend/vif"
	fi

	cp $SHARE/guest/vmlinuz $SHARE/guest/domu.cpio.gz /tmp/ 2>/dev/null
	cat > "$cfg" <<-EOF
	name = "rx$s"
	type = "pv"
	kernel = "/tmp/vmlinuz"
	ramdisk = "/tmp/domu.cpio.gz"
	extra = "console=hvc0 rdinit=/init quiet $flags"
	memory = 128
	vcpus = 1
	on_crash = "destroy"
	vif = [ 'bridge=xenbr0,mac=$GUEST_MAC,ip=192.0.2.10' ]
	EOF
	xlog=$OUT/xl-create-$s.log
	xl -vvv create "$cfg" > "$xlog" 2>&1
	check_eq "$s.xl_create_rc" "$?" 0
	echo "xl create returned at ${SECONDS}s"
	d=$(xl domid "rx$s" 2>/dev/null)
	if [ -z "$d" ]; then
		result FAIL "$s.domain" "none" "a domain rx$s"
		kill -TERM "$netd_pid"
		wait "$netd_pid"
		[ -n "$vb_pid" ] && kill -TERM "$vb_pid" && wait "$vb_pid"
		cp "/tmp/vifback-$s.log" "$OUT/" 2>/dev/null
		return
	fi
	vif=vif$d.0
	be=/local/domain/0/backend/vif/$d/0
	fe=/local/domain/$d/device/vif/0
	xenstore-ls -f "$be" > "$OUT/xenstore-backend-$s.txt" 2>&1

	# libxl waits for hotplug-status before `xl create` returns when it runs
	# the script; without scripts it does not wait: netback does.
	wait_until 30 test -n "$(xs $be/hotplug-status)"
	check_eq "$s.hotplug_status" "$(xs $be/hotplug-status)" connected
	obs=$(xs $be/hotplug-error)
	check_eq "$s.hotplug_error" "${obs:-<none>}" "<none>"
	if [ "$watch" = yes ]; then
		obs=$(grep -o 'calling hotplug script: [^ ]* online' "$xlog" | head -n 1)
		check_eq "$s.script_is_noop" "$obs" "calling hotplug script: /bin/true online"
		obs=$(grep -o "$vif plugged into [^ ]* (xenstore watch)" "$OUT/netd-$s.log" | head -n 1)
		check_eq "$s.watch_plugged" "$obs" "$vif plugged into xenbr0 (xenstore watch)"
	else
		obs=$(grep -o 'calling hotplug script: [^ ]* online' "$xlog" | head -n 1)
		check_eq "$s.script_online" "$obs" "calling hotplug script: /etc/xen/scripts/vif-bridge online"
	fi
	obs=$(readlink "/sys/class/net/$vif/master" 2>&1)
	check_eq "$s.port_master" "${obs##*/}" xenbr0
	mtu=$(cat /sys/class/net/xenbr0/mtu)
	check_eq "$s.port_mtu" "$(cat /sys/class/net/$vif/mtu 2>&1)" "$mtu"
	check_eq "$s.port_mac" "$(cat /sys/class/net/$vif/address 2>&1)" fe:ff:ff:ff:ff:ff
	check_eq "$s.frontend_mtu" "$(xs $fe/mtu)" "$mtu"
	vif_row() { netdctl vif list 2>&1 | awk -v id="$d.0" '$1 == id { print $2, $3 }'; }
	wait_until 10 test -n "$(vif_row)"
	obs=$(vif_row)
	# Not there: what netdctl said, verbatim.
	[ -n "$obs" ] || obs=$({ netdctl vif list 2>&1; echo "rc=$?"; } | tr '\n' ';')
	check_eq "$s.vif_list" "$obs" "$vif xenbr0"

	glog=/var/log/xen/guest-rx$s.log
	wait_until 300 grep -q 'RXG: done' "$glog"
	echo "guest done at ${SECONDS}s"
	cp "$glog" "$OUT/guest-$s.log" 2>/dev/null
	xenstore-ls -f "$be" > "$OUT/xenstore-backend-$s-connected.txt" 2>&1
	xenstore-ls -f "$fe" > "$OUT/xenstore-frontend-$s-connected.txt" 2>&1
	check_eq "$s.backend_state" "$(xs $be/state)" 4
	check_eq "$s.frontend_state" "$(xs $fe/state)" 4
	if [ -n "$vb_pid" ]; then
		obs=$(workers_of "$vb_pid" | wc -l)
		check_eq "$s.vifback_workers" "$obs" 1
	fi
	check_eq "$s.guest_mac" "$(guest_line "$glog" 'eth0 up mac=')" "$GUEST_MAC"
	check_eq "$s.guest_ping_upstream" "$(guest_line "$glog" 'ping-upstream ')" 3/3
	obs=$(ip -n upstream neigh show 192.0.2.10 | grep -o 'lladdr [0-9a-f:]*')
	check_eq "$s.upstream_neigh" "$obs" "lladdr $GUEST_MAC"
	check_eq "$s.guest_ping_witness" "$(guest_line "$glog" 'ping-witness ')" 3/3
	check_eq "$s.spoof_replies" "$(guest_line "$glog" 'spoof-witness ')" 0/3
	after=$(in_echos witness)
	# 3 requests from the guest's own address; none of the forged ones.
	check_eq "$s.witness_echo_requests" "$((after - before))" 3
	obs=$(netdctl status 2>&1 | grep -o "spoof_drops=[^ ]*")
	obs=$(echo "$obs" | tr ',' '\n' | sed -n "s/.*$vif:\([0-9]*\).*/\1/p")
	check_true "$s.spoof_drops" "${obs:-<none>}" ">= 3" test "${obs:-0}" -ge 3
	netdctl status > "$OUT/netd-status-$s.txt" 2>&1
	case " $flags " in *" rxxfer "*)
		check_eq "$s.guest_mtu" "$(guest_line "$glog" 'mtu ')" "$mtu"
		check_eq "$s.guest_ping_full_size" "$(guest_line "$glog" 'ping-full-size ')" 2/2
		check_eq "$s.xfer_upstream_to_guest" "$(guest_line "$glog" 'fetched-md5 ')" \
			"$UP_MD5 size=4194304"
		fetch_from_guest "$s" "$backend" "$glog"
	esac
	case " $flags " in *" rxdetach "*)
		xl -vvv network-detach "rx$s" 0 > "$OUT/xl-detach-$s.log" 2>&1
		check_eq "$s.detach_rc" "$?" 0
		wait_until 20 test ! -e "/sys/class/net/$vif"
		obs=$([ -e "/sys/class/net/$vif" ] && echo present || echo gone)
		check_eq "$s.detach_link" "$obs" gone
		wait_until 60 grep -q 'RXG: detached' "$glog"
		check_eq "$s.guest_detached" "$(guest_line "$glog" 'detached ')" yes
		xl -vvv network-attach "rx$s" bridge=xenbr0 "mac=$GUEST_MAC" ip=192.0.2.10 \
			> "$OUT/xl-attach-$s.log" 2>&1
		check_eq "$s.attach_rc" "$?" 0
		wait_until 30 test "$(xs $be/hotplug-status)" = connected
		check_eq "$s.attach_hotplug_status" "$(xs $be/hotplug-status)" connected
		wait_until 120 grep -q 'RXG: reattached-ping' "$glog"
		cp "$glog" "$OUT/guest-$s.log" 2>/dev/null
		check_eq "$s.attach_backend_state" "$(xs $be/state)" 4
		check_eq "$s.attach_frontend_state" "$(xs $fe/state)" 4
		obs=$(readlink "/sys/class/net/$vif/master" 2>&1)
		check_eq "$s.attach_port_master" "${obs##*/}" xenbr0
		check_eq "$s.attach_guest_ping" "$(guest_line "$glog" 'reattached-ping ')" 3/3
	esac

	xlog=$OUT/xl-destroy-$s.log
	xl -vvv destroy "rx$s" > "$xlog" 2>&1
	check_eq "$s.xl_destroy_rc" "$?" 0
	echo "xl destroy returned at ${SECONDS}s"
	wait_until 20 sh -c "! netdctl vif list | grep -q '^$d\.0 '"
	if [ "$watch" = no ]; then
		obs=$(grep -o 'calling hotplug script: [^ ]* offline' "$xlog" | head -n 1)
		check_eq "$s.script_offline" "$obs" "calling hotplug script: /etc/xen/scripts/vif-bridge offline"
	else
		obs=$(grep -o "$vif unplugged (xenstore: [^)]*)" "$OUT/netd-$s.log" | head -n 1)
		check_true "$s.watch_unplugged" "$obs" "'$vif unplugged (xenstore: ...)'" test -n "$obs"
	fi
	obs=$(netdctl vif list 2>&1 | awk -v id="$d.0" '$1 == id { print $2 }')
	check_eq "$s.vif_list_after_destroy" "${obs:-<none>}" "<none>"
	wait_until 10 test ! -e "/sys/class/net/$vif"
	obs=$([ -e "/sys/class/net/$vif" ] && echo present || echo gone)
	check_eq "$s.vif_link_after_destroy" "$obs" gone
	if [ -n "$vb_pid" ]; then
		wait_until 10 test -z "$(workers_of "$vb_pid")"
		obs=$(workers_of "$vb_pid" | wc -l)
		check_eq "$s.vifback_workers_after_destroy" "$obs" 0
		obs=$(ls /sys/class/net | grep -c '^vif')
		check_eq "$s.taps_after_destroy" "$obs" 0
		kill -TERM "$vb_pid"
		wait "$vb_pid"
		check_eq "$s.vifback_exit" "$?" 0
		cp "/tmp/vifback-$s.log" "$OUT/" 2>/dev/null
	fi

	kill -TERM "$netd_pid"
	wait "$netd_pid"
	check_eq "$s.netd_exit" "$?" 0
	obs=$(ip -o -4 addr show dev eth0 | awk '{ print $4 }'; [ -e /sys/class/net/xenbr0 ] && echo xenbr0)
	check_eq "$s.restored" "$obs" "192.0.2.2/24"
}

echo "xen: $(xl info 2>/dev/null | awk '/^xen_version/ { print $3 }') dom0 kernel: $(uname -r)"
lan_setup
install_netd
upstream_httpd
: > "$OUT/bench.tsv"
# run.py --only: some of them (a scenario's checks need no other's)
ONLY=$(cat $SHARE/only 2>/dev/null)
wanted() { [ -z "$ONLY" ] || [[ " $ONLY " == *" $1 "* ]]; }
wanted a && scenario a no kernel rxxfer
wanted b && scenario b yes kernel ""
wanted c && scenario c no vifback "rxxfer rxdetach"
xl list
kill "$UP_HTTPD" 2>/dev/null
# The bench: guest -> upstream, 4 MiB over TCP, through Linux's netback and
# through vifback in the same boot. Under TCG only the ratio means anything.
awk -F '\t' '
	{ n[$2]++; t[$2, n[$2]] = $4 }
	function median(b,   i, j, k, v, a) {
		for (i = 1; i <= n[b]; i++) a[i] = t[b, i]
		for (i = 1; i <= n[b]; i++) for (j = i + 1; j <= n[b]; j++)
			if (a[j] < a[i]) { v = a[i]; a[i] = a[j]; a[j] = v }
		k = int((n[b] + 1) / 2)
		return a[k]
	}
	END {
		printf "BENCH %-30s %8s %10s %6s\n", "guest->upstream, 4 MiB TCP", "runs", "median s", "Mbit/s"
		for (b in n) {
			m[b] = median(b)
			printf "BENCH %-30s %8d %10.3f %6.1f\n", b, n[b], m[b], 4194304 * 8 / m[b] / 1e6
		}
		if (m["kernel"] > 0 && m["vifback"] > 0)
			printf "BENCH vifback/netback throughput ratio: %.2f\n", m["kernel"] / m["vifback"]
	}' "$OUT/bench.tsv" | tee "$OUT/bench.txt"
echo "scenario: $(grep -c '^PASS' "$RES") passed, $(grep -c '^FAIL' "$RES") failed"
