package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ipcplay/ipcplay/ipc"
	"github.com/ipcplay/ipcplay/ipc/ipctest"
	"github.com/ipcplay/ipcplay/ipc/mq"
)

func warmup(d time.Duration) *int64 {
	n := int64(d)
	return &n
}

// TestEveryTransportEndToEnd moves verified messages through every
// transport, both patterns, two sizes, in separate worker processes.
func TestEveryTransportEndToEnd(t *testing.T) {
	e := newEngine(t)
	const count = 300
	res, _, err := runBench(t, e, Params{Sizes: []int{64, 4096}, Count: count, WarmupNs: warmup(0), Repeat: 2})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	seen := map[string]bool{}
	for _, r := range res.Results {
		seen[r.Transport+"/"+r.Pattern] = true
		if r.Bad() {
			t.Errorf("%s %s %d: lost %d corrupt %d reordered %d", r.Transport, r.Pattern, r.Size, r.Lost, r.Corrupt, r.Reordered)
		}
		if r.Messages != count || r.Bytes != count*int64(r.Size) || r.ElapsedNs <= 0 || r.MsgsPerS <= 0 || r.Repeats != 2 || r.Spread == nil {
			t.Errorf("%s %s %d: %+v", r.Transport, r.Pattern, r.Size, r)
		}
		if r.Latency.P50 <= 0 || r.Latency.Min > r.Latency.P50 || r.Latency.P50 > r.Latency.P99 || r.Latency.P99 > r.Latency.Max {
			t.Errorf("%s %s %d: latency %+v", r.Transport, r.Pattern, r.Size, r.Latency)
		}
		if r.CPUNsPerMsg <= 0 || r.SenderCPUNsPerMsg+r.ReceiverCPUNsPerMsg <= 0 {
			t.Errorf("%s %s %d: no CPU time measured: %+v", r.Transport, r.Pattern, r.Size, r)
		}
		wantKind := map[string]string{PingPong: "round_trip", Stream: "one_way_sampled"}[r.Pattern]
		if r.LatencyKind != wantKind {
			t.Errorf("%s %s: latency kind %q", r.Transport, r.Pattern, r.LatencyKind)
		}
		if r.Transport == "eventfd" && (r.Size != 8 || r.Note == "") {
			t.Errorf("eventfd row: %+v", r)
		}
	}
	for _, name := range TransportNames() {
		for _, pat := range []string{PingPong, Stream} {
			if name == "eventfd" && pat == Stream {
				continue
			}
			if !seen[name+"/"+pat] && !skippedAsUnavailable(res, name) {
				t.Errorf("no result for %s %s", name, pat)
			}
		}
	}
	if !slices.ContainsFunc(res.Skipped, func(s Skip) bool { return s.Transport == "eventfd" && s.Pattern == Stream }) {
		t.Errorf("eventfd stream not listed as skipped: %+v", res.Skipped)
	}
}

// skippedAsUnavailable reports whether the run skipped transport name
// because the system lacks it (POSIX queues in some sandboxes).
func skippedAsUnavailable(res *Result, name string) bool {
	return slices.ContainsFunc(res.Skipped, func(s Skip) bool {
		return s.Transport == name && strings.Contains(s.Reason, "unavailable")
	})
}

// TestLargeMessages covers sizes beyond the socket and pipe buffers.
func TestLargeMessages(t *testing.T) {
	e := newEngine(t)
	res, _, err := runBench(t, e, Params{
		Transports: []string{"shm", "shm-sem", "unix-stream", "unix-dgram", "unix-seqpacket", "pipe", "tcp"},
		Sizes:      []int{1 << 20}, Count: 20, WarmupNs: warmup(0),
	})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if len(res.Results) != 14 {
		t.Errorf("%d results, want 14", len(res.Results))
	}
}

