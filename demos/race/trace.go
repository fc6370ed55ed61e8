package race

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
)

// chromeEvent is one entry of the Chrome trace event format ("Trace Event
// Format", the JSON that Perfetto and chrome://tracing open). Times are in
// microseconds, fractional for nanosecond precision.
type chromeEvent struct {
	Name string         `json:"name"`
	Cat  string         `json:"cat,omitempty"`
	Ph   string         `json:"ph"`
	Ts   float64        `json:"ts"`
	Dur  *float64       `json:"dur,omitempty"`
	Pid  int            `json:"pid"`
	Tid  int            `json:"tid"`
	Args map[string]any `json:"args,omitempty"`
}

// WriteChromeTrace writes t as Chrome trace JSON: one process per worker
// process, one thread track per worker, a slice for each worker's run and,
// inside it, one slice per recorded increment, from right after its load
// (t1) to right before its store (t2), named "read v → wrote v+1". The
// increments of a lost-update witness have category "lost-update". Times
// count from the earliest record.
func WriteChromeTrace(w io.Writer, t *Trace) error {
	if t == nil {
		return fmt.Errorf("race: no trace was recorded")
	}
	base := int64(math.MaxInt64)
	for _, tr := range t.Tracks {
		base = min(base, tr.StartNs)
		for _, e := range tr.Events {
			base = min(base, e[2])
		}
	}
	us := func(ns int64) float64 { return float64(ns-base) / 1e3 }
	dur := func(a, b int64) *float64 { d := float64(max(b-a, 0)) / 1e3; return &d }

	bw := bufio.NewWriter(w)
	if _, err := bw.WriteString("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n"); err != nil {
		return err
	}
	first := true
	emit := func(ev chromeEvent) error {
		b, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		if !first {
			bw.WriteString(",\n")
		}
		first = false
		_, err = bw.Write(b)
		return err
	}
	named := map[int]bool{}
	for _, tr := range t.Tracks {
		pid, tid := tr.Pid, tr.Tid
		if !named[pid] {
			named[pid] = true
			name := fmt.Sprintf("%s %s (pid %d)", tr.Mode, tr.Label, pid)
			if tr.Unit == UnitThread {
				name = fmt.Sprintf("%s, threads (pid %d)", tr.Mode, pid)
			}
			if err := emit(chromeEvent{Name: "process_name", Ph: "M", Pid: pid, Tid: tid, Args: map[string]any{"name": name}}); err != nil {
				return err
			}
		}
		if err := emit(chromeEvent{Name: "thread_name", Ph: "M", Pid: pid, Tid: tid, Args: map[string]any{"name": fmt.Sprintf("%s %s trial %d", tr.Mode, tr.Label, tr.Trial)}}); err != nil {
			return err
		}
		if tr.EndNs > tr.StartNs {
			if err := emit(chromeEvent{Name: tr.Mode + " " + tr.Label, Cat: "run", Ph: "X", Ts: us(tr.StartNs), Dur: dur(tr.StartNs, tr.EndNs), Pid: pid, Tid: tid,
				Args: map[string]any{"mode": tr.Mode, "trial": tr.Trial, "worker": tr.Label}}); err != nil {
				return err
			}
		}
		for i, e := range tr.Events {
			ev := chromeEvent{
				Name: fmt.Sprintf("read %d → wrote %d", e[0], e[1]),
				Cat:  "increment",
				Ph:   "X", Ts: us(e[2]), Dur: dur(e[2], e[3]), Pid: pid, Tid: tid,
				Args: map[string]any{"read": e[0], "wrote": e[1], "t1_ns": e[2], "t2_ns": e[3], "seq": i},
			}
			if _, lost := slices.BinarySearch(tr.Lost, i); lost {
				ev.Cat = "lost-update"
				ev.Name += " (in a lost update: another worker read the same value; one of their stores survived)"
			}
			if err := emit(ev); err != nil {
				return err
			}
		}
	}
	if _, err := bw.WriteString("\n]}\n"); err != nil {
		return err
	}
	return bw.Flush()
}
