package lab

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ipcplay/ipcplay/ipc"
	"github.com/ipcplay/ipcplay/ipc/python/pythontest"
)

func TestGIL(t *testing.T) {
	in := pythontest.Require(t)
	var r GILResult
	text, err := runLab(t, "gil", GILParams{Tasks: 2, Size: 3000, IOTasks: 4, IOWait: 20 * time.Millisecond, Trials: 1}, &r)
	timingSurprise(t, err)
	if r.PythonVersion != in.Version || r.PythonPath != in.Path || r.GILEnabled != in.GILEnabled {
		t.Errorf("interpreter: %s %s gil %v, want %s %s gil %v", r.PythonPath, r.PythonVersion, r.GILEnabled, in.Path, in.Version, in.GILEnabled)
	}
	// Per Python interpreter: cpu and io, each serial, threads, processes;
	// then Go: cpu and io, serial and goroutines.
	if want := 6*len(r.Interpreters) + 4; len(r.Rows) != want {
		t.Fatalf("%d rows, want %d", len(r.Rows), want)
	}
	hows := map[string]int{}
	for _, row := range r.Rows {
		hows[row.How]++
		if row.ElapsedNs <= 0 || row.CPUNs < 0 || row.Speedup <= 0 || row.Expected == "" {
			t.Errorf("%s %s %s: %+v", row.Interpreter, row.Work, row.Label, row)
		}
		if strings.HasPrefix(row.Interpreter, "CPython") && row.GILEnabled == nil {
			t.Errorf("%s row without a GIL state", row.Interpreter)
		}
		// The GIL's evidence is judged whatever the load.
		if row.GILEnabled != nil && *row.GILEnabled && row.How == "threads" && row.Work == "cpu" && !row.Judged {
			t.Errorf("%s: CPU-bound threads with the GIL on were not judged", row.Interpreter)
		}
		// The one timing that is a lower bound: four 20ms sleeps one
		// after another take at least 80ms.
		if row.Work == "io" && row.How == "serial" && row.ElapsedNs < (80*time.Millisecond).Nanoseconds() {
			t.Errorf("%s: sequential I/O took %s, less than the sum of its waits", row.Interpreter, dur(row.ElapsedNs))
		}
	}
	if hows["threads"] != 2*len(r.Interpreters) || hows["processes"] != 2*len(r.Interpreters) || hows["goroutines"] != 2 {
		t.Errorf("rows by kind: %v", hows)
	}
	if !strings.Contains(text, "ThreadPoolExecutor(2)") || !strings.Contains(text, "ProcessPoolExecutor(2)") || !strings.Contains(text, "GIL") {
		t.Errorf("rendering lacks the pools or the GIL:\n%s", text)
	}
}

func TestGILRefusesAMissingPython(t *testing.T) {
	l, _ := Lookup("gil")
	err := l.Experiment.Validate([]byte(`{"python":"/nonexistent/python3"}`), ipc.DefaultLimits())
	if !ipc.IsUsage(err) || !strings.Contains(err.Error(), "--python /nonexistent/python3") || !strings.Contains(err.Error(), "apt-get install python3") {
		t.Fatalf("err = %v, want a usage error naming --python and how to install Python", err)
	}
}

// pythonUsable reports whether the GIL lab can validate here: it fails the
// test under CI=true when not (pythontest.Require).
func pythonUsable(t *testing.T) bool {
	t.Helper()
	ok := false
	t.Run("python", func(t *testing.T) { pythontest.Require(t); ok = true })
	return ok
}

func TestGILJudgesSpeedUpsOnlyOnAnIdleMachine(t *testing.T) {
	for _, c := range []struct {
		load string
		n    int
		busy bool
	}{{"0.50 0.40 0.30", 2, false}, {"1.99 1 1", 2, false}, {"2.00 1 1", 2, true}, {"9.02 11.75 11.34", 2, true}, {"", 2, false}, {"unknown", 2, false}} {
		if got := loadBusy(c.load, c.n); got != c.busy {
			t.Errorf("loadBusy(%q, %d) = %v, want %v", c.load, c.n, got, c.busy)
		}
	}
}

// A run timeout says what the lab was doing (the row gil.py reported),
// not the interpreter's path; the lab is then not judged.
func TestGILTimeoutSaysWhatItWasDoing(t *testing.T) {
	in := pythontest.Require(t)
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	lim := ipc.DefaultLimits()
	lim.RunTimeout = 3 * time.Second
	e, err := ipc.NewEngine(ipc.Config{StateDir: dir, Limits: lim})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range Experiments() {
		e.Register(x)
	}
	// Two 10s sleeps one after another outlast the 3s timeout.
	raw := []byte(`{"tasks":2,"size":1000,"io_tasks":2,"io_wait_ns":10000000000,"trials":1}`)
	res, runErr := e.Run(context.Background(), ipc.RunRequest{Experiment: ExperimentPrefix + "gil", Params: raw}, nil)
	if cerr := e.Close(); cerr != nil {
		t.Errorf("engine close: %v", cerr)
	}
	if runErr == nil || res == nil {
		t.Fatalf("no timeout: %v", runErr)
	}
	assertNothingLeft(t, e, dir, res.RunID)
	msg := res.Error
	// Before gil.py's first report (a slow start), the lab is "starting".
	doing := strings.Contains(msg, "demo gil: "+in.Label()+", ") && strings.Contains(msg, "tasks") ||
		strings.Contains(msg, "demo gil: starting "+in.Label())
	if !strings.Contains(msg, "stopped by the run timeout") || strings.Contains(msg, in.Path) || !doing {
		t.Errorf("timeout message %q: want what the lab was doing (%s, which tasks), not the path %s", msg, in.Label(), in.Path)
	}
}

func TestWorkWords(t *testing.T) {
	p := GILParams{Tasks: 4, IOTasks: 10}
	for got, want := range map[string]string{
		gilDoing("cpu", "threads", p):                "CPU-bound tasks in threads (ThreadPoolExecutor(4))",
		gilDoing("io", "processes", p):               "I/O-bound tasks in processes (ProcessPoolExecutor(10))",
		gilDoing("cpu", "serial", p):                 "CPU-bound tasks, one after another",
		workWords("cpu", "goroutines, GOMAXPROCS=2"): "CPU-bound tasks, goroutines, GOMAXPROCS=2",
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}
