package sysobj

import (
	"errors"
	"fmt"
	"os"
	"sort"

	"golang.org/x/sys/unix"
)

// InspectUnixSocket describes the Unix socket name path (a file path, or
// "@name" for the abstract namespace): whether a live socket is bound to
// it and listens, the processes holding each socket and the peer of each
// connection (when sock_diag answers), and whether the file is stale.
// It never connects: a probe would show up in the server as a connection.
func InspectUnixSocket(path string) (*UnixSocket, error) {
	name, err := parseSocketPath(path)
	if err != nil {
		return nil, err
	}
	t := Target{Type: TypeUnixSocket, ID: -1, Name: name}
	u := &UnixSocket{Type: TypeUnixSocket, Name: name, OwnerUID: -1, Sockets: []SocketEnd{}, Pending: []SocketEnd{}}
	var file *devIno
	if name[0] == '@' {
		u.Abstract = true
	} else {
		var st unix.Stat_t
		switch err := unix.Stat(name, &st); {
		case err == nil:
			u.FileExists = true
			u.FileIsSocket = st.Mode&unix.S_IFMT == unix.S_IFSOCK
			u.OwnerUID, u.Mode = int(st.Uid), modeString(st.Mode)
			file = ptr(devInoOf(&st))
		case errors.Is(err, unix.ENOENT):
		default:
			return nil, fmt.Errorf("%s: %w", t, &os.PathError{Op: "stat", Path: name, Err: err})
		}
		if u.FileExists && !u.FileIsSocket {
			return nil, invalidf("%s: %s is not a socket (%s)", t, name, fileKind(name))
		}
	}
	recs, diag, err := unixSockets()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t, err)
	}
	u.PeersKnown = diag
	if !diag {
		u.Warnings = append(u.Warnings, "the kernel's sock_diag interface for Unix sockets did not answer (module unix_diag missing, or a sandbox): the peer of each connection and the queued clients are unknown")
	}
	mine := matchSockets(recs, name, file)
	if len(mine) == 0 && !u.FileExists {
		return nil, notExist(t, "no such file and no socket bound to that name in this network namespace")
	}
	u.fill(mine, recs)
	for _, r := range mine {
		if r.Name != "" && r.Name[0] != '/' && r.Name[0] != '@' {
			u.Warnings = append(u.Warnings, fmt.Sprintf("the kernel reports this socket's name as %q, a relative name (bound relative to the working directory of the process that bound it): it was found by the device and inode of its file", EscapeName(r.Name)))
			break
		}
	}
	if u.Stale {
		u.Warnings = append(u.Warnings, "stale: the file is a socket but no socket in this network namespace is bound to it; connect(2) gets ECONNREFUSED (a server that died without unlinking it, or one in another network namespace)")
	}
	if u.Bound && !u.Abstract && !u.FileExists {
		u.Warnings = append(u.Warnings, "the socket is bound but its file was removed: nobody can connect to it by path any more")
	}
	if err := u.findHolders(); err != nil {
		return nil, err
	}
	u.Name = EscapeName(u.Name)
	return u, nil
}

// fileKind names the kind of file at path, for an error message.
func fileKind(path string) string {
	fi, err := os.Lstat(path)
	if err != nil {
		return "unknown"
	}
	switch m := fi.Mode(); {
	case m.IsRegular():
		return "a regular file"
	case m.IsDir():
		return "a directory"
	default:
		return m.Type().String()
	}
}

// matchSockets returns the sockets bound to name: by name, or by the
// bound file's identity when sock_diag tells it (which also catches a
// socket bound through a relative path).
func matchSockets(recs []sockRecord, name string, file *devIno) []sockRecord {
	var out []sockRecord
	for _, r := range recs {
		byFile := file != nil && r.VFS != nil && sameSocketFile(*r.VFS, *file)
		if r.Name == name || byFile {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Listening != out[j].Listening {
			return out[i].Listening
		}
		return out[i].Inode < out[j].Inode
	})
	return out
}

func sockTypeName(t int) string {
	switch t {
	case unix.SOCK_STREAM:
		return "stream"
	case unix.SOCK_DGRAM:
		return "dgram"
	case unix.SOCK_SEQPACKET:
		return "seqpacket"
	}
	return fmt.Sprintf("type %d", t)
}

