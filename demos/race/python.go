package race

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ipcplay/ipcplay/ipc"
	"github.com/ipcplay/ipcplay/ipc/python"
)

// Languages of the workers (Params.Lang).
const (
	LangGo     = "go"
	LangPython = "python"
	LangMixed  = "go,python" // workers alternate: P1 Go, P2 Python, P3 Go...
)

// The Python course's own modes (--lang python only).
const (
	ModeGlobal        = "global"         // counter += 1 on a Python global (--unit thread)
	ModeThreadingLock = "threading-lock" // the same under a threading.Lock
	ModeMPValue       = "mp-value"       // v.value += 1 on a multiprocessing.Value
	ModeMPValueLock   = "mp-value-lock"  // the same inside `with v.get_lock():`
)

// pythonModes are the modes a Python worker runs, as a Python program
// expresses them honestly.
var pythonModes = []string{ModeUnsafe, ModeGlobal, ModeThreadingLock, ModeMPValue, ModeMPValueLock, ModeSysVSem, ModePosixSem, ModeFlock}

// pythonRefused says why a Python worker does not run a mode.
var pythonRefused = map[string]string{
	ModeUnsafeGo:        "it is x++ on a Go variable; the Python form is --mode global (counter += 1 on a Python global, --unit thread)",
	ModeMutex:           "it is Go's sync.Mutex; the Python form is --mode threading-lock (--unit thread)",
	ModeAtomic:          "Python has no atomic read-modify-write on shared memory (no LOCK XADD in the standard library or ctypes)",
	ModeFutex:           "Python's standard library has neither the futex system call nor an atomic compare-and-swap to build a futex mutex on",
	ModeSocketToken:     "ipcplay's Python worker does not implement the socketpair token ring (a Go worker passes it as descriptors)",
	ModePosixSemUnnamed: "ipcplay's Python worker does not implement a sem_t inside the region; use posix-sem (the named one, through libc's sem_open)",
}

// pythonOnly reports whether mode exists only for Python workers.
func pythonOnly(mode string) bool {
	switch mode {
	case ModeGlobal, ModeThreadingLock, ModeMPValue, ModeMPValueLock:
		return true
	}
	return false
}

// ModesFor lists the modes `all` runs for a unit and a language, in order.
func ModesFor(unit, lang string) []string {
	var out []string
	for _, m := range modes {
		if err := langAllows(m.modeInfo, unit, lang, false); err == nil && (!m.threadOnly || unit == UnitThread) && (!m.processOnly || unit == UnitProcess) {
			out = append(out, m.name)
		}
	}
	return out
}

// langAllows refuses a mode the workers' language cannot run, with the
// reason (scheduled: a --schedule run).
func langAllows(mi modeInfo, unit, lang string, scheduled bool) error {
	py := lang == LangPython || lang == LangMixed
	switch {
	case py && scheduled && mi.processOnly:
		return ipc.Usagef("--mode %s --schedule: the racers are multiprocessing's children, which ipcplay's conductor does not drive; schedule unsafe, sysv-sem, posix-sem or flock", mi.name)
	case pythonOnly(mi.name) && lang != LangPython:
		return ipc.Usagef("--mode %s: a Python form (%s); run it with --lang python", mi.name, lockOfPython(mi.name))
	case py && !slices.Contains(pythonModes, mi.name):
		return ipc.Usagef("--mode %s: --lang %s cannot run it: %s", mi.name, lang, pythonRefused[mi.name])
	case mi.processOnly && unit != UnitProcess:
		return ipc.Usagef("--mode %s: runs processes started by multiprocessing; use --unit process", mi.name)
	case mi.threadOnly && pythonOnly(mi.name) && unit != UnitThread:
		return ipc.Usagef("--mode %s: races the threads of one Python process; use --unit thread", mi.name)
	}
	return nil
}

// Bounds of --switch-interval (sys.setswitchinterval).
const (
	MinSwitchInterval = time.Microsecond
	MaxSwitchInterval = time.Second
)

// normalizeLang checks --lang, --python and --switch-interval, and finds
// the interpreter when a worker is Python: a missing or too old one is bad
// input (exit 2) that says how to install Python. Nothing is created.
func (p *Params) normalizeLang() error {
	p.Lang = strings.ReplaceAll(strings.ToLower(strings.TrimSpace(p.Lang)), " ", "")
	switch p.Lang {
	case "":
		p.Lang = LangGo
	case LangGo, LangPython, LangMixed:
	default:
		// "python,go" too: the order is part of the value (P1 is Go), so
		// an order that would not be followed is refused, not ignored.
		return ipc.Usagef("--lang %q: must be go, python or go,python (Go and Python workers alternate, P1 Go, P2 Python, ...; written in this order)", p.Lang)
	}
	py := p.Lang != LangGo
	if !py {
		if p.Python != "" {
			return ipc.Usagef("--python %s: only with --lang python or go,python", p.Python)
		}
		if p.SwitchIntervalNs != 0 {
			return ipc.Usagef("--switch-interval: only with --lang python (it is sys.setswitchinterval)")
		}
		return nil
	}
	if p.Lang == LangMixed && p.Unit == UnitThread {
		return ipc.Usagef("--lang go,python --unit thread: the threads share one worker process, which has one language; use --lang go or --lang python, or --unit process")
	}
	if p.SwitchIntervalNs != 0 && (p.SwitchIntervalNs < int64(MinSwitchInterval) || p.SwitchIntervalNs > int64(MaxSwitchInterval)) {
		return ipc.Usagef("--switch-interval %s: must be between %s and %s", time.Duration(p.SwitchIntervalNs), MinSwitchInterval, MaxSwitchInterval)
	}
	if p.SwitchIntervalNs != 0 && p.Lang != LangPython {
		return ipc.Usagef("--switch-interval: only with --lang python")
	}
	in, err := python.Find(context.Background(), p.Python)
	if err != nil {
		flag := "--lang " + p.Lang
		if p.Python != "" {
			flag = "--python " + p.Python
		}
		return ipc.Usagef("%s: %v", flag, err)
	}
	p.interp = in
	return nil
}

