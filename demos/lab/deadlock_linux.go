package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ipcplay/ipcplay/demos/conduct"
	"github.com/ipcplay/ipcplay/ipc"
	"github.com/ipcplay/ipcplay/ipc/worker"
	"github.com/ipcplay/ipcplay/semaphore"
	"github.com/ipcplay/ipcplay/shm"
	"github.com/ipcplay/ipcplay/sockets"
)

// DeadlockParams are the deadlock lab's parameters.
type DeadlockParams struct {
	// Timeout bounds each worker's wait for its second semaphore: the
	// timed wait that detects the deadlock.
	Timeout time.Duration `json:"timeout_ns"`
	// Hold is how long each worker keeps its first semaphore before asking
	// for the second; it asks only once the kernel shows the second taken
	// (by the other worker), so that both hold one whatever the scheduler
	// did.
	Hold time.Duration `json:"hold_ns"`
	// Rounds is how many times each worker takes both semaphores in the
	// ordered version.
	Rounds int `json:"rounds"`
	// Schedule, when set, replaces the timed run: the conductor (package
	// conduct) lets P1 and P2 take their steps in this order (P1: lock S0,
	// lock S1, unlock S1, unlock S0; P2 the same with S1 and S0 swapped),
	// then the rest in the fixed order. Seed drives "random"; nil or 0:
	// the run picks one and reports it.
	Schedule string  `json:"schedule,omitempty"`
	Seed     *uint64 `json:"seed,omitempty"`
}

// SemState is one semaphore as the kernel reports it during the deadlock.
type SemState struct {
	Sem     string `json:"sem"`      // "S0"
	Value   int    `json:"value"`    // GETVAL
	LastPID int    `json:"last_pid"` // GETPID: the last process that operated on it, the holder
	Waiting int    `json:"waiting"`  // GETNCNT: processes blocked waiting for it
}

// DeadlockWorker is one worker of the deadlocked version.
type DeadlockWorker struct {
	Name    string `json:"name"` // "P1"
	PID     int    `json:"pid"`
	First   string `json:"first"`   // the semaphore it takes first
	Second  string `json:"second"`  // the one it then waits for
	Outcome string `json:"outcome"` // "timed out" or "completed"
	WaitNs  int64  `json:"wait_ns"` // its wait for the second semaphore
}

// DeadlockResult is the deadlock lab's document.
type DeadlockResult struct {
	Header
	TimeoutNs int64 `json:"timeout_ns"`
	HoldNs    int64 `json:"hold_ns"`
	// The kernel's view while both workers waited, and the cycle built from
	// it: each waiter's edge goes to the holder (GETPID) of what it waits for.
	Semaphores []SemState         `json:"semaphores"`
	Cycle      []string           `json:"cycle"` // "P1 (pid 10) holds S0, waits for S1", ...
	CycleFound bool               `json:"cycle_found"`
	TimedOut   int                `json:"timed_out"` // workers whose timed wait expired
	Detected   bool               `json:"detected"`  // cycle seen and a timed wait expired
	Workers    []DeadlockWorker   `json:"workers"`
	Ordered    DeadlockOrderedRun `json:"ordered"`
	// A scheduled run (--schedule): the schedule, its seed, every step.
	// Stuck: at some point both workers were blocked.
	Schedule string        `json:"schedule,omitempty"`
	Seed     *uint64       `json:"seed,omitempty"`
	Steps    []conduct.Row `json:"steps,omitempty"`
	Stuck    bool          `json:"stuck,omitempty"`
}

// The explanations of the deadlock lab. A scheduled run whose schedule
// never made a cycle gets its own: the deadlock paragraph would contradict
// it.
const (
	deadlockWhy = "Each worker holds one semaphore and waits for the one the other holds, so neither can go on: a cycle in the wait-for graph is a deadlock. " +
		"The kernel shows it: the holder of each semaphore is the last process that operated on it (GETPID) and GETNCNT counts its waiters. " +
		"A timed wait detects the deadlock and backs off; taking locks in one global order (S0 before S1) makes the cycle impossible."
	deadlockNoCycleWhy = "A deadlock needs each worker to hold one semaphore while it waits for the one the other holds: a cycle in the wait-for graph. " +
		"This schedule never made one: one worker could always move (a worker that waited got its semaphore when the holder released it), so both completed and no timed wait expired. " +
		"A schedule that lets each worker take its first semaphore before either takes its second (P1,P2,P1,P2) makes the cycle; taking locks in one global order (S0 before S1) makes it impossible whatever the schedule."
)

