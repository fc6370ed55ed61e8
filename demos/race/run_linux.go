package race

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ipcplay/ipcplay/ipc"
	"github.com/ipcplay/ipcplay/ipc/plural"
	"github.com/ipcplay/ipcplay/ipc/worker"
	"github.com/ipcplay/ipcplay/semaphore"
	"github.com/ipcplay/ipcplay/shm"
	"github.com/ipcplay/ipcplay/sockets"
)

// ErrLostUpdates marks a run in which a safe mode lost updates. The run's
// table is returned with it.
var ErrLostUpdates = errors.New("a safe mode lost updates")

// runner runs the modes of one experiment run.
type runner struct {
	ctx    context.Context
	env    *ipc.Env
	p      *Params
	lay    layout
	region *shm.Region

	// Objects, created on first use and reused by every trial.
	set      *semaphore.Set
	named    *semaphore.Named
	lockFile string

	py          *pyInfo // what the last Python worker said (python_linux.go)
	total, done int64   // increments of the whole run, for progress
	traceEvents int
	trace       *Trace
}

func run(ctx context.Context, env *ipc.Env, raw json.RawMessage) (any, error) {
	p, err := DecodeParams(raw, env.Limits)
	if err != nil {
		return nil, err
	}
	if len(p.CPUs) == 0 && !p.Unpinned {
		// By default each worker gets a CPU of its own, round robin over
		// the CPUs the engine may use: left to the scheduler, two short
		// runs often take turns on one CPU and never overlap, and the lab
		// would show a time-sliced race in one trial and none in the next.
		p.CPUs = allowedCPUs()
	}
	lay := newLayout(p.Procs, p.SameLine, p.Record)
	region, err := env.CreateRegion(shm.Spec{Kind: shm.Kind(p.Shm), Size: lay.Size})
	if err != nil {
		return nil, err
	}
	r := &runner{ctx: ctx, env: env, p: p, lay: lay, region: region}
	r.total = int64(len(p.Modes)) * int64(p.Trials) * int64(p.Procs) * p.Iters
	if p.Trace {
		r.trace = &Trace{Tracks: []Track{}}
	}
	res := &Result{Kind: Kind, CPUs: runtime.NumCPU(), Results: []ModeResult{}}
	var broken []error
	for _, m := range p.Modes {
		mr, err := r.mode(m)
		if mr != nil {
			res.Results = append(res.Results, *mr)
			if mr.Broken {
				broken = append(broken, fmt.Errorf("%w: %s lost %d of %s (%d of %s lost some)",
					ErrLostUpdates, m, mr.Trials.LostMax, plural.Count(mr.Expected, "update", "updates"), mr.Trials.Lossy, plural.Count(mr.Trials.Count, "trial", "trials")))
			}
		}
		if err != nil {
			res.Trace = r.trace
			return res, errors.Join(append(broken, err)...)
		}
	}
	res.Trace = r.trace
	if len(broken) > 0 {
		return res, fmt.Errorf("race: %w", errors.Join(broken...))
	}
	return res, nil
}

// prepare creates what mode needs, once per run.
func (r *runner) prepare(m *modeDef) error {
	if m.prepare == nil {
		return nil
	}
	return m.prepare(r)
}

// trialOut is what one trial measured.
type trialOut struct {
	actual, lost int64
	elapsed      int64
	cpuNs, sysNs int64
	ctxSwitches  int64
	overlapPct   float64
	tracks       []Track
	sched        *scheduled
}

