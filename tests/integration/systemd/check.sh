#!/bin/sh
# Runs inside the test's container (systemd-nspawn, systemd as PID 1, the
# host's /usr, a private network): starts netd.service, vifback.service and
# dpswitch@dps0.service as packaged, checks they come up and stop cleanly,
# then that they come up together before xendomains.service as at boot, in
# the layout of Xen's units of /run/netd-test/xs_unit, and writes one line per
# check to /run/out/results.txt ("PASS name" or "FAIL name: what was seen").
# /run/netd-test holds the build's binaries and netd.conf (test_systemd.py).
out=/run/out/results.txt
bin=/run/netd-test/bin
: > "$out"

check() {
	name=$1
	shift
	if "$@" > "/run/out/$name.log" 2>&1; then
		echo "PASS $name" >> "$out"
	else
		echo "FAIL $name: $(tail -n 3 "/run/out/$name.log" | tr '\n' ' ')" >> "$out"
	fi
}

result_is() { # unit, Result, ExecMainStatus
	[ "$(systemctl show -p Result --value "$1")" = "$2" ] &&
		[ "$(systemctl show -p ExecMainStatus --value "$1")" = "$3" ]
}

# The LAN stand-in: nat's uplink.
ip link add eth0 type veth peer name up0
ip addr add 192.0.2.2/24 dev eth0
ip link set eth0 up
ip link set up0 up

# netd: Type=notify, so start returns once every network is applied.
check netd_start systemctl start netd.service
check netd_active systemctl is-active netd.service
check netd_bridge ip -br addr show dev virbr0
check netd_ctl "$bin/netdctl" status
# nat's dnsmasq: the unit netd started, as its own user, not root
dm=netd-dnsmasq@virbr0.service
own=/run/netd-dnsmasq/virbr0/dnsmasq
main_pid() { systemctl show -p MainPID --value "$dm"; }
dnsmasq_user() {
	u=$(ps -o user:32=,uid= -p "$(main_pid)")
	echo "dnsmasq runs as: $u"
	[ "$(echo $u)" = "netd-dnsmasq $(id -u netd-dnsmasq)" ] && [ "$(id -u netd-dnsmasq)" != 0 ]
}
dnsmasq_files() { # its own pid and lease files, in netd's directory of its group
	ls -lan "$own"
	[ "$(stat -c '%U %G %a' "$own")" = "root netd-dnsmasq 770" ] &&
		[ "$(stat -c %U "$own/dnsmasq.leases")" = netd-dnsmasq ] &&
		[ "$(cat "$own/dnsmasq.pid")" = "$(main_pid)" ]
}
check dnsmasq_unit systemctl is-active "$dm"
check dnsmasq_user dnsmasq_user
check dnsmasq_files dnsmasq_files

