package report

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ipcplay/ipcplay/demos/bench"
	"github.com/ipcplay/ipcplay/ipc/plural"
)

// Options tune the text output.
type Options struct {
	Sort      string // a metric name, or "auto"
	Color     bool   // ANSI bold for the best rows (a terminal)
	Histogram bool   // a latency histogram under every table
}

// group is the rows of one pattern and size.
type group struct {
	pattern string
	size    int
	rows    []bench.Row
}

// groups splits rows by pattern (pingpong first) and size.
func groups(rows []bench.Row) []group {
	var out []group
	idx := map[string]int{}
	for _, r := range rows {
		k := fmt.Sprintf("%s/%d", r.Pattern, r.Size)
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, group{pattern: r.Pattern, size: r.Size})
		}
		out[i].rows = append(out[i].rows, r)
	}
	sort.SliceStable(out, func(a, b int) bool {
		if out[a].pattern != out[b].pattern {
			return out[a].pattern == bench.PingPong
		}
		return out[a].size < out[b].size
	})
	return out
}

// Text writes the results as one table per pattern and size, each sorted
// by the chosen metric, the best row marked with '*' (bold on a terminal)
// and each row's ratio to it; then notes, skipped and failed cells.
func Text(w io.Writer, res *bench.Result, o Options) error {
	s := res.Settings
	bound := fmt.Sprintf("%s per run", time.Duration(s.DurationNs))
	if s.Count > 0 {
		bound = plural.Count(s.Count, "message", "messages") + " per run"
	}
	pin := "not pinned"
	if len(s.CPUs) == 2 {
		pin = fmt.Sprintf("sender on CPU %d, receiver on CPU %d", s.CPUs[0], s.CPUs[1])
	}
	if s.RatePerSec > 0 {
		bound += fmt.Sprintf(", open loop at %s msgs/s", exact(s.RatePerSec))
	}
	fmt.Fprintf(w, "ipcplay bench: %s, %s, warm-up %s, %s each (median shown); %s, %s; took %s\n",
		plural.Count(len(res.Results), "cell", "cells"), bound, time.Duration(s.WarmupNs), plural.Count(s.Repeat, "run", "runs"), plural.Count(s.NumCPU, "CPU", "CPUs"), pin, time.Duration(res.WallNs).Round(time.Millisecond))
	floorHeader(w, res)
	if s.RatePerSec > 0 {
		fmt.Fprintf(w, "open loop: message i is sent at start + i/%s s whatever came back, and its latency counts from that scheduled time: a stall delays every message queued behind it, which closed-loop ping-pong (the next message only after the last answer) would never send, and so never measure.\n", exact(s.RatePerSec))
	}
	if s.Load != "" {
		cpus := "CPU "
		if len(s.LoadCPUs) != 1 {
			cpus = "CPUs "
		}
		fmt.Fprintf(w, "load: %s on %s%s at the workers' priority during the measurement (stopped with the run).\n", plural.Count(len(s.LoadCPUs), "CPU hog", "CPU hogs"), cpus, joinInts(s.LoadCPUs))
	}
	if s.Fault != "" {
		fmt.Fprintf(w, "fault injection: %s (one message in a hundred damaged on purpose)\n", s.Fault)
	}
	notes := map[string]string{}
	suspect := res.Floor != nil && res.Floor.Suspect
	pingpong := false
	for _, g := range groups(res.Results) {
		m := metricFor(o.Sort, g.pattern)
		rows := append([]bench.Row(nil), g.rows...)
		sort.SliceStable(rows, func(a, b int) bool { return m.better(m.value(rows[a]), m.value(rows[b])) })
		best := m.value(rows[0])
		lat := "round trip"
		switch {
		case rows[0].RatePerSec > 0 && g.pattern == bench.Stream:
			lat = "one-way, every message, from its scheduled send time"
		case rows[0].RatePerSec > 0:
			lat = "round trip from the scheduled send time"
		case g.pattern == bench.Stream:
			lat = "one-way, sampled"
		}
		fmt.Fprintf(w, "\n%s %s: latency %s; sorted by %s, * = best\n", g.pattern, sizeLabel(g.size), lat, m.Desc)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		spread := rows[0].Repeats > 1
		width := len("transport")
		for _, r := range rows {
			width = max(width, len(r.Label()))
		}
		head := fmt.Sprintf("  %-*s\tmsgs/s\tMB/s\tp50\txFLOOR\tp99\tp99.9\tcpu/msg\tctx/msg\tvs best\t", width, "transport")
		if spread {
			head += "spread\t"
		}
		if o.Color { // every line's first cell gets 4 bytes of escape, so the columns stay aligned
			head = plain + head
		}
		fmt.Fprintln(tw, head+"  check")
		for _, r := range rows {
			mark := " "
			if !m.better(best, m.value(r)) { // ties are best too
				mark = "*"
			}
			ratio := "-"
			if q := m.ratio(m.value(r), best); q > 0 {
				ratio = fmt.Sprintf("%.2fx", q)
			}
			xf := "-"
			if r.XFloor > 0 {
				xf = bench.Sig3(r.XFloor) + "x"
				if suspect {
					xf += "?"
				}
			}
			line := fmt.Sprintf("%s %-*s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.2f\t%s\t", mark, width, r.Label(), bench.Rate3(r.MsgsPerS), mbps(r.MBPerS),
				dur(r.Latency.P50), xf, dur(r.Latency.P99), dur(r.Latency.P999), dur(int64(r.CPUNsPerMsg)), r.CtxSwitchesPerMsg, ratio)
			if spread {
				sp := "-"
				if r.Spread != nil {
					sp = fmt.Sprintf("%.0f%%", 100*r.Spread.Relative)
				}
				line += sp + "\t"
			}
			line += "  " + check(r)
			switch {
			case o.Color && mark == "*":
				line = bold + line + plain
			case o.Color:
				line = plain + line
			}
			fmt.Fprintln(tw, line)
			if r.Note != "" {
				notes[r.Transport] = r.Note
			}
			if r.Pattern == bench.PingPong {
				pingpong = true
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		for _, r := range rows {
			for _, wr := range r.Warnings {
				fmt.Fprintf(w, "  ! %s: %s\n", r.Label(), wr.Text)
			}
		}
		if o.Histogram {
			for _, r := range rows {
				Histogram(w, r)
			}
		}
	}
	if len(notes) > 0 {
		fmt.Fprintln(w, "\nnotes:")
		var names []string
		for n := range notes {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintf(w, "  %s: %s\n", n, notes[n])
		}
	}
	if s.RatePerSec > 0 {
		var behind []string
		for _, r := range res.Results {
			if r.BehindRate() {
				behind = append(behind, fmt.Sprintf("%s %s %s (%s msgs/s)", r.Label(), r.Pattern, sizeLabel(r.Size), bench.Rate3(r.MsgsPerS)))
			}
		}
		if len(behind) > 0 {
			fmt.Fprintf(w, "\nbelow %.0f%% of the rate of %s msgs/s, so the backlog, and the latency with it, grew all run long (warning below_rate): %s\n", 100*bench.RateKeptUp, exact(s.RatePerSec), strings.Join(behind, "; "))
		}
	}
	if c := SpinConclusions(res.Results); len(c) > 0 {
		fmt.Fprintln(w)
		for _, line := range c {
			fmt.Fprintln(w, line)
		}
	}
	if len(res.Results) > 0 {
		fmt.Fprintln(w, "\ncpu/msg and ctx/msg add up both ends (getrusage of each worker); a spinning end burns CPU while it waits.")
	}
	if pingpong {
		fmt.Fprintln(w, "pingpong: a message is a round trip (msgs/s = round trips per second; MB/s counts the payload one way).")
	}
	if len(res.Skipped) > 0 {
		fmt.Fprintln(w, "\nskipped:")
		for _, s := range res.Skipped {
			what := s.Transport + " " + s.Pattern
			if s.Size > 0 {
				what += " " + sizeLabel(s.Size)
			}
			fmt.Fprintf(w, "  %s: %s\n", what, s.Reason)
		}
	}
	if len(res.Failed) > 0 {
		fmt.Fprintln(w, "\nfailed:")
		for _, f := range res.Failed {
			fmt.Fprintf(w, "  %s %s %s: %s\n", f.Transport, f.Pattern, sizeLabel(f.Size), f.Error)
		}
	}
	return nil
}

// floorHeader says what the floor is, where it comes from and how long it
// took to measure.
func floorHeader(w io.Writer, res *bench.Result) {
	f, s := res.Floor, res.Settings
	if f == nil {
		if res.FloorError != "" {
			fmt.Fprintf(w, "floor: not measured (%s); xFLOOR is left out\n", res.FloorError)
		}
		return
	}
	where := fmt.Sprintf("CPUs %d and %d", f.CPUs[0], f.CPUs[1])
	what := "cache-line round trip"
	if f.SameCPU {
		where = fmt.Sprintf("CPU %d shared", f.CPUs[0])
		what = "round trip through two context switches (sched_yield)"
	}
	copies := ""
	if len(f.Memcpy) > 0 {
		copies = "; copying one message " + copyTimes(f.Memcpy)
	}
	rounds := ""
	if n := len(f.RoundsNs); n > 1 {
		rounds = fmt.Sprintf(" (the least median of %d rounds)", n)
	}
	fmt.Fprintf(w, "floor on %s: %s %s%s%s; measured in %s (%s)\n",
		where, what, dur(f.C2CRttNs), rounds, copies, time.Duration(f.ElapsedNs).Round(time.Millisecond), f.How())
	if f.Suspect {
		fmt.Fprintf(w, "floor SUSPECT: %s. The xFLOOR ratios are marked '?'; measure again on a quiet machine, pinned with --cpus.\n", f.SuspectReason)
	}
	ran := patternsOf(res)
	if len(ran) == 0 {
		ran = s.Patterns
	}
	var which []string
	rtt := "c2c" // the cache-line round trip; on one CPU, the two switches
	if f.SameCPU {
		rtt = "the switches' round trip"
	}
	if slices.Contains(ran, bench.PingPong) {
		which = append(which, "of a pingpong round trip is "+rtt+" + one copy each way")
	}
	if slices.Contains(ran, bench.Stream) {
		which = append(which, "of a one-way stream latency "+rtt+"/2 + one copy")
	}
	if len(which) > 0 {
		fmt.Fprintf(w, "xFLOOR = p50 / floor; the floor %s.\n", strings.Join(which, ", "))
	}
	if !f.Pinned {
		fmt.Fprintf(w, "not pinned: the floor is per CPU pair (measured on %d,%d) and the ends of each cell may run on other CPUs, or move; pin with --cpus for a floor that applies.\n", f.CPUs[0], f.CPUs[1])
	}
}

// copyTimes writes what a copy of one message costs at each measured
// size: the time (what the floor adds per copy), and the bandwidth where
// the size is large enough for bandwidth to mean something (at a few
// bytes, a copy is a few instructions, not a transfer rate).
func copyTimes(m []bench.MemcpyAt) string {
	var out []string
	for _, c := range m {
		if c.GBps <= 0 {
			continue
		}
		ns := float64(c.Size) / c.GBps
		s := fmt.Sprintf("%s %s", sizeLabel(c.Size), durf(ns))
		if c.Size >= 4096 {
			s += fmt.Sprintf(" (%s GB/s)", bench.Sig3(c.GBps))
		}
		out = append(out, s)
	}
	return strings.Join(out, ", ")
}

// exact writes a rate as the user gave it: an integer without exponent
// (100000000), a fraction as short as it goes (2.5).
func exact(v float64) string { return bench.FormatRate(v) }

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ",")
}

