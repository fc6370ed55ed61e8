package ipc

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ipcplay/ipcplay/ipc/ipctest"
	"github.com/ipcplay/ipcplay/ipc/ledger"
	"github.com/ipcplay/ipcplay/ipc/worker"
	"github.com/ipcplay/ipcplay/shm"
)

// The test experiment: every worker adds 1 to a shared counter iters times
// with an atomic add. Params choose failure modes.
type testParams struct {
	Procs    int    `json:"procs"`
	Iters    int    `json:"iters"`
	Shm      string `json:"shm"`
	Mode     string `json:"mode"` // "", "fail", "panic", "hang", "kill-child", "hang-after-ready"
	Announce bool   `json:"announce"`
}

type addSpec struct {
	Handle string `json:"handle"`
	Iters  int    `json:"iters"`
	Hang   bool   `json:"hang"`
}

func init() {
	worker.Register("test-add", func(ctx context.Context, c *worker.Child) (any, error) {
		var s addSpec
		if err := c.Spec(&s); err != nil {
			return nil, err
		}
		r, err := shm.Open(s.Handle)
		if err != nil {
			return nil, err
		}
		defer r.Close()
		if err := c.Ready(ctx); err != nil {
			return nil, err
		}
		p := r.Uint64(0)
		for i := 0; i < s.Iters; i++ {
			atomic.AddUint64(p, 1)
		}
		if s.Hang {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return s.Iters, nil
	})
}

var testExperiment = Experiment{
	Name: "test-add",
	Validate: func(raw json.RawMessage, lim Limits) error {
		var p testParams
		if err := json.Unmarshal(raw, &p); err != nil {
			return Usagef("bad params: %v", err)
		}
		return lim.CheckProcs("--procs", p.Procs)
	},
	Run: func(ctx context.Context, env *Env, raw json.RawMessage) (any, error) {
		var p testParams
		_ = json.Unmarshal(raw, &p)
		kind := shm.Kind(p.Shm)
		if kind == "" {
			kind = shm.POSIX
		}
		r, err := env.CreateRegion(shm.Spec{Kind: kind, Size: 4096})
		if err != nil {
			return nil, err
		}
		set, err := env.CreateSemSet(2)
		if err != nil {
			return nil, err
		}
		_ = set
		if _, err := env.CreateNamedSem(1); err != nil {
			return nil, err
		}
		if _, err := env.TempDir(); err != nil {
			return nil, err
		}
		switch p.Mode {
		case "fail":
			return map[string]int{"partial": 1}, errors.New("deliberate failure")
		case "panic":
			panic("deliberate panic")
		}
		specs := make([]worker.Spec, p.Procs)
		for i := range specs {
			s := addSpec{Handle: r.Handle(), Iters: p.Iters, Hang: p.Mode == "hang" || p.Mode == "kill-child"}
			var files []*os.File
			if r.File() != nil && kind == shm.Memfd {
				files = []*os.File{r.File()}
				s.Handle = r.HandleAt(worker.FileFD(0))
			}
			specs[i] = worker.Spec{Kind: "test-add", Spec: s, Files: files}
		}
		g, err := env.StartWorkers(ctx, specs)
		if err != nil {
			return nil, err
		}
		if p.Announce {
			fmt.Printf("running %v\n", g.Pids())
		}
		if p.Mode == "kill-child" {
			g.Go()
			time.Sleep(50 * time.Millisecond)
			g.Signal(0, syscall.SIGKILL)
		}
		if _, err := g.Wait(ctx); err != nil {
			return nil, err
		}
		got := atomic.LoadUint64(r.Uint64(0))
		want := uint64(p.Procs * p.Iters)
		if got != want {
			return nil, fmt.Errorf("counter %d, want %d", got, want)
		}
		return map[string]uint64{"counter": got}, nil
	},
}

func TestMain(m *testing.M) {
	worker.Dispatch()
	ipctest.Main(m, map[string]func(){
		// An embedded CLI run that is killed with SIGKILL while its
		// workers run: the test then checks that clean removes the leak.
		"crashing-cli": func() {
			e, err := NewEngine(Config{StateDir: ipctest.Args()[0]})
			if err != nil {
				panic(err)
			}
			e.Register(testExperiment)
			params, _ := json.Marshal(testParams{Procs: 2, Iters: 1, Mode: "hang", Announce: true, Shm: ipctest.Args()[1]})
			e.Run(context.Background(), RunRequest{Experiment: "test-add", Params: params}, nil)
		},
	})
}

func newTestEngine(t *testing.T) *Engine {
	t.Helper()
	dir, err := os.MkdirTemp("", "ipcplay-engine-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	e, err := NewEngine(Config{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	e.Register(testExperiment)
	t.Cleanup(func() { e.Close() })
	return e
}

func run(t *testing.T, e *Engine, p testParams) (*RunResult, error) {
	t.Helper()
	raw, _ := json.Marshal(p)
	return e.Run(context.Background(), RunRequest{Experiment: "test-add", Params: raw}, nil)
}

func assertNoObjects(t *testing.T, e *Engine) {
	t.Helper()
	entries, err := e.ledger.Entries()
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Fatalf("ledger still has %d entries: %+v", len(entries), entries)
	}
	if leaks := ipctest.Leaks(); len(leaks) != 0 {
		t.Fatalf("leaks: %v", leaks)
	}
	// Only this engine's runs: other packages' tests run at the same time
	// (go test ./...) and have objects of their own runs.
	for _, dir := range []string{"/dev/shm"} {
		ents, _ := os.ReadDir(dir)
		for _, en := range ents {
			for _, r := range e.Runs() {
				if strings.Contains(en.Name(), "ipcplay."+r.RunID+".") {
					t.Errorf("left behind: %s/%s", dir, en.Name())
				}
			}
		}
	}
}

func TestRunEveryBackendLeavesNothing(t *testing.T) {
	for _, kind := range shm.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			e := newTestEngine(t)
			res, err := run(t, e, testParams{Procs: 3, Iters: 1000, Shm: string(kind)})
			if err != nil {
				t.Fatal(err)
			}
			if res.State != StateOK || !strings.Contains(string(res.Result), `"counter":3000`) {
				t.Fatalf("result %+v", res)
			}
			assertNoObjects(t, e)
		})
	}
}

