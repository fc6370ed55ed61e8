package ipc

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// errnoAdvice is the one table of kernel errors explained in plain words.
// Each entry keeps the errno's name, so users can search for it.
var errnoAdvice = []struct {
	errno  unix.Errno
	advice string
}{
	{unix.ENOSPC, "no space left: /dev/shm is full or too small (containers default to 64 MiB; see 'ipcplay doctor'), or a System V table (kernel.shmall, kernel.sem, kernel.msgmni) is exhausted"},
	{unix.EINVAL, "the kernel refused a value: a size above kernel.shmmax or a message above msgmax, or an object id that no longer exists; 'ipcplay doctor' prints the limits"},
	{unix.EACCES, "permission denied: the object belongs to another user or its mode does not let you in; ipcplay only touches objects you own"},
	{unix.EPERM, "operation not permitted: only the owner, the creator or root may do this"},
	{unix.EIDRM, "the object was removed while in use (someone ran ipcrm, or its run ended)"},
	{unix.ENOSYS, "this kernel or sandbox does not offer the system call (gVisor, seccomp filters and some containers disable System V IPC or POSIX message queues)"},
	{unix.EMFILE, "this process has too many open files: raise 'ulimit -n'"},
	{unix.ENFILE, "the whole system has too many open files"},
	{unix.ENOMEM, "out of memory, or a per-user limit (RLIMIT_MEMLOCK, RLIMIT_MSGQUEUE, kernel.shmall) was reached"},
	{unix.EEXIST, "an object with that name already exists: a previous run may have crashed; 'ipcplay clean' removes what ipcplay leaked"},
	{unix.ENOENT, "no such object: it does not exist (any more); 'ipcplay objects --all' lists what does"},
	{unix.EAGAIN, "the operation would block, or a resource is temporarily exhausted"},
	{unix.EMSGSIZE, "the message is larger than the transport allows (socket buffer, msgmax or the queue's msgsize)"},
	{unix.EADDRINUSE, "the socket address is already in use by another process"},
	{unix.ECONNREFUSED, "nothing is listening on that socket (the daemon is not running, or the file is stale)"},
	{unix.ENAMETOOLONG, "the path is too long for a Unix socket (at most 107 bytes)"},
	{unix.EOWNERDEAD, "the process holding the lock died while holding it"},
	{unix.ETIMEDOUT, "the wait timed out"},
	{unix.EOVERFLOW, "a counter would overflow (a semaphore above its maximum value)"},
	{unix.ERANGE, "a value is out of range (a semaphore value above SEMVMX)"},
}

// Advice returns the plain-words explanation of errno, and false when the
// table has none.
func Advice(errno unix.Errno) (string, bool) {
	for _, e := range errnoAdvice {
		if e.errno == errno {
			return e.advice, true
		}
	}
	return "", false
}

// Explain renders err for a person: its message, then, when a kernel error
// is inside, the errno's name and a sentence of advice.
func Explain(err error) string {
	if err == nil {
		return ""
	}
	var errno unix.Errno
	if !errors.As(err, &errno) {
		return err.Error()
	}
	advice, ok := Advice(errno)
	if !ok {
		return fmt.Sprintf("%v (%s)", err, unix.ErrnoName(errno))
	}
	return fmt.Sprintf("%v (%s: %s)", err, unix.ErrnoName(errno), advice)
}
