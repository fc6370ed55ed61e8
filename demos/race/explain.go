package race

import (
	"fmt"
	"runtime"

	"github.com/ipcplay/ipcplay/ipc/plural"
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
		if lost == 0 && p.Procs == 1 {
			return fmt.Sprintf("%s, but with one worker nothing else writes the counter between them: no update can be lost; race two with --procs 2", what)
		}
		if lost == 0 && p.scheduled() {
			return fmt.Sprintf("%s, but the schedule let no other %s store between one's load and its store", what, other)
		}
		if lost == 0 && overlap < lowOverlap {
			return fmt.Sprintf("%s, but the %s hardly ran at the same time (they overlapped %.1f%% of the run), so none could write %s: "+
				"nothing was lost because they took turns, not because the counter is safe; give them more --iters%s, or be the scheduler: %s",
				what, others, overlap, between, widen(p), forceRace(mode, unit, p))
		}
		if lost == 0 {
			return fmt.Sprintf("%s; the %s were all inside their loops for %.1f%% of the run, yet no %s stored %s: "+
				"in that time they most likely took turns on the CPUs rather than running at the same instant (%s; other programs may hold the CPUs), "+
				"so nothing was lost by luck, not because the counter is safe: try more --iters%s, or force it: %s",
				what, others, overlap, other, between, plural.Count(ctxsw, "context switch", "context switches"), widen(p), forceRace(mode, unit, p))
		}
		return fmt.Sprintf("%s; another %s wrote %s, and its update was overwritten", what, other, between)
	}
	if m, ok := lookupMode(mode); ok && m.explain != nil {
		return m.explain(other, p)
	}
	return ""
}

// widen is the advice that widens the gap between load and store, for the
// flags this run did not use yet: ", --yield or --window 1us".
func widen(p *Params) string {
	var w []string
	if !p.Yield {
		w = append(w, "--yield")
	}
	if p.WindowNs == 0 {
		w = append(w, "--window 1us")
	}
	switch len(w) {
	case 0:
		return ""
	case 1:
		return " or " + w[0]
	}
	return ", " + w[0] + " or " + w[1]
}

// forceRace is the command that forces the race this run missed: the
// same mode and workers (unit, language...), two of one increment each,
// both loads before either store. Its workers are named as the table
// names them (P1, or T1 for threads).
func forceRace(mode, unit string, p *Params) string {
	a, b := label(unit, 0), label(unit, 1)
	q := *p
	q.Unit = unit
	return ScheduleCommand(mode, &q, 2, 1, fmt.Sprintf("%s,%s,%s,%s", a, b, a, b))
}