// mode runs every trial of one mode.
func (r *runner) mode(name string) (*ModeResult, error) {
	p := r.p
	mi, _ := lookupMode(name)
	expected := int64(p.Procs) * p.Iters
	mr := &ModeResult{
		Mode: name, Unit: p.Unit, Procs: p.Procs, Iters: p.Iters, Shm: p.Shm, Expected: expected,
		Safe: mi.safe, Lock: lockOf(name, p.undo()), Counter: "shared memory (" + p.Shm + ")",
		WindowNs: p.WindowNs, Yield: p.Yield, CPUs: p.CPUs, SameLine: p.SameLine,
		Witnesses: []Witness{},
	}
	if mi.goVar {
		mr.Counter = "a Go variable of the worker process"
	}
	if name == ModeSysVSem {
		u := p.undo()
		mr.Undo = &u
	}
	if mi.recorded {
		mr.Recorded = p.Record
		if p.Record > 0 {
			mr.RecordMask, mr.RecordWindow = sampling(p.Iters, p.Record)
		}
	}
	if err := r.prepare(mi); err != nil {
		return nil, fmt.Errorf("race: %s: %w", name, err)
	}
	var outs []trialOut
	for trial := 1; trial <= p.Trials; trial++ {
		out, err := r.trial(mi, trial)
		if out.sched != nil {
			summarize(mr, []trialOut{out}, p)
			r.annotate(mr)
			sc := out.sched
			mr.Schedule, mr.Seed, mr.Steps, mr.Next, mr.Stopped, mr.Stuck = p.Schedule, sc.seed, sc.out.Rows, sc.out.Next, sc.stopped, sc.out.Stuck
			if sc.stopped {
				mr.Expected = sc.expected
				mr.Broken = mr.Safe && mr.Lost != 0
			}
			if err != nil {
				return mr, fmt.Errorf("race: %s, scheduled: %w", name, err)
			}
			return mr, nil
		}
		if err != nil {
			if len(outs) == 0 {
				return nil, fmt.Errorf("race: %s, trial %d of %d: %w", name, trial, p.Trials, err)
			}
			summarize(mr, outs, p)
			r.annotate(mr)
			return mr, fmt.Errorf("race: %s, trial %d of %d: %w", name, trial, p.Trials, err)
		}
		if len(out.tracks) > 0 {
			ws := FindWitnesses(out.tracks, name, trial)
			for i := range ws {
				ws[i].Replay = replay(ws[i], p)
				if ws[i].Timed {
					mr.WitnessesTimed++
				}
			}
			// Those the clocks order first: they show the interleaving.
			slices.SortStableFunc(ws, func(a, b Witness) int {
				return cmp.Compare(btoi(!a.Timed), btoi(!b.Timed))
			})
			mr.WitnessesFound += len(ws)
			for _, w := range ws {
				mr.WitnessedLost += int64(w.Lost)
			}
			if room := p.Explain - len(mr.Witnesses); room > 0 {
				mr.Witnesses = append(mr.Witnesses, ws[:min(room, len(ws))]...)
			}
			if r.trace != nil && trial == 1 {
				r.addTrace(out.tracks)
			}
			out.tracks = nil
		}
		outs = append(outs, out)
	}
	summarize(mr, outs, p)
	r.annotate(mr)
	return mr, nil
}

// summarize fills mr's figures from the trials: the median trial by lost
// updates for actual and lost, the median elapsed time for the rates.
func summarize(mr *ModeResult, outs []trialOut, p *Params) {
	n := len(outs)
	t := Trials{Count: n, Lost: make([]int64, n), ElapsedNs: make([]int64, n)}
	for i, o := range outs {
		t.Lost[i], t.ElapsedNs[i] = o.lost, o.elapsed
		if o.lost != 0 {
			t.Lossy++
		}
	}
	byLost := make([]int, n)
	for i := range byLost {
		byLost[i] = i
	}
	slices.SortStableFunc(byLost, func(a, b int) int { return cmp.Compare(outs[a].lost, outs[b].lost) })
	med := outs[byLost[(n-1)/2]]
	t.LostMin, t.LostMedian, t.LostMax = outs[byLost[0]].lost, med.lost, outs[byLost[n-1]].lost
	mr.Trials = t
	mr.Actual, mr.Lost = med.actual, med.lost
	mr.LostPct = 100 * float64(mr.Lost) / float64(mr.Expected)
	byElapsed := slices.Clone(outs)
	slices.SortStableFunc(byElapsed, func(a, b trialOut) int { return cmp.Compare(a.elapsed, b.elapsed) })
	me := byElapsed[(n-1)/2]
	mr.ElapsedNs = me.elapsed
	if me.elapsed > 0 {
		mr.NsPerOp = float64(me.elapsed) / float64(mr.Expected)
		mr.OpsPerSec = float64(mr.Expected) / (float64(me.elapsed) / 1e9)
	}
	mr.CPUNsPerOp = float64(me.cpuNs) / float64(mr.Expected)
	mr.SysNsPerOp = float64(me.sysNs) / float64(mr.Expected)
	mr.CtxSwitchesPerOp = float64(me.ctxSwitches) / float64(mr.Expected)
	mr.Broken = mr.Safe && (t.Lossy > 0 || t.LostMin < 0)
	// Any lossy trial shows the race, even when the median trial lost
	// nothing: the line must not say "no other process wrote" then.
	mr.OverlapPct = med.overlapPct
	t.OverlapPct = make([]float64, n)
	for i, o := range outs {
		t.OverlapPct[i] = o.overlapPct
	}
	mr.Trials = t
	mr.Explanation = explanation(mr.Mode, mr.Unit, t.LostMax, mr.OverlapPct, med.ctxSwitches, p)
}

