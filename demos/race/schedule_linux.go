package race

import (
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ipcplay/ipcplay/demos/conduct"
	"github.com/ipcplay/ipcplay/sockets"
)

// scheduled is what a scheduled trial adds to a trial's outcome.
type scheduled struct {
	out      *conduct.Outcome
	seed     *uint64
	stopped  bool
	expected int64 // increments completed, when stopped
}

// scheduledTrial runs one trial under the conductor: the workers take one
// step at a time as Params.Schedule says (see package conduct). A schedule
// error found during the run (an entry naming a blocked worker) stops it;
// the steps so far are returned with the usage error.
func (r *runner) scheduledTrial(mi *modeDef) (_ trialOut, retErr error) {
	p := r.p
	var sched conduct.Schedule
	if p.Schedule != "" {
		var err error
		if sched, err = conduct.ParseSchedule(p.Schedule, p.Procs, mi.stepNames()); err != nil {
			return trialOut{}, err
		}
	}
	sc := &scheduled{}
	if sched.Random {
		seed := uint64(time.Now().UnixNano())
		if p.Seed != nil {
			seed = *p.Seed
		}
		sched.Seed, sc.seed = seed, &seed
	}

	// One step socket per worker thread: ours, and theirs to hand over.
	var mine, theirs []*os.File
	defer func() {
		for _, f := range append(mine, theirs...) {
			f.Close()
		}
	}()
	for i := 0; i < p.Procs; i++ {
		a, b, err := sockets.Pair(sockets.Stream)
		if err != nil {
			return trialOut{}, err
		}
		mine, theirs = append(mine, a), append(theirs, b)
	}
	specs, closeFiles, err := r.specs(mi, theirs)
	if err != nil {
		return trialOut{}, err
	}
	if specs, err = r.langSpecs(mi, specs); err != nil {
		closeFiles()
		return trialOut{}, err
	}
	g, err := r.env.StartWorkers(r.ctx, specs)
	closeFiles()
	for _, f := range theirs {
		f.Close()
	}
	theirs = nil
	if err != nil {
		return trialOut{}, err
	}
	g.Go()
	cfg := conduct.Config{Schedule: sched, Spec: p.Schedule, Stop: p.StopAfter}
	plans := p.plans(mi)
	for i := 0; i < p.Procs; i++ {
		cfg.Workers = append(cfg.Workers, conduct.Worker{Label: label(p.Unit, i), Conn: mine[i], Plan: plans[i]})
	}
	if mi.name == ModeSysVSem {
		cfg.Probe = func(int, conduct.StepDef) string {
			v, err1 := r.set.Val(0)
			n, err2 := r.set.NCount(0)
			if err1 != nil || err2 != nil {
				return ""
			}
			return fmt.Sprintf("semval %d, semncnt %d", v, n)
		}
	}
	r.env.Progress(r.done, r.total, mi.name+", scheduled")
	out, cerr := conduct.Run(r.ctx, cfg)
	sc.out = out
	annotate(out.Rows)
	if cerr != nil || p.StopAfter {
		// Stop where the run stands: the workers may be blocked in a
		// lock, so they are killed; every object goes with the run.
		g.Kill()
		_, _ = g.Wait(r.ctx)
		sc.stopped = true
		var to trialOut
		var done int64
		for i := 0; i < p.Procs; i++ {
			done += int64(atomic.LoadUint64(r.region.Uint64(r.lay.tally(i))))
		}
		counter := atomic.LoadUint64(r.region.Uint64(r.lay.counter()))
		if mi.goVar {
			counter = 0
			for _, row := range out.Rows {
				if row.Counter != nil {
					counter = *row.Counter
				}
			}
		}
		to.actual, to.lost, sc.expected = int64(counter), done-int64(counter), done
		to.sched = sc
		return to, cerr
	}
	results, err := g.Wait(r.ctx)
	if err != nil {
		return trialOut{sched: sc}, err
	}
	to, err := r.collect(mi, 1, results)
	to.sched = sc
	return to, err
}

// annotate adds to the rows what a store did to the count: "P2 stored 1
// over P1's 1: one increment lost".
func annotate(rows []conduct.Row) {
	var counter uint64
	lastBy := ""
	for i := range rows {
		row := &rows[i]
		if row.Wrote != nil && row.Read == nil { // a store
			w := *row.Wrote
			if w <= counter && lastBy != "" {
				note := fmt.Sprintf("%s stored %d over %s's %d: %s lost", row.Worker, w, lastBy, counter, countWord(int(counter-w+1)))
				row.Note = strings.TrimPrefix(row.Note+"; "+note, "; ")
			}
			lastBy = row.Worker
		}
		if row.Wrote != nil && row.Read != nil { // an atomic add
			lastBy = row.Worker
		}
		if row.Counter != nil {
			counter = *row.Counter
		}
	}
}

// replay is the command line that replays a witness's lost update with
// --schedule, from a counter of 0: its loads, then its stores, in the
// order of their timestamps (for a timed witness exactly its steps).
func replay(w Witness, p *Params) string {
	var loads, stores []string
	for _, s := range w.Steps {
		if s.Op == "wrote" {
			stores = append(stores, s.Label+":store")
		} else {
			loads = append(loads, s.Label+":load")
		}
	}
	return ScheduleCommand(w.Mode, p, p.Procs, 1, strings.Join(append(loads, stores...), ","))
}
