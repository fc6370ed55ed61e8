package report

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/ipcplay/ipcplay/demos/bench"
)

// Text shows what the run judged: a suspect floor in the header and on
// every ratio, each row's warnings marked in the check column and spelt
// out under its table, and only the notes that apply to what ran.
func TestTextShowsTheJudgement(t *testing.T) {
	res := sample()
	res.Floor = &bench.Floor{CPUs: []int{0, 1}, C2CRttNs: 131_000, RoundsNs: []int64{131_000, 150_000}, Pinned: true,
		Memcpy: []bench.MemcpyAt{{Size: 64, GBps: 22.7}, {Size: 4096, GBps: 142}}, Suspect: true, SuspectReason: "a cache-line round trip ... 131µs was measured"}
	for i := range res.Results {
		res.Results[i].XFloor = 0.05
	}
	res.Results[1].Warnings = []bench.Warning{{Code: "scheduling_tail", Text: "p99 1.88s is 600x the p50: the receiver was preempted 412 times by the --load hogs"}}
	var b bytes.Buffer
	if err := Text(&b, res, Options{}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"floor on CPUs 0 and 1: cache-line round trip 131µs (the least median of 2 rounds); copying one message 64 B 2.82ns, 4 KiB 28.8ns (142 GB/s)",
		"floor SUSPECT: a cache-line round trip ... 131µs was measured. The xFLOOR ratios are marked '?'",
		"0.05x?",
		"ok !",
		"  ! shm: p99 1.88s is 600x the p50: the receiver was preempted 412 times by the --load hogs",
		"pingpong: a message is a round trip",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "memcpy 24 B") || strings.Contains(out, "64 B 22.7 GB/s") {
		t.Errorf("bandwidth of a few-byte copy shown:\n%s", out)
	}

	// A stream-only run: no pingpong note; a trusted floor: no marks.
	res = sample()
	var rows []bench.Row
	for _, r := range res.Results {
		if r.Pattern == bench.Stream {
			rows = append(rows, r)
		}
	}
	res.Results = rows
	res.Floor = &bench.Floor{CPUs: []int{0, 1}, C2CRttNs: 200, RoundsNs: []int64{200}}
	b.Reset()
	if err := Text(&b, res, Options{}); err != nil {
		t.Fatal(err)
	}
	out = b.String()
	if strings.Contains(out, "pingpong") || strings.Contains(out, "SUSPECT") || strings.Contains(out, "x?") || strings.Contains(out, "ok !") {
		t.Errorf("a stream-only run with a trusted floor:\n%s", out)
	}
}

func TestRatesPrintedExactly(t *testing.T) {
	res := sample()
	res.Settings.RatePerSec = 10_000_000
	var b bytes.Buffer
	if err := Text(&b, res, Options{}); err != nil {
		t.Fatal(err)
	}
	if out := b.String(); !strings.Contains(out, "open loop at 10000000 msgs/s") || !strings.Contains(out, "start + i/10000000 s") || strings.Contains(out, "e+") {
		t.Errorf("rate:\n%s", out)
	}
}

func spinRow(spin int, p50 int64, cpu, ctx float64) bench.Row {
	r := row("shm-adaptive", bench.PingPong, 64, 1e5, p50, cpu)
	r.Spin, r.CtxSwitchesPerMsg = &spin, ctx
	return r
}

