package ipc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/hashicorp/go-hclog"

	"github.com/ipcplay/ipcplay/ipc/ledger"
	"github.com/ipcplay/ipcplay/ipc/worker"
	"github.com/ipcplay/ipcplay/semaphore"
	"github.com/ipcplay/ipcplay/shm"
)

// Env is what an experiment gets for one run: its id, a logger, the limits,
// and the only sanctioned way to create IPC objects and worker processes.
// Every object created through Env is recorded in the ledger before it is
// used and removed when the run ends, however it ends.
type Env struct {
	RunID  string
	Log    hclog.Logger
	Limits Limits

	engine  *Engine
	emit    func(Event)
	workerO worker.Options

	mu       sync.Mutex
	cleanups []cleanup
	shmBytes int64
	seq      int
	tempDir  string
}

type cleanup struct {
	entry  *ledger.Entry // nil for objects that need no ledger (memfd)
	remove func() error
}

// Name returns a POSIX object name unique to this run: "ipcplay.RUNID.suffix".
func (env *Env) Name(suffix string) string {
	return shm.POSIXPrefix + env.RunID + "." + suffix
}

func (env *Env) nextSuffix(kind string) string {
	env.mu.Lock()
	defer env.mu.Unlock()
	env.seq++
	return kind + strconv.Itoa(env.seq)
}

// record adds e to the ledger (before the object is used) and registers
// remove to run when the run ends. An object that exists already gets its
// identity recorded with it (one that does not yet: by identify, once it
// does).
func (env *Env) record(e *ledger.Entry, remove func() error) error {
	if e != nil {
		e.RunID = env.RunID
		if id, err := identityOf(*e); err == nil {
			e.Identity = id
		}
		added, err := env.engine.ledger.Add(*e)
		if err != nil {
			return err
		}
		*e = added
	}
	env.mu.Lock()
	env.cleanups = append(env.cleanups, cleanup{entry: e, remove: remove})
	env.mu.Unlock()
	return nil
}

// Track records an object created outside Env's helpers (a message queue,
// a fifo) and the function that removes it at the end of the run. Call it
// right after creating the object, before using it.
func (env *Env) Track(e ledger.Entry, remove func() error) error {
	return env.record(&e, remove)
}

// reserveShm counts size against the run's shared memory limit.
func (env *Env) reserveShm(size int64) error {
	env.mu.Lock()
	defer env.mu.Unlock()
	if env.shmBytes+size > env.Limits.MaxShmBytes {
		return Usagef("shared memory of this run would reach %d bytes: the limit is %d (%s)", env.shmBytes+size, env.Limits.MaxShmBytes, env.Limits.Which("max-shm"))
	}
	env.shmBytes += size
	return nil
}

// CreateRegion creates a shared memory region for this run. A POSIX region
// without a name gets one unique to the run; a file region without a path
// gets one in the run's private directory.
func (env *Env) CreateRegion(spec shm.Spec) (*shm.Region, error) {
	if err := env.reserveShm(int64(spec.Size)); err != nil {
		return nil, err
	}
	var entry *ledger.Entry
	switch spec.Kind {
	case shm.POSIX:
		if spec.Name == "" {
			spec.Name = env.Name(env.nextSuffix("shm"))
		}
		entry = &ledger.Entry{Type: ledger.POSIXShm, Name: spec.Name}
	case shm.File:
		if spec.Name == "" {
			dir, err := env.TempDir()
			if err != nil {
				return nil, err
			}
			spec.Name = filepath.Join(dir, env.nextSuffix("region"))
		}
		entry = &ledger.Entry{Type: ledger.File, Name: spec.Name}
	}
	// Named objects are recorded before they exist, so a crash between
	// create and record cannot leak them.
	if entry != nil {
		e, err := env.engine.ledger.Add(ledger.Entry{Type: entry.Type, Name: entry.Name, RunID: env.RunID})
		if err != nil {
			return nil, err
		}
		*entry = e
	}
	r, err := shm.Create(spec)
	if err != nil {
		if entry != nil {
			_ = env.engine.ledger.Remove(*entry)
		}
		return nil, err
	}
	if entry != nil {
		env.identify(entry)
	}
	remove := func() error {
		return errors.Join(r.Close(), r.Remove())
	}
	if spec.Kind == shm.SysV {
		// IPC_PRIVATE: the id exists only now. Recorded before first use.
		entry = &ledger.Entry{Type: ledger.SysVShm, ID: r.ID()}
		if err := env.record(entry, remove); err != nil {
			_ = remove()
			return nil, err
		}
		return r, nil
	}
	env.mu.Lock()
	env.cleanups = append(env.cleanups, cleanup{entry: entry, remove: remove})
	env.mu.Unlock()
	return r, nil
}

// CreateSemSet creates a System V semaphore set of n semaphores for this run.
func (env *Env) CreateSemSet(n int) (*semaphore.Set, error) {
	s, err := semaphore.CreateSet(n)
	if err != nil {
		return nil, err
	}
	entry := &ledger.Entry{Type: ledger.SysVSem, ID: s.ID()}
	if err := env.record(entry, s.Remove); err != nil {
		_ = s.Remove()
		return nil, err
	}
	// SETVAL moves the set's ctime, part of its identity: record it anew.
	s.OnChange(func() { env.identify(entry) })
	return s, nil
}

