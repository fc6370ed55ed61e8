package bench

import (
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipcplay/ipcplay/ipc"
)

// The judging rules on made-up measurements: no timing of a real run
// decides a test here.

func judgedRow(transport, pattern string, p50, p99 time.Duration, samples int64) Row {
	return Row{Transport: transport, Pattern: pattern, Size: 64, Messages: samples, ElapsedNs: int64(500 * time.Millisecond),
		Latency: Latency{P50: int64(p50), P99: int64(p99), P999: int64(p99)}, LatencySamples: samples, Warnings: []Warning{}}
}

func codes(ws []Warning) []string {
	var out []string
	for _, w := range ws {
		out = append(out, w.Code)
	}
	return out
}

func TestFloorDoubt(t *testing.T) {
	ok := judgedRow("pipe", PingPong, 3*time.Microsecond, 30*time.Microsecond, 10000)
	ok.XFloor = 13
	for _, tc := range []struct {
		name  string
		floor Floor
		rows  []Row
		want  []string // in the reason; none: not suspect
	}{
		{"normal pair", Floor{C2CRttNs: 237, RoundsNs: []int64{237, 240}, Pinned: true}, []Row{ok}, nil},
		{"at the plausible limit", Floor{C2CRttNs: MaxPlausibleC2CNs, Pinned: true}, nil, nil},
		// The fault a user saw: a floor of 131µs under load, no warning.
		{"measured under load", Floor{C2CRttNs: 131_000, RoundsNs: []int64{131_000, 140_000, 135_000}, Pinned: true}, []Row{ok},
			[]string{"131µs (the least median of 3 rounds) was measured", "machine was busy"}},
		{"one CPU, context switches", Floor{C2CRttNs: 4_000, SameCPU: true, Pinned: true}, nil, nil},
		{"one CPU, busy", Floor{C2CRttNs: 80_000, SameCPU: true, Pinned: true}, nil, []string{"two context switches on one CPU", "80.0µs was measured"}},
		{"a row below the floor, pinned", Floor{C2CRttNs: 300, Pinned: true},
			[]Row{ok, {Transport: "shm-spin", Pattern: PingPong, Size: 64, XFloor: 0.91}},
			[]string{"1 row came in below it", "shm-spin pingpong 64 B (0.91x)", "moved the vCPUs"}},
		{"rows below the floor, not pinned", Floor{C2CRttNs: 300},
			[]Row{{Transport: "a", XFloor: 0.5}, {Transport: "b", XFloor: 0.6}, {Transport: "c", XFloor: 0.7}, {Transport: "d", XFloor: 0.8}, {Transport: "e", XFloor: 1}},
			[]string{"4 rows came", "and 1 more", "closer pair of CPUs"}},
	} {
		got := floorDoubt(&tc.floor, tc.rows)
		if len(tc.want) == 0 && got != "" {
			t.Errorf("%s: suspect (%s), want trusted", tc.name, got)
		}
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: reason %q lacks %q", tc.name, got, w)
			}
		}
	}
}

