# SPDX-License-Identifier: MIT
# p50 and p99 per case of one workload (bench/lab.sh): gnuplot -e
#   "datafile='bars.dat'; name='disk.read4k'; out='bars.png'"
#   bench/lab-bars.gp
# datafile: "case p50_us p99_us" per line.  out ending in .svg: SVG, else
# PNG.
if (strstrt(out, ".svg") > 0) {
	set terminal svg size 900,520 noenhanced font ",10" background "white"
} else {
	set terminal pngcairo size 900,520 noenhanced font ",10"
}
set output out
set title sprintf("%s: p50 and p99 latency per path (pvkit lab)", name)
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y 10
set ylabel "latency (us, log scale)"
set xtics rotate by -20 left
set grid ytics
set key top left
plot datafile using 2:xtic(1) title "p50", '' using 3 title "p99"
