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
# A repeat of the migration sequence takes about 4 minutes (more when migrations fail).
slow=1
[[ -n $kdir ]] && slow=3
: "${timeout:=$(((1800 + (repeat - 1) * 600) * slow))}"

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
# The debug kernel's whole boot log on the console (build/vm/console.log), where a hang shows.
quiet="quiet "
[[ -n $kdir ]] && quiet=
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
	((repeat == 1 && slow == 1)) || echo "SUITE_TIMEOUT=$(((900 + (repeat - 1) * 600) * slow))" >>"$vm/config"
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
		rm -f "$vm/monitor.sock"
		timeout --foreground "$timeout" qemu-system-x86_64 \
			-machine q35 -accel tcg -cpu max "${cpus[@]}" -m "$mem" \
			-display none -nic none -no-reboot \
			-monitor "unix:$vm/monitor.sock,server=on,wait=off" \
			-kernel "$image" -initrd "$vm/initrd.gz" \
			-append "console=ttyS0 ${quiet}nokaslr panic=-1 oops=panic" \
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
			echo "# vm: FROZE: no heartbeat from the test VM for ${age}s; the last one:"
			{ grep -a '^# hb [0-9]' "$vm/heartbeat.log" || true; } | tail -n 1 | sed 's/^/#   /'
			{ grep -a '^# hb stack' "$vm/heartbeat.log" || true; } | tail -n 20 | sed 's/^/#   /'
			echo "# vm: its vCPUs:"
			vcpus || echo "#   (the monitor did not answer)"
			echo "# vm: its console ends:"
			tail -n 10 "$vm/console.log" | tr -d '\r' | sed 's/^/#   /'
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

start=$SECONDS
make_initrd "${suites[@]}"
boot_once
results=$(tr -d '\r' <"$vm/results.log")
froze_in=
if [[ $ended == frozen ]]; then
	# Once, loudly: a VM that froze boots again for the suites it did not finish (the one that
	# froze, from its start); their results of the first boot are dropped. A second freeze fails.
	rest=()
	for s in "${suites[@]}"; do
		grep -q "^# vm: suite $s done" <<<"$results" || rest+=("$s")
	done
	froze_in=${rest[0]:-}
fi
if [[ $ended == frozen && -z $froze_in ]]; then
	echo "# vm: the test VM froze after its last suite had finished"
	ended=done
elif [[ $ended == frozen ]]; then
	kept=$(grep -E "^(not )?ok " <<<"$results" | grep -vE "^(not )?ok (boot|$(
		IFS='|'
		echo "${rest[*]}"
	))/" || true)
	echo "# vm: the test VM froze in suite $froze_in; booting again for: ${rest[*]}"
	make_initrd "${rest[@]}"
	boot_once
	results=$(printf '%s\n%s' "$kept" "$(tr -d '\r' <"$vm/results.log")")
	[[ $ended == frozen ]] && ended="froze twice (in $froze_in, then again)"
fi
pass=$(grep -c '^ok ' <<<"$results" || true)
fail=$(grep -c '^not ok ' <<<"$results" || true)
if [[ $ended != done ]]; then
	panic=$(grep -m1 -E 'Kernel panic|BUG:|Oops|general protection' "$vm/console.log" || true)
	echo "not ok vm/completed - guest did not finish ($ended)${panic:+: $panic}"
	echo "# last console lines:"
	tail -n 30 "$vm/console.log" | sed 's/^/#   /'
	echo "# last heartbeat: $({ grep -a '^# hb [0-9]' "$vm/heartbeat.log" || true; } | tail -n 1)"
	fail=$((fail + 1))
fi
[[ -z $froze_in ]] || echo "# vm: NOTE: the first boot froze in suite $froze_in; its suites ran again"
echo "# vm: ${mode} run took $((SECONDS - start))s (kernel $kver)"
echo "vm: $pass passed, $fail failed"
((fail == 0))
