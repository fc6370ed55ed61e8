package race

import (
	_ "unsafe" // for go:linkname

	"golang.org/x/sys/unix"
)

// The system calls and clock x/sys lacks.

// schedYield gives up the CPU (sched_yield(2)): the scheduler runs another
// runnable task of the CPU, another process included, which
// runtime.Gosched would not do. It cannot block, hence the raw call.
func schedYield() {
	_, _, _ = unix.RawSyscall(unix.SYS_SCHED_YIELD, 0, 0, 0)
}

// flockUnlock releases a flock(2) lock (LOCK_UN). Unlocking never sleeps,
// so it is a raw system call, without the scheduler hand-off a blocking
// call needs (as C makes it).
func flockUnlock(fd int) error {
	_, _, e := unix.RawSyscall(unix.SYS_FLOCK, uintptr(fd), unix.LOCK_UN, 0)
	if e != 0 {
		return e
	}
	return nil
}

// nanotime is CLOCK_MONOTONIC in nanoseconds, read through the vDSO (about
// 20 ns), the same clock in every process of the machine, so timestamps of
// different workers compare. time.Now's monotonic reading cannot be used:
// it counts from the start of each process. unix.ClockGettime is a real
// system call, several times slower. runtime.nanotime is kept linkable on
// purpose (see the comment on it in runtime/time_nofake.go, go.dev/issue/67401).
//
//go:linkname nanotime runtime.nanotime
func nanotime() int64
