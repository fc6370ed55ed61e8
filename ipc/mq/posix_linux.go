package mq

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// NamePrefix starts every POSIX queue name this package creates or
// removes, so that ipcplay's queues are recognisable.
const NamePrefix = "ipcplay."

// nameMax is NAME_MAX: the longest queue name the kernel accepts.
const nameMax = 255

// POSIX is an open POSIX message queue descriptor. Close it; the queue
// itself stays until someone unlinks its name ([POSIX.Unlink],
// [UnlinkPOSIX]). A POSIX is safe for concurrent use, but Close must not
// race with a Send or Receive in progress.
type POSIX struct {
	name    string // without the leading slash; "" for an adopted descriptor
	f       *os.File
	fd      int
	msgSize int
	once    sync.Once
}

// Attr is a queue's struct mq_attr.
type Attr struct {
	MaxMsg   int  // capacity in messages
	MsgSize  int  // largest message in bytes
	CurMsgs  int  // messages now in the queue
	NonBlock bool // O_NONBLOCK is set on this descriptor
}

// CheckName reports whether name (with or without one leading slash) is a
// queue name this package accepts: it starts with "ipcplay.", has no other
// '/', and fits NAME_MAX. It returns the name without the slash.
func CheckName(name string) (string, error) {
	n := strings.TrimPrefix(name, "/")
	switch {
	case !strings.HasPrefix(n, NamePrefix) || len(n) == len(NamePrefix):
		return "", invalid(fmt.Sprintf("queue name %q", name), "must start with \""+NamePrefix+"\" and name something after it")
	case strings.Contains(n, "/"):
		return "", invalid(fmt.Sprintf("queue name %q", name), "must not contain '/' after the leading one")
	case len(n) > nameMax:
		return "", invalid(fmt.Sprintf("queue name %q", name), fmt.Sprintf("longer than NAME_MAX (%d bytes)", nameMax))
	}
	return n, nil
}

// CreatePOSIX creates the queue name (mq_open with O_CREAT|O_EXCL|O_RDWR,
// mode 0600) able to hold maxMsg messages of up to msgSize bytes, and
// opens it for sending and receiving, blocking. The caller owns the name
// and must unlink it. Sizes above the limits fail with an error matching
// ErrTooLarge that names the limit (fs.mqueue.msg_max, msgsize_max, or
// RLIMIT_MSGQUEUE, which counts the memory of every queue of the user).
func CreatePOSIX(name string, maxMsg, msgSize int) (*POSIX, error) {
	op := fmt.Sprintf("create posix %q (%d x %d bytes)", name, maxMsg, msgSize)
	n, err := CheckName(name)
	if err != nil {
		return nil, err
	}
	if maxMsg < 1 || msgSize < 1 {
		return nil, invalid(op, "capacity and message size must be at least 1")
	}
	attr := mqAttr{Maxmsg: int64(maxMsg), Msgsize: int64(msgSize)}
	fd, errno := mqOpen(n, unix.O_CREAT|unix.O_EXCL|unix.O_RDWR|unix.O_CLOEXEC, 0o600, &attr)
	if errno != 0 {
		return nil, createErr(op, errno, maxMsg, msgSize)
	}
	return newPOSIX(n, fd, msgSize), nil
}

// createErr explains a failed mq_open(O_CREAT).
func createErr(op string, errno unix.Errno, maxMsg, msgSize int) error {
	lim, lerr := ReadPOSIXLimits()
	switch errno {
	case unix.EINVAL:
		if lerr == nil && msgSize > lim.MsgSizeMax {
			return tooLarge(op, "mq_open", errno, fmt.Sprintf("message size above fs.mqueue.msgsize_max (%d)", lim.MsgSizeMax))
		}
		if lerr == nil && maxMsg > lim.MsgMax {
			return tooLarge(op, "mq_open", errno, fmt.Sprintf("capacity above fs.mqueue.msg_max (%d)", lim.MsgMax))
		}
	case unix.EMFILE:
		if lerr == nil {
			return &opError{op: op, sentinel: ErrLimit, err: os.NewSyscallError("mq_open", errno),
				why: fmt.Sprintf("the queues of this user would exceed RLIMIT_MSGQUEUE (%d bytes; this one needs about %d), or too many open files",
					lim.RlimitMsgqueue, ChargedBytes(maxMsg, msgSize))}
		}
	case unix.ENOSPC:
		why := "the system has fs.mqueue.queues_max queues already"
		if lerr == nil {
			why = fmt.Sprintf("the system has fs.mqueue.queues_max (%d) queues already", lim.QueuesMax)
		}
		return sysErr(op, "mq_open", errno, why)
	case unix.EEXIST:
		return sysErr(op, "mq_open", errno, "a queue of that name already exists")
	}
	return sysErr(op, "mq_open", errno, "")
}

