package race

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ipcplay/ipcplay/demos/conduct"
	"github.com/ipcplay/ipcplay/ipc"
	"github.com/ipcplay/ipcplay/ipc/python"
	"github.com/ipcplay/ipcplay/shm"
)

// Units: who races.
const (
	UnitProcess = "process" // one worker process each
	UnitThread  = "thread"  // goroutines locked to OS threads in one worker process
)

// Mode names.
const (
	ModeUnsafe          = "unsafe"
	ModeUnsafeGo        = "unsafe-go"
	ModeAtomic          = "atomic"
	ModeMutex           = "mutex"
	ModeSysVSem         = "sysv-sem"
	ModePosixSem        = "posix-sem"
	ModePosixSemUnnamed = "posix-sem-unnamed"
	ModeFutex           = "futex"
	ModeFlock           = "flock"
	ModeSocketToken     = "socket-token"
)

// modeInfo is what a mode is (the rest of its table entry, modeDef, is
// in modes_linux.go).
type modeInfo struct {
	name       string
	safe       bool
	threadOnly bool
	goVar      bool // the counter is an ordinary Go variable, not the region
	recorded   bool // the increment is a load and a store that can be recorded
	// processOnly: the mode starts its own processes (multiprocessing).
	processOnly bool
}

// Modes lists the modes Go workers of a unit can run, in the order `all`
// runs them (ModesFor gives them for Python workers).
func Modes(unit string) []string { return ModesFor(unit, LangGo) }

// Bounds of the parameters.
const (
	MaxIters     = 1_000_000_000 // per worker
	MaxTrials    = 1000
	MaxWindow    = time.Second
	MaxRecord    = 1_000_000 // recorded increments per worker
	MaxExplain   = 1000
	DefaultIters = 100_000
	// DefaultRecord is how many increments each worker records for
	// --explain and --trace unless Params.Record says otherwise.
	DefaultRecord = 4096
	// maxTraceEvents bounds the recorded increments a result carries for
	// --trace (all modes and workers together), to keep it well below the
	// daemon's response limit.
	maxTraceEvents = 200_000
)

// Params are the race experiment's JSON parameters.
type Params struct {
	Modes    []string `json:"modes"`     // mode names, or ["all"]
	Unit     string   `json:"unit"`      // "process" (default) or "thread"
	Procs    int      `json:"procs"`     // workers (processes or threads)
	Iters    int64    `json:"iters"`     // increments per worker
	Shm      string   `json:"shm"`       // region backend, default memfd
	WindowNs int64    `json:"window_ns"` // gap between load and store
	Yield    bool     `json:"yield"`     // sched_yield between load and store
	Undo     *bool    `json:"undo"`      // SEM_UNDO for sysv-sem; nil means true
	Trials   int      `json:"trials"`    // repetitions, default 1
	CPUs     []int    `json:"cpus"`      // pin worker i to CPUs[i % len]; empty: every allowed CPU
	Unpinned bool     `json:"unpinned"`  // leave placement to the scheduler (--cpus none)
	SameLine bool     `json:"same_line"` // per-worker tallies on one cache line
	Explain  int      `json:"explain"`   // lost-update witnesses to keep per mode
	Trace    bool     `json:"trace"`     // return the records for a trace file
	Record   int      `json:"record"`    // increments recorded per worker (0: DefaultRecord when recording)
	// Schedule is --schedule SPEC (see package conduct): the workers take
	// one step at a time in that order. "" for a timed run.
	Schedule string `json:"schedule,omitempty"`
	// Seed drives "random" in Schedule; nil: the run picks one and
	// reports it.
	Seed *uint64 `json:"seed,omitempty"`
	// StopAfter ends a scheduled run after the schedule's entries
	// (--step replays the steps so far and shows where the workers stand).
	StopAfter bool `json:"stop_after,omitempty"`
	// Lang is the workers' language: "go" (default), "python", or
	// "go,python" (they alternate). Python is the interpreter (--python;
	// "": python3 from PATH). SwitchIntervalNs is Python's
	// sys.setswitchinterval (0: the interpreter's default, 5 ms).
	Lang             string `json:"lang,omitempty"`
	Python           string `json:"python,omitempty"`
	SwitchIntervalNs int64  `json:"switch_interval_ns,omitempty"`

	interp *python.Interpreter // found by normalizeLang
}

