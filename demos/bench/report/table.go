package report

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ipcplay/ipcplay/demos/bench"
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
		bound = fmt.Sprintf("%d messages per run", s.Count)
	}
	pin := "not pinned"
	if len(s.CPUs) == 2 {
		pin = fmt.Sprintf("sender on CPU %d, receiver on CPU %d", s.CPUs[0], s.CPUs[1])
	}
	fmt.Fprintf(w, "ipcplay bench: %d cells, %s, warm-up %s, %d run(s) each (median shown); %d CPUs, %s; took %s\n",
		len(res.Results), bound, time.Duration(s.WarmupNs), s.Repeat, s.NumCPU, pin, time.Duration(res.WallNs).Round(time.Millisecond))
	if s.Fault != "" {
		fmt.Fprintf(w, "fault injection: %s (one message in a hundred damaged on purpose)\n", s.Fault)
	}
	notes := map[string]string{}
	for _, g := range groups(res.Results) {
		m := metricFor(o.Sort, g.pattern)
		rows := append([]bench.Row(nil), g.rows...)
		sort.SliceStable(rows, func(a, b int) bool { return m.better(m.value(rows[a]), m.value(rows[b])) })
		best := m.value(rows[0])
		lat := "round trip"
		if g.pattern == bench.Stream {
			lat = "one-way, sampled"
		}
		fmt.Fprintf(w, "\n%s %s: latency %s; sorted by %s, * = best\n", g.pattern, sizeLabel(g.size), lat, m.Desc)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		spread := rows[0].Repeats > 1
		width := len("transport")
		for _, r := range rows {
			width = max(width, len(r.Transport))
		}
		head := fmt.Sprintf("  %-*s\tmsgs/s\tMB/s\tp50\tp99\tp99.9\tcpu/msg\tctx/msg\tvs best\t", width, "transport")
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
			line := fmt.Sprintf("%s %-*s\t%s\t%s\t%s\t%s\t%s\t%s\t%.2f\t%s\t", mark, width, r.Transport, rate(r.MsgsPerS), mbps(r.MBPerS),
				dur(r.Latency.P50), dur(r.Latency.P99), dur(r.Latency.P999), dur(int64(r.CPUNsPerMsg)), r.CtxSwitchesPerMsg, ratio)
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
		}
		if err := tw.Flush(); err != nil {
			return err
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
	fmt.Fprintln(w, "\ncpu/msg and ctx/msg add up both ends (getrusage of each worker); a spinning end burns CPU while it waits.")
	fmt.Fprintln(w, "pingpong: a message is a round trip (msgs/s = round trips per second; MB/s counts the payload one way).")
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

func check(r bench.Row) string {
	if !r.Bad() {
		return "ok"
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
	return strings.Join(parts, " ")
}

// ANSI escapes of the same length: bold, and back to normal.
const (
	bold  = "\x1b[1m"
	plain = "\x1b[0m"
)

// sizeLabel writes a message size: "64 B", "4 KiB", "1 MiB".
func sizeLabel(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

// dur writes nanoseconds with three significant digits: 812ns, 4.21µs, 13.2ms.
func dur(ns int64) string {
	if ns <= 0 {
		return "-"
	}
	v := float64(ns)
	units := []string{"ns", "µs", "ms", "s"}
	i := 0
	for v >= 1000 && i < len(units)-1 {
		v /= 1000
		i++
	}
	return sig3(v) + units[i]
}

// rate writes a count per second: 812, 23.4k, 1.20M.
func rate(v float64) string {
	switch {
	case v >= 1e6:
		return sig3(v/1e6) + "M"
	case v >= 1e3:
		return sig3(v/1e3) + "k"
	}
	return sig3(v)
}

func mbps(v float64) string {
	if v >= 100 {
		return fmt.Sprintf("%.0f", v)
	}
	return sig3(v)
}

func sig3(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}