// scheduledWhy is the explanation of a scheduled run, following its
// result: the deadlock paragraph when the workers were all blocked at
// once, the no-cycle one otherwise.
func scheduledWhy(r *DeadlockResult) string {
	if r.Stuck || r.CycleFound || r.TimedOut > 0 {
		return deadlockWhy
	}
	return deadlockNoCycleWhy
}

// DeadlockOrderedRun is the same work with a global lock order (S0 before S1).
type DeadlockOrderedRun struct {
	Rounds    int   `json:"rounds"` // per worker
	Completed bool  `json:"completed"`
	ElapsedNs int64 `json:"elapsed_ns"`
}

var deadlockLab = Info{
	Name:    "deadlock",
	Summary: "two processes take two semaphores in opposite order; the kernel shows the cycle",
	Example: "ipcplay demo deadlock --timeout 1s --hold 100ms",
	Flags: []Flag{
		{Name: "timeout", Usage: "how long each worker waits for its second semaphore (the timed wait that detects the deadlock)", Default: time.Second},
		{Name: "hold", Usage: "how long each worker keeps its first semaphore before asking for the second (and at least until the other worker holds its own)", Default: 100 * time.Millisecond},
		{Name: "rounds", Usage: "times each worker takes both semaphores in the ordered version", Default: 50},
		{Name: "schedule", Usage: "be the scheduler: P1 takes S0 then S1, P2 takes S1 then S0, one step (lock, unlock) at a time in this order, e.g. P1,P2,P1,P2 (deadlock) or P1,P1 (none); the rest runs in a fixed order", Default: ""},
		{Name: "seed", Usage: "seeds random in --schedule (0: a new seed, printed)", Default: 0},
	},
	Experiment: ipc.Experiment{Name: ExperimentPrefix + "deadlock", Validate: validateDeadlock, Run: runDeadlock},
}

// deadlockSpec is a deadlock worker's spec.
type deadlockSpec struct {
	SetID   int           `json:"set_id"`
	Board   string        `json:"board"` // handle of the status board
	Index   int           `json:"index"`
	First   int           `json:"first"`
	Second  int           `json:"second"`
	Hold    time.Duration `json:"hold_ns"`
	Timeout time.Duration `json:"timeout_ns"`
	Rounds  int           `json:"rounds"`  // > 0: the ordered version
	StepFD  int           `json:"step_fd"` // >= 0: a scheduled run's step socket
	// Lag delays the worker before its first semaphore (tests: a worker
	// scheduled late must not change what the lab shows).
	Lag time.Duration `json:"lag_ns,omitempty"`
}

// deadlockLag is the Lag of P2 in the next opposite-order runs; tests set it.
var deadlockLag time.Duration

type deadlockOut struct {
	Outcome string `json:"outcome"`
	WaitNs  int64  `json:"wait_ns"`
}

// The status board: one 64-byte slot per worker in shared memory, where a
// worker writes its pid and the semaphore it waits for (index+1; 0: none).
// The kernel says who holds a semaphore (GETPID) and how many wait (GETNCNT)
// but not who waits; the board fills that in.
const (
	boardSlot     = 64
	boardPID      = 0
	boardWantsOff = 4
)

func init() {
	worker.Register("lab-deadlock", deadlockWorker)
	renderers["deadlock"] = renderDeadlock
}

