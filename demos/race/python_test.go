package race

import (
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/ipcplay/ipcplay/ipc"
	"github.com/ipcplay/ipcplay/ipc/python/pythontest"
	"github.com/ipcplay/ipcplay/shm"
)

// pythonLeftovers lists what Python's multiprocessing and shared_memory
// leave in /dev/shm when their resource tracker is involved: psm_* (a
// SharedMemory), sem.mp-* (a named multiprocessing semaphore), pym-* (the
// multiprocessing heap before it is unlinked).
func pythonLeftovers(t *testing.T) []string {
	t.Helper()
	ents, err := os.ReadDir("/dev/shm")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		n := e.Name()
		if strings.HasPrefix(n, "psm_") || strings.HasPrefix(n, "sem.mp-") || strings.HasPrefix(n, "pym-") {
			out = append(out, n)
		}
	}
	return out
}

// checkPython checks that every result of a run with Python workers says
// so, with the interpreter's version and GIL state.
func checkPython(t *testing.T, res *Result, lang, version string) {
	t.Helper()
	for _, r := range res.Results {
		if r.Lang != lang || r.PythonVersion != version || r.GILEnabled == nil {
			t.Errorf("%s: lang %q python_version %q gil_enabled %v, want %s, %s and a GIL state", r.Mode, r.Lang, r.PythonVersion, r.GILEnabled, lang, version)
		}
	}
}

func TestPythonWorkersOnEveryBackend(t *testing.T) {
	in := pythontest.Require(t)
	before := pythonLeftovers(t)
	for _, kind := range shm.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			e := newEngine(t)
			// Two trials: a Python process whose resource tracker unlinked
			// the region or the semaphore it attached to would make the
			// second trial fail to open them.
			modes := []string{ModeUnsafe, ModePosixSem, ModeSysVSem, ModeFlock}
			res, err := runRace(t, e, Params{Modes: modes, Lang: LangPython, Procs: 2, Iters: 3000, Shm: string(kind), Trials: 2})
			if err != nil {
				t.Fatal(err)
			}
			checkExact(t, res, modes[1:])
			checkPython(t, res, LangPython, in.Version)
			if u := byMode(t, res)[ModeUnsafe]; u.Actual < 1 || u.Actual > u.Expected || u.Safe {
				t.Errorf("unsafe: %+v", u)
			}
		})
	}
	if after := pythonLeftovers(t); len(after) > len(before) {
		t.Errorf("Python left in /dev/shm: %v (before: %v)", after, before)
	}
}

func TestGoAndPythonShareOneSemaphore(t *testing.T) {
	in := pythontest.Require(t)
	e := newEngine(t)
	modes := []string{ModePosixSem, ModeSysVSem, ModeFlock}
	res, err := runRace(t, e, Params{Modes: modes, Lang: LangMixed, Procs: 4, Iters: 3000})
	if err != nil {
		t.Fatal(err)
	}
	checkExact(t, res, modes)
	checkPython(t, res, LangMixed, in.Version)
	if l := byMode(t, res)[ModePosixSem].Lock; !strings.Contains(l, "Go workers") || !strings.Contains(l, "sem_open") {
		t.Errorf("posix-sem lock %q does not say both languages took it", l)
	}
}

func TestPythonMultiprocessingValue(t *testing.T) {
	in := pythontest.Require(t)
	before := pythonLeftovers(t)
	e := newEngine(t)
	res, err := runRace(t, e, Params{Modes: []string{"all"}, Lang: LangPython, Procs: 2, Iters: 2000, Trials: 2})
	if err != nil {
		t.Fatal(err)
	}
	want := ModesFor(UnitProcess, LangPython)
	if !slices.Contains(want, ModeMPValue) || !slices.Contains(want, ModeMPValueLock) || len(res.Results) != len(want) {
		t.Fatalf("all ran %d modes, want %v", len(res.Results), want)
	}
	checkExact(t, res, []string{ModeMPValueLock, ModePosixSem, ModeSysVSem, ModeFlock})
	checkPython(t, res, LangPython, in.Version)
	mp := byMode(t, res)[ModeMPValue]
	if mp.Actual < 1 || mp.Actual > mp.Expected || mp.Safe || !strings.Contains(mp.Counter, "multiprocessing.Value") {
		t.Errorf("mp-value: %+v", mp)
	}
	if after := pythonLeftovers(t); len(after) > len(before) {
		t.Errorf("multiprocessing left in /dev/shm: %v (before: %v)", after, before)
	}
}

