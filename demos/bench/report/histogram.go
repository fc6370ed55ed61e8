package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/ipcplay/ipcplay/demos/bench"
	"github.com/ipcplay/ipcplay/ipc/plural"
)

// histWidth is the longest bar, in characters.
const histWidth = 40

// Histogram draws a row's latency histogram in the terminal: one bar per
// half octave (the row's buckets, which are quarter octaves, two by two),
// the count and the cumulative share.
func Histogram(w io.Writer, r bench.Row) {
	if len(r.Histogram) == 0 {
		return
	}
	var bars []bench.Bucket
	for i := 0; i < len(r.Histogram); i += 2 {
		b := r.Histogram[i]
		if i+1 < len(r.Histogram) {
			b.LeNs = r.Histogram[i+1].LeNs
			b.Count += r.Histogram[i+1].Count
		}
		bars = append(bars, b)
	}
	var total, peak int64
	for _, b := range bars {
		total += b.Count
		peak = max(peak, b.Count)
	}
	kind := "round trip"
	if r.Pattern == bench.Stream {
		kind = "one-way (sampled)"
	}
	fmt.Fprintf(w, "\n  %s %s %s: %s latency, %s\n", r.Label(), r.Pattern, sizeLabel(r.Size), kind, plural.Count(total, "sample", "samples"))
	var cum int64
	for _, b := range bars {
		cum += b.Count
		n := int((b.Count*histWidth + peak - 1) / max(peak, 1))
		fmt.Fprintf(w, "  %9s %-*s %9d %6.2f%%\n", "≤"+dur(b.LeNs), histWidth, strings.Repeat("█", n), b.Count, 100*float64(cum)/float64(total))
	}
}
