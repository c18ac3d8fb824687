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
echo "RXG: done"
while true; do
	sleep 3600
done