// MaxScheduledSteps bounds the steps of a scheduled run (procs × iters ×
// steps per increment): each is a round trip with the conductor and a row
// of the result.
const MaxScheduledSteps = 20_000

// scheduled reports whether the run is driven by the conductor.
func (p *Params) scheduled() bool { return p.Schedule != "" || p.StopAfter }

// undo reports whether SEM_UNDO is on.
func (p *Params) undo() bool { return p.Undo == nil || *p.Undo }

// recording reports whether workers record their increments.
func (p *Params) recording() bool { return p.Explain > 0 || p.Trace }

// DecodeParams decodes raw strictly, fills the defaults and validates the
// result against lim. Errors are ipc.UsageErrors naming the flag.
func DecodeParams(raw json.RawMessage, lim ipc.Limits) (*Params, error) {
	var p Params
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := dec.Decode(&p); err != nil {
			return nil, ipc.Usagef("race: bad parameters: %v", err)
		}
	}
	if err := p.normalize(lim); err != nil {
		return nil, err
	}
	return &p, nil
}

// Validate is the experiment's Validate: it checks params without creating
// anything.
func Validate(raw json.RawMessage, lim ipc.Limits) error {
	_, err := DecodeParams(raw, lim)
	return err
}

func (p *Params) normalize(lim ipc.Limits) error {
	if p.Unit == "" {
		p.Unit = UnitProcess
	}
	if p.Unit != UnitProcess && p.Unit != UnitThread {
		return ipc.Usagef("--unit %q: must be %s or %s", p.Unit, UnitProcess, UnitThread)
	}
	if p.Shm == "" {
		p.Shm = string(shm.Memfd)
	}
	kind, err := shm.ParseKind(p.Shm)
	if err != nil {
		return ipc.Usagef("--shm %q: must be one of memfd, posix, sysv, file", p.Shm)
	}
	p.Shm = string(kind)
	if err := p.normalizeLang(); err != nil {
		return err
	}
	if err := p.normalizeModes(); err != nil {
		return err
	}
	if err := lim.CheckProcs("--procs", p.Procs); err != nil {
		return err
	}
	if p.Lang == LangMixed && p.Procs < 2 && p.Unit == UnitProcess {
		return ipc.Usagef("--lang go,python --procs %d: P1 is a Go worker and there is no P2 for Python; give --procs 2 or more", p.Procs)
	}
	if p.Iters < 1 || p.Iters > MaxIters {
		return ipc.Usagef("--iters %d: must be between 1 and %d (1e9) increments per worker", p.Iters, MaxIters)
	}
	if p.Trials == 0 {
		p.Trials = 1
	}
	if p.Trials < 1 || p.Trials > MaxTrials {
		return ipc.Usagef("--trials %d: must be between 1 and %d", p.Trials, MaxTrials)
	}
	if p.WindowNs < 0 || p.WindowNs > int64(MaxWindow) {
		return ipc.Usagef("--window %s: must be between 0 and %s", time.Duration(p.WindowNs), MaxWindow)
	}
	if p.Explain < 0 || p.Explain > MaxExplain {
		return ipc.Usagef("--explain %d: must be between 1 and %d witnesses", p.Explain, MaxExplain)
	}
	if p.Record < 0 || p.Record > MaxRecord {
		return ipc.Usagef("--record %d: must be between 1 and %d increments per worker", p.Record, MaxRecord)
	}
	if p.recording() {
		if p.Record == 0 {
			p.Record = DefaultRecord
		}
		p.Record = int(min(int64(p.Record), p.Iters))
		if !slices.ContainsFunc(p.Modes, func(m string) bool { mi, _ := lookupMode(m); return mi.recorded }) {
			return ipc.Usagef("--explain and --trace record loads and stores: none of the modes %s has any (atomic is one instruction); add --mode unsafe", strings.Join(p.Modes, ","))
		}
	} else {
		p.Record = 0
	}
	if err := checkCPUs(p.CPUs); err != nil {
		return err
	}
	if err := p.checkSchedule(); err != nil {
		return err
	}
	l := newLayout(p.Procs, p.SameLine, p.Record)
	if err := lim.CheckShm("--procs, --record and --same-line", int64(l.Size)); err != nil {
		return err
	}
	return nil
}