// TestFaultsAreCounted damages one message in a hundred on purpose and
// checks that the receiver's counts see it and the run fails.
func TestFaultsAreCounted(t *testing.T) {
	e := newEngine(t)
	transports := []string{"shm", "pipe", "unix-dgram", "sysv-msgq", "eventfd"}
	for _, fault := range []string{"corrupt", "drop", "reorder"} {
		t.Run(fault, func(t *testing.T) {
			tr := transports
			if fault == "corrupt" {
				tr = tr[:4] // an eventfd has no payload to corrupt
			}
			res, _, err := runBench(t, e, Params{Transports: tr, Sizes: []int{256}, Count: 300, WarmupNs: warmup(0), Fault: fault})
			if err == nil || !strings.Contains(err.Error(), "damaged in transit") {
				t.Fatalf("run error %v, want damaged messages", err)
			}
			if res == nil {
				t.Fatal("no result with the error")
			}
			for _, r := range res.Results {
				// Messages 50, 150 and 250 are damaged; a corrupt ping is
				// counted again when its echo comes back.
				var want [3]int64
				switch fault {
				case "corrupt":
					want[1] = 3
					if r.Pattern == PingPong {
						want[1] = 6
					}
				case "drop":
					want[0] = 3
				case "reorder":
					want[2] = 3
				}
				if got := [3]int64{r.Lost, r.Corrupt, r.Reordered}; got != want {
					t.Errorf("%s %s: lost/corrupt/reordered = %v, want %v", r.Transport, r.Pattern, got, want)
				}
			}
		})
	}
}

// TestBadParamsCreateNothing: every refused parameter is a usage error,
// returned before the run makes anything.
func TestBadParamsCreateNothing(t *testing.T) {
	e := newEngine(t)
	made := queueCount()
	lim := ipc.DefaultLimits()
	sysv, _ := mq.ReadSysVLimits()
	for _, tc := range []struct {
		p    Params
		want string
	}{
		{Params{Transports: []string{"carrier-pigeon"}}, "--transport"},
		{Params{Transports: []string{"all", "shm"}}, "--transport"},
		{Params{Pattern: "broadcast"}, "--pattern"},
		{Params{Sizes: []int{0}}, "--size"},
		{Params{Sizes: []int{16}}, "--size"},
		{Params{Sizes: []int{MaxSize + 1}}, "--size"},
		{Params{Transports: []string{"sysv-msgq"}, Sizes: []int{sysv.MsgMax + 1}}, "kernel.msgmax"},
		{Params{Transports: []string{"posix-mq"}, Sizes: []int{1 << 20}}, "msgsize_max"},
		{Params{Transports: []string{"unix-dgram"}, Sizes: []int{MaxSize}}, "net.core.wmem_max"},
		{Params{Transports: []string{"eventfd"}, Pattern: Stream}, "eventfd"},
		{Params{DurationNs: 1}, "--duration"},
		{Params{DurationNs: int64(2 * time.Hour)}, "--duration"},
		{Params{DurationNs: int64(time.Second), Count: 10}, "--count"},
		{Params{Count: -1}, "--count"},
		{Params{WarmupNs: warmup(-time.Second)}, "--warmup"},
		{Params{Repeat: -1}, "--repeat"},
		{Params{Repeat: MaxRepeat + 1}, "--repeat"},
		{Params{CPUs: []int{0}}, "--cpus"},
		{Params{CPUs: []int{0, 4096}}, "--cpus"},
		{Params{Fault: "melt"}, "--fault"},
		{Params{DurationNs: int64(time.Hour)}, "--run-timeout"},
		{Params{Transports: []string{"shm", "pipe"}, Spin: []int{100}}, "--spin"},
		{Params{Transports: []string{"shm-adaptive"}, Spin: []int{-1}}, "--spin"},
		{Params{Transports: []string{"shm-adaptive"}, Spin: []int{MaxSpin + 1}}, "--spin"},
		{Params{Transports: []string{"shm-adaptive"}, Spin: make([]int, MaxSpins+1)}, "--spin"},
		{Params{RatePerSec: 0.5}, "--rate"},
		{Params{RatePerSec: MaxRate + 1}, "--rate"},
		{Params{Load: "io"}, "--load"},
		{Params{Load: "cpu:0"}, "--load"},
		{Params{Load: "cpu:x"}, "--load"},
		{Params{Load: "cpu:" + strconv.Itoa(MaxHogs+1)}, "--load"},
	} {
		raw, _ := json.Marshal(tc.p)
		err := Validate(raw, lim)
		if !ipc.IsUsage(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: Validate = %v, want a usage error naming %s", tc.p, err, tc.want)
		}
		if _, _, err := runBench(t, e, tc.p); !ipc.IsUsage(err) {
			t.Errorf("%+v: Run = %v, want a usage error", tc.p, err)
		}
	}
	// The shm rings against a small --max-shm.
	small := lim
	small.MaxShmBytes = 1 << 20
	raw, _ := json.Marshal(Params{Transports: []string{"shm"}, Sizes: []int{1 << 20}})
	if err := Validate(raw, small); !ipc.IsUsage(err) || !strings.Contains(err.Error(), "--max-shm") {
		t.Errorf("shm above --max-shm: %v", err)
	}
	if runs := e.Runs(); len(runs) != 0 {
		t.Errorf("refused requests became runs: %+v", runs)
	}
	if n := queueCount(); n != made {
		t.Errorf("%d message queues were created", n-made)
	}
}

