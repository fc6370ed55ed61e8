package semaphore

import (
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ipcplay/ipcplay/shm/kabi"
)

// semidDs is struct semid64_ds, declared once in shm/kabi (whose tests
// check it against the kernel headers).
type semidDs = kabi.SemidDs

// The raw system calls golang.org/x/sys/unix lacks: System V semaphores
// and futex. Every one returns a bare unix.Errno; callers wrap it.
//
// semop(2) is reached through semtimedop(2) with a nil timeout: it is the
// same kernel entry point and it exists under that name on every
// architecture (amd64 and arm64 alike).

// System V command numbers and flags (linux/sem.h, linux/ipc.h).
const (
	cmdGETPID  = 11
	cmdGETVAL  = 12
	cmdGETNCNT = 14
	cmdGETZCNT = 15
	cmdSETVAL  = 16
)

// Futex operations (linux/futex.h). Without FUTEX_PRIVATE_FLAG, so that the
// kernel keys the wait queue on the page and offset of the word: waiters
// and wakers in different processes meet.
const (
	futexWaitOp = 0 // FUTEX_WAIT
	futexWakeOp = 1 // FUTEX_WAKE
)

func semget(key, nsems, flags int) (int, error) {
	r, _, e := unix.Syscall(unix.SYS_SEMGET, uintptr(key), uintptr(nsems), uintptr(flags))
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

// semctl passes arg, the kernel's "union semun", by value: for SETVAL the
// int itself, for IPC_STAT a pointer. On amd64 and arm64 the kernel always
// uses the 64-bit ipc structures and rejects the IPC_64 bit (EINVAL), so
// cmd is passed as is.
func semctl(id, num, cmd int, arg uintptr) (int, error) {
	r, _, e := unix.Syscall6(unix.SYS_SEMCTL, uintptr(id), uintptr(num), uintptr(cmd), arg, 0, 0)
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

// semctlStat fills ds with IPC_STAT.
func semctlStat(id int, ds *semidDs) error {
	_, _, e := unix.Syscall6(unix.SYS_SEMCTL, uintptr(id), 0, uintptr(unix.IPC_STAT), uintptr(unsafe.Pointer(ds)), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// semtimedop performs ops atomically; ts nil waits without a limit, a
// relative ts makes the call fail with EAGAIN when it expires.
func semtimedop(id int, ops []Sembuf, ts *unix.Timespec) error {
	_, _, e := unix.Syscall6(unix.SYS_SEMTIMEDOP, uintptr(id), uintptr(unsafe.Pointer(&ops[0])), uintptr(len(ops)),
		uintptr(unsafe.Pointer(ts)), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// semopNoBlock is semtimedop for operations that cannot sleep (all have
// IPC_NOWAIT or add to the value): a raw system call, without the
// scheduler hand-off a blocking call needs, which saves about 50 ns.
func semopNoBlock(id int, ops []Sembuf) error {
	_, _, e := unix.RawSyscall6(unix.SYS_SEMTIMEDOP, uintptr(id), uintptr(unsafe.Pointer(&ops[0])), uintptr(len(ops)), 0, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// futexWait sleeps while *addr == val, for at most the relative ts (nil:
// no limit). It returns nil on a wake-up (real or spurious), EAGAIN when
// *addr != val already, ETIMEDOUT or EINTR.
func futexWait(addr *uint32, val uint32, ts *unix.Timespec) error {
	_, _, e := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWaitOp, uintptr(val),
		uintptr(unsafe.Pointer(ts)), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// futexWake wakes at most n waiters on addr and returns how many it woke.
// It never sleeps, so it is a raw system call.
func futexWake(addr *uint32, n int) (int, error) {
	r, _, e := unix.RawSyscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWakeOp, uintptr(n), 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// robustHead is struct robust_list_head (linux/futex.h) on a 64-bit
// kernel: 24 bytes. The addresses are kept as uintptr: the kernel reads
// them, Go code only follows them through its own shadow of the list.
type robustHead struct {
	list        uintptr // first entry; &list itself when the list is empty
	futexOffset int64   // lock word minus entry address
	pending     uintptr // list_op_pending: entry being taken or released, or 0
}

const robustHeadSize = 24 // sizeof(struct robust_list_head)

// setRobustList registers head as the calling thread's robust list.
func setRobustList(head *robustHead) error {
	_, _, e := unix.RawSyscall(unix.SYS_SET_ROBUST_LIST, uintptr(unsafe.Pointer(head)), robustHeadSize, 0)
	if e != 0 {
		return e
	}
	return nil
}

// restoreRobustList registers a head this package did not make (glibc's),
// as get_robust_list returned it.
func restoreRobustList(head unsafe.Pointer) error {
	_, _, e := unix.RawSyscall(unix.SYS_SET_ROBUST_LIST, uintptr(head), robustHeadSize, 0)
	if e != 0 {
		return e
	}
	return nil
}

// getRobustList returns the calling thread's registered head (nil when
// none was registered).
func getRobustList() (unsafe.Pointer, error) {
	var head unsafe.Pointer
	var size uintptr
	_, _, e := unix.RawSyscall(unix.SYS_GET_ROBUST_LIST, 0, uintptr(unsafe.Pointer(&head)), uintptr(unsafe.Pointer(&size)))
	if e != 0 {
		return nil, e
	}
	return head, nil
}
