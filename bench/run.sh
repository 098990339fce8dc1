#!/usr/bin/env bash
# make bench: boots the test VM with the bench suites (tests/vm/guest/bench_test.cpp) and turns
# their "# bench {json}" lines into results.json, results.md and results.png; prints results.md.
#
#   bench/run.sh [--quick] [--out DIR]
#
# Full: two boots, instruction-counted (suite bench, -smp 1 -icount) then wall-clock (suites
# bench-wall and bench-tcp, -smp 2, with a nested guest). --quick: the icount boot only, with
# suite bench-quick (fewer sizes, shorter windows, fewer round trips, no nested guest).
# Output in DIR (default build/bench). Needs make all first. Exit status 1 if a test failed or
# a figure is missing or zero.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
quick=0 out=$top/build/bench
while (($#)); do
	case $1 in
	--quick) quick=1; shift ;;
	--out) out=$2; shift 2 ;;
	*) echo "bench/run.sh: unknown argument '$1'" >&2; exit 2 ;;
	esac
done
mkdir -p "$out"
rm -f "$out"/{results.json,results.md,results.png,chart.dat,icount.log,wall.log}

status=0 kernel=unknown
# One boot: run.sh's output without the sample lines (they are in the log), then the log kept.
boot() {
	local mode=$1
	shift
	echo "== bench: $mode mode"
	set +e
	VM_DIR=$out/vm-$mode "$top/tests/vm/run.sh" "$@" 2>&1 | tee "$out/run-$mode.log" |
		grep --line-buffered -v '^# bench '
	local rc=${PIPESTATUS[0]}
	set -e
	((rc == 0)) || status=1
	cp "$out/vm-$mode/results.log" "$out/$mode.log" 2>/dev/null || true
	local k
	k=$(sed -n 's/^# vm: .*(kernel \(.*\))$/\1/p' "$out/run-$mode.log" | tail -n 1)
	[[ -n $k ]] && kernel=$k
	return 0
}

start=$SECONDS
logs=()
if ((quick)); then
	boot icount --icount --suite bench-quick --timeout 600
	logs=("icount=$out/icount.log")
else
	boot icount --icount --suite bench --timeout 1800
	# Nested KVM does not work under -icount: the TCP rows come from this boot only.
	boot wall --nested --suite bench-wall --suite bench-tcp --timeout 3600
	logs=("icount=$out/icount.log" "wall=$out/wall.log")
fi

report=(python3 "$top/bench/report.py" --out "$out" --kernel "$kernel")
((quick)) && report+=(--quick)
"${report[@]}" "${logs[@]}" || status=1
if command -v gnuplot >/dev/null && [[ -s $out/chart.dat ]]; then
	gnuplot -e "dir='$out'" "$top/bench/chart.gp" || status=1
else
	echo "bench: no chart (gnuplot missing or no data)" >&2
	status=1
fi

echo
cat "$out/results.md"
echo "bench: $out/results.{md,json,png}; took $((SECONDS - start))s"
exit $status
