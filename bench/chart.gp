# SPDX-License-Identifier: GPL-2.0
# make bench's chart: gnuplot -e "dir='build/bench'" bench/chart.gp writes dir/results.png from
# dir/chart.dat (bench/report.py): packets per guest-second per backend in the instruction-counted
# mode (top), and the vhnet / vhost-net ratios in both modes (bottom).
if (!exists("dir")) dir = "build/bench"
data = dir . "/chart.dat"
set terminal pngcairo size 1200,1000 font "sans,10"
set output dir . "/results.png"
set multiplot layout 2,1

set title "Packets per guest-second, instruction-counted (-icount shift=0): higher is cheaper per packet"
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y
set format y "%.0s%c"
set ylabel "pps (log)"
set grid ytics
set key top right
set xtics rotate by -25 scale 0
plot data using 2:xtic(1) title "vhnet" lc rgb "#1f77b4", \
     "" using 3 title "vhost-net" lc rgb "#ff7f0e", \
     "" using 4 title "bare tap" lc rgb "#7f7f7f"

set title "vhnet / vhost-net (above 1: vhnet faster)"
unset logscale y
set format y "%.2f"
set ylabel "ratio"
set yrange [0:*]
plot data using 5:xtic(1) title "icount" lc rgb "#2ca02c", \
     "" using 6 title "wall-clock median (0: not run)" lc rgb "#9467bd", \
     1 with lines dt 2 lc rgb "black" notitle
unset multiplot