func TestRowWarnings(t *testing.T) {
	load := Settings{DurationNs: int64(500 * time.Millisecond), Load: "cpu"}
	quiet := Settings{DurationNs: int64(500 * time.Millisecond)}
	// The fault a user saw: under --load, pipe's p99 of 1.88s inside a
	// 500ms run, reported ok.
	hogged := judgedRow("pipe", PingPong, 40*time.Microsecond, 1880*time.Millisecond, 60)
	hogged.ElapsedNs = int64(1900 * time.Millisecond)
	hogged.ReceiverInvoluntaryCtx = 412
	spin := judgedRow("shm-spin", PingPong, 400*time.Nanosecond, 900*time.Nanosecond, 1_000_000)
	spin.CtxSwitchesPerMsg, spin.SenderInvoluntaryCtx, spin.ReceiverInvoluntaryCtx = 0.52, 300, 200
	calm := spin
	calm.CtxSwitchesPerMsg = 0.004
	for _, tc := range []struct {
		name        string
		row         Row
		s           Settings
		neverSleeps bool
		want        []string // codes
		text        []string
	}{
		{"a clean row", judgedRow("pipe", PingPong, 5*time.Microsecond, 50*time.Microsecond, 100_000), quiet, false, nil, nil},
		{"hogged past the run", hogged, load, false, []string{"few_samples", "tail_longer_than_run"},
			[]string{"only 60 latencies in 1.90s", "p99 1.88s is longer than the whole run was meant to take, 500ms (it overran to 1.90s)",
				"the receiver was preempted 412 times by the --load hogs"}},
		{"99 samples", judgedRow("pipe", PingPong, time.Microsecond, 2*time.Microsecond, 99), quiet, false, []string{"few_samples"}, []string{"p99 needs at least 100"}},
		{"100 samples", judgedRow("pipe", PingPong, time.Microsecond, 2*time.Microsecond, 100), quiet, false, []string{"few_samples"}, []string{"p99.9 needs at least 1000"}},
		{"1000 samples", judgedRow("pipe", PingPong, time.Microsecond, 2*time.Microsecond, 1000), quiet, false, nil, nil},
		{"stream samples", judgedRow("pipe", Stream, time.Microsecond, 2*time.Microsecond, 500), quiet, false, []string{"few_samples"}, []string{"one stream message in 16"}},
		{"tail 100x", judgedRow("shm", PingPong, 10*time.Microsecond, time.Millisecond, 10000), quiet, false, []string{"scheduling_tail"},
			[]string{"100x the p50", "neither end was preempted"}},
		{"tail 99x", judgedRow("shm", PingPong, 10*time.Microsecond, 990*time.Microsecond, 10000), quiet, false, nil, nil},
		{"count-bound run", func() Row {
			r := judgedRow("shm", PingPong, 10*time.Microsecond, 3*time.Second, 10000)
			r.ElapsedNs, r.SenderInvoluntaryCtx = int64(2*time.Second), 7
			return r
		}(), Settings{Count: 10000}, false, []string{"tail_longer_than_run"}, []string{"the sender was preempted 7 times by another runnable process"}},
		{"spinner switched, not pinned", spin, quiet, true, []string{"spinner_descheduled"},
			[]string{"switched 0.52 times per message", "sender 300, receiver 200", "not pinned"}},
		{"spinner switched, one CPU", spin, Settings{DurationNs: int64(time.Second), CPUs: []int{1, 1}}, true, []string{"spinner_descheduled"}, []string{"pinned to CPU 1"}},
		{"spinner switched, hogs", spin, load, true, []string{"spinner_descheduled"}, []string{"--load hogs"}},
		{"spinner quiet", calm, quiet, true, nil, nil},
		{"spinner's tail", func() Row {
			r := spin
			r.Latency.P99 = int64(127 * time.Microsecond)
			return r
		}(), quiet, true, []string{"scheduling_tail", "spinner_descheduled"},
			[]string{"p99 127µs is 318x the p50 400ns", "the receiver was switched out 200 times and the sender 300 times (preempted by another runnable process"}},
		{"a sleeper switching is normal", spin, quiet, false, nil, nil},
	} {
		got := rowWarnings(tc.row, tc.s, tc.neverSleeps)
		if got == nil || !slices.Equal(codes(got), tc.want) {
			t.Errorf("%s: warnings %v, want %v: %+v", tc.name, codes(got), tc.want, got)
			continue
		}
		all := ""
		for _, w := range got {
			all += w.Text + "\n"
		}
		for _, w := range tc.text {
			if !strings.Contains(all, w) {
				t.Errorf("%s: %q lacks %q", tc.name, all, w)
			}
		}
	}
}

// TestJudgeFillsTheDocument: judge marks the floor, gives every row its
// warnings and lists them all, named, in the document; JSON keeps the
// lists (empty, not null) and the floor's verdict.
func TestJudgeFillsTheDocument(t *testing.T) {
	slow := judgedRow("shm-spin", PingPong, 340*time.Nanosecond, 5*time.Millisecond, 80)
	slow.XFloor = 0.8
	res := &Result{Settings: Settings{DurationNs: int64(500 * time.Millisecond)},
		Floor:   &Floor{C2CRttNs: 131_000, Pinned: true, RoundsNs: []int64{131_000}},
		Results: []Row{judgedRow("pipe", PingPong, 3*time.Microsecond, 9*time.Microsecond, 100000), slow}}
	judge(res)
	if !res.Floor.Suspect || !strings.Contains(res.Floor.SuspectReason, "131µs") || !strings.Contains(res.Floor.SuspectReason, "shm-spin pingpong 64 B (0.80x)") {
		t.Errorf("floor %+v", res.Floor)
	}
	if len(res.Results[0].Warnings) != 0 || !slices.Equal(codes(res.Results[1].Warnings), []string{"few_samples", "scheduling_tail"}) {
		t.Errorf("row warnings %v / %v", res.Results[0].Warnings, res.Results[1].Warnings)
	}
	if !slices.Equal(codes(res.Warnings), []string{"floor_suspect", "few_samples", "scheduling_tail"}) ||
		res.Warnings[1].Row != "shm-spin pingpong 64 B" || res.Results[1].Warnings[0].Row != "" {
		t.Errorf("document warnings %+v", res.Warnings)
	}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"suspect":true`, `"suspect_reason":"a cache-line`, `"warnings":[{"code":"floor_suspect"`, `"warnings":[]`, `"latency_samples":80`, `"rounds_ns":[131000]`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("JSON lacks %s: %s", want, b)
		}
	}

	clean := &Result{Floor: &Floor{C2CRttNs: 200, Suspect: true, SuspectReason: "stale"}, Results: []Row{judgedRow("pipe", PingPong, 3*time.Microsecond, 9*time.Microsecond, 100000)}}
	judge(clean)
	if clean.Floor.Suspect || clean.Floor.SuspectReason != "" || clean.Warnings == nil || len(clean.Warnings) != 0 {
		t.Errorf("a clean run judged %+v, %+v", clean.Floor, clean.Warnings)
	}
}

