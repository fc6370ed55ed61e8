package mq

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Flags for SysV.Send and SysV.Receive.
const (
	// NoWait (IPC_NOWAIT) makes a send on a full queue, or a receive on a
	// queue without a matching message, fail with EAGAIN (ENOMSG for a
	// receive) instead of blocking.
	NoWait = unix.IPC_NOWAIT
	// NoError (MSG_NOERROR) truncates a message longer than the receive
	// buffer instead of failing with E2BIG.
	NoError = 0o10000
)

// SysV is a System V message queue, known by its id. It holds no
// descriptor: any process of the same user may use the id, and the queue
// lives until someone removes it ([SysV.Remove], [RemoveSysV]).
type SysV struct {
	id int
}

// CreateSysV creates a new private queue: msgget(IPC_PRIVATE,
// IPC_CREAT|IPC_EXCL|0600). The caller owns it and must remove it. On a
// system at kernel.msgmni the error matches ErrLimit and unix.ENOSPC.
func CreateSysV() (*SysV, error) {
	const op = "create sysv queue"
	id, errno := msgget(unix.IPC_PRIVATE, unix.IPC_CREAT|unix.IPC_EXCL|0o600)
	if errno != 0 {
		why := ""
		if errno == unix.ENOSPC {
			why = "the system has kernel.msgmni queues already (see /proc/sys/kernel/msgmni and ipcs -q)"
		}
		return nil, sysErr(op, "msgget", errno, why)
	}
	return &SysV{id: id}, nil
}

// OpenSysV returns the queue with the given id, for a process that got the
// id from its creator. It checks that the queue exists (IPC_STAT).
func OpenSysV(id int) (*SysV, error) {
	if id < 0 {
		return nil, invalid(fmt.Sprintf("open sysv queue %d", id), "a queue id is not negative")
	}
	q := &SysV{id: id}
	if _, err := q.Stat(); err != nil {
		return nil, err
	}
	return q, nil
}

// ID is the queue's id, as ipcs -q shows it.
func (q *SysV) ID() int { return q.id }

// MsgHeader is the size of the type that starts every System V message
// buffer (the long mtype of struct msgbuf).
const MsgHeader = 8

// Msg is a message buffer laid out like the kernel's struct msgbuf: an
// 8-byte type, then the text. Allocate one with NewMsg and reuse it: Send
// and Receive then neither copy nor allocate.
type Msg []byte

// NewMsg returns a buffer for messages of up to size bytes of text.
func NewMsg(size int) Msg { return make(Msg, MsgHeader+size) }

// Type returns the message type (mtype).
func (m Msg) Type() int64 { return int64(binary.NativeEndian.Uint64(m[:MsgHeader])) }

// SetType sets the message type; a message sent must have a type > 0.
func (m Msg) SetType(t int64) { binary.NativeEndian.PutUint64(m[:MsgHeader], uint64(t)) }

// Text returns the message text: everything after the type.
func (m Msg) Text() []byte { return m[MsgHeader:] }

// Send sends the first n bytes of m's text with m's type (msgsnd). It
// blocks while the queue is full unless flags has NoWait (then EAGAIN).
// A message above kernel.msgmax, or above the queue's capacity, fails with
// an error matching ErrTooLarge and unix.EINVAL. EINTR is retried.
func (q *SysV) Send(m Msg, n int, flags int) error {
	if n < 0 || n > len(m)-MsgHeader || len(m) < MsgHeader {
		return invalid(q.op("send"), fmt.Sprintf("text length %d outside the buffer (%d bytes of text)", n, len(m)-MsgHeader))
	}
	if m.Type() <= 0 {
		return invalid(q.op("send"), "message type must be > 0")
	}
	for {
		errno := msgsnd(q.id, unsafe.Pointer(&m[0]), n, flags)
		switch errno {
		case 0:
			return nil
		case unix.EINTR:
			continue
		case unix.EINVAL:
			return q.sendInvalid(n, errno)
		}
		return sysErr(q.op("send"), "msgsnd", errno, "")
	}
}

// sendInvalid explains EINVAL from msgsnd: the queue is gone, or the
// message is too large for kernel.msgmax or the queue.
func (q *SysV) sendInvalid(n int, errno unix.Errno) error {
	op := q.op(fmt.Sprintf("send %d bytes", n))
	st, err := q.Stat()
	if err != nil {
		return notFound(op, "msgsnd", errno)
	}
	if lim, lerr := ReadSysVLimits(); lerr == nil && n > lim.MsgMax {
		return tooLarge(op, "msgsnd", errno, fmt.Sprintf("message above kernel.msgmax (%d bytes)", lim.MsgMax))
	}
	if uint64(n) > st.QBytes {
		return tooLarge(op, "msgsnd", errno, fmt.Sprintf("message above the queue's capacity msg_qbytes (%d bytes, from kernel.msgmnb)", st.QBytes))
	}
	return sysErr(op, "msgsnd", errno, "")
}