// TestAllSkipsWhatDoesNotFit: under "all", sizes beyond a transport's
// limit are skipped with the limit named, not refused.
func TestAllSkipsWhatDoesNotFit(t *testing.T) {
	sysv, err := mq.ReadSysVLimits()
	if err != nil {
		t.Skip(err)
	}
	p := Params{Sizes: []int{64, sysv.MsgMax * 2}, Count: 1}.withDefaults()
	raw, _ := json.Marshal(p)
	if err := Validate(raw, ipc.DefaultLimits()); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	cells, skips := plan(p, ipc.DefaultLimits())
	var found bool
	for _, s := range skips {
		if s.Transport == "sysv-msgq" && s.Size == sysv.MsgMax*2 && strings.Contains(s.Reason, "kernel.msgmax") {
			found = true
		}
	}
	if !found {
		t.Errorf("sysv-msgq at %d not skipped with kernel.msgmax: %+v", sysv.MsgMax*2, skips)
	}
	for _, c := range cells {
		if c.t.name == "sysv-msgq" && c.size > sysv.MsgMax {
			t.Errorf("cell %s planned", c)
		}
	}
	if n := len(slices.DeleteFunc(cells, func(c cell) bool { return c.t.name != "eventfd" })); n != 1 {
		t.Errorf("%d eventfd cells, want 1 (its size is fixed)", n)
	}
}

// TestCancelLeavesNothing cancels runs in the middle of a cell of each
// transport with named or kernel objects and checks that they are gone.
func TestCancelLeavesNothing(t *testing.T) {
	e := newEngine(t)
	for _, tr := range []string{"shm-sem", "posix-mq", "sysv-msgq", "fifo", "unix-dgram"} {
		t.Run(tr, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			raw, _ := json.Marshal(Params{Transports: []string{tr}, Pattern: PingPong, Sizes: []int{64, 128}, DurationNs: int64(20 * time.Second), WarmupNs: warmup(0)})
			var once sync.Once
			onEvent := func(ev ipc.Event) {
				if ev.Type == "progress" && ev.Done == 0 { // in the first cell
					once.Do(func() { time.AfterFunc(500*time.Millisecond, cancel) })
				}
			}
			start := time.Now()
			rr, err := e.Run(ctx, ipc.RunRequest{Experiment: Experiment.Name, Params: raw}, onEvent)
			if !errors.Is(err, context.Canceled) && (rr == nil || rr.State != ipc.StateCancelled) {
				t.Fatalf("run: %v (%+v), want cancelled", err, rr)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("the cancelled run took %s", d)
			}
			if rr != nil && len(rr.Result) > 0 {
				var res Result
				if err := json.Unmarshal(rr.Result, &res); err != nil || len(res.Results) != 0 {
					t.Errorf("partial result: %v %s", err, rr.Result)
				}
			}
			assertNoObjects(t, e, "")
		})
	}
}

