package ipc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ipcplay/ipcplay/ipc/ledger"
	"github.com/ipcplay/ipcplay/ipc/plural"
	"github.com/ipcplay/ipcplay/ipc/worker"
	"github.com/ipcplay/ipcplay/sockets"
)

// Experiment is a kind of run the engine knows: race, bench, a demo. The
// experiments live in package demos; cmd/ipcplay registers them.
type Experiment struct {
	Name string
	// Validate checks params against the limits without side effects and
	// returns a UsageError for bad input. It runs before anything exists.
	Validate func(params json.RawMessage, lim Limits) error
	// Run performs the experiment. It may return a result together with an
	// error (the table of a race in which a safe counter lost updates).
	Run func(ctx context.Context, env *Env, params json.RawMessage) (any, error)
}

// Config configures an Engine.
type Config struct {
	Name     string // EngineDaemon or EngineLocal
	StateDir string // private directory for the ledger and run directories
	Socket   string // for Status only
	Version  string
	Limits   Limits
	Log      hclog.Logger
	// Worker overrides how workers start (tests).
	Worker worker.Options
	// NoReap skips the removal of crashed runs' objects at start: for
	// commands that only look (objects, status) and for clean, which reaps
	// itself (and must not with --dry-run).
	NoReap bool
}

// Engine runs experiments, one Env per run, at most Limits.MaxRuns at once.
type Engine struct {
	cfg      Config
	log      hclog.Logger
	ledger   *ledger.Ledger
	stateDir string
	started  time.Time
	slots    chan struct{}

	xmu         sync.RWMutex
	experiments map[string]Experiment

	mu      sync.Mutex
	httpURL string // SetHTTPURL
	runs    map[string]*runState
	recent  []string // run ids, oldest first
	wg      sync.WaitGroup
}

type runState struct {
	result  RunResult
	cancel  context.CancelCauseFunc
	removed int // objects its cleanup removed, for the log
}

// Why the engine itself cancelled a run (the cause of its context,
// logged when it finishes, and the cancelled run's Error: "run r-1 cancelled:
// on request ('ipcplay cancel')").
var (
	errCancelRequested = errors.New("on request ('ipcplay cancel')")
	errEngineClosing   = errors.New("the engine is closing")
)

const keepRecent = 100