func TestDur(t *testing.T) {
	for ns, want := range map[int64]string{0: "0s", 7: "7ns", 999: "999ns", 1000: "1.00µs", 126_527: "127µs", 4_210: "4.21µs", 13_240_000: "13.2ms", 1_880_000_000: "1.88s", 999_600: "1.00ms"} {
		if got := Dur(ns); got != want {
			t.Errorf("Dur(%d) = %q, want %q", ns, got, want)
		}
	}
}

func TestCompare(t *testing.T) {
	a, b := Row{Latency: Latency{P50: 1000}}, Row{Latency: Latency{P50: 1240}}
	if CompareP50(a, b) != 0 || CompareP50(b, a) != 0 {
		t.Error("24% apart in one run is a clear difference")
	}
	b.Latency.P50 = 1250
	if CompareP50(a, b) != -1 || CompareP50(b, a) != 1 {
		t.Error("25% apart in one run is no clear difference")
	}
	// With repeats, ranges decide: far apart medians whose runs overlap
	// are no clear difference; close ones that do not overlap are.
	a.Spread, b.Spread = &Spread{P50Min: 500, P50Max: 3000}, &Spread{P50Min: 1100, P50Max: 1400}
	if CompareP50(a, b) != 0 {
		t.Error("overlapping ranges compared as different")
	}
	a.Spread, b.Spread = &Spread{P50Min: 990, P50Max: 1010}, &Spread{P50Min: 1040, P50Max: 1060}
	if CompareP50(a, b) != -1 || CompareP50(b, a) != 1 {
		t.Error("separate ranges compared as equal")
	}
	if CompareValues(0, 5) != 0 || CompareValues(5, 0) != 0 {
		t.Error("a missing value compared")
	}
}

// TestCheckRate: one check and one message for --rate, every bad value
// refused as a usage error naming the range, integers written as such.
func TestCheckRate(t *testing.T) {
	for _, v := range []float64{1, 2.5, 20000, MaxRate} {
		if err := CheckRate(v); err != nil {
			t.Errorf("%v refused: %v", v, err)
		}
	}
	for v, shown := range map[float64]string{0: "0", -5: "-5", 0.5: "0.5", 1e8: "100000000", 20000001: "20000001",
		math.NaN(): "NaN", math.Inf(1): "+Inf"} {
		err := CheckRate(v)
		var u *ipc.UsageError
		if !errors.As(err, &u) {
			t.Errorf("%v: %v, want a usage error", v, err)
			continue
		}
		want := "--rate " + shown + ": must be between 1 and 10000000 messages per second (leave --rate out for a closed loop)"
		if err.Error() != want {
			t.Errorf("%v: %q, want %q", v, err, want)
		}
	}
	// Validate says the same for a rate in the params; 0 there is the
	// closed loop (no --rate).
	raw, _ := json.Marshal(Params{Transports: []string{"shm"}, RatePerSec: 1e8})
	if err := Validate(raw, ipc.DefaultLimits()); err == nil || !strings.Contains(err.Error(), "--rate 100000000: must be between 1 and 10000000") {
		t.Errorf("Validate: %v", err)
	}
	raw, _ = json.Marshal(Params{Transports: []string{"shm"}})
	if err := Validate(raw, ipc.DefaultLimits()); err != nil {
		t.Errorf("Validate without a rate: %v", err)
	}
}