// OpenPOSIX opens the existing queue name for sending and receiving,
// blocking. A name that does not exist gives an error matching ErrNotFound.
func OpenPOSIX(name string) (*POSIX, error) {
	n, err := CheckName(name)
	if err != nil {
		return nil, err
	}
	fd, errno := mqOpen(n, unix.O_RDWR|unix.O_CLOEXEC, 0, nil)
	if errno != 0 {
		return nil, sysErr(fmt.Sprintf("open posix %q", name), "mq_open", errno, "")
	}
	q := newPOSIX(n, fd, 0)
	a, err := q.Attr()
	if err != nil {
		q.Close()
		return nil, err
	}
	q.msgSize = a.MsgSize
	return q, nil
}

// OpenPOSIXFD adopts fd, a queue descriptor inherited from the process that
// opened the queue (on Linux a queue descriptor is a file descriptor). It
// checks with mq_getattr that fd is one; the POSIX owns fd and closes it.
func OpenPOSIXFD(fd int) (*POSIX, error) {
	var a mqAttr
	if errno := mqGetsetattr(fd, nil, &a); errno != 0 {
		why := ""
		if errno == unix.EBADF {
			why = "not an open message queue descriptor"
		}
		return nil, sysErr(fmt.Sprintf("adopt posix queue descriptor %d", fd), "mq_getsetattr", errno, why)
	}
	return newPOSIX("", fd, int(a.Msgsize)), nil
}

func newPOSIX(name string, fd, msgSize int) *POSIX {
	label := "mq"
	if name != "" {
		label = "mq:" + name
	}
	return &POSIX{name: name, fd: fd, f: os.NewFile(uintptr(fd), label), msgSize: msgSize}
}

// Name is the queue name without the leading slash ("" for an adopted
// descriptor).
func (q *POSIX) Name() string { return q.name }

// FD is the queue descriptor.
func (q *POSIX) FD() int { return q.fd }

// File is the queue descriptor as a file, to hand to a child in
// exec.Cmd.ExtraFiles. It belongs to q: do not close it.
func (q *POSIX) File() *os.File { return q.f }

// MsgSize is the queue's largest message (mq_msgsize).
func (q *POSIX) MsgSize() int { return q.msgSize }

func (q *POSIX) op(what string) string {
	if q.name == "" {
		return fmt.Sprintf("%s posix queue fd %d", what, q.fd)
	}
	return fmt.Sprintf("%s posix %q", what, q.name)
}

// Send sends msg with priority prio (mq_timedsend without a deadline),
// blocking while the queue is full. EINTR is retried. It does not allocate.
func (q *POSIX) Send(msg []byte, prio uint32) error {
	return q.send(msg, prio, nil)
}

// SendTimeout is Send that gives up after d with an error matching
// unix.ETIMEDOUT.
func (q *POSIX) SendTimeout(msg []byte, prio uint32, d time.Duration) error {
	ts, err := deadline(d)
	if err != nil {
		return err
	}
	return q.send(msg, prio, &ts)
}

