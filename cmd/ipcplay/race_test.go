package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ipcplay/ipcplay/ipc/ipctest"
)

// raceDoc is the part of `ipcplay race --json` the tests read.
type raceDoc struct {
	Kind    string `json:"kind"`
	Engine  string `json:"engine"`
	RunID   string `json:"run_id"`
	Results []struct {
		Mode        string  `json:"mode"`
		Unit        string  `json:"unit"`
		Procs       int     `json:"procs"`
		Iters       int64   `json:"iters"`
		Shm         string  `json:"shm"`
		Expected    int64   `json:"expected"`
		Actual      int64   `json:"actual"`
		Lost        int64   `json:"lost"`
		ElapsedNs   int64   `json:"elapsed_ns"`
		NsPerOp     float64 `json:"ns_per_op"`
		Witnesses   []any   `json:"witnesses"`
		Explanation string  `json:"explanation"`
		CPUs        []int   `json:"cpus"`
	} `json:"results"`
}

// noRunLeftovers checks that the state directory holds no run directory
// and an empty ledger (every object is recorded there before it exists,
// and its entry goes only once the object is removed), and that /dev/shm
// has no object of the given runs. It does not diff /dev/shm as a whole:
// other packages' tests run at the same time under go test ./....
func noRunLeftovers(t *testing.T, dir string, runIDs ...string) {
	t.Helper()
	if entries := ledgerEntries(t, dir); len(entries) != 0 {
		t.Errorf("ledger entries left: %+v", entries)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.IsDir() {
			t.Errorf("run directory left: %s", filepath.Join(dir, e.Name()))
		}
	}
	shm, _ := os.ReadDir("/dev/shm")
	for _, e := range shm {
		for _, id := range runIDs {
			if strings.Contains(e.Name(), "ipcplay."+id+".") {
				t.Errorf("/dev/shm/%s left by run %s", e.Name(), id)
			}
		}
	}
}

func TestRaceJSON(t *testing.T) {
	dir := newStateDir(t)
	r := runCLI(t, "race", "--local", "--json", "--socket", filepath.Join(dir, "d.sock"),
		"--mode", "unsafe,atomic,sysv-sem,posix-sem,flock,socket-token", "--procs", "2", "--iters", "2000", "--shm", "posix")
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	var doc raceDoc
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("stdout is not one JSON document: %v\n%s", err, r.stdout)
	}
	if doc.Kind != "race" || doc.Engine != "local" || !strings.HasPrefix(doc.RunID, "r-") || len(doc.Results) != 6 {
		t.Fatalf("document %+v", doc)
	}
	for _, m := range doc.Results {
		if m.Unit != "process" || m.Procs != 2 || m.Iters != 2000 || m.Shm != "posix" || m.Expected != 4000 ||
			m.ElapsedNs <= 0 || m.NsPerOp <= 0 || m.Witnesses == nil || m.Explanation == "" {
			t.Errorf("%s: %+v", m.Mode, m)
		}
		if m.Mode != "unsafe" && (m.Actual != 4000 || m.Lost != 0) {
			t.Errorf("%s lost updates: %+v", m.Mode, m)
		}
	}
	var raw map[string]any
	json.Unmarshal([]byte(r.stdout), &raw)
	if _, ok := raw["trace"]; ok {
		t.Error("the document carries a trace without --trace")
	}
	noRunLeftovers(t, dir, doc.RunID)
}

func TestRaceTextAndTrace(t *testing.T) {
	dir := newStateDir(t)
	trace := filepath.Join(dir, "race.json")
	r := runCLI(t, "race", "--local", "--socket", filepath.Join(dir, "d.sock"),
		"--mode", "unsafe,futex", "--procs", "2", "--iters", "500", "--cpus", strconv.Itoa(ipctest.CPUs(t, 1)[0]), "--yield", "--explain=2", "--trace", trace)
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"MODE", "NS/OP", "unsafe", "futex", "load and store are separate instructions", "→ one increment lost", "trace: "} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	checkTraceFile(t, trace)

	// With --json the trace goes to the file, not into the document.
	trace2 := filepath.Join(dir, "race2.json")
	r = runCLI(t, "race", "--local", "--json", "--socket", filepath.Join(dir, "d.sock"),
		"--mode", "unsafe", "--unit", "thread", "--procs", "2", "--iters", "300", "--trace", trace2)
	if r.code != 0 {
		t.Fatalf("exit %d\nstderr: %s", r.code, r.stderr)
	}
	var raw map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &raw); err != nil {
		t.Fatalf("stdout: %v\n%s", err, r.stdout)
	}
	if _, ok := raw["trace"]; ok || raw["run_id"] == nil {
		t.Errorf("document keys: %v", keys(raw))
	}
	checkTraceFile(t, trace2)
}

