package bench

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ipcplay/ipcplay/ipc/mq"
	"github.com/ipcplay/ipcplay/ipc/worker"
	"github.com/ipcplay/ipcplay/shm"
)

// Roles of the two workers of a cell.
const (
	roleSender   = "sender"   // pingpong: the client that times round trips; stream: the producer
	roleReceiver = "receiver" // pingpong: the echo; stream: the consumer that acknowledges
)

// workerSpec is what the parent tells each worker.
type workerSpec struct {
	Transport  string   `json:"transport"`
	Role       string   `json:"role"`
	Pattern    string   `json:"pattern"`
	Size       int      `json:"size"`
	Count      int64    `json:"count,omitempty"`
	DurationNs int64    `json:"duration_ns,omitempty"`
	WarmupNs   int64    `json:"warmup_ns,omitempty"`
	Repeats    int      `json:"repeats"`
	Histogram  bool     `json:"histogram,omitempty"`
	Fault      string   `json:"fault,omitempty"`
	Region     string   `json:"region,omitempty"`       // shm: the region's handle
	RingBytes  int      `json:"ring_bytes,omitempty"`   // shm: offset of the second ring
	QueueID    int      `json:"queue_id,omitempty"`     // sysv-msgq
	Paths      []string `json:"paths,omitempty"`        // fifo: a->b, b->a
	Spin       int      `json:"spin,omitempty"`         // shm-adaptive: polls before sleeping
	RatePerSec float64  `json:"rate_per_sec,omitempty"` // open loop: messages per second
}

// dgramTimeout bounds a datagram receive, so that a lost end-of-phase
// message is reported instead of hanging the run.
const dgramTimeout = 10 * time.Second

// open builds the worker's conn from its spec and inherited files, with
// its transport's entry in the table.
func open(s *workerSpec, stop *atomic.Bool) (conn, error) {
	t, ok := lookupTransport(s.Transport)
	if !ok {
		return nil, fmt.Errorf("unknown transport %q", s.Transport)
	}
	return t.open(s, stop)
}

// The open functions of the transport table (transports.go): each builds
// one worker's end of its transport, in the worker.

// openStreamSocket: one connected stream socket (unix-stream, tcp).
func openStreamSocket(s *workerSpec, _ *atomic.Bool) (conn, error) {
	f := worker.FileFD(0)
	if err := blocking(f); err != nil {
		return nil, err
	}
	return newStreamConn(f, f, s.Size, f), nil
}

// openPacketSocket: one datagram or seqpacket socket.
func openPacketSocket(s *workerSpec, _ *atomic.Bool) (conn, error) {
	f := worker.FileFD(0)
	if err := blocking(f); err != nil {
		return nil, err
	}
	if err := sizeBuffers(f, s.Size); err != nil {
		return nil, err
	}
	tv := unix.NsecToTimeval(int64(dgramTimeout))
	if err := unix.SetsockoptTimeval(f, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return nil, os.NewSyscallError("setsockopt SO_RCVTIMEO", err)
	}
	return &packetConn{fd: f, sbuf: alignedBuf(s.Size), rbuf: alignedBuf(s.Size)}, nil
}

// openPipes: the sender has the a->b write end and the b->a read end; the
// receiver the others.
func openPipes(s *workerSpec, _ *atomic.Bool) (conn, error) {
	w, r := worker.FileFD(0), worker.FileFD(1)
	if s.Role != roleSender {
		w, r = r, w
	}
	if err := errors.Join(blocking(w), blocking(r)); err != nil {
		return nil, err
	}
	return newStreamConn(w, r, s.Size, w, r), nil
}

func openEventfds(s *workerSpec, _ *atomic.Bool) (conn, error) {
	ab, ba := worker.FileFD(0), worker.FileFD(1)
	w, r := ab, ba
	if s.Role != roleSender {
		w, r = ba, ab
	}
	return &eventConn{wfd: w, rfd: r, sbuf: alignedBuf(s.Size), rbuf: alignedBuf(s.Size), val: alignedBuf(8)}, nil
}

func openSysVQueue(s *workerSpec, _ *atomic.Bool) (conn, error) {
	if _, err := mq.OpenSysV(s.QueueID); err != nil {
		return nil, err
	}
	c := &sysvConn{id: s.QueueID, sendMsg: mq.NewMsg(s.Size), recvMsg: mq.NewMsg(s.Size), sendType: 1, recvType: 2, size: s.Size}
	if s.Role != roleSender {
		c.sendType, c.recvType = 2, 1
	}
	return c, nil
}

