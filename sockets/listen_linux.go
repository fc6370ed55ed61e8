package sockets

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Listen listens for connections on addr with a Stream or SeqPacket socket.
// addr is a path or an abstract name ("@name"); see the package
// documentation for the checks made on a path (private directory, stale
// socket replacement, mode 0600, removal on Close).
//
// Errors match ErrPathTooLong, ErrInsecureDir, ErrInUse (something answers
// there) or ErrNotSocket (a file that is not a socket is in the way).
func Listen(t Type, addr string) (*Listener, error) {
	if err := t.valid(); err != nil {
		return nil, err
	}
	if t == Datagram {
		return nil, fmt.Errorf("sockets: listen %s: datagram sockets accept no connections; use ListenPacket", addr)
	}
	if err := checkAddr(addr); err != nil {
		return nil, err
	}
	if !isAbstract(addr) {
		if err := preparePath(t, addr); err != nil {
			return nil, err
		}
	}
	lc := net.ListenConfig{Control: chmodBeforeBind}
	nl, err := lc.Listen(context.Background(), t.network(), addr)
	if err != nil {
		return nil, bindError(addr, err)
	}
	ul := nl.(*net.UnixListener)
	ul.SetUnlinkOnClose(false)
	l := &Listener{ul: ul, typ: t, addr: addr}
	if !isAbstract(addr) {
		if l.file, err = finishPath(addr); err != nil {
			ul.Close()
			return nil, err
		}
	}
	return l, nil
}

// Accept waits for and returns the next connection. After Close it returns
// an error matching net.ErrClosed.
func (l *Listener) Accept() (*Conn, error) {
	c, err := l.ul.AcceptUnix()
	if err != nil {
		return nil, err
	}
	return &Conn{c}, nil
}

// Addr returns the address given to Listen.
func (l *Listener) Addr() string { return l.addr }

// Type returns the socket type given to Listen.
func (l *Listener) Type() Type { return l.typ }

// SetDeadline sets the deadline for Accept; the zero time means none.
func (l *Listener) SetDeadline(t time.Time) error { return l.ul.SetDeadline(t) }

// Close stops listening and removes the socket file, if it is still the one
// Listen created. Accept calls in progress return. Close is idempotent.
func (l *Listener) Close() error {
	l.closeOnce.Do(func() {
		uerr := unlinkIfOurs(l.addr, l.file)
		l.closeErr = errors.Join(l.ul.Close(), uerr)
	})
	return l.closeErr
}

// ListenPacket binds a datagram socket at addr, with the same checks as
// Listen. Read with ReadFromUnix and answer with WriteToUnix: clients made by
// Dial(Datagram, ...) have an address to answer to. Close removes the socket
// file.
func ListenPacket(addr string) (*PacketConn, error) {
	if err := checkAddr(addr); err != nil {
		return nil, err
	}
	if !isAbstract(addr) {
		if err := preparePath(Datagram, addr); err != nil {
			return nil, err
		}
	}
	lc := net.ListenConfig{Control: chmodBeforeBind}
	pc, err := lc.ListenPacket(context.Background(), Datagram.network(), addr)
	if err != nil {
		return nil, bindError(addr, err)
	}
	c := &PacketConn{UnixConn: pc.(*net.UnixConn), addr: addr}
	if !isAbstract(addr) {
		if c.file, err = finishPath(addr); err != nil {
			pc.Close()
			return nil, err
		}
	}
	return c, nil
}

// Addr returns the address given to ListenPacket.
func (c *PacketConn) Addr() string { return c.addr }

// Close closes the socket and removes its file, if it is still the one
// ListenPacket created. Close is idempotent.
func (c *PacketConn) Close() error {
	c.closeOnce.Do(func() {
		uerr := unlinkIfOurs(c.addr, c.file)
		c.closeErr = errors.Join(c.UnixConn.Close(), uerr)
	})
	return c.closeErr
}

