#!/bin/sh
# /init of the test guest (busybox only). Runs by itself, since Dom0 cannot
# reach into a PV guest: bring up netfront, wait until the LAN answers, then
# ping the witness from our own address and from a forged one. Every line
# starting "RXG:" lands in Dom0's /var/log/xen/guest-<name>.log (xenconsoled),
# where the scenario reads it. Addresses: TEST-NET-1 only.
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /lib/modules/load-order); do
	insmod "/lib/modules/$m" || echo "RXG: insmod $m failed"
done
i=0
while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 100 ]; do
	sleep 0.2
	i=$((i + 1))
done
ip link set lo up
ip addr add 192.0.2.10/24 dev eth0
ip link set eth0 up
echo "RXG: eth0 up mac=$(cat /sys/class/net/eth0/address)"

# "N" of busybox ping's "N packets received"; its output goes to the
# console too, for the record.
received() {
	ping "$@" > /tmp/ping.out 2>&1
	sed 's/^/RXG-PING: /' /tmp/ping.out >&2
	sed -n 's/.* \([0-9]*\) packets received.*/\1/p' /tmp/ping.out
}

# Until the backend is connected and the bridge forwards: bounded.
tries=0
until ping -c 1 -W 1 192.0.2.1 >/dev/null 2>&1; do
	tries=$((tries + 1))
	[ $tries -ge 90 ] && break
done
echo "RXG: upstream-reachable tries=$tries"
echo "RXG: ping-upstream $(received -c 3 -W 2 192.0.2.1)/3"
# The witness (192.0.2.3) counts the echo requests that reach it: first
# three from our own address (the control), then three from a forged one.
echo "RXG: ping-witness $(received -c 3 -W 2 192.0.2.3)/3"
ip addr add 192.0.2.99/24 dev eth0
echo "RXG: spoof-witness $(received -I 192.0.2.99 -c 3 -W 2 192.0.2.3)/3"
# Transfers (kernel command line "rxxfer"): 4 MiB each way over TCP,
# checksums compared by Dom0. The guest serves its blob (busybox httpd) for
# upstream to fetch (guest->upstream, what the bench times) and fetches
# upstream's blob (upstream->guest). busybox nc cannot be trusted to deliver
# a whole stream (it drops the connection at the first EOF); HTTP can.
# busybox 1.35's wget -T segfaults (static, no /etc): timeout bounds it.
if grep -q rxxfer /proc/cmdline; then
	echo "RXG: mtu $(cat /sys/class/net/eth0/mtu)"
	# full-size frames both ways (1472 + 8 + 20 = 1500)
	echo "RXG: ping-full-size $(received -s 1472 -c 2 -W 3 192.0.2.1)/2"
	mkdir -p /tmp/www
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
if grep -q rxdetach /proc/cmdline; then
	i=0
	while [ -e /sys/class/net/eth0 ] && [ $i -lt 600 ]; do
		sleep 0.5
		i=$((i + 1))
	done
	echo "RXG: detached $([ -e /sys/class/net/eth0 ] && echo no || echo yes)"
	i=0
	while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 600 ]; do
		sleep 0.5
		i=$((i + 1))
	done
	ip link set eth0 up
	ip addr add 192.0.2.10/24 dev eth0
	tries=0
	until ping -c 1 -W 1 192.0.2.1 >/dev/null 2>&1; do
		tries=$((tries + 1))
		[ $tries -ge 90 ] && break
	done
	echo "RXG: reattached-ping $(received -c 3 -W 2 192.0.2.1)/3"
fi
while true; do
	sleep 3600
done
