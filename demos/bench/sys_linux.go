package bench

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The system calls of the hot loops, in one place. They go through
// RawSyscall, which skips the Go scheduler's syscall bookkeeping
// (entersyscall/exitsyscall). That is deliberate: a worker is one goroutine
// on a locked thread that does nothing but these calls, and with the
// bookkeeping every wait longer than 20µs (a cross-CPU wake-up on a VM
// takes longer) lets the runtime's monitor hand the goroutine's P to
// another thread and take it back, which measured as 40-80% more CPU per
// message and a slower round trip than the same C loop. A raw call keeps
// the P; the worker's other goroutines (the control socket, which stops
// it) run on the other Ps, and GC is off during the loops.
//
// Each returns a bare unix.Errno (0 on success).

func sysRead(fd int, p []byte) (int, unix.Errno) {
	r, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	return int(r), e
}

func sysWrite(fd int, p []byte) (int, unix.Errno) {
	r, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	return int(r), e
}

// Futex operations, without FUTEX_PRIVATE_FLAG: the ring lives in a shared
// mapping, so the kernel must key the wait queue on the page, not on this
// process's address space.
const (
	futexWait = 0 // FUTEX_WAIT
	futexWake = 1 // FUTEX_WAKE
)

// futexWaitOn sleeps while *addr == val, at most ts (nil: no limit). 0 is a
// wake-up; EAGAIN (*addr != val already), ETIMEDOUT and EINTR all mean
// "look again".
func futexWaitOn(addr *uint32, val uint32, ts *unix.Timespec) unix.Errno {
	_, _, e := unix.RawSyscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWait, uintptr(val),
		uintptr(unsafe.Pointer(ts)), 0, 0)
	return e
}

// futexWakeOne wakes one waiter sleeping on addr.
func futexWakeOne(addr *uint32) unix.Errno {
	_, _, e := unix.RawSyscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWake, 1, 0, 0, 0)
	return e
}

// schedYield gives the CPU to another runnable thread, if any.
func schedYield() {
	_, _, _ = unix.RawSyscall(unix.SYS_SCHED_YIELD, 0, 0, 0)
}

// msgsnd sends the System V message at m (8-byte type, then n bytes).
func msgsnd(id int, m []byte, n int) unix.Errno {
	_, _, e := unix.RawSyscall6(unix.SYS_MSGSND, uintptr(id), uintptr(unsafe.Pointer(unsafe.SliceData(m))), uintptr(n), 0, 0, 0)
	return e
}

// msgrcv receives the first message of type typ into m (type, then up to
// len(m)-8 bytes) and returns the text length.
func msgrcv(id int, m []byte, typ int64) (int, unix.Errno) {
	r, _, e := unix.RawSyscall6(unix.SYS_MSGRCV, uintptr(id), uintptr(unsafe.Pointer(unsafe.SliceData(m))), uintptr(len(m)-8), uintptr(typ), 0, 0)
	return int(r), e
}

// mqSend sends msg on POSIX queue descriptor fd, blocking.
func mqSend(fd int, msg []byte) unix.Errno {
	_, _, e := unix.RawSyscall6(unix.SYS_MQ_TIMEDSEND, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(msg))), uintptr(len(msg)), 0, 0, 0)
	return e
}

// mqReceive receives the next message of POSIX queue descriptor fd into
// buf, blocking, and returns its length.
func mqReceive(fd int, buf []byte) (int, unix.Errno) {
	r, _, e := unix.RawSyscall6(unix.SYS_MQ_TIMEDRECEIVE, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(buf))), uintptr(len(buf)), 0, 0, 0)
	return int(r), e
}

// nanosleep sleeps for ns nanoseconds (a pacing wait of the open loop).
func nanosleep(ns int64) {
	ts := unix.NsecToTimespec(ns)
	_, _, _ = unix.RawSyscall(unix.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&ts)), 0, 0)
}

// loadAvg1 is the 1-minute load average, as /proc/loadavg shows it: the
// kernel's fixed point (SI_LOAD_SHIFT, 16 bits of fraction) from
// sysinfo(2). 0 when the call fails: the judgement then leaves it out.
func loadAvg1() float64 {
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err != nil {
		return 0
	}
	return float64(si.Loads[0]) / (1 << 16)
}
