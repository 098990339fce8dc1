#!/usr/bin/env bash
# Boot the test VM once and run the in-guest suites; print every result line as it arrives and,
# last, "vm: N passed, N failed". Exit status 1 on any failure.
#
#   run.sh [--suite NAME]... [--filter GLOB] [--mode test|demo] [--timeout SECONDS] [--icount]
#          [--nested] [--repeat N] [--kernel-dir DIR]
#
# --icount: one vCPU with instruction counting (-icount shift=0,sleep=off): guest time advances
# one nanosecond per instruction, so rates in guest-seconds measure CPU cost and repeat exactly.
# --nested: what a nested guest needs (QEMU, the inner initramfs, more memory), for suites other
# than qemu that start one (bench-tcp); the qemu and migration suites and the demo get it anyway.
# --repeat N: the migration suite runs its whole sequence of migrations N times in a row
# (REPEAT=N in /vm/config); the suite's and the run's time limits grow with N.
# --kernel-dir DIR: boot the kernel of DIR (scripts/debug-kernel.sh's cache: vmlinuz, release,
# root/lib/modules) instead of Debian's; the module must be built for it. A debug kernel runs
# several times slower: more memory (KASAN's shadow) and three times the time limits. A nested
# guest still boots Debian's kernel.
#
# VHNET_KO, VMTEST_BIN, VHNETCTL_BIN, XFER_BIN: the module and binaries from elsewhere.
#
# Needs the module and the userspace built (make). Output: build/vm/{console,results}.log
# (or $VM_DIR/...).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=$top/build
vm=${VM_DIR:-$build/vm}  # VM_DIR: another folder, so that two runs can go at once

suites=() filter= mode=test timeout= cpus=(-smp 2) want_nested=0 repeat=1 kdir=
while (($#)); do
	case $1 in
	--suite) suites+=("$2"); shift 2 ;;
	--filter) filter=$2; shift 2 ;;
	--mode) mode=$2; shift 2 ;;
	--timeout) timeout=$2; shift 2 ;;
	--icount) cpus=(-smp 1 -icount shift=0,sleep=off); shift ;;
	--nested) want_nested=1; shift ;;
	--repeat) repeat=$2; shift 2 ;;
	--kernel-dir) kdir=$2; shift 2 ;;
	*) echo "run.sh: unknown argument '$1'" >&2; exit 2 ;;
	esac
