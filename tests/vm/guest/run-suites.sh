#!/bin/sh
# Runs inside the test VM. Reports to the second serial port, one line per result:
#   ok SUITE/TEST | not ok SUITE/TEST - REASON | # diagnostic
# and after each suite two checks of its own: the kernel log stayed clean (no oops, BUG, WARN,
# lockdep report, sleeping in atomic context ...) and no vhnet instance was left behind.
. /vm/config
# the scale of the fuzz suite (make test-debug sets them; the suite has defaults)
export FUZZ_OPS FUZZ_BUDGET FUZZ_PROCS FUZZ_DIFF_SEQS FUZZ_RINGS LIFECYCLE
OUT=/dev/ttyS1
stty -F $OUT raw -echo 2>/dev/null
say() { echo "$*" >$OUT; }

export VHNET_KO=/vm/vhnet.ko
BAD='Oops|BUG:|WARNING:|Kernel panic|general protection fault|scheduling while atomic'
BAD="$BAD|possible circular locking|possible recursive locking|inconsistent lock state"
BAD="$BAD|suspicious RCU usage|lock held when returning|UBSAN:|kmemleak: [0-9]+ new suspected|soft lockup"
BAD="$BAD|hard LOCKUP|blocked for more than|rcu_sched detected stalls|list_(add|del) corruption"

check_dmesg() {
	dmesg -c >/tmp/dmesg.$1
	hits=$(grep -E "$BAD" /tmp/dmesg.$1 | head -n 3 | tr '\n' ' ' | cut -c1-300)
	if [ -n "$hits" ]; then
		say "not ok $1/dmesg-clean - $hits"
		sed 's/^/# dmesg: /' /tmp/dmesg.$1 | tail -n 60 >$OUT
	else
		say "ok $1/dmesg-clean"
	fi
}

# On a kernel with kmemleak (the debug kernel of make test-debug): a scan after each suite, and
# any unreferenced object it finds fails the suite. Two scans 6 s apart (kmemleak reports only
# objects older than 5 s, and a second scan drops the ones a pointer in flight hid); what boot
# leaked is cleared before the first suite.
KMEMLEAK=/sys/kernel/debug/kmemleak
kmemleak_scan() {
	sleep 6
	echo scan >$KMEMLEAK
	sleep 1
	echo scan >$KMEMLEAK
}

check_kmemleak() {
	[ -e $KMEMLEAK ] || return 0
	kmemleak_scan
	cat $KMEMLEAK >/tmp/kmemleak.$1
	n=$(grep -c '^unreferenced object' /tmp/kmemleak.$1)
	if [ "$n" = 0 ]; then
		say "ok $1/kmemleak"
	else
		say "not ok $1/kmemleak - $n unreferenced objects"
		sed 's/^/# kmemleak: /' /tmp/kmemleak.$1 | head -n 80 >$OUT
	fi
	echo clear >$KMEMLEAK
}

check_instances() {
	f=/sys/kernel/debug/vhnet/instances
	if [ ! -e $f ]; then
		say "not ok $1/no-leaked-instances - vhnet is not loaded"
		insmod $VHNET_KO
		return
	fi
	n=$(cat $f)
	dirs=$(ls /sys/kernel/debug/vhnet | grep -cv '^instances$')
	if [ "$n" = 0 ] && [ "$dirs" = 0 ]; then
		say "ok $1/no-leaked-instances"
	else
		say "not ok $1/no-leaked-instances - $n instances, $dirs folders"
	fi
}

boot_checks() {
	missing=
	for n in /dev/vhnet /dev/vhost-net /dev/net/tun /dev/kvm; do
		[ -c $n ] || missing="$missing $n"
	done
	if [ -z "$missing" ]; then say "ok boot/devices-present"; else say "not ok boot/devices-present - missing$missing"; fi
	check_dmesg boot
	if [ -e $KMEMLEAK ]; then
		kmemleak_scan
		echo clear >$KMEMLEAK
		say "# kmemleak: on; boot's reports cleared"
	fi
}

