package race

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/ipcplay/ipcplay/demos/conduct"
	"github.com/ipcplay/ipcplay/semaphore"
)

// modeDef is one race mode, in one place: what it creates for a run and
// resets before each trial (parent), what each worker opens (child), the
// steps the conductor drives one at a time (--schedule), the timed loop,
// and the words the table prints. The steps and the timed loop call the
// same primitives (thread methods such as semP and semV), and
// TestStepsMatchLoop checks that running the steps gives what the loop
// gives, so the two cannot drift. Adding a mode means adding an entry here
// (and its name constant) and a test.
type modeDef struct {
	modeInfo
	// lock says what serialises the increment (undo: sysv-sem SEM_UNDO).
	lock func(undo bool) string
	// explain is the table's line for a safe mode (other: "process" or
	// "thread"); unsafe modes share explainUnsafe.
	explain func(other string, p *Params) string
	// prepare creates what the mode needs, once per run (parent).
	prepare func(r *runner) error
	// reset puts it back in its initial state before each trial (parent).
	reset func(r *runner) error
	// open attaches a worker process to it (child).
	open func(sh *shared, s *workerSpec) error
	// openThread gives one thread its own handle (child).
	openThread func(sh *shared, t *thread, s *workerSpec) error
	// steps is one increment as the conductor runs it.
	steps []stepDef
	// loop is the timed loop: increments from..to-1, no interface call
	// inside, the tally updated after each.
	loop func(t *thread, from, to int64) error
}

// stepDef is one step of an increment: what the conductor knows of it,
// and what the worker does.
type stepDef struct {
	conduct.StepDef
	// do takes the step of increment i; read and wrote are what it
	// loaded and stored (nil when it did neither).
	do func(t *thread, i int64) (read, wrote *uint64, note string, err error)
}

// The steps the modes share.
var (
	stepLoad = stepDef{StepDef: conduct.StepDef{Name: "load"}, do: func(t *thread, _ int64) (*uint64, *uint64, string, error) {
		t.held = t.load()
		return conduct.U64(t.held), nil, "", nil
	}}
	stepStore = stepDef{StepDef: conduct.StepDef{Name: "store"}, do: func(t *thread, _ int64) (*uint64, *uint64, string, error) {
		t.store(t.held + 1)
		return nil, conduct.U64(t.held + 1), "", nil
	}}
)

// lockSteps is lock, load, store, unlock around the shared resource.
func lockSteps(call, callV string, blocking []int, lock, unlock func(t *thread) error) []stepDef {
	const res = "the lock"
	return []stepDef{
		{StepDef: conduct.StepDef{Name: "lock", Call: call, Acquires: res, Blocking: blocking},
			do: func(t *thread, _ int64) (*uint64, *uint64, string, error) { return nil, nil, "", lock(t) }},
		stepLoad, stepStore,
		{StepDef: conduct.StepDef{Name: "unlock", Call: callV, Releases: res},
			do: func(t *thread, _ int64) (*uint64, *uint64, string, error) { return nil, nil, "", unlock(t) }},
	}
}

// modes is every mode in the order `all` runs them.
var modes []*modeDef

