package sockets

import (
	"fmt"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Dial connects to addr (a path or "@name") with a socket of type t.
//
// A Datagram socket is connected to addr and also bound to a kernel-chosen
// abstract address (Linux autobind), so the server can answer with
// WriteToUnix to the address ReadFromUnix returned.
func Dial(t Type, addr string) (*Conn, error) {
	return DialTimeout(t, addr, 0)
}

// DialTimeout is Dial with a timeout for the connection to be established
// (zero means none). Unix connects do not wait for the server to accept: a
// full backlog fails at once with EAGAIN.
func DialTimeout(t Type, addr string, d time.Duration) (*Conn, error) {
	if err := t.valid(); err != nil {
		return nil, err
	}
	if err := checkAddr(addr); err != nil {
		return nil, err
	}
	if t == Datagram {
		return dialDatagram(addr)
	}
	dl := net.Dialer{Timeout: d}
	c, err := dl.Dial(t.network(), addr)
	if err != nil {
		return nil, err
	}
	return &Conn{c.(*net.UnixConn)}, nil
}

// dialDatagram makes an autobound datagram socket connected to addr.
func dialDatagram(addr string) (*Conn, error) {
	opErr := func(err error) error {
		return &net.OpError{Op: "dial", Net: "unixgram", Addr: &net.UnixAddr{Name: addr, Net: "unixgram"}, Err: err}
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, opErr(os.NewSyscallError("socket", err))
	}
	// An empty address (sun_family only) asks for autobind.
	if err := unix.Bind(fd, &unix.SockaddrUnix{}); err != nil {
		unix.Close(fd)
		return nil, opErr(os.NewSyscallError("bind", err))
	}
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: addr}); err != nil {
		unix.Close(fd)
		return nil, opErr(os.NewSyscallError("connect", err))
	}
	return FileConn(os.NewFile(uintptr(fd), "unixgram:"+addr))
}

// FileConn makes a Conn from an inherited or received socket descriptor (for
// example fd 3 of a child given a socketpair end in exec.Cmd.ExtraFiles). It
// duplicates the descriptor and always closes f. f must be a Unix socket.
func FileConn(f *os.File) (*Conn, error) {
	if f == nil {
		return nil, fmt.Errorf("sockets: file conn: nil file")
	}
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("sockets: file conn %s: %w", f.Name(), err)
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("sockets: file conn %s: not a Unix socket (%s)", f.Name(), c.LocalAddr().Network())
	}
	return &Conn{uc}, nil
}
