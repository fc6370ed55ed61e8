package sysobj

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// record is an Object with the live numbers the listing read on the way,
// for Snapshot.
type record struct {
	Object
	nattch   int   // sysv-shm
	messages int64 // sysv-msg
	sock     *sockSummary
}

// sockSummary sums up the sockets bound to one name.
type sockSummary struct {
	listening   bool
	connections int
	backlog     int
	vfs         *devIno // the file it is bound to, from sock_diag (nil: unknown)
}

// List returns every IPC object of the machine (of this IPC, network and
// mount namespace): the System V tables, /dev/shm, the mqueue file system
// when one is mounted, and the named Unix sockets (one entry per name,
// its accepted connections folded in). Sources that fail do not stop the
// others: List returns what it found and, joined in err, what failed
// (ErrMqueueNotMounted among them when no mqueue file system is mounted).
func List() ([]Object, error) {
	recs, err := listRecords(Types)
	objs := make([]Object, len(recs))
	for i, r := range recs {
		objs[i] = r.Object
		objs[i].Name = EscapeName(r.Name)
	}
	return objs, err
}

// listRecords lists the objects of the given types.
func listRecords(types []string) ([]record, error) {
	want := map[string]bool{}
	for _, t := range types {
		want[t] = true
	}
	var recs []record
	var errs []error
	for _, kind := range []string{"shm", "sem", "msg"} {
		if !want["sysv-"+kind] {
			continue
		}
		r, err := listSysV(kind)
		recs = append(recs, r...)
		if err != nil {
			errs = append(errs, fmt.Errorf("sysv-%s: %w", kind, err))
		}
	}
	if want[TypePOSIXShm] || want[TypePOSIXSem] {
		r, err := listShmDir(want)
		recs = append(recs, r...)
		if err != nil {
			errs = append(errs, fmt.Errorf("posix-shm and posix-sem: %w", err))
		}
	}
	if want[TypePOSIXMQ] {
		r, err := listMqueue()
		recs = append(recs, r...)
		if err != nil {
			errs = append(errs, fmt.Errorf("posix-mq: %w", err))
		}
	}
	if want[TypeUnixSocket] {
		r, err := listUnixSockets()
		recs = append(recs, r...)
		if err != nil {
			errs = append(errs, fmt.Errorf("unix-socket: %w", err))
		}
	}
	sort.SliceStable(recs, func(i, j int) bool { return lessObject(recs[i].Object, recs[j].Object) })
	return recs, errors.Join(errs...)
}

// lessObject orders objects by type (in Types order), id, then name.
func lessObject(a, b Object) bool {
	if a.Type != b.Type {
		return typeRank(a.Type) < typeRank(b.Type)
	}
	if a.ID != b.ID {
		return a.ID < b.ID
	}
	return a.Name < b.Name
}

func typeRank(t string) int {
	for i, x := range Types {
		if x == t {
			return i
		}
	}
	return len(Types)
}

// listSysV reads /proc/sysvipc/<kind>, which lists every object whatever
// its mode.
func listSysV(kind string) ([]record, error) {
	data, err := os.ReadFile("/proc/sysvipc/" + kind)
	if err != nil {
		return nil, err
	}
	idCol := map[string]string{"shm": "shmid", "sem": "semid", "msg": "msqid"}[kind]
	var recs []record
	for _, row := range parseSysVTable(data) {
		id, ok1 := rowInt(row, idCol)
		key, ok2 := rowInt(row, "key")
		uid, ok3 := rowInt(row, "uid")
		mode, ok4 := rowMode(row)
		if !ok1 || !ok2 || !ok3 || !ok4 {
			continue
		}
		r := record{Object: Object{Type: "sysv-" + kind, ID: int(id), Key: key, OwnerUID: int(uid), Mode: modeString(mode)}}
		switch kind {
		case "shm":
			r.Size, _ = rowInt(row, "size")
			cpid, _ := rowInt(row, "cpid")
			nattch, _ := rowInt(row, "nattch")
			r.CreatorPID, r.nattch = int(cpid), int(nattch)
		case "sem":
			r.Size, _ = rowInt(row, "nsems")
		case "msg":
			r.Size, _ = rowInt(row, "cbytes")
			r.messages, _ = rowInt(row, "qnum")
		}
		recs = append(recs, r)
	}
	return recs, nil
}

