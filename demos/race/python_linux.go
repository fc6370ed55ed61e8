package race

import (
	_ "embed"
	"fmt"
	"strings"

	"github.com/ipcplay/ipcplay/demos/conduct"
	"github.com/ipcplay/ipcplay/ipc/python"
	"github.com/ipcplay/ipcplay/ipc/worker"
)

// pyRace is the Python race worker's body, run after ipc/python's
// worker.py (python.Program, python.Args).
//
//go:embed python/race.py
var pyRace string

// PythonSource is the program a Python race worker runs.
func PythonSource() string { return python.Program(pyRace) }

// pySpec is what the parent hands a Python worker: the Go worker's spec
// plus the offsets it would compute from the layout (so the layout has
// one implementation, here).
type pySpec struct {
	workerSpec
	Size       int   `json:"size"`
	CounterOff int   `json:"counter_off"`
	StartedOff int   `json:"started_off"`
	TallyOffs  []int `json:"tally_offs"` // of this worker's racers, in order
	TraceOffs  []int `json:"trace_offs"` // idem; used when Record > 0
	Record     int   `json:"record"`     // increments each racer records (0: none)
	LineGo     int   `json:"line_go"`    // Go workers at the start line, to wait for
	SwitchNs   int64 `json:"switch_interval_ns,omitempty"`
}

// isPython reports whether worker i (0-based) of the run is a Python one.
func (p *Params) isPython(i int) bool {
	switch p.Lang {
	case LangPython:
		return true
	case LangMixed:
		return i%2 == 1
	}
	return false
}

// langSpecs turns the Go workers' specs of a trial into those the run's
// languages need: a Python worker runs the embedded script under the same
// supervision (worker.Spec.Command). For mp-value and mp-value-lock one
// Python worker is the parent that starts every racer with
// multiprocessing.
func (r *runner) langSpecs(mi *modeDef, specs []worker.Spec) ([]worker.Spec, error) {
	p := r.p
	if p.Lang == LangGo {
		return specs, nil
	}
	if p.interp == nil {
		return nil, fmt.Errorf("race: --lang %s without an interpreter", p.Lang)
	}
	if mi.processOnly {
		// One parent for all racers: it pins each child itself.
		s := specs[0]
		ws := s.Spec.(workerSpec)
		ws.First, ws.Threads = 0, p.Procs
		ws.PinCPUs = p.CPUs
		s.Spec, s.Name, s.CPUs = ws, "python", nil
		specs = []worker.Spec{s}
	}
	nGo := 0
	for i := 0; i < p.Procs && p.Unit == UnitProcess; i++ {
		if !p.isPython(i) {
			nGo++
		}
	}
	for i := range specs {
		ws := specs[i].Spec.(workerSpec)
		if p.Lang == LangMixed && !p.isPython(i) {
			ws.LineProcs = nGo
			specs[i].Spec = ws
			continue
		}
		if p.Lang == LangMixed && p.isPython(i) {
			ws.LineProcs = 0
		}
		ps := pySpec{workerSpec: ws, Size: r.lay.Size, CounterOff: r.lay.counter(), StartedOff: r.lay.started(), SwitchNs: p.SwitchIntervalNs}
		if p.Lang == LangMixed {
			ps.LineGo = nGo
		}
		if mi.recorded {
			ps.Record = r.lay.Record
		}
		// The step sockets of a scheduled run are the spec's StepFDs,
		// already numbered for this child.
		for k := 0; k < ws.Threads; k++ {
			ps.TallyOffs = append(ps.TallyOffs, r.lay.tally(ws.First+k))
			ps.TraceOffs = append(ps.TraceOffs, r.lay.trace(ws.First+k))
		}
		argv0 := "ipcplay-race-" + specs[i].Name
		specs[i].Spec = ps
		specs[i].Command = append([]string{p.interp.Path}, python.Args("race.py", argv0)...)
		specs[i].Stdin = []byte(PythonSource())
		specs[i].Kind = "race-python"
	}
	return specs, nil
}