# Guests: a namespace each behind vifD.0 on virbr0, leases by busybox udhcpc.
guest() { # domid
	ip netns add "g$1"
	ip link add "vif$1.0" type veth peer name eth0 netns "g$1"
	ip -n "g$1" link set eth0 up
}
lease() { # domid: prints the address leased
	ip netns exec "g$1" busybox udhcpc -i eth0 -n -q -f -t 6 -T 1 -s /run/netd-test/udhcpc.sh |
		sed -n 's/^udhcpc bound ip=\([^ ]*\) .*/\1/p'
}
leased_from_range() { # domid
	ip=$(lease "$1")
	echo "leased: $ip"
	case "$ip" in 203.0.113.1[0-4][0-9] | 203.0.113.150) ;; *) return 1 ;; esac
	grep " $ip " "$own/dnsmasq.leases" && echo "$ip" > "/run/out/ip$1"
}
leased_bound() { # domid: the address netd bound the vif to, as a static lease
	bound=$("$bin/netdctl" --json status | python3 -c '
import json, sys
d = json.load(sys.stdin)
for b in d.get("result", d)["networks"][0]["details"]["bound"]:
    if b.startswith("vif" + sys.argv[1] + ".0:"):
        print(b.split(":", 1)[1])' "$1")
	ip=$(lease "$1")
	echo "bound: $bound, leased: $ip"
	[ -n "$bound" ] && [ "$ip" = "$bound" ]
}
same_lease() { # domid
	ip=$(lease "$1")
	echo "leased: $ip, before: $(cat "/run/out/ip$1")"
	[ -n "$ip" ] && [ "$ip" = "$(cat "/run/out/ip$1")" ]
}
guest 5
guest 6
check vif_online "$bin/netdctl" vif online 5.0 bridge=virbr0
check dnsmasq_leases leased_from_range 5
# mac= without ip=: bound to an address of the range, a static lease the
# unit's dnsmasq re-reads on netd's SIGHUP (sent by systemd: KillUnit)
check vif_static "$bin/netdctl" vif online 6.0 bridge=virbr0 \
	"mac=$(ip netns exec g6 cat /sys/class/net/eth0/address)"
check dnsmasq_static_lease leased_bound 6

# kill -9 of netd: systemd restarts it, and it adopts the same dnsmasq
pid=$(main_pid)
restarted() {
	for i in $(seq 100); do
		sleep 0.2
		[ "$(systemctl show -p NRestarts --value netd.service)" = 1 ] &&
			systemctl is-active -q netd.service && return 0
	done
	systemctl status netd.service
	return 1
}
adopted() {
	journalctl -b -u netd.service | grep "adopted dnsmasq (pid $pid)" && [ "$(main_pid)" = "$pid" ]
}
systemctl kill -s KILL netd.service
check netd_restarted restarted
check dnsmasq_adopted adopted
check dnsmasq_same_lease same_lease 5

# dnsmasq killed: netd (watching its main pid) starts the unit again, and the
# leases, in netd's directory, survive it
restarted_dnsmasq() {
	for i in $(seq 100); do
		sleep 0.2
		new=$(main_pid)
		[ -n "$new" ] && [ "$new" != 0 ] && [ "$new" != "$pid" ] &&
			[ "$(cat "$own/dnsmasq.pid" 2>/dev/null)" = "$new" ] && return 0
	done
	systemctl status "$dm"
	return 1
}
lease_listed() { # domid: before the guest asks again (dnsmasq picks the
	# same address for a MAC anyway: only the file tells it kept the lease)
	cat "$own/dnsmasq.leases"
	grep " $(cat "/run/out/ip$1") " "$own/dnsmasq.leases"
}
systemctl kill -s KILL "$dm"
check dnsmasq_restarted restarted_dnsmasq
check dnsmasq_lease_kept lease_listed 5

check netd_reload systemctl reload netd.service
check netd_active_after_reload systemctl is-active netd.service
check netd_stop systemctl stop netd.service
check netd_stopped_cleanly result_is netd.service success 0
check netd_restored sh -c '! ip link show dev virbr0 && ! pgrep -x dnsmasq && ! test -e /run/netd-dnsmasq/virbr0 && ! systemctl is-active netd-dnsmasq@virbr0.service'

# vifback: against hvsim's xenstored (the stand-in for Xen's, a unit of
# this test), --hv sim.
# Xen's unit that starts xenstored: xenstored.service (upstream's units) or
# xen.service (Debian's init script), test_systemd.py's layout
xs_unit=$(cat /run/netd-test/xs_unit)
check xenstored_start systemctl start "$xs_unit"
check xenstored_socket sh -c 'for i in $(seq 50); do test -S /run/xenstored/socket && exit 0; sleep 0.1; done; exit 1'
check vifback_start systemctl start vifback.service
sleep 1
check vifback_active systemctl is-active vifback.service
check vifback_stop systemctl stop vifback.service
check vifback_stopped_cleanly result_is vifback.service success 0

# dpswitch@dps0: the options from /etc/dpswitch/dps0.conf, a kernel port
# lan1 whose peer is the LAN (203.0.113.1), a simulated guest 5 behind it.
ip link add lan1 type veth peer name lan1p
ip addr add 203.0.113.1/24 dev lan1p
ip link set lan1 up
ip link set lan1p up
mkdir -p /etc/dpswitch
cat > /etc/dpswitch/dps0.conf <<EOF
DPSWITCH_OPTS="--hv sim --kernel-port lan1"
DPSWITCH_EAL="-l 0 --no-huge -m 128 --no-pci --no-shconf --no-telemetry --file-prefix dps0 --log-level lib.eal:error"
EOF
export XENSTORED_PATH=/run/xenstored/socket
dps=dpswitch@dps0.service
dps_sock=/run/dpswitch/dps0.sock
dps_req() { # JSON request: prints the reply, fails unless ok
	python3 - "$1" <<EOF
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect("$dps_sock")
s.sendall(sys.argv[1].encode() + b"\n")
buf = b""
while not buf.endswith(b"\n"):
    c = s.recv(65536)
    if not c:
        break
    buf += c
print(buf.decode().strip())
sys.exit(0 if json.loads(buf).get("ok", True) is not False else 1)
EOF
}
dps_answers() { # the socket answers, lan1 is a port
	for i in $(seq 50); do
		test -S "$dps_sock" && dps_req '{"cmd": "status"}' | grep -q '"lan1"' && return 0
		sleep 0.2
	done
	systemctl status "$dps"
	return 1
}
be=/local/domain/0/backend/vif/5/0
be_state() { # until the backend's state is $1
	for i in $(seq 100); do
		[ "$(xenstore-read "$be/state" 2>/dev/null)" = "$1" ] && return 0
		sleep 0.1
	done
	echo "backend state $(xenstore-read "$be/state" 2>&1), expected $1"
	return 1
}
guest_ping() { # DOMID BRIDGE ADDRESS LAN: libxl's keys, netd's port-add, the guest's netfront
	d=$1 mac=02:00:00:00:0$1:01
	be=/local/domain/0/backend/vif/$d/0
	"$bin/hvsim" domain add "$d" &&
		"$bin/hvsim" vif add -n "$d.0" "mac=$mac,bridge=$2,ip=$3" &&
		be_state 2 &&
		dps_req "{\"version\": 1, \"cmd\": \"port-add\", \"vif\": \"$d.0\", \"keys\": {\"mac\": \"$mac\", \"ip\": \"$3\"}, \"antispoof\": true}" &&
		xenstore-write "$be/hotplug-status" connected || return 1
	ip netns add "dg$d"
	"$bin/hvsim" guest "$d.0" --netns "dg$d" > "/run/out/dpswitch-guest$d.out" 2>&1 &
	be_state 4 || return 1
	ip -n "dg$d" addr add "$3/24" dev eth0
	ip -n "dg$d" link set eth0 up
	ip netns exec "dg$d" ping -c 3 -W 2 "$4"
}
dps_guest_ping() { guest_ping 5 dps0 203.0.113.15 203.0.113.1; }
dps_pid() { systemctl show -p MainPID --value "$dps"; }
dps_restarted() { # by systemd, and the guest reconnects (its port from --state)
	old=$(dps_pid)
	echo "pid before: $old"
	[ -n "$old" ] && [ "$old" != 0 ] && kill -9 "$old" || return 1
	for i in $(seq 100); do
		sleep 0.2
		new=$(dps_pid)
		[ "$new" != 0 ] && [ "$new" != "$old" ] && systemctl is-active -q "$dps" && break
	done
	echo "pid after: $new, NRestarts $(systemctl show -p NRestarts --value "$dps")"
	[ "$new" != 0 ] && [ "$new" != "$old" ] &&
		[ "$(systemctl show -p NRestarts --value "$dps")" = 1 ] &&
		dps_req '{"cmd": "status"}' && be_state 4 &&
		ip netns exec dg5 ping -c 3 -W 2 203.0.113.1
}
check dpswitch_start systemctl start "$dps"
# Type=notify: started means the socket answers, with no wait
check dpswitch_ready_at_start dps_req '{"cmd": "status"}'
check dpswitch_answers dps_answers
check dpswitch_guest_ping dps_guest_ping
check dpswitch_restarted dps_restarted
check dpswitch_stop systemctl stop "$dps"
check dpswitch_stopped_cleanly result_is "$dps" success 0

# dpswitch@dps1 with a net_af_xdp uplink (lan2, its peer the LAN at
# 198.51.100.1) and the drop-in the unit's comments prescribe for it, as an
# operator would write it: the shipped sandbox plus AF_XDP, bpf() and
# CAP_SYS_ADMIN.
ip link add lan2 type veth peer name lan2p
ip addr add 198.51.100.1/24 dev lan2p
ip link set lan2 up
ip link set lan2p up
cat > /etc/dpswitch/dps1.conf <<EOF
DPSWITCH_OPTS="--hv sim"
DPSWITCH_EAL="-l 0 --no-huge -m 128 --no-pci --no-shconf --no-telemetry --file-prefix dps1 --log-level lib.eal:error --vdev=net_af_xdp0,iface=lan2"
EOF
mkdir -p /etc/systemd/system/dpswitch@dps1.service.d
cat > /etc/systemd/system/dpswitch@dps1.service.d/af_xdp.conf <<EOF
[Service]
RestrictAddressFamilies=AF_XDP
CapabilityBoundingSet=CAP_SYS_ADMIN
SystemCallFilter=bpf
EOF
systemctl daemon-reload
xdp=dpswitch@dps1.service
xdp_guest_ping() { # the port through AF_XDP, a guest 6 behind it
	dps_sock=/run/dpswitch/dps1.sock
	dps_req '{"cmd": "status"}' | grep -q '"kind":"nic"' &&
		guest_ping 6 dps1 198.51.100.16 198.51.100.1
}
check dpswitch_af_xdp_start systemctl start "$xdp"
check dpswitch_af_xdp_guest_ping xdp_guest_ping
check dpswitch_af_xdp_stop systemctl stop "$xdp"
check dpswitch_af_xdp_stopped_cleanly result_is "$xdp" success 0

# Boot: everything down, xenstored too, then netd, vifback, dpswitch@dps0
# and xendomains.service in one transaction, as at boot. vifback and
# dpswitch pull in the layout's xenstored unit (which does not exist in the
# other layout) and wait for it; xendomains, whose guests need the network,
# starts only once they and netd are up (its start, the test's stand-in,
# writes what it saw to /run/out/xendomains.txt): none failed to find
# xenstored and was restarted on the way (NRestarts, which a start by
# request sets back to 0, still 0 then and after).
systemctl stop "$xs_unit"
rm -f /run/dpswitch/dps0.plugs # the ports of guests gone with that xenstore
printf '%s active 0\n' netd.service vifback.service dpswitch@dps0.service > /run/out/xendomains.expected
echo "xenstored up" >> /run/out/xendomains.expected
boot_order() {
	echo "seen:"; cat /run/out/xendomains.txt
	echo "expected:"; cat /run/out/xendomains.expected
	now=$(for u in netd.service vifback.service dpswitch@dps0.service; do
		echo "$u $(systemctl show -p ActiveState --value "$u") $(systemctl show -p NRestarts --value "$u")"
	done)
	echo "now:"; echo "$now"
	cmp /run/out/xendomains.txt /run/out/xendomains.expected &&
		[ "$now" = "$(head -n 3 /run/out/xendomains.expected)" ] &&
		after vifback.service "$xs_unit" && after dpswitch@dps0.service "$xs_unit" &&
		after xendomains.service netd.service && after xendomains.service vifback.service &&
		after xendomains.service dpswitch@dps0.service
}
after() { # unit A began to start once B was up (vifback, quick to start
	# or not, does not win a race with xenstored by luck)
	a=$(systemctl show -p InactiveExitTimestampMonotonic --value "$1")
	b=$(systemctl show -p ActiveEnterTimestampMonotonic --value "$2")
	echo "$1 started at $a, $2 up at $b"
	[ "$b" -gt 0 ] && [ "$a" -ge "$b" ]
}
boot_deps() { # no dependency that must be there is missing, no ordering cycle
	rc=0
	for u in netd.service vifback.service dpswitch@dps0.service xendomains.service $boot_units; do
		for d in $(systemctl show -p Requires -p Requisite -p BindsTo --value "$u"); do
			st=$(systemctl show -p LoadState --value "$d")
			echo "$u needs $d: $st"
			[ "$st" = loaded ] || rc=1
		done
		systemctl list-dependencies --no-pager "$u" || rc=1
	done
	# systemd breaks a cycle by dropping a job, and says so
	journalctl -b --no-pager | grep -i -E "ordering cycle|not found" | grep -E "netd|vifback|dpswitch|xen" && rc=1
	systemd-analyze verify --man=no --generators=yes netd.service vifback.service \
		dpswitch@dps0.service xendomains.service $boot_units > /run/out/verify.txt 2>&1 || rc=1
	# and every unit of the boot started: none dropped to break a cycle
	for u in netd.service vifback.service dpswitch@dps0.service xendomains.service \
		"$xs_unit" $boot_units $(cat /run/netd-test/boot_pulled); do
		echo "$u $(systemctl is-active "$u")"
		systemctl is-active -q "$u" || rc=1
	done
	cat /run/out/verify.txt
	grep -i -E "cycle|not found" /run/out/verify.txt && rc=1
	return $rc
}
boot_vif() { # vifback serves guest 8's vif, netd plugs it in virbr0, the guest leases
	be=/local/domain/0/backend/vif/8/0
	"$bin/hvsim" domain add 8 &&
		"$bin/hvsim" vif add -n 8.0 mac=02:00:00:00:08:01,bridge=virbr0 &&
		be_state 2 && ip link show dev vif8.0 &&
		"$bin/netdctl" vif online 8.0 bridge=virbr0 &&
		xenstore-write "$be/hotplug-status" connected || return 1
	ip netns add g8
	"$bin/hvsim" guest 8.0 --netns g8 > /run/out/boot-guest8.out 2>&1 &
	be_state 4 && ip -n g8 link set eth0 up && leased_from_range 8
}
# what else the layout starts at boot (boot_units: Debian's networking
# and a network file system's remote-fs.target)
boot_units=$(cat /run/netd-test/boot_units)
check boot_start systemctl start netd.service vifback.service dpswitch@dps0.service xendomains.service $boot_units
check boot_order boot_order
check boot_xenstored systemctl is-active "$xs_unit"
check boot_deps boot_deps
check boot_vif boot_vif
"$bin/netdctl" vif offline 8.0 > /dev/null 2>&1

# Poweroff with netd up (test_systemd.py reads what it logged then).
check poweroff_netd_start systemctl start netd.service netd-after.service netd-journal.service
systemctl show -p MainPID --value netd.service > /run/out/netd.pid

journalctl -b --no-pager -o short-monotonic > /run/out/journal.txt 2>&1
echo end >> "$out"
systemctl poweroff --no-block
