#!/bin/busybox sh
# /init of the nested guest (the qemu suite's inner VM): load virtio-net, give eth0 the address
# the kernel command line names (vhnet.ip=A.B.C.D/N), say "vhnet-inner: ready" on the console,
# then serve commands on the virtio-serial port "vhnet.ctl", which the inner QEMU connects to a
# unix socket in the test VM (virtio-serial is flow-controlled: nothing sent is lost, unlike a
# UART whose FIFO the kernel flushes when the port is opened). One command per line,
# "NONCE<tab>COMMAND"; it runs under sh -c and its output comes back followed by the line
# "@@NONCE STATUS".
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
ip link set lo up

kver=$(cat /etc/vhnet/kver)
while read -r m; do
	insmod "/lib/modules/$kver/$m" || echo "inner: insmod $m failed"
done </etc/vhnet/modules

addr=$(sed -n 's/.*vhnet\.ip=\([^ ]*\).*/\1/p' /proc/cmdline)
ip link set eth0 up
ip addr add "$addr" dev eth0
ctl=
for p in /sys/class/virtio-ports/*; do
	[ "$(cat "$p/name" 2>/dev/null)" = vhnet.ctl ] && ctl=/dev/${p##*/}
done
[ -c "$ctl" ] || echo "inner: no virtio-serial port vhnet.ctl"
# Opened once, before anyone is told to send: the port stays open from here on.
exec 3<>"$ctl"
echo "vhnet-inner: ready eth0 $addr"
# A read returns end-of-file while nobody is connected on the host side: wait and read again.
while :; do
	while IFS= read -r line; do
		nonce=${line%%	*}
		cmd=${line#*	}
		sh -c "$cmd" >/tmp/.out 2>&1 </dev/null 3>&-
		rc=$?
		cat /tmp/.out
		[ -n "$(tail -c 1 /tmp/.out)" ] && echo
		echo "@@$nonce $rc"
	done <&3 >&3
	sleep 0.1
done
