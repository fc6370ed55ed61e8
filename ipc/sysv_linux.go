package ipc

import (
	"os"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Raw system calls golang.org/x/sys lacks, needed to remove message queues.

func msgRemove(id int) error {
	_, _, errno := unix.Syscall(unix.SYS_MSGCTL, uintptr(id), uintptr(unix.IPC_RMID), 0)
	if errno != 0 {
		return os.NewSyscallError("msgctl", errno)
	}
	return nil
}

func mqUnlink(name string) error {
	p, err := unix.BytePtrFromString(strings.TrimPrefix(name, "/"))
	if err != nil {
		return err
	}
	_, _, errno := unix.Syscall(unix.SYS_MQ_UNLINK, uintptr(unsafe.Pointer(p)), 0, 0)
	if errno != 0 {
		return os.NewSyscallError("mq_unlink", errno)
	}
	return nil
}
