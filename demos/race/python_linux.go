package race

import (
	_ "embed"
	"fmt"
	"strings"

	"github.com/ipcplay/ipcplay/ipc/python"
	"github.com/ipcplay/ipcplay/ipc/worker"
)

// pyRace is the Python race worker's body, run after ipc/python's
// worker.py with `python3 -I -B -c`.
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
func (r *runner) langSpecs(mi modeInfo, specs []worker.Spec) ([]worker.Spec, error) {
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
		for k := 0; k < ws.Threads; k++ {
			ps.TallyOffs = append(ps.TallyOffs, r.lay.tally(ws.First+k))
			ps.TraceOffs = append(ps.TraceOffs, r.lay.trace(ws.First+k))
		}
		argv0 := "ipcplay-race-" + specs[i].Name
		specs[i].Spec = ps
		specs[i].Command = append([]string{p.interp.Path}, python.Args(PythonSource(), argv0)...)
		specs[i].Kind = "race-python"
	}
	return specs, nil
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

// annotate adds the language and, for Python workers, the interpreter's
// version and GIL state to a mode's line, and says what Python did.
func (r *runner) annotate(mr *ModeResult) {
	p := r.p
	mr.Lang = p.Lang
	if p.Lang == LangGo || r.py == nil {
		return
	}
	mr.PythonVersion = r.py.PythonVersion
	mr.GILEnabled = r.py.GILEnabled
	mr.SwitchIntervalS = r.py.SwitchIntervalS
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
		mr.Explanation = strings.Replace(mr.Explanation, "load and store are separate instructions", "load and store are separate steps (in Python, two bytecodes on a memoryview)", 1)
	}
}