// NewEngine opens the state directory (creating it 0700), its ledger, and
// removes objects that crashed runs left behind.
func NewEngine(cfg Config) (*Engine, error) {
	if cfg.Log == nil {
		cfg.Log = hclog.NewNullLogger()
	}
	if cfg.Name == "" {
		cfg.Name = EngineLocal
	}
	if cfg.Limits == (Limits{}) {
		cfg.Limits = DefaultLimits()
	}
	cfg.Limits.Engine = cfg.Name
	if err := cfg.Limits.Validate(); err != nil {
		return nil, err
	}
	if err := sockets.EnsurePrivateDir(cfg.StateDir); err != nil {
		return nil, err
	}
	l, err := ledger.Open(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	e := &Engine{
		cfg: cfg, log: cfg.Log, ledger: l, stateDir: cfg.StateDir, started: time.Now(),
		slots:       make(chan struct{}, cfg.Limits.MaxRuns),
		experiments: map[string]Experiment{},
		runs:        map[string]*runState{},
	}
	if cfg.NoReap {
		return e, nil
	}
	reaped, err := Reap(l, false)
	if reaped == nil {
		reaped = &CleanReport{}
	}
	for _, r := range reaped.Removed {
		e.log.Info("removed object leaked by a crashed run", "object", Describe(r), "run_id", r.RunID, "creator_pid", r.CreatorPID)
	}
	for _, r := range reaped.Gone {
		e.log.Info("object of a crashed run already gone", "object", Describe(r), "run_id", r.RunID)
	}
	for _, r := range reaped.LeftAlone {
		e.log.Warn("left alone", "object", Describe(r.Entry), "run_id", r.RunID, "reason", r.Reason)
	}
	if err != nil {
		e.log.Warn("could not remove every leaked object", "error", err)
	}
	return e, nil
}

// Register adds an experiment. It panics on a duplicate name.
func (e *Engine) Register(x Experiment) {
	e.xmu.Lock()
	defer e.xmu.Unlock()
	if _, dup := e.experiments[x.Name]; dup {
		panic(fmt.Sprintf("ipc: experiment %q registered twice", x.Name))
	}
	e.experiments[x.Name] = x
}

// Experiments lists the registered experiment names.
func (e *Engine) Experiments() []string {
	e.xmu.RLock()
	defer e.xmu.RUnlock()
	var out []string
	for n := range e.experiments {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Ledger is the engine's ledger.
func (e *Engine) Ledger() *ledger.Ledger { return e.ledger }

// Name is EngineDaemon or EngineLocal.
func (e *Engine) Name() string { return e.cfg.Name }

// NewRunID returns a fresh run id: "r-" and 10 hex digits.
func NewRunID() string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return "r-" + hex.EncodeToString(b[:])
}

// Run validates req, waits for a free run slot, runs the experiment and
// removes every object it created. onEvent (may be nil) receives progress.
// The returned error is the run's failure; the RunResult is returned too
// whenever the run started.
func (e *Engine) Run(ctx context.Context, req RunRequest, onEvent func(Event)) (*RunResult, error) {
	e.xmu.RLock()
	x, ok := e.experiments[req.Experiment]
	e.xmu.RUnlock()
	if !ok {
		return nil, Usagef("unknown experiment %q: known are %v", req.Experiment, e.Experiments())
	}
	if x.Validate != nil {
		if err := x.Validate(req.Params, e.cfg.Limits); err != nil {
			return nil, AsUsage(err)
		}
	}
	if onEvent == nil {
		onEvent = func(Event) {}
	}
	id := NewRunID()
	// Cancel (and Close) reach the run through this while it is queued
	// and while it runs; the run timeout starts only when it runs.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	st := &runState{cancel: cancel, result: RunResult{
		RunID: id, Experiment: req.Experiment, Engine: e.cfg.Name, State: StateQueued, Started: time.Now().UTC(),
	}}
	e.mu.Lock()
	e.runs[id] = st
	e.recent = append(e.recent, id)
	e.forgetOldRuns()
	e.wg.Add(1)
	e.mu.Unlock()
	defer e.wg.Done()

	log := e.log.Named("run").With("run_id", id, "experiment", req.Experiment)
	select {
	case e.slots <- struct{}{}:
		onEvent(Event{RunID: id, Type: "state", State: StateQueued})
	default:
		// Every slot is taken: the run waits, and its client says why.
		onEvent(Event{RunID: id, Type: "state", State: StateQueued, Message: e.queuedMessage(id)})
		select {
		case e.slots <- struct{}{}:
		case <-ctx.Done():
			return e.finish(st, nil, ctx.Err(), context.Cause(ctx), log.With("cause", context.Cause(ctx).Error()))
		}
	}
	defer func() { <-e.slots }()
	ctx, cancelTimeout := context.WithTimeout(ctx, e.cfg.Limits.RunTimeout)
	defer cancelTimeout()
	e.setState(st, StateRunning)
	onEvent(Event{RunID: id, Type: "state", State: StateRunning})
	log.Info("run started")

	env := &Env{RunID: id, Log: log, Limits: e.cfg.Limits, engine: e, emit: onEvent, workerO: e.cfg.Worker}
	res, runErr := e.runExperiment(ctx, x, env, req.Params)
	removed, err := env.close()
	st.removed = removed
	if err != nil {
		runErr = errors.Join(runErr, fmt.Errorf("cleanup: %w", err))
	}
	if ctx.Err() != nil && runErr != nil && !errors.Is(runErr, ctx.Err()) {
		runErr = fmt.Errorf("%w (%v)", ctx.Err(), runErr)
	}
	if ctx.Err() != nil {
		log = log.With("cause", context.Cause(ctx).Error())
	}
	return e.finish(st, res, runErr, context.Cause(ctx), log)
}