// Receive receives into m the first message of type typ (0: the first of
// any type; < 0: the first of the lowest type <= -typ) and returns the
// length of its text (msgrcv). It blocks until one arrives unless flags has
// NoWait (then ENOMSG). A message longer than m's text fails with an error
// matching ErrTooLarge and unix.E2BIG unless flags has NoError. EINTR is
// retried.
func (q *SysV) Receive(m Msg, typ int64, flags int) (int, error) {
	if len(m) < MsgHeader {
		return 0, invalid(q.op("receive"), "buffer shorter than the 8-byte message type")
	}
	for {
		n, errno := msgrcv(q.id, unsafe.Pointer(&m[0]), len(m)-MsgHeader, typ, flags)
		switch errno {
		case 0:
			return n, nil
		case unix.EINTR:
			continue
		case unix.EINVAL:
			return 0, q.gone("receive", "msgrcv", errno)
		}
		return 0, sysErr(q.op("receive"), "msgrcv", errno, "")
	}
}

// gone explains EINVAL on a queue that no longer exists.
func (q *SysV) gone(what, call string, errno unix.Errno) error {
	if _, err := q.Stat(); err != nil {
		return notFound(q.op(what), call, errno)
	}
	return sysErr(q.op(what), call, errno, "")
}

// SysVStat is what msgctl(IPC_STAT) tells about a queue.
type SysVStat struct {
	Key      int32
	UID      uint32
	GID      uint32
	CUID     uint32
	CGID     uint32
	Mode     uint32 // permission bits, e.g. 0600
	Messages uint64 // msg_qnum: messages in the queue
	Bytes    uint64 // msg_cbytes: bytes of text in the queue
	QBytes   uint64 // msg_qbytes: capacity in bytes
	LastSend int    // msg_lspid: pid of the last msgsnd
	LastRecv int    // msg_lrpid: pid of the last msgrcv
	SendTime time.Time
	RecvTime time.Time
	Changed  time.Time
}

// Stat returns the queue's state (msgctl IPC_STAT). A queue that does not
// exist gives an error matching ErrNotFound.
func (q *SysV) Stat() (SysVStat, error) {
	var ds msqidDs
	if errno := msgctl(q.id, unix.IPC_STAT, &ds); errno != 0 {
		if errno == unix.EINVAL || errno == unix.EIDRM {
			return SysVStat{}, notFound(q.op("stat"), "msgctl", errno)
		}
		return SysVStat{}, sysErr(q.op("stat"), "msgctl", errno, "")
	}
	unixTime := func(s int64) time.Time {
		if s == 0 {
			return time.Time{}
		}
		return time.Unix(s, 0)
	}
	return SysVStat{
		Key: ds.Perm.Key, UID: ds.Perm.Uid, GID: ds.Perm.Gid, CUID: ds.Perm.Cuid, CGID: ds.Perm.Cgid,
		Mode: ds.Perm.Mode & 0o777, Messages: ds.Qnum, Bytes: ds.Cbytes, QBytes: ds.Qbytes,
		LastSend: int(ds.Lspid), LastRecv: int(ds.Lrpid),
		SendTime: unixTime(ds.Stime), RecvTime: unixTime(ds.Rtime), Changed: unixTime(ds.Ctime),
	}, nil
}

// Remove removes the queue (msgctl IPC_RMID): blocked senders and receivers
// fail with EIDRM. A queue already gone is not an error, so Remove may be
// called twice.
func (q *SysV) Remove() error {
	err := RemoveSysV(q.id)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// RemoveSysV removes the queue with the given id, for a reaper that has no
// SysV. A queue that does not exist gives an error matching ErrNotFound.
func RemoveSysV(id int) error {
	if errno := msgctl(id, unix.IPC_RMID, nil); errno != 0 {
		op := fmt.Sprintf("remove sysv queue %d", id)
		if errno == unix.EINVAL || errno == unix.EIDRM {
			return notFound(op, "msgctl", errno)
		}
		return sysErr(op, "msgctl", errno, "")
	}
	return nil
}

func (q *SysV) op(what string) string { return fmt.Sprintf("%s sysv queue %d", what, q.id) }