# Runs one suite and holds it to what it said it would run: every test --list names must report
# exactly once, a suite that lists nothing (a typo, a filter that matches nothing) fails, and so
# does one that exits non-zero (crashed, killed, failed to start) without a "not ok" of its own.
run_suite() {
	s=$1
	vhnet-vmtest --list --suite "$s" ${FILTER:+--filter "$FILTER"} >/tmp/list.$s 2>&1
	lrc=$?
	if [ $lrc != 0 ] || [ ! -s /tmp/list.$s ]; then
		say "not ok $s/suite-ran - no test of suite $s matches '${FILTER:-*}' (list exit $lrc: $(head -c 200 /tmp/list.$s))"
		return
	fi
	# Into a file, streamed to the port by tail: not a pipe, which a process the suite leaves
	# running (a nested guest outlives its test) could hold open.
	: >/tmp/out.$s
	tail -n +1 -f /tmp/out.$s >$OUT &
	streamer=$!
	timeout ${SUITE_TIMEOUT:-900} vhnet-vmtest --suite "$s" ${FILTER:+--filter "$FILTER"} \
		>/tmp/out.$s 2>&1
	rc=$?
	sleep 2
	kill $streamer
	wait $streamer 2>/dev/null
	[ "$rc" = 124 ] || [ "$rc" = 143 ] && say "not ok $s/suite-timeout - suite killed after ${SUITE_TIMEOUT:-900}s"
	missing=0
	while read -r t; do
		n=$(grep -c -E "^(not )?ok $t( |\$)" /tmp/out.$s)
		if [ "$n" = 0 ]; then
			say "not ok $t - no result (the suite ended before it reported)"
			missing=$((missing + 1))
		elif [ "$n" != 1 ]; then
			say "not ok $t - reported $n times"
		fi
	done </tmp/list.$s
	if [ "$rc" != 0 ] && ! grep -q '^not ok ' /tmp/out.$s && [ $missing = 0 ]; then
		say "not ok $s/suite-exit - vhnet-vmtest exited $rc with no failure reported"
	fi
}

run_tests() {
	for s in $SUITES; do
		echo "$s" >/tmp/current
		run_suite "$s"
		check_dmesg "$s"
		check_instances "$s"
		check_kmemleak "$s"
		# run.sh: the suites this boot finished (a VM that froze boots again for the rest)
		say "# vm: suite $s done at $(cut -d" " -f1 /proc/uptime)s"
	done
}

# Every 15 s on the third serial port (run.sh reads it to tell a frozen VM from a slow test):
# the uptime, the last result of the suite that runs, and each task in uninterruptible sleep
# with what it waits in; a task seen there twice in a row gets its kernel stack printed, once.
heartbeat() {
	hb=/dev/ttyS2
	stty -F $hb raw -echo 2>/dev/null
	prev= dumped=
	while :; do
		cur=$(cat /tmp/current 2>/dev/null)
		last=$(grep -E '^(not )?ok ' "/tmp/out.$cur" 2>/dev/null | tail -n 1 | cut -c1-100)
		blocked= now=
		for st in /proc/[0-9]*/stat; do
			read -r pid comm state _ <"$st" 2>/dev/null || continue
			[ "$state" = D ] || continue
			now="$now $pid"
			blocked="$blocked $pid$comm:$(cat /proc/$pid/wchan 2>/dev/null)"
			case " $prev " in *" $pid "*) ;; *) continue ;; esac
			case " $dumped " in *" $pid "*) continue ;; esac
			dumped="$dumped $pid"
			sed "s/^/# hb stack $pid$comm: /" /proc/$pid/stack >$hb 2>/dev/null
		done
		prev=$now
		echo "# hb $(cut -d' ' -f1 /proc/uptime)s suite ${cur:--} last '${last:-}'" \
			"load $(cut -d' ' -f1-3 /proc/loadavg) D:${blocked:- none}" >$hb
		sleep 15
	done
}

demo() {
	{
		echo "== vhnet.ko is loaded next to the in-tree vhost_net"
		lsmod | grep -E '^(vhnet|vhost_net) '
		ls -l /dev/vhnet /dev/vhost-net
		for d in /dev/vhost-net /dev/vhnet; do echo "$d: $(vhnetctl features --dev $d)"; done
	} >$OUT 2>&1
	vhnet-vmtest --suite demo >$OUT 2>&1
	check_dmesg demo
	check_instances demo
}

# The kernel's text symbols, gzipped, on the fourth serial port: the VM boots with nokaslr, and
# run.sh names from them where the vCPUs of a VM that froze are.
symbols() {
	stty -F /dev/ttyS3 raw -echo
	grep ' [tT] ' /proc/kallsyms | gzip -c >/dev/ttyS3
}

heartbeat 2>/dev/null &
symbols 2>/dev/null
boot_checks
case ${MODE:-test} in
test) run_tests ;;
demo) demo ;;
esac
say "# vm: done"