// queuedMessage says why run id waits: the engine's limit of runs at once
// and the runs that hold it ("the daemon runs at most 1 run at a time
// (--max-runs); waiting for r-…").
func (e *Engine) queuedMessage(id string) string {
	e.mu.Lock()
	var running []string
	for _, rid := range e.recent {
		if st := e.runs[rid]; st != nil && rid != id && st.result.State == StateRunning {
			running = append(running, rid)
		}
	}
	e.mu.Unlock()
	who, how := "the daemon", "--max-runs"
	if e.cfg.Name != EngineDaemon {
		who, how = "the embedded engine", EnvMaxRuns
	}
	msg := fmt.Sprintf("%s runs at most %s at a time (%s)", who, plural.Count(e.cfg.Limits.MaxRuns, "run", "runs"), how)
	if len(running) > 0 {
		msg += "; waiting for " + strings.Join(running, ", ")
	}
	return msg
}

// runExperiment calls x.Run, turning a panic into an error so that the
// run's objects are still removed.
func (e *Engine) runExperiment(ctx context.Context, x Experiment, env *Env, params json.RawMessage) (res any, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("experiment %s panicked: %v", x.Name, p)
		}
	}()
	return x.Run(ctx, env, params)
}

// forgetOldRuns drops the oldest finished runs while more than keepRecent
// finished runs are kept. Queued and running runs are always kept, however
// many: they must stay visible to runs, show and cancel (and to Close)
// until they end. Call it with e.mu held.
func (e *Engine) forgetOldRuns() {
	finished := 0
	for _, id := range e.recent {
		if !e.runs[id].unfinished() {
			finished++
		}
	}
	excess := finished - keepRecent
	if excess <= 0 {
		return
	}
	kept := e.recent[:0]
	for _, id := range e.recent {
		if excess > 0 && !e.runs[id].unfinished() {
			delete(e.runs, id)
			excess--
			continue
		}
		kept = append(kept, id)
	}
	clear(e.recent[len(kept):])
	e.recent = kept
}

func (st *runState) unfinished() bool {
	return st.result.State == StateQueued || st.result.State == StateRunning
}

func (e *Engine) setState(st *runState, state string) {
	e.mu.Lock()
	st.result.State = state
	e.mu.Unlock()
}

// finish records the run's end. cause is context.Cause of the run's
// context: for a cancelled run, who cancelled it (the daemon's shutdown,
// 'ipcplay cancel', the client leaving), which becomes the result's Error.
func (e *Engine) finish(st *runState, res any, runErr, cause error, log hclog.Logger) (*RunResult, error) {
	var doc json.RawMessage
	if res != nil {
		b, err := json.Marshal(res)
		if err != nil {
			runErr = errors.Join(runErr, fmt.Errorf("encode result: %w", err))
		} else {
			doc = b
		}
	}
	e.mu.Lock()
	r := &st.result
	r.Result = doc
	r.ElapsedNs = time.Since(r.Started).Nanoseconds()
	switch {
	case runErr == nil:
		r.State = StateOK
	case errors.Is(runErr, context.Canceled):
		// Error is who cancelled it, in plain words, or empty when the
		// engine does not know: never the context's "context canceled",
		// which runs and show would print as if it were the cause.
		r.State, r.Error = StateCancelled, ""
		if cause != nil && !errors.Is(cause, context.Canceled) {
			r.Error = cause.Error()
		}
	case errors.Is(runErr, context.DeadlineExceeded):
		// "race: sysv-sem, trial 1 of 1: stopped by the run timeout...":
		// where the run was, then what stopped it and how to raise it.
		msg := e.cfg.Limits.TimedOut()
		if where := timeoutWhere(runErr); where != "" {
			msg = where + ": " + msg
		}
		r.State, r.Error = StateFailed, msg
	default:
		r.State, r.Error, r.Usage = StateFailed, runErr.Error(), isUsageLike(runErr)
	}
	out := *r
	e.forgetOldRuns()
	e.mu.Unlock()
	log.Info("run finished", "state", out.State, "elapsed", time.Duration(out.ElapsedNs), "objects_removed", st.removed)
	return &out, out.Err()
}