// The Python course's own modes. Their timed loops and steps run only in
// the Python worker (race.py); the entries give the conductor their steps
// and the table its words.
func init() {
	if len(modes) == 0 {
		panic("race: python_linux.go's init ran before modes_linux.go's")
	}
	inPython := func(t *thread, _, _ int64) error {
		return fmt.Errorf("race: %s runs only in a Python worker", t.sh.mode)
	}
	noStep := func(t *thread, _ int64) (*uint64, *uint64, string, error) {
		return nil, nil, "", fmt.Errorf("race: %s runs only in a Python worker", t.sh.mode)
	}
	pyStep := func(name, call string, blocking []int) stepDef {
		return stepDef{StepDef: conduct.StepDef{Name: name, Call: call, Blocking: blocking}, do: noStep}
	}
	lockStep := pyStep("lock", "threading.Lock acquire", conduct.SyscallsFutex)
	lockStep.Acquires = "the lock"
	unlockStep := pyStep("unlock", "threading.Lock release", nil)
	unlockStep.Releases = "the lock"
	explain := func(name string) func(string, *Params) string {
		return func(string, *Params) string { return pythonExplanation(&ModeResult{Mode: name}, 0) }
	}
	word := func(name string) func(bool) string { return func(bool) string { return lockOfPython(name) } }
	modes = append(modes,
		&modeDef{modeInfo: modeInfo{name: ModeGlobal, threadOnly: true, goVar: true}, lock: word(ModeGlobal),
			steps: []stepDef{pyStep("load", "", nil), pyStep("store", "", nil)}, loop: inPython},
		&modeDef{modeInfo: modeInfo{name: ModeThreadingLock, safe: true, threadOnly: true, goVar: true}, lock: word(ModeThreadingLock),
			explain: explain(ModeThreadingLock),
			steps:   []stepDef{lockStep, pyStep("load", "", nil), pyStep("store", "", nil), unlockStep}, loop: inPython},
		&modeDef{modeInfo: modeInfo{name: ModeMPValue, processOnly: true, goVar: true}, lock: word(ModeMPValue), loop: inPython},
		&modeDef{modeInfo: modeInfo{name: ModeMPValueLock, safe: true, processOnly: true, goVar: true}, lock: word(ModeMPValueLock),
			explain: explain(ModeMPValueLock), loop: inPython},
	)
}

// notePython keeps what a Python worker said about its interpreter, and
// fails the trial if Python started a resource tracker: one could unlink
// the run's objects when it exits (cpython issues 82300, 104291).
func (r *runner) notePython(wr worker.Result, info pyInfo) error {
	if info.PythonVersion == "" {
		return nil
	}
	if info.ResourceTrackerPid != nil {
		return fmt.Errorf("worker %s (pid %d): Python started a resource tracker (pid %d), which may unlink the run's objects", wr.Name, wr.Pid, *info.ResourceTrackerPid)
	}
	r.py = &info
	return nil
}

// stepsWording says what a load and a store are in each worker's language:
// "in Python, two bytecodes on a memoryview" when every worker is Python;
// with go,python each worker is named with its own (P1 Go, P2 Python...).
func (p *Params) stepsWording() string {
	const py, goWords = "two bytecodes on a memoryview", "two machine instructions"
	if p.Lang != LangMixed {
		return "in Python, " + py
	}
	var gos, pys []string
	for i := 0; i < p.Procs; i++ {
		if p.isPython(i) {
			pys = append(pys, fmt.Sprintf("P%d", i+1))
		} else {
			gos = append(gos, fmt.Sprintf("P%d", i+1))
		}
	}
	return fmt.Sprintf("%s in Go (%s), %s in Python (%s)", goWords, strings.Join(gos, ", "), py, strings.Join(pys, ", "))
}

// annotate adds the language and, for Python workers, the interpreter's
// version and GIL state to a mode's line, and says what Python did.
func (r *runner) annotate(mr *ModeResult) {
	p := r.p
	mr.Lang = p.Lang
	if p.Lang == LangGo {
		return
	}
	for i := range mr.Witnesses {
		// Replayed by workers of the same languages (P1 Go, P2 Python...).
		if w := &mr.Witnesses[i]; w.Replay != "" && !strings.Contains(w.Replay, "--lang") {
			w.Replay += " --lang " + p.Lang
		}
	}
	if r.py != nil {
		mr.PythonVersion = r.py.PythonVersion
		mr.GILEnabled = r.py.GILEnabled
		mr.SwitchIntervalS = r.py.SwitchIntervalS
	} else if in := p.interp; in != nil {
		// No Python worker reported (a stopped scheduled run): what the
		// probe found of the same interpreter.
		gil := in.GILEnabled
		mr.PythonVersion, mr.GILEnabled = in.Version, &gil
	}
	lock := lockOfPython(mr.Mode)
	if p.Lang == LangMixed {
		lock = mr.Lock + " (Go workers); " + lock + " (Python workers)"
	}
	mr.Lock = lock
	if pythonOnly(mr.Mode) {
		mr.Counter = "a multiprocessing.Value in the Python parent's shared heap"
		if mr.Unit == UnitThread {
			mr.Counter = "a global of the Python worker process"
		}
		mr.Explanation = pythonExplanation(mr, mr.Trials.LostMax)
		return
	}
	switch mr.Mode {
	case ModePosixSem:
		mr.Explanation += "; the Python workers called glibc's own sem_wait/sem_post on the same semaphore"
	case ModeSysVSem:
		mr.Explanation += "; the Python workers called semop(2) through ctypes"
	case ModeUnsafe:
		mr.Explanation = strings.Replace(mr.Explanation, "load and store are separate instructions", "load and store are separate steps ("+p.stepsWording()+")", 1)
		if mr.Unit == UnitThread && p.Lang == LangPython && mr.Trials.LostMax == 0 && mr.GILEnabled != nil && *mr.GILEnabled {
			mr.Explanation = "load and store are separate bytecodes on a memoryview; with the GIL on, the threads took turns and no switch fell between them this time, " +
				"but CPython promises nothing of the kind: --window 1ms (a sleep releases the GIL), another version or a free-threaded build loses updates"
		}
	}
}
