#!/bin/sh
# /init of the test guest (busybox only). Runs by itself, since Dom0 cannot
# reach into a PV guest: bring up netfront, wait until the LAN answers, then
# ping the witness from our own address and from a forged one. Every line
# starting "RXG:" lands in Dom0's /var/log/xen/guest-<name>.log (xenconsoled),
# where the scenario reads it. Addresses: TEST-NET-1/2/3 and 2001:db8::/32.
#
# Kernel command line (what the scenario asks of this guest):
#   rxip=A/L     eth0's address (default 192.0.2.10/24)
#   rxspoof=A    the forged source of the pings to the witness (default
#                192.0.2.99); rxspoof=no: none
#   rxip6=A/L    also IPv6: eth0's own address, pings, a forged source and
#                a claimed address (2001:db8::99)
#   rxwhoami     ask upstream's whoami CGI which source it saw
#   rxxfer       4 MiB each way over TCP, MTU and full-size frames
#   rxdetach     eth0 goes (xl network-detach) and comes back (attach)
#   rxnat        a second vif (eth1) is hot-plugged on a nat network: DHCP,
#                masqueraded traffic, a port forward served; then it goes
#   rxbench      only bring eth0 up (Dom0 times the first ping reply)
#   rxspin       no network: hash busybox without end, counting wrong hashes
#                (the stress scenario: keeps Xen switching between this
#                guest and Dom0 on the CPUs)
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /lib/modules/load-order); do
	insmod "/lib/modules/$m" || echo "RXG: insmod $m failed"
done
IP=192.0.2.10/24 SPOOF=192.0.2.99 IP6=
for w in $(cat /proc/cmdline); do
	case $w in
	rxip=*) IP=${w#rxip=} ;;
	rxspoof=*) SPOOF=${w#rxspoof=} ;;
	rxip6=*) IP6=${w#rxip6=} ;;
	esac
done
CMDLINE=" $(cat /proc/cmdline) "
flag() { case $CMDLINE in *" $1 "*) return 0 ;; esac; return 1; }
# wait_link IFACE PRESENT(yes|no) HALF-SECONDS
# Asked by name over netlink, not by /sys/class/net: a new device's sysfs
# entry appears before its name can be looked up, and under TCG a guest
# saw eth0 in sysfs and then "ip link set eth0 up" fail with ENODEV.
wait_link() {
	local i=0
	while [ $i -lt "$3" ]; do
		if ip link show "$1" > /dev/null 2>&1; then [ "$2" = yes ] && return 0
		else [ "$2" = no ] && return 0; fi
		sleep 0.5
		i=$((i + 1))
	done
	return 1
}
if flag rxspin; then
	ref=$(sha256sum /bin/busybox)
	n=0 bad=0
	while true; do
		[ "$(sha256sum /bin/busybox 2>&1)" = "$ref" ] || bad=$((bad + 1))
		n=$((n + 1))
		[ $((n % 5)) -eq 0 ] && echo "RXG: spin $n bad $bad"
	done
fi
wait_link eth0 yes 40
ip link set lo up
ip addr add "$IP" dev eth0
ip link set eth0 up
echo "RXG: eth0 up mac=$(cat /sys/class/net/eth0/address)"
if flag rxbench; then
	while true; do sleep 3600; done
fi

# "N" of busybox ping's "N packets received"; its output goes to the
# console too, for the record. Under QEMU TCG on a loaded host the static
# busybox has died of SIGSEGV now and then (a ping that printed nothing, a
# sed whose output was empty): a ping that printed no statistics at all,
# having sent nothing, runs again.
received() {
	local i
	for i in 1 2 3; do
		ping "$@" > /tmp/ping.out 2>&1
		echo "exit $?" >> /tmp/ping.out
		sed 's/^/RXG-PING: /' /tmp/ping.out >&2
		grep -q 'packets transmitted' /tmp/ping.out && break
		grep -q 'bytes from' /tmp/ping.out && break
	done
	sed -n 's/.* \([0-9]*\) packets received.*/\1/p' /tmp/ping.out
}

# until ADDR answers (ping options before it): bounded, 90 tries half a
# second apart at least (an unreachable network fails at once)
until_answers() {
	local tries=0
	until ping -c 1 -W 1 "$@" >/dev/null 2>&1; do
		tries=$((tries + 1))
		[ $tries -ge 90 ] && break
		sleep 0.5
	done
	echo "$tries"
}

# What upstream's whoami CGI saw as our source ($1: its address).
whoami_at() {
	timeout 30 wget -q -O - "http://$1:8080/cgi-bin/whoami" 2>/dev/null | head -n 1
}

# Until the backend is connected and the bridge forwards: bounded.
echo "RXG: upstream-reachable tries=$(until_answers 192.0.2.1)"
echo "RXG: ping-upstream $(received -c 3 -W 2 192.0.2.1)/3"
# The witness (192.0.2.3) counts the echo requests that reach it: first
# three from our own address (the control), then three from a forged one.
echo "RXG: ping-witness $(received -c 3 -W 2 192.0.2.3)/3"
if [ "$SPOOF" != no ]; then
	ip addr add "$SPOOF/${IP#*/}" dev eth0
	echo "RXG: spoof-witness $(received -I "$SPOOF" -c 3 -W 2 192.0.2.3)/3"
