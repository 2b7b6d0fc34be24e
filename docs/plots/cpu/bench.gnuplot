# Written by `nalasr bench`. Re-plot: gnuplot bench.gnuplot (writes bench.png and bench.svg here).

$nala_cpu << EOD
# tokens planned_bytes observed_bytes median_seconds network_seconds
4096 13565952 13565952 3.92919 3.92914
16384 41877504 41877504 6.82721 6.80308
36864 88915968 88915968 12.9607 12.9187
70225 165976920 165976920 28.9619 28.8994
147456 343927296 ? ? ?
262144 608126976 ? ? ?
518400 1198540800 ? ? ?
1048576 2420011008 ? ? ?
2096704 4834872000 ? ? ?
4194304 9668395008 ? ? ?
8386816 19329896448 ? ? ?
16777216 38664142848 ? ? ?
33547264 77306241024 ? ? ?
67108864 154637697024 ? ? ?
EOD
$pola_cpu << EOD
# tokens planned_bytes observed_bytes median_seconds network_seconds
4096 13565952 13565952 2.62002 2.61996
16384 41877504 41877504 8.55957 8.55645
36864 88915968 88915968 13.072 13.0484
70225 165976920 165976920 23.2619 23.2132
147456 343927296 ? ? ?
262144 608126976 ? ? ?
518400 1198540800 ? ? ?
1048576 2420011008 ? ? ?
2096704 4834872000 ? ? ?
4194304 9668395008 ? ? ?
8386816 19329896448 ? ? ?
16777216 38664142848 ? ? ?
33547264 77306241024 ? ? ?
67108864 154637697024 ? ? ?
EOD
$softmax_cpu << EOD
# tokens planned_bytes observed_bytes median_seconds network_seconds
4096 76546048 76546048 19.4978 19.4977
16384 1111490560 ? ? ?
36864 5520752640 ? ? ?
70225 19888000900 ? ? ?
147456 87312826368 ? ? ?
262144 275481886720 ? ? ?
518400 1076148633600 ? ? ?
1048576 4400462430208 ? ? ?
2096704 17589501460480 ? ? ?
4194304 70378407854080 ? ? ?
8386816 281374053695488 ? ? ?
16777216 1125938561548288 ? ? ?
33547264 4501752980439040 ? ? ?
67108864 18014553128304640 ? ? ?
EOD

set xrange [2730.67:1.00663e+08]

set datafile missing "?"
set logscale xy
set grid xtics ytics mxtics mytics lc rgb "gray85"
set key box opaque
set xlabel "tokens (input pixels; the whole image is one attention sequence)"
set format x "%.0s%c"
do for [fmt in "png svg"] {
  if (fmt eq "png") { set terminal pngcairo size 1600,700 font "sans,11" } else { set terminal svg size 1600,700 dynamic font "sans,11" background rgb "white" }
  set output "bench.".fmt
  set multiplot layout 1,2 title "NalaSR x4, C=64 h=4 G=4 B=4 (random weights) on cpu\nat 70,225 tokens on cpu: NaLa needs 99.2 % less peak memory than softmax (softmax predicted); NaLaFormer reports 92.3 %"
  set title "Peak working memory (dashed: the planner's prediction; points: measured)"
  set ylabel "bytes (SI: 1 GB = 10^9 B)"
  set format y "%.0s %cB"
  set key bottom right
  set arrow from 70225, graph 0 to 70225, graph 1 nohead dt 4 lw 1.5 lc rgb "black"
  set label "265×265 = 70,225 tokens" at 70225, graph 0.03 rotate by 90 offset character -1.5,0 left
  set arrow from graph 0, first 22928850944 to graph 1, first 22928850944 nohead dt 3 lw 1.5 lc rgb "gray40"
  set label "cpu: 21.35 GiB available" at graph 0.99, first 22928850944 right offset 0,0.6 textcolor rgb "gray30"
  plot $nala_cpu using 1:2 with lines dt 2 lw 1.5 lc rgb "#1f77b4" notitle, \
       $nala_cpu using 1:3 with linespoints lw 2 pt 6 ps 1.5 lc rgb "#1f77b4" title "nala (cpu)", \
       $pola_cpu using 1:2 with lines dt 2 lw 1.5 lc rgb "#2ca02c" notitle, \
       $pola_cpu using 1:3 with linespoints lw 2 pt 8 ps 1.5 lc rgb "#2ca02c" title "pola (cpu)", \
       $softmax_cpu using 1:2 with lines dt 2 lw 1.5 lc rgb "#d62728" notitle, \
       $softmax_cpu using 1:3 with linespoints lw 2 pt 4 ps 1.5 lc rgb "#d62728" title "softmax (cpu)"
  unset arrow
  unset label
  set title "Time of the network stage (backend's timer; median of the timed runs)"
  set ylabel "seconds"
  set format y "%g"
  set key top left
  set arrow from 70225, graph 0 to 70225, graph 1 nohead dt 4 lw 1.5 lc rgb "black"
  set label "265×265 = 70,225 tokens" at 70225, graph 0.03 rotate by 90 offset character -1.5,0 left
  plot $nala_cpu using 1:5 with linespoints lw 2 pt 6 ps 1.5 lc rgb "#1f77b4" title "nala (cpu)", \
       $pola_cpu using 1:5 with linespoints lw 2 pt 8 ps 1.5 lc rgb "#2ca02c" title "pola (cpu)", \
       $softmax_cpu using 1:5 with linespoints lw 2 pt 4 ps 1.5 lc rgb "#d62728" title "softmax (cpu)"
  unset multiplot
  unset output
}