// checkSchedule checks a scheduled run's parameters, the schedule against
// every worker's steps included, before anything is created.
func (p *Params) checkSchedule() error {
	if !p.scheduled() {
		if p.Seed != nil {
			return ipc.Usagef("--seed: only with --schedule ...,random")
		}
		return nil
	}
	if len(p.Modes) != 1 {
		return ipc.Usagef("--schedule with --mode %s: name one mode (the schedule names its steps)", strings.Join(p.Modes, ","))
	}
	m, _ := lookupMode(p.Modes[0])
	switch {
	case p.Trials != 1:
		return ipc.Usagef("--schedule with --trials %d: a schedule replays exactly, one trial says it all", p.Trials)
	case p.recording():
		return ipc.Usagef("--schedule with --explain or --trace: the step table already shows every load and store")
	case p.WindowNs > 0 || p.Yield:
		return ipc.Usagef("--schedule with --window or --yield: the schedule decides the interleaving")
	}
	// The schedule's own syntax first (garbage, P3 of 2 workers): the
	// first error is then about what the user wrote, not the run's size.
	var s conduct.Schedule
	if p.Schedule != "" { // "": --step with no step taken yet
		var err error
		if s, err = conduct.ParseSchedule(p.Schedule, p.Procs, m.stepNames()); err != nil {
			return err
		}
	}
	if n := int64(p.Procs) * p.Iters * int64(len(m.steps)); n > MaxScheduledSteps {
		most := MaxScheduledSteps / (int64(p.Procs) * int64(len(m.steps)))
		return ipc.Usagef("--schedule with --procs %d and --iters %d: %d steps (%d per increment), at most %d; use --iters 1 (a schedule is for a few steps you take one by one; at most --iters %d with --procs %d)", p.Procs, p.Iters, n, len(m.steps), MaxScheduledSteps, most, p.Procs)
	}
	if p.Schedule == "" {
		return nil
	}
	if p.Seed != nil && !s.Random {
		return ipc.Usagef("--seed %d: only with random as the last entry of --schedule", *p.Seed)
	}
	return conduct.CheckSchedule(p.Schedule, s, p.plans(m), func(i int) string { return label(p.Unit, i) })
}

// plans is every worker's step sequence.
func (p *Params) plans(m *modeDef) []conduct.Plan {
	out := make([]conduct.Plan, p.Procs)
	for i := range out {
		out[i] = m.plan(i, p.Procs, p.Iters, p.Unit)
	}
	return out
}

func (p *Params) normalizeModes() error {
	if len(p.Modes) == 0 {
		p.Modes = []string{"all"}
	}
	var out []string
	for _, m := range p.Modes {
		m = strings.ToLower(strings.TrimSpace(m))
		if m == "all" {
			for _, n := range ModesFor(p.Unit, p.Lang) {
				if !slices.Contains(out, n) {
					out = append(out, n)
				}
			}
			continue
		}
		mi, ok := lookupMode(m)
		if !ok {
			return ipc.Usagef("--mode %q: must be all or a comma list of %s", m, strings.Join(ModesFor(UnitThread, p.Lang), ", "))
		}
		if err := langAllows(mi.modeInfo, p.Unit, p.Lang, p.scheduled()); err != nil {
			return err
		}
		if mi.threadOnly && p.Unit != UnitThread {
			return ipc.Usagef("--mode %s: runs only with --unit thread (it uses a Go variable of one process)", m)
		}
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	p.Modes = out
	return nil
}

// ParseCPUList parses a CPU list as taskset and /sys print it: "0", "0,2",
// "0-3,6". The error is an ipc.UsageError naming --cpus.
func ParseCPUList(s string) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []int
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err1 := strconv.Atoi(lo)
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || a < 0 || b < a || b-a > maxCPU {
			return nil, ipc.Usagef("--cpus %q: %q is not a CPU number or range (write e.g. 0 or 0,2 or 0-3)", s, part)
		}
		for c := a; c <= b; c++ {
			out = append(out, c)
		}
	}
	return out, nil
}

// FormatCPUList is the inverse of ParseCPUList ("0-3,6").
func FormatCPUList(cpus []int) string {
	var b strings.Builder
	for i := 0; i < len(cpus); {
		j := i
		for j+1 < len(cpus) && cpus[j+1] == cpus[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		if j > i+1 {
			fmt.Fprintf(&b, "%d-%d", cpus[i], cpus[j])
		} else if j == i+1 {
			fmt.Fprintf(&b, "%d,%d", cpus[i], cpus[j])
		} else {
			fmt.Fprintf(&b, "%d", cpus[i])
		}
		i = j + 1
	}
	return b.String()
}
