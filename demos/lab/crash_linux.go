package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ipcplay/ipcplay/ipc"
	"github.com/ipcplay/ipcplay/ipc/worker"
	"github.com/ipcplay/ipcplay/semaphore"
	"github.com/ipcplay/ipcplay/shm"
)

// CrashParams are the crash lab's parameters.
type CrashParams struct {
	// Timeout is how long the second worker waits for the lock before it
	// calls it stuck.
	Timeout time.Duration `json:"timeout_ns"`
}

// CrashRow is what happened to one primitive.
type CrashRow struct {
	Primitive string `json:"primitive"`  // "sysv-sem-undo", "flock"...
	HolderPID int    `json:"holder_pid"` // the worker killed inside the critical section
	TakerPID  int    `json:"taker_pid"`  // the worker that tried next
	Happened  string `json:"happened"`   // "recovered" or "stuck"
	Expected  string `json:"expected"`
	Matches   bool   `json:"matches"`
	WaitNs    int64  `json:"wait_ns"` // until the lock was got back, or the timeout
	Detail    string `json:"detail"`  // what the taker saw (kernel state, owner record)
	// OwnerDied is set for the robust futex only: whether the futex word
	// the taker found had FUTEX_OWNER_DIED, set by the kernel.
	OwnerDied   *bool  `json:"owner_died,omitempty"`
	Explanation string `json:"explanation"`
}

// CrashResult is the crash lab's document.
type CrashResult struct {
	Header
	TimeoutNs int64      `json:"timeout_ns"`
	Rows      []CrashRow `json:"rows"`
}

const (
	recovered = "recovered"
	stuck     = "stuck"
)

// A crash primitive: how to set it up, what should happen and why. why
// tells what happened when the row came out as expected; should says, in
// the present tense, what ought to happen, for a row that did not.
type crashPrim struct {
	name, label, expected, why, should string
}

var crashPrims = []crashPrim{
	{"sysv-sem-undo", "System V semaphore, SEM_UNDO", recovered,
		"The kernel keeps an undo record for every semop made with SEM_UNDO; when the holder died, exit() applied it and the semaphore went back to 1.",
		"with SEM_UNDO the kernel should apply the dead holder's undo record at its exit and give the semaphore back"},
	{"sysv-sem-no-undo", "System V semaphore, no SEM_UNDO", stuck,
		"Without SEM_UNDO the kernel does not know the -1 was a lock: the value stays 0 after the holder's death and every later P waits for ever.",
		"without SEM_UNDO nothing should give the dead holder's -1 back"},
	{"posix-sem", "POSIX named semaphore", stuck,
		"A POSIX semaphore is a counter in shared memory that records no owner: the dead holder's token is simply lost.",
		"a POSIX semaphore records no owner, so nothing should give the dead holder's token back"},
	{"futex-mutex", "futex mutex, Lock", stuck,
		"The futex word still says locked; a plain Lock, like a non-robust pthread mutex, never looks at the owner recorded next to it.",
		"a plain Lock never looks at the recorded owner, so it should wait until the timeout"},
	{"futex-mutex-recover", "futex mutex, LockRecover", recovered,
		"LockRecover is recovery in user space: the waiter checks the owner recorded next to the word (pid and start time, so a recycled pid does not pass), finds it dead, takes the lock over and returns ErrOwnerDead, like EOWNERDEAD from a robust pthread mutex: the data it protects may be half-updated and must be repaired. " +
			"Its window: a holder killed between taking the word and writing its record leaves a lock with no owner to check, which nothing recovers; and the waiter must be able to see the owner's pid (same pid namespace, /proc or pidfd).",
		"LockRecover should find the recorded owner dead and take the lock over with ErrOwnerDead"},
	{"robust-futex", "robust futex (set_robust_list)", recovered,
		"The robust futex is the kernel's bookkeeping at exit: the holder's thread registered a list of its locks with set_robust_list(2) and the word held its thread id; when it died, the kernel walked the list, set FUTEX_OWNER_DIED in the word (and would have woken a waiter had one slept). The taker got the lock with ErrOwnerDead (EOWNERDEAD for a robust pthread mutex, which stands on the same list). " +
			"Its window is closed by list_op_pending, which names the lock before the word is taken and while it is released, so the kernel finds it even before it is linked; what is left is a holder that corrupts or unmaps its own list, more than 2048 held locks (ROBUST_LIST_LIMIT), and processes in different pid namespaces (the word holds a thread id).",
		"the kernel should walk the dead thread's robust list and set FUTEX_OWNER_DIED in the word, so that the taker gets the lock with ErrOwnerDead"},
	{"flock", "flock(2) on a file", recovered,
		"An flock belongs to the open file; the kernel closed the holder's descriptors when it died, and the lock went with the last one.",
		"the kernel should drop the flock when it closes the dead holder's descriptors"},
}

