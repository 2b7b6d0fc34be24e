# Made from bench_all.csv (nalasr bench --device cuda --quick, plus the 4096x4096 points) with the
# plot commands of ../cpu/bench.gnuplot. Re-plot: gnuplot bench.gnuplot

$nala_cuda << EOD
# tokens planned_bytes observed_bytes median_seconds network_seconds
4096 18969088 20971520 0.00169867 0.00149821
70225 121205056 123731968 0.00716462 0.00503696
518400 701505408 702545920 0.0423893 0.0317789
4194304 5450899968 5452595200 0.338049 0.250615
16777216 21708153344 21709717504 1.38264 0.990261
EOD
$pola_cuda << EOD
# tokens planned_bytes observed_bytes median_seconds network_seconds
4096 18964992 20971520 0.00197413 0.00172576
70225 121188096 121634816 0.00735978 0.00556819
518400 701457408 702545920 0.0471174 0.0362993
4194304 5450768896 5452595200 0.374872 0.288264
16777216 21707891200 21711814656 1.56038 1.1832
EOD
$softmax_cuda << EOD
# tokens planned_bytes observed_bytes median_seconds network_seconds
4096 86032384 88080384 0.0131001 0.0127495
70225 19853185088 19855835136 4.73149 4.72844
518400 1075717630976 ? ? ?
4194304 70374727352320 ? ? ?
EOD

set xrange [2730.67:2.5e+07]

set datafile missing "?"
set logscale xy
set grid xtics ytics mxtics mytics lc rgb "gray85"
set key box opaque
set xlabel "tokens (input pixels; the whole image is one attention sequence)"
set format x "%.0s%c"
do for [fmt in "png svg"] {
  if (fmt eq "png") { set terminal pngcairo size 1600,700 font "sans,11" } else { set terminal svg size 1600,700 dynamic font "sans,11" background rgb "white" }
  set output "bench.".fmt
  set multiplot layout 1,2 title "NalaSR x4, C=64 h=4 G=4 B=4 (random weights) on cuda:0 (NVIDIA H100 80GB HBM3)\nat 70,225 tokens: NaLa 118 MiB vs softmax 18.49 GiB, both measured: 99.4 % less peak memory; NaLaFormer reports 92.3 %"
  set title "Peak working memory (dashed: the planner's prediction; points: measured)"
  set ylabel "bytes (SI: 1 GB = 10^9 B)"
  set format y "%.0s %cB"
  set key bottom right
  set arrow from 70225, graph 0 to 70225, graph 1 nohead dt 4 lw 1.5 lc rgb "black"
  set label "265×265 = 70,225 tokens" at 70225, graph 0.03 rotate by 90 offset character -1.5,0 left
  set arrow from graph 0, first 84393787392 to graph 1, first 84393787392 nohead dt 3 lw 1.5 lc rgb "gray40"
  set label "cuda: 78.60 GiB available" at graph 0.99, first 84393787392 right offset 0,0.6 textcolor rgb "gray30"
  plot $nala_cuda using 1:2 with lines dt 2 lw 1.5 lc rgb "#1f77b4" notitle, \
       $nala_cuda using 1:3 with linespoints lw 2 pt 6 ps 1.5 lc rgb "#1f77b4" title "nala (cuda)", \
       $pola_cuda using 1:2 with lines dt 2 lw 1.5 lc rgb "#2ca02c" notitle, \
       $pola_cuda using 1:3 with linespoints lw 2 pt 8 ps 1.5 lc rgb "#2ca02c" title "pola (cuda)", \
       $softmax_cuda using 1:2 with lines dt 2 lw 1.5 lc rgb "#d62728" notitle, \
       $softmax_cuda using 1:3 with linespoints lw 2 pt 4 ps 1.5 lc rgb "#d62728" title "softmax (cuda)"
  unset arrow
  unset label
  set title "Time of the network stage (backend's timer; median of the timed runs)"
  set ylabel "seconds"
  set format y "%g"
  set key top left
  set arrow from 70225, graph 0 to 70225, graph 1 nohead dt 4 lw 1.5 lc rgb "black"
  set label "265×265 = 70,225 tokens" at 70225, graph 0.03 rotate by 90 offset character -1.5,0 left
  plot $nala_cuda using 1:5 with linespoints lw 2 pt 6 ps 1.5 lc rgb "#1f77b4" title "nala (cuda)", \
       $pola_cuda using 1:5 with linespoints lw 2 pt 8 ps 1.5 lc rgb "#2ca02c" title "pola (cuda)", \
       $softmax_cuda using 1:5 with linespoints lw 2 pt 4 ps 1.5 lc rgb "#d62728" title "softmax (cuda)"
  unset multiplot
  unset output
}
