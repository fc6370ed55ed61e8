package conduct

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// The system calls a step may sleep in, by kind of step. The numbers are
// the architecture's (x/sys unix.SYS_*), as /proc/PID/task/TID/syscall
// prints them.
var (
	SyscallsSem   = []int{unix.SYS_SEMOP, unix.SYS_SEMTIMEDOP}
	SyscallsFutex = []int{unix.SYS_FUTEX}
	SyscallsFlock = []int{unix.SYS_FLOCK}
	SyscallsRecv  = []int{unix.SYS_READ, unix.SYS_RECVFROM, unix.SYS_RECVMSG, unix.SYS_PPOLL, unix.SYS_PSELECT6, unix.SYS_EPOLL_PWAIT}
	SyscallsRead  = []int{unix.SYS_READ}
	// x/sys's EpollWait is epoll_pwait on every architecture.
	SyscallsEpoll = []int{unix.SYS_EPOLL_PWAIT, unix.SYS_EPOLL_PWAIT2}
)

var syscallNames = map[int]string{
	unix.SYS_SEMOP: "semop", unix.SYS_SEMTIMEDOP: "semtimedop", unix.SYS_FUTEX: "futex",
	unix.SYS_FLOCK: "flock", unix.SYS_READ: "read", unix.SYS_RECVFROM: "recvfrom",
	unix.SYS_RECVMSG: "recvmsg", unix.SYS_PPOLL: "ppoll", unix.SYS_PSELECT6: "pselect6",
	unix.SYS_EPOLL_PWAIT: "epoll_pwait", unix.SYS_EPOLL_PWAIT2: "epoll_pwait2",
}

func syscallName(nr int) string {
	if s, ok := syscallNames[nr]; ok {
		return s + "(2)"
	}
	return fmt.Sprintf("system call %d", nr)
}
