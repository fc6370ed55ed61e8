package semaphore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// limitsFile is where the kernel publishes kernel.sem.
const limitsFile = "/proc/sys/kernel/sem"

// Limits reads the System V semaphore limits from /proc/sys/kernel/sem.
func Limits() (SysVLimits, error) {
	b, err := os.ReadFile(limitsFile)
	if err != nil {
		return SysVLimits{}, &opError{op: "read limits", err: err}
	}
	f := strings.Fields(string(b))
	if len(f) != 4 {
		return SysVLimits{}, &opError{op: "read limits", why: fmt.Sprintf("%s: want 4 numbers, got %q", limitsFile, b), sentinel: ErrInvalid}
	}
	var v [4]int
	for i, s := range f {
		if v[i], err = strconv.Atoi(s); err != nil {
			return SysVLimits{}, &opError{op: "read limits", why: limitsFile, err: err}
		}
	}
	return SysVLimits{SEMMSL: v[0], SEMMNS: v[1], SEMOPM: v[2], SEMMNI: v[3]}, nil
}

// CreateSet creates a private set of n semaphores, all zero, mode 0600
// (semget(IPC_PRIVATE, n, IPC_CREAT|IPC_EXCL|0600)). n must be between 1
// and SEMMSL. The caller owns the set and must [Set.Remove] it.
func CreateSet(n int) (*Set, error) {
	op := fmt.Sprintf("create set of %d semaphores", n)
	if n < 1 {
		return nil, invalid(op, "a set has at least 1 semaphore")
	}
	if lim, err := Limits(); err == nil && n > lim.SEMMSL {
		return nil, invalid(op, fmt.Sprintf("above the limit of %d per set (SEMMSL, sysctl kernel.sem)", lim.SEMMSL))
	}
	if n > 1<<16 {
		return nil, invalid(op, "at most 65536 semaphores can be addressed")
	}
	id, err := semget(unix.IPC_PRIVATE, n, unix.IPC_CREAT|unix.IPC_EXCL|0o600)
	if err != nil {
		switch {
		case errors.Is(err, unix.ENOSPC):
			return nil, sysErr(op, "semget", err, "the system-wide limit of sets (SEMMNI) or semaphores (SEMMNS) is reached (sysctl kernel.sem)")
		case errors.Is(err, unix.EINVAL):
			e := sysErr(op, "semget", err, "the kernel refuses this many semaphores per set (SEMMSL, sysctl kernel.sem)").(*opError)
			e.sentinel = ErrInvalid
			return nil, e
		}
		return nil, sysErr(op, "semget", err, "")
	}
	return &Set{id: id, n: n}, nil
}

// OpenSet returns the existing set with the given id, learning its size
// with IPC_STAT. A set that does not exist, or was removed, gives an error
// matching ErrNotFound (and the errno, EINVAL or EIDRM).
func OpenSet(id int) (*Set, error) {
	op := fmt.Sprintf("open set %d", id)
	if id < 0 {
		return nil, invalid(op, "a set id is never negative")
	}
	var ds semidDs
	if err := semctlStat(id, &ds); err != nil {
		return nil, setErr(op, "semctl", err)
	}
	return &Set{id: id, n: int(ds.Nsems)}, nil
}

// setErr wraps a failed semctl or semop on a set. The kernel says EINVAL
// for an id that names no set (arguments are checked before the call) and
// EIDRM for a set removed during the call.
func setErr(op, call string, err error) error {
	why := ""
	switch {
	case errors.Is(err, unix.EINVAL):
		e := sysErr(op, call, err, "no such set (it was removed, or never existed)").(*opError)
		e.sentinel = ErrNotFound
		return e
	case errors.Is(err, unix.EIDRM):
		why = "the set was removed while in use"
	case errors.Is(err, unix.ERANGE):
		why = fmt.Sprintf("the value would leave 0..%d (SEMVMX)", SEMVMX)
	case errors.Is(err, unix.E2BIG):
		why = "more operations than SEMOPM allows in one call (sysctl kernel.sem)"
	case errors.Is(err, unix.EFBIG):
		why = "a semaphore index is beyond the set"
	case errors.Is(err, unix.ENOSPC):
		why = "no room for the SEM_UNDO record"
	}
	return sysErr(op, call, err, why)
}

// ID is the set's System V identifier (semid), as ipcs(1) shows it.
func (s *Set) ID() int { return s.id }