func TestProgressCoversTheMatrix(t *testing.T) {
	e := newEngine(t)
	raw, _ := json.Marshal(Params{Transports: []string{"pipe", "eventfd"}, Sizes: []int{64, 128}, Count: 10, WarmupNs: warmup(0)})
	var mu sync.Mutex
	var events []ipc.Event
	_, err := e.Run(context.Background(), ipc.RunRequest{Experiment: Experiment.Name, Params: raw}, func(ev ipc.Event) {
		if ev.Type == "progress" {
			mu.Lock()
			events = append(events, ev)
			mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	// The floor first; then pipe: 2 sizes x 2 patterns; eventfd: one
	// pingpong cell.
	if len(events) == 0 || events[0].Message != "floor" || events[0].Done != 0 {
		t.Fatalf("progress events do not start with the floor: %+v", events)
	}
	events = events[1:]
	if len(events) != 6 || events[0].Total != 5 || events[5].Done != 5 || !strings.Contains(events[0].Message, "pingpong") {
		t.Errorf("progress events: %+v", events)
	}
	for i, ev := range events[:5] {
		if ev.Done != int64(i) {
			t.Errorf("event %d: %+v", i, ev)
		}
	}
}

func TestHistogramBuckets(t *testing.T) {
	e := newEngine(t)
	res, _, err := runBench(t, e, Params{Transports: []string{"pipe"}, Sizes: []int{64}, Count: 500, WarmupNs: warmup(0), Histogram: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Results {
		var n int64
		for i, b := range r.Histogram {
			n += b.Count
			if i > 0 && b.LeNs <= r.Histogram[i-1].LeNs {
				t.Errorf("%s: buckets out of order: %+v", r.Pattern, r.Histogram)
			}
		}
		want := r.Messages
		if r.Pattern == Stream {
			want = (r.Messages + sampleEvery - 1) / sampleEvery
		}
		if n != want || r.Histogram[len(r.Histogram)-1].LeNs < r.Latency.Max {
			t.Errorf("%s: %d samples in the buckets, want %d; last bound %d, max %d", r.Pattern, n, want, r.Histogram[len(r.Histogram)-1].LeNs, r.Latency.Max)
		}
	}
}

func TestPinnedCPUs(t *testing.T) {
	e := newEngine(t)
	allowed := ipctest.AllowedCPUs(t)
	pairs := [][]int{{allowed[0], allowed[0]}} // both ends on one CPU
	if len(allowed) >= 2 {
		pairs = append(pairs, allowed[:2])
	} else {
		t.Logf("one end per CPU not checked: this process may use only CPU %d", allowed[0])
	}
	for _, cpus := range pairs {
		res, _, err := runBench(t, e, Params{Transports: []string{"shm-spin", "pipe"}, Pattern: PingPong, Sizes: []int{64}, Count: 200, WarmupNs: warmup(0), CPUs: cpus})
		if err != nil {
			t.Fatalf("--cpus %v: %v", cpus, err)
		}
		if len(res.Results) != 2 || fmt.Sprint(res.Settings.CPUs) != fmt.Sprint(cpus) {
			t.Errorf("--cpus %v: %+v", cpus, res)
		}
	}
}

func TestPlanOrderAndDuplicates(t *testing.T) {
	p := Params{Transports: []string{"pipe", "eventfd", "pipe", "eventfd"}, Sizes: []int{4096, 64, 64}, Count: 1}.withDefaults()
	cells, skips := plan(p, ipc.DefaultLimits())
	var got []string
	for _, c := range cells {
		got = append(got, c.String())
	}
	want := []string{"pipe pingpong 64", "eventfd pingpong 8", "pipe pingpong 4K", "pipe stream 64", "pipe stream 4K"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("cells %q, want %q", got, want)
	}
	if len(skips) != 1 || skips[0].Transport != "eventfd" || skips[0].Pattern != Stream {
		t.Errorf("skips %+v", skips)
	}
}

func TestParseAndFormatSizes(t *testing.T) {
	got, err := ParseSizes("64, 4K,64KiB,1M,2kb,1G")
	if err != nil || fmt.Sprint(got) != "[64 4096 65536 1048576 2048 1073741824]" {
		t.Errorf("ParseSizes = %v, %v", got, err)
	}
	for _, bad := range []string{"", "x", "4X", "-1", "3G", "1.5K"} {
		if _, err := ParseSizes(bad); !ipc.IsUsage(err) {
			t.Errorf("ParseSizes(%q) = %v, want a usage error", bad, err)
		}
	}
	for n, want := range map[int]string{64: "64", 4096: "4K", 65536: "64K", 1 << 20: "1M", 1000: "1000", 1536: "1536"} {
		if s := FormatSize(n); s != want {
			t.Errorf("FormatSize(%d) = %q, want %q", n, s, want)
		}
	}
}

func TestCombineTakesTheMedianRun(t *testing.T) {
	c := cell{t: transports[0], pattern: PingPong, size: 64, rowSize: 64}
	ph := func(msgs int64, p50 int64, lost int64) phase {
		return phase{Messages: msgs, ElapsedNs: 1e9, CPUNs: msgs * 1000, CtxSwitches: msgs, Lost: lost, Latency: &Latency{P50: p50}}
	}
	snd := []phase{ph(300, 30, 0), ph(100, 10, 1), ph(200, 20, 0)}
	rcv := []phase{ph(300, 0, 0), ph(100, 0, 0), ph(200, 0, 0)}
	r := combine(c, snd, rcv)
	if r.Messages != 200 || r.Latency.P50 != 20 || r.Repeats != 3 || r.Lost != 1 || r.CPUNsPerMsg != 2000 || r.CtxSwitchesPerMsg != 2 {
		t.Errorf("row %+v", r)
	}
	if sp := r.Spread; sp == nil || sp.MsgsPerSecMin != 100 || sp.MsgsPerSecMax != 300 || sp.Relative != 1 || sp.P50Min != 10 || sp.P50Max != 30 {
		t.Errorf("spread %+v", r.Spread)
	}
}

// findWorker returns the pid of this process's worker child of kind, or 0.
func findWorker(kind string) int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if !strings.Contains(string(cmdline), "worker\x00"+kind+"\x00") {
			continue
		}
		stat, _ := os.ReadFile("/proc/" + e.Name() + "/stat")
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(os.Getpid()) {
			return pid
		}
	}
	return 0
}

// TestKilledWorkerFailsTheCell: a worker killed in the middle of a cell
// makes that cell fail (exit 1, naming the signal) while the rest of the
// matrix runs, and its queue is still removed.
func TestKilledWorkerFailsTheCell(t *testing.T) {
	e := newEngine(t)
	raw, _ := json.Marshal(Params{Transports: []string{"sysv-msgq", "pipe"}, Pattern: PingPong, Sizes: []int{64}, DurationNs: int64(3 * time.Second), WarmupNs: warmup(0)})
	var once sync.Once
	killed := make(chan int, 1)
	onEvent := func(ev ipc.Event) {
		if ev.Type == "progress" && ev.Done == 0 {
			once.Do(func() {
				go func() {
					deadline := time.Now().Add(5 * time.Second)
					for time.Now().Before(deadline) {
						if pid := findWorker("bench-sysv-msgq-receiver"); pid > 0 {
							time.Sleep(200 * time.Millisecond)
							syscall.Kill(pid, syscall.SIGKILL)
							killed <- pid
							return
						}
						time.Sleep(10 * time.Millisecond)
					}
					killed <- 0
				}()
			})
		}
	}
	rr, err := e.Run(context.Background(), ipc.RunRequest{Experiment: Experiment.Name, Params: raw}, onEvent)
	if pid := <-killed; pid == 0 {
		t.Fatal("the receiver worker was not found")
	}
	if err == nil || !strings.Contains(err.Error(), "SIGKILL") {
		t.Fatalf("run error %v, want the killed worker named", err)
	}
	var res Result
	if rr == nil || json.Unmarshal(rr.Result, &res) != nil || len(res.Failed) != 1 || len(res.Results) != 1 || res.Results[0].Transport != "pipe" {
		t.Fatalf("result: %+v", res)
	}
	assertNoObjects(t, e, "")
}

// TestFloorInEveryRun: a run measures the floor on its CPUs before its
// cells, and every row carries its p50 over the floor that applies.
func TestFloorInEveryRun(t *testing.T) {
	cpus, err := allowedCPUs()
	if err != nil {
		t.Fatal(err)
	}
	pins := [][]int{nil, {cpus[0], cpus[0]}}
	if len(cpus) >= 2 {
		pins = append(pins, cpus[:2])
	}
	e := newEngine(t)
	for _, pin := range pins {
		res, _, err := runBench(t, e, Params{Transports: []string{"shm-spin", "pipe"}, Sizes: []int{64, 4096}, Count: 200, WarmupNs: warmup(0), CPUs: pin})
		if err != nil {
			t.Fatalf("--cpus %v: %v", pin, err)
		}
		f := res.Floor
		if f == nil || res.FloorError != "" {
			t.Fatalf("--cpus %v: no floor (%s)", pin, res.FloorError)
		}
		want := pin
		if want == nil {
			want, _ = floorCPUs(Params{})
		}
		if !slices.Equal(f.CPUs, want) || f.Pinned != (pin != nil) || f.SameCPU != (want[0] == want[1]) {
			t.Errorf("--cpus %v: floor %+v", pin, f)
		}
		if f.C2CRttNs <= 0 || f.ElapsedNs <= 0 || len(f.Memcpy) != 2 || f.Memcpy[0].Size != 64 || f.Memcpy[1].Size != 4096 ||
			f.MemcpyGBps != f.Memcpy[1].GBps || f.Memcpy[0].GBps <= 0 {
			t.Errorf("--cpus %v: floor %+v", pin, f)
		}
		for _, r := range res.Results {
			if want := float64(r.Latency.P50) / f.For(r.Pattern, r.Size); r.XFloor != want || r.XFloor <= 0 {
				t.Errorf("%s %s %d: x_floor %v, want %v", r.Transport, r.Pattern, r.Size, r.XFloor, want)
			}
		}
	}
}

func TestFloorFor(t *testing.T) {
	f := &Floor{C2CRttNs: 400, Memcpy: []MemcpyAt{{Size: 64, GBps: 16}, {Size: 65536, GBps: 32}}}
	for _, tc := range []struct {
		pattern string
		size    int
		want    float64
	}{
		{PingPong, 64, 400 + 2*4},
		{Stream, 64, 200 + 4},
		{PingPong, 65536, 400 + 2*2048},
		{Stream, 65536, 200 + 2048},
	} {
		if got := f.For(tc.pattern, tc.size); got != tc.want {
			t.Errorf("For(%s, %d) = %v, want %v", tc.pattern, tc.size, got, tc.want)
		}
	}
	var none *Floor
	if none.For(PingPong, 64) != 0 {
		t.Error("a missing floor applies")
	}
}

// TestSpinSweep: --spin gives shm-adaptive one verified row per budget,
// in both patterns.
func TestSpinSweep(t *testing.T) {
	e := newEngine(t)
	res, _, err := runBench(t, e, Params{Transports: []string{"shm-adaptive", "shm"}, Sizes: []int{64, 4096}, Count: 300, WarmupNs: warmup(0), Spin: []int{0, 100, 100, 10000}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Settings.Spin, []int{0, 100, 10000}) {
		t.Errorf("settings spin %v", res.Settings.Spin)
	}
	got := map[string]int{}
	for _, r := range res.Results {
		if r.Bad() || r.Messages != 300 {
			t.Errorf("%s %s %d: %+v", r.Label(), r.Pattern, r.Size, r)
		}
		if (r.Transport == "shm-adaptive") != (r.Spin != nil) {
			t.Errorf("%s: spin %v", r.Transport, r.Spin)
		}
		got[r.Label()]++
	}
	for _, l := range []string{"shm-adaptive spin=0", "shm-adaptive spin=100", "shm-adaptive spin=10000", "shm"} {
		if got[l] != 4 {
			t.Errorf("%s: %d rows, want 4 (2 patterns x 2 sizes): %v", l, got[l], got)
		}
	}
}

// TestOpenLoopRate: --rate paces the sender; every message is still
// verified, every one of them carries its schedule (the stream histogram
// counts them all), and the rows say so.
func TestOpenLoopRate(t *testing.T) {
	e := newEngine(t)
	const count = 400
	res, _, err := runBench(t, e, Params{Transports: []string{"shm", "shm-spin", "pipe"}, Sizes: []int{64}, Count: count, WarmupNs: warmup(0), RatePerSec: 20000, Histogram: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Settings.RatePerSec != 20000 || len(res.Results) != 6 {
		t.Fatalf("%+v", res)
	}
	for _, r := range res.Results {
		if r.Bad() || r.Messages != count || r.RatePerSec != 20000 {
			t.Errorf("%s %s: %+v", r.Transport, r.Pattern, r)
		}
		// 400 messages due 50µs apart take at least 399 intervals.
		if r.ElapsedNs < int64(399*50*time.Microsecond) {
			t.Errorf("%s %s: %d messages in %s: not paced at 20000/s", r.Transport, r.Pattern, count, r.Elapsed())
		}
		var n int64
		for _, b := range r.Histogram {
			n += b.Count
		}
		if n != count {
			t.Errorf("%s %s: %d latencies, want one per message (%d)", r.Transport, r.Pattern, n, count)
		}
		want := map[string]string{PingPong: "round_trip_from_schedule", Stream: "one_way_from_schedule"}[r.Pattern]
		if r.LatencyKind != want {
			t.Errorf("%s %s: latency kind %q", r.Transport, r.Pattern, r.LatencyKind)
		}
	}
}

// TestLoadHogs: --load starts hogs pinned to the run's CPUs, the messages
// still arrive intact, and no hog outlives the run.
func TestLoadHogs(t *testing.T) {
	cpus, err := allowedCPUs()
	if err != nil {
		t.Fatal(err)
	}
	pin := []int{cpus[0], cpus[len(cpus)-1]}
	e := newEngine(t)
	var sawHog atomic.Bool
	raw, _ := json.Marshal(Params{Transports: []string{"shm", "pipe"}, Sizes: []int{64}, Count: 300, WarmupNs: warmup(0), CPUs: pin, Load: "cpu:3"})
	rr, err := e.Run(context.Background(), ipc.RunRequest{Experiment: Experiment.Name, Params: raw}, func(ev ipc.Event) {
		if ev.Type == "progress" && findWorker(hogKind) != 0 {
			sawHog.Store(true)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	var res Result
	if err := json.Unmarshal(rr.Result, &res); err != nil {
		t.Fatal(err)
	}
	if res.Settings.Load != "cpu:3" || len(res.Settings.LoadCPUs) != 3 || res.Settings.LoadCPUs[0] != pin[0] || len(res.Results) != 4 {
		t.Errorf("settings %+v, %d rows", res.Settings, len(res.Results))
	}
	for _, r := range res.Results {
		if r.Bad() || r.Messages != 300 {
			t.Errorf("%s %s: %+v", r.Transport, r.Pattern, r)
		}
	}
	if !sawHog.Load() {
		t.Error("no hog ran during the measurement")
	}
	if pid := findWorker(hogKind); pid != 0 {
		t.Errorf("hog %d outlived the run", pid)
	}
	hogs, err := Params{Load: "cpu", CPUs: []int{cpus[0], cpus[0]}}.hogs()
	if err != nil || !slices.Equal(hogs, []int{cpus[0]}) {
		t.Errorf("--load cpu --cpus %d,%d: hogs on %v (%v)", cpus[0], cpus[0], hogs, err)
	}
}
