package race

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ipcplay/ipcplay/ipc"
	"github.com/ipcplay/ipcplay/ipc/ipctest"
	"github.com/ipcplay/ipcplay/shm"
)

// safeModes are the modes that must count exactly.
func safeModes(unit string) []string {
	var out []string
	for _, m := range Modes(unit) {
		if mi, _ := lookupMode(m); mi.safe {
			out = append(out, m)
		}
	}
	return out
}

func checkExact(t *testing.T, res *Result, modes []string) {
	t.Helper()
	got := byMode(t, res)
	for _, m := range modes {
		r, ok := got[m]
		if !ok {
			t.Errorf("%s: missing from the results", m)
			continue
		}
		if r.Expected != int64(r.Procs)*r.Iters || r.Actual != r.Expected || r.Lost != 0 || r.Trials.Lossy != 0 || r.Broken {
			t.Errorf("%s (%s): expected %d actual %d lost %d, trials %+v", m, r.Unit, r.Expected, r.Actual, r.Lost, r.Trials)
		}
		if r.ElapsedNs <= 0 || r.NsPerOp <= 0 || r.OpsPerSec <= 0 || r.Explanation == "" || r.Lock == "" {
			t.Errorf("%s: incomplete figures %+v", m, r)
		}
	}
}

func TestSafeModesCountExactlyOnEveryBackend(t *testing.T) {
	for _, kind := range shm.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			e := newEngine(t)
			modes := safeModes(UnitProcess)
			res, err := runRace(t, e, Params{Modes: modes, Procs: 3, Iters: 2000, Shm: string(kind), Trials: 2})
			if err != nil {
				t.Fatal(err)
			}
			checkExact(t, res, modes)
		})
	}
}

func TestThreadUnitModes(t *testing.T) {
	e := newEngine(t)
	res, err := runRace(t, e, Params{Modes: []string{"all"}, Unit: UnitThread, Procs: 3, Iters: 2000})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Results) != len(Modes(UnitThread)) {
		t.Fatalf("%d results, want one per mode of %v", len(res.Results), Modes(UnitThread))
	}
	checkExact(t, res, safeModes(UnitThread))
	got := byMode(t, res)
	for _, m := range []string{ModeUnsafe, ModeUnsafeGo} {
		r := got[m]
		if r.Unit != UnitThread || r.Actual < 1 || r.Actual > r.Expected || r.Safe {
			t.Errorf("%s: %+v", m, r)
		}
	}
	if !strings.Contains(got[ModeMutex].Counter, "Go variable") {
		t.Errorf("mutex counter: %q", got[ModeMutex].Counter)
	}
}

// Two workers pinned to one CPU, sched_yield between load and store: the
// other worker runs in the gap, so updates are lost in practically every
// trial. The safe modes under the same conditions stay exact.
func TestUnsafeYieldLosesOnOneCPU(t *testing.T) {
	e := newEngine(t)
	const trials = 5
	res, err := runRace(t, e, Params{Modes: []string{ModeUnsafe, ModeSysVSem, ModeFutex}, Procs: 2, Iters: 2000, CPUs: ipctest.CPUs(t, 1), Yield: true, Trials: trials})
	if err != nil {
		t.Fatal(err)
	}
	got := byMode(t, res)
	u := got[ModeUnsafe]
	// Whether the scheduler ran the other worker in the gap is not
	// asserted (that would be luck); TestUnsafeLosesUnderSchedule is.
	t.Logf("unsafe with --yield on one CPU lost updates in %d of %d trials (overlap %v%%)", u.Trials.Lossy, trials, u.Trials.OverlapPct)
	if u.Yield != true || len(u.CPUs) != 1 {
		t.Errorf("result does not say how it ran: %+v", u)
	}
	checkExact(t, res, []string{ModeSysVSem, ModeFutex})
}

func TestUnsafeWindowLosesOnOneCPU(t *testing.T) {
	e := newEngine(t)
	res, err := runRace(t, e, Params{Modes: []string{ModeUnsafe}, Procs: 2, Iters: 500, CPUs: ipctest.CPUs(t, 1), WindowNs: int64(2 * time.Millisecond), Trials: 2})
	if err != nil {
		t.Fatal(err)
	}
	u := res.Results[0]
	t.Logf("unsafe with a 2ms window on one CPU lost updates in %d of 2 trials", u.Trials.Lossy)
	if u.Trials.LostMax == 0 && !strings.Contains(u.Explanation, "of the run") {
		t.Errorf("unsafe lost nothing and the explanation does not say why: %q", u.Explanation)
	}
}