// trial runs the workers of one trial and reads the outcome.
func (r *runner) trial(mi *modeDef, trial int) (trialOut, error) {
	lay := r.lay
	mem := r.region.Bytes()
	clear(mem[:lay.traceBase()])
	if mi.reset != nil {
		if err := mi.reset(r); err != nil {
			return trialOut{}, err
		}
	}
	if r.p.scheduled() {
		return r.scheduledTrial(mi)
	}

	specs, closeFiles, err := r.specs(mi, nil)
	if err != nil {
		return trialOut{}, err
	}
	if specs, err = r.langSpecs(mi, specs); err != nil {
		closeFiles()
		return trialOut{}, err
	}
	g, err := r.env.StartWorkers(r.ctx, specs)
	closeFiles() // the children have their copies
	if err != nil {
		return trialOut{}, err
	}
	stop := r.watchProgress(mi.name, trial)
	results, err := g.Wait(r.ctx)
	stop()
	if err != nil {
		return trialOut{}, err
	}
	return r.collect(mi, trial, results)
}

// specs builds the workers of a trial. closeFiles closes the parent's
// copies of the descriptors handed over.
func (r *runner) specs(mi *modeDef, stepEnds []*os.File) (_ []worker.Spec, closeFiles func(), retErr error) {
	p := r.p
	var files []*os.File
	closeFiles = func() {
		for _, f := range files {
			f.Close()
		}
	}
	defer func() {
		if retErr != nil {
			closeFiles()
		}
	}()
	base := workerSpec{
		Mode: mi.name, Iters: p.Iters, Layout: r.lay, WindowNs: p.WindowNs, Yield: p.Yield, Undo: p.undo(),
		LockFile: r.lockFile, TokenIn: -1, TokenOut: -1,
	}
	base.Spin = ownCPUs(p.Procs, p.CPUs)
	base.RecMask, base.RecWindow = sampling(p.Iters, p.Record)
	if r.set != nil {
		base.SemID = r.set.ID()
	}
	if r.named != nil {
		base.SemName = r.named.Name()
	}
	var regionFiles []*os.File
	base.Region = r.region.Handle()
	if f := r.region.File(); f != nil {
		regionFiles = []*os.File{f}
		base.Region = r.region.HandleAt(worker.FileFD(0))
	}
	cpu := func(i int) int { return p.CPUs[i%len(p.CPUs)] }

	if p.Unit == UnitThread {
		s := base
		s.Threads = p.Procs
		var cpus []int
		if len(p.CPUs) > 0 {
			for k := 0; k < p.Procs; k++ {
				s.PinCPUs = append(s.PinCPUs, cpu(k))
			}
			cpus = slices.Compact(slices.Sorted(slices.Values(p.CPUs)))
		}
		fs := slices.Clone(regionFiles)
		for _, f := range stepEnds {
			s.StepFDs = append(s.StepFDs, worker.FileFD(len(fs)))
			fs = append(fs, f)
		}
		return []worker.Spec{{Kind: WorkerKind, Name: "threads", Spec: s, Files: fs, CPUs: cpus}}, closeFiles, nil
	}

	// One process per worker. socket-token: pair k carries the token from
	// worker k to worker k+1.
	var outs, ins []*os.File
	if mi.name == ModeSocketToken {
		for k := 0; k < p.Procs; k++ {
			a, b, err := sockets.Pair(sockets.Stream)
			if err != nil {
				return nil, closeFiles, err
			}
			files = append(files, a, b)
			outs, ins = append(outs, a), append(ins, b)
		}
	}
	specs := make([]worker.Spec, p.Procs)
	for i := range specs {
		s := base
		s.First, s.Threads = i, 1
		fs := slices.Clone(regionFiles)
		if mi.name == ModeSocketToken {
			s.TokenIn = worker.FileFD(len(fs))
			s.TokenOut = worker.FileFD(len(fs) + 1)
			fs = append(fs, ins[(i+p.Procs-1)%p.Procs], outs[i])
		}
		if stepEnds != nil {
			s.StepFDs = []int{worker.FileFD(len(fs))}
			fs = append(fs, stepEnds[i])
		}
		specs[i] = worker.Spec{Kind: WorkerKind, Name: fmt.Sprintf("P%d", i+1), Spec: s, Files: fs}
		if len(p.CPUs) > 0 {
			specs[i].CPUs = []int{cpu(i)}
		}
	}
	return specs, closeFiles, nil
}

// watchProgress reports the workers' tallies every 200 ms until stop.
func (r *runner) watchProgress(mode string, trial int) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	msg := fmt.Sprintf("%s, trial %d of %d", mode, trial, r.p.Trials)
	sum := func() int64 {
		var s int64
		for i := 0; i < r.p.Procs; i++ {
			s += int64(atomic.LoadUint64(r.region.Uint64(r.lay.tally(i))))
		}
		return s
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				r.env.Progress(r.done+sum(), r.total, msg)
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
		r.done += int64(r.p.Procs) * r.p.Iters
		r.env.Progress(r.done, r.total, msg)
	}
}