// crashSpec is the spec of the holder and taker workers.
type crashSpec struct {
	Primitive string        `json:"primitive"`
	SemID     int           `json:"sem_id,omitempty"`
	SemName   string        `json:"sem_name,omitempty"`
	Region    string        `json:"region,omitempty"` // handle of the mutex's memory
	Path      string        `json:"path,omitempty"`   // the flock file
	Timeout   time.Duration `json:"timeout_ns,omitempty"`
}

type crashTake struct {
	Happened string `json:"happened"`
	WaitNs   int64  `json:"wait_ns"`
	Detail   string `json:"detail"`
	// OwnerDied: the robust futex word the taker's Lock found had
	// FUTEX_OWNER_DIED (robust-futex only).
	OwnerDied *bool `json:"owner_died,omitempty"`
}

var crashLab = Info{
	Name:    "crash",
	Summary: "a lock holder is SIGKILLed inside its critical section: which locks come back?",
	Example: "ipcplay demo crash --timeout 300ms",
	Flags: []Flag{
		{Name: "timeout", Usage: "how long the next process waits before calling the lock stuck", Default: 500 * time.Millisecond},
	},
	Experiment: ipc.Experiment{Name: ExperimentPrefix + "crash", Validate: validateCrash, Run: runCrash},
}

func init() {
	worker.Register("lab-crash-holder", crashHolder)
	worker.Register("lab-crash-taker", crashTaker)
	renderers["crash"] = renderCrash
}

func crashParams(raw json.RawMessage) (CrashParams, error) {
	p := CrashParams{Timeout: 500 * time.Millisecond}
	if err := decodeParams(raw, &p); err != nil {
		return p, err
	}
	return p, checkDur("timeout", p.Timeout, 10*time.Millisecond, 30*time.Second)
}

func validateCrash(raw json.RawMessage, lim ipc.Limits) error {
	_, err := crashParams(raw)
	return err
}

func runCrash(ctx context.Context, env *ipc.Env, raw json.RawMessage) (any, error) {
	p, err := crashParams(raw)
	if err != nil {
		return nil, err
	}
	res := &CrashResult{
		Header: newHeader("crash", "A lock is only as crash-safe as the bookkeeping behind it. "+
			"Where the kernel knows who holds the lock (SEM_UNDO records, flock on an open file, a robust futex list registered with set_robust_list) it cleans up when the holder dies. "+
			"A counter or futex word in memory that the kernel was not told about stays taken for ever, unless the waiter can check a recorded owner and take over (LockRecover)."),
		TimeoutNs: p.Timeout.Nanoseconds(),
	}
	var problems []string
	for i, prim := range crashPrims {
		env.Progress(int64(i), int64(len(crashPrims)), prim.name)
		row, err := crashRow(ctx, env, p, prim)
		if err != nil {
			return res, fmt.Errorf("demo crash: %s: %w", prim.name, err)
		}
		res.Rows = append(res.Rows, row)
		if !row.Matches {
			problems = append(problems, fmt.Sprintf("%s: %s, expected %s", prim.name, row.Happened, row.Expected))
		}
	}
	env.Progress(int64(len(crashPrims)), int64(len(crashPrims)), "done")
	return res, res.verdict(problems)
}