// Len is the number of semaphores in the set.
func (s *Set) Len() int { return s.n }

func (s *Set) checkIndex(op string, i int) error {
	if i < 0 || i >= s.n {
		return invalid(op, fmt.Sprintf("index %d outside the set's 0..%d", i, s.n-1))
	}
	return nil
}

// SetVal sets semaphore i to v (SETVAL), 0 <= v <= SEMVMX. Waiters that
// can now proceed are woken; SEM_UNDO records for i are cleared.
func (s *Set) SetVal(i, v int) error {
	op := fmt.Sprintf("setval set %d sem %d", s.id, i)
	if err := s.checkIndex(op, i); err != nil {
		return err
	}
	if v < 0 || v > SEMVMX {
		return invalid(op, fmt.Sprintf("value %d outside 0..%d (SEMVMX)", v, SEMVMX))
	}
	if _, err := semctl(s.id, i, cmdSETVAL, uintptr(v)); err != nil {
		return setErr(op, "semctl", err)
	}
	if s.changed != nil {
		s.changed()
	}
	return nil
}

// OnChange sets fn to run after each change of the set's sem_ctime made
// through s (SetVal; semop changes only sem_otime). An owner that records
// the ctime to recognise its set later (ipcplay's ledger) re-records it
// there. Call it before the set is shared between goroutines.
func (s *Set) OnChange(fn func()) { s.changed = fn }

func (s *Set) get(name string, cmd, i int) (int, error) {
	op := fmt.Sprintf("%s set %d sem %d", name, s.id, i)
	if err := s.checkIndex(op, i); err != nil {
		return 0, err
	}
	v, err := semctl(s.id, i, cmd, 0)
	if err != nil {
		return 0, setErr(op, "semctl", err)
	}
	return v, nil
}

// Val returns the value of semaphore i (GETVAL).
func (s *Set) Val(i int) (int, error) { return s.get("getval", cmdGETVAL, i) }

// NCount returns how many processes wait for semaphore i to increase
// (GETNCNT): those blocked in a P.
func (s *Set) NCount(i int) (int, error) { return s.get("getncnt", cmdGETNCNT, i) }

// ZCount returns how many processes wait for semaphore i to become zero
// (GETZCNT).
func (s *Set) ZCount(i int) (int, error) { return s.get("getzcnt", cmdGETZCNT, i) }

// LastPID returns the pid of the last process that operated on semaphore i
// (GETPID); 0 if none has yet.
func (s *Set) LastPID(i int) (int, error) { return s.get("getpid", cmdGETPID, i) }

// Stat returns the set's IPC_STAT information.
func (s *Set) Stat() (SetInfo, error) {
	var ds semidDs
	if err := semctlStat(s.id, &ds); err != nil {
		return SetInfo{}, setErr(fmt.Sprintf("stat set %d", s.id), "semctl", err)
	}
	info := SetInfo{
		Key:   ds.Perm.Key,
		UID:   ds.Perm.Uid,
		GID:   ds.Perm.Gid,
		CUID:  ds.Perm.Cuid,
		CGID:  ds.Perm.Cgid,
		Mode:  os.FileMode(ds.Perm.Mode & 0o777),
		NSems: int(ds.Nsems),
	}
	if ds.Otime != 0 {
		info.OTime = time.Unix(ds.Otime, 0)
	}
	if ds.Ctime != 0 {
		info.CTime = time.Unix(ds.Ctime, 0)
	}
	return info, nil
}

func undoFlag(undo bool) int16 {
	if undo {
		return SemUndo
	}
	return 0
}

// P waits until semaphore i is positive and decrements it (semop -1). With
// undo the kernel adds 1 back if this process exits before a matching V.
// P blocks until it succeeds or ctx is done: then the error wraps
// ctx.Err() (context.DeadlineExceeded once the deadline has passed). When
// the semaphore is available P succeeds even if ctx is already done.
func (s *Set) P(ctx context.Context, i int, undo bool) error {
	if i < 0 || i >= s.n {
		return s.checkIndex(s.opName(i, "P"), i)
	}
	// One semtimedop, as C's sem P would do: a separate non-blocking try
	// first would cost a second system call under contention and change
	// who wins the semaphore, which the race lab measures.
	ops := [1]Sembuf{{Num: uint16(i), Op: -1, Flg: undoFlag(undo)}}
	return s.wait(ctx, ops[:], func() string { return s.opName(i, "P") })
}