// preparePath checks the directory of a socket path and clears the way for
// bind: nothing there, or a stale socket (removed), or an error.
func preparePath(t Type, path string) error {
	if err := checkPrivateDir(filepath.Dir(path)); err != nil {
		return err
	}
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sockets: listen %s: %w", path, err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("%w: %s is a %s; refusing to replace it", ErrNotSocket, path, fileKind(fi.Mode()))
	}
	live, err := probe(t, path)
	if err != nil {
		return fmt.Errorf("sockets: listen %s: probe existing socket: %w", path, err)
	}
	if live {
		return fmt.Errorf("%w: %s: another process is listening there", ErrInUse, path)
	}
	// Stale: nobody is bound to it (its owner died without removing it).
	if err := unlinkIfOurs(path, idOf(fi)); err != nil {
		return fmt.Errorf("sockets: listen %s: remove stale socket: %w", path, err)
	}
	return nil
}

// probe connects to the socket file at path and reports whether some socket
// is bound to it. The connect is non-blocking: it never waits on a full
// backlog.
func probe(t Type, path string) (live bool, err error) {
	fd, err := unix.Socket(unix.AF_UNIX, t.sotype()|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return false, os.NewSyscallError("socket", err)
	}
	defer unix.Close(fd)
	switch err := unix.Connect(fd, &unix.SockaddrUnix{Name: path}); err {
	case nil, unix.EAGAIN, unix.EINPROGRESS:
		return true, nil // connected, or a full backlog
	case unix.EPROTOTYPE, unix.EPERM:
		return true, nil // a live socket of another type, or a connected datagram socket
	case unix.ECONNREFUSED, unix.ENOENT:
		return false, nil // nobody bound, or already gone
	default:
		return false, os.NewSyscallError("connect", err)
	}
}

// chmodBeforeBind narrows the socket inode to 0600 before bind: Linux creates
// the socket file with the inode's mode minus the umask, so the file is
// never wider than 0600, without touching the process-wide umask. Best
// effort: the private directory already keeps others out, and finishPath
// chmods the file after bind.
func chmodBeforeBind(_, _ string, c syscall.RawConn) error {
	return c.Control(func(fd uintptr) { _ = unix.Fchmod(int(fd), 0o600) })
}

// finishPath makes sure the socket file just bound is 0600 and returns its
// identity. On failure it removes the file.
func finishPath(path string) (fileID, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return fileID{}, fmt.Errorf("sockets: listen %s: %w", path, err)
	}
	id := idOf(fi)
	if fi.Mode().Type() != fs.ModeSocket {
		return fileID{}, fmt.Errorf("sockets: listen %s: bound file is a %s", path, fileKind(fi.Mode()))
	}
	if fi.Mode().Perm() != 0o600 {
		if err := os.Chmod(path, 0o600); err != nil {
			_ = unlinkIfOurs(path, id)
			return fileID{}, fmt.Errorf("sockets: listen %s: %w", path, err)
		}
	}
	return id, nil
}

func idOf(fi fs.FileInfo) fileID {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}
	}
	return fileID{dev: uint64(st.Dev), ino: st.Ino}
}

// unlinkIfOurs removes the socket file at path if it is still the file id.
// A missing file is not an error.
func unlinkIfOurs(path string, id fileID) error {
	if id.zero() {
		return nil
	}
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sockets: unlink %s: %w", path, err)
	}
	if idOf(fi) != id || fi.Mode().Type() != fs.ModeSocket {
		return nil // replaced by someone else's file: not ours to remove
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("sockets: %w", err)
	}
	return nil
}

// bindError explains a failed listen.
func bindError(addr string, err error) error {
	if errors.Is(err, unix.EADDRINUSE) {
		return fmt.Errorf("%w: %s is bound by another socket (%w)", ErrInUse, addr, unix.EADDRINUSE)
	}
	return fmt.Errorf("sockets: %w", err)
}
