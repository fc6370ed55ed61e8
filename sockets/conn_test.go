package sockets

import (
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// In-process tests of Conn: credentials, descriptor passing edge cases,
// FileConn and Dial errors.

func TestPeerCredPair(t *testing.T) {
	a, b, err := PairConns(Stream)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	defer b.Close()
	for _, c := range []*Conn{a, b} {
		cred, err := c.PeerCred()
		if err != nil {
			t.Fatal(err)
		}
		if want := (Cred{PID: os.Getpid(), UID: os.Getuid(), GID: os.Getgid()}); cred != want {
			t.Fatalf("PeerCred = %+v, want %+v", cred, want)
		}
	}
}

func TestSendRecvFDs(t *testing.T) {
	for _, typ := range []Type{Stream, Datagram, SeqPacket} {
		t.Run(typ.String(), func(t *testing.T) {
			a, b := pairConns(t, typ)
			m1 := newMemfd(t, "one")
			m2 := newMemfd(t, "two")
			if err := a.SendFDs([]byte("hello"), m1, m2); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 64)
			n, files, err := b.RecvFDs(buf, 2)
			if err != nil {
				t.Fatal(err)
			}
			defer closeFiles(files)
			if string(buf[:n]) != "hello" || len(files) != 2 {
				t.Fatalf("got %q with %d files", buf[:n], len(files))
			}
			for i, want := range []string{"one", "two"} {
				got := make([]byte, 8)
				k, _ := files[i].ReadAt(got, 0)
				if string(got[:k]) != want {
					t.Errorf("file %d holds %q, want %q", i, got[:k], want)
				}
				if err := checkCloexec(files[i]); err != nil {
					t.Error(err)
				}
			}

			// No message: one 0 byte carries the descriptors.
			if err := a.SendFDs(nil, m1); err != nil {
				t.Fatal(err)
			}
			n, files2, err := b.RecvFDs(buf, 1)
			if err != nil {
				t.Fatal(err)
			}
			closeFiles(files2)
			if n != 1 || buf[0] != 0 || len(files2) != 1 {
				t.Fatalf("empty message: got %q with %d files, want one 0 byte with 1 file", buf[:n], len(files2))
			}

			// No descriptors: plain data.
			if err := a.SendFDs([]byte("plain")); err != nil {
				t.Fatal(err)
			}
			n, files3, err := b.RecvFDs(buf, 4)
			if err != nil || string(buf[:n]) != "plain" || files3 != nil {
				t.Fatalf("plain: got %q, %v, %v", buf[:n], files3, err)
			}
		})
	}
}

// pairConns returns a connected pair with deadlines, closed after the test.
func pairConns(t testing.TB, typ Type) (a, b *Conn) {
	t.Helper()
	a, b, err := PairConns(typ)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	deadline(t, a)
	deadline(t, b)
	return a, b
}

// openFDs counts this process's open descriptors.
func openFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestRecvFDsTruncated: descriptors that do not fit, or come with a message
// that does not fit, are all closed and ErrTruncated returned.
func TestRecvFDsTruncated(t *testing.T) {
	cases := []struct {
		name   string
		typ    Type
		msg    string
		buf    int
		maxFDs int
		wantIn string
	}{
		{"tooManyFDs/stream", Stream, "x", 16, 1, "descriptors"},
		{"tooManyFDs/seqpacket", SeqPacket, "x", 16, 2, "descriptors"},
		{"noFDsExpected/dgram", Datagram, "x", 16, 0, "descriptors"},
		{"longMessage/seqpacket", SeqPacket, strings.Repeat("m", 100), 10, 4, "buffer"},
		{"longMessage/dgram", Datagram, strings.Repeat("m", 100), 10, 4, "buffer"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, b := pairConns(t, tc.typ)
			m := newMemfd(t, "x")
			before := openFDs(t)
			if err := a.SendFDs([]byte(tc.msg), m, m, m); err != nil {
				t.Fatal(err)
			}
			n, files, err := b.RecvFDs(make([]byte, tc.buf), tc.maxFDs)
			if !errors.Is(err, ErrTruncated) || files != nil {
				closeFiles(files)
				t.Fatalf("RecvFDs = %d, %d files, %v; want ErrTruncated and no files", n, len(files), err)
			}
			if !strings.Contains(err.Error(), tc.wantIn) {
				t.Errorf("message %q lacks %q", err, tc.wantIn)
			}
			if n != min(len(tc.msg), tc.buf) {
				t.Errorf("n = %d, want %d", n, min(len(tc.msg), tc.buf))
			}
			if after := openFDs(t); after != before {
				t.Fatalf("%d descriptors open before, %d after: received descriptors leaked", before, after)
			}
		})
	}
}

