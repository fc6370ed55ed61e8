package lab

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// The parallel row states its threshold (a row at 1.06× must not read as
// fitting "up to 2×" while failing), counts CPUs used as evidence of
// running in parallel, and is not judged when the load average says the
// CPUs were taken before the run.
func TestParallelJudge(t *testing.T) {
	ok, expected, notJudged := parallelJudge(2, 2, "0.10 0.20 0.30 1/100 1")
	if !strings.Contains(expected, "≥1.3×") || !strings.Contains(expected, "up to 2×") || !strings.Contains(expected, "2 CPUs") {
		t.Errorf("expected %q: want the threshold ≥1.3× and the bound up to 2× on 2 CPUs", expected)
	}
	if notJudged != "" {
		t.Errorf("quiet machine: not judged %q", notJudged)
	}
	for _, tc := range []struct {
		speedup, cpus float64
		want          bool
	}{
		{1.06, 1.02, false}, // took turns: neither faster nor on two CPUs
		{1.06, 1.9, true},   // on two CPUs at once, each slower
		{1.5, 1.0, true},
	} {
		if got := ok(&ParallelismRow{Speedup: tc.speedup, CPUsUsed: tc.cpus}); got != tc.want {
			t.Errorf("speed-up %.2f× using %.2f CPUs: ok %v, want %v", tc.speedup, tc.cpus, got, tc.want)
		}
	}
	if _, _, notJudged = parallelJudge(2, 2, "2.50 1.00 0.50 3/100 1"); !strings.Contains(notJudged, "not judged: the load average before the run, 2.50, is at least the 2 CPUs") {
		t.Errorf("busy machine: not judged %q", notJudged)
	}
	if _, expected, _ = parallelJudge(1, 1, "0.0"); !strings.Contains(expected, "below 1.5×") {
		t.Errorf("one CPU: expected %q, want its threshold", expected)
	}
	if got := ioExpected(10); got != "≥5× (up to 10×): the waits overlap" {
		t.Errorf("ioExpected(10) = %q", got)
	}

	// Rendered: the CPUs used, and a row not judged says so.
	doc, _ := json.Marshal(ParallelismResult{Header: newHeader("parallelism", "why"), CPUs: 2, LoadAvg: "2.50", NotJudged: "parallel speed-up not judged: busy",
		Rows: []ParallelismRow{{Work: "cpu", Label: "goroutines, GOMAXPROCS=2", ElapsedNs: 1e9, CPUNs: 19e8, CPUsUsed: 1.9, Speedup: 1.06, Expected: expected, Matches: true, NotJudged: true}}})
	var b bytes.Buffer
	if err := renderParallelism(&b, doc); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"CPUS USED", "1.90", "not judged", "(parallel speed-up not judged: busy)"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("rendered table lacks %q:\n%s", want, b.String())
		}
	}
}

// idleNs reads the idle time of this process's CPUs, and it never goes
// back (what the not-judged check subtracts).
func TestIdleNs(t *testing.T) {
	a, ok := idleNs()
	if !ok {
		t.Skip("/proc/stat not readable here")
	}
	// Only that it reads: how much idle time accrues depends on the
	// machine's load, which no test controls.
	if a <= 0 {
		t.Errorf("idle %d ns since boot", a)
	}
}
