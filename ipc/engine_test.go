package ipc

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
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
			for _, en := range leaked {
				if v, _ := prove(en); v != vGone {
					t.Errorf("%s still exists", en)
				}
			}
		})
	}
}