// crashRow sets up one primitive, starts a holder that takes it, kills the
// holder with SIGKILL inside its critical section, and lets a taker try.
func crashRow(ctx context.Context, env *ipc.Env, p CrashParams, prim crashPrim) (CrashRow, error) {
	row := CrashRow{Primitive: prim.name, Expected: prim.expected, Explanation: prim.why}
	spec := crashSpec{Primitive: prim.name}
	var files []*os.File
	switch prim.name {
	case "sysv-sem-undo", "sysv-sem-no-undo":
		set, err := env.CreateSemSet(1)
		if err != nil {
			return row, err
		}
		if err := set.SetVal(0, 1); err != nil {
			return row, err
		}
		spec.SemID = set.ID()
	case "posix-sem":
		n, err := env.CreateNamedSem(1)
		if err != nil {
			return row, err
		}
		spec.SemName = n.Name()
	case "futex-mutex", "futex-mutex-recover", "robust-futex":
		r, err := env.CreateRegion(shm.Spec{Kind: shm.Memfd, Size: 4096})
		if err != nil {
			return row, err
		}
		if prim.name == "robust-futex" {
			_, err = semaphore.InitRobustMutex(r.Bytes())
		} else {
			_, err = semaphore.InitMutex(r.Bytes())
		}
		if err != nil {
			return row, err
		}
		files = []*os.File{r.File()}
		spec.Region = r.HandleAt(worker.FileFD(0))
	case "flock":
		dir, err := env.TempDir()
		if err != nil {
			return row, err
		}
		spec.Path = filepath.Join(dir, "crash.lock")
		f, err := os.OpenFile(spec.Path, os.O_CREATE|os.O_EXCL|os.O_RDWR|syscall.O_NOFOLLOW, 0o600)
		if err != nil {
			return row, err
		}
		f.Close()
	}

	// The holder reports ready only once it holds the lock; it then waits
	// at the start barrier, inside its critical section, and is killed
	// there before the barrier is ever released.
	hctx, cancel := phase(ctx, 30*time.Second)
	defer cancel()
	g, err := env.StartWorkers(hctx, []worker.Spec{{Kind: "lab-crash-holder", Name: "holder", Spec: spec, Files: files}})
	if err != nil {
		return row, fmt.Errorf("holder: %w", err)
	}
	row.HolderPID = g.Pids()[0]
	if err := g.Signal(0, syscall.SIGKILL); err != nil {
		g.Kill()
		_, _ = g.Wait(hctx)
		return row, err
	}
	select {
	case <-g.Done(0):
	case <-hctx.Done():
	}
	_, werr := g.Wait(hctx)
	var ee *worker.ExitError
	if !errors.As(werr, &ee) || ee.Signal != "SIGKILL" {
		return row, fmt.Errorf("holder was not killed by SIGKILL: %v", werr)
	}

	spec.Timeout = p.Timeout
	tctx, cancel2 := phase(ctx, p.Timeout+30*time.Second)
	defer cancel2()
	rs, err := env.RunWorkers(tctx, []worker.Spec{{Kind: "lab-crash-taker", Name: "taker", Spec: spec, Files: files}})
	if err != nil {
		return row, fmt.Errorf("taker: %w", err)
	}
	var t crashTake
	if err := rs[0].Decode(&t); err != nil {
		return row, err
	}
	row.TakerPID = rs[0].Pid
	row.Happened, row.WaitNs, row.Detail, row.OwnerDied = t.Happened, t.WaitNs, t.Detail, t.OwnerDied
	row.Matches = row.Happened == row.Expected
	if prim.name == "robust-futex" {
		// Recovered is not enough: the kernel must have said why.
		row.Matches = row.Matches && row.OwnerDied != nil && *row.OwnerDied
	}
	row.Explanation = crashExplanation(prim, row)
	return row, nil
}

// crashExplanation explains a row as it came out: why it happened, or,
// for a row that did not come out as expected (whose explanation would
// contradict it), what should have happened and what did.
func crashExplanation(prim crashPrim, row CrashRow) string {
	if row.Matches {
		return prim.why
	}
	seen := row.Happened
	if row.Happened == recovered && prim.name == "robust-futex" {
		seen = "recovered without FUTEX_OWNER_DIED in the word"
	}
	return fmt.Sprintf("Not as explained: %s, but this run saw it %s.", prim.should, seen)
}