func init() {
	modes = []*modeDef{
		{
			modeInfo: modeInfo{name: ModeUnsafe, recorded: true},
			lock:     func(bool) string { return "none: a load, then a separate store" },
			steps:    []stepDef{stepLoad, stepStore},
			loop:     func(t *thread, from, to int64) error { t.loopUnsafe(from, to); return nil },
		},
		{
			modeInfo: modeInfo{name: ModeUnsafeGo, threadOnly: true, goVar: true, recorded: true},
			lock:     func(bool) string { return "none: x++ on a Go variable" },
			steps:    []stepDef{stepLoad, stepStore},
			loop:     func(t *thread, from, to int64) error { t.loopUnsafe(from, to); return nil },
		},
		{
			modeInfo: modeInfo{name: ModeAtomic, safe: true},
			lock: func(bool) string {
				if runtime.GOARCH == "arm64" {
					return "atomic.AddUint64 (LDADDAL, or an LDAXR/STLXR loop without LSE)"
				}
				return "atomic.AddUint64 (LOCK XADD)"
			},
			explain: func(string, *Params) string {
				return "one atomic read-modify-write: the CPU owns the cache line for the whole add; no system call"
			},
			steps: []stepDef{{StepDef: conduct.StepDef{Name: "add", Call: "atomic add"}, do: func(t *thread, _ int64) (*uint64, *uint64, string, error) {
				v := atomic.AddUint64(t.counter, 1)
				return conduct.U64(v - 1), conduct.U64(v), "", nil
			}}},
			loop: func(t *thread, from, to int64) error {
				p, tally := t.counter, t.tally
				for i := from; i < to; i++ {
					atomic.AddUint64(p, 1)
					*tally = uint64(i + 1)
				}
				return nil
			},
		},
		{
			modeInfo: modeInfo{name: ModeMutex, safe: true, threadOnly: true, goVar: true, recorded: true},
			lock:     func(bool) string { return "sync.Mutex" },
			explain: func(string, *Params) string {
				return "sync.Mutex: a compare-and-swap when free; under contention threads spin, then sleep in the Go scheduler"
			},
			steps: lockSteps("sync.Mutex Lock", "sync.Mutex Unlock", conduct.SyscallsFutex,
				func(*thread) error { goMu.Lock(); return nil }, func(*thread) error { goMu.Unlock(); return nil }),
			loop: func(t *thread, from, to int64) error {
				for i := from; i < to; i++ {
					goMu.Lock()
					t.inc()
					goMu.Unlock()
					*t.tally = uint64(i + 1)
				}
				return nil
			},
		},
		{
			modeInfo: modeInfo{name: ModeSysVSem, safe: true, recorded: true},
			lock: func(undo bool) string {
				if undo {
					return "System V semaphore, semop P/V with SEM_UNDO"
				}
				return "System V semaphore, semop P/V without SEM_UNDO"
			},
			explain: func(_ string, p *Params) string {
				s := "the semaphore serialises the critical section: each increment paid two semop system calls (P and V)"
				if p.undo() {
					s += ", plus SEM_UNDO bookkeeping"
				}
				return s
			},
			prepare: func(r *runner) (err error) {
				if r.set == nil {
					r.set, err = r.env.CreateSemSet(1)
				}
				return err
			},
			reset: func(r *runner) error { return r.set.SetVal(0, 1) },
			open: func(sh *shared, s *workerSpec) (err error) {
				sh.set, err = semaphore.OpenSet(s.SemID)
				return err
			},
			openThread: func(sh *shared, t *thread, s *workerSpec) error {
				var flg int16
				if s.Undo {
					flg = semaphore.SemUndo
				}
				t.semPOp = []semaphore.Sembuf{{Num: 0, Op: -1, Flg: flg}}
				return nil
			},
			steps: lockSteps("semop P", "semop V", conduct.SyscallsSem, (*thread).semP, (*thread).semV),
			loop: func(t *thread, from, to int64) error {
				for i := from; i < to; i++ {
					if err := t.semP(); err != nil {
						return err
					}
					t.inc()
					if err := t.semV(); err != nil {
						return err
					}
					*t.tally = uint64(i + 1)
				}
				return nil
			},
		},
		{
			modeInfo: modeInfo{name: ModePosixSem, safe: true, recorded: true},
			lock:     func(bool) string { return "POSIX named semaphore (sem_wait/sem_post, glibc's algorithm)" },
			explain: func(string, *Params) string {
				return "glibc's sem_wait/sem_post: an atomic when free, a futex system call only to wait or to wake a waiter"
			},
			prepare: func(r *runner) (err error) {
				if r.named == nil {
					r.named, err = r.env.CreateNamedSem(1)
				}
				return err
			},
			reset: func(r *runner) error {
				if v := r.named.Value(); v != 1 {
					return fmt.Errorf("named semaphore %s has value %d before the trial, want 1", r.named.Name(), v)
				}
				return nil
			},
			open: func(sh *shared, s *workerSpec) (err error) {
				sh.named, err = semaphore.OpenNamed(s.SemName)
				if err == nil {
					sh.closers = append(sh.closers, sh.named.Close)
				}
				return err
			},
			steps: lockSteps("sem_wait", "sem_post", conduct.SyscallsFutex,
				func(t *thread) error { return t.sh.named.Wait(context.Background()) }, func(t *thread) error { return t.sh.named.Post() }),
			loop: func(t *thread, from, to int64) error {
				s, bg := t.sh.named, context.Background()
				for i := from; i < to; i++ {
					if err := s.Wait(bg); err != nil {
						return err
					}
					t.inc()
					if err := s.Post(); err != nil {
						return err
					}
					*t.tally = uint64(i + 1)
				}
				return nil
			},
		},
		{
			modeInfo: modeInfo{name: ModePosixSemUnnamed, safe: true, recorded: true},
			lock:     func(bool) string { return "POSIX unnamed semaphore in the region (sem_wait/sem_post)" },
			explain: func(string, *Params) string {
				return "the same algorithm as posix-sem on a sem_t inside the region: no name, no file"
			},
			reset: func(r *runner) error {
				_, err := semaphore.InitUnnamed(r.region.Bytes()[r.lay.unnamed():], 1)
				return err
			},
			open: func(sh *shared, _ *workerSpec) (err error) {
				sh.unnamed, err = semaphore.AttachUnnamed(sh.mem[sh.lay.unnamed():])
				return err
			},
			steps: lockSteps("sem_wait", "sem_post", conduct.SyscallsFutex,
				func(t *thread) error { return t.sh.unnamed.Wait(context.Background()) }, func(t *thread) error { return t.sh.unnamed.Post() }),
			loop: func(t *thread, from, to int64) error {
				s, bg := t.sh.unnamed, context.Background()
				for i := from; i < to; i++ {
					if err := s.Wait(bg); err != nil {
						return err
					}
					t.inc()
					if err := s.Post(); err != nil {
						return err
					}
					*t.tally = uint64(i + 1)
				}
				return nil
			},
		},
		{
			modeInfo: modeInfo{name: ModeFutex, safe: true, recorded: true},
			lock:     func(bool) string { return "futex mutex in the region" },
			explain: func(string, *Params) string {
				return "a futex mutex: compare-and-swap when free, FUTEX_WAIT/FUTEX_WAKE system calls only under contention"
			},
			reset: func(r *runner) error {
				_, err := semaphore.InitMutex(r.region.Bytes()[r.lay.mutex():])
				return err
			},
			open: func(sh *shared, _ *workerSpec) (err error) {
				sh.mutex, err = semaphore.AttachMutex(sh.mem[sh.lay.mutex():])
				return err
			},
			steps: lockSteps("futex lock", "futex unlock", conduct.SyscallsFutex,
				func(t *thread) error { return t.sh.mutex.Lock(context.Background()) }, func(t *thread) error { return t.sh.mutex.Unlock() }),
			loop: func(t *thread, from, to int64) error {
				m, bg := t.sh.mutex, context.Background()
				for i := from; i < to; i++ {
					if err := m.Lock(bg); err != nil {
						return err
					}
					t.inc()
					if err := m.Unlock(); err != nil {
						return err
					}
					*t.tally = uint64(i + 1)
				}
				return nil
			},
		},
		{
			modeInfo: modeInfo{name: ModeFlock, safe: true, recorded: true},
			lock:     func(bool) string { return "flock(2) LOCK_EX/LOCK_UN, one open file description per worker" },
			explain: func(other string, _ *Params) string {
				return fmt.Sprintf("two flock system calls per increment; each %s opened the file itself (flock locks belong to the open file description)", other)
			},
			prepare: func(r *runner) error {
				if r.lockFile != "" {
					return nil
				}
				dir, err := r.env.TempDir()
				if err != nil {
					return err
				}
				name := filepath.Join(dir, "flock")
				// In the run's private directory, removed with it.
				f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
				if err != nil {
					return err
				}
				f.Close()
				r.lockFile = name
				return nil
			},
			openThread: func(sh *shared, t *thread, s *workerSpec) error {
				keepTwoPs() // see there: one P makes a blocked LOCK_EX cost two more switches
				// Each thread opens the file itself: its own open file
				// description, so its flock conflicts with the others'.
				fd, err := unix.Open(s.LockFile, unix.O_RDWR|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
				if err != nil {
					return fmt.Errorf("open lock file %s: %w", s.LockFile, os.NewSyscallError("open", err))
				}
				t.lockFD = fd
				sh.closers = append(sh.closers, func() error { return unix.Close(fd) })
				return nil
			},
			steps: lockSteps("flock LOCK_EX", "flock LOCK_UN", conduct.SyscallsFlock, (*thread).flockEx, (*thread).flockUn),
			loop: func(t *thread, from, to int64) error {
				for i := from; i < to; i++ {
					if err := t.flockEx(); err != nil {
						return err
					}
					t.inc()
					if err := t.flockUn(); err != nil {
						return err
					}
					*t.tally = uint64(i + 1)
				}
				return nil
			},
		},
		{
			modeInfo: modeInfo{name: ModeSocketToken, safe: true, recorded: true},
			lock:     func(bool) string { return "a token on a ring of Unix stream socketpairs" },
			explain: func(other string, _ *Params) string {
				return fmt.Sprintf("message passing: only the token's holder touches the counter; every increment is a send, a receive and a wake-up of the next %s", other)
			},
			openThread: func(_ *shared, t *thread, s *workerSpec) error {
				if s.TokenIn >= 0 {
					t.in, t.out = s.TokenIn, s.TokenOut
				}
				return nil
			},
			steps: []stepDef{
				{StepDef: conduct.StepDef{Name: "recv", Call: "read(2) of the token", Blocking: conduct.SyscallsRecv}, do: func(t *thread, i int64) (*uint64, *uint64, string, error) {
					if t.first && i == 0 {
						return nil, nil, "the first worker starts with the token", nil
					}
					return nil, nil, "", t.recvToken()
				}},
				stepLoad, stepStore,
				{StepDef: conduct.StepDef{Name: "send", Call: "write(2) of the token"}, do: func(t *thread, _ int64) (*uint64, *uint64, string, error) {
					return nil, nil, "", t.sendToken()
				}},
			},
			loop: func(t *thread, from, to int64) error {
				for i := from; i < to; i++ {
					if !t.first || i > 0 {
						if err := t.recvToken(); err != nil {
							return err
						}
					}
					t.inc()
					if err := t.sendToken(); err != nil {
						return err
					}
					*t.tally = uint64(i + 1)
				}
				return nil
			},
		},
	}
}

func lookupMode(name string) (*modeDef, bool) {
	for _, m := range modes {
		if m.name == name {
			return m, true
		}
	}
	return nil, false
}

// stepNames lists the names of a mode's steps.
func (m *modeDef) stepNames() []string {
	out := make([]string, len(m.steps))
	for i, s := range m.steps {
		out[i] = s.Name
	}
	return out
}

// plan is worker w's step sequence among procs workers doing iters
// increments each: the mode's steps, iters times. For socket-token it
// says whose token a recv waits for.
func (m *modeDef) plan(w, procs int, iters int64, unit string) conduct.Plan {
	n := len(m.steps)
	return func(k int) (conduct.StepDef, bool) {
		if int64(k) >= iters*int64(n) {
			return conduct.StepDef{}, false
		}
		d := m.steps[k%n].StepDef
		if m.name == ModeSocketToken {
			switch d.Name {
			case "recv":
				d.Acquires = "the token"
				d.Waits = "the token from " + label(unit, (w+procs-1)%procs)
				if w == 0 && k == 0 {
					d.Blocking = nil // it holds the token from the start
				}
			case "send":
				d.Releases = "the token"
			}
		}
		return d, true
	}
}

// The primitives the steps and the timed loops share.

func (t *thread) load() uint64 { return atomic.LoadUint64(t.counter) }

//go:norace
func (t *thread) store(v uint64) { *t.counter = v }

func (t *thread) semP() error { return t.sh.set.Op(context.Background(), t.semPOp) }
func (t *thread) semV() error { return t.sh.set.V(0, t.undo) }

func (t *thread) flockEx() error { return flock(t.lockFD, unix.LOCK_EX) }
func (t *thread) flockUn() error {
	if err := flockUnlock(t.lockFD); err != nil {
		return os.NewSyscallError("flock", err)
	}
	return nil
}

func (t *thread) recvToken() error { return readToken(t.in, t.tok[:]) }
func (t *thread) sendToken() error { return writeToken(t.out, t.tok[:]) }
