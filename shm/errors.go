package shm

import (
	"errors"
	"fmt"
)

// Sentinel errors. Errors returned by this package wrap one of them and,
// when the kernel (or a limit check standing in for it) refused, the errno
// as well, so that errors.Is works with either.
var (
	// ErrInvalid: a bad Spec or handle, or a size the kernel refuses (EINVAL).
	ErrInvalid = errors.New("shm: invalid argument")
	// ErrExist: the POSIX name or file already exists (EEXIST).
	ErrExist = errors.New("shm: already exists")
	// ErrNotFound: the object named by a handle does not exist (ENOENT,
	// EBADF for a memfd descriptor, EINVAL or EIDRM for a System V id).
	ErrNotFound = errors.New("shm: not found")
	// ErrNoSpace: not enough room: /dev/shm or the file system is full,
	// kernel.shmall is reached, or the size exceeds RAM (ENOSPC, ENOMEM).
	ErrNoSpace = errors.New("shm: not enough space")
	// ErrPermission: access refused (EACCES, EPERM).
	ErrPermission = errors.New("shm: permission denied")
	// ErrUnsupported: the kernel lacks the feature or a sandbox blocks it
	// (ENOSYS, EOPNOTSUPP). It also matches errors.ErrUnsupported.
	ErrUnsupported = fmt.Errorf("shm: %w", errors.ErrUnsupported)
)

// opError is the error type of this package: "shm: <op>: <why>: <err>".
// It unwraps to both its sentinel and its cause (usually an errno or an
// *os.SyscallError).
type opError struct {
	op       string // e.g. `create posix "ipcplay.x" (4096 bytes)`
	why      string // optional explanation in words
	sentinel error  // one of the ErrXxx
	err      error  // cause; may be nil
}

func (e *opError) Error() string {
	s := "shm: " + e.op
	if e.why != "" {
		s += ": " + e.why
	}
	switch {
	case e.err != nil:
		s += ": " + e.err.Error()
	case e.sentinel != nil:
		s += ": " + e.sentinel.Error()
	}
	return s
}

func (e *opError) Unwrap() []error {
	var errs []error
	if e.sentinel != nil {
		errs = append(errs, e.sentinel)
	}
	if e.err != nil {
		errs = append(errs, e.err)
	}
	return errs
}