// crashPrimitive is a primitive opened in a worker.
type crashPrimitive struct {
	spec  crashSpec
	set   *semaphore.Set
	named *semaphore.Named
	mu    *semaphore.Mutex
	rmu   *semaphore.RobustMutex
	reg   *shm.Region
	file  *os.File
}

func openCrashPrimitive(s crashSpec) (*crashPrimitive, error) {
	cp := &crashPrimitive{spec: s}
	var err error
	switch s.Primitive {
	case "sysv-sem-undo", "sysv-sem-no-undo":
		cp.set, err = semaphore.OpenSet(s.SemID)
	case "posix-sem":
		cp.named, err = semaphore.OpenNamed(s.SemName)
	case "futex-mutex", "futex-mutex-recover":
		cp.reg, err = shm.Open(s.Region)
		if err == nil {
			cp.mu, err = semaphore.AttachMutex(cp.reg.Bytes())
		}
	case "robust-futex":
		cp.reg, err = shm.Open(s.Region)
		if err == nil {
			cp.rmu, err = semaphore.AttachRobustMutex(cp.reg.Bytes())
		}
	case "flock":
		cp.file, err = os.OpenFile(s.Path, os.O_RDWR, 0)
	default:
		err = fmt.Errorf("unknown primitive %q", s.Primitive)
	}
	return cp, err
}

func (cp *crashPrimitive) close() {
	if cp.named != nil {
		cp.named.Close()
	}
	if cp.reg != nil {
		cp.reg.Close()
	}
	if cp.file != nil {
		cp.file.Close()
	}
}

// lock takes the primitive, waiting until ctx is done. For flock, which has
// no timed wait, it polls with LOCK_NB every millisecond.
func (cp *crashPrimitive) lock(ctx context.Context) error {
	switch cp.spec.Primitive {
	case "sysv-sem-undo":
		return cp.set.P(ctx, 0, true)
	case "sysv-sem-no-undo":
		return cp.set.P(ctx, 0, false)
	case "posix-sem":
		return cp.named.Wait(ctx)
	case "futex-mutex":
		return cp.mu.Lock(ctx)
	case "futex-mutex-recover":
		return cp.mu.LockRecover(ctx)
	case "robust-futex":
		// Lock locks the goroutine to its thread: the thread whose id the
		// word holds and whose robust list the kernel walks at its death.
		return cp.rmu.Lock(ctx)
	case "flock":
		fd := int(cp.file.Fd())
		for {
			err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
			if err == nil {
				return nil
			}
			if !errors.Is(err, unix.EWOULDBLOCK) {
				return os.NewSyscallError("flock", err)
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("flock %s: %w", cp.spec.Path, ctx.Err())
			case <-time.After(time.Millisecond):
			}
		}
	}
	return fmt.Errorf("unknown primitive %q", cp.spec.Primitive)
}

// state describes what a taker sees before trying.
func (cp *crashPrimitive) state() string {
	switch {
	case cp.set != nil:
		v, _ := cp.set.Val(0)
		pid, _ := cp.set.LastPID(0)
		return "semval " + strconv.Itoa(v) + ", GETPID (last semop) " + strconv.Itoa(pid)
	case cp.named != nil:
		return "value " + strconv.Itoa(cp.named.Value())
	case cp.rmu != nil:
		pid, tid := cp.rmu.Owner()
		return fmt.Sprintf("futex word %s, owner pid recorded %d, tid in word %d", semaphore.DescribeFutexWord(cp.rmu.Word()), pid, tid)
	case cp.mu != nil:
		pid, alive := cp.mu.Owner()
		if pid == 0 {
			return "no owner recorded"
		}
		if alive {
			return "owner pid " + strconv.Itoa(pid) + " (alive)"
		}
		return "owner pid " + strconv.Itoa(pid) + " (dead)"
	}
	return "lock file " + filepath.Base(cp.spec.Path)
}

