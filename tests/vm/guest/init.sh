#!/bin/busybox sh
# /init of the test VM: mount the usual file systems, load the in-tree modules (the reference
# vhost_net among them) and vhnet.ko, run what /vm/config asks for, power off.
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin:/vm/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t debugfs debugfs /sys/kernel/debug
mount -t tmpfs tmpfs /tmp
# The host's run.sh waits for this line to know the kernel booted.
echo "# vm: init started" >/dev/ttyS1
ip link set lo up

kver=$(cat /etc/vhnet/kver)
while read -r m; do
	insmod "/lib/modules/$kver/$m" || echo "init: insmod $m failed"
done </etc/vhnet/modules
insmod /vm/vhnet.ko || echo "init: insmod vhnet.ko failed"

/vm/run-suites.sh
sync
poweroff -f
