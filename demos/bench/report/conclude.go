package report

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ipcplay/ipcplay/demos/bench"
)

// Conclusions are computed from the run's rows, never written in advance:
// a sentence that says which budget won must be the one the numbers say,
// and "no clear difference" when they are within the noise
// (bench.CompareP50, bench.CompareValues).

// SpinConclusions compares, for every pattern and size with two or more
// shm-adaptive budgets, the smallest budget with the largest: latency,
// CPU and context switches per message, and what the difference (or its
// absence) means. Nil without a sweep.
func SpinConclusions(rows []bench.Row) []string {
	var out []string
	for _, g := range groups(rows) {
		var sweep []bench.Row
		for _, r := range g.rows {
			if r.Spin != nil {
				sweep = append(sweep, r)
			}
		}
		if len(sweep) < 2 {
			continue
		}
		slices.SortStableFunc(sweep, func(a, b bench.Row) int { return *a.Spin - *b.Spin })
		lo, hi := sweep[0], sweep[len(sweep)-1]
		out = append(out, spinConclusion(g.pattern, g.size, lo, hi))
	}
	return out
}

// spinConclusion compares the row of the smallest budget (lo) with the
// row of the largest (hi).
func spinConclusion(pattern string, size int, lo, hi bench.Row) string {
	var b strings.Builder
	fmt.Fprintf(&b, "shm-adaptive %s %s, spin=%d against spin=%d: p50 %s against %s, cpu/msg %s against %s, ctx/msg %.2f against %.2f. ",
		pattern, sizeLabel(size), *hi.Spin, *lo.Spin, dur(hi.Latency.P50), dur(lo.Latency.P50),
		dur(int64(hi.CPUNsPerMsg)), dur(int64(lo.CPUNsPerMsg)), hi.CtxSwitchesPerMsg, lo.CtxSwitchesPerMsg)
	cpu := bench.CompareValues(hi.CPUNsPerMsg, lo.CPUNsPerMsg)
	fewerSleeps := hi.CtxSwitchesPerMsg < lo.CtxSwitchesPerMsg-0.1
	switch bench.CompareP50(hi, lo) {
	case -1:
		b.WriteString("The larger budget bought latency")
		if fewerSleeps {
			b.WriteString(" (its waits ended while polling, without a futex sleep and wake-up)")
		}
		switch cpu {
		case 1:
			b.WriteString(" and paid for it in CPU.")
		case -1:
			b.WriteString(" and even used less CPU: the sleeps and wake-ups it avoided cost more than its polling.")
		default:
			b.WriteString(", with no clear difference in CPU.")
		}
	case 1:
		b.WriteString("The larger budget was slower in this run: polling did not pay, because the peer was not running to answer (a shared or busy CPU) or its answer took longer than the budget anyway.")
	default:
		b.WriteString("No clear difference in latency in this run")
		switch cpu {
		case 1:
			b.WriteString(", but the larger budget burnt more CPU: here it bought nothing.")
		case -1:
			b.WriteString(", and the larger budget used less CPU.")
		default:
			b.WriteString(", nor in CPU.")
		}
	}
	if hi.Spread == nil || lo.Spread == nil {
		fmt.Fprintf(&b, " (One run each: differences under %.0f%% are within this machine's noise; --repeat 3 or more compares the runs' ranges.)", 100*(bench.NoiseRatio-1))
	}
	return b.String()
}
