package sockets

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/ipcplay/ipcplay/ipc/ipctest"
	"golang.org/x/sys/unix"
)

// Child-process entry points (see helpers in main_test.go). They exit 0 on
// success, or print the reason to stderr and exit 1.

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "helper: "+format+"\n", args...)
	os.Exit(1)
}

func check(what string, err error) {
	if err != nil {
		fail("%s: %v", what, err)
	}
}

// frameSizes are the payload sizes the stream echo exchanges: empty, small,
// and one above readChunk to take the chunked read path.
var frameSizes = []int{0, 1, 64, 4096, 100_000}

// msgSizes are the message sizes sent back-to-back on message sockets; the
// receiver must see exactly these boundaries.
var msgSizes = []int{1, 100, 5000}

// helperEchoClient: args type, addr [, id]. Dials the parent's server and
// checks that what it sends comes back unchanged, with boundaries on message
// sockets. With id, it first sets its uid and gid to id (needs root).
func helperEchoClient() {
	args := ipctest.Args()
	t, err := ParseType(args[0])
	check("parse type", err)
	if len(args) > 2 {
		id, err := strconv.Atoi(args[2])
		check("id", err)
		check("setgroups", syscall.Setgroups(nil))
		check("setgid", syscall.Setgid(id))
		check("setuid", syscall.Setuid(id))
	}
	c, err := Dial(t, args[1])
	check("dial", err)
	defer c.Close()
	check("deadline", c.SetDeadline(time.Now().Add(testTimeout)))
	if t == Stream {
		f := NewFramer(c, 0)
		for i, n := range frameSizes {
			want := pattern(n, byte(i))
			check("write frame", f.Write(want))
			got, err := f.Read()
			check("read frame", err)
			if !bytes.Equal(got, want) {
				fail("frame %d: got %d bytes, want %d", i, len(got), n)
			}
		}
		return
	}
	for i, n := range msgSizes {
		_, err := c.Write(pattern(n, byte(i)))
		check("write", err)
	}
	buf := make([]byte, 64<<10)
	for i, n := range msgSizes {
		m, err := c.Read(buf)
		check("read", err)
		if !bytes.Equal(buf[:m], pattern(n, byte(i))) {
			fail("message %d: got %d bytes, want %d (boundaries lost?)", i, m, n)
		}
	}
}

// helperPairPeer: args type. Talks to the parent over the socketpair end at
// fd 3: receives pairToChild, then sends pairToParent.
func helperPairPeer() {
	t, err := ParseType(ipctest.Args()[0])
	check("parse type", err)
	c, err := FileConn(os.NewFile(3, "pair"))
	check("file conn", err)
	defer c.Close()
	check("deadline", c.SetDeadline(time.Now().Add(testTimeout)))
	for i, want := range pairToChild() {
		got, err := recvMsg(t, c)
		check("receive", err)
		if !bytes.Equal(got, want) {
			fail("message %d from parent: got %d bytes, want %d", i, len(got), len(want))
		}
	}
	for _, m := range pairToParent() {
		check("send", sendMsg(t, c, m))
	}
}

func pairToChild() [][]byte  { return [][]byte{pattern(10, 1), pattern(1, 2), pattern(3000, 3)} }
func pairToParent() [][]byte { return [][]byte{[]byte("pong"), pattern(2000, 9)} }

// sendMsg and recvMsg exchange one message: a frame on a stream, a packet on
// the others (whose boundaries the kernel keeps).
func sendMsg(t Type, c *Conn, m []byte) error {
	if t == Stream {
		return WriteFrame(c, m, 0)
	}
	_, err := c.Write(m)
	return err
}

func recvMsg(t Type, c *Conn) ([]byte, error) {
	if t == Stream {
		return ReadFrame(c, 0)
	}
	buf := make([]byte, 64<<10)
	n, err := c.Read(buf)
	return buf[:n], err
}

const (
	fdsMemfdContent = "memfd content from the parent"
	fdsFileContent  = "regular file content"
	fdsChildMemfd   = "memfd content from the child"
	fdsParentReply  = "parent was here"
)