// The unsafe counter loses an update whenever the interleaving says so,
// whatever the scheduler does: the test is the scheduler (--schedule), for
// processes and threads.
func TestUnsafeLosesUnderSchedule(t *testing.T) {
	e := newEngine(t)
	for _, unit := range []string{UnitProcess, UnitThread} {
		for _, c := range []struct {
			spec   string
			actual int64
		}{
			{"P1,P2,P1,P2", 1},
			{"P1:load,P1:store,P2:load,P2:store", 2},
			{"P1:load,P2:load,P2:store,P1:store", 1},
		} {
			res, err := runRace(t, e, Params{Modes: []string{ModeUnsafe}, Unit: unit, Procs: 2, Iters: 1, Schedule: c.spec})
			if err != nil {
				t.Fatalf("%s %s: %v", unit, c.spec, err)
			}
			m := res.Results[0]
			if m.Actual != c.actual || m.Lost != 2-c.actual || len(m.Steps) != 4 {
				t.Errorf("%s %s: actual %d lost %d, %d steps; want actual %d", unit, c.spec, m.Actual, m.Lost, len(m.Steps), c.actual)
			}
		}
	}
}

// The witnesses of a real run are consistent with the records they come
// from, safe modes never show one, and the trace is valid Chrome JSON.
func TestWitnessesAndTraceEndToEnd(t *testing.T) {
	e := newEngine(t)
	res, err := runRace(t, e, Params{Modes: []string{ModeUnsafe, ModeFutex}, Procs: 2, Iters: 300, CPUs: ipctest.CPUs(t, 1), Yield: true, Explain: 5, Trace: true, Record: 200})
	if err != nil {
		t.Fatal(err)
	}
	got := byMode(t, res)
	u, f := got[ModeUnsafe], got[ModeFutex]
	if len(u.Witnesses) > 5 || len(u.Witnesses) > u.WitnessesFound {
		t.Fatalf("unsafe: %d witnesses found, %d kept (at most 5)", u.WitnessesFound, len(u.Witnesses))
	}
	if u.WitnessesFound == 0 {
		// Whether the scheduler interleaved the sampled increments is
		// luck: log it, check the rest.
		t.Logf("unsafe: lost %d, no witness among the sampled increments", u.Lost)
	}
	if u.WitnessedLost > u.Lost {
		t.Errorf("witnesses prove %d lost updates, more than the %d lost", u.WitnessedLost, u.Lost)
	}
	if f.WitnessesFound != 0 || len(f.Witnesses) != 0 {
		t.Errorf("futex (safe) shows witnesses: %+v", f.Witnesses)
	}
	if res.Trace == nil {
		t.Fatal("no trace in the result")
	}
	var unsafeTracks []Track
	for _, tr := range res.Trace.Tracks {
		if len(tr.Events) == 0 || len(tr.Events) > 200 || tr.Pid <= 0 || tr.Tid <= 0 {
			t.Errorf("track %s %s: %d events, pid %d tid %d", tr.Mode, tr.Label, len(tr.Events), tr.Pid, tr.Tid)
		}
		if tr.Mode == ModeUnsafe {
			unsafeTracks = append(unsafeTracks, tr)
		}
	}
	if len(unsafeTracks) != 2 {
		t.Fatalf("%d unsafe tracks, want 2", len(unsafeTracks))
	}
	for _, w := range u.Witnesses {
		if w.Trial != 1 {
			continue
		}
		checkWitness(t, unsafeTracks, w)
		for _, s := range w.Steps {
			if s.Op == "read" && !containsInt(unsafeTracks[s.Worker].Lost, s.Seq) {
				t.Errorf("witness %q: increment %d of %s is not marked lost in the trace", w.Text, s.Seq, s.Label)
			}
		}
	}

	var buf bytes.Buffer
	if err := WriteChromeTrace(&buf, res.Trace); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		TraceEvents []struct {
			Name string   `json:"name"`
			Cat  string   `json:"cat"`
			Ph   string   `json:"ph"`
			Ts   float64  `json:"ts"`
			Dur  *float64 `json:"dur"`
			Pid  int      `json:"pid"`
			Tid  int      `json:"tid"`
		} `json:"traceEvents"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("trace is not JSON: %v\n%.500s", err, buf.String())
	}
	want := map[[2]int]int{}
	for _, tr := range res.Trace.Tracks {
		want[[2]int{tr.Pid, tr.Tid}] += len(tr.Events)
	}
	slices, lost := map[[2]int]int{}, 0
	for _, ev := range doc.TraceEvents {
		switch ev.Ph {
		case "X":
			if ev.Dur == nil || *ev.Dur < 0 || ev.Ts < 0 {
				t.Errorf("bad slice %+v", ev)
			}
			if ev.Cat != "run" {
				slices[[2]int{ev.Pid, ev.Tid}]++
			}
			if ev.Cat == "lost-update" {
				lost++
			}
		case "M":
		default:
			t.Errorf("unexpected phase %q", ev.Ph)
		}
	}
	if len(slices) != 4 {
		t.Errorf("%d tracks with increments, want 4 (2 modes × 2 workers)", len(slices))
	}
	for k, n := range slices {
		if n != want[k] {
			t.Errorf("track %v: %d increments, want %d", k, n, want[k])
		}
	}
	if (lost == 0) != (u.WitnessesFound == 0) {
		t.Errorf("%d increments marked lost-update in the trace, %d witnesses", lost, u.WitnessesFound)
	}
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestBadInputRefusedBeforeAnything(t *testing.T) {
	lim := ipc.DefaultLimits()
	cases := []struct {
		name string
		p    Params
		flag string
	}{
		{"procs 0", Params{Procs: 0, Iters: 10}, "--procs"},
		{"procs over limit", Params{Procs: lim.MaxProcs + 1, Iters: 10}, "--procs"},
		{"iters 0", Params{Procs: 2, Iters: 0}, "--iters"},
		{"iters absurd", Params{Procs: 2, Iters: MaxIters + 1}, "--iters"},
		{"unknown mode", Params{Procs: 2, Iters: 10, Modes: []string{"unsafe", "telepathy"}}, "--mode"},
		{"thread-only mode", Params{Procs: 2, Iters: 10, Modes: []string{ModeMutex}}, "--mode"},
		{"unknown shm", Params{Procs: 2, Iters: 10, Shm: "tmpfs"}, "--shm"},
		{"unknown unit", Params{Procs: 2, Iters: 10, Unit: "fiber"}, "--unit"},
		{"bad cpu", Params{Procs: 2, Iters: 10, CPUs: []int{maxCPU}}, "--cpus"},
		{"negative window", Params{Procs: 2, Iters: 10, WindowNs: -1}, "--window"},
		{"trials", Params{Procs: 2, Iters: 10, Trials: MaxTrials + 1}, "--trials"},
		{"explain without loads", Params{Procs: 2, Iters: 10, Modes: []string{ModeAtomic}, Explain: 3}, "--explain"},
		{"records beyond --max-shm", Params{Procs: 64, Iters: MaxIters, Record: MaxRecord, Trace: true}, "max-shm"},
	}
	e := newEngine(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			raw, _ := json.Marshal(c.p)
			if err := Validate(raw, lim); !ipc.IsUsage(err) || !strings.Contains(err.Error(), c.flag) {
				t.Errorf("Validate: %v, want a usage error naming %s", err, c.flag)
			}
			_, err := runRace(t, e, c.p)
			if !ipc.IsUsage(err) || !strings.Contains(err.Error(), c.flag) {
				t.Errorf("Run: %v, want a usage error naming %s", err, c.flag)
			}
		})
	}
	if runs := e.Runs(); len(runs) != 0 {
		t.Errorf("refused requests became runs: %+v", runs)
	}
	// Every object is in the ledger before it exists; a refused request
	// must not have recorded any. (No diff of /dev/shm as a whole: other
	// packages' tests create objects at the same time under go test ./....)
	if entries, _ := e.Ledger().Entries(); len(entries) != 0 {
		t.Errorf("a refused request recorded objects: %+v", entries)
	}
	if raw := json.RawMessage(`{"procs":2,"iters":10,"bogus":1}`); !ipc.IsUsage(Validate(raw, lim)) {
		t.Error("unknown parameter accepted")
	}
}

// A worker killed during the run fails it, naming the signal, and leaves
// nothing behind (newEngine's cleanup checks).
func TestKilledWorkerFailsRun(t *testing.T) {
	e := newEngine(t)
	raw, _ := json.Marshal(Params{Modes: []string{ModeSysVSem}, Procs: 2, Iters: 1000, WindowNs: int64(2 * time.Millisecond)})
	killed := make(chan int, 1)
	go func() {
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			if pid := findWorker(); pid > 0 {
				syscall.Kill(pid, syscall.SIGKILL)
				killed <- pid
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		killed <- 0
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rr, err := e.Run(ctx, ipc.RunRequest{Experiment: Name, Params: raw}, nil)
	if pid := <-killed; pid == 0 {
		t.Fatal("found no worker to kill")
	}
	if err == nil || !strings.Contains(err.Error(), "SIGKILL") || rr.State != ipc.StateFailed {
		t.Fatalf("state %s, err %v: want a failed run naming SIGKILL", rr.State, err)
	}
	if errors.Is(err, ErrLostUpdates) {
		t.Errorf("a killed worker reported as lost updates: %v", err)
	}
}

// findWorker returns the pid of a race worker that is a child of this
// process, or 0.
func findWorker() int {
	ents, _ := os.ReadDir("/proc")
	me := os.Getpid()
	for _, en := range ents {
		pid, err := strconv.Atoi(en.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", en.Name(), "cmdline"))
		if err != nil || !bytes.Contains(cmdline, []byte("worker\x00"+WorkerKind+"\x00")) {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", en.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(stat)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(me) {
			return pid
		}
	}
	return 0
}

func TestSameLineAndTallies(t *testing.T) {
	e := newEngine(t)
	res, err := runRace(t, e, Params{Modes: []string{ModeAtomic}, Procs: 4, Iters: 1000, SameLine: true})
	if err != nil {
		t.Fatal(err)
	}
	if r := res.Results[0]; !r.SameLine || r.Actual != 4000 {
		t.Errorf("%+v", r)
	}
}

func TestSocketTokenOneWorker(t *testing.T) {
	e := newEngine(t)
	for _, unit := range []string{UnitProcess, UnitThread} {
		res, err := runRace(t, e, Params{Modes: []string{ModeSocketToken}, Unit: unit, Procs: 1, Iters: 100})
		if err != nil {
			t.Fatal(err)
		}
		checkExact(t, res, []string{ModeSocketToken})
	}
}

func TestRenderTable(t *testing.T) {
	e := newEngine(t)
	res, err := runRace(t, e, Params{Modes: []string{ModeUnsafe, ModeAtomic}, Procs: 2, Iters: 200, CPUs: ipctest.CPUs(t, 1), Yield: true, Explain: 2, Trials: 2})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := Render(&b, res); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"MODE", "EXPECTED", "LOST", "NS/OP", "OPS/S", "LOSSY TRIALS", "unsafe", "atomic", "load and store are separate instructions", " → "} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// A cancelled run stops its workers promptly and leaves nothing behind.
func TestCancelledRun(t *testing.T) {
	e := newEngine(t)
	raw, _ := json.Marshal(Params{Modes: []string{ModeFutex}, Procs: 2, Iters: 100000, WindowNs: int64(time.Millisecond)})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	rr, err := e.Run(ctx, ipc.RunRequest{Experiment: Name, Params: raw}, nil)
	if err == nil || rr.State != ipc.StateCancelled {
		t.Fatalf("state %s, err %v: want cancelled", rr.State, err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("cancel took %s", d)
	}
}

// Without --cpus every worker gets a CPU of its own; Unpinned (--cpus
// none) leaves placement to the scheduler.
func TestDefaultPinsOneWorkerPerCPU(t *testing.T) {
	e := newEngine(t)
	res, err := runRace(t, e, Params{Modes: []string{ModeAtomic}, Procs: 2, Iters: 100})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.Results[0].CPUs, allowedCPUs(); !slices.Equal(got, want) {
		t.Errorf("default CPUs %v, want the allowed %v", got, want)
	}
	res, err = runRace(t, e, Params{Modes: []string{ModeAtomic}, Procs: 2, Iters: 100, Unpinned: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Results[0].CPUs) != 0 {
		t.Errorf("unpinned run reports CPUs %v", res.Results[0].CPUs)
	}
}
