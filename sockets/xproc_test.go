package sockets

import (
	"errors"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipcplay/ipcplay/ipc/ipctest"
	"golang.org/x/sys/unix"
)

// Cross-process tests: the peer is the test binary re-executed as a helper
// (helpers_test.go).

func TestEchoAcrossProcess(t *testing.T) {
	for _, typ := range []Type{Stream, Datagram, SeqPacket} {
		for _, abstract := range []bool{false, true} {
			name := typ.String() + "/path"
			if abstract {
				name = typ.String() + "/abstract"
			}
			t.Run(name, func(t *testing.T) {
				addr := sockPath(t, "echo.sock")
				if abstract {
					addr = abstractName(t, "echo."+typ.String())
				}
				if typ == Datagram {
					serveDatagramEcho(t, addr)
					return
				}
				serveEcho(t, typ, addr)
			})
		}
	}
}

// serveEcho listens on addr, runs the echo-client helper and echoes what it
// sends, checking its credentials.
func serveEcho(t *testing.T, typ Type, addr string) {
	l, err := Listen(typ, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cmd := ipctest.Helper(t, "echo-client", typ.String(), addr)
	startHelper(t, cmd)
	deadline(t, l)
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	deadline(t, c)

	cred, err := c.PeerCred()
	if err != nil {
		t.Fatal(err)
	}
	if want := (Cred{PID: cmd.Process.Pid, UID: os.Getuid(), GID: os.Getgid()}); cred != want {
		t.Errorf("PeerCred = %+v, want %+v (the child)", cred, want)
	}

	var got []int
	if typ == Stream {
		f := NewFramer(c, 0)
		for {
			p, err := f.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("read frame: %v", err)
			}
			got = append(got, len(p))
			if err := f.Write(p); err != nil {
				t.Fatalf("write frame: %v", err)
			}
		}
		mustEqualInts(t, "frame sizes", got, frameSizes)
	} else {
		buf := make([]byte, 64<<10)
		for {
			n, err := c.Read(buf)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			got = append(got, n)
			if _, err := c.Write(buf[:n]); err != nil {
				t.Fatalf("write: %v", err)
			}
		}
		mustEqualInts(t, "message sizes (boundaries)", got, msgSizes)
	}
	waitHelper(t, cmd)
}

// serveDatagramEcho binds a datagram socket at addr and answers each of the
// echo-client helper's datagrams to its (autobound) address.
func serveDatagramEcho(t *testing.T, addr string) {
	pc, err := ListenPacket(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	cmd := ipctest.Helper(t, "echo-client", Datagram.String(), addr)
	startHelper(t, cmd)
	deadline(t, pc)
	buf := make([]byte, 64<<10)
	var got []int
	for range msgSizes {
		n, from, err := pc.ReadFromUnix(buf)
		if err != nil {
			t.Fatal(err)
		}
		if from == nil || !strings.HasPrefix(from.Name, "@") {
			t.Fatalf("datagram from %v: want an autobound abstract address", from)
		}
		got = append(got, n)
		if _, err := pc.WriteToUnix(buf[:n], from); err != nil {
			t.Fatal(err)
		}
	}
	mustEqualInts(t, "datagram sizes", got, msgSizes)
	waitHelper(t, cmd)
}

func mustEqualInts(t testing.TB, what string, got, want []int) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: got %v, want %v", what, got, want)
		}
	}
}