func checkTraceFile(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		TraceEvents []struct {
			Ph  string `json:"ph"`
			Pid int    `json:"pid"`
			Tid int    `json:"tid"`
		} `json:"traceEvents"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s is not JSON: %v", path, err)
	}
	tracks := map[[2]int]bool{}
	for _, e := range doc.TraceEvents {
		if e.Ph == "X" {
			tracks[[2]int{e.Pid, e.Tid}] = true
		}
	}
	if len(tracks) < 2 {
		t.Errorf("%s: %d tracks with slices, want one per worker", path, len(tracks))
	}
}

func TestRaceBadInputExits2(t *testing.T) {
	dir := newStateDir(t)
	socket := filepath.Join(dir, "d.sock")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--procs", "0"}, "--procs"},
		{[]string{"--procs", "100000"}, "--procs"},
		{[]string{"--iters", "0"}, "--iters"},
		{[]string{"--iters", "5000000000"}, "--iters"},
		{[]string{"--mode", "unsafe,nope"}, "--mode"},
		{[]string{"--mode", "mutex"}, "--mode"},
		{[]string{"--shm", "ramdisk"}, "--shm"},
		{[]string{"--unit", "fiber"}, "--unit"},
		{[]string{"--cpus", "0-x"}, "--cpus"},
		{[]string{"--cpus", "1000"}, "--cpus"},
		{[]string{"--window", "1h"}, "--window"},
		{[]string{"--trials", "0"}, "--trials"},
		{[]string{"--same-line", "--separate-lines"}, "--same-line"},
		{[]string{"--explain", "3"}, "--explain=3"},
		{[]string{"--explain=x"}, "explain"},
		{[]string{"--trace", "/no/such/dir/t.json"}, "--trace"},
		{[]string{"--record", "10"}, "--record"},
	} {
		args := append([]string{"race", "--local", "--socket", socket}, tc.args...)
		r := runCLI(t, args...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) || !strings.HasPrefix(r.stderr, "ipcplay: ") || r.stdout != "" {
			t.Errorf("%v: exit %d, stderr %q, stdout %q: want exit 2 naming %s", tc.args, r.code, r.stderr, r.stdout, tc.want)
		}
	}
	noRunLeftovers(t, dir)
}

// A scheduled run's document carries steps[] with the fields DESIGN.md
// fixes, and ends where the schedule says, for processes and threads.
func TestRaceScheduleJSON(t *testing.T) {
	dir := newStateDir(t)
	for _, unit := range []string{"process", "thread"} {
		for spec, actual := range map[string]float64{"P1,P2,P1,P2": 1, "P1:load,P1:store,P2:load,P2:store": 2} {
			r := runCLI(t, "race", "--local", "--json", "--socket", filepath.Join(dir, "d.sock"),
				"--mode", "unsafe", "--unit", unit, "--procs", "2", "--iters", "1", "--schedule", spec)
			if r.code != 0 {
				t.Fatalf("%s %s: exit %d\nstderr: %s", unit, spec, r.code, r.stderr)
			}
			var doc struct {
				Results []map[string]any `json:"results"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || len(doc.Results) != 1 {
				t.Fatalf("stdout: %v\n%s", err, r.stdout)
			}
			m := doc.Results[0]
			steps, _ := m["steps"].([]any)
			if m["actual"] != actual || len(steps) != 4 || m["overlap_pct"] == nil {
				t.Errorf("%s %s: actual %v, %d steps, overlap_pct %v", unit, spec, m["actual"], len(steps), m["overlap_pct"])
			}
			for _, s := range steps {
				step := s.(map[string]any)
				for _, k := range []string{"worker", "op", "read", "wrote", "counter", "blocked", "note"} {
					if _, ok := step[k]; !ok {
						t.Errorf("%s %s: step %v lacks %q", unit, spec, step, k)
					}
				}
			}
		}
	}
	noRunLeftovers(t, dir)
}

func TestRaceBadScheduleExits2(t *testing.T) {
	dir := newStateDir(t)
	socket := filepath.Join(dir, "d.sock")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--schedule", "P3"}, "no such worker"},
		{[]string{"--schedule", "P0"}, "no such worker"},
		{[]string{"--schedule", "P1:fly"}, `unknown step "fly"`},
		{[]string{"--schedule", "P1:store"}, "P1 is at step 1, load, not store"},
		{[]string{"--schedule", "P1,P1,P1"}, "P1 has finished"},
		{[]string{"--schedule", "random", "--seed", "x"}, "--seed"},
		{[]string{"--schedule", "P1", "--seed", "1"}, "--seed"},
		{[]string{"--step"}, "needs a terminal"},
	} {
		args := append([]string{"race", "--local", "--socket", socket, "--mode", "unsafe", "--procs", "2", "--iters", "1"}, tc.args...)
		r := runCLI(t, args...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) || r.stdout != "" {
			t.Errorf("%v: exit %d, stderr %q, stdout %q: want exit 2 saying %s", tc.args, r.code, r.stderr, r.stdout, tc.want)
		}
	}
	// Naming a blocked worker is found during the run: exit 2, the steps
	// so far on stdout, nothing left.
	r := runCLI(t, "race", "--local", "--socket", socket, "--mode", "sysv-sem", "--procs", "2", "--iters", "1", "--schedule", "P1,P2,P2")
	if r.code != 2 || !strings.Contains(r.stderr, "blocked") || !strings.Contains(r.stdout, "BLOCKED") {
		t.Errorf("blocked entry: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	noRunLeftovers(t, dir)
}

func TestDemoDeadlockSchedule(t *testing.T) {
	dir := newStateDir(t)
	for spec, cycle := range map[string]bool{"P1,P2,P1,P2": true, "P1,P1": false} {
		r := runCLI(t, "demo", "deadlock", "--local", "--json", "--socket", filepath.Join(dir, "d.sock"), "--timeout", "2s", "--schedule", spec)
		if r.code != 0 {
			t.Fatalf("%s: exit %d\nstderr: %s", spec, r.code, r.stderr)
		}
		var doc map[string]any
		if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
			t.Fatal(err)
		}
		if doc["cycle_found"] != cycle {
			t.Errorf("%s: cycle_found %v, want %v", spec, doc["cycle_found"], cycle)
		}
	}
	noRunLeftovers(t, dir)
}