func (q *POSIX) send(msg []byte, prio uint32, abs *unix.Timespec) error {
	var p unsafe.Pointer
	if len(msg) > 0 {
		p = unsafe.Pointer(&msg[0])
	}
	for {
		errno := mqTimedsend(q.fd, p, len(msg), prio, abs)
		switch errno {
		case 0:
			return nil
		case unix.EINTR:
			continue
		case unix.EMSGSIZE:
			return tooLarge(q.op("send"), "mq_timedsend", errno, fmt.Sprintf("message of %d bytes above the queue's mq_msgsize (%d)", len(msg), q.msgSize))
		}
		return sysErr(q.op("send"), "mq_timedsend", errno, "")
	}
}

// Receive receives the oldest message of the highest priority into buf
// and returns its length (mq_timedreceive without a deadline), blocking
// while the queue is empty. buf must hold at least MsgSize bytes (else
// EMSGSIZE, matching ErrTooLarge). EINTR is retried. It does not allocate.
func (q *POSIX) Receive(buf []byte) (int, error) {
	return q.receive(buf, nil)
}

// ReceiveTimeout is Receive that gives up after d with an error matching
// unix.ETIMEDOUT.
func (q *POSIX) ReceiveTimeout(buf []byte, d time.Duration) (int, error) {
	ts, err := deadline(d)
	if err != nil {
		return 0, err
	}
	return q.receive(buf, &ts)
}

func (q *POSIX) receive(buf []byte, abs *unix.Timespec) (int, error) {
	var p unsafe.Pointer
	if len(buf) > 0 {
		p = unsafe.Pointer(&buf[0])
	}
	for {
		n, errno := mqTimedreceive(q.fd, p, len(buf), nil, abs)
		switch errno {
		case 0:
			return n, nil
		case unix.EINTR:
			continue
		case unix.EMSGSIZE:
			return 0, tooLarge(q.op("receive"), "mq_timedreceive", errno, fmt.Sprintf("buffer of %d bytes below the queue's mq_msgsize (%d)", len(buf), q.msgSize))
		}
		return 0, sysErr(q.op("receive"), "mq_timedreceive", errno, "")
	}
}

// deadline turns a relative timeout into the absolute CLOCK_REALTIME time
// mq_timedsend and mq_timedreceive take.
func deadline(d time.Duration) (unix.Timespec, error) {
	var now unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_REALTIME, &now); err != nil {
		return now, os.NewSyscallError("clock_gettime", err)
	}
	return unix.NsecToTimespec(now.Nano() + int64(max(d, 0))), nil
}

// Attr returns the queue's attributes (mq_getattr).
func (q *POSIX) Attr() (Attr, error) {
	var a mqAttr
	if errno := mqGetsetattr(q.fd, nil, &a); errno != 0 {
		return Attr{}, sysErr(q.op("getattr"), "mq_getsetattr", errno, "")
	}
	return Attr{MaxMsg: int(a.Maxmsg), MsgSize: int(a.Msgsize), CurMsgs: int(a.Curmsgs), NonBlock: a.Flags&unix.O_NONBLOCK != 0}, nil
}

// Close closes the descriptor; the queue stays until unlinked. Closing
// twice is not an error.
func (q *POSIX) Close() error {
	var err error
	q.once.Do(func() { err = q.f.Close() })
	return err
}

// Unlink removes the queue's name; processes that have it open keep using
// it. A name already gone is not an error, so Unlink may be called twice.
// An adopted descriptor has no name: Unlink fails with ErrInvalid.
func (q *POSIX) Unlink() error {
	if q.name == "" {
		return invalid(q.op("unlink"), "an adopted descriptor has no name")
	}
	err := UnlinkPOSIX(q.name)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// UnlinkPOSIX removes the queue name (mq_unlink), for a reaper that has no
// POSIX. It refuses names that do not start with "ipcplay." (ErrInvalid),
// so it can never remove another program's queue. A name that does not
// exist gives an error matching ErrNotFound and unix.ENOENT.
func UnlinkPOSIX(name string) error {
	n, err := CheckName(name)
	if err != nil {
		return err
	}
	if errno := mqUnlink(n); errno != 0 {
		return sysErr(fmt.Sprintf("unlink posix %q", name), "mq_unlink", errno, "")
	}
	return nil
}
