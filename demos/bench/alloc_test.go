package bench

import (
	"sync/atomic"
	"testing"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"golang.org/x/sys/unix"

	"github.com/ipcplay/ipcplay/ipc/ipctest"
	"github.com/ipcplay/ipcplay/ipc/mq"
)

// connPair builds both ends of a transport in this process, for tests of
// the hot path: a sends to b.
func connPair(t *testing.T, transport string, size int) (a, b conn) {
	t.Helper()
	stop := new(atomic.Bool)
	closeAll := func(fds ...int) { t.Cleanup(func() { closeFDs(fds) }) }
	switch transport {
	case "shm", "shm-spin", "shm-adaptive":
		mode := map[string]ringMode{"shm": ringFutex, "shm-spin": ringSpin, "shm-adaptive": ringAdaptive}[transport]
		mem := alignedBuf(pairBytes(size))
		half := len(mem) / 2
		for _, m := range [][]byte{mem[:half], mem[half:]} {
			if err := initRing(m, size, mode); err != nil {
				t.Fatal(err)
			}
		}
		ab, _ := attachRing(mem[:half], size, mode, 100, stop)
		ba, _ := attachRing(mem[half:], size, mode, 100, stop)
		ab2, _ := attachRing(mem[:half], size, mode, 100, stop)
		ba2, _ := attachRing(mem[half:], size, mode, 100, stop)
		return &ringConn{out: ab, in: ba, sbuf: alignedBuf(size)}, &ringConn{out: ba2, in: ab2, sbuf: alignedBuf(size)}
	case "unix-stream", "unix-dgram":
		typ := unix.SOCK_STREAM
		if transport == "unix-dgram" {
			typ = unix.SOCK_DGRAM
		}
		fds, err := unix.Socketpair(unix.AF_UNIX, typ|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		closeAll(fds[0], fds[1])
		if typ == unix.SOCK_DGRAM {
			return &packetConn{fd: fds[0], sbuf: alignedBuf(size), rbuf: alignedBuf(size)}, &packetConn{fd: fds[1], sbuf: alignedBuf(size), rbuf: alignedBuf(size)}
		}
		return newStreamConn(fds[0], fds[0], size), newStreamConn(fds[1], fds[1], size)
	case "pipe":
		var p [2]int
		if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
			t.Fatal(err)
		}
		closeAll(p[0], p[1])
		return newStreamConn(p[1], -1, size), newStreamConn(-1, p[0], size)
	case "eventfd":
		fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
		if err != nil {
			t.Fatal(err)
		}
		closeAll(fd)
		return &eventConn{wfd: fd, rfd: -1, sbuf: alignedBuf(size), val: alignedBuf(8)}, &eventConn{wfd: -1, rfd: fd, rbuf: alignedBuf(size), val: alignedBuf(8)}
	case "sysv-msgq":
		q, err := mq.CreateSysV()
		if err != nil {
			t.Fatal(err)
		}
		ipctest.TrackSysV("msg", q.ID())
		t.Cleanup(func() { q.Remove() })
		return &sysvConn{id: q.ID(), sendMsg: mq.NewMsg(size), recvMsg: mq.NewMsg(size), sendType: 1, recvType: 2, size: size},
			&sysvConn{id: q.ID(), sendMsg: mq.NewMsg(size), recvMsg: mq.NewMsg(size), sendType: 2, recvType: 1, size: size}
	case "posix-mq":
		q, err := mq.CreatePOSIX(ipctest.Name(t, ".q"), 4, size)
		if err != nil {
			t.Skip(err)
		}
		t.Cleanup(func() { q.Close(); q.Unlink() })
		return &posixConn{out: q, in: q, sbuf: alignedBuf(size), rbuf: alignedBuf(size)}, &posixConn{out: q, in: q, sbuf: alignedBuf(size), rbuf: alignedBuf(size)}
	}
	t.Fatalf("no in-process pair for %s", transport)
	return nil, nil
}

// TestHotPathDoesNotAllocate runs one message of the measured loops
// (seal, send, receive, verify, release, record the latency) through each
// transport and counts allocations: there must be none, so that the
// numbers measure the transport, not Go's allocator or collector.
func TestHotPathDoesNotAllocate(t *testing.T) {
	if testing.CoverMode() != "" || raceEnabled {
		t.Skip("instrumented build")
	}
	for _, tr := range []string{"shm", "shm-spin", "shm-adaptive", "unix-stream", "unix-dgram", "pipe", "eventfd", "sysv-msgq", "posix-mq"} {
		t.Run(tr, func(t *testing.T) {
			size := 256
			if tr == "eventfd" {
				size = MinSize
			}
			a, b := connPair(t, tr, size)
			s := newSealer(a.buffer())
			v := verifier{size: size}
			h := hdrhistogram.New(histMin, histMax, histDigits)
			clock := newMonoClock()
			var seq uint64
			allocs := testing.AllocsPerRun(200, func() {
				t0 := clock.now()
				s.seal(seq, clock.abs(t0), 0)
				seq++
				if err := a.send(s.buf); err != nil {
					t.Fatal(err)
				}
				msg, err := b.recv()
				if err != nil {
					t.Fatal(err)
				}
				v.check(msg)
				if err := b.release(); err != nil {
					t.Fatal(err)
				}
				_ = h.RecordValue(clock.now() - t0)
			})
			if allocs != 0 {
				t.Errorf("%.1f allocations per message, want 0", allocs)
			}
			if v.lost+v.corrupt+v.reordered != 0 || v.received == 0 {
				t.Errorf("verifier: %+v", v)
			}
		})
	}
}
