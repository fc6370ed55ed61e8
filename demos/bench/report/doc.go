// Package report presents the results of `ipcplay bench` (a
// bench.Result): a terminal table per pattern and size, sorted by a chosen
// metric with the best transport marked and every row's ratio to it; CSV;
// a terminal histogram of the latencies; and a chart of throughput and
// latency against message size per transport, as SVG or PNG.
//
// The charts are drawn with gonum.org/v1/plot, a maintained pure-Go
// plotting library with log scales, legends and SVG/PNG back ends, so a
// student can put them in a report as they are.
package report