// timeoutWhere is where a run stood when its run timeout hit: its error
// without the context's own words ("context deadline exceeded"), which
// say nothing to a student.
func timeoutWhere(err error) string {
	d := context.DeadlineExceeded.Error()
	s := strings.ReplaceAll(err.Error(), ": "+d, "")
	s = strings.ReplaceAll(s, d, "")
	return strings.Trim(s, " :;()")
}

// isUsageLike recognises usage errors, including those that crossed a
// process boundary (a worker refusing its input).
func isUsageLike(err error) bool {
	var u interface{ UsageError() bool }
	return errors.As(err, &u) && u.UsageError()
}

// Runs lists recent runs, newest last.
func (e *Engine) Runs() []RunInfo {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]RunInfo, 0, len(e.recent))
	for _, id := range e.recent {
		r := e.runs[id].result
		elapsed := r.ElapsedNs
		if r.State == StateRunning || r.State == StateQueued {
			elapsed = time.Since(r.Started).Nanoseconds()
		}
		out = append(out, RunInfo{RunID: r.RunID, Experiment: r.Experiment, State: r.State, Started: r.Started, ElapsedNs: elapsed, Error: r.Error})
	}
	return out
}

// Show returns a recent run's result.
func (e *Engine) Show(id string) (*RunResult, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	st, ok := e.runs[id]
	if !ok {
		return nil, Usagef("no run %q among the last %d runs of this engine (see 'ipcplay runs')", id, keepRecent)
	}
	r := st.result
	return &r, nil
}

// Cancel cancels a queued or running run. It returns at once; the run
// ends (and its objects are removed) soon after. A run that already ended
// is an error.
func (e *Engine) Cancel(id string) error {
	e.mu.Lock()
	st, ok := e.runs[id]
	state := ""
	if ok {
		state = st.result.State
	}
	e.mu.Unlock()
	if !ok {
		return Usagef("no run %q among the last %d runs of this engine (see 'ipcplay runs')", id, keepRecent)
	}
	if state != StateQueued && state != StateRunning {
		return fmt.Errorf("run %s already ended (%s): nothing to cancel", id, state)
	}
	st.cancel(errCancelRequested)
	return nil
}

// Limits are the engine's limits (Limits.Engine says whose).
func (e *Engine) Limits() Limits { return e.cfg.Limits }

// Status describes the engine.
func (e *Engine) Status() Status {
	e.mu.Lock()
	httpURL := e.httpURL
	active, queued := 0, 0
	for _, st := range e.runs {
		switch st.result.State {
		case StateRunning:
			active++
		case StateQueued:
			queued++
		}
	}
	e.mu.Unlock()
	entries, _ := e.ledger.Entries()
	return Status{
		Engine: e.cfg.Name, PID: os.Getpid(), Version: e.cfg.Version,
		UptimeNs: time.Since(e.started).Nanoseconds(), ActiveRuns: active, QueuedRuns: queued,
		Limits: e.cfg.Limits, StateDir: e.stateDir, Socket: e.cfg.Socket, Ledger: len(entries),
		HTTPURL: httpURL,
	}
}

// SetHTTPURL records the address (with its token) of the daemon's page,
// for Status.
func (e *Engine) SetHTTPURL(u string) {
	e.mu.Lock()
	e.httpURL = u
	e.mu.Unlock()
}

// Clean removes the objects of crashed runs (or lists them, with dryRun).
func (e *Engine) Clean(dryRun bool) (*CleanReport, error) {
	return Reap(e.ledger, dryRun)
}

// Close cancels every run and waits until their objects are removed.
func (e *Engine) Close() error {
	e.mu.Lock()
	for _, st := range e.runs {
		st.cancel(errEngineClosing)
	}
	e.mu.Unlock()
	e.wg.Wait()
	return nil
}
