#!/usr/bin/env bash
# make test-debug: the VM suites on the debug kernel (KASAN, lockdep, kmemleak, UBSAN, KFENCE;
# tests/debug/debug.config), vhnet.ko built against that kernel's tree, a kmemleak scan after
# every suite, and the fuzz suite at scale. Builds the kernel once into /var/cache/vhnet
# (scripts/debug-kernel.sh, about 17 minutes on 2 cores), reuses it after.
#
#   tests/debug/run.sh [--suite NAME]...
#
# The scale, each overridable: FUZZ_OPS (1000000) random operations of fuzz/random_calls in
# FUZZ_PROCS (2) processes, failing unless done within FUZZ_BUDGET seconds (5400); FUZZ_DIFF_SEQS
# (3000) differential sequences; FUZZ_RINGS (100000) malicious ring layouts; LIFECYCLE (1000)
# rounds of each lifecycle race. SUITE_TIMEOUT (14400) seconds for one suite, VM_TIMEOUT
# (21600) for the whole boot: at full scale the fuzz suite alone runs for hours.
# Last line: "N passed, N failed"; exit 1 on any failure.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
out=$top/build/debug
mkdir -p "$out"

args=()
while (($#)); do
	case $1 in
	--suite) args+=(--suite "$2"); shift 2 ;;
	*) echo "tests/debug/run.sh: unknown argument '$1'" >&2; exit 2 ;;
	esac
done

start=$SECONDS
kdir=$("$top/scripts/debug-kernel.sh" | tail -n 1)
built=$((SECONDS - start))

# The module, built against the debug tree in a copy of kmod/ (Kbuild builds in the source
# folder: the stock kernel's vhnet.ko stays where it is).
rm -rf "$out/kmod"
cp -r "$top/kmod" "$out/kmod"
find "$out/kmod" \( -name '*.o' -o -name '*.ko' -o -name '*.mod*' -o -name '.*.cmd' \
	-o -name Module.symvers -o -name modules.order \) -delete
make -s -C "$out/kmod" KDIR="$kdir/linux" VHNET_WERROR="${WERROR:-OFF}" >"$out/kmod.log" 2>&1 ||
	{ cat "$out/kmod.log"; echo "0 passed, 1 failed"; exit 1; }

cat >"$out/fuzz.env" <<ENV
FUZZ_OPS=${FUZZ_OPS:-1000000}
FUZZ_BUDGET=${FUZZ_BUDGET:-5400}
FUZZ_PROCS=${FUZZ_PROCS:-2}
FUZZ_DIFF_SEQS=${FUZZ_DIFF_SEQS:-3000}
FUZZ_RINGS=${FUZZ_RINGS:-100000}
LIFECYCLE=${LIFECYCLE:-1000}
SUITE_TIMEOUT=${SUITE_TIMEOUT:-14400}
ENV
set +e
VM_DIR=$out/vm VHNET_KO=$out/kmod/vhnet.ko VM_ENV=$out/fuzz.env \
	"$top/tests/vm/run.sh" --kernel-dir "$kdir" --timeout "${VM_TIMEOUT:-21600}" "${args[@]}" 2>&1 |
	tee "$out/vm-run.log"
set -e
line=$(grep -E '^vm: [0-9]+ passed, [0-9]+ failed$' "$out/vm-run.log" || true)
echo "# debug kernel $(cat "$kdir/release"): ready after ${built}s, whole run $((SECONDS - start))s"
if [[ $line =~ ([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
	echo "${BASH_REMATCH[1]} passed, ${BASH_REMATCH[2]} failed"
	((BASH_REMATCH[2] == 0))
else
	echo "not ok debug/vm-run - the VM rig did not report"
	echo "0 passed, 1 failed"
	exit 1
fi