func deadlockParams(raw json.RawMessage) (DeadlockParams, error) {
	p := DeadlockParams{Timeout: time.Second, Hold: 100 * time.Millisecond, Rounds: 50}
	if err := decodeParams(raw, &p); err != nil {
		return p, err
	}
	if err := checkDur("timeout", p.Timeout, 100*time.Millisecond, time.Minute); err != nil {
		return p, err
	}
	if err := checkDur("hold", p.Hold, time.Millisecond, 10*time.Second); err != nil {
		return p, err
	}
	if err := checkInt("rounds", p.Rounds, 1, 100000); err != nil {
		return p, err
	}
	if p.Seed != nil && *p.Seed == 0 {
		p.Seed = nil // the default: pick one
	}
	if p.Schedule == "" {
		if p.Seed != nil {
			return p, ipc.Usagef("--seed: only with --schedule ...,random")
		}
		return p, nil
	}
	s, err := conduct.ParseSchedule(p.Schedule, 2, []string{"lock", "unlock"})
	if err != nil {
		return p, err
	}
	if p.Seed != nil && !s.Random {
		return p, ipc.Usagef("--seed %d: only with random as the last entry of --schedule", *p.Seed)
	}
	return p, conduct.CheckSchedule(p.Schedule, s, deadlockPlans(), func(i int) string { return "P" + strconv.Itoa(i+1) })
}

// deadlockOrder is the order in which each worker takes the semaphores.
var deadlockOrder = [2][2]int{{0, 1}, {1, 0}}

// deadlockPlans are the workers' steps in a scheduled run: lock first,
// lock second, unlock second, unlock first.
func deadlockPlans() []conduct.Plan {
	plans := make([]conduct.Plan, 2)
	for w := range plans {
		a, b := semName(deadlockOrder[w][0]), semName(deadlockOrder[w][1])
		steps := []conduct.StepDef{
			{Name: "lock", Call: "semop P " + a, Acquires: a, Blocking: conduct.SyscallsSem},
			{Name: "lock", Call: "semop P " + b, Acquires: b, Blocking: conduct.SyscallsSem},
			{Name: "unlock", Call: "semop V " + b, Releases: b},
			{Name: "unlock", Call: "semop V " + a, Releases: a},
		}
		plans[w] = func(k int) (conduct.StepDef, bool) {
			if k >= len(steps) {
				return conduct.StepDef{}, false
			}
			return steps[k], true
		}
	}
	return plans
}

func validateDeadlock(raw json.RawMessage, lim ipc.Limits) error {
	_, err := deadlockParams(raw)
	return err
}

func semName(i int) string { return "S" + strconv.Itoa(i) }