func TestRecvFDsEOFAndErrors(t *testing.T) {
	for _, typ := range []Type{Stream, SeqPacket} {
		a, b := pairConns(t, typ)
		a.Close()
		if _, _, err := b.RecvFDs(make([]byte, 8), 1); err != io.EOF {
			t.Fatalf("%v: RecvFDs after the peer closed: %v, want io.EOF", typ, err)
		}
	}

	a, b := pairConns(t, Stream)
	_ = a
	if err := b.SetReadDeadline(time.Now().Add(10 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.RecvFDs(make([]byte, 8), 1); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("RecvFDs past the deadline: %v, want ErrDeadlineExceeded", err)
	}
	for _, tc := range []struct {
		buf, max int
	}{{0, 1}, {8, -1}, {8, 254}} {
		if _, _, err := b.RecvFDs(make([]byte, tc.buf), tc.max); err == nil {
			t.Errorf("RecvFDs(buf %d, max %d) succeeded", tc.buf, tc.max)
		}
	}
}

func TestSendFDsErrors(t *testing.T) {
	a, _ := pairConns(t, Stream)
	f := newMemfd(t, "x")
	closed := newMemfd(t, "x")
	closed.Close()
	if err := a.SendFDs([]byte("x"), f, closed); err == nil {
		t.Error("SendFDs with a closed file succeeded")
	}
	if err := a.SendFDs([]byte("x"), f, nil); err == nil {
		t.Error("SendFDs with a nil file succeeded")
	}
	many := make([]*os.File, maxFDsPerMsg+1)
	for i := range many {
		many[i] = f
	}
	if err := a.SendFDs([]byte("x"), many...); err == nil {
		t.Error("SendFDs with 254 files succeeded")
	}
}

// TestSendFDsKeepsNonblocking: SendFDs must not switch a file to blocking
// mode (as os.File.Fd would), or the file would lose deadline support.
func TestSendFDsKeepsNonblocking(t *testing.T) {
	a, b := pairConns(t, Stream)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	if err := a.SendFDs(nil, pr); err != nil {
		t.Fatal(err)
	}
	_, files, err := b.RecvFDs(make([]byte, 1), 1)
	if err != nil {
		t.Fatal(err)
	}
	closeFiles(files)
	if err := pr.SetReadDeadline(time.Now().Add(time.Millisecond)); err != nil {
		t.Fatalf("pipe lost deadline support: %v", err)
	}
	if _, err := pr.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read from the pipe: %v, want ErrDeadlineExceeded", err)
	}
}

func TestFileConnErrors(t *testing.T) {
	if _, err := FileConn(nil); err == nil {
		t.Error("FileConn(nil) succeeded")
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	if _, err := FileConn(pr); err == nil {
		t.Error("FileConn(pipe) succeeded")
	}
	if _, err := pr.Stat(); err == nil {
		t.Error("FileConn did not close the file it was given")
	}
}

func TestDialErrors(t *testing.T) {
	missing := sockPath(t, "missing.sock")
	for _, typ := range []Type{Stream, Datagram, SeqPacket} {
		if _, err := Dial(typ, missing); !errors.Is(err, unix.ENOENT) {
			t.Errorf("Dial(%v) to a missing socket: %v, want ENOENT", typ, err)
		}
	}
	if _, err := Dial(Type(4), missing); err == nil {
		t.Error("Dial(Type(4)) succeeded")
	}
	if _, _, err := Pair(Type(0)); err == nil {
		t.Error("Pair(Type(0)) succeeded")
	}
	if _, err := DialTimeout(Stream, abstractName(t, "nobody"), time.Second); !errors.Is(err, unix.ECONNREFUSED) {
		t.Errorf("Dial to an unbound abstract name: %v, want ECONNREFUSED", err)
	}
}
