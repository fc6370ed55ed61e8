package sysobj

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The sock_diag netlink interface for AF_UNIX (linux/unix_diag.h), which
// golang.org/x/sys does not define. It tells, for every Unix socket of the
// network namespace, the inode of its peer, the inodes of the clients
// queued on a listener, the file the socket is bound to, its queue lengths
// and its owner: what /proc/net/unix leaves out. Reading it changes
// nothing. Some kernels and sandboxes lack it (module unix_diag); callers
// then fall back to /proc/net/unix and say peers are unknown.

const (
	udiagShowName   = 0x01
	udiagShowVFS    = 0x02
	udiagShowPeer   = 0x04
	udiagShowIcons  = 0x08
	udiagShowRQLen  = 0x10
	udiagShowUID    = 0x40
	unixDiagName    = 0
	unixDiagVFS     = 1
	unixDiagPeer    = 2
	unixDiagIcons   = 3
	unixDiagRQLen   = 4
	unixDiagUID     = 7
	sizeofDiagReq   = 24
	sizeofDiagMsg   = 16
	tcpEstablished  = 1
	tcpSynSent      = 2
	tcpClose        = 7
	tcpListen       = 10
	diagRecvTimeout = 2 * time.Second
)

// unixDiagReq is struct unix_diag_req.
type unixDiagReq struct {
	Family   uint8
	Protocol uint8
	_        uint16
	States   uint32
	Ino      uint32
	Show     uint32
	Cookie   [2]uint32
}

// sockRecord is what the kernel says about one Unix socket.
type sockRecord struct {
	Inode     uint64
	Type      int // 1 stream, 2 dgram, 5 seqpacket
	State     string
	Listening bool
	Name      string  // "" unbound, "@x" abstract, else the path as bound
	VFS       *devIno // the file it is bound to (sock_diag only)
	Peer      uint64  // sock_diag only
	Icons     []uint64
	RQ, WQ    *uint32
	UID       int // -1 unknown
}

// unixSockets returns every Unix socket of the network namespace, from
// sock_diag when it answers (diag true), else from /proc/net/unix.
func unixSockets() (recs []sockRecord, diag bool, err error) {
	recs, derr := diagUnixSockets()
	if derr == nil {
		return recs, true, nil
	}
	data, err := os.ReadFile(procRoot + "/net/unix")
	if err != nil {
		return nil, false, fmt.Errorf("read /proc/net/unix: %w (and sock_diag: %v)", err, derr)
	}
	for _, u := range parseNetUnix(data) {
		recs = append(recs, sockRecord{
			Inode: u.Inode, Type: u.Type, State: ssName(u), Listening: u.listening(),
			Name: u.Path, UID: -1,
		})
	}
	return recs, false, nil
}

func ssName(u netUnix) string {
	if u.listening() {
		return "listening"
	}
	switch u.State {
	case ssUnconnected:
		return "unconnected"
	case ssConnecting:
		return "connecting"
	case ssConnected:
		return "connected"
	case ssDisconnecting:
		return "disconnecting"
	}
	return fmt.Sprintf("state %d", u.State)
}

func tcpStateName(s uint8) string {
	switch s {
	case tcpListen:
		return "listening"
	case tcpEstablished:
		return "connected"
	case tcpSynSent:
		return "connecting"
	case tcpClose:
		return "unconnected"
	}
	return fmt.Sprintf("state %d", s)
}

// diagUnixSockets dumps every Unix socket through sock_diag.
func diagUnixSockets() ([]sockRecord, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return nil, os.NewSyscallError("socket NETLINK_SOCK_DIAG", err)
	}
	defer unix.Close(fd)
	tv := unix.NsecToTimeval(diagRecvTimeout.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return nil, os.NewSyscallError("setsockopt SO_RCVTIMEO", err)
	}
	req := make([]byte, unix.SizeofNlMsghdr+sizeofDiagReq)
	hdr := (*unix.NlMsghdr)(unsafe.Pointer(&req[0]))
	*hdr = unix.NlMsghdr{
		Len:   uint32(len(req)),
		Type:  unix.SOCK_DIAG_BY_FAMILY,
		Flags: unix.NLM_F_REQUEST | unix.NLM_F_DUMP,
		Seq:   1,
	}
	*(*unixDiagReq)(unsafe.Pointer(&req[unix.SizeofNlMsghdr])) = unixDiagReq{
		Family: unix.AF_UNIX,
		States: ^uint32(0),
		Show:   udiagShowName | udiagShowVFS | udiagShowPeer | udiagShowIcons | udiagShowRQLen | udiagShowUID,
	}
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, os.NewSyscallError("sendto sock_diag", err)
	}
	var recs []sockRecord
	buf := make([]byte, 1<<16)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return nil, os.NewSyscallError("recvfrom sock_diag", err)
		}
		done, err := parseDiagBatch(buf[:n], &recs)
		if err != nil {
			return nil, err
		}
		if done {
			return recs, nil
		}
	}
}

