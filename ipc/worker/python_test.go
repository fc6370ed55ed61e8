package worker

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/ipcplay/ipcplay/ipc/python"
	"github.com/ipcplay/ipcplay/ipc/python/pythontest"
)

// pyBody is a Python worker for these tests: spec {"op": ...} says what it
// does, through ipc/python's worker.py (the protocol in Python).
const pyBody = `
import time

def body(spec):
    op = spec["op"]
    if op == "echo":
        if not ready():
            return "stopped early"
        released = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        send({"type": "event", "data": {"progress": spec["n"]}})
        data = os.read(5, 100).decode() if spec.get("file") else ""
        return {"double": 2 * spec["n"], "released_ns": released, "file": data}
    if op == "wait-stop":
        ready()
        while not stopped():
            time.sleep(0.01)
        return "stopped"
    if op == "usage":
        raise UsageError("bad input, deliberately")
    raise ValueError("unknown op " + op)

serve(body)
`

func pySpec(t *testing.T, name string, spec map[string]any) Spec {
	in := pythontest.Require(t)
	return Spec{Kind: "test-python", Name: name, Spec: spec,
		Command: append([]string{in.Path}, python.Args("test.py", "ipcplay-test-"+name)...), Stdin: []byte(python.Program(pyBody))}
}

func TestPythonWorkerSpeaksTheProtocol(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := w.WriteString("handed over"); err != nil {
		t.Fatal(err)
	}
	w.Close()
	events := 0
	opts := testOpts()
	opts.OnEvent = func(string, int, json.RawMessage) { events++ } // one child: one goroutine
	specs := []Spec{pySpec(t, "py", map[string]any{"op": "echo", "n": 21, "file": true})}
	specs[0].Files = []*os.File{r}
	ctx := context.Background()
	g, err := Start(ctx, nil, specs, opts)
	if err != nil {
		t.Fatal(err)
	}
	goAt := monotonicNs()
	res, err := g.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Double     int    `json:"double"`
		ReleasedNs int64  `json:"released_ns"`
		File       string `json:"file"`
	}
	if err := res[0].Decode(&out); err != nil {
		t.Fatalf("%v: %s", err, res[0].Data)
	}
	if out.Double != 42 || out.File != "handed over" || out.ReleasedNs < goAt {
		t.Errorf("result %+v (released before Go at %d?)", out, goAt)
	}
	if events != 1 || res[0].ExitCode != 0 || res[0].UserNs+res[0].SysNs <= 0 {
		t.Errorf("events %d, result %+v", events, res[0])
	}
}

func TestPythonWorkerStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	g, err := Start(ctx, nil, []Spec{pySpec(t, "py", map[string]any{"op": "wait-stop"})}, testOpts())
	if err != nil {
		t.Fatal(err)
	}
	g.Go()
	cancel()
	res, err := g.Wait(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if string(res[0].Data) != `"stopped"` || res[0].Signal != "" {
		t.Errorf("result %+v, want a clean stop (not a kill)", res[0])
	}
	if alive(g.Pids()[0]) {
		t.Errorf("pid %d still alive", g.Pids()[0])
	}
}

func TestPythonWorkerErrors(t *testing.T) {
	_, err := Run(context.Background(), nil, []Spec{pySpec(t, "py", map[string]any{"op": "usage"})}, testOpts())
	var ee *ExitError
	if !errors.As(err, &ee) || !ee.UsageError() || !strings.Contains(err.Error(), "bad input, deliberately") {
		t.Fatalf("err = %v, want a usage error with the worker's message", err)
	}
	_, err = Run(context.Background(), nil, []Spec{pySpec(t, "py", map[string]any{"op": "nonsense"})}, testOpts())
	if !errors.As(err, &ee) || ee.UsageError() || !strings.Contains(err.Error(), "ValueError: unknown op nonsense") {
		t.Fatalf("err = %v, want the Python exception", err)
	}
}
