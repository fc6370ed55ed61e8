package race

import (
	"fmt"
	"runtime"
)

// lockOf says what serialises a mode's increment.
func lockOf(mode string, undo bool) string {
	if m, ok := lookupMode(mode); ok {
		return m.lock(undo)
	}
	return ""
}

// lowOverlap is the overlap_pct below which the workers "hardly overlapped".
const lowOverlap = 5.0

// explanation is the one line the table prints under a mode. lost is the
// most any trial lost, overlap the overlap_pct and ctxsw the workers'
// context switches of the trial shown.
func explanation(mode, unit string, lost int64, overlap float64, ctxsw int64, p *Params) string {
	other, others := "process", "processes"
	if unit == UnitThread {
		other, others = "thread", "threads"
	}
	gap := ""
	switch {
	case p.Yield && p.WindowNs > 0:
		gap = " (sched_yield and a window between them)"
	case p.Yield:
		gap = " (sched_yield between them)"
	case p.WindowNs > 0:
		gap = " (a window between them)"
	}
	switch mode {
	case ModeUnsafe, ModeUnsafeGo:
		what, between := "load and store are separate instructions"+gap, "between them"
		if mode == ModeUnsafeGo && !p.Yield && p.WindowNs == 0 {
			what, between = "x++ is one ADD on memory without LOCK, still a read then a write for the CPU", "in between"
			if runtime.GOARCH == "arm64" {
				what = "x++ is a load, an add and a store (LDR, ADD, STR)"
			}
		}
		if lost == 0 && p.Schedule != "" {
			return fmt.Sprintf("%s, but the schedule let no other %s store between one's load and its store", what, other)
		}
		if lost == 0 && overlap < lowOverlap {
			return fmt.Sprintf("%s, but the %s hardly ran at the same time (they overlapped %.1f%% of the run), so none could write %s: "+
				"nothing was lost because they took turns, not because the counter is safe; give them more --iters or --yield, or be the scheduler with --schedule P1,P2,P1,P2",
				what, others, overlap, between)
		}
		if lost == 0 {
			return fmt.Sprintf("%s; the %s were all inside their loops for %.1f%% of the run, yet no %s stored %s: "+
				"in that time they most likely took turns on the CPUs rather than running at the same instant (%d context switches; other programs may hold the CPUs), "+
				"so nothing was lost by luck, not because the counter is safe: try more --iters, --yield or --window, or force it with --schedule P1,P2,P1,P2",
				what, others, overlap, other, between, ctxsw)
		}
		return fmt.Sprintf("%s; another %s wrote %s, and its update was overwritten", what, other, between)
	}
	if m, ok := lookupMode(mode); ok && m.explain != nil {
		return m.explain(other, p)
	}
	return ""
}