// CreateNamedSem creates a POSIX named semaphore ("ipcplay.RUNID.semN") for
// this run, with the given initial value.
func (env *Env) CreateNamedSem(value uint32) (*semaphore.Named, error) {
	name := env.Name(env.nextSuffix("sem"))
	e, err := env.engine.ledger.Add(ledger.Entry{Type: ledger.POSIXSem, Name: name, RunID: env.RunID})
	if err != nil {
		return nil, err
	}
	s, err := semaphore.CreateNamed(name, value)
	if err != nil {
		_ = env.engine.ledger.Remove(e)
		return nil, err
	}
	env.identify(&e)
	env.mu.Lock()
	env.cleanups = append(env.cleanups, cleanup{entry: &e, remove: func() error {
		return errors.Join(s.Close(), s.Unlink())
	}})
	env.mu.Unlock()
	return s, nil
}

// TempDir returns the run's private (0700) directory, for socket paths,
// fifos and file-backed regions. It is removed with everything in it when
// the run ends. Its path is short enough for Unix socket names.
func (env *Env) TempDir() (string, error) {
	env.mu.Lock()
	dir := env.tempDir
	env.mu.Unlock()
	if dir != "" {
		return dir, nil
	}
	dir = filepath.Join(env.engine.stateDir, env.RunID)
	e := &ledger.Entry{Type: ledger.Dir, Name: dir}
	if err := env.record(e, func() error { return os.RemoveAll(dir) }); err != nil {
		return "", err
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return "", fmt.Errorf("run directory: %w", err)
	}
	env.identify(e)
	env.mu.Lock()
	env.tempDir = dir
	env.mu.Unlock()
	return dir, nil
}

// Progress reports how far the run is, for progress bars.
func (env *Env) Progress(done, total int64, msg string) {
	env.emit(Event{RunID: env.RunID, Type: "progress", Done: done, Total: total, Message: msg})
}

// Emit sends an experiment-specific event (any JSON-able value).
func (env *Env) Emit(v any) {
	data, err := json.Marshal(v)
	if err != nil {
		return
	}
	env.emit(Event{RunID: env.RunID, Type: "data", Data: data})
}

// StartWorkers starts worker processes for this run (see worker.Start),
// within the run's process limit. The caller must Wait on the group.
func (env *Env) StartWorkers(ctx context.Context, specs []worker.Spec) (*worker.Group, error) {
	if len(specs) > env.Limits.MaxProcs {
		return nil, Usagef("%d worker processes requested: the limit is %d (%s)", len(specs), env.Limits.MaxProcs, env.Limits.Which("max-procs"))
	}
	opts := env.workerO
	return worker.Start(ctx, env.Log.Named("workers"), specs, opts)
}

// RunWorkers starts the workers, releases them together and waits for all
// of them (see worker.Run).
func (env *Env) RunWorkers(ctx context.Context, specs []worker.Spec) ([]worker.Result, error) {
	g, err := env.StartWorkers(ctx, specs)
	if err != nil {
		return nil, err
	}
	return g.Wait(ctx)
}

// RunWorkersWatched is RunWorkers with onEvent receiving each worker's
// events ({"type":"event"} lines: what it is doing now), by worker name;
// onEvent is called from one goroutine per worker.
func (env *Env) RunWorkersWatched(ctx context.Context, specs []worker.Spec, onEvent func(name string, data json.RawMessage)) ([]worker.Result, error) {
	if len(specs) > env.Limits.MaxProcs {
		return nil, Usagef("%d worker processes requested: the limit is %d (%s)", len(specs), env.Limits.MaxProcs, env.Limits.Which("max-procs"))
	}
	opts := env.workerO
	opts.OnEvent = func(name string, _ int, data json.RawMessage) { onEvent(name, data) }
	g, err := worker.Start(ctx, env.Log.Named("workers"), specs, opts)
	if err != nil {
		return nil, err
	}
	return g.Wait(ctx)
}

// close removes every object of the run, newest first, and drops their
// ledger entries; it returns how many recorded objects it removed. What
// cannot be removed stays in the ledger for the reaper.
func (env *Env) close() (removed int, err error) {
	env.mu.Lock()
	cleanups := env.cleanups
	env.cleanups = nil
	env.mu.Unlock()
	var errs []error
	for i := len(cleanups) - 1; i >= 0; i-- {
		c := cleanups[i]
		if err := c.remove(); err != nil {
			what := "object"
			if c.entry != nil {
				what = Describe(*c.entry)
			}
			env.Log.Error("cannot remove object", "object", what, "error", err)
			errs = append(errs, fmt.Errorf("remove %s: %w", what, err))
			continue
		}
		if c.entry != nil {
			removed++
			if err := env.engine.ledger.Remove(*c.entry); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return removed, errors.Join(errs...)
}