// TryP is P that never blocks (IPC_NOWAIT): when the semaphore is zero it
// returns an error wrapping unix.EAGAIN.
func (s *Set) TryP(i int, undo bool) error {
	if i < 0 || i >= s.n {
		return s.checkIndex(s.opName(i, "P"), i)
	}
	ops := [1]Sembuf{{Num: uint16(i), Op: -1, Flg: undoFlag(undo) | NoWait}}
	return s.noBlock(ops[:], func() string { return s.opName(i, "P") })
}

// V increments semaphore i (semop +1), waking a waiter if there is one.
// With undo the kernel subtracts 1 again when this process exits.
func (s *Set) V(i int, undo bool) error {
	if i < 0 || i >= s.n {
		return s.checkIndex(s.opName(i, "V"), i)
	}
	ops := [1]Sembuf{{Num: uint16(i), Op: 1, Flg: undoFlag(undo)}}
	return s.noBlock(ops[:], func() string { return s.opName(i, "V") })
}

func (s *Set) opName(i int, what string) string {
	return fmt.Sprintf("semop %s set %d sem %d", what, s.id, i)
}

// Op performs ops atomically: all of them or none (semtimedop(2)). It
// blocks until all can proceed or ctx is done, like [Set.P]. If any
// operation has NoWait, the whole call is non-blocking: it fails at once
// with an error wrapping unix.EAGAIN when any operation would wait (the
// kernel itself only honours IPC_NOWAIT on the operation that would wait).
func (s *Set) Op(ctx context.Context, ops []Sembuf) error {
	name := func() string { return fmt.Sprintf("semop set %d (%d ops)", s.id, len(ops)) }
	if len(ops) == 0 {
		return invalid(name(), "no operations")
	}
	anyNoWait, canSleep := false, false
	for _, o := range ops {
		if int(o.Num) >= s.n {
			return invalid(name(), fmt.Sprintf("index %d outside the set's 0..%d", o.Num, s.n-1))
		}
		anyNoWait = anyNoWait || o.Flg&NoWait != 0
		canSleep = canSleep || (o.Op <= 0 && o.Flg&NoWait == 0)
	}
	if !canSleep {
		return s.noBlock(ops, name)
	}
	if anyNoWait {
		all := make([]Sembuf, len(ops))
		for i, o := range ops {
			all[i] = Sembuf{Num: o.Num, Op: o.Op, Flg: o.Flg | NoWait}
		}
		return s.noBlock(all, name)
	}
	return s.wait(ctx, ops, name)
}

// noBlock performs operations that cannot sleep.
func (s *Set) noBlock(ops []Sembuf, name func() string) error {
	for {
		switch err := semopNoBlock(s.id, ops); err {
		case nil:
			return nil
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return sysErr(name(), "semtimedop", err, "would block")
		default:
			return setErr(name(), "semtimedop", err)
		}
	}
}

// wait runs semtimedop in context slices until ops succeed or ctx is done.
// name only shapes the error message.
func (s *Set) wait(ctx context.Context, ops []Sembuf, name func() string) error {
	var slice unix.Timespec
	for {
		ts := sliceFor(ctx, &slice)
		err := semtimedop(s.id, ops, ts)
		switch {
		case err == nil:
			return nil
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN && ts != nil:
			// This slice of the wait expired.
			if cerr := doneErr(ctx); cerr != nil {
				return ctxErr(name(), cerr)
			}
			continue
		}
		return setErr(name(), "semtimedop", err)
	}
}

// Remove removes the set (IPC_RMID); processes blocked on it wake with
// EIDRM. Removing a set that is already gone is not an error.
func (s *Set) Remove() error { return RemoveSet(s.id) }

// RemoveSet removes the set with the given id, for a reaper that has no
// Set. A set that is already gone is not an error; one owned by another
// user gives an error matching ErrPermission.
func RemoveSet(id int) error {
	op := fmt.Sprintf("remove set %d", id)
	if id < 0 {
		return invalid(op, "a set id is never negative")
	}
	if _, err := semctl(id, 0, unix.IPC_RMID, 0); err != nil {
		if err == unix.EINVAL || err == unix.EIDRM {
			return nil
		}
		return setErr(op, "semctl", err)
	}
	return nil
}