done
# Every suite, in the order they build on each other.
((${#suites[@]})) || suites=(module dev abi fuzz datapath dirtylog hostile stats audit qemu migration)
[[ $repeat =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: --repeat wants a positive number" >&2; exit 2; }
# A repeat of the migration sequence takes 7 to 9 minutes with the nested QEMUs pinned to one
# CPU, more when a nested guest stops and its migration runs again (each suite's limit: 1500 s
# for one repeat).
slow=1
[[ -n $kdir ]] && slow=3
: "${timeout:=$(((2700 + (repeat - 1) * 900) * slow))}"

stock_kver=$("$top/scripts/kver.sh")
if [[ -n $kdir ]]; then
	[[ -s $kdir/release && -e $kdir/vmlinuz ]] ||
		{ echo "run.sh: $kdir holds no built kernel (scripts/debug-kernel.sh)" >&2; exit 2; }
	kver=$(cat "$kdir/release") image=$kdir/vmlinuz modroot=$kdir/root
else
	kver=${KVER:-$stock_kver} image=/boot/vmlinuz-$kver modroot=
fi
ko=${VHNET_KO:-$top/kmod/vhnet.ko}
bins=("${VMTEST_BIN:-$build/userspace/tests/vm/guest/vhnet-vmtest}" "${VHNETCTL_BIN:-$build/userspace/vhnetctl}")
xfer=${XFER_BIN:-$build/userspace/tests/vm/guest/vhnet-xfer}
bins+=("$xfer")
# A nested guest (the qemu suite, the demo) needs QEMU and the inner initramfs in the VM, and
# room for the inner guest's memory.
nested=() mem=2048
if [[ $mode == demo || " ${suites[*]} " == *" qemu "* || " ${suites[*]} " == *" migration "* ]] ||
	((want_nested)); then
	nested=(-n -x "$xfer")
	mem=3072
fi
[[ -n $kdir ]] && mem=$((mem + 1024))
# The kernel's warnings and the traces that go with them (printed at the default level, which
# "quiet" hides) on the console: a soft lockup names its stack. A debug kernel logs everything.
kargs="loglevel=5 softlockup_all_cpu_backtrace=1 "
# The debug kernel boots with 4-level paging (no5lvl): with -cpu max's LA57, 6.1's
# identify_cpu() zeroes the boot CPU's capabilities for a moment, so pgtable_l5_enabled() and
# KASAN_SHADOW_START (which depends on it) change under an interrupt taken in that window, and
# KASAN reports the interrupt's own spinlock in the 5-level direct map as a wild-memory-access
# (seen in 1 of 6 boots, before any module loads). vhnet does not depend on the paging depth.
[[ -n $kdir ]] && kargs="softlockup_all_cpu_backtrace=1 no5lvl "
for f in "$ko" "${bins[@]}"; do
	[[ -e $f ]] || { echo "run.sh: $f is missing; run 'make' first" >&2; exit 2; }
done
# A module built for another kernel (or a stale one from before a kernel update) would fail to
# load in the VM and show only as a missing /dev/vhnet: say so here.
vermagic=$(modinfo -F vermagic "$ko" 2>/dev/null | awk '{print $1}')
if [[ $vermagic != "$kver" ]]; then
	echo "run.sh: $ko is built for kernel '${vermagic:-?}', the VM boots $kver: run 'make kmod'" >&2
	exit 2
fi

mkdir -p "$vm"

# /vm/config for SUITES, and the initramfs that carries it.
make_initrd() {
	cat >"$vm/config" <<CFG
MODE=$mode
SUITES="$*"
FILTER="$filter"
REPEAT=$repeat
CFG
	echo "SUITE_TIMEOUT=$(((1500 + (repeat - 1) * 900) * slow))" >>"$vm/config"
	# VM_ENV: a file of more settings for the suites (make test-debug's fuzz scale, its time limit)
	[[ -z ${VM_ENV:-} ]] || cat "$VM_ENV" >>"$vm/config"
	"$top/tests/vm/mkinitramfs.sh" -k "$kver" -o "$vm/initrd.gz" -m "$ko" -c "$vm/config" \
		${modroot:+-r "$modroot"} "${nested[@]}" ${nested:+-i "$stock_kver"} "${bins[@]}"
}

# Where each vCPU of the test VM is, from its monitor: RIP and the kernel symbol it falls in.
# The symbols come from the VM's /proc/kallsyms, which it sends at boot (4th serial port).
vcpus() {
	{ gzip -dc "$vm/symbols.gz" 2>/dev/null || true; } | sort >"$vm/symbols.txt"
	python3 - "$vm/monitor.sock" <<'PY' 2>&1 | awk -v map="$vm/symbols.txt" '
		BEGIN { while ((getline l < map) > 0) { split(l, f, " "); a[++n] = f[1]; s[n] = f[3] f[4] } }
		function sym(x,   lo, hi, mid, v) {
			v = tolower(x); sub(/^0+/, "", v)
			lo = 1; hi = n
			if (n == 0 || length(v) != 16) return "?"
			while (lo < hi) { mid = int((lo + hi + 1) / 2); if (a[mid] <= v) lo = mid; else hi = mid - 1 }
			return a[lo] <= v ? s[lo] : "?"
		}
		/^CPU#/ { cpu = $0 }
		/RIP=/ { match($0, /RIP=[0-9a-f]+/); r = substr($0, RSTART + 4, RLENGTH - 4)
			print "#   " cpu " RIP " r " " sym(r) }'
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
s.sendall(b"info registers -a\n")
out, end = b"", time.time() + 10
while time.time() < end:
    try:
        chunk = s.recv(65536)
    except socket.timeout:
        break
    if not chunk:
        break
    out += chunk
    if out.count(b"RIP=") and out.rstrip().endswith(b"(qemu)"):
        break
print(out.decode(errors="replace"))
PY
}

# What a VM that froze shows: its last heartbeat, the stacks of its blocked tasks, where its
# vCPUs are, and its console: the first soft lockup's report (with the stacks of all CPUs), or
# the console's end.
froze_report() {
	echo "# vm: FROZE: no heartbeat from the test VM for ${age}s; the last one:"
	{ grep -a '^# hb [0-9]' "$vm/heartbeat.log" || true; } | tail -n 1 | sed 's/^/#   /'
	{ grep -a '^# hb stack' "$vm/heartbeat.log" || true; } | tail -n 20 | sed 's/^/#   /'
	echo "# vm: its vCPUs:"
	vcpus || echo "#   (the monitor did not answer)"
	if grep -q 'BUG: soft lockup' "$vm/console.log"; then
		echo "# vm: its console, from the first soft lockup:"
		tr -d '\r' <"$vm/console.log" | sed -n '/BUG: soft lockup/,$p' | head -n 80 | sed 's/^/#   /'
	fi
	echo "# vm: its console ends:"
	tail -n 10 "$vm/console.log" | tr -d '\r' | sed 's/^/#   /'
}

# Boots the VM once (twice if the kernel never reaches init) and streams its results. Sets
# `ended`: done (the suites finished), frozen (no heartbeat for too long), or why it stopped.
boot_limit=$((slow == 1 ? 180 : 420))
# The heartbeat comes every 15 s; a VM that sends none for this long is frozen as a whole.
stale_limit=$((240 * slow))
boot_once() {
	local attempt qemu booted t tailer age
	for attempt in 1 2; do
		: >"$vm/console.log"
		: >"$vm/results.log"
		: >"$vm/heartbeat.log"
		: >"$vm/symbols.gz"
		: >"$vm/froze.txt"
		rm -f "$vm/monitor.sock"
		timeout --foreground "$timeout" qemu-system-x86_64 \
			-machine q35 -accel tcg -cpu max "${cpus[@]}" -m "$mem" \
			-display none -nic none -no-reboot \
			-monitor "unix:$vm/monitor.sock,server=on,wait=off" \
			-kernel "$image" -initrd "$vm/initrd.gz" \
			-append "console=ttyS0 ${kargs}nokaslr panic=-1 oops=panic" \
			-serial "file:$vm/console.log" -serial "file:$vm/results.log" \
			-serial "file:$vm/heartbeat.log" -serial "file:$vm/symbols.gz" &
		qemu=$!
		booted=0
		# A kernel that never reaches init (seen now and then with the debug kernel under
		# TCG, stuck idle early in boot before any module loads) is booted once more,
		# loudly; a second time fails.
		for ((t = 0; t < boot_limit; t += 2)); do
			grep -q '^# vm: init started' "$vm/results.log" && { booted=1; break; }
			kill -0 $qemu 2>/dev/null || break
			sleep 2
		done
		if ((booted)) || ! kill -0 $qemu 2>/dev/null || ((attempt == 2)); then
			break
		fi
		echo "# vm: BOOT HUNG: the kernel did not reach init in ${boot_limit}s; its console ends:"
		tail -n 5 "$vm/console.log" | sed 's/^/#   /'
		echo "# vm: booting once more"
		kill $qemu 2>/dev/null || true
		wait $qemu 2>/dev/null || true
	done
	tail -n +1 -F --pid=$qemu "$vm/results.log" 2>/dev/null | sed -u 's/\r//g' &
	tailer=$!
	ended=
	while kill -0 $qemu 2>/dev/null; do
		sleep 5
		((booted)) || continue
		age=$(($(date +%s) - $(stat -c %Y "$vm/heartbeat.log")))
		if ((age > stale_limit)) && kill -0 $qemu 2>/dev/null; then
			ended=frozen
			sleep 3
			froze_report | tee "$vm/froze.txt"
			kill $qemu 2>/dev/null || true
			break
		fi
	done
	set +e
	wait $qemu
	qrc=$?
	wait $tailer
	set -e
	if [[ -z $ended ]]; then
		if grep -q '^# vm: done' <(tr -d '\r' <"$vm/results.log"); then
			ended=done
		elif ((qrc == 124)); then
			ended="timed out after ${timeout}s"
		else
			ended="qemu exit $qrc"
		fi
	fi
}

# Runs SUITES: boots once and, after a boot that froze, again for the suites it did not finish
# (the one that froze from its start; what the frozen boot said of them is dropped). A freeze
# counts as the substrate's only with nothing of vhnet in it: a frozen VM with vhnet's code on a
# stack or under a vCPU fails at once, and so does a third freeze. Appends the results it keeps
# to `results`; adds to `fail` when the suites did not finish.
run_boots() {
	local boots=0 froze=() again=() rest s out kept todo=("$@")
	make_initrd "${todo[@]}"
	while :; do
		boot_once
		boots=$((boots + 1))
		out=$(tr -d '\r' <"$vm/results.log")
		[[ $ended == frozen ]] || break
		rest=()
		for s in "${todo[@]}"; do
			grep -q "^# vm: suite $s done" <<<"$out" || rest+=("$s")
		done
		if ((${#rest[@]} == 0)); then
			echo "# vm: the test VM froze after its last suite had finished"
			ended=done
			break
		fi
		kept=$(grep -E "^(not )?ok " <<<"$out" | grep -vE "^(not )?ok (boot|$(
			IFS='|'
			echo "${rest[*]}"
		))/" || true)
		results+=${kept:+$kept$'\n'}
		froze+=("${rest[0]}")
		out=
		if grep -qF '[vhnet]' "$vm/froze.txt" "$vm/console.log"; then
			ended="froze in ${rest[0]} with vhnet's code on its stacks or vCPUs"
			break
		fi
		if ((boots == 3)); then
			ended="froze three times (in ${froze[*]})"
			break
		fi
		echo "# vm: the test VM froze in suite ${rest[0]}; booting again for: ${rest[*]}"
		again+=("${rest[0]}")
		todo=("${rest[@]}")
		make_initrd "${todo[@]}"
	done
	results+=${out:+$out$'\n'}
	((${#again[@]} == 0)) ||
		notes+=("the test VM froze in ${again[*]}; the suites it had not finished ran again")
	if [[ $ended != done ]]; then
		panic=$(grep -m1 -E 'Kernel panic|BUG:|Oops|general protection' "$vm/console.log" || true)
		echo "not ok vm/completed - guest did not finish ($ended)${panic:+: $panic}"
		echo "# last console lines:"
		tail -n 30 "$vm/console.log" | sed 's/^/#   /'
		echo "# last heartbeat: $({ grep -a '^# hb [0-9]' "$vm/heartbeat.log" || true; } | tail -n 1)"
		fail=$((fail + 1))
	fi
}

start=$SECONDS
results= notes=() fail=0
run_boots "${suites[@]}"
pass=$(grep -c '^ok ' <<<"$results" || true)
fail=$((fail + $(grep -c '^not ok ' <<<"$results" || true)))
for n in "${notes[@]}"; do echo "# vm: NOTE: $n"; done
echo "# vm: ${mode} run took $((SECONDS - start))s (kernel $kver)"
echo "vm: $pass passed, $fail failed"
((fail == 0))
