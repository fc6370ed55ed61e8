package mq

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// SysVLimits are the kernel's System V message queue limits.
type SysVLimits struct {
	MsgMax int // kernel.msgmax: the largest message text, in bytes
	MsgMnb int // kernel.msgmnb: the default capacity of a queue, in bytes
	MsgMni int // kernel.msgmni: the number of queues on the system
}

// ReadSysVLimits reads /proc/sys/kernel/msgmax, msgmnb and msgmni.
func ReadSysVLimits() (SysVLimits, error) {
	var l SysVLimits
	var err error
	if l.MsgMax, err = readInt("/proc/sys/kernel/msgmax"); err != nil {
		return l, err
	}
	if l.MsgMnb, err = readInt("/proc/sys/kernel/msgmnb"); err != nil {
		return l, err
	}
	if l.MsgMni, err = readInt("/proc/sys/kernel/msgmni"); err != nil {
		return l, err
	}
	return l, nil
}

// MaxMessage is the largest message a new queue takes: kernel.msgmax, or
// the queue's capacity kernel.msgmnb if that is smaller.
func (l SysVLimits) MaxMessage() int { return min(l.MsgMax, l.MsgMnb) }

// POSIXLimits are the kernel's POSIX message queue limits for this
// process.
type POSIXLimits struct {
	MsgMax     int // fs.mqueue.msg_max: the largest capacity, in messages
	MsgSizeMax int // fs.mqueue.msgsize_max: the largest message, in bytes
	QueuesMax  int // fs.mqueue.queues_max: the number of queues on the system
	// RlimitMsgqueue is the soft RLIMIT_MSGQUEUE: the bytes all queues of
	// this user may take together (see ChargedBytes).
	RlimitMsgqueue uint64
	// Mounted reports whether the mqueue file system is mounted at
	// /dev/mqueue (not needed to use queues; it only shows them as files).
	Mounted bool
}

// ReadPOSIXLimits reads /proc/sys/fs/mqueue and RLIMIT_MSGQUEUE. A kernel
// built without POSIX message queues gives an error matching
// ErrUnsupported.
func ReadPOSIXLimits() (POSIXLimits, error) {
	var l POSIXLimits
	var err error
	if l.MsgMax, err = readInt("/proc/sys/fs/mqueue/msg_max"); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return l, &opError{op: "read posix queue limits", sentinel: ErrUnsupported, err: err,
				why: "this kernel has no POSIX message queues (CONFIG_POSIX_MQUEUE), or /proc is not mounted"}
		}
		return l, err
	}
	if l.MsgSizeMax, err = readInt("/proc/sys/fs/mqueue/msgsize_max"); err != nil {
		return l, err
	}
	if l.QueuesMax, err = readInt("/proc/sys/fs/mqueue/queues_max"); err != nil {
		return l, err
	}
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MSGQUEUE, &rl); err != nil {
		return l, os.NewSyscallError("getrlimit", err)
	}
	l.RlimitMsgqueue = rl.Cur
	var st unix.Statfs_t
	if unix.Statfs("/dev/mqueue", &st) == nil && st.Type == mqueueMagic {
		l.Mounted = true
	}
	return l, nil
}

// ChargedBytes estimates what a queue of maxMsg messages of msgSize bytes
// counts against RLIMIT_MSGQUEUE: the kernel charges the message buffers
// plus about 96 bytes of bookkeeping per message (struct msg_msg and a
// tree node; ipc/mqueue.c mqueue_get_inode).
func ChargedBytes(maxMsg, msgSize int) int64 {
	return int64(maxMsg) * (int64(msgSize) + 96)
}

func readInt(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("mq: %s: %w", path, err)
	}
	return n, nil
}

// mqueueMagic is MQUEUE_MAGIC (linux/magic.h), the mqueue file system's
// f_type.
const mqueueMagic = 0x19800202
