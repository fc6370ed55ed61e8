package bench

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ipcplay/ipcplay/ipc/mq"
)

// conn is one worker's end of a transport, in both directions. The hot
// path makes one system call per message and direction (none for a busy
// shm ring), copies no more than the transport itself does and never
// allocates: every buffer is made when the conn is opened.
type conn interface {
	// buffer is where the caller builds outgoing messages (size bytes):
	// a System V queue conn sends it without copying.
	buffer() []byte
	// send sends msg: size bytes, a buffer() or a message recv returned.
	send(msg []byte) error
	// recv returns the next message, valid until the next recv or
	// release (a shm slot is read in place).
	recv() ([]byte, error)
	// release ends the use of the message recv returned.
	release() error
	close() error
}

// errPeerGone: the other end closed (its worker exited or was killed).
var errPeerGone = errors.New("the other end closed the connection (its worker exited)")

// sysErr names a failed system call, keeping the errno for errors.Is.
func sysErr(call string, e unix.Errno) error {
	switch e {
	case unix.EPIPE, unix.ECONNRESET, unix.ECONNREFUSED:
		return fmt.Errorf("%w: %w", errPeerGone, os.NewSyscallError(call, e))
	}
	return os.NewSyscallError(call, e)
}

// streamConn is a byte stream (pipe, fifo, stream socket, tcp): a message
// is size bytes, read with as many read(2) calls as it takes.
type streamConn struct {
	wfd, rfd int
	sbuf     []byte
	rbuf     []byte
	fds      []int // to close
}

func newStreamConn(wfd, rfd, size int, fds ...int) *streamConn {
	return &streamConn{wfd: wfd, rfd: rfd, sbuf: alignedBuf(size), rbuf: alignedBuf(size), fds: fds}
}

func (c *streamConn) buffer() []byte { return c.sbuf }
func (c *streamConn) release() error { return nil }
func (c *streamConn) close() error   { return closeFDs(c.fds) }

func (c *streamConn) send(msg []byte) error {
	for len(msg) > 0 {
		n, e := sysWrite(c.wfd, msg)
		switch e {
		case 0:
			msg = msg[n:]
		case unix.EINTR:
		default:
			return sysErr("write", e)
		}
	}
	return nil
}

func (c *streamConn) recv() ([]byte, error) {
	b := c.rbuf
	for len(b) > 0 {
		n, e := sysRead(c.rfd, b)
		switch {
		case e == unix.EINTR:
			continue
		case e != 0:
			return nil, sysErr("read", e)
		case n == 0 && len(b) < len(c.rbuf):
			return nil, fmt.Errorf("%w, %d bytes into a message", io.ErrUnexpectedEOF, len(c.rbuf)-len(b))
		case n == 0:
			return nil, errPeerGone
		}
		b = b[n:]
	}
	return c.rbuf, nil
}

// packetConn keeps message boundaries (datagram, seqpacket): one write(2)
// sends a message, one read(2) receives one.
type packetConn struct {
	fd   int
	sbuf []byte
	rbuf []byte
}

func (c *packetConn) buffer() []byte { return c.sbuf }
func (c *packetConn) release() error { return nil }
func (c *packetConn) close() error   { return closeFDs([]int{c.fd}) }

func (c *packetConn) send(msg []byte) error {
	for {
		n, e := sysWrite(c.fd, msg)
		switch {
		case e == unix.EINTR:
			continue
		case e == unix.EMSGSIZE:
			return fmt.Errorf("a %d-byte datagram is above the socket's limit: %w", len(msg), sysErr("write", e))
		case e != 0:
			return sysErr("write", e)
		case n != len(msg):
			return fmt.Errorf("short datagram write: %d of %d bytes", n, len(msg))
		}
		return nil
	}
}

func (c *packetConn) recv() ([]byte, error) {
	for {
		n, e := sysRead(c.fd, c.rbuf)
		switch {
		case e == unix.EINTR:
			continue
		case e == unix.EAGAIN:
			return nil, fmt.Errorf("nothing arrived within %s: messages were lost (%w)", dgramTimeout, sysErr("read", e))
		case e != 0:
			return nil, sysErr("read", e)
		case n == 0:
			return nil, errPeerGone
		}
		return c.rbuf[:n], nil
	}
}

// ringConn is a pair of shm rings: out to the peer, in from it.
type ringConn struct {
	out, in *ring
	sbuf    []byte
	closeFn func() error
}

func (c *ringConn) buffer() []byte        { return c.sbuf }
func (c *ringConn) send(msg []byte) error { return c.out.produce(msg) }
func (c *ringConn) recv() ([]byte, error) { return c.in.consume() }
func (c *ringConn) release() error        { return c.in.release() }
func (c *ringConn) close() error          { return c.closeFn() }

