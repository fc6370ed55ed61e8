package sysobj

import (
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ipcplay/ipcplay/shm/kabi"
)

// The raw system calls golang.org/x/sys/unix lacks, all of them read-only
// uses: semctl and msgctl with IPC_STAT and the GET* commands, mq_open
// without O_CREAT and mq_getsetattr without a new attribute. Each returns a
// bare unix.Errno; callers wrap it with os.NewSyscallError.
//
// On amd64 and arm64 the kernel always uses the 64-bit ipc structures
// (semid64_ds, msqid64_ds) and rejects the IPC_64 bit, so commands are
// passed as they are.

// semctl commands (linux/sem.h).
const (
	cmdGETPID  = 11
	cmdGETVAL  = 12
	cmdGETALL  = 13
	cmdGETNCNT = 14
	cmdGETZCNT = 15
)

// The kernel's structures, declared once in shm/kabi (whose tests check
// them against the kernel headers).
type (
	semidDs = kabi.SemidDs // struct semid64_ds
	msqidDs = kabi.MsqidDs // struct msqid64_ds
	mqAttr  = kabi.MqAttr  // struct mq_attr
)

// semctlInt runs a semctl command whose answer is its return value
// (GETVAL, GETNCNT, GETZCNT, GETPID).
func semctlInt(id, num, cmd int) (int, error) {
	r, _, e := unix.Syscall6(unix.SYS_SEMCTL, uintptr(id), uintptr(num), uintptr(cmd), 0, 0, 0)
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

// semctlStat fills ds with IPC_STAT (needs read permission on the set).
func semctlStat(id int, ds *semidDs) error {
	_, _, e := unix.Syscall6(unix.SYS_SEMCTL, uintptr(id), 0, uintptr(unix.IPC_STAT), uintptr(unsafe.Pointer(ds)), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// semctlGetAll reads every value of the set into vals (len nsems).
func semctlGetAll(id int, vals []uint16) error {
	if len(vals) == 0 {
		return nil
	}
	_, _, e := unix.Syscall6(unix.SYS_SEMCTL, uintptr(id), 0, cmdGETALL, uintptr(unsafe.Pointer(&vals[0])), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// msgctlStat fills ds with IPC_STAT (needs read permission on the queue).
func msgctlStat(id int, ds *msqidDs) error {
	_, _, e := unix.Syscall(unix.SYS_MSGCTL, uintptr(id), uintptr(unix.IPC_STAT), uintptr(unsafe.Pointer(ds)))
	if e != 0 {
		return e
	}
	return nil
}

// mqOpenReadOnly opens the POSIX message queue name (with its leading '/',
// which the system call does not take, as glibc's mq_open strips it)
// O_RDONLY: no O_CREAT, so it never makes a queue, and a reader takes
// nothing out of the queue by opening it.
func mqOpenReadOnly(name string) (int, error) {
	p, err := unix.BytePtrFromString(name[1:])
	if err != nil {
		return -1, err
	}
	r, _, e := unix.Syscall6(unix.SYS_MQ_OPEN, uintptr(unsafe.Pointer(p)), uintptr(unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK), 0, 0, 0, 0)
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

// mqGetAttr is mq_getattr: mq_getsetattr with no new attributes.
func mqGetAttr(fd int, attr *mqAttr) error {
	_, _, e := unix.Syscall(unix.SYS_MQ_GETSETATTR, uintptr(fd), 0, uintptr(unsafe.Pointer(attr)))
	if e != 0 {
		return e
	}
	return nil
}