// TestNotesAndCopiesApplyToWhatRan: a transport's note goes to the rows
// of the pattern it is about, and the floor copies nothing for eventfd.
func TestNotesAndCopiesApplyToWhatRan(t *testing.T) {
	dgram, _ := lookupTransport("unix-dgram")
	if dgram.noteFor(PingPong) != "" || dgram.noteFor(Stream) == "" {
		t.Errorf("unix-dgram's note (a full receiver) on pingpong %q, stream %q", dgram.noteFor(PingPong), dgram.noteFor(Stream))
	}
	spin, _ := lookupTransport("shm-spin")
	if spin.noteFor(PingPong) == "" || spin.noteFor(Stream) == "" {
		t.Error("shm-spin's note is missing")
	}
	ev, _ := lookupTransport("eventfd")
	pipe, _ := lookupTransport("pipe")
	if got := uniqueSizes([]cell{{t: ev, size: MinSize}, {t: pipe, size: 4096}, {t: pipe, size: 64}}); !slices.Equal(got, []int{64, 4096}) {
		t.Errorf("memcpy sizes %v, want the payload sizes 64, 4096 (not eventfd's)", got)
	}
	f := &Floor{C2CRttNs: 400, Memcpy: []MemcpyAt{{Size: 64, GBps: 16}}}
	if got := f.For(PingPong, 0); got != 400 {
		t.Errorf("floor without a payload %v, want the c2c 400", got)
	}
}

// TestBelowRate: an open-loop row that did not keep up with --rate is a
// warning of its own (row and document, so the check column shows '!'),
// with the threshold stated and the latency and xFLOOR said to be the
// backlog's; at the threshold and in a closed loop, no warning.
func TestBelowRate(t *testing.T) {
	open := func(got, rate float64) Row {
		r := judgedRow("shm", PingPong, 164*time.Millisecond, 290*time.Millisecond, 100_000)
		r.MsgsPerS, r.RatePerSec, r.XFloor = got, rate, 617691
		return r
	}
	res := &Result{Settings: Settings{DurationNs: int64(300 * time.Millisecond), RatePerSec: 20000},
		Results: []Row{open(18664, 20000), open(19000, 20000), open(19999, 20000)}}
	judge(res)
	w := res.Results[0].Warnings
	if len(w) == 0 || w[0].Code != "below_rate" {
		t.Fatalf("93%% of the rate: %+v", w)
	}
	for _, want := range []string{"did not keep up with the rate: 18.7k msgs/s is 93% of --rate 20000 (below 95% counts as behind)",
		"p50 164ms", "grow with the run's length", "nor is its xFLOOR 617691x"} {
		if !strings.Contains(w[0].Text, want) {
			t.Errorf("%q lacks %q", w[0].Text, want)
		}
	}
	if slices.Contains(codes(res.Results[1].Warnings), "below_rate") || slices.Contains(codes(res.Results[2].Warnings), "below_rate") {
		t.Errorf("95%% and more of the rate flagged: %+v", res.Results[1:])
	}
	if len(res.Warnings) == 0 || res.Warnings[0].Code != "below_rate" || res.Warnings[0].Row != "shm pingpong 64 B" {
		t.Errorf("document warnings %+v", res.Warnings)
	}
	// The tail of a row that fell behind is the backlog's, not a CPU's.
	tail := judgedRow("pipe", PingPong, 10*time.Microsecond, 5*time.Millisecond, 100_000)
	tail.MsgsPerS, tail.RatePerSec = 19_400, 1e6
	got := rowWarnings(tail, Settings{DurationNs: int64(time.Second)}, false)
	if !slices.Equal(codes(got), []string{"below_rate", "scheduling_tail"}) || !strings.Contains(got[1].Text, "waited behind the backlog") {
		t.Errorf("behind the rate: %+v", got)
	}
	closed := judgedRow("pipe", PingPong, 5*time.Microsecond, 50*time.Microsecond, 100_000)
	closed.MsgsPerS = 10
	if got := rowWarnings(closed, Settings{}, false); len(got) != 0 {
		t.Errorf("a closed loop judged against a rate: %+v", got)
	}
}

