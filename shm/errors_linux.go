package shm

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// classify returns the sentinel that matches err's errno, or nil.
func classify(err error) error {
	var errno unix.Errno
	if !errors.As(err, &errno) {
		return nil
	}
	switch errno {
	case unix.EINVAL:
		return ErrInvalid
	case unix.EEXIST:
		return ErrExist
	case unix.ENOENT, unix.EBADF, unix.EIDRM:
		return ErrNotFound
	case unix.ENOSPC, unix.ENOMEM, unix.EFBIG, unix.EDQUOT:
		return ErrNoSpace
	case unix.EACCES, unix.EPERM:
		return ErrPermission
	case unix.ENOSYS, unix.EOPNOTSUPP:
		return ErrUnsupported
	}
	return nil
}

// sysErr reports a failed system call: the errno wrapped as
// *os.SyscallError, its sentinel, and an explanation (may be "").
func sysErr(op, why, call string, errno error) error {
	return &opError{op: op, why: why, sentinel: classify(errno), err: os.NewSyscallError(call, errno)}
}

// limitErr reports a limit check made in place of the kernel: errno is the
// one the kernel would return.
func limitErr(op, why string, errno unix.Errno) error {
	return &opError{op: op, why: why, sentinel: classify(errno), err: errno}
}

// explain returns words for the errnos a student meets, or "".
func explain(errno error, subject string) string {
	switch {
	case errors.Is(errno, unix.EEXIST):
		return subject + " already exists"
	case errors.Is(errno, unix.ENOENT):
		return subject + " does not exist"
	case errors.Is(errno, unix.EACCES), errors.Is(errno, unix.EPERM):
		return "not allowed to access " + subject
	case errors.Is(errno, unix.ELOOP):
		return subject + " is a symbolic link (refused)"
	case errors.Is(errno, unix.EMFILE), errors.Is(errno, unix.ENFILE):
		return "too many open files"
	}
	return ""
}
