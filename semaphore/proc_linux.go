package semaphore

import (
	"bytes"
	"os"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// procStat reads the state (field 3) and start time (field 22, clock ticks
// since boot) of pid from /proc/PID/stat.
func procStat(pid string) (state byte, start uint64, err error) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, 0, err
	}
	// The command name (field 2) is in parentheses and may itself contain
	// spaces and ')': the fields resume after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, os.ErrInvalid
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 20 {
		return 0, 0, os.ErrInvalid
	}
	start, err = strconv.ParseUint(string(f[19]), 10, 64)
	if err != nil || len(f[0]) != 1 {
		return 0, 0, os.ErrInvalid
	}
	return f[0][0], start, nil
}

// self is this process's identity as a mutex records it.
var self = sync.OnceValue(func() (id struct {
	pid   int
	start uint64
}) {
	id.pid = os.Getpid()
	_, id.start, _ = procStat("self")
	return id
})

// ownerWord packs a process identity into one 64-bit word, so that it is
// read, written and compared atomically: pid in the high half, the low 32
// bits of the start time in the low half. A recycled pid has another
// start time (short of an exact multiple of 2^32 ticks, 497 days at 100
// Hz), so it does not pass for the process that held the lock.
func ownerWord(pid int, start uint64) uint64 { return uint64(uint32(pid))<<32 | uint64(uint32(start)) }

// processAlive reports whether the process recorded as (pid, low 32 bits
// of start time) still runs. A zombie counts as dead. When it cannot tell
// (no /proc, no permission) it says alive: a lock is never taken from a
// process that might be running.
func processAlive(pid int, start32 uint32) bool {
	if pid <= 0 {
		return false
	}
	// pidfd_open answers ESRCH for a pid that is gone, without races and
	// without /proc; kill(pid, 0) does the same on kernels before 5.3.
	fd, err := unix.PidfdOpen(pid, 0)
	switch {
	case err == nil:
		unix.Close(fd)
	case err == unix.ESRCH:
		return false
	default:
		if unix.Kill(pid, 0) == unix.ESRCH {
			return false
		}
	}
	state, start, err := procStat(strconv.Itoa(pid))
	switch {
	case os.IsNotExist(err):
		return false
	case err != nil:
		return true
	case state == 'Z' || state == 'X':
		return false
	case start32 != 0 && uint32(start) != start32:
		return false // the pid was recycled by another process
	}
	return true
}
