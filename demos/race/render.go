package race

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ipcplay/ipcplay/demos/conduct"
	"github.com/ipcplay/ipcplay/ipc/plural"
)

// Render writes res as the table `ipcplay race` prints: one line per mode,
// then one line of explanation per mode, then the witnesses.
func Render(w io.Writer, res *Result) error {
	var b strings.Builder
	if len(res.Results) == 0 {
		fmt.Fprintln(&b, "race: no mode finished")
		_, err := io.WriteString(w, b.String())
		return err
	}
	first := res.Results[0]
	if first.Schedule != "" || first.Stopped || first.Steps != nil {
		renderScheduled(&b, &first)
		_, err := io.WriteString(w, b.String())
		return err
	}
	fmt.Fprintf(&b, "race: %s × %s, counter in %s shared memory", workers(first.Unit, first.Procs), plural.Count(first.Iters, "increment", "increments"), first.Shm)
	if first.Unit == UnitThread && first.Lang != LangPython {
		b.WriteString(" (unsafe-go and mutex: an ordinary Go variable)")
	}
	if used := usedCPUs(first.CPUs, first.Procs); len(used) > 0 {
		fmt.Fprintf(&b, ", pinned to CPU %s", FormatCPUList(used))
	}
	fmt.Fprintf(&b, ", %s available", plural.Count(res.CPUs, "CPU", "CPUs"))
	var gap []string
	if first.WindowNs > 0 {
		gap = append(gap, "a "+time.Duration(first.WindowNs).String()+" window")
	}
	if first.Yield {
		gap = append(gap, "sched_yield")
	}
	if len(gap) > 0 {
		fmt.Fprintf(&b, ", %s between load and store", strings.Join(gap, " and "))
	}
	if first.SameLine {
		b.WriteString(", tallies on one cache line")
	}
	b.WriteString(pythonHeader(&first))
	b.WriteString("\n\n")

	trials := first.Trials.Count
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	head := "MODE\tUNIT\tPROCS\tITERS\tEXPECTED\tACTUAL\tLOST\tOVERLAP\tNS/OP\tOPS/S\tCTXSW/OP"
	if trials > 1 {
		head += "\tLOSSY TRIALS\tLOST MIN/MED/MAX"
	}
	fmt.Fprintln(tw, head)
	for _, m := range res.Results {
		lost := fmt.Sprintf("%d (%s)", m.Lost, pct(m.LostPct))
		if m.Broken {
			lost += " FAIL"
		}
		if !m.Safe && m.Trials.LostMax == 0 {
			// Never a bare 0 for an unsafe mode: the note below says why.
			lost += " see below"
		}
		line := fmt.Sprintf("%s\t%s\t%d\t%d\t%d\t%d\t%s\t%.0f%%\t%s\t%s\t%.2g", m.Mode, m.Unit, m.Procs, m.Iters, m.Expected, m.Actual, lost, m.OverlapPct, nsPerOp(m.NsPerOp), rate(m.OpsPerSec), m.CtxSwitchesPerOp)
		if trials > 1 {
			line += fmt.Sprintf("\t%d/%d\t%d/%d/%d", m.Trials.Lossy, m.Trials.Count, m.Trials.LostMin, m.Trials.LostMedian, m.Trials.LostMax)
		}
		fmt.Fprintln(tw, line)
	}
	tw.Flush()
	if trials > 1 {
		fmt.Fprintf(&b, "(%s: ACTUAL and LOST are the median trial's, NS/OP the median time)\n", plural.Count(trials, "trial", "trials"))
	}
	b.WriteString("(OVERLAP: share of the run's wall time during which two or more workers were incrementing at once)\n")
	b.WriteString("(CTXSW/OP: context switches of all workers per increment, start-up included; each wake-up of a sleeping waiter is one, and they explain most of a lock's run-to-run spread)\n")
	b.WriteString("\n")

	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, m := range res.Results {
		fmt.Fprintf(tw, "%s\t%s\n", m.Mode, m.Explanation)
	}
	tw.Flush()

	for _, m := range res.Results {
		if m.Broken {
			fmt.Fprintf(&b, "\n%s is a safe mode but lost updates in %d of %s: the lock did not serialise the increment.\n", m.Mode, m.Trials.Lossy, plural.Count(m.Trials.Count, "trial", "trials"))
		}
	}
	for _, m := range res.Results {
		if m.Recorded == 0 || (len(m.Witnesses) == 0 && m.Safe) {
			continue
		}
		if m.RecordWindow > 0 && m.RecordMask > 0 {
			fmt.Fprintf(&b, "\n%s: each worker recorded the increments that loaded a sampled value (%d consecutive values in every %d, spread over the whole count; at most %d per worker and trial; reading the clock twice in each widens its window); ", m.Mode, m.RecordWindow, m.RecordMask+1, m.Recorded)
		} else {
			fmt.Fprintf(&b, "\n%s: each worker recorded all its %s (reading the clock twice in each widens its window); ", m.Mode, plural.Count(m.Recorded, "increment", "increments"))
		}
		switch {
		case m.WitnessesFound == 0 && m.Lost > 0:
			more := "try a larger --record, or --yield"
			if m.Yield {
				more = "try a larger --record"
			}
			fmt.Fprintf(&b, "no lost update happened among them (the %s fell outside the sampled values: %s)\n", plural.Count(m.Lost, "lost one", "lost ones"), more)
		case m.WitnessesFound == 0:
			fmt.Fprintf(&b, "no lost update among them\n")
		default:
			fmt.Fprintf(&b, "they prove %s lost in %s, %d timed and %d untimed", plural.Count(m.WitnessedLost, "update", "updates"), plural.Count(m.WitnessesFound, "witness", "witnesses"), m.WitnessesTimed, m.WitnessesFound-m.WitnessesTimed)
			if len(m.Witnesses) < m.WitnessesFound {
				fmt.Fprintf(&b, "; the first %d", len(m.Witnesses))
			}
			b.WriteString(":\n")
			b.WriteString("  (" + timedNote + ")\n")
			for _, wi := range m.Witnesses {
				if trials > 1 {
					fmt.Fprintf(&b, "  trial %d: ", wi.Trial)
				} else {
					b.WriteString("  ")
				}
				fmt.Fprintf(&b, "%-9s %s\n", witnessKind(wi), wi.Text)
				if wi.Replay != "" {
					fmt.Fprintf(&b, "    replay: %s\n", wi.Replay)
				}
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func pct(p float64) string {
	switch {
	case p == 0:
		return "0%"
	case p < 0.1:
		return fmt.Sprintf("%.3f%%", p)
	default:
		return fmt.Sprintf("%.1f%%", p)
	}
}

func nsPerOp(ns float64) string {
	switch {
	case ns >= 100:
		return fmt.Sprintf("%.0f", ns)
	case ns >= 10:
		return fmt.Sprintf("%.1f", ns)
	default:
		return fmt.Sprintf("%.2f", ns)
	}
}

func rate(r float64) string {
	switch {
	case r >= 1e9:
		return fmt.Sprintf("%.2fG", r/1e9)
	case r >= 1e6:
		return fmt.Sprintf("%.1fM", r/1e6)
	case r >= 1e3:
		return fmt.Sprintf("%.1fk", r/1e3)
	default:
		return fmt.Sprintf("%.0f", r)
	}
}

// timedNote is the one line under the witnesses that says what their
// marks mean.
const timedNote = "[timed]: the clocks show every load before every store; [untimed]: the clocks do not order the accesses (a store waited unseen, or a stale store set the counter back), yet the values prove the loss: a serial count never reads one value twice"

// witnessKind is a witness's mark in the text: [timed] or [untimed].
func witnessKind(w Witness) string {
	if w.Timed {
		return "[timed]"
	}
	return "[untimed]"
}

// workers is "2 worker processes", "1 worker process", "3 threads in one
// worker process".
func workers(unit string, n int) string {
	if unit == UnitThread {
		return plural.Count(n, "thread", "threads") + " in one worker process"
	}
	return plural.Count(n, "worker process", "worker processes")
}

// usedCPUs are the CPUs the workers were pinned to: worker i gets
// cpus[i % len(cpus)], so with fewer workers than CPUs only the first ones.
func usedCPUs(cpus []int, procs int) []int {
	if procs < len(cpus) {
		cpus = slices.Clone(cpus[:procs])
		slices.Sort(cpus)
		return slices.Compact(cpus)
	}
	return cpus
}

// renderScheduled writes a scheduled run: the step table, then expected,
// actual and lost.
func renderScheduled(b *strings.Builder, m *ModeResult) {
	fmt.Fprintf(b, "race, scheduled: %s, %s × %s", m.Mode, workers(m.Unit, m.Procs), plural.Count(m.Iters, "increment", "increments"))
	if m.Schedule != "" {
		fmt.Fprintf(b, ", --schedule %s", m.Schedule)
	}
	if m.Seed != nil {
		fmt.Fprintf(b, " --seed %d", *m.Seed)
	}
	b.WriteString("\n")
	fmt.Fprintf(b, "lock: %s\n\n", m.Lock)
	_ = conduct.WriteTable(b, m.Steps, true)
	b.WriteString("\n")
	if m.Stopped {
		var at []string
		for _, n := range m.Next {
			switch {
			case n.Step == "":
				at = append(at, n.Worker+" finished")
			case n.Blocked:
				at = append(at, n.Worker+" blocked in "+n.Step)
			default:
				at = append(at, n.Worker+" at "+n.Step)
			}
			if n.Holds != "" {
				at[len(at)-1] += " (holds " + n.Holds + ")"
			}
		}
		fmt.Fprintf(b, "stopped after the schedule: %s\n", strings.Join(at, ", "))
		fmt.Fprintf(b, "increments completed %d, counter %d, lost so far %d\n", m.Expected, m.Actual, m.Lost)
		return
	}
	fmt.Fprintf(b, "expected %d, actual %d, lost %d", m.Expected, m.Actual, m.Lost)
	if m.Broken {
		b.WriteString(" FAIL: a safe mode lost updates")
	}
	b.WriteString("\n")
	fmt.Fprintf(b, "%s\n", m.Explanation)
	if m.Stuck {
		b.WriteString("every unfinished worker was blocked at one point: no step could move\n")
	}
}