// collect reads a finished trial: the counter, the tallies, the timing and
// the records.
func (r *runner) collect(mi *modeDef, trial int, results []worker.Result) (trialOut, error) {
	p, lay := r.p, r.lay
	var out trialOut
	var goCounter uint64
	first, last := int64(0), int64(0)
	var threads []threadResult
	pids := map[int]int{} // thread index -> pid
	for _, wr := range results {
		var res workerResult
		if err := wr.Decode(&res); err != nil {
			return out, fmt.Errorf("worker %s (pid %d): bad result: %w", wr.Name, wr.Pid, err)
		}
		goCounter += res.GoCounter + res.PyCounter
		if err := r.notePython(wr, res.pyInfo); err != nil {
			return out, err
		}
		for _, t := range res.Threads {
			pids[t.Index] = wr.Pid
			threads = append(threads, t)
		}
		out.cpuNs += wr.UserNs + wr.SysNs
		out.sysNs += wr.SysNs
		out.ctxSwitches += wr.Nvcsw + wr.Nivcsw
	}
	if len(threads) != p.Procs {
		return out, fmt.Errorf("%d workers reported, want %d", len(threads), p.Procs)
	}
	slices.SortFunc(threads, func(a, b threadResult) int { return a.Index - b.Index })
	for i, t := range threads {
		tally := int64(atomic.LoadUint64(r.region.Uint64(lay.tally(t.Index))))
		if t.Ops != p.Iters || tally != p.Iters {
			return out, fmt.Errorf("worker %d did %d increments (tally %d), want %d", t.Index, t.Ops, tally, p.Iters)
		}
		if i == 0 || t.StartNs < first {
			first = t.StartNs
		}
		last = max(last, t.EndNs)
	}
	out.elapsed = last - first
	spans := make([][2]int64, len(threads))
	for i, t := range threads {
		spans[i] = [2]int64{t.StartNs, t.EndNs}
	}
	out.overlapPct = overlapPct(spans)
	counter := atomic.LoadUint64(r.region.Uint64(lay.counter()))
	if mi.goVar {
		counter = goCounter
	}
	expected := int64(p.Procs) * p.Iters
	out.actual = int64(counter)
	out.lost = expected - out.actual
	if mi.recorded && lay.Record > 0 {
		for _, t := range threads {
			n := min(max(t.Recorded, 0), lay.Record)
			recs := unsafe.Slice((*record)(unsafe.Pointer(r.region.Uint64(lay.trace(t.Index)))), n)
			tr := Track{Mode: mi.name, Unit: p.Unit, Trial: trial, Worker: t.Index, Label: label(p.Unit, t.Index),
				Pid: pids[t.Index], Tid: t.Tid, StartNs: t.StartNs, EndNs: t.EndNs, Events: make([][4]int64, n)}
			for k, rc := range recs {
				tr.Events[k] = [4]int64{int64(rc.Read), int64(rc.Wrote), rc.T1, rc.T2}
			}
			out.tracks = append(out.tracks, tr)
		}
	}
	return out, nil
}

// addTrace keeps tracks for the trace file, within maxTraceEvents.
func (r *runner) addTrace(tracks []Track) {
	for _, tr := range tracks {
		room := maxTraceEvents - r.traceEvents
		if room <= 0 {
			r.trace.Truncated = true
			return
		}
		if len(tr.Events) > room {
			tr.Events = tr.Events[:room]
			r.trace.Truncated = true
			tr.Lost = slices.DeleteFunc(slices.Clone(tr.Lost), func(i int) bool { return i >= room })
		}
		r.traceEvents += len(tr.Events)
		r.trace.Tracks = append(r.trace.Tracks, tr)
	}
}

// ownCPUs reports whether every one of procs workers can run on a CPU of
// its own: unpinned on a machine with enough CPUs, or pinned round robin
// to at least procs distinct CPUs.
func ownCPUs(procs int, cpus []int) bool {
	if len(cpus) == 0 {
		var set unix.CPUSet
		if err := unix.SchedGetaffinity(0, &set); err != nil {
			return procs <= runtime.NumCPU()
		}
		return procs <= set.Count()
	}
	return procs <= len(cpus) && len(slices.Compact(slices.Sorted(slices.Values(cpus)))) == len(cpus)
}

// label names worker i as the table and witnesses show it: P1, P2... for
// processes, T1, T2... for threads.
func label(unit string, i int) string {
	if unit == UnitThread {
		return fmt.Sprintf("T%d", i+1)
	}
	return fmt.Sprintf("P%d", i+1)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