func openPOSIXQueues(s *workerSpec, _ *atomic.Bool) (conn, error) {
	ab, err := mq.OpenPOSIXFD(worker.FileFD(0))
	if err != nil {
		return nil, err
	}
	ba, err := mq.OpenPOSIXFD(worker.FileFD(1))
	if err != nil {
		ab.Close()
		return nil, err
	}
	c := &posixConn{out: ab, in: ba, sbuf: alignedBuf(s.Size), rbuf: alignedBuf(max(s.Size, ba.MsgSize()))}
	if s.Role != roleSender {
		c.out, c.in = ba, ab
		c.rbuf = alignedBuf(max(s.Size, ab.MsgSize()))
	}
	return c, nil
}

func blocking(fd int) error {
	if err := unix.SetNonblock(fd, false); err != nil {
		return os.NewSyscallError("fcntl O_NONBLOCK", err)
	}
	return nil
}

// sizeBuffers raises a message socket's buffers so that a few messages of
// size bytes fit (within net.core.wmem_max and rmem_max).
func sizeBuffers(fd, size int) error {
	want := max(4*size, 64<<10)
	for _, opt := range []int{unix.SO_SNDBUF, unix.SO_RCVBUF} {
		cur, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, opt)
		if err == nil && cur >= want {
			continue
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, opt, want); err != nil {
			return os.NewSyscallError("setsockopt", err)
		}
	}
	return nil
}

// openRings returns the open of a shm transport whose rings wait in mode:
// it maps the region and attaches the two rings; the sender produces into
// the first and consumes from the second.
func openRings(mode ringMode) func(s *workerSpec, stop *atomic.Bool) (conn, error) {
	return func(s *workerSpec, stop *atomic.Bool) (conn, error) { return openRingsIn(s, mode, stop) }
}

func openRingsIn(s *workerSpec, mode ringMode, stop *atomic.Bool) (conn, error) {
	r, err := shm.Open(s.Region)
	if err != nil {
		return nil, err
	}
	mem := r.Bytes()
	if len(mem) < 2*s.RingBytes {
		r.Close()
		return nil, fmt.Errorf("shm region of %d bytes cannot hold two rings of %d", len(mem), s.RingBytes)
	}
	ab, err := attachRing(mem[:s.RingBytes], s.Size, mode, s.Spin, stop)
	if err != nil {
		r.Close()
		return nil, err
	}
	ba, err := attachRing(mem[s.RingBytes:2*s.RingBytes], s.Size, mode, s.Spin, stop)
	if err != nil {
		r.Close()
		return nil, err
	}
	c := &ringConn{out: ab, in: ba, sbuf: alignedBuf(s.Size), closeFn: r.Close}
	if s.Role != roleSender {
		c.out, c.in = ba, ab
	}
	return c, nil
}

// interrupt wakes a worker blocked in a ring wait when it must stop.
func (c *ringConn) interrupt() {
	for _, r := range []*ring{c.out, c.in} {
		switch r.mode {
		case ringSem:
			_ = r.items.Post()
			_ = r.spaces.Post()
		case ringFutex, ringAdaptive:
			futexWakeOne(r.head)
			futexWakeOne(r.tail)
		}
	}
}

// openFIFOs opens the two named pipes the parent made, in an order that
// cannot deadlock: the sender opens a->b for writing, then b->a for
// reading; the receiver the other way round (each open blocks until the
// other end opens).
func openFIFOs(s *workerSpec, _ *atomic.Bool) (conn, error) {
	if len(s.Paths) != 2 {
		return nil, errors.New("fifo: two paths expected")
	}
	openFIFO := func(path string, flags int) (int, error) {
		for {
			fd, err := unix.Open(path, flags|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return -1, &os.PathError{Op: "open fifo", Path: path, Err: err}
			}
			return fd, nil
		}
	}
	first, second := unix.O_WRONLY, unix.O_RDONLY
	if s.Role != roleSender {
		first, second = unix.O_RDONLY, unix.O_WRONLY
	}
	a, err := openFIFO(s.Paths[0], first)
	if err != nil {
		return nil, err
	}
	b, err := openFIFO(s.Paths[1], second)
	if err != nil {
		unix.Close(a)
		return nil, err
	}
	if s.Role == roleSender {
		return newStreamConn(a, b, s.Size, a, b), nil
	}
	return newStreamConn(b, a, s.Size, a, b), nil
}
