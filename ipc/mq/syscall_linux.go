package mq

import (
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ipcplay/ipcplay/shm/kabi"
)

// The raw system calls golang.org/x/sys/unix lacks: System V message queues
// (msgget, msgsnd, msgrcv, msgctl) and POSIX message queues (mq_open,
// mq_timedsend, mq_timedreceive, mq_getsetattr, mq_unlink). Each returns a
// bare unix.Errno (0 on success); callers wrap it.
//
// The system call numbers exist under these names on amd64 and arm64 alike.
// On both, msgctl always uses the 64-bit ipc structures (the IPC_64 bit is
// not passed), and struct msqid64_ds has the generic 64-bit layout
// (asm-generic/msgbuf.h).

// The kernel's structures, declared once in shm/kabi (whose tests check
// them against the kernel headers).
type (
	msqidDs = kabi.MsqidDs // struct msqid64_ds
	mqAttr  = kabi.MqAttr  // struct mq_attr
)

func msgget(key, flags int) (int, unix.Errno) {
	r, _, e := unix.Syscall(unix.SYS_MSGGET, uintptr(key), uintptr(flags), 0)
	return int(r), e
}

// msgsnd sends the message at p: an 8-byte type followed by n bytes of text.
// The buffer is the caller's (no copy, no allocation).
func msgsnd(id int, p unsafe.Pointer, n int, flags int) unix.Errno {
	_, _, e := unix.Syscall6(unix.SYS_MSGSND, uintptr(id), uintptr(p), uintptr(n), uintptr(flags), 0, 0)
	return e
}

// msgrcv receives into p (type then up to n bytes of text) the first message
// of type typ (0: any) and returns the text length.
func msgrcv(id int, p unsafe.Pointer, n int, typ int64, flags int) (int, unix.Errno) {
	r, _, e := unix.Syscall6(unix.SYS_MSGRCV, uintptr(id), uintptr(p), uintptr(n), uintptr(typ), uintptr(flags), 0)
	return int(r), e
}

func msgctl(id, cmd int, ds *msqidDs) unix.Errno {
	_, _, e := unix.Syscall(unix.SYS_MSGCTL, uintptr(id), uintptr(cmd), uintptr(unsafe.Pointer(ds)))
	return e
}

// mqOpen calls mq_open with name given without the leading slash, as the
// kernel expects it (glibc strips the slash).
func mqOpen(name string, flags int, mode uint32, attr *mqAttr) (int, unix.Errno) {
	p, err := unix.BytePtrFromString(name)
	if err != nil {
		return -1, unix.EINVAL
	}
	r, _, e := unix.Syscall6(unix.SYS_MQ_OPEN, uintptr(unsafe.Pointer(p)), uintptr(flags), uintptr(mode),
		uintptr(unsafe.Pointer(attr)), 0, 0)
	return int(r), e
}

func mqUnlink(name string) unix.Errno {
	p, err := unix.BytePtrFromString(name)
	if err != nil {
		return unix.EINVAL
	}
	_, _, e := unix.Syscall(unix.SYS_MQ_UNLINK, uintptr(unsafe.Pointer(p)), 0, 0)
	return e
}

// mqTimedsend sends n bytes at p with priority prio. abs is an absolute
// CLOCK_REALTIME deadline; nil blocks without limit.
func mqTimedsend(fd int, p unsafe.Pointer, n int, prio uint32, abs *unix.Timespec) unix.Errno {
	_, _, e := unix.Syscall6(unix.SYS_MQ_TIMEDSEND, uintptr(fd), uintptr(p), uintptr(n), uintptr(prio),
		uintptr(unsafe.Pointer(abs)), 0)
	return e
}

// mqTimedreceive receives the oldest message of the highest priority into
// the n bytes at p and returns its length.
func mqTimedreceive(fd int, p unsafe.Pointer, n int, prio *uint32, abs *unix.Timespec) (int, unix.Errno) {
	r, _, e := unix.Syscall6(unix.SYS_MQ_TIMEDRECEIVE, uintptr(fd), uintptr(p), uintptr(n),
		uintptr(unsafe.Pointer(prio)), uintptr(unsafe.Pointer(abs)), 0)
	return int(r), e
}

func mqGetsetattr(fd int, newAttr, oldAttr *mqAttr) unix.Errno {
	_, _, e := unix.Syscall(unix.SYS_MQ_GETSETATTR, uintptr(fd), uintptr(unsafe.Pointer(newAttr)),
		uintptr(unsafe.Pointer(oldAttr)))
	return e
}
