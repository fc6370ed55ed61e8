package semaphore

import "fmt"

// RobustMutex is a process-shared mutex in RobustMutexSize bytes of shared
// memory whose recovery after a holder's death is done by the kernel, not
// by the waiters: a robust futex, the mechanism under glibc's robust
// pthread mutexes (pthread_mutexattr_setrobust(3)).
//
// The rules come from the kernel's robust-futex ABI
// (Documentation/locking/robust-futex-ABI.rst, kernel/futex/core.c
// exit_robust_list and handle_futex_death):
//
//   - Each thread may register ONE list head with set_robust_list(2):
//     struct robust_list_head { list, futex_offset, list_op_pending },
//     24 bytes on 64-bit. list is a circular singly linked list of the
//     locks the thread holds (it points to itself when empty);
//     futex_offset is the distance from a list entry to its lock word;
//     list_op_pending names a lock the thread is taking or releasing.
//   - The lock word holds the owner's thread id (TID, as gettid(2)
//     returns it in the owner's pid namespace) in its low 30 bits
//     (FUTEX_TID_MASK), FUTEX_WAITERS (bit 31: someone may sleep on it)
//     and FUTEX_OWNER_DIED (bit 30).
//   - When a thread exits (or execs), the kernel walks its list and the
//     pending entry: every word that still holds the thread's TID becomes
//     FUTEX_OWNER_DIED, keeping FUTEX_WAITERS, and one waiter is woken. A
//     pending entry whose word has no owner (the thread died between
//     releasing the word and waking) gets the wake-up alone.
//
// Lock takes the word with a compare-and-swap 0 -> TID, setting
// list_op_pending to the lock BEFORE the swap and linking the lock into
// the list after it, so that a kill at any instruction leaves the lock
// either free or known to the kernel. On contention the waiter sets
// FUTEX_WAITERS and sleeps in FUTEX_WAIT. A lock whose word says
// FUTEX_OWNER_DIED is taken like a free one, and Lock returns an
// *OwnerDiedError (errors.Is(err, ErrOwnerDead)) with the lock held, like
// EOWNERDEAD from pthread_mutex_lock: repair the data, then Unlock. Unlike
// a pthread mutex there is no "not recoverable" state: Unlock after
// ErrOwnerDead makes the mutex usable again.
//
// FUTEX_WAIT rather than FUTEX_LOCK_PI: the PI operations hand ownership
// to the kernel's rt_mutex, which brings priority inheritance but refuses
// FUTEX_WAKE on the word, so a waiting Lock could not be cut short when
// its context is done (this package wakes futex waiters on cancellation),
// and FUTEX_LOCK_PI's timeout is absolute on CLOCK_REALTIME. Robustness,
// the point here, is the same for both: the kernel's exit walk handles PI
// and non-PI words alike.
//
// Ownership belongs to an OS thread. Lock calls runtime.LockOSThread and
// the matching Unlock calls runtime.UnlockOSThread, so the goroutine that
// locked must be the one that unlocks (another goroutine gets
// ErrNotOwner). A goroutine that exits while holding the lock ends its
// thread, and the kernel marks the lock FUTEX_OWNER_DIED, as for a killed
// process; except on the process's main thread, which the Go runtime
// never ends (it parks it for good): a lock left there stays held.
//
// One robust list per thread: Lock registers this package's head on the
// calling thread the first time, after get_robust_list(2) shows what is
// there. Threads the Go runtime starts itself (clone, no libc) have none.
// In a cgo or -race binary the runtime starts threads with
// pthread_create, and glibc has registered its own head for each (for
// robust pthread mutexes). Lock then replaces glibc's head only while
// glibc's list is empty, and Unlock gives it back once this thread holds
// no RobustMutex; a thread whose glibc list is in use (C code on it holds
// a robust pthread mutex) gets an error wrapping ErrUnsupported. While a
// RobustMutex is held, robust pthread mutexes taken by C code on the same
// thread would not be recovered by the kernel.
//
// Cost: an uncontended Lock and Unlock make one get_robust_list(2) call
// each, to find the calling thread's list (Go offers no thread-local
// storage, and a thread id alone may be a dead thread's, reused), where
// Mutex makes no system call (BenchmarkRobustMutexLockUnlock).
//
// Layout (native-endian words, 64 bytes, one cache line):
//
//	offset 0   uint32  futex word: owner TID | FUTEX_WAITERS | FUTEX_OWNER_DIED; 0 free
//	offset 4   uint32  magic "IPRB", set by InitRobustMutex
//	offset 8   uint64  struct robust_list: the owner's next-entry pointer, an
//	                   address in the OWNER's address space (meaningless
//	                   to other processes); futex_offset is therefore -8
//	offset 16  uint32  number of times the lock was taken with FUTEX_OWNER_DIED
//	offset 20  uint32  owner's process id, written after the word (informative)
//	offset 24  reserved, zero
//
// Every process using a RobustMutex must be in the same pid namespace
// (the word holds a TID), and must keep the memory mapped while it holds
// the lock: the kernel reads the list through the owner's mapping.
type RobustMutex struct {
	word     *uint32
	entry    *uint64
	recovers *uint32
	ownerPID *uint32
	pid      int // this process, recorded at offset 20 by Lock
}

// RobustMutexSize is the number of bytes a RobustMutex occupies.
const RobustMutexSize = 64

// Robust futex bits of the lock word (linux/futex.h).
const (
	FutexWaiters   = 0x80000000 // FUTEX_WAITERS
	FutexOwnerDied = 0x40000000 // FUTEX_OWNER_DIED
	FutexTIDMask   = 0x3fffffff // FUTEX_TID_MASK
)

const (
	rbOffWord    = 0
	rbOffMagic   = 4
	rbOffEntry   = 8
	rbOffRecover = 16
	rbOffPID     = 20
	robustMagic  = 0x42525049 // "IPRB" little-endian
	// robustFutexOffset is robust_list_head.futex_offset: word minus entry.
	robustFutexOffset = rbOffWord - rbOffEntry
)

// OwnerDiedError is what Lock returns when it took a lock whose holder
// died: the kernel had set FUTEX_OWNER_DIED in the word. The lock IS held
// by the caller. errors.Is(err, ErrOwnerDead) holds.
type OwnerDiedError struct {
	Op   string
	Word uint32 // the futex word as the taker found it (FUTEX_OWNER_DIED set, TID 0)
}

func (e *OwnerDiedError) Error() string {
	return fmt.Sprintf("semaphore: %s: the kernel marked the lock FUTEX_OWNER_DIED (word %#08x): its holder died holding it; the data it protects may be inconsistent", e.Op, e.Word)
}

// Is makes errors.Is(err, ErrOwnerDead) hold.
func (e *OwnerDiedError) Is(target error) bool { return target == ErrOwnerDead }

// DescribeFutexWord spells out a robust futex word: "tid 1234|WAITERS",
// "OWNER_DIED", "free".
func DescribeFutexWord(w uint32) string {
	s := ""
	if tid := w & FutexTIDMask; tid != 0 {
		s = fmt.Sprintf("tid %d", tid)
	}
	for _, b := range []struct {
		bit  uint32
		name string
	}{{FutexOwnerDied, "OWNER_DIED"}, {FutexWaiters, "WAITERS"}} {
		if w&b.bit != 0 {
			if s != "" {
				s += "|"
			}
			s += b.name
		}
	}
	if s == "" {
		return "free"
	}
	return s
}
