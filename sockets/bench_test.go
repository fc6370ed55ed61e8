package sockets

import (
	"bytes"
	"io"
	"os"
	"runtime"
	"strconv"
	"testing"

	"github.com/ipcplay/ipcplay/ipc/ipctest"
)

// benchMsg is the ping-pong message size.
const benchMsg = 64

// BenchmarkSocketpairRoundTrip: 64-byte ping-pong between two goroutines of
// this process over a SOCK_STREAM socketpair, one op per round trip.
//
//   - raw: blocking descriptors, unix.Read/unix.Write (each goroutine sleeps
//     in read(2) on its own thread);
//   - netconn: Conns (non-blocking descriptors parked on the Go netpoller).
func BenchmarkSocketpairRoundTrip(b *testing.B) {
	b.Run("raw", func(b *testing.B) {
		pa, pb, err := Pair(Stream)
		if err != nil {
			b.Fatal(err)
		}
		defer pa.Close()
		defer pb.Close()
		fa, fb := int(pa.Fd()), int(pb.Fd()) // blocking already: Fd changes nothing
		done := make(chan error, 1)
		go func() {
			buf := make([]byte, benchMsg)
			for {
				if err := readFullFD(fb, buf); err != nil {
					done <- ignoreEOF(err)
					return
				}
				if err := writeFullFD(fb, buf); err != nil {
					done <- err
					return
				}
			}
		}()
		pingPongRaw(b, fa)
		pa.Close() // the echo goroutine reads EOF
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		runtime.KeepAlive(pb)
	})
	b.Run("netconn", func(b *testing.B) {
		ca, cb, err := PairConns(Stream)
		if err != nil {
			b.Fatal(err)
		}
		defer cb.Close()
		done := make(chan error, 1)
		go func() { done <- echoConn(cb) }()
		pingPongConn(b, ca)
		ca.Close()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkSocketpairRoundTripProcess: 64-byte ping-pong with a re-executed
// child echoing on a SOCK_STREAM socketpair: the real cross-process number.
// raw uses blocking read/write syscalls on both sides, netconn uses Conns on
// both sides.
func BenchmarkSocketpairRoundTripProcess(b *testing.B) {
	b.Run("raw", func(b *testing.B) { benchProcess(b, false) })
	b.Run("netconn", func(b *testing.B) { benchProcess(b, true) })
}

func benchProcess(b *testing.B, conn bool) {
	pa, pb, err := Pair(Stream)
	if err != nil {
		b.Fatal(err)
	}
	helper := "echo-raw"
	if conn {
		helper = "echo-conn"
	}
	cmd := ipctest.Helper(b, helper, strconv.Itoa(benchMsg))
	cmd.ExtraFiles = []*os.File{pb}
	startHelper(b, cmd)
	pb.Close()
	if conn {
		c, err := FileConn(pa)
		if err != nil {
			b.Fatal(err)
		}
		pingPongConn(b, c)
		c.Close()
	} else {
		pingPongRaw(b, int(pa.Fd()))
		pa.Close()
	}
	waitHelper(b, cmd)
}

// warmup round trips run before the timer starts.
const warmup = 1000

func pingPongRaw(b *testing.B, fd int) {
	buf := make([]byte, benchMsg)
	for i := 0; i < warmup+b.N; i++ {
		if i == warmup {
			b.ResetTimer()
		}
		if err := writeFullFD(fd, buf); err != nil {
			b.Fatal(err)
		}
		if err := readFullFD(fd, buf); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
}

func pingPongConn(b *testing.B, c *Conn) {
	buf := make([]byte, benchMsg)
	for i := 0; i < warmup+b.N; i++ {
		if i == warmup {
			b.ResetTimer()
		}
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
}

func echoConn(c *Conn) error {
	buf := make([]byte, benchMsg)
	for {
		if _, err := io.ReadFull(c, buf); err != nil {
			return ignoreEOF(err)
		}
		if _, err := c.Write(buf); err != nil {
			return err
		}
	}
}

func ignoreEOF(err error) error {
	if err == io.EOF {
		return nil
	}
	return err
}

// BenchmarkFrameRoundTrip: the cost of framing. buffer encodes and decodes
// through memory (no syscalls); socketpair is a framed 64-byte ping-pong
// with an echo goroutine, as on the daemon's control socket.
func BenchmarkFrameRoundTrip(b *testing.B) {
	for _, size := range []int{64, 4096} {
		b.Run("buffer/"+strconv.Itoa(size), func(b *testing.B) {
			payload := pattern(size, 1)
			var buf bytes.Buffer
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if err := WriteFrame(&buf, payload, 0); err != nil {
					b.Fatal(err)
				}
				if _, err := ReadFrame(&buf, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("socketpair/64", func(b *testing.B) {
		ca, cb, err := PairConns(Stream)
		if err != nil {
			b.Fatal(err)
		}
		defer cb.Close()
		done := make(chan error, 1)
		go func() {
			f := NewFramer(cb, 0)
			for {
				p, err := f.Read()
				if err != nil {
					done <- ignoreEOF(err)
					return
				}
				if err := f.Write(p); err != nil {
					done <- err
					return
				}
			}
		}()
		f := NewFramer(ca, 0)
		payload := pattern(benchMsg, 1)
		b.ReportAllocs()
		for b.Loop() {
			if err := f.Write(payload); err != nil {
				b.Fatal(err)
			}
			if _, err := f.Read(); err != nil {
				b.Fatal(err)
			}
		}
		ca.Close()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	})
}