// TestPeerCredOtherUser checks that PeerCred reports the child's own uid and
// gid, not the parent's: as root, the child drops to nobody before dialing.
func TestPeerCredOtherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the child as another uid (TestEchoAcrossProcess covers same-uid credentials)")
	}
	const nobody = 65534
	addr := abstractName(t, "cred") // no file permissions in the way
	l, err := Listen(Stream, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cmd := ipctest.Helper(t, "echo-client", Stream.String(), addr, strconv.Itoa(nobody))
	startHelper(t, cmd)
	deadline(t, l)
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	deadline(t, c)
	cred, err := c.PeerCred()
	if err != nil {
		t.Fatal(err)
	}
	if want := (Cred{PID: cmd.Process.Pid, UID: nobody, GID: nobody}); cred != want {
		t.Errorf("PeerCred = %+v, want %+v", cred, want)
	}
	f := NewFramer(c, 0)
	for {
		p, err := f.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	waitHelper(t, cmd)
}

// TestSocketpairExtraFiles hands a socketpair end to a child as fd 3; the
// child rebuilds it with FileConn. Message sockets keep boundaries of
// messages sent back-to-back.
func TestSocketpairExtraFiles(t *testing.T) {
	for _, typ := range []Type{Stream, Datagram, SeqPacket} {
		t.Run(typ.String(), func(t *testing.T) {
			a, b, err := Pair(typ)
			if err != nil {
				t.Fatal(err)
			}
			cmd := ipctest.Helper(t, "pair-peer", typ.String())
			cmd.ExtraFiles = []*os.File{b}
			startHelper(t, cmd)
			b.Close()
			c, err := FileConn(a)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			deadline(t, c)
			for _, m := range pairToChild() {
				if err := sendMsg(typ, c, m); err != nil {
					t.Fatal(err)
				}
			}
			for i, want := range pairToParent() {
				got, err := recvMsg(typ, c)
				if err != nil {
					t.Fatal(err)
				}
				mustEqual(t, "message "+strconv.Itoa(i)+" from child", got, want)
			}
			waitHelper(t, cmd)
		})
	}
}

// TestSCMRightsAcrossProcess passes a memfd, a pipe's write end and a regular
// file to a child, then receives a memfd and a pipe end from it.
func TestSCMRightsAcrossProcess(t *testing.T) {
	a, b, err := Pair(Stream)
	if err != nil {
		t.Fatal(err)
	}
	cmd := ipctest.Helper(t, "fds-peer")
	cmd.ExtraFiles = []*os.File{b}
	startHelper(t, cmd)
	b.Close()
	c, err := FileConn(a)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	deadline(t, c)

	memfd := newMemfd(t, fdsMemfdContent)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	file, err := os.CreateTemp(t.TempDir(), "fds")
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	if _, err := file.WriteString(fdsFileContent); err != nil {
		t.Fatal(err)
	}
	if err := c.SendFDs([]byte("fds"), memfd, pw, file); err != nil {
		t.Fatal(err)
	}
	pw.Close() // the child holds the only write end now
	if err := pr.SetReadDeadline(time.Now().Add(testTimeout)); err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(pr)
	if err != nil {
		t.Fatal(err)
	}
	if want := "memfd=" + fdsMemfdContent + ";file=" + fdsFileContent; string(out) != want {
		t.Fatalf("child wrote %q to the pipe, want %q", out, want)
	}

	// Child to parent, with an empty message (sent as one 0 byte).
	buf := make([]byte, 16)
	n, files, err := c.RecvFDs(buf, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer closeFiles(files)
	if n != 1 || buf[0] != 0 || len(files) != 2 {
		t.Fatalf("received %q with %d files, want one 0 byte with 2 files", buf[:n], len(files))
	}
	for _, f := range files {
		if err := checkCloexec(f); err != nil {
			t.Error(err)
		}
	}
	got := make([]byte, 100)
	m, err := files[0].ReadAt(got, 0)
	if err != nil && err != io.EOF {
		t.Fatal(err)
	}
	if string(got[:m]) != fdsChildMemfd {
		t.Fatalf("child's memfd holds %q, want %q", got[:m], fdsChildMemfd)
	}
	if _, err := files[1].WriteString(fdsParentReply); err != nil {
		t.Fatal(err)
	}
	files[1].Close()
	waitHelper(t, cmd)
}

// newMemfd returns a memfd holding content, closed at the end of the test.
func newMemfd(t testing.TB, content string) *os.File {
	t.Helper()
	fd, err := unix.MemfdCreate("ipcplay-test", unix.MFD_CLOEXEC)
	if err != nil {
		t.Fatal(os.NewSyscallError("memfd_create", err))
	}
	f := os.NewFile(uintptr(fd), "memfd")
	t.Cleanup(func() { f.Close() })
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
	return f
}

func closeFiles(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

// TestStaleSocketAfterKill: a listener killed with SIGKILL leaves its socket
// file; while it lives Listen says ErrInUse, afterwards Listen replaces it.
func TestStaleSocketAfterKill(t *testing.T) {
	path := sockPath(t, "hold.sock")
	cmd := ipctest.Helper(t, "listen-hold", path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	startHelper(t, cmd)
	ready := make(chan string, 1)
	go func() {
		b := make([]byte, 6)
		n, _ := io.ReadFull(out, b)
		ready <- string(b[:n])
	}()
	select {
	case s := <-ready:
		if s != "ready\n" {
			t.Fatalf("helper said %q, want ready", s)
		}
	case <-time.After(testTimeout):
		t.Fatal("helper not ready")
	}

	if l, err := Listen(Stream, path); !errors.Is(err, ErrInUse) {
		if l != nil {
			l.Close()
		}
		t.Fatalf("Listen on a live socket: err = %v, want ErrInUse", err)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err == nil {
		t.Fatal("killed helper exited 0")
	}
	if fi, err := os.Lstat(path); err != nil || fi.Mode().Type() != os.ModeSocket {
		t.Fatalf("after SIGKILL the socket file should remain: %v %v", fi, err)
	}
	l, err := Listen(Stream, path)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket file after Close: %v", err)
	}
}