func runDeadlock(ctx context.Context, env *ipc.Env, raw json.RawMessage) (any, error) {
	p, err := deadlockParams(raw)
	if err != nil {
		return nil, err
	}
	res := &DeadlockResult{
		Header:    newHeader("deadlock", deadlockWhy),
		TimeoutNs: p.Timeout.Nanoseconds(),
		HoldNs:    p.Hold.Nanoseconds(),
	}
	set, err := env.CreateSemSet(2)
	if err != nil {
		return nil, err
	}
	board, err := env.CreateRegion(shm.Spec{Kind: shm.Memfd, Size: 4096})
	if err != nil {
		return nil, err
	}
	files := []*os.File{board.File()}
	handle := board.HandleAt(worker.FileFD(0))
	reset := func() error {
		clear(board.Bytes())
		return errors.Join(set.SetVal(0, 1), set.SetVal(1, 1))
	}

	if p.Schedule != "" {
		if err := reset(); err != nil {
			return nil, err
		}
		return runDeadlockScheduled(ctx, env, p, res, set, board, files, handle)
	}

	// The deadlock: P1 takes S0 then S1, P2 takes S1 then S0.
	if err := reset(); err != nil {
		return nil, err
	}
	env.Progress(0, 2, "opposite order")
	specs := []worker.Spec{
		{Kind: "lab-deadlock", Name: "P1", Files: files, Spec: deadlockSpec{SetID: set.ID(), Board: handle, Index: 0, First: 0, Second: 1, Hold: p.Hold, Timeout: p.Timeout, StepFD: -1}},
		{Kind: "lab-deadlock", Name: "P2", Files: files, Spec: deadlockSpec{SetID: set.ID(), Board: handle, Index: 1, First: 1, Second: 0, Hold: p.Hold, Timeout: p.Timeout, StepFD: -1, Lag: deadlockLag}},
	}
	dctx, cancel := phase(ctx, 30*time.Second+2*(p.Hold+p.Timeout))
	defer cancel()
	g, err := env.StartWorkers(dctx, specs)
	if err != nil {
		return nil, err
	}
	g.Go()
	pids := g.Pids()
	// Watch until the deadlock ends: the first worker to exit (its timed
	// wait expired, or it got both) ends it. A fixed watch of hold +
	// timeout would miss the cycle of a worker that started late.
	wctx, wcancel := context.WithCancel(dctx)
	go func() {
		defer wcancel()
		select {
		case <-g.Done(0):
		case <-g.Done(1):
		case <-wctx.Done():
		}
	}()
	res.Semaphores, res.Cycle, res.CycleFound = watchForCycle(wctx, set, board, pids, 30*time.Second+2*(p.Hold+p.Timeout))
	wcancel()
	rs, err := g.Wait(dctx)
	if err != nil {
		return res, fmt.Errorf("demo deadlock: %w", err)
	}
	for i, r := range rs {
		var out deadlockOut
		if err := r.Decode(&out); err != nil {
			return res, err
		}
		s := specs[i].Spec.(deadlockSpec)
		res.Workers = append(res.Workers, DeadlockWorker{Name: r.Name, PID: r.Pid, First: semName(s.First), Second: semName(s.Second), Outcome: out.Outcome, WaitNs: out.WaitNs})
		if out.Outcome == "timed out" {
			res.TimedOut++
		}
	}
	res.Detected = res.CycleFound && res.TimedOut > 0

	// The same work in one global order: both take S0, then S1.
	if err := reset(); err != nil {
		return res, err
	}
	env.Progress(1, 2, "global order")
	res.Ordered.Rounds = p.Rounds
	for i := range specs {
		s := specs[i].Spec.(deadlockSpec)
		s.First, s.Second, s.Rounds = 0, 1, p.Rounds
		s.Hold, s.Lag = 0, 0
		specs[i].Spec = s
	}
	octx, cancel2 := phase(ctx, 30*time.Second+time.Duration(2*p.Rounds)*p.Timeout)
	defer cancel2()
	start := time.Now()
	_, err = env.RunWorkers(octx, specs)
	res.Ordered.ElapsedNs = since(start)
	res.Ordered.Completed = err == nil
	env.Progress(2, 2, "done")

	var problems []string
	if !res.CycleFound {
		problems = append(problems, "no wait-for cycle was seen in the kernel's semaphore state")
	}
	if res.TimedOut == 0 {
		problems = append(problems, "no timed wait expired: the workers did not deadlock")
	}
	if !res.Ordered.Completed {
		problems = append(problems, fmt.Sprintf("the ordered version did not complete: %v", err))
	}
	return res, res.verdict(problems)
}

