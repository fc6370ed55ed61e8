package sysobj

import (
	"errors"
	"fmt"
	"sort"

	"golang.org/x/sys/unix"

	"github.com/ipcplay/ipcplay/semaphore"
)

// Status is the live state of one object, what `ipcplay watch` shows.
// Only the fields of the object's type are set.
type Status struct {
	Object
	Values      []int    `json:"values,omitempty"`       // sysv-sem
	NCnt        []int    `json:"ncnt,omitempty"`         // sysv-sem
	ZCnt        []int    `json:"zcnt,omitempty"`         // sysv-sem
	Value       *uint32  `json:"value,omitempty"`        // posix-sem, kept by glibc in user memory
	Waiters     *uint32  `json:"waiters,omitempty"`      // posix-sem, kept by glibc: its count of blocked sem_wait callers
	LibraryKept []string `json:"library_kept,omitempty"` // the fields above that come from user memory, not the kernel
	NAttch      *int     `json:"nattch,omitempty"`       // shm (posix: processes mapping it)
	Messages    *int64   `json:"messages,omitempty"`     // sysv-msg, posix-mq
	Bytes       *int64   `json:"bytes,omitempty"`        // sysv-msg, posix-mq
	Listening   *bool    `json:"listening,omitempty"`
	Connections *int     `json:"connections,omitempty"` // unix-socket: accepted connections
	Backlog     *int     `json:"backlog,omitempty"`     // unix-socket: waiting to be accepted
	Partial     bool     `json:"partial,omitempty"`     // some processes could not be examined: NAttch is a lower bound
	Gone        bool     `json:"gone,omitempty"`        // a named target that no longer exists
	Error       string   `json:"error,omitempty"`       // why the state could not be read
}

// Selection says what Snapshot looks at: named objects, and every object
// of some types. Empty, it means every object except Unix sockets (a
// machine has many, and they are rarely what one watches; select the type
// unix-socket to see them).
type Selection struct {
	Targets []Target
	Types   []string
}

// Snapshot reads the state of the selected objects, with the same sources
// and permissions as List and Inspect*. Partial failures (List's) come
// back in err next to the statuses that could be read.
func Snapshot(sel Selection) ([]Status, error) {
	types := sel.Types
	if len(sel.Targets) == 0 && len(types) == 0 {
		for _, t := range Types {
			if t != TypeUnixSocket {
				types = append(types, t)
			}
		}
	}
	need := append([]string(nil), types...)
	for _, t := range sel.Targets {
		need = append(need, t.Type)
	}
	recs, listErr := listRecords(need)
	wantType := map[string]bool{}
	for _, t := range types {
		wantType[t] = true
	}
	byKey := map[string]record{}
	var chosen []record
	for _, r := range recs {
		byKey[r.Target().String()] = r
		if r.sock != nil && r.sock.vfs != nil {
			// A socket is found by its file, whatever name (relative, or
			// the target's spelling) the kernel reports.
			byKey[sockFileKey(*r.sock.vfs)] = r
		}
		if wantType[r.Type] {
			chosen = append(chosen, r)
		}
	}
	var out []Status
	seen := map[string]bool{}
	for _, r := range chosen {
		seen[r.Target().String()] = true
	}
	for _, t := range sel.Targets {
		k := t.String()
		if seen[k] {
			continue
		}
		seen[k] = true
		if r, ok := byKey[k]; ok {
			chosen = append(chosen, r)
			continue
		}
		if t.Type == TypeUnixSocket && t.Name != "" && t.Name[0] == '/' {
			var st unix.Stat_t
			if unix.Stat(t.Name, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFSOCK {
				fi := devInoOf(&st)
				fi.Ino &= 0xffffffff
				if r, ok := byKey[sockFileKey(fi)]; ok {
					if !seen[r.Target().String()] {
						seen[r.Target().String()] = true
						chosen = append(chosen, r)
					}
					continue
				}
			}
		}
		if t.Type == TypePOSIXMQ && errors.Is(listErr, ErrMqueueNotMounted) {
			chosen = append(chosen, record{Object: Object{Type: t.Type, ID: -1, Name: t.Name, OwnerUID: -1}})
			continue
		}
		out = append(out, Status{Object: Object{Type: t.Type, ID: t.ID, Name: t.Name, OwnerUID: -1}, Gone: true})
	}
	var maps *mapIndex
	for _, r := range chosen {
		if r.Type == TypePOSIXShm && maps == nil {
			maps = ptr(indexShmMaps())
		}
		out = append(out, status(r, maps))
	}
	sort.SliceStable(out, func(i, j int) bool { return lessObject(out[i].Object, out[j].Object) })
	for i := range out {
		out[i].Name = EscapeName(out[i].Name)
	}
	// A queue named explicitly is read without the mount: the missing
	// mount is a failure only when all queues were asked for.
	return out, dropMqueueErr(listErr, wantType[TypePOSIXMQ])
}

// sockFileKey is the Snapshot key of a socket bound to file f.
func sockFileKey(f devIno) string {
	return fmt.Sprintf("unix-socket file %d:%d:%d", f.Major, f.Minor, f.Ino)
}

// dropMqueueErr removes ErrMqueueNotMounted from err unless keep.
func dropMqueueErr(err error, keep bool) error {
	if err == nil || keep {
		return err
	}
	var kept []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			if !errors.Is(e, ErrMqueueNotMounted) {
				kept = append(kept, e)
			}
		}
		return errors.Join(kept...)
	}
	if errors.Is(err, ErrMqueueNotMounted) {
		return nil
	}
	return err
}

