#!/bin/busybox sh
# /init of the nested guest (the qemu suite's inner VM): load virtio-net, give eth0 the address
# the kernel command line names (vhnet.ip=A.B.C.D/N), say "vhnet-inner: ready" on the console,
# then serve commands on the second serial port, which the inner QEMU connects to a unix socket
# in the test VM. One command per line, "NONCE<tab>COMMAND"; it runs under sh -c and its output
# comes back followed by the line "@@NONCE STATUS".
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
ctl=/dev/ttyS1
stty -F $ctl raw -echo
echo "vhnet-inner: ready eth0 $addr"
while IFS= read -r line; do
	nonce=${line%%	*}
	cmd=${line#*	}
	sh -c "$cmd" >/tmp/.out 2>&1 </dev/null
	rc=$?
	cat /tmp/.out
	[ -n "$(tail -c 1 /tmp/.out)" ] && echo
	echo "@@$nonce $rc"
done <$ctl >$ctl
echo "inner: command channel closed"
exec sleep 1000000