// fill sets the socket ends and the flags from the kernel's records: mine
// are bound to the name, recs all the namespace's sockets.
func (u *UnixSocket) fill(mine, recs []sockRecord) {
	u.Bound = len(mine) > 0
	u.Stale = u.FileExists && u.FileIsSocket && !u.Bound
	ours := map[uint64]bool{}
	for _, r := range mine {
		ours[r.Inode] = true
	}
	for _, r := range mine {
		end := SocketEnd{Inode: r.Inode, State: r.State, PeerInode: r.Peer, RecvQueue: r.RQ, SendQueue: r.WQ}
		switch {
		case r.Listening:
			end.Role = "listener"
			u.Listening = true
			if r.RQ != nil {
				u.Backlog, u.MaxBacklog = int(*r.RQ), int(*r.WQ)
				end.RecvQueue, end.SendQueue = nil, nil // backlog, not bytes
			}
			for _, ino := range r.Icons {
				u.Pending = append(u.Pending, SocketEnd{Inode: ino, Role: "client", State: "connecting"})
			}
		case r.Type == unix.SOCK_STREAM || r.Type == unix.SOCK_SEQPACKET:
			end.Role = "accepted"
		default:
			end.Role = "bound"
		}
		if u.SocketType == "" {
			u.SocketType = sockTypeName(r.Type)
		}
		if u.OwnerUID < 0 && r.UID >= 0 {
			u.OwnerUID = r.UID
		}
		u.Sockets = append(u.Sockets, end)
	}
	// Clients of a bound datagram socket: sockets whose peer is one of
	// ours without being ours (a stream connection's client is already
	// the peer of its accepted end).
	for _, r := range recs {
		if r.Peer == 0 || !ours[r.Peer] || ours[r.Inode] {
			continue
		}
		for i := range u.Sockets {
			if u.Sockets[i].Inode == r.Peer && u.Sockets[i].Role == "bound" {
				u.Sockets = append(u.Sockets, SocketEnd{Inode: r.Inode, Role: "client", State: r.State, PeerInode: r.Peer})
				break
			}
		}
	}
}

// findHolders fills HeldBy and PeerHeldBy from the descriptors of every
// process.
func (u *UnixSocket) findHolders() error {
	m := newMatcher()
	m.sockets = map[uint64]string{}
	m.peers = map[uint64]string{}
	for _, e := range u.Sockets {
		if e.Role == "client" {
			m.peers[e.Inode] = "client of the bound socket"
			continue
		}
		m.sockets[e.Inode] = e.Role
		if e.PeerInode != 0 {
			m.peers[e.PeerInode] = fmt.Sprintf("peer of %s socket %d", e.Role, e.Inode)
		}
	}
	for _, e := range u.Pending {
		m.peers[e.Inode] = "client waiting to be accepted"
	}
	r, err := scanSockets(m)
	if err != nil {
		return err
	}
	for i := range u.Sockets {
		e := &u.Sockets[i]
		e.HeldBy = r.holdersOf(e.Inode)
		if e.PeerInode != 0 {
			e.PeerHeldBy = r.holdersOf(e.PeerInode)
		}
	}
	for i := range u.Pending {
		u.Pending[i].HeldBy = r.holdersOf(u.Pending[i].Inode)
	}
	u.hits = r.sorted()
	u.Warnings = appendNonEmpty(u.Warnings, r.warning())
	return nil
}

// sockScan maps socket inodes to the processes holding them.
type sockScan struct {
	*scanResult
	byInode map[uint64][]pidFD
}

type pidFD struct{ pid, fd int }

// scanSockets looks for the descriptors of m's socket and peer inodes in
// every process, and for the threads blocked on them.
func scanSockets(m *matcher) (*sockScan, error) {
	r, err := scan(m)
	if err != nil {
		return nil, err
	}
	s := &sockScan{scanResult: r, byInode: map[uint64][]pidFD{}}
	for pid, h := range r.hits {
		for _, ref := range h.sockRefs {
			s.byInode[ref.ino] = append(s.byInode[ref.ino], pidFD{pid, ref.fd})
		}
	}
	return s, nil
}

// holdersOf returns the processes holding socket ino, with their fds.
func (s *sockScan) holdersOf(ino uint64) []Holder {
	byPID := map[int][]int{}
	for _, ref := range s.byInode[ino] {
		byPID[ref.pid] = append(byPID[ref.pid], ref.fd)
	}
	out := []Holder{}
	for pid, fds := range byPID {
		p, ok := procOf(pid)
		if !ok {
			continue
		}
		sort.Ints(fds)
		h := Holder{Proc: p, How: []string{"open"}}
		for _, fd := range fds {
			h.Details = append(h.Details, fmt.Sprintf("fd %d", fd))
		}
		if hit := s.hits[pid]; hit != nil && hit.is("waiting") {
			h.How = append(h.How, "waiting")
			h.Details = append(h.Details, hit.detailsFor("waiting")...)
		}
		out = append(out, h)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PID < out[j].PID })
	return out
}