// errDiag marks an answer of sock_diag that cannot be decoded.
var errDiag = errors.New("malformed sock_diag answer")

// parseDiagBatch decodes one datagram of netlink messages into recs and
// reports whether the dump is complete.
func parseDiagBatch(b []byte, recs *[]sockRecord) (bool, error) {
	for len(b) >= unix.SizeofNlMsghdr {
		l := int(binary.NativeEndian.Uint32(b[0:4]))
		typ := binary.NativeEndian.Uint16(b[4:6])
		if l < unix.SizeofNlMsghdr || l > len(b) {
			return false, errDiag
		}
		payload := b[unix.SizeofNlMsghdr:l]
		switch typ {
		case unix.NLMSG_DONE:
			return true, nil
		case unix.NLMSG_ERROR:
			if len(payload) >= 4 {
				if e := int32(binary.NativeEndian.Uint32(payload)); e < 0 {
					return false, os.NewSyscallError("sock_diag", unix.Errno(-e))
				}
			}
			return false, errDiag
		case unix.SOCK_DIAG_BY_FAMILY:
			if r, ok := parseDiagMsg(payload); ok {
				*recs = append(*recs, r)
			}
		}
		b = b[min(nlAlign(l), len(b)):]
	}
	return false, nil
}

func nlAlign(n int) int { return (n + 3) &^ 3 }

// parseDiagMsg decodes struct unix_diag_msg and its attributes.
func parseDiagMsg(p []byte) (sockRecord, bool) {
	if len(p) < sizeofDiagMsg {
		return sockRecord{}, false
	}
	r := sockRecord{
		Type:  int(p[1]),
		State: tcpStateName(p[2]),
		Inode: uint64(binary.NativeEndian.Uint32(p[4:8])),
		UID:   -1,
	}
	r.Listening = p[2] == tcpListen
	a := p[sizeofDiagMsg:]
	for len(a) >= 4 {
		l := int(binary.NativeEndian.Uint16(a[0:2]))
		typ := binary.NativeEndian.Uint16(a[2:4]) & 0x3fff
		if l < 4 || l > len(a) {
			break
		}
		v := a[4:l]
		switch typ {
		case unixDiagName:
			r.Name = sockName(v)
		case unixDiagVFS:
			if len(v) >= 8 {
				dev := binary.NativeEndian.Uint32(v[4:8]) // the kernel's dev_t: major<<20 | minor
				r.VFS = &devIno{Major: dev >> 20, Minor: dev & (1<<20 - 1), Ino: uint64(binary.NativeEndian.Uint32(v[0:4]))}
			}
		case unixDiagPeer:
			if len(v) >= 4 {
				r.Peer = uint64(binary.NativeEndian.Uint32(v))
			}
		case unixDiagIcons:
			for i := 0; i+4 <= len(v); i += 4 {
				r.Icons = append(r.Icons, uint64(binary.NativeEndian.Uint32(v[i:])))
			}
		case unixDiagRQLen:
			if len(v) >= 8 {
				rq, wq := binary.NativeEndian.Uint32(v[0:4]), binary.NativeEndian.Uint32(v[4:8])
				r.RQ, r.WQ = &rq, &wq
			}
		case unixDiagUID:
			if len(v) >= 4 {
				r.UID = int(binary.NativeEndian.Uint32(v))
			}
		}
		a = a[min(nlAlign(l), len(a)):]
	}
	return r, true
}

// sockName renders a sun_path: a path as is, an abstract name (leading
// NUL) as '@' and the name's bytes, later NULs included (/proc/net/unix
// shows those as '@', which loses them; sock_diag does not).
func sockName(v []byte) string {
	if len(v) == 0 {
		return ""
	}
	if v[0] == 0 {
		return "@" + string(v[1:]) // every byte, NULs included: the name is the whole address
	}
	return strings.TrimRight(string(v), "\x00")
}