// helperFDsPeer: fd 3 is a stream socketpair end. Receives a memfd, the
// write end of a pipe and a regular file; writes what it read from the memfd
// and file to the pipe. Then sends the parent its own memfd and a pipe's
// write end, and expects fdsParentReply on the pipe.
func helperFDsPeer() {
	c, err := FileConn(os.NewFile(3, "pair"))
	check("file conn", err)
	defer c.Close()
	check("deadline", c.SetDeadline(time.Now().Add(testTimeout)))

	buf := make([]byte, 64)
	n, files, err := c.RecvFDs(buf, 8)
	check("receive fds", err)
	if string(buf[:n]) != "fds" || len(files) != 3 {
		fail("received %q with %d files, want \"fds\" with 3", buf[:n], len(files))
	}
	for _, f := range files {
		check("cloexec", checkCloexec(f))
	}
	memfd, pipeW, file := files[0], files[1], files[2]
	got := make([]byte, 100)
	n, err = memfd.ReadAt(got, 0)
	if err != nil && err != io.EOF {
		fail("read memfd: %v", err)
	}
	m := string(got[:n])
	n, err = file.ReadAt(got, 0)
	if err != nil && err != io.EOF {
		fail("read file: %v", err)
	}
	_, err = fmt.Fprintf(pipeW, "memfd=%s;file=%s", m, got[:n])
	check("write pipe", err)
	for _, f := range files {
		f.Close()
	}

	// Child to parent.
	mfd, err := unix.MemfdCreate("ipcplay-test", unix.MFD_CLOEXEC)
	check("memfd_create", err)
	mf := os.NewFile(uintptr(mfd), "memfd")
	defer mf.Close()
	_, err = mf.WriteString(fdsChildMemfd)
	check("write memfd", err)
	pr, pw, err := os.Pipe()
	check("pipe", err)
	defer pr.Close()
	check("send fds", c.SendFDs(nil, mf, pw))
	pw.Close()
	check("pipe deadline", pr.SetReadDeadline(time.Now().Add(testTimeout)))
	reply, err := io.ReadAll(pr)
	check("read pipe", err)
	if string(reply) != fdsParentReply {
		fail("pipe: got %q, want %q", reply, fdsParentReply)
	}
}

// checkCloexec reports an error unless f has FD_CLOEXEC set.
func checkCloexec(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var flags int
	var ferr error
	if err := rc.Control(func(fd uintptr) { flags, ferr = unix.FcntlInt(fd, unix.F_GETFD, 0) }); err != nil {
		return err
	}
	if ferr != nil {
		return ferr
	}
	if flags&unix.FD_CLOEXEC == 0 {
		return fmt.Errorf("%s: FD_CLOEXEC not set", f.Name())
	}
	return nil
}

// helperListenHold: args addr. Listens on addr, says "ready" on stdout and
// waits to be killed.
func helperListenHold() {
	l, err := Listen(Stream, ipctest.Args()[0])
	check("listen", err)
	defer l.Close()
	fmt.Println("ready")
	time.Sleep(testTimeout)
	fail("not killed within %v", testTimeout)
}

// helperEchoRaw: args size. Echoes size-byte messages on fd 3 (a blocking
// stream socket) with raw read/write syscalls until end of file.
func helperEchoRaw() {
	size, err := strconv.Atoi(ipctest.Args()[0])
	check("size", err)
	buf := make([]byte, size)
	for {
		if err := readFullFD(3, buf); err != nil {
			if errors.Is(err, io.EOF) {
				return
			}
			fail("read: %v", err)
		}
		check("write", writeFullFD(3, buf))
	}
}

// helperEchoConn: args size. As helperEchoRaw, through a Conn (the Go
// netpoller).
func helperEchoConn() {
	size, err := strconv.Atoi(ipctest.Args()[0])
	check("size", err)
	c, err := FileConn(os.NewFile(3, "pair"))
	check("file conn", err)
	buf := make([]byte, size)
	for {
		if _, err := io.ReadFull(c, buf); err != nil {
			if errors.Is(err, io.EOF) {
				return
			}
			fail("read: %v", err)
		}
		_, err := c.Write(buf)
		check("write", err)
	}
}

// readFullFD fills buf from a blocking descriptor; io.EOF if the peer closed
// before the first byte, io.ErrUnexpectedEOF after it.
func readFullFD(fd int, buf []byte) error {
	for got := 0; got < len(buf); {
		n, err := unix.Read(fd, buf[got:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return os.NewSyscallError("read", err)
		}
		if n == 0 {
			if got == 0 {
				return io.EOF
			}
			return io.ErrUnexpectedEOF
		}
		got += n
	}
	return nil
}

// writeFullFD writes all of buf to a blocking descriptor.
func writeFullFD(fd int, buf []byte) error {
	for len(buf) > 0 {
		n, err := unix.Write(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return os.NewSyscallError("write", err)
		}
		buf = buf[n:]
	}
	return nil
}