fi
flag rxwhoami && echo "RXG: whoami $(whoami_at 192.0.2.1)"
# IPv6: our own address (after its duplicate address detection), pings to
# upstream and the witness, then a forged source (no DAD for it, so the
# only packets from it are the pings) and an address we claim but were not
# given: Dom0 then asks upstream to ping it (neighbour solicitation, our
# advertisement must be dropped).
if [ -n "$IP6" ]; then
	ip -6 addr add "$IP6" dev eth0
	echo "RXG: upstream6-reachable tries=$(until_answers -6 2001:db8::1)"
	echo "RXG: ping6-upstream $(received -6 -c 3 -W 2 2001:db8::1)/3"
	echo "RXG: ping6-witness $(received -6 -c 3 -W 2 2001:db8::3)/3"
	echo 0 > /proc/sys/net/ipv6/conf/eth0/accept_dad
	ip -6 addr add 2001:db8::99/64 dev eth0
	echo "RXG: spoof6-witness $(received -6 -I 2001:db8::99 -c 3 -W 2 2001:db8::3)/3"
	echo "RXG: v6-claimed 2001:db8::99"
fi
# Transfers (kernel command line "rxxfer"): 4 MiB each way over TCP,
# checksums compared by Dom0. The guest serves its blob (busybox httpd) for
# upstream to fetch (guest->upstream, what the bench times) and fetches
# upstream's blob (upstream->guest). busybox nc cannot be trusted to deliver
# a whole stream (it drops the connection at the first EOF); HTTP can.
# busybox 1.35's wget -T segfaults (static, no /etc): timeout bounds it.
mkdir -p /tmp/www
if flag rxxfer; then
	echo "RXG: mtu $(cat /sys/class/net/eth0/mtu)"
	# full-size frames both ways (1472 + 8 + 20 = 1500)
	echo "RXG: ping-full-size $(received -s 1472 -c 2 -W 3 192.0.2.1)/2"
	dd if=/dev/urandom of=/tmp/www/blob bs=65536 count=64 2>/dev/null
	echo "RXG: blob-md5 $(md5sum < /tmp/www/blob | cut -d ' ' -f 1)"
	httpd -p 8080 -h /tmp/www
	i=0
	until timeout 120 wget -q -O /tmp/in http://192.0.2.1:8080/blob; do
		i=$((i + 1))
		[ $i -ge 3 ] && break
		sleep 1
	done
	echo "RXG: fetched-md5 $(md5sum < /tmp/in | cut -d ' ' -f 1) size=$(wc -c < /tmp/in)"
	rm -f /tmp/in
fi
echo "RXG: done"
# Detach and re-attach ("rxdetach"): Dom0 runs xl network-detach, eth0
# goes; xl network-attach brings a new netfront device, configured again.
if flag rxdetach; then
	wait_link eth0 no 600
	echo "RXG: detached $([ -e /sys/class/net/eth0 ] && echo no || echo yes)"
	wait_link eth0 yes 600
	ip link set eth0 up
	ip addr add "$IP" dev eth0
	until_answers 192.0.2.1 > /dev/null
	echo "RXG: reattached-ping $(received -c 3 -W 2 192.0.2.1)/3"
fi
# A second vif on a nat network ("rxnat"), hot-plugged by Dom0: its address
# from netd's dnsmasq (DHCP through netfront), a default route through it
# (198.51.100.1, upstream's other address, is reached masqueraded), replies
# from its address leave through it too (the port forward's), and a page
# for upstream to fetch through the forward.
if flag rxnat; then
	cat > /tmp/dhcp.sh <<-'EOS'
	#!/bin/sh
	case $1 in bound|renew)
		ip addr add "$ip/${mask:-24}" dev "$interface"
		echo "$ip $router" > /tmp/lease ;;
	esac
	EOS
	chmod 0755 /tmp/dhcp.sh
	wait_link eth1 yes 600
	echo "RXG: eth1 mac=$(cat /sys/class/net/eth1/address)"
	# Dom0's go (through eth0): dnsmasq has read our static lease
	i=0
	until [ "$(timeout 10 wget -q -O - http://192.0.2.1:8080/go-nat 2>/dev/null)" = go ]; do
		i=$((i + 1))
		[ $i -ge 120 ] && break
		sleep 1
	done
	echo "RXG: nat-go tries=$i"
	ip link set eth1 up
	udhcpc -i eth1 -s /tmp/dhcp.sh -f -q -n -t 10 -T 2 > /tmp/udhcpc.out 2>&1
	sed 's/^/RXG-DHCP: /' /tmp/udhcpc.out >&2
	read -r lease router < /tmp/lease 2>/dev/null
	echo "RXG: lease eth1 ${lease:-none} router ${router:-none}"
	if [ -n "$router" ]; then
		ip route add default via "$router" dev eth1
		ip rule add from "$lease" lookup 100
		ip route add default via "$router" dev eth1 table 100
	fi
	echo "RXG: nat-gw $(received -c 3 -W 2 "${router:-203.0.113.1}")/3"
	echo "RXG: nat-whoami $(whoami_at 198.51.100.1)"
	echo "guest on eth1" > /tmp/www/name
	pidof httpd > /dev/null || httpd -p 8080 -h /tmp/www
	echo "RXG: nat-ready"
	wait_link eth1 no 600
	echo "RXG: eth1-detached $([ -e /sys/class/net/eth1 ] && echo no || echo yes)"
fi
while true; do
	sleep 3600
done