// sysvConn is one System V queue carrying both directions: type sendType
// one way, recvType the other. Messages are built in, and received into,
// the kernel's msgbuf layout, so nothing is copied in user space; an echo
// goes back from the buffer it arrived in.
type sysvConn struct {
	id                 int
	sendMsg, recvMsg   mq.Msg
	sendType, recvType int64
	size               int
}

func (c *sysvConn) buffer() []byte { return c.sendMsg.Text()[:c.size] }
func (c *sysvConn) release() error { return nil }
func (c *sysvConn) close() error   { return nil }

func (c *sysvConn) send(msg []byte) error {
	m := c.sendMsg
	switch {
	case sameStart(msg, c.recvMsg.Text()):
		m = c.recvMsg
	case !sameStart(msg, c.sendMsg.Text()):
		copy(c.sendMsg.Text(), msg)
	}
	m.SetType(c.sendType)
	for {
		switch e := msgsnd(c.id, m, len(msg)); e {
		case 0:
			return nil
		case unix.EINTR:
			continue
		case unix.EIDRM, unix.EINVAL:
			return fmt.Errorf("queue %d is gone: %w", c.id, sysErr("msgsnd", e))
		default:
			return sysErr("msgsnd", e)
		}
	}
}

func (c *sysvConn) recv() ([]byte, error) {
	for {
		n, e := msgrcv(c.id, c.recvMsg, c.recvType)
		switch e {
		case 0:
			return c.recvMsg.Text()[:n], nil
		case unix.EINTR:
			continue
		case unix.EIDRM, unix.EINVAL:
			return nil, fmt.Errorf("queue %d is gone: %w", c.id, sysErr("msgrcv", e))
		default:
			return nil, sysErr("msgrcv", e)
		}
	}
}

// posixConn is a pair of POSIX queues: out to the peer, in from it.
type posixConn struct {
	out, in *mq.POSIX
	sbuf    []byte
	rbuf    []byte
}

func (c *posixConn) buffer() []byte { return c.sbuf }
func (c *posixConn) release() error { return nil }
func (c *posixConn) close() error   { return errors.Join(c.out.Close(), c.in.Close()) }

func (c *posixConn) send(msg []byte) error {
	for {
		switch e := mqSend(c.out.FD(), msg); e {
		case 0:
			return nil
		case unix.EINTR:
			continue
		default:
			return sysErr("mq_timedsend", e)
		}
	}
}

func (c *posixConn) recv() ([]byte, error) {
	for {
		n, e := mqReceive(c.in.FD(), c.rbuf)
		switch e {
		case 0:
			return c.rbuf[:n], nil
		case unix.EINTR:
			continue
		default:
			return nil, sysErr("mq_timedreceive", e)
		}
	}
}

// eventConn is a pair of eventfds. An eventfd carries no payload, only a
// 64-bit counter that a read returns and resets: a message is reduced to
// its sequence number and flags (counter = seq+1 | flags<<60), and recv
// rebuilds a header-only message from them, so that the same verifier
// counts lost and reordered notifications (there are no bytes to corrupt).
type eventConn struct {
	wfd, rfd int
	sbuf     []byte
	rbuf     []byte
	val      []byte // 8 bytes
}

const eventSeqMask = 1<<60 - 1

func (c *eventConn) buffer() []byte { return c.sbuf }
func (c *eventConn) release() error { return nil }
func (c *eventConn) close() error   { return closeFDs([]int{c.wfd, c.rfd}) }

func (c *eventConn) send(msg []byte) error {
	seq, _, flags := header(msg)
	binary.NativeEndian.PutUint64(c.val, (seq+1)&eventSeqMask|uint64(flags&0xf)<<60)
	for {
		switch _, e := sysWrite(c.wfd, c.val); e {
		case 0:
			return nil
		case unix.EINTR:
			continue
		default:
			return sysErr("eventfd write", e)
		}
	}
}

func (c *eventConn) recv() ([]byte, error) {
	for {
		switch _, e := sysRead(c.rfd, c.val); e {
		case 0:
			v := binary.NativeEndian.Uint64(c.val)
			sealMsg(c.rbuf, v&eventSeqMask-1, 0, uint32(v>>60))
			return c.rbuf, nil
		case unix.EINTR:
			continue
		default:
			return nil, sysErr("eventfd read", e)
		}
	}
}

func sameStart(a, b []byte) bool {
	return len(a) > 0 && len(b) > 0 && &a[0] == &b[0]
}

// alignedBuf returns n bytes starting on a 64-byte boundary, like the C
// reference's aligned_alloc, so that copies run at full speed.
func alignedBuf(n int) []byte {
	b := make([]byte, n+64)
	off := int(-uintptr(unsafe.Pointer(&b[0])) & 63)
	return b[off : off+n : off+n]
}

func closeFDs(fds []int) error {
	var errs []error
	for _, fd := range fds {
		if fd >= 0 {
			if err := unix.Close(fd); err != nil {
				errs = append(errs, os.NewSyscallError("close", err))
			}
		}
	}
	return errors.Join(errs...)
}
