package race

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ipcplay/ipcplay/ipc"
	"github.com/ipcplay/ipcplay/shm"
)

func TestCPUList(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []int
		back string
	}{
		{"0", []int{0}, "0"},
		{"0,1", []int{0, 1}, "0,1"},
		{"0-3,6", []int{0, 1, 2, 3, 6}, "0-3,6"},
		{" 2 , 4-5", []int{2, 4, 5}, "2,4,5"},
	} {
		got, err := ParseCPUList(tc.in)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("ParseCPUList(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
		if s := FormatCPUList(got); s != tc.back {
			t.Errorf("FormatCPUList(%v) = %q, want %q", got, s, tc.back)
		}
	}
	for _, bad := range []string{"x", "1-", "-1", "3-1", "0,,1", "1.5", "0-100000"} {
		if _, err := ParseCPUList(bad); !ipc.IsUsage(err) {
			t.Errorf("ParseCPUList(%q): %v, want a usage error", bad, err)
		}
	}
}

func TestDefaults(t *testing.T) {
	p, err := DecodeParams(json.RawMessage(`{"procs":2,"iters":10}`), ipc.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if p.Unit != UnitProcess || p.Shm != "memfd" || p.Trials != 1 || !p.undo() || p.Record != 0 ||
		!slices.Equal(p.Modes, Modes(UnitProcess)) {
		t.Errorf("defaults: %+v", p)
	}
	p, err = DecodeParams(json.RawMessage(`{"procs":2,"iters":10,"modes":["unsafe","all"],"unit":"thread","explain":1}`), ipc.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Modes, Modes(UnitThread)) || p.Record != 10 {
		t.Errorf("modes %v record %d: want every thread mode once, records capped at iters", p.Modes, p.Record)
	}
}

func TestLayout(t *testing.T) {
	for _, same := range []bool{false, true} {
		l := newLayout(5, same, 3)
		items := []int{l.counter(), l.started(), l.unnamed(), l.mutex()}
		for i, off := range items {
			if off%l.Line != 0 || (i > 0 && off-items[i-1] < 64) {
				t.Errorf("header item %d at %d", i, off)
			}
		}
		for i := 0; i < 5; i++ {
			off := l.tally(i)
			if off%8 != 0 || off < l.mutex()+l.Line || off+8 > l.traceBase() {
				t.Errorf("tally %d at %d (trace at %d)", i, off, l.traceBase())
			}
			if !same && off%shm.CacheLineSize != 0 {
				t.Errorf("tally %d at %d shares a cache line", i, off)
			}
		}
		if l.trace(4)+3*recordSize != l.Size {
			t.Errorf("size %d, last record ends at %d", l.Size, l.trace(4)+3*recordSize)
		}
	}
}

// nanotime must be CLOCK_MONOTONIC: the witnesses compare timestamps of
// different processes.
func TestNanotimeIsClockMonotonic(t *testing.T) {
	for i := 0; i < 10; i++ {
		var a, b unix.Timespec
		unix.ClockGettime(unix.CLOCK_MONOTONIC, &a)
		n := nanotime()
		unix.ClockGettime(unix.CLOCK_MONOTONIC, &b)
		if n < a.Nano() || n > b.Nano() {
			t.Fatalf("nanotime %d outside [%d, %d]", n, a.Nano(), b.Nano())
		}
	}
}

func TestProgressEvents(t *testing.T) {
	e := newEngine(t)
	raw, _ := json.Marshal(Params{Modes: []string{ModeAtomic, ModeFutex}, Procs: 2, Iters: 1000, Trials: 2})
	var mu sync.Mutex
	var last ipc.Event
	n := 0
	_, err := e.Run(context.Background(), ipc.RunRequest{Experiment: Name, Params: raw}, func(ev ipc.Event) {
		if ev.Type == "progress" {
			mu.Lock()
			last, n = ev, n+1
			mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 4 || last.Total != 2*2*2*1000 || last.Done != last.Total {
		t.Errorf("%d progress events, last %+v", n, last)
	}
}

// A safe mode that loses an update in any trial is broken, whatever the
// median says, and the table says so.
func TestSummarizeBrokenSafeMode(t *testing.T) {
	p := &Params{Procs: 2, Iters: 100}
	mr := &ModeResult{Mode: ModeSysVSem, Unit: UnitProcess, Procs: 2, Iters: 100, Expected: 200, Safe: true}
	summarize(mr, []trialOut{{actual: 200, elapsed: 10}, {actual: 199, lost: 1, elapsed: 30}, {actual: 200, elapsed: 20}}, p)
	if !mr.Broken || mr.Lost != 0 || mr.Trials.Lossy != 1 || mr.Trials.LostMax != 1 || mr.ElapsedNs != 20 || mr.NsPerOp != 0.1 {
		t.Fatalf("%+v", mr)
	}
	var b bytes.Buffer
	if err := Render(&b, &Result{Kind: Kind, CPUs: 2, Results: []ModeResult{*mr}}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "sysv-sem is a safe mode but lost updates in 1 of 3 trials") {
		t.Errorf("render:\n%s", b.String())
	}
}