// TestSpinConclusions: the sweep's sentence is the one its numbers say.
func TestSpinConclusions(t *testing.T) {
	for _, tc := range []struct {
		name string
		rows []bench.Row
		want []string
		not  []string
	}{
		{"spinning bought latency with CPU", []bench.Row{spinRow(0, 76_700, 62_000, 2.08), spinRow(1000, 108, 663, 0), spinRow(10000, 109, 90_000, 0)},
			[]string{"spin=10000 against spin=0: p50 109ns against 76.7µs", "bought latency", "without a futex sleep", "paid for it in CPU"}, []string{"slower"}},
		{"spinning used less CPU too", []bench.Row{spinRow(0, 76_700, 62_000, 2.08), spinRow(10000, 109, 684, 0)},
			[]string{"bought latency", "even used less CPU"}, nil},
		// The fault: fixed prose said spinning wins while the spin row
		// was slower.
		{"spinning was slower", []bench.Row{spinRow(0, 40_000, 50_000, 2), spinRow(10000, 90_000, 120_000, 1.9)},
			[]string{"larger budget was slower in this run"}, []string{"bought latency"}},
		{"within noise", []bench.Row{spinRow(0, 40_000, 50_000, 2), spinRow(10000, 45_000, 52_000, 2)},
			[]string{"No clear difference in latency", "nor in CPU", "differences under 25%"}, []string{"bought", "slower"}},
		{"within noise, more CPU", []bench.Row{spinRow(0, 40_000, 50_000, 2), spinRow(10000, 41_000, 90_000, 2)},
			[]string{"No clear difference in latency", "burnt more CPU"}, nil},
		{"one budget", []bench.Row{spinRow(2000, 400, 900, 0)}, nil, []string{"shm-adaptive"}},
	} {
		got := strings.Join(SpinConclusions(tc.rows), "\n")
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: %q lacks %q", tc.name, got, w)
			}
		}
		for _, w := range tc.not {
			if strings.Contains(got, w) {
				t.Errorf("%s: %q says %q", tc.name, got, w)
			}
		}
	}
}

// TestDecadeTicks: the plot's log axes are labelled in readable units,
// never in exponent notation, only inside the range, and always with at
// least two labels.
func TestDecadeTicks(t *testing.T) {
	for _, tc := range []struct {
		lo, hi float64
		label  func(float64) string
		want   []string
	}{
		{1350, 3.76e9, fmtNs, []string{"10µs", "100µs", "1ms", "10ms", "100ms", "1s"}}, // a loaded run's ns
		{20, 80, fmtNs, []string{"20ns", "50ns"}},                                      // no power of ten inside
		{0.05, 2e6, fmtRate, []string{"0.1", "1", "10", "100", "1000", "10k", "100k", "1M"}},
	} {
		var labels []string
		for _, tk := range (decadeTicks{label: tc.label}).Ticks(tc.lo, tc.hi) {
			if tk.Value < tc.lo || tk.Value > tc.hi {
				t.Errorf("[%v, %v]: tick %v outside", tc.lo, tc.hi, tk.Value)
			}
			if tk.Label != "" {
				labels = append(labels, tk.Label)
			}
		}
		if strings.Join(labels, " ") != strings.Join(tc.want, " ") {
			t.Errorf("[%v, %v]: labels %v, want %v", tc.lo, tc.hi, labels, tc.want)
		}
	}
	if (decadeTicks{label: fmtNs}).Ticks(0, 1) != nil || math.IsNaN(1) {
		t.Error("a range from 0 has ticks")
	}
}

// TestTextFollowsWhatWasMeasured: the floor line of a run pinned to one
// CPU says context switches, not a cache line; the rate summary lists
// exactly the rows that fell behind (bench.Row.BehindRate).
func TestTextFollowsWhatWasMeasured(t *testing.T) {
	res := sample()
	res.Settings.CPUs = []int{0, 0}
	res.Floor = &bench.Floor{CPUs: []int{0, 0}, C2CRttNs: 2250, RoundsNs: []int64{2250}, SameCPU: true, Pinned: true}
	res.Settings.RatePerSec = 20000
	for i := range res.Results {
		res.Results[i].RatePerSec, res.Results[i].MsgsPerS = 20000, 19990
	}
	res.Results[0].MsgsPerS = 18664
	var b bytes.Buffer
	if err := Text(&b, res, Options{}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"floor on CPU 0 shared: round trip through two context switches", "two processes pinned to one CPU",
		"the switches' round trip + one copy each way",
		"below 95% of the rate of 20000 msgs/s", "(warning below_rate): " + res.Results[0].Label() + " " + res.Results[0].Pattern} {
		if !strings.Contains(out, want) {
			t.Errorf("lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "cache line bounced") || strings.Contains(out, "(20.0k msgs/s)") {
		t.Errorf("one CPU described as a cache line, or a row that kept up listed:\n%s", out)
	}
}
