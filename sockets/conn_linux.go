package sockets

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// maxFDsPerMsg is the kernel's limit on descriptors in one SCM_RIGHTS
// message (SCM_MAX_FD).
const maxFDsPerMsg = 253

// PeerCred returns the credentials of the peer process (SO_PEERCRED): the
// process that connected, or that called socketpair, when it did so.
func (c *Conn) PeerCred() (Cred, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return Cred{}, fmt.Errorf("sockets: peer credentials: %w", err)
	}
	var uc *unix.Ucred
	var gerr error
	if err := rc.Control(func(fd uintptr) {
		uc, gerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return Cred{}, fmt.Errorf("sockets: peer credentials: %w", err)
	}
	if gerr != nil {
		return Cred{}, fmt.Errorf("sockets: peer credentials: %w", os.NewSyscallError("getsockopt", gerr))
	}
	return Cred{PID: int(uc.Pid), UID: int(uc.Uid), GID: int(uc.Gid)}, nil
}

// SendFDs sends msg together with the descriptors of files (SCM_RIGHTS) in
// one message. An empty msg is sent as a single 0 byte: the kernel needs at
// least one byte of data to carry descriptors. The files stay open in the
// sender; close them when the receiver has them. On a stream socket, a
// message the kernel takes only in part is completed with further writes
// (the descriptors travel with the first byte).
func (c *Conn) SendFDs(msg []byte, files ...*os.File) error {
	if len(msg) == 0 {
		msg = []byte{0}
	}
	if len(files) > maxFDsPerMsg {
		return fmt.Errorf("sockets: send fds: %d descriptors, limit %d per message", len(files), maxFDsPerMsg)
	}
	err := withFDs(files, make([]int, 0, len(files)), func(fds []int) error {
		var oob []byte
		if len(fds) > 0 {
			oob = unix.UnixRights(fds...)
		}
		n, _, err := c.WriteMsgUnix(msg, oob, nil)
		if err != nil {
			return err
		}
		if n < len(msg) {
			_, err = c.Write(msg[n:])
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("sockets: send fds: %w", err)
	}
	return nil
}

// withFDs calls fn with the descriptors of files, keeping each file from
// being closed meanwhile. Unlike os.File.Fd it does not switch the files to
// blocking mode.
func withFDs(files []*os.File, fds []int, fn func([]int) error) error {
	if len(files) == 0 {
		return fn(fds)
	}
	f := files[0]
	if f == nil {
		return errors.New("nil file")
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return fmt.Errorf("%s: %w", f.Name(), err)
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) {
		ferr = withFDs(files[1:], append(fds, int(fd)), fn)
	}); err != nil {
		return fmt.Errorf("%s: %w", f.Name(), err)
	}
	return ferr
}

// RecvFDs receives one message into buf with up to maxFDs descriptors
// (SCM_RIGHTS), returned as files with close-on-exec set (MSG_CMSG_CLOEXEC).
// buf must not be empty. It honours the read deadline.
//
// If more descriptors arrived than maxFDs allows, or (on datagram and
// seqpacket sockets) the message was longer than buf, every descriptor
// received is closed and the error matches ErrTruncated; n still counts the
// bytes placed in buf. On a stream socket a peer that closed yields io.EOF.
func (c *Conn) RecvFDs(buf []byte, maxFDs int) (n int, files []*os.File, err error) {
	if len(buf) == 0 {
		return 0, nil, errors.New("sockets: receive fds: empty buffer")
	}
	if maxFDs < 0 || maxFDs > maxFDsPerMsg {
		return 0, nil, fmt.Errorf("sockets: receive fds: maxFDs %d out of range 0..%d", maxFDs, maxFDsPerMsg)
	}
	var oob []byte
	if maxFDs > 0 {
		oob = make([]byte, unix.CmsgSpace(maxFDs*4))
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, nil, fmt.Errorf("sockets: receive fds: %w", err)
	}
	var oobn, flags, sotype int
	var rerr error
	err = rc.Read(func(fd uintptr) bool {
		for {
			n, oobn, flags, _, rerr = unix.Recvmsg(int(fd), buf, oob, unix.MSG_CMSG_CLOEXEC)
			if rerr != unix.EINTR {
				break
			}
		}
		if rerr == unix.EAGAIN {
			return false // wait for the poller
		}
		if rerr == nil && n == 0 && oobn == 0 {
			sotype, _ = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TYPE)
		}
		return true
	})
	if err == nil && rerr != nil {
		err = os.NewSyscallError("recvmsg", rerr)
	}
	if err != nil {
		return 0, nil, fmt.Errorf("sockets: receive fds: %w", err)
	}
	fds, perr := parseRights(oob[:oobn])
	switch {
	case perr != nil:
		err = fmt.Errorf("sockets: receive fds: %w", perr)
	case flags&unix.MSG_CTRUNC != 0:
		err = fmt.Errorf("sockets: receive fds: %w: control data: more than %d descriptors sent; closed the %d received",
			ErrTruncated, maxFDs, len(fds))
	case flags&unix.MSG_TRUNC != 0:
		err = fmt.Errorf("sockets: receive fds: %w: message longer than the %d-byte buffer", ErrTruncated, len(buf))
	}
	if err != nil {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return n, nil, err
	}
	if n == 0 && oobn == 0 && sotype != unix.SOCK_DGRAM {
		return 0, nil, io.EOF
	}
	if len(fds) > 0 {
		files = make([]*os.File, len(fds))
		for i, fd := range fds {
			files[i] = os.NewFile(uintptr(fd), "scm_rights:"+strconv.Itoa(fd))
		}
	}
	return n, files, nil
}

// parseRights returns every descriptor in SCM_RIGHTS control messages.
func parseRights(oob []byte) ([]int, error) {
	if len(oob) == 0 {
		return nil, nil
	}
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("parse control data: %w", err)
	}
	var fds []int
	for i := range msgs {
		if msgs[i].Header.Level != unix.SOL_SOCKET || msgs[i].Header.Type != unix.SCM_RIGHTS {
			continue
		}
		got, err := unix.ParseUnixRights(&msgs[i])
		if err != nil {
			return fds, fmt.Errorf("parse control data: %w", err)
		}
		fds = append(fds, got...)
	}
	return fds, nil
}
