package race

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/ipcplay/ipcplay/demos/conduct"
	"github.com/ipcplay/ipcplay/ipc"
)

// A lock step of a worker whose lock is held blocks, is seen blocked from
// the kernel (semop in /proc, semncnt), completes when the holder
// releases, and the count is exact.
func TestScheduledLockBlocks(t *testing.T) {
	e := newEngine(t)
	for _, mode := range []string{ModeSysVSem, ModeFutex, ModeFlock, ModePosixSem, ModeSocketToken} {
		res, err := runRace(t, e, Params{Modes: []string{mode}, Procs: 2, Iters: 2, Schedule: "P1,P2,P1,P1,P1"})
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		m := res.Results[0]
		if m.Actual != 4 || m.Lost != 0 {
			t.Errorf("%s: actual %d lost %d, want 4 and 0", mode, m.Actual, m.Lost)
		}
		if len(m.Steps) < 2 || !m.Steps[1].Blocked || m.Steps[1].Worker != "P2" || !strings.Contains(m.Steps[1].Note, "waits for") {
			t.Fatalf("%s: step 2 is not P2 blocked: %+v", mode, m.Steps)
		}
		if mode == ModeSysVSem && !strings.Contains(m.Steps[1].Note, "semncnt 1") {
			t.Errorf("sysv-sem: the blocked step does not show the kernel's semncnt: %q", m.Steps[1].Note)
		}
		// P1 releases at step 5 (unlock, or send); P2's step then completes.
		if r := m.Steps[5]; r.Worker != "P2" || r.Blocked || r.By != "release" || r.Op != m.Steps[1].Op {
			t.Errorf("%s: step 6 is not P2's blocked step completing: %+v", mode, r)
		}
	}
}

// The same seed gives the same steps and the same counter.
func TestRandomScheduleReplays(t *testing.T) {
	e := newEngine(t)
	seed := uint64(42)
	for _, mode := range []string{ModeUnsafe, ModeSysVSem} {
		var first *ModeResult
		for range 2 {
			res, err := runRace(t, e, Params{Modes: []string{mode}, Procs: 3, Iters: 2, Schedule: "random", Seed: &seed})
			if err != nil {
				t.Fatalf("%s: %v", mode, err)
			}
			m := res.Results[0]
			if m.Seed == nil || *m.Seed != seed {
				t.Errorf("%s: seed %v in the result, want %d", mode, m.Seed, seed)
			}
			if first == nil {
				first = &m
				continue
			}
			a, b := stepsOf(first.Steps), stepsOf(m.Steps)
			if a != b || first.Actual != m.Actual {
				t.Errorf("%s: seed %d gave\n%s (counter %d), then\n%s (counter %d)", mode, seed, a, first.Actual, b, m.Actual)
			}
		}
	}
}

func stepsOf(rows []conduct.Row) string {
	var b strings.Builder
	for _, r := range rows {
		b.WriteString(r.Worker + ":" + r.Op)
		if r.Blocked {
			b.WriteString("!")
		}
		b.WriteString(",")
	}
	return b.String()
}

// Naming a worker whose step is blocked stops the run cleanly: usage
// error (exit 2), the steps so far, who holds what, nothing left behind.
func TestScheduleNamingBlockedWorker(t *testing.T) {
	e := newEngine(t)
	res, err := runRace(t, e, Params{Modes: []string{ModeSysVSem}, Procs: 2, Iters: 1, Schedule: "P1,P2,P2"})
	// (The engine hands the error over as text and its usage mark.)
	if !ipc.IsUsage(err) || !strings.Contains(err.Error(), conduct.ErrBlockedEntry.Error()) || !strings.Contains(err.Error(), "entry 3 (P2)") {
		t.Fatalf("err %v, want a usage error for entry 3", err)
	}
	if res == nil || len(res.Results) != 1 {
		t.Fatal("no result with the error")
	}
	m := res.Results[0]
	if !m.Stopped || len(m.Steps) != 2 || !m.Steps[1].Blocked {
		t.Errorf("steps %+v, stopped %v", m.Steps, m.Stopped)
	}
	if len(m.Next) != 2 || m.Next[0].Holds == "" || !m.Next[1].Blocked {
		t.Errorf("who holds what: %+v", m.Next)
	}
}

// Bad schedules are refused before anything exists.
func TestBadScheduleRefusedBeforeAnything(t *testing.T) {
	seed := uint64(1)
	cases := []struct {
		name string
		p    Params
		says string
	}{
		{"P3 of 2", Params{Procs: 2, Iters: 1, Modes: []string{ModeUnsafe}, Schedule: "P1,P3"}, "no such worker"},
		{"P0", Params{Procs: 2, Iters: 1, Modes: []string{ModeUnsafe}, Schedule: "P0"}, "no such worker"},
		{"unknown step", Params{Procs: 2, Iters: 1, Modes: []string{ModeUnsafe}, Schedule: "P1:fly"}, `unknown step "fly"`},
		{"wrong step", Params{Procs: 2, Iters: 1, Modes: []string{ModeSysVSem}, Schedule: "P1:load"}, "P1 is at step 1, lock, not load"},
		{"finished", Params{Procs: 2, Iters: 1, Modes: []string{ModeUnsafe}, Schedule: "P1,P1,P1"}, "P1 has finished"},
		{"seed without random", Params{Procs: 2, Iters: 1, Modes: []string{ModeUnsafe}, Schedule: "P1", Seed: &seed}, "--seed"},
		{"seed without schedule", Params{Procs: 2, Iters: 1, Modes: []string{ModeUnsafe}, Seed: &seed}, "--seed"},
		{"two modes", Params{Procs: 2, Iters: 1, Modes: []string{ModeUnsafe, ModeAtomic}, Schedule: "P1"}, "name one mode"},
		{"too many steps", Params{Procs: 2, Iters: MaxScheduledSteps, Modes: []string{ModeUnsafe}, Schedule: "P1"}, "at most"},
		{"with --yield", Params{Procs: 2, Iters: 1, Modes: []string{ModeUnsafe}, Schedule: "P1", Yield: true}, "--yield"},
	}
	e := newEngine(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			raw, _ := json.Marshal(c.p)
			if err := Validate(raw, ipc.DefaultLimits()); !ipc.IsUsage(err) || !strings.Contains(err.Error(), c.says) {
				t.Errorf("Validate: %v, want a usage error saying %q", err, c.says)
			}
			if _, err := runRace(t, e, c.p); !ipc.IsUsage(err) {
				t.Errorf("Run: %v, want a usage error", err)
			}
		})
	}
	if runs := e.Runs(); len(runs) != 0 {
		t.Errorf("refused requests became runs: %+v", runs)
	}
	if entries, _ := e.Ledger().Entries(); len(entries) != 0 {
		t.Errorf("a refused request recorded objects: %+v", entries)
	}
}