// check is the row's verdict: ok or the damage counts, and "!" when
// the row has warnings (printed under its table).
func check(r bench.Row) string {
	mark := ""
	if len(r.Warnings) > 0 {
		mark = " !"
	}
	if !r.Bad() {
		return "ok" + mark
	}
	var parts []string
	if r.Lost != 0 {
		parts = append(parts, fmt.Sprintf("LOST %d", r.Lost))
	}
	if r.Corrupt != 0 {
		parts = append(parts, fmt.Sprintf("CORRUPT %d", r.Corrupt))
	}
	if r.Reordered != 0 {
		parts = append(parts, fmt.Sprintf("REORDERED %d", r.Reordered))
	}
	return strings.Join(parts, " ") + mark
}

// ANSI escapes of the same length: bold, and back to normal.
const (
	bold  = "\x1b[1m"
	plain = "\x1b[0m"
)

// sizeLabel writes a message size: "64 B", "4 KiB", "1 MiB".
func sizeLabel(n int) string { return bench.SizeLabel(n) }

// dur writes nanoseconds with three significant digits: 812ns, 4.21µs, 13.2ms.
func dur(ns int64) string {
	if ns <= 0 {
		return "-"
	}
	return durf(float64(ns))
}

// durf is dur of a fractional count of nanoseconds: 2.80ns.
func durf(v float64) string {
	if v <= 0 {
		return "-"
	}
	return bench.DurF(v)
}

func mbps(v float64) string {
	if v >= 100 {
		return fmt.Sprintf("%.0f", v)
	}
	return bench.Sig3(v)
}