// indexShmMaps indexes the mappings of /dev/shm files and System V
// segments of every process.
func indexShmMaps() mapIndex {
	var st unix.Stat_t
	devs := map[[2]uint32]bool{}
	if unix.Stat(shmDir, &st) == nil {
		devs[[2]uint32{unix.Major(st.Dev), unix.Minor(st.Dev)}] = true
	}
	return indexMaps(devs)
}

// status reads the live state of r.
func status(r record, maps *mapIndex) Status {
	s := Status{Object: r.Object}
	fail := func(err error) Status {
		if errors.Is(err, ErrNotExist) {
			s.Gone = true
		} else {
			s.Error = errText(err)
		}
		return s
	}
	switch r.Type {
	case TypeSysVSem:
		n := int(r.Size)
		vals := make([]uint16, n)
		if err := semctlGetAll(r.ID, vals); err != nil {
			return fail(sysvErr(r.Target(), "semctl GETALL", err))
		}
		s.Values, s.NCnt, s.ZCnt = make([]int, n), make([]int, n), make([]int, n)
		for i := range n {
			s.Values[i] = int(vals[i])
			var err error
			if s.NCnt[i], err = semctlInt(r.ID, i, cmdGETNCNT); err != nil {
				return fail(sysvErr(r.Target(), "semctl GETNCNT", err))
			}
			if s.ZCnt[i], err = semctlInt(r.ID, i, cmdGETZCNT); err != nil {
				return fail(sysvErr(r.Target(), "semctl GETZCNT", err))
			}
		}
	case TypeSysVShm:
		s.NAttch = ptr(r.nattch)
	case TypeSysVMsg:
		s.Messages, s.Bytes = ptr(r.messages), ptr(r.Size)
	case TypePOSIXShm:
		var st unix.Stat_t
		if err := unix.Stat(posixPath(r.Type, r.Name), &st); err != nil {
			return fail(notExist(r.Target(), ""))
		}
		s.NAttch = ptr(len(maps.files[devInoOf(&st)]))
		s.Partial = maps.denied > 0
	case TypePOSIXSem:
		t := r.Target()
		fd, st, err := openPOSIX(t, posixPath(r.Type, r.Name))
		if err != nil {
			return fail(err)
		}
		defer unix.Close(fd)
		if st.Size < semaphore.UnnamedSize {
			return fail(fmt.Errorf("%d bytes: not a glibc semaphore", st.Size))
		}
		var v, w uint32
		if err := withMapping(fd, 0, semaphore.UnnamedSize, func(b []byte) { v, w, _ = semaphore.DecodeGlibc(b) }); err != nil {
			return fail(err)
		}
		s.Value, s.Waiters, s.LibraryKept = &v, &w, []string{"value", "waiters"}
	case TypePOSIXMQ:
		q, st, err := readMQ(r.Target())
		if err != nil {
			return fail(err)
		}
		s.Messages, s.Bytes = &q.Messages, &q.Bytes
		s.Size, s.OwnerUID, s.Mode = max(q.Bytes, 0), int(st.Uid), q.Mode
	case TypeUnixSocket:
		if r.sock != nil {
			s.Listening, s.Connections, s.Backlog = &r.sock.listening, &r.sock.connections, &r.sock.backlog
		}
	}
	return s
}

// errText is an error's message for a status cell: the errno's name when
// there is one ("EACCES"), else the message.
func errText(err error) string {
	var errno unix.Errno
	if errors.As(err, &errno) {
		return unix.ErrnoName(errno)
	}
	return err.Error()
}
