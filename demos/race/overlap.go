package race

import (
	"cmp"
	"math/bits"
	"slices"
)

// overlapPct is the share of the run's wall time, in percent, during which
// two or more workers were incrementing at once. spans are the workers'
// [start, end] CLOCK_MONOTONIC stamps (before the first and after the last
// increment); the run is the first start to the last end.
func overlapPct(spans [][2]int64) float64 {
	if len(spans) < 2 {
		return 0
	}
	type edge struct {
		t int64
		d int
	}
	var edges []edge
	first, last := spans[0][0], spans[0][1]
	for _, s := range spans {
		if s[1] <= s[0] {
			continue
		}
		edges = append(edges, edge{s[0], +1}, edge{s[1], -1})
		first, last = min(first, s[0]), max(last, s[1])
	}
	if last <= first {
		return 0
	}
	// Ends before starts at the same instant: touching is not overlapping.
	slices.SortFunc(edges, func(a, b edge) int { return cmp.Or(cmp.Compare(a.t, b.t), cmp.Compare(a.d, b.d)) })
	var both int64
	active := 0
	for i, e := range edges {
		if active >= 2 && i > 0 {
			both += e.t - edges[i-1].t
		}
		active += e.d
	}
	return 100 * float64(both) / float64(last-first)
}

// sampleWindow is how many consecutive counter values a recording window
// covers.
const sampleWindow = 64

// sampling chooses which increments a worker records when it may record
// rec of its iters: those whose loaded value v has v&mask < window. Every
// worker samples the same values, so the increments of a lost update (they
// all loaded the same v) are recorded together, wherever in the run they
// happen: windows of consecutive values, one every mask+1 values, spread
// over the whole count. The period is chosen so that a worker fills about
// half its records (the counter of a lossy run grows more slowly, so a
// worker may see more sampled values than its share; the rest are not
// recorded). rec >= iters records everything.
func sampling(iters int64, rec int) (mask, window uint64) {
	switch {
	case rec <= 0:
		return 0, 0
	case int64(rec) >= iters:
		return 0, 1
	}
	window = uint64(min(sampleWindow, max(1, rec/4)))
	need := (2*window*uint64(iters) + uint64(rec) - 1) / uint64(rec)
	period := uint64(1) << bits.Len64(need-1)
	return period - 1, window
}
