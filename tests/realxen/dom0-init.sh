#!/bin/sh
# /init of the Dom0 initramfs: start Xen's userland as Debian's init scripts
# would, mount the host's share (virtio-9p) and run the scenario from it, so
# the initramfs stays the same when the project changes. Always powers off:
# the host waits for the "RX-END" line or for QEMU to exit.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mkdir -p /run/xen /run/xenstored /run/lock /run/netns /var/lib/xen /var/log/xen /var/lib/xenstored
# kmod's, by path: busybox sh runs its own applets before searching PATH.
echo /usr/sbin/modprobe > /proc/sys/kernel/modprobe
for m in xen-evtchn xen-gntdev xen-gntalloc xen-privcmd xenfs xen-netback bridge \
	br_netfilter veth tun dummy nf_tables virtio_pci 9pnet_virtio 9p; do
	/usr/sbin/modprobe "$m" || echo "RX: modprobe $m failed"
done
mount -t xenfs xenfs /proc/xen
# The 9p device shows up once virtio_pci has probed it.
i=0
while [ -z "$(cat /sys/bus/virtio/drivers/9pnet_virtio/virtio*/mount_tag 2>/dev/null)" ] &&
	[ $i -lt 50 ]; do
	sleep 0.1
	i=$((i + 1))
done
if mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 host /mnt/host; then
	mkdir -p /mnt/host/out
	xenstored --pid-file /run/xenstored.pid
	xen-init-dom0
	xenconsoled --pid-file /run/xenconsoled.pid --log=guest --log-dir=/var/log/xen
	echo "RX: dom0 up after $(cut -d ' ' -f 1 /proc/uptime) s, running the scenario"
	# Copied to the serial log too: a hang is visible there.
	bash /mnt/host/scenario.sh 2>&1 | tee /mnt/host/out/dom0.log
	echo "RX: scenario done"
	sync
	umount /mnt/host
else
	echo "RX: cannot mount the 9p share"
fi
echo "RX-END"
poweroff -f