func TestPythonThreads(t *testing.T) {
	in := pythontest.Require(t)
	e := newEngine(t)
	res, err := runRace(t, e, Params{Modes: []string{"all"}, Unit: UnitThread, Lang: LangPython, Procs: 3, Iters: 3000, SwitchIntervalNs: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if want := ModesFor(UnitThread, LangPython); len(res.Results) != len(want) {
		t.Fatalf("%d results, want %v", len(res.Results), want)
	}
	checkExact(t, res, []string{ModeThreadingLock, ModePosixSem, ModeSysVSem, ModeFlock})
	checkPython(t, res, LangPython, in.Version)
	g := byMode(t, res)[ModeGlobal]
	if g.Actual < 1 || g.Actual > g.Expected || g.Safe || g.SwitchIntervalS != 1e-6 {
		t.Errorf("global: %+v", g)
	}
	// Whatever was lost, the line never says the GIL made += safe.
	if strings.Contains(g.Explanation, "safe") && !strings.Contains(g.Explanation, "promises nothing") {
		t.Errorf("global's explanation implies safety: %q", g.Explanation)
	}
}

func TestPythonBadInputCreatesNothing(t *testing.T) {
	missing := t.TempDir() + "/python3"
	for _, c := range []struct {
		p    Params
		says []string
	}{
		{Params{Lang: "ruby"}, []string{"--lang", "ruby", "go, python or go,python"}},
		// The order of go,python is part of the value (P1 Go): another
		// order is refused, not silently read as go,python.
		{Params{Lang: "python,go"}, []string{`--lang "python,go"`, "go, python or go,python", "P1 Go, P2 Python", "in this order"}},
		{Params{Lang: LangPython, Python: missing}, []string{"--python", "no such file", "apt-get install python3"}},
		{Params{Lang: LangGo, Python: "/usr/bin/python3"}, []string{"--python", "only with --lang python"}},
		{Params{Lang: LangGo, SwitchIntervalNs: 1000}, []string{"--switch-interval"}},
		{Params{Modes: []string{ModeMPValue}}, []string{"mp-value", "--lang python"}},
		{Params{Modes: []string{ModeGlobal}, Unit: UnitThread}, []string{"global", "--lang python"}},
	} {
		err := Validate(mustJSON(t, c.p), ipc.DefaultLimits())
		var u interface{ UsageError() bool }
		if !errors.As(err, &u) || !u.UsageError() {
			t.Errorf("%+v: err = %v, want a usage error", c.p, err)
			continue
		}
		for _, s := range c.says {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%+v: %q does not say %q", c.p, err, s)
			}
		}
	}
	// Refusals that need a Python to reach (the interpreter is checked
	// first: a missing one is the first thing to fix).
	pythontest.Require(t)
	for _, c := range []struct {
		p   Params
		why string
	}{
		{Params{Lang: LangPython, Modes: []string{ModeAtomic}}, "no atomic read-modify-write"},
		{Params{Lang: LangPython, Modes: []string{ModeFutex}}, "futex"},
		{Params{Lang: LangPython, Modes: []string{ModeSocketToken}}, "token ring"},
		{Params{Lang: LangMixed, Unit: UnitThread}, "one language"},
		{Params{Lang: LangMixed, Procs: 1, Modes: []string{ModeSysVSem}}, "no P2 for Python; give --procs 2"},
		{Params{Lang: LangPython, Modes: []string{ModeMPValue}, Unit: UnitThread}, "--unit process"},
		{Params{Lang: LangPython, Modes: []string{ModeGlobal}}, "--unit thread"},
		{Params{Lang: LangPython, SwitchIntervalNs: 2e9}, "--switch-interval"},
	} {
		err := Validate(mustJSON(t, c.p), ipc.DefaultLimits())
		if err == nil || !strings.Contains(err.Error(), c.why) {
			t.Errorf("%+v: err = %v, want it to say %q", c.p, err, c.why)
		}
	}
	// Through the engine: refused before anything is created.
	e := newEngine(t)
	if _, err := runRace(t, e, Params{Lang: LangPython, Python: missing}); err == nil {
		t.Fatal("a missing --python ran")
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPythonFollowsTheConductor(t *testing.T) {
	pythontest.Require(t)
	e := newEngine(t)
	// The course's lost update, step by step: both load 0, both store 1.
	res, err := runRace(t, e, Params{Modes: []string{ModeUnsafe}, Lang: LangPython, Procs: 2, Iters: 1, Schedule: "P1,P2,P1,P2"})
	if err != nil {
		t.Fatal(err)
	}
	u := res.Results[0]
	if u.Actual != 1 || u.Lost != 1 || len(u.Steps) != 4 || u.Lang != LangPython || u.PythonVersion == "" {
		t.Fatalf("unsafe P1,P2,P1,P2: actual %d lost %d, %d steps, lang %q python %q", u.Actual, u.Lost, len(u.Steps), u.Lang, u.PythonVersion)
	}
	// Go and Python on one System V semaphore: the Python worker (P2)
	// blocks in semop called through ctypes, and the conductor sees it.
	res, err = runRace(t, e, Params{Modes: []string{ModeSysVSem}, Lang: LangMixed, Procs: 2, Iters: 1, Schedule: "P1,P2,P1,P1,P1"})
	if err != nil {
		t.Fatal(err)
	}
	s := res.Results[0]
	if s.Actual != 2 || s.Lost != 0 {
		t.Fatalf("sysv-sem: actual %d lost %d", s.Actual, s.Lost)
	}
	blocked := false
	for _, row := range s.Steps {
		if row.Worker == "P2" && row.Blocked {
			blocked = true
		}
	}
	if !blocked {
		t.Errorf("P2's P was not seen blocked: %+v", s.Steps)
	}
	// Python threads under the conductor: a global and a threading.Lock.
	res, err = runRace(t, e, Params{Modes: []string{ModeGlobal}, Unit: UnitThread, Lang: LangPython, Procs: 2, Iters: 1, Schedule: "T1,T2,T1,T2"})
	if err != nil {
		t.Fatal(err)
	}
	if g := res.Results[0]; g.Actual != 1 || g.Lost != 1 {
		t.Errorf("global T1,T2,T1,T2: actual %d lost %d", g.Actual, g.Lost)
	}
	res, err = runRace(t, e, Params{Modes: []string{ModeThreadingLock}, Unit: UnitThread, Lang: LangPython, Procs: 2, Iters: 1, Schedule: "T1,T2,T1,T1,T1"})
	if err != nil {
		t.Fatal(err)
	}
	if l := res.Results[0]; l.Actual != 2 || l.Lost != 0 {
		t.Errorf("threading-lock: actual %d lost %d", l.Actual, l.Lost)
	}
	if err := Validate(mustJSON(t, Params{Modes: []string{ModeMPValue}, Lang: LangPython, Schedule: "P1"}), ipc.DefaultLimits()); err == nil || !strings.Contains(err.Error(), "multiprocessing") {
		t.Errorf("mp-value --schedule: %v, want refused", err)
	}
}
