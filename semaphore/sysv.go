package semaphore

import (
	"os"
	"time"
)

// Set is a System V semaphore set (semget(2)), named by its id. It holds no
// descriptor or mapping: any process that knows the id (and has
// permission) can use the set, and the set lives until it is removed with
// [Set.Remove] or [RemoveSet] (or ipcrm), even after every process that
// used it has exited. A Set is safe for concurrent use.
type Set struct {
	id      int
	n       int
	changed func() // see OnChange
}

// Sembuf is one operation of [Set.Op]. Its layout matches the kernel's
// struct sembuf, so a slice of them is passed to semtimedop(2) as is.
//
//   - Op > 0 adds Op to semaphore Num (never blocks).
//   - Op < 0 waits until the value is at least -Op, then subtracts it.
//   - Op == 0 waits until the value is zero.
//
// Flg combines [SemUndo] and [NoWait].
type Sembuf struct {
	Num uint16 // semaphore index in the set
	Op  int16
	Flg int16
}

// Flags for [Sembuf.Flg].
const (
	// SemUndo (SEM_UNDO) makes the kernel revert the operation when the
	// process exits, however it exits (including SIGKILL).
	SemUndo = 0x1000
	// NoWait (IPC_NOWAIT) makes an operation that would block fail with
	// EAGAIN instead.
	NoWait = 0x800
)

// SEMVMX is the largest value a System V semaphore can hold (linux/sem.h).
const SEMVMX = 32767

// SetInfo is what IPC_STAT reports about a set.
type SetInfo struct {
	Key        int32       // 0 (IPC_PRIVATE) for sets made by CreateSet
	UID, GID   uint32      // owner
	CUID, CGID uint32      // creator
	Mode       os.FileMode // permission bits, e.g. 0600
	NSems      int         // number of semaphores in the set
	OTime      time.Time   // last semop; zero if none yet
	CTime      time.Time   // creation or last change by semctl
}

// SysVLimits are the System V semaphore limits of the running kernel, from
// /proc/sys/kernel/sem (the sysctl kernel.sem).
type SysVLimits struct {
	SEMMSL int // maximum semaphores per set
	SEMMNS int // maximum semaphores system-wide
	SEMOPM int // maximum operations per semop call
	SEMMNI int // maximum number of sets system-wide
}
