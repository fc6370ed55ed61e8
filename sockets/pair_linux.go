package sockets

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Pair returns the two ends of a connected socketpair of type t, as blocking,
// close-on-exec files: hand one to a child in exec.Cmd.ExtraFiles (it becomes
// fd 3+i there; close the parent's copy after Start) and wrap the other with
// FileConn, or use both with raw read/write syscalls.
func Pair(t Type) (a, b *os.File, err error) {
	if err := t.valid(); err != nil {
		return nil, nil, err
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, t.sotype()|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("sockets: %w", os.NewSyscallError("socketpair", err))
	}
	name := "socketpair:" + t.String()
	return os.NewFile(uintptr(fds[0]), name+":0"), os.NewFile(uintptr(fds[1]), name+":1"), nil
}

// PairConns returns the two ends of a connected socketpair of type t as
// Conns, for use inside one process (goroutines) or before handing a
// descriptor over with SendFDs.
func PairConns(t Type) (a, b *Conn, err error) {
	fa, fb, err := Pair(t)
	if err != nil {
		return nil, nil, err
	}
	if a, err = FileConn(fa); err != nil {
		fb.Close()
		return nil, nil, err
	}
	if b, err = FileConn(fb); err != nil {
		a.Close()
		return nil, nil, err
	}
	return a, b, nil
}