// StopAfter (--step) stops after the schedule's entries and says where
// every worker stands.
func TestScheduleStopAfter(t *testing.T) {
	e := newEngine(t)
	res, err := runRace(t, e, Params{Modes: []string{ModeUnsafe}, Procs: 2, Iters: 1, Schedule: "P1,P2,P1", StopAfter: true})
	if err != nil {
		t.Fatal(err)
	}
	m := res.Results[0]
	want := []conduct.Next{{Worker: "P1", Step: ""}, {Worker: "P2", Step: "store"}}
	if !m.Stopped || len(m.Steps) != 3 || !reflect.DeepEqual(m.Next, want) || m.Actual != 1 || m.Expected != 1 {
		t.Errorf("stopped %v, %d steps, next %+v, counter %d of %d completed", m.Stopped, len(m.Steps), m.Next, m.Actual, m.Expected)
	}
	// No step taken yet: the workers' first steps.
	res, err = runRace(t, e, Params{Modes: []string{ModeSysVSem}, Procs: 2, Iters: 1, StopAfter: true})
	if err != nil {
		t.Fatal(err)
	}
	if m := res.Results[0]; len(m.Steps) != 0 || len(m.Next) != 2 || m.Next[0].Step != "lock" {
		t.Errorf("no step: %+v", m)
	}
}

// Every mode's steps, run one at a time in the fixed order, count exactly
// what its timed loop counts: the table's two halves cannot drift.
func TestStepsMatchLoop(t *testing.T) {
	e := newEngine(t)
	for _, unit := range []string{UnitProcess, UnitThread} {
		for _, mode := range Modes(unit) {
			const procs, iters = 2, 3
			timed, err := runRace(t, e, Params{Modes: []string{mode}, Unit: unit, Procs: 1, Iters: procs * iters})
			if err != nil {
				t.Fatalf("%s %s timed: %v", unit, mode, err)
			}
			// P1 to the end, then P2: no interleaving, nothing lost.
			res, err := runRace(t, e, Params{Modes: []string{mode}, Unit: unit, Procs: procs, Iters: iters, Schedule: "P1"})
			if err != nil {
				t.Fatalf("%s %s scheduled: %v", unit, mode, err)
			}
			m := res.Results[0]
			mi, _ := lookupMode(mode)
			// Each worker's completed steps are the table's, in order
			// (a blocked row is the same step seen twice).
			taken := map[string]int{}
			for _, r := range m.Steps {
				if r.Blocked {
					continue
				}
				k := taken[r.Worker]
				if want := mi.steps[k%len(mi.steps)].Name; r.Op != want {
					t.Errorf("%s %s: %s's step %d is %s, the table says %s", unit, mode, r.Worker, k+1, r.Op, want)
				}
				taken[r.Worker]++
			}
			if m.Actual != timed.Results[0].Actual || m.Actual != procs*iters || taken["P1"]+taken["T1"] != iters*len(mi.steps) || len(taken) != procs {
				t.Errorf("%s %s: scheduled counter %d, steps taken %v; timed %d", unit, mode, m.Actual, taken, timed.Results[0].Actual)
			}
		}
	}
}

func TestOverlapPct(t *testing.T) {
	for _, c := range []struct {
		spans [][2]int64
		want  float64
	}{
		{[][2]int64{{0, 100}, {100, 200}}, 0}, // one after the other
		{[][2]int64{{0, 100}, {0, 100}}, 100}, // together
		{[][2]int64{{0, 100}, {50, 150}}, 100 * 50.0 / 150},
		{[][2]int64{{0, 100}, {10, 20}, {15, 30}}, 20},
		{[][2]int64{{0, 100}}, 0},
	} {
		if got := overlapPct(c.spans); got < c.want-1e-9 || got > c.want+1e-9 {
			t.Errorf("overlapPct(%v) = %v, want %v", c.spans, got, c.want)
		}
	}
}

func TestSampling(t *testing.T) {
	for _, c := range []struct {
		iters int64
		rec   int
	}{{200_000, 4096}, {1000, 8}, {300, 200}, {100, 100}, {1e9, 1}} {
		mask, win := sampling(c.iters, c.rec)
		period := mask + 1
		if mask&(mask+1) != 0 || win == 0 || win > period {
			t.Errorf("sampling(%d, %d) = mask %d window %d", c.iters, c.rec, mask, win)
			continue
		}
		// A worker's share of sampled values stays within its records.
		if share := float64(c.iters) * float64(win) / float64(period); share > float64(c.rec) {
			t.Errorf("sampling(%d, %d): %v sampled increments per worker, %d records", c.iters, c.rec, share, c.rec)
		}
	}
}
