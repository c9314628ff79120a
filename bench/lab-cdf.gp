# SPDX-License-Identifier: MIT
# Latency CDF of one workload's cases (bench/lab.sh): gnuplot -e
#   "files='a.txt b.txt'; titles='native pv'; name='disk.read4k';
#    out='cdf.png'" bench/lab-cdf.gp
# Each file: one latency in ns per line.  x: latency in us, log scale;
# y: the fraction of operations at or below it.  out ending in .svg: SVG,
# else PNG.
if (strstrt(out, ".svg") > 0) {
	set terminal svg size 900,560 noenhanced font ",10" background "white"
} else {
	set terminal pngcairo size 900,560 noenhanced font ",10"
}
set output out
set title sprintf("%s: latency CDF (pvkit lab)", name)
set logscale x 10
set xlabel "latency (us, log scale)"
set ylabel "fraction of operations at or below"
set yrange [0:1.02]
set grid xtics ytics mxtics
set key bottom right
plot for [i=1:words(files)] word(files, i) using ($1 / 1000.0):(1.0) \
	smooth cnormal with lines linewidth 2 title word(titles, i)