func TestFailedRunKeepsResultAndCleansUp(t *testing.T) {
	e := newTestEngine(t)
	res, err := run(t, e, testParams{Procs: 1, Iters: 1, Mode: "fail"})
	if err == nil || res.State != StateFailed || string(res.Result) != `{"partial":1}` {
		t.Fatalf("res %+v err %v", res, err)
	}
	assertNoObjects(t, e)
}

func TestPanickingExperimentCleansUp(t *testing.T) {
	e := newTestEngine(t)
	_, err := run(t, e, testParams{Procs: 1, Iters: 1, Mode: "panic"})
	if err == nil || !strings.Contains(err.Error(), "panicked") {
		t.Fatalf("err %v", err)
	}
	assertNoObjects(t, e)
}

func TestKilledChildFailsRunNamingSignal(t *testing.T) {
	e := newTestEngine(t)
	res, err := run(t, e, testParams{Procs: 3, Iters: 1, Mode: "kill-child"})
	if err == nil || !strings.Contains(err.Error(), "SIGKILL") || res.State != StateFailed {
		t.Fatalf("res %+v err %v", res, err)
	}
	assertNoObjects(t, e)
}

func TestCancelRunLeavesNothing(t *testing.T) {
	e := newTestEngine(t)
	raw, _ := json.Marshal(testParams{Procs: 2, Iters: 1, Mode: "hang"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan *RunResult)
	go func() {
		res, _ := e.Run(ctx, RunRequest{Experiment: "test-add", Params: raw}, func(ev Event) {
			if ev.State == StateRunning {
				time.AfterFunc(100*time.Millisecond, cancel)
			}
		})
		done <- res
	}()
	select {
	case res := <-done:
		if res.State != StateCancelled {
			t.Fatalf("state %s, want cancelled", res.State)
		}
		// A plain cancel gives no cause: the record says nothing rather
		// than the context's "context canceled" (runs and show print it).
		if res.Error != "" {
			t.Errorf("error %q, want none (no cause is known)", res.Error)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("cancelled run did not end")
	}
	assertNoObjects(t, e)
}

func TestBadInputRefusedBeforeAnything(t *testing.T) {
	e := newTestEngine(t)
	_, err := run(t, e, testParams{Procs: 100000, Iters: 1})
	if !IsUsage(err) || !strings.Contains(err.Error(), "--procs") {
		t.Fatalf("err %v, want a usage error naming --procs", err)
	}
	_, err = e.Run(context.Background(), RunRequest{Experiment: "nope"}, nil)
	if !IsUsage(err) {
		t.Fatalf("unknown experiment: %v", err)
	}
	if len(e.Runs()) != 0 {
		t.Fatal("a refused request became a run")
	}
	assertNoObjects(t, e)
}

func TestMaxRunsQueues(t *testing.T) {
	dir, _ := os.MkdirTemp("", "ipcplay-engine-")
	defer os.RemoveAll(dir)
	lim := DefaultLimits()
	lim.MaxRuns = 1
	e, err := NewEngine(Config{StateDir: dir, Limits: lim})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	e.Register(testExperiment)
	raw, _ := json.Marshal(testParams{Procs: 1, Iters: 10})
	var maxActive atomic.Int32
	errs := make(chan error, 5)
	for i := 0; i < 5; i++ {
		go func() {
			_, err := e.Run(context.Background(), RunRequest{Experiment: "test-add", Params: raw}, func(Event) {
				if a := int32(e.Status().ActiveRuns); a > maxActive.Load() {
					maxActive.Store(a)
				}
			})
			errs <- err
		}()
	}
	for i := 0; i < 5; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if maxActive.Load() > 1 {
		t.Fatalf("%d runs active at once with --max-runs 1", maxActive.Load())
	}
}

// A CLI killed with SIGKILL during an embedded run leaks its objects (its
// workers die with it); the next engine start removes exactly those.
func TestCrashedEmbeddedRunIsReaped(t *testing.T) {
	for _, kind := range []string{"posix", "sysv"} {
		t.Run(kind, func(t *testing.T) {
			dir, _ := os.MkdirTemp("", "ipcplay-engine-")
			defer os.RemoveAll(dir)
			os.Chmod(dir, 0o700)
			cmd := ipctest.Helper(t, "crashing-cli", dir, kind)
			out, _ := cmd.StdoutPipe()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			line, err := bufio.NewReader(out).ReadString('\n')
			if err != nil {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("helper: %v", err)
			}
			cmd.Process.Kill()
			cmd.Wait()
			l, _ := ledger.Open(dir)
			leaked, _ := l.Entries()
			if len(leaked) < 4 {
				t.Fatalf("expected the crash to leak objects, ledger has %+v (%s)", leaked, line)
			}
			for _, en := range leaked {
				if en.Type == ledger.SysVShm || en.Type == ledger.SysVSem {
					ipctest.TrackSysV(strings.TrimPrefix(en.Type, "sysv-"), en.ID)
				}
			}
			// An object of a live creator must survive the reaping.
			live, err := l.Add(ledger.Entry{Type: ledger.POSIXShm, Name: ipctest.Name(t, ".live"), RunID: "r-live"})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Remove(live)
			dry, err := Reap(l, true)
			if err != nil || len(dry.Removed) != len(leaked) {
				t.Fatalf("dry run listed %d of %d (%v): %+v %s", len(dry.Removed), len(leaked), err, dry, dry.String(true))
			}
			e, err := NewEngine(Config{StateDir: dir}) // reaps on start
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			left, _ := l.Entries()
			if len(left) != 1 || left[0].Key() != live.Key() {
				t.Fatalf("after reaping: %+v", left)
			}
			// A SysV segment still attached by a dying worker (Pdeathsig
			// reaches the killed CLI's workers asynchronously) is only
			// marked for destruction by IPC_RMID; the kernel frees it at
			// the last detach. Wait for that, bounded.
			deadline := time.Now().Add(20 * time.Second)
			for _, en := range leaked {
				for {
					v, _ := prove(en)
					if v == vGone {
						break
					}
					if time.Now().After(deadline) {
						t.Errorf("%s still exists", en)
						break
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
		})
	}
}

// gateExperiment returns an experiment that blocks each run until the
// test closes gate (never looking at ctx when ignoreCtx), telling started
// which run began.
func gateExperiment(name string, gate <-chan struct{}, started chan<- string, ignoreCtx bool) Experiment {
	return Experiment{
		Name: name,
		Run: func(ctx context.Context, env *Env, _ json.RawMessage) (any, error) {
			started <- env.RunID
			if ignoreCtx {
				<-gate
				return "released", nil
			}
			select {
			case <-gate:
				return "released", nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		},
	}
}

// TestRunTableKeepsUnfinishedRuns: a run still running after keepRecent
// more runs have come and gone stays listed, showable and cancellable
// (issue 12: the table dropped the oldest entry, running or not).
func TestRunTableKeepsUnfinishedRuns(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state") // created 0700 by the engine
	lim := DefaultLimits()
	lim.MaxRuns = 2
	e, err := NewEngine(Config{StateDir: dir, Limits: lim})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	gate := make(chan struct{})
	defer close(gate) // before Close: a run the table lost is still running
	started := make(chan string, 1)
	e.Register(gateExperiment("gate", gate, started, false))
	e.Register(Experiment{Name: "quick", Run: func(context.Context, *Env, json.RawMessage) (any, error) { return 1, nil }})

	longErr := make(chan error, 1)
	go func() {
		_, err := e.Run(context.Background(), RunRequest{Experiment: "gate"}, nil)
		longErr <- err
	}()
	long := <-started
	for i := 0; i < keepRecent+5; i++ {
		if _, err := e.Run(context.Background(), RunRequest{Experiment: "quick"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	runs := e.Runs()
	if len(runs) != keepRecent+1 {
		t.Errorf("%d runs listed, want the %d most recent finished ones and the running one", len(runs), keepRecent)
	}
	if len(runs) == 0 {
		t.FailNow()
	}
	if runs[0].RunID != long || runs[0].State != StateRunning {
		t.Errorf("first listed run %s (%s), want the running run %s", runs[0].RunID, runs[0].State, long)
	}
	if r, err := e.Show(long); err != nil || r.State != StateRunning {
		t.Fatalf("show %s: %v %+v, want it running", long, err, r)
	}
	if err := e.Cancel(long); err != nil {
		t.Fatalf("cancel %s: %v", long, err)
	}
	if err := <-longErr; err == nil || !strings.Contains(err.Error(), "cancelled: on request ('ipcplay cancel')") {
		t.Errorf("long run ended with %v, want cancelled, saying by whom", err)
	}
	// Once it ended it is the oldest finished run, and goes at the next run.
	if _, err := e.Run(context.Background(), RunRequest{Experiment: "quick"}, nil); err != nil {
		t.Fatal(err)
	}
	if n := len(e.Runs()); n != keepRecent {
		t.Errorf("%d runs listed after the long run ended, want %d", n, keepRecent)
	}
	if _, err := e.Show(long); err == nil {
		t.Errorf("show %s: still listed after %d newer runs finished", long, keepRecent)
	}
}

// TestRunTimeoutStartsWhenTheRunStarts: a run that waited in the queue
// longer than the run timeout still gets the whole timeout once it runs
// (issue 12: the timeout counted queue time, so it failed unstarted).
func TestRunTimeoutStartsWhenTheRunStarts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state") // created 0700 by the engine
	lim := DefaultLimits()
	lim.MaxRuns = 1
	lim.RunTimeout = MinRunTimeout
	e, err := NewEngine(Config{StateDir: dir, Limits: lim})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	gate := make(chan struct{})
	release := sync.OnceFunc(func() { close(gate) })
	defer release() // before Close, which cannot stop the holder
	started := make(chan string, 2)
	// The first run ignores its context, so it holds the only slot past
	// its own timeout, for as long as the test wants.
	e.Register(gateExperiment("holder", gate, started, true))
	e.Register(Experiment{Name: "quick", Run: func(ctx context.Context, env *Env, _ json.RawMessage) (any, error) {
		return 1, ctx.Err()
	}})
	holderDone := make(chan struct{})
	go func() {
		defer close(holderDone)
		e.Run(context.Background(), RunRequest{Experiment: "holder"}, nil)
	}()
	<-started
	queued := make(chan string, 1)
	quickErr := make(chan error, 1)
	go func() {
		r, err := e.Run(context.Background(), RunRequest{Experiment: "quick"}, func(ev Event) {
			if ev.State == StateQueued {
				queued <- ev.RunID
			}
		})
		if err != nil && r != nil {
			err = fmt.Errorf("%w (state %s)", err, r.State)
		}
		quickErr <- err
	}()
	<-queued
	// Keep it queued for longer than its run timeout.
	time.Sleep(lim.RunTimeout + lim.RunTimeout/2)
	select {
	case err := <-quickErr:
		t.Fatalf("the queued run ended before it started: %v", err)
	default:
	}
	release()
	<-holderDone
	if err := <-quickErr; err != nil {
		t.Fatalf("the run that waited in the queue: %v, want it to run to its end", err)
	}
}

// TestRunTimeoutSaysWhatHitWhichLimit: a run stopped by its run timeout
// fails with where it was, whose limit stopped it and how to raise it,
// without the context's "deadline exceeded" (a new user found only
// "context deadline exceeded" and no way to raise the embedded limit).
func TestRunTimeoutSaysWhatHitWhichLimit(t *testing.T) {
	for _, c := range []struct {
		engine string
		want   []string
	}{
		{EngineLocal, []string{"sleeper, step 3: stopped by the run timeout after 1s (the embedded engine's run-timeout", EnvRunTimeout + "=1h", "at most 24h"}},
		{EngineDaemon, []string{"sleeper, step 3: stopped by the run timeout after 1s (the daemon's --run-timeout", "--run-timeout 1h"}},
	} {
		lim := DefaultLimits()
		lim.RunTimeout = MinRunTimeout
		e, err := NewEngine(Config{Name: c.engine, StateDir: filepath.Join(t.TempDir(), "state"), Limits: lim})
		if err != nil {
			t.Fatal(err)
		}
		e.Register(Experiment{Name: "sleeper", Run: func(ctx context.Context, env *Env, _ json.RawMessage) (any, error) {
			<-ctx.Done()
			return nil, fmt.Errorf("sleeper, step 3: %w", ctx.Err())
		}})
		r, err := e.Run(context.Background(), RunRequest{Experiment: "sleeper"}, nil)
		e.Close()
		if err == nil || r == nil || r.State != StateFailed {
			t.Fatalf("%s: run past its timeout: %v, %+v", c.engine, err, r)
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q lacks %q", c.engine, err, w)
			}
		}
		if strings.Contains(err.Error(), "deadline") {
			t.Errorf("%s: %q", c.engine, err)
		}
	}
}

func TestLimitsSayWhoseAndHowToRaise(t *testing.T) {
	for _, c := range []struct {
		engine, want string
	}{
		{EngineLocal, "--procs 100: must be between 1 and 64 (the embedded engine's max-procs, used when no daemon answers; raise it in the environment, e.g. IPCPLAY_MAX_PROCS=256, at most 4096)"},
		{EngineDaemon, "--procs 100: must be between 1 and 64 (the daemon's --max-procs; restart the daemon with a larger one, e.g. --max-procs 256, at most 4096)"},
	} {
		lim := Limits{MaxProcs: 64, Engine: c.engine}
		if err := lim.CheckProcs("--procs", 100); err == nil || err.Error() != c.want {
			t.Errorf("%s: %v\nwant %s", c.engine, err, c.want)
		}
	}
	if got := timeoutWhere(fmt.Errorf("%w (race: sysv-sem: %w)", context.DeadlineExceeded, context.DeadlineExceeded)); got != "race: sysv-sem" {
		t.Errorf("timeoutWhere: %q", got)
	}
}