// watchForCycle polls the kernel until both semaphores are taken and each
// has a waiter, then builds the wait-for edges: a worker waiting for S goes
// to the holder of S (the last process that operated on it, GETPID). It
// gives up after limit.
func watchForCycle(ctx context.Context, set *semaphore.Set, board *shm.Region, pids []int, limit time.Duration) ([]SemState, []string, bool) {
	deadline := time.Now().Add(limit)
	var sems []SemState
	for time.Now().Before(deadline) && ctx.Err() == nil {
		sems = sems[:0]
		blocked := true
		for i := 0; i < set.Len(); i++ {
			v, err1 := set.Val(i)
			pid, err2 := set.LastPID(i)
			n, err3 := set.NCount(i)
			if err := errors.Join(err1, err2, err3); err != nil {
				return sems, nil, false
			}
			sems = append(sems, SemState{Sem: semName(i), Value: v, LastPID: pid, Waiting: n})
			if v != 0 || n == 0 {
				blocked = false
			}
		}
		if blocked {
			if cycle, ok := waitForCycle(sems, board, pids); ok {
				return sems, cycle, true
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	return sems, nil, false
}

// waitForCycle follows the wait-for edges from the first worker and reports
// the cycle if it comes back to it.
func waitForCycle(sems []SemState, board *shm.Region, pids []int) ([]string, bool) {
	name := map[int]string{}
	wants := map[int]int{} // pid -> semaphore index it waits for
	for i, pid := range pids {
		name[pid] = "P" + strconv.Itoa(i+1)
		slotPID := int(atomic.LoadUint32(board.Uint32(i*boardSlot + boardPID)))
		w := int(atomic.LoadUint32(board.Uint32(i*boardSlot + boardWantsOff)))
		if slotPID != pid || w == 0 {
			return nil, false
		}
		wants[pid] = w - 1
	}
	holds := map[int]int{} // pid -> semaphore index it holds
	for i, s := range sems {
		holds[s.LastPID] = i
	}
	var cycle []string
	seen := map[int]bool{}
	pid := pids[0]
	for !seen[pid] {
		seen[pid] = true
		h, ok := holds[pid]
		w, ok2 := wants[pid]
		if !ok || !ok2 {
			return nil, false
		}
		cycle = append(cycle, fmt.Sprintf("%s (pid %d) holds %s, waits for %s", name[pid], pid, semName(h), semName(w)))
		pid = sems[w].LastPID // the holder of what pid waits for
		if _, known := name[pid]; !known {
			return nil, false
		}
	}
	return cycle, pid == pids[0]
}

func deadlockWorker(ctx context.Context, c *worker.Child) (any, error) {
	var s deadlockSpec
	if err := c.Spec(&s); err != nil {
		return nil, err
	}
	set, err := semaphore.OpenSet(s.SetID)
	if err != nil {
		return nil, err
	}
	board, err := shm.Open(s.Board)
	if err != nil {
		return nil, err
	}
	defer board.Close()
	wants := board.Uint32(s.Index*boardSlot + boardWantsOff)
	atomic.StoreUint32(board.Uint32(s.Index*boardSlot+boardPID), uint32(os.Getpid()))
	if err := c.Ready(ctx); err != nil {
		return nil, err
	}
	// SEM_UNDO everywhere: a worker that dies holding a semaphore gives it
	// back (see the crash lab).
	take := func(i int) (int64, error) {
		tctx, cancel := context.WithTimeout(ctx, s.Timeout)
		defer cancel()
		atomic.StoreUint32(wants, uint32(i+1))
		defer atomic.StoreUint32(wants, 0)
		start := time.Now()
		err := set.P(tctx, i, true)
		return since(start), err
	}
	if s.StepFD >= 0 {
		return deadlockSteps(s, set, take)
	}
	if s.Rounds > 0 {
		for r := 0; r < s.Rounds; r++ {
			if _, err := take(s.First); err != nil {
				return nil, fmt.Errorf("round %d: %w", r, err)
			}
			if _, err := take(s.Second); err != nil {
				return nil, fmt.Errorf("round %d: %w", r, err)
			}
			if err := errors.Join(set.V(s.Second, true), set.V(s.First, true)); err != nil {
				return nil, err
			}
		}
		return deadlockOut{Outcome: "completed"}, nil
	}
	select {
	case <-time.After(s.Lag):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if _, err := take(s.First); err != nil {
		return nil, fmt.Errorf("first semaphore: %w", err)
	}
	select {
	case <-time.After(s.Hold):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	// Ask for the second only once the other worker holds it (the kernel
	// says its value is 0), not after the hold on the assumption that the
	// other has started by then: a worker scheduled late would let this
	// one take both, and there would be no deadlock to show.
	if err := waitTaken(ctx, set, s.Second); err != nil {
		return nil, err
	}
	wait, err := take(s.Second)
	switch {
	case err == nil:
		// The other one backed off: we got both.
		return deadlockOut{Outcome: "completed", WaitNs: wait}, errors.Join(set.V(s.Second, true), set.V(s.First, true))
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		// Detected: back off, releasing what we hold.
		return deadlockOut{Outcome: "timed out", WaitNs: wait}, set.V(s.First, true)
	default:
		return nil, err
	}
}

// waitTaken waits until semaphore i of set is taken (GETVAL 0), polling
// every millisecond, or ctx ends.
func waitTaken(ctx context.Context, set *semaphore.Set, i int) error {
	for {
		v, err := set.Val(i)
		if err != nil {
			return err
		}
		if v == 0 {
			return nil
		}
		select {
		case <-time.After(time.Millisecond):
		case <-ctx.Done():
			return fmt.Errorf("waiting for the other worker to take %s: %w", semName(i), ctx.Err())
		}
	}
}

func renderDeadlock(w io.Writer, doc json.RawMessage) error {
	var r DeadlockResult
	if err := decodeDoc(doc, &r); err != nil {
		return err
	}
	if r.Schedule != "" {
		return renderDeadlockScheduled(w, &r)
	}
	fmt.Fprintf(w, "Opposite order: P1 takes S0 then S1, P2 takes S1 then S0, each holding its first for %s.\n", dur(r.HoldNs))
	fmt.Fprintln(w, "The kernel's view while they waited (System V semctl):")
	fmt.Fprintln(w)
	rows := make([][]string, 0, len(r.Semaphores))
	for _, s := range r.Semaphores {
		rows = append(rows, []string{s.Sem, strconv.Itoa(s.Value), strconv.Itoa(s.LastPID), strconv.Itoa(s.Waiting)})
	}
	table(w, []string{"SEMAPHORE", "GETVAL", "GETPID (holder)", "GETNCNT (waiters)"}, rows)
	fmt.Fprintln(w)
	if r.CycleFound {
		fmt.Fprintf(w, "Wait-for cycle: %s → cycle\n\n", strings.Join(r.Cycle, " · "))
	} else {
		fmt.Fprint(w, "Wait-for cycle: not seen\n\n")
	}
	rows = rows[:0]
	for _, wk := range r.Workers {
		rows = append(rows, []string{wk.Name, strconv.Itoa(wk.PID), wk.First + " then " + wk.Second, wk.Outcome, dur(wk.WaitNs)})
	}
	table(w, []string{"WORKER", "PID", "ORDER", "SECOND WAIT", "WAITED"}, rows)
	fmt.Fprintf(w, "\nDetected (cycle in the kernel's state and a timed wait of %s expired): %s\n", dur(r.TimeoutNs), yesNo(r.Detected))
	fmt.Fprintf(w, "Global order (both take S0, then S1), %d rounds each: completed %s in %s\n",
		r.Ordered.Rounds, yesNo(r.Ordered.Completed), dur(r.Ordered.ElapsedNs))
	return nil
}

// runDeadlockScheduled is the deadlock lab under the conductor: the two
// workers take their lock and unlock steps in the schedule's order. When
// both are blocked, the kernel's semaphore state shows the wait-for
// cycle; then the first timed wait to expire backs off and the other one
// completes.
func runDeadlockScheduled(ctx context.Context, env *ipc.Env, p DeadlockParams, res *DeadlockResult, set *semaphore.Set, board *shm.Region, files []*os.File, handle string) (any, error) {
	sched, err := conduct.ParseSchedule(p.Schedule, 2, []string{"lock", "unlock"})
	if err != nil {
		return nil, err
	}
	res.Schedule = p.Schedule
	if sched.Random {
		seed := uint64(time.Now().UnixNano())
		if p.Seed != nil {
			seed = *p.Seed
		}
		sched.Seed, res.Seed = seed, &seed
	}
	var mine, theirs []*os.File
	defer func() {
		for _, f := range append(mine, theirs...) {
			f.Close()
		}
	}()
	var specs []worker.Spec
	for i := 0; i < 2; i++ {
		a, b, err := sockets.Pair(sockets.Stream)
		if err != nil {
			return nil, err
		}
		mine, theirs = append(mine, a), append(theirs, b)
		fs := append(slices.Clone(files), b)
		specs = append(specs, worker.Spec{Kind: "lab-deadlock", Name: "P" + strconv.Itoa(i+1), Files: fs, Spec: deadlockSpec{
			SetID: set.ID(), Board: handle, Index: i, First: deadlockOrder[i][0], Second: deadlockOrder[i][1],
			Timeout: p.Timeout, StepFD: worker.FileFD(len(fs) - 1)}})
	}
	env.Progress(0, 1, "scheduled")
	dctx, cancel := phase(ctx, time.Minute+4*p.Timeout)
	defer cancel()
	g, err := env.StartWorkers(dctx, specs)
	for _, f := range theirs {
		f.Close()
	}
	theirs = nil
	if err != nil {
		return nil, err
	}
	g.Go()
	pids := g.Pids()
	plans := deadlockPlans()
	cfg := conduct.Config{Schedule: sched, Spec: p.Schedule, StepTimeout: 10*time.Second + 2*p.Timeout,
		Probe: func(_ int, d conduct.StepDef) string {
			i := slices.Index([]string{semName(0), semName(1)}, d.Acquires)
			if i < 0 {
				return ""
			}
			v, err1 := set.Val(i)
			n, err2 := set.NCount(i)
			pid, err3 := set.LastPID(i)
			if errors.Join(err1, err2, err3) != nil {
				return ""
			}
			return fmt.Sprintf("%s semval %d, semncnt %d, sempid %d", d.Acquires, v, n, pid)
		},
		OnStuck: func() {
			res.Semaphores, res.Cycle, res.CycleFound = watchForCycle(dctx, set, board, pids, time.Second)
		},
	}
	for i := range mine {
		cfg.Workers = append(cfg.Workers, conduct.Worker{Label: "P" + strconv.Itoa(i+1), Conn: mine[i], Plan: plans[i]})
	}
	out, cerr := conduct.Run(dctx, cfg)
	res.Steps, res.Stuck = out.Rows, out.Stuck
	if cerr != nil {
		g.Kill()
		_, _ = g.Wait(dctx)
		return res, fmt.Errorf("demo deadlock: %w", cerr)
	}
	rs, err := g.Wait(dctx)
	if err != nil {
		return res, fmt.Errorf("demo deadlock: %w", err)
	}
	for i, r := range rs {
		var o deadlockOut
		if err := r.Decode(&o); err != nil {
			return res, err
		}
		res.Workers = append(res.Workers, DeadlockWorker{Name: r.Name, PID: r.Pid, First: semName(deadlockOrder[i][0]), Second: semName(deadlockOrder[i][1]), Outcome: o.Outcome, WaitNs: o.WaitNs})
		if o.Outcome == "timed out" {
			res.TimedOut++
		}
	}
	res.Detected = res.CycleFound && res.TimedOut > 0
	res.Explanation = scheduledWhy(res)
	env.Progress(1, 1, "done")
	var problems []string
	if res.Stuck && !res.CycleFound {
		problems = append(problems, "both workers were blocked, but no wait-for cycle was seen in the kernel's semaphore state")
	}
	if res.Stuck && res.TimedOut == 0 {
		problems = append(problems, "both workers were blocked, but no timed wait expired")
	}
	return res, res.verdict(problems)
}

// deadlockSteps is a worker of a scheduled run: lock first, lock second,
// unlock second, unlock first, one step per "step" of the conductor. A
// lock that times out backs off: it gives back what it holds and ends.
func deadlockSteps(s deadlockSpec, set *semaphore.Set, take func(int) (int64, error)) (any, error) {
	st, err := conduct.NewStepper(s.StepFD)
	if err != nil {
		return nil, err
	}
	type step struct {
		op  string
		sem int
	}
	steps := []step{{"lock", s.First}, {"lock", s.Second}, {"unlock", s.Second}, {"unlock", s.First}}
	if err := st.At(steps[0].op); err != nil {
		return nil, err
	}
	var held []int
	var waited int64
	for k, sp := range steps {
		if err := st.Wait(); err != nil {
			return nil, err
		}
		next := ""
		if k+1 < len(steps) {
			next = steps[k+1].op
		}
		d := conduct.Did{Op: sp.op, Next: next}
		if sp.op == "lock" {
			wait, err := take(sp.sem)
			waited = wait
			if errors.Is(err, context.DeadlineExceeded) {
				// Detected: back off, releasing what it holds.
				var errs []error
				for _, h := range held {
					errs = append(errs, set.V(h, true))
				}
				d.TimedOut, d.Next = true, ""
				d.Note = fmt.Sprintf("timed out after %s waiting for %s: backs off", time.Duration(wait).Round(time.Millisecond), semName(sp.sem))
				if len(held) > 0 {
					d.Note += ", gives back " + semName(held[0])
				}
				if err := errors.Join(append(errs, st.Done(d))...); err != nil {
					return nil, err
				}
				return deadlockOut{Outcome: "timed out", WaitNs: wait}, nil
			}
			if err != nil {
				return nil, err
			}
			held = append(held, sp.sem)
		} else {
			if err := set.V(sp.sem, true); err != nil {
				return nil, err
			}
			held = slices.DeleteFunc(held, func(h int) bool { return h == sp.sem })
		}
		if err := st.Done(d); err != nil {
			return nil, err
		}
	}
	return deadlockOut{Outcome: "completed", WaitNs: waited}, nil
}

func renderDeadlockScheduled(w io.Writer, r *DeadlockResult) error {
	fmt.Fprintf(w, "Scheduled: P1 takes S0 then S1, P2 takes S1 then S0, one step at a time: --schedule %s", r.Schedule)
	if r.Seed != nil {
		fmt.Fprintf(w, " --seed %d", *r.Seed)
	}
	fmt.Fprint(w, "\n\n")
	if err := conduct.WriteTable(w, r.Steps, false); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if r.Stuck {
		fmt.Fprintln(w, "Both workers were blocked. The kernel's view then (System V semctl):")
		fmt.Fprintln(w)
		rows := make([][]string, 0, len(r.Semaphores))
		for _, s := range r.Semaphores {
			rows = append(rows, []string{s.Sem, strconv.Itoa(s.Value), strconv.Itoa(s.LastPID), strconv.Itoa(s.Waiting)})
		}
		table(w, []string{"SEMAPHORE", "GETVAL", "GETPID (holder)", "GETNCNT (waiters)"}, rows)
		fmt.Fprintln(w)
	}
	if r.CycleFound {
		fmt.Fprintf(w, "Wait-for cycle: %s → cycle (cycle_found: true)\n", strings.Join(r.Cycle, " · "))
		var backed, completed []string
		for _, wk := range r.Workers {
			switch wk.Outcome {
			case "timed out":
				backed = append(backed, wk.Name)
			case "completed":
				completed = append(completed, wk.Name)
			}
		}
		switch {
		case len(backed) == 1 && len(completed) == 1:
			fmt.Fprintf(w, "The first timed wait to expire (--timeout %s), %s's, backed off, and %s completed.\n", dur(r.TimeoutNs), backed[0], completed[0])
		case len(backed) > 0:
			fmt.Fprintf(w, "Timed waits expired (--timeout %s) and backed off: %s.\n", dur(r.TimeoutNs), strings.Join(backed, ", "))
		default:
			fmt.Fprintln(w, "No timed wait expired: nothing broke the cycle.")
		}
	} else if r.Stuck {
		fmt.Fprintln(w, "Wait-for cycle: not seen in the kernel's semaphore state (cycle_found: false), though both workers were blocked")
	} else {
		fmt.Fprintln(w, "Wait-for cycle: none (cycle_found: false): this schedule never had each worker hold what the other waits for")
	}
	rows := [][]string{}
	for _, wk := range r.Workers {
		rows = append(rows, []string{wk.Name, strconv.Itoa(wk.PID), wk.First + " then " + wk.Second, wk.Outcome})
	}
	fmt.Fprintln(w)
	table(w, []string{"WORKER", "PID", "ORDER", "OUTCOME"}, rows)
	return nil
}
