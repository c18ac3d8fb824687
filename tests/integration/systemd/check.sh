#!/bin/sh
# Runs inside the test's container (systemd-nspawn, systemd as PID 1, the
# host's /usr, a private network): starts netd.service and vifback.service
# as packaged, checks they come up and stop cleanly, and writes one line per
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
check dnsmasq_user sh -c 'u=$(ps -C dnsmasq -o user=); echo "dnsmasq runs as: $u"; test "$u" = "$(cat /run/netd-test/dnsmasq_user)"'
cat /run/netd/virbr0/dnsmasq.log > /run/out/dnsmasq.log 2>&1
check netd_reload systemctl reload netd.service
check netd_active_after_reload systemctl is-active netd.service
check netd_stop systemctl stop netd.service
check netd_stopped_cleanly result_is netd.service success 0
check netd_restored sh -c '! ip link show dev virbr0 && ! pgrep -x dnsmasq'

# vifback: against hvsim's xenstored (the stand-in for Xen's, a unit of
# this test), --hv sim.
check xenstored_start systemctl start xenstored.service
check xenstored_socket sh -c 'for i in $(seq 50); do test -S /run/xenstored/socket && exit 0; sleep 0.1; done; exit 1'
check vifback_start systemctl start vifback.service
sleep 1
check vifback_active systemctl is-active vifback.service
check vifback_stop systemctl stop vifback.service
check vifback_stopped_cleanly result_is vifback.service success 0

journalctl -b --no-pager -o short-monotonic > /run/out/journal.txt 2>&1
echo end >> "$out"
systemctl poweroff --no-block
