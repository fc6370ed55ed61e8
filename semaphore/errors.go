package semaphore

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Sentinel errors. Errors returned by this package wrap one of them where
// one applies and, when the kernel refused, the errno as well (inside an
// *os.SyscallError), so errors.Is works with either: errors.Is(err,
// ErrNotFound) and errors.Is(err, unix.EIDRM) both hold for a removed set.
var (
	// ErrInvalid: a bad argument (index out of range, bad name, value too
	// large, memory too small or misaligned, uninitialised memory).
	ErrInvalid = errors.New("semaphore: invalid argument")
	// ErrExist: a named semaphore of that name already exists (EEXIST).
	ErrExist = errors.New("semaphore: already exists")
	// ErrNotFound: the object does not exist (any more): ENOENT for a
	// name, EINVAL or EIDRM for a System V id.
	ErrNotFound = errors.New("semaphore: not found")
	// ErrPermission: access refused (EACCES, EPERM).
	ErrPermission = errors.New("semaphore: permission denied")
	// ErrUnsupported: the kernel lacks the call or a sandbox blocks it
	// (ENOSYS). It also matches errors.ErrUnsupported.
	ErrUnsupported = fmt.Errorf("semaphore: %w", errors.ErrUnsupported)
	// ErrOwnerDead is returned by [Mutex.LockRecover] when it took the lock
	// over from a process that died holding it. The lock IS held by the
	// caller, like pthread_mutex_lock's EOWNERDEAD: the data it protects
	// may be inconsistent and should be checked or repaired before Unlock.
	ErrOwnerDead = errors.New("semaphore: previous owner died holding the lock")
	// ErrNotOwner: Unlock of a mutex this process does not hold.
	ErrNotOwner = errors.New("semaphore: mutex not held by this process")
)

// opError is the error type of this package: "semaphore: <op>: <why>: <err>".
// It unwraps to both its sentinel and its cause (an *os.SyscallError, a
// context error, or nil).
type opError struct {
	op       string // e.g. "semop set 32769 sem 0"
	why      string // optional explanation in words
	sentinel error  // one of the ErrXxx, or nil
	err      error  // cause, or nil
}

func (e *opError) Error() string {
	s := "semaphore: " + e.op
	if e.why != "" {
		s += ": " + e.why
	}
	switch {
	case e.err != nil:
		s += ": " + e.err.Error()
	case e.sentinel != nil && e.why == "":
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

// invalid returns an ErrInvalid error for op with a reason.
func invalid(op, why string) error {
	return &opError{op: op, why: why, sentinel: ErrInvalid}
}

// sysErr wraps a failed system call: the errno goes inside an
// *os.SyscallError named call, and common errnos get a sentinel and a few
// words. why, when not empty, replaces the default explanation.
func sysErr(op, call string, errno error, why string) error {
	e := &opError{op: op, why: why, err: os.NewSyscallError(call, errno)}
	switch {
	case errors.Is(errno, unix.ENOENT):
		e.sentinel = ErrNotFound
		if e.why == "" {
			e.why = "no such object"
		}
	case errors.Is(errno, unix.EIDRM):
		e.sentinel = ErrNotFound
		if e.why == "" {
			e.why = "the object was removed while in use"
		}
	case errors.Is(errno, unix.EEXIST):
		e.sentinel = ErrExist
	case errors.Is(errno, unix.EACCES), errors.Is(errno, unix.EPERM):
		e.sentinel = ErrPermission
		if e.why == "" {
			e.why = "permission denied (the object belongs to another user, or its mode keeps you out)"
		}
	case errors.Is(errno, unix.ENOSYS):
		e.sentinel = ErrUnsupported
		if e.why == "" {
			e.why = "the kernel or a sandbox (seccomp, gVisor) does not offer this system call"
		}
	}
	return e
}

// ctxErr wraps a context error (cancellation or deadline) for op.
func ctxErr(op string, err error) error {
	return &opError{op: op, err: err}
}