// listShmDir lists /dev/shm: "sem.NAME" files are glibc named semaphores,
// the other regular files POSIX shared memory.
func listShmDir(want map[string]bool) ([]record, error) {
	ents, err := os.ReadDir(shmDir)
	if err != nil {
		return nil, err
	}
	var recs []record
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		st, _ := fi.Sys().(*syscall.Stat_t)
		o := Object{Type: TypePOSIXShm, ID: -1, Name: "/" + e.Name(), Mode: modeString(uint32(fi.Mode().Perm())), Size: fi.Size(), OwnerUID: -1}
		if st != nil {
			o.OwnerUID = int(st.Uid)
		}
		if n, ok := strings.CutPrefix(e.Name(), "sem."); ok && n != "" {
			o.Type, o.Name, o.Size = TypePOSIXSem, "/"+n, 1 // one semaphore, as sysv-sem counts them
		}
		if want[o.Type] {
			recs = append(recs, record{Object: o})
		}
	}
	return recs, nil
}

// listMqueue lists the mqueue file system. The size of each queue (bytes
// queued) comes from its status line; reading it sets the queue's access
// time.
func listMqueue() ([]record, error) {
	mnts := mqueueMounts()
	if len(mnts) == 0 {
		return nil, ErrMqueueNotMounted
	}
	ents, err := os.ReadDir(mnts[0])
	if err != nil {
		return nil, err
	}
	var recs []record
	var errs []error
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		o := Object{Type: TypePOSIXMQ, ID: -1, Name: "/" + e.Name(), Mode: modeString(uint32(fi.Mode().Perm())), OwnerUID: -1}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			o.OwnerUID = int(st.Uid)
		}
		r := record{Object: o}
		data, err := os.ReadFile(mnts[0] + "/" + e.Name())
		if s, ok := parseMQStatus(data); err == nil && ok {
			r.Size = s.QSize
		} else if err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("%s: size unknown: %w", o.Name, err))
		}
		recs = append(recs, r)
	}
	return recs, errors.Join(errs...)
}

// socketFile sets the owner and mode of a named socket's file, from the
// file the kernel says the socket is bound to (sock_diag's device and
// inode), never from whatever ipcplay's own working directory holds under
// that name. A relative name (bound relative to the binder's working
// directory) is kept as the kernel reports it, with a note; an absolute
// path is used only when the file there is the socket's own.
func socketFile(r *record) {
	n := r.Name
	switch {
	case n[0] == '@':
		return
	case n[0] != '/':
		r.Note = RelativeSocketNote
		return
	}
	var st unix.Stat_t
	if unix.Stat(n, &st) != nil {
		return
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK || (r.sock.vfs != nil && !sameSocketFile(*r.sock.vfs, devInoOf(&st))) {
		r.Note = "the file now at this path is not the one the socket is bound to (removed and replaced)"
		return
	}
	r.OwnerUID, r.Mode = int(st.Uid), modeString(st.Mode)
}

// RelativeSocketNote is the note on a socket whose name the kernel reports
// as a relative path.
const RelativeSocketNote = "relative name, as the kernel reports it: bound relative to the working directory of the process that bound it; the socket is identified by the device and inode of its file"

// sameSocketFile compares the file sock_diag reports (UNIX_DIAG_VFS, a
// 32-bit inode number) with a stat of a file.
func sameSocketFile(vfs, file devIno) bool {
	return vfs.Major == file.Major && vfs.Minor == file.Minor && vfs.Ino == file.Ino&0xffffffff
}

// listUnixSockets lists the named Unix sockets: one object per name (the
// listener, or the bound socket), with the connections accepted from it
// counted, not listed.
func listUnixSockets() ([]record, error) {
	socks, _, err := unixSockets()
	if err != nil {
		return nil, err
	}
	byName := map[string]*record{}
	var order []string
	for _, s := range socks {
		if s.Name == "" {
			continue
		}
		r := byName[s.Name]
		if r == nil {
			r = &record{Object: Object{Type: TypeUnixSocket, ID: int(s.Inode), Name: s.Name, OwnerUID: s.UID}, sock: &sockSummary{}}
			byName[s.Name] = r
			order = append(order, s.Name)
		}
		accepted := !s.Listening && s.State == "connected" && s.Type != unix.SOCK_DGRAM
		switch {
		case s.Listening:
			r.ID, r.sock.listening = int(s.Inode), true
			if s.RQ != nil {
				r.sock.backlog = int(*s.RQ)
			}
			if s.UID >= 0 {
				r.OwnerUID = s.UID
			}
		case accepted:
			r.sock.connections++
		}
		if r.sock.vfs == nil && s.VFS != nil && !accepted {
			r.sock.vfs = s.VFS
		}
	}
	var recs []record
	for _, n := range order {
		r := byName[n]
		socketFile(r)
		recs = append(recs, *r)
	}
	return recs, nil
}
