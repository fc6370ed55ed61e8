package mq

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Sentinel errors. Errors returned by this package wrap one of them where
// one applies and, when the kernel refused, the errno as well (inside an
// *os.SyscallError), so errors.Is works with either.
var (
	// ErrInvalid: a bad argument (name, size, type), or EINVAL.
	ErrInvalid = errors.New("mq: invalid argument")
	// ErrTooLarge: a message or queue size above a kernel limit
	// (kernel.msgmax, kernel.msgmnb, fs.mqueue.msgsize_max, msg_max), or a
	// receive buffer too small for the next message (E2BIG, EMSGSIZE).
	ErrTooLarge = errors.New("mq: message or queue too large")
	// ErrExist: a POSIX queue of that name already exists (EEXIST).
	ErrExist = errors.New("mq: already exists")
	// ErrNotFound: the queue does not exist (any more): ENOENT for a name,
	// EINVAL or EIDRM for a System V id.
	ErrNotFound = errors.New("mq: not found")
	// ErrPermission: access refused (EACCES, EPERM).
	ErrPermission = errors.New("mq: permission denied")
	// ErrLimit: a system or per-user limit on the number or memory of queues
	// was reached (ENOSPC: kernel.msgmni or fs.mqueue.queues_max; EMFILE:
	// RLIMIT_MSGQUEUE or the open file limit; ENOMEM).
	ErrLimit = errors.New("mq: queue limit reached")
	// ErrUnsupported: the kernel lacks the call or a sandbox blocks it
	// (ENOSYS). It also matches errors.ErrUnsupported.
	ErrUnsupported = fmt.Errorf("mq: %w", errors.ErrUnsupported)
)

// opError is the error type of this package: "mq: <op>: <why>: <err>".
type opError struct {
	op       string
	why      string
	sentinel error
	err      error
}

func (e *opError) Error() string {
	s := "mq: " + e.op
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

func invalid(op, why string) error {
	return &opError{op: op, why: why, sentinel: ErrInvalid}
}

// sysErr wraps a failed system call's errno as an *os.SyscallError named
// call, with the matching sentinel and, when why is empty, a few words.
func sysErr(op, call string, errno unix.Errno, why string) error {
	e := &opError{op: op, why: why, err: os.NewSyscallError(call, errno)}
	switch errno {
	case unix.ENOENT, unix.EIDRM:
		e.sentinel = ErrNotFound
		if e.why == "" {
			if errno == unix.EIDRM {
				e.why = "the queue was removed while in use"
			} else {
				e.why = "no such queue"
			}
		}
	case unix.EEXIST:
		e.sentinel = ErrExist
	case unix.EACCES, unix.EPERM:
		e.sentinel = ErrPermission
		if e.why == "" {
			e.why = "permission denied (the queue belongs to another user, or its mode keeps you out)"
		}
	case unix.E2BIG, unix.EMSGSIZE:
		e.sentinel = ErrTooLarge
	case unix.ENOSPC, unix.EMFILE, unix.ENFILE, unix.ENOMEM:
		e.sentinel = ErrLimit
	case unix.ENOSYS:
		e.sentinel = ErrUnsupported
		if e.why == "" {
			e.why = "the kernel or a sandbox (seccomp, gVisor) does not offer message queues"
		}
	case unix.EINVAL:
		e.sentinel = ErrInvalid
	}
	return e
}

// notFound reports a System V id that names no queue (EINVAL or EIDRM):
// the errno is kept, the sentinel is ErrNotFound.
func notFound(op, call string, errno unix.Errno) error {
	return &opError{op: op, why: "no such queue (it was removed, or never existed)", sentinel: ErrNotFound, err: os.NewSyscallError(call, errno)}
}

// tooLarge reports a size the kernel refused because of a limit.
func tooLarge(op, call string, errno unix.Errno, why string) error {
	return &opError{op: op, why: why, sentinel: ErrTooLarge, err: os.NewSyscallError(call, errno)}
}