// pyInfo is what a Python worker says about its interpreter.
type pyInfo struct {
	PythonVersion   string  `json:"python_version,omitempty"`
	PythonImpl      string  `json:"python_implementation,omitempty"`
	GILEnabled      *bool   `json:"gil_enabled,omitempty"`
	SwitchIntervalS float64 `json:"switch_interval_s,omitempty"`
	// ResourceTrackerPid is the pid of multiprocessing's resource tracker
	// if the worker started one: it never should (see race.py).
	ResourceTrackerPid *int `json:"resource_tracker_pid,omitempty"`
}

// lockOfPython says what serialises a mode's increment in a Python worker.
func lockOfPython(mode string) string {
	switch mode {
	case ModeUnsafe:
		return "none: counter = q[0]; q[0] = counter + 1 on a memoryview of the region"
	case ModeGlobal:
		return "none: counter += 1 on a Python global"
	case ModeThreadingLock:
		return "threading.Lock around counter += 1"
	case ModeMPValue:
		return "none: v.value += 1 on a multiprocessing.Value (its lock guards the read and the write separately)"
	case ModeMPValueLock:
		return "with v.get_lock(): v.value += 1"
	case ModeSysVSem:
		return "System V semaphore, semop(2) P/V through ctypes"
	case ModePosixSem:
		return "POSIX named semaphore, libc's sem_open/sem_wait/sem_post through ctypes"
	case ModeFlock:
		return "fcntl.flock LOCK_EX/LOCK_UN, one open file description per worker"
	}
	return ""
}

// pythonExplanation is the table's line for a mode Python workers ran. It
// never says the GIL makes counter += 1 safe: the GIL only makes each
// bytecode atomic, and which bytecodes a thread switch falls between is
// the interpreter's business, not a promise.
func pythonExplanation(mr *ModeResult, lost int64) string {
	gil := "with the GIL on"
	if mr.GILEnabled != nil && !*mr.GILEnabled {
		gil = "with the GIL off (free-threaded)"
	}
	switch mr.Mode {
	case ModeGlobal:
		if lost == 0 {
			return fmt.Sprintf("counter += 1 is a load, an add and a store (several bytecodes); %s, no thread switch fell between them this time, "+
				"but CPython promises nothing of the kind: older versions switch there (try 3.8 with --switch-interval 1us) and a free-threaded build runs them in parallel; use threading.Lock", gil)
		}
		return fmt.Sprintf("counter += 1 is a load, an add and a store (several bytecodes); %s, another thread ran between them and its update was overwritten", gil)
	case ModeThreadingLock:
		return "threading.Lock serialises the load, add and store; correct with or without a GIL"
	case ModeMPValue:
		if lost == 0 {
			return "v.value += 1 takes the Value's lock for the read, releases it, then takes it again for the write: no other process wrote in between this time, but nothing prevents it"
		}
		return "v.value += 1 takes the Value's lock for the read, releases it, then takes it again for the write: another process wrote in between, and its update was overwritten"
	case ModeMPValueLock:
		return "get_lock() holds the Value's lock (a POSIX semaphore) across the read and the write: each increment is two semaphore operations"
	}
	return ""
}

// pythonHeader is what the table's title adds for Python workers: the
// interpreter, its GIL state and switch interval, and for threads where
// the course's own modes keep their counter.
func pythonHeader(m *ModeResult) string {
	if m.Lang != LangPython && m.Lang != LangMixed || m.PythonVersion == "" {
		return ""
	}
	gil := "GIL on"
	if m.GILEnabled != nil && !*m.GILEnabled {
		gil = "GIL off"
	}
	who := "Python workers"
	if m.Lang == LangMixed {
		who = "Go and Python workers alternate (P1 Go, P2 Python...); Python"
	}
	s := fmt.Sprintf("\n%s: CPython %s, %s", who, m.PythonVersion, gil)
	if m.SwitchIntervalS > 0 {
		s += ", switch interval " + time.Duration(m.SwitchIntervalS*1e9).String()
	}
	if m.Unit == UnitThread {
		s += " (global and threading-lock: a global of the worker)"
	}
	return s
}