func crashHolder(ctx context.Context, c *worker.Child) (any, error) {
	var s crashSpec
	if err := c.Spec(&s); err != nil {
		return nil, err
	}
	cp, err := openCrashPrimitive(s)
	if err != nil {
		return nil, err
	}
	defer cp.close()
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := cp.lock(lctx); err != nil {
		return nil, fmt.Errorf("take the lock: %w", err)
	}
	// Inside the critical section. The parent kills us here.
	if err := c.Ready(ctx); err != nil {
		return nil, err
	}
	<-ctx.Done()
	return nil, errors.New("the holder was released instead of killed")
}

func crashTaker(ctx context.Context, c *worker.Child) (any, error) {
	var s crashSpec
	if err := c.Spec(&s); err != nil {
		return nil, err
	}
	cp, err := openCrashPrimitive(s)
	if err != nil {
		return nil, err
	}
	defer cp.close()
	if err := c.Ready(ctx); err != nil {
		return nil, err
	}
	before := cp.state()
	tctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	start := time.Now()
	err = cp.lock(tctx)
	t := crashTake{WaitNs: since(start)}
	switch {
	case err == nil:
		t.Happened, t.Detail = recovered, "acquired at once; before trying: "+before
		if s.Primitive == "futex-mutex-recover" || s.Primitive == "robust-futex" {
			t.Detail = "acquired without a takeover; before trying: " + before
		}
	case errors.Is(err, semaphore.ErrOwnerDead):
		t.Happened = recovered
		t.Detail = "ErrOwnerDead: took the lock over from the dead owner; before trying: " + before
		var od *semaphore.OwnerDiedError
		if errors.As(err, &od) {
			died := od.Word&semaphore.FutexOwnerDied != 0
			t.OwnerDied = &died
			t.Detail = fmt.Sprintf("ErrOwnerDead: Lock found the word %s (%#08x), set by the kernel at the holder's exit; before trying: %s", semaphore.DescribeFutexWord(od.Word), od.Word, before)
		}
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		t.Happened = stuck
		t.Detail = "still locked after the timeout; " + before
		return t, nil
	default:
		return nil, err
	}
	// Release what we took, the way it was taken.
	switch s.Primitive {
	case "sysv-sem-undo":
		err = cp.set.V(0, true)
	case "sysv-sem-no-undo":
		err = cp.set.V(0, false)
	case "posix-sem":
		err = cp.named.Post()
	case "futex-mutex", "futex-mutex-recover":
		err = cp.mu.Unlock()
	case "robust-futex":
		err = cp.rmu.Unlock()
	case "flock":
		err = unix.Flock(int(cp.file.Fd()), unix.LOCK_UN)
	}
	return t, err
}

func renderCrash(w io.Writer, doc json.RawMessage) error {
	var r CrashResult
	if err := decodeDoc(doc, &r); err != nil {
		return err
	}
	fmt.Fprintf(w, "Each holder took its lock and was killed with SIGKILL inside the critical section; a second process then waited up to %s for it.\n\n", dur(r.TimeoutNs))
	labels := map[string]string{}
	for _, p := range crashPrims {
		labels[p.name] = p.label
	}
	rows := make([][]string, 0, len(r.Rows))
	for _, row := range r.Rows {
		wait := dur(row.WaitNs)
		if row.Happened == stuck {
			wait = "timeout " + wait
		}
		rows = append(rows, []string{labels[row.Primitive], strconv.Itoa(row.HolderPID), strconv.Itoa(row.TakerPID),
			row.Happened, row.Expected, yesNo(row.Matches), wait})
	}
	table(w, []string{"PRIMITIVE", "KILLED HOLDER", "NEXT", "HAPPENED", "EXPECTED", "MATCHES", "TIME"}, rows)
	fmt.Fprintln(w)
	for _, row := range r.Rows {
		fmt.Fprint(w, wrap("- "+labels[row.Primitive]+": "+row.Detail+". "+row.Explanation, 78))
	}
	return nil
}