// TestTailCauseFollowsTheEvidence: the cause a tail warning gives comes
// from what was measured (voluntary and involuntary switches against
// the messages in the tail, --load hogs, the load average), is called
// likely, and rules nothing out that the evidence does not.
func TestTailCauseFollowsTheEvidence(t *testing.T) {
	quiet := Settings{DurationNs: int64(time.Second), NumCPU: 2, LoadAvg1: 0.4}
	// The fault a user saw: shm-adaptive --spin 100, the tail blamed on 15
	// preemptions while the ends slept on the futex thousands of times.
	adaptive := judgedRow("shm-adaptive", PingPong, 500*time.Nanosecond, 163*time.Microsecond, 100_000)
	adaptive.CtxSwitchesPerMsg, adaptive.SenderVoluntaryCtx, adaptive.ReceiverVoluntaryCtx = 0.78, 39_000, 38_985
	adaptive.ReceiverInvoluntaryCtx = 15
	// Six hogs on two CPUs: shm's woken ends wait in the run queue, which
	// counts no involuntary switch.
	hogged := judgedRow("shm", PingPong, 10*time.Microsecond, 2*time.Millisecond, 50_000)
	hogged.SenderVoluntaryCtx, hogged.ReceiverVoluntaryCtx = 50_000, 50_000
	busy := Settings{DurationNs: int64(time.Second), NumCPU: 2, LoadAvg1: 6.3}
	loadHogs := Settings{DurationNs: int64(time.Second), NumCPU: 2, Load: "cpu", LoadCPUs: []int{0, 1}}
	preempted := judgedRow("pipe", PingPong, 10*time.Microsecond, 2*time.Millisecond, 10_000)
	preempted.ReceiverInvoluntaryCtx, preempted.SenderInvoluntaryCtx = 1, 0
	many := judgedRow("pipe", PingPong, 10*time.Microsecond, 2*time.Millisecond, 10_000)
	many.ReceiverInvoluntaryCtx = 400
	for _, tc := range []struct {
		name    string
		row     Row
		s       Settings
		want    []string
		notWant []string
	}{
		{"adaptive's own sleeps", adaptive, quiet,
			[]string{"likely causes: the ends went to sleep 77985 times (voluntary context switches, 0.78 per message): shm-adaptive falls back to a futex sleep",
				"the receiver was preempted 15 times by another runnable process", "fewer than the 1000 messages beyond p99, so preemption made part of the tail at most"},
			[]string{"waited for a CPU", "likely a large part"}},
		{"load average above the CPUs", hogged, busy,
			[]string{"the load average was 6.3 on 2 CPUs", "waited in the run queue", "shm sleeps on a futex"},
			[]string{"neither end was preempted", "hypervisor"}},
		{"--load hogs", hogged, loadHogs,
			[]string{"the --load hogs (2 hogs) kept the CPUs busy", "run queue"},
			[]string{"neither end was preempted"}},
		{"one preemption", preempted, quiet,
			[]string{"the receiver was preempted 1 time by", "fewer than the 100 messages beyond p99"}, []string{"1 times"}},
		{"preempted as often as the tail", many, quiet,
			[]string{"likely causes: the receiver was preempted 400 times by another runnable process (the other end on the same CPU, another program): likely a large part of the tail"}, nil},
		{"no evidence", judgedRow("shm", PingPong, 10*time.Microsecond, 2*time.Millisecond, 10_000), quiet,
			[]string{"neither end was preempted (no involuntary context switches) and neither went to sleep", "load average was 0.4 on 2 CPUs", "likely the kernel's or the hypervisor's"}, nil},
	} {
		got := rowWarnings(tc.row, tc.s, false)
		if !slices.Contains(codes(got), "scheduling_tail") {
			t.Errorf("%s: no tail warning: %+v", tc.name, got)
			continue
		}
		text := got[len(got)-1].Text
		for _, w := range tc.want {
			if !strings.Contains(text, w) {
				t.Errorf("%s: %q lacks %q", tc.name, text, w)
			}
		}
		for _, w := range tc.notWant {
			if strings.Contains(text, w) {
				t.Errorf("%s: %q says %q", tc.name, text, w)
			}
		}
	}
}

// TestFloorSaysWhatItMeasured: on one CPU the floor is two context
// switches, and its method and description say so, not a cache line.
func TestFloorSaysWhatItMeasured(t *testing.T) {
	one, two := &Floor{SameCPU: true}, &Floor{}
	if strings.Contains(one.How(), "cache line bounced") || !strings.Contains(one.How(), "one CPU") ||
		strings.Contains(floorMethod(true, 10, 100), "cache line bounced") || !strings.Contains(floorMethod(true, 10, 100), "10 rounds of 100 round trips") {
		t.Errorf("one CPU: %q / %q", one.How(), floorMethod(true, 10, 100))
	}
	if !strings.Contains(two.How(), "cache line bounced between two processes pinned to two CPUs") || !strings.Contains(floorMethod(false, 10, 1000), "cache line") {
		t.Errorf("two CPUs: %q / %q", two.How(), floorMethod(false, 10, 1000))
	}
}
