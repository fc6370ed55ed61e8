// Package ledger records every IPC object an ipcplay engine creates, before
// it is used, in a small JSON file of the state directory. Each entry names
// the object and the process that created it (pid and start time), so that
// after a crash the next engine, or `ipcplay clean`, can tell leaked objects
// (their creator is gone) from live ones and remove exactly those.
//
// Several processes share one ledger (a daemon and embedded CLI runs): every
// change happens under an exclusive flock on a lock file, and the file is
// replaced atomically (write a temp file, fsync, rename, fsync the dir).
package ledger

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ipcplay/ipcplay/ipc/outfile"
)

// Object types. The first seven are the IPC types of `ipcplay objects`;
// File and Dir are helpers a run may create (fifos, socket directories).
const (
	SysVShm    = "sysv-shm"
	SysVSem    = "sysv-sem"
	SysVMsg    = "sysv-msg"
	POSIXShm   = "posix-shm"
	POSIXSem   = "posix-sem"
	POSIXMQ    = "posix-mq"
	UnixSocket = "unix-socket"
	File       = "file"
	Dir        = "dir"
)

// Entry is one recorded object.
type Entry struct {
	Type         string    `json:"type"`
	ID           int       `json:"id"`             // System V id; -1 for named objects
	Name         string    `json:"name,omitempty"` // POSIX name (no leading '/') or path
	RunID        string    `json:"run_id"`
	CreatorPID   int       `json:"creator_pid"`
	CreatorStart uint64    `json:"creator_start"` // /proc/PID/stat field 22, clock ticks since boot
	Created      time.Time `json:"created"`
	// Identity is what proves later that an object with this id or name
	// is still the one created, not another program's that reused the id
	// or name (package ipc records it once the object exists). nil: not
	// recorded (the object cannot be proved ours).
	Identity *Identity `json:"identity,omitempty"`
}

// Identity is what an object looked like right after its creation, in the
// kernel's own facts. Which fields are set depends on the type:
//
//   - System V (from /proc/sysvipc/{shm,sem,msg}, i.e. ipc_perm and the
//     *id64_ds times): Key (0 for IPC_PRIVATE), CUID, CTime (seconds: the
//     creation time, or the last IPC_SET/SETVAL/SETALL, which the engine
//     re-records when it makes one), CPID (shm: shm_cprid), NSems (sem).
//   - POSIX shared memory and semaphores, message queues, sockets, files
//     and directories (from statx(2)): Dev, Ino, CUID (the owner), BTime
//     (ns of the birth time, where the file system keeps one), and CTime
//     (ns) for sockets, whose ctime does not move in use; 0 where it does
//     (tmpfs files written through a mapping, a queue with every message,
//     a directory with every entry).
type Identity struct {
	Key   int64  `json:"key"`
	CUID  int    `json:"cuid"` // System V creator uid; for files the owner uid
	CPID  int    `json:"cpid,omitempty"`
	NSems int    `json:"nsems,omitempty"`
	CTime int64  `json:"ctime,omitempty"`
	BTime int64  `json:"btime,omitempty"`
	Dev   uint64 `json:"dev,omitempty"`
	Ino   uint64 `json:"ino,omitempty"`
}

// Key identifies the object an entry names.
func (e Entry) Key() string {
	if e.Name != "" {
		return e.Type + ":" + e.Name
	}
	return e.Type + ":" + strconv.Itoa(e.ID)
}

// String names the object the way every ipcplay output does (objects,
// inspect, who, watch, clean): "sysv-shm 42", "posix-shm /ipcplay.r-1.a"
// (a POSIX name with its leading '/', as C programs pass it to shm_open,
// sem_open and mq_open), "file /path". The name is raw bytes: printers
// escape it (sysobj.EscapeName).
func (e Entry) String() string {
	switch {
	case e.Name != "" && (e.Type == POSIXShm || e.Type == POSIXSem || e.Type == POSIXMQ):
		return fmt.Sprintf("%s /%s", e.Type, e.Name)
	case e.Name != "":
		return fmt.Sprintf("%s %s", e.Type, e.Name)
	}
	return fmt.Sprintf("%s %d", e.Type, e.ID)
}

// Ledger is the file of entries in a state directory.
type Ledger struct {
	path string
	lock string
}

const fileName = "ledger.json"

// Open returns the ledger of dir, which must exist and be private (0700)
// to the user. The file is created on the first Add.
func Open(dir string) (*Ledger, error) {
	fi, err := os.Lstat(dir)
	if err != nil {
		return nil, fmt.Errorf("ledger: state dir: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("ledger: state dir %s is not a directory", dir)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("ledger: state dir %s has mode %04o, want 0700", dir, fi.Mode().Perm())
	}
	return &Ledger{path: filepath.Join(dir, fileName), lock: filepath.Join(dir, fileName+".lock")}, nil
}

// Path is the ledger file's path.
func (l *Ledger) Path() string { return l.path }

// withLock runs fn with the ledger locked exclusively.
func (l *Ledger) withLock(fn func() error) error {
	fd, err := unix.Open(l.lock, unix.O_RDWR|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("ledger: open lock: %w", os.NewSyscallError("open", err))
	}
	defer unix.Close(fd)
	for {
		err = unix.Flock(fd, unix.LOCK_EX)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("ledger: lock: %w", os.NewSyscallError("flock", err))
	}
	return fn()
}

// UntrustedError is a ledger file that cannot be read as the ledger: not
// JSON (a torn or hand-edited file), a symbolic link, not a regular file,
// or owned by another user. Nothing that needs the ledger can go on: it is
// what finds the objects crashed runs leaked, and writing over it would
// lose them. Its message names the file and the way out.
type UntrustedError struct {
	Path string
	Why  string // "is corrupt (…)", "is a symbolic link", …
}

func (e *UntrustedError) Error() string {
	return fmt.Sprintf("ledger: %s %s, so it cannot be trusted to find the objects crashed runs leaked; %s",
		e.Path, e.Why, e.Advice())
}

// Advice is what the user does about it: move the file aside (it is kept
// for a look), then find leftovers by hand.
func (e *UntrustedError) Advice() string {
	return fmt.Sprintf("move it aside ('mv %s %s.corrupt'), then 'ipcplay objects --all' lists leftover objects to remove by hand", e.Path, e.Path)
}

// Check reads the ledger once and returns an *UntrustedError (or an I/O
// error) when it cannot be used; nil when it can (or does not exist yet).
func (l *Ledger) Check() error {
	_, err := l.Entries()
	return err
}

// read reads the file without following a symbolic link (O_NOFOLLOW) and
// refuses anything but a regular file of this user: the state dir is
// private, so anything else was put there by someone or something else.
func (l *Ledger) read() ([]Entry, error) {
	fd, err := unix.Open(l.path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	switch {
	case err == unix.ENOENT:
		return nil, nil
	case err == unix.ELOOP:
		return nil, &UntrustedError{Path: l.path, Why: "is a symbolic link, not the ledger ipcplay writes"}
	case err != nil:
		return nil, fmt.Errorf("ledger: %w", &os.PathError{Op: "open", Path: l.path, Err: err})
	}
	f := os.NewFile(uintptr(fd), l.path)
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("ledger: %w", &os.PathError{Op: "fstat", Path: l.path, Err: err})
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, &UntrustedError{Path: l.path, Why: "is not a regular file"}
	}
	if uid := os.Geteuid(); int(st.Uid) != uid {
		return nil, &UntrustedError{Path: l.path, Why: fmt.Sprintf("is owned by uid %d, not by you (uid %d)", st.Uid, uid)}
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	var doc struct {
		Entries []Entry `json:"entries"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, &UntrustedError{Path: l.path, Why: fmt.Sprintf("is corrupt (%v)", err)}
	}
	return doc.Entries, nil
}

// write replaces the file atomically, through outfile: a new 0600 file
// created O_EXCL|O_NOFOLLOW, fsync, rename, fsync of the directory.
func (l *Ledger) write(entries []Entry) error {
	if entries == nil {
		entries = []Entry{}
	}
	b, err := json.MarshalIndent(struct {
		Entries []Entry `json:"entries"`
	}{entries}, "", " ")
	if err != nil {
		return err
	}
	if err := outfile.WriteBytes(l.path, b); err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	return nil
}

// Add records e, filling in the creator (this process) and the time when
// they are zero. Call it before the object is used.
func (l *Ledger) Add(e Entry) (Entry, error) {
	if e.CreatorPID == 0 {
		e.CreatorPID = os.Getpid()
		e.CreatorStart = SelfStart()
	}
	if e.Created.IsZero() {
		e.Created = time.Now().UTC().Truncate(time.Millisecond)
	}
	if e.Name != "" && e.ID == 0 {
		e.ID = -1
	}
	err := l.withLock(func() error {
		entries, err := l.read()
		if err != nil {
			return err
		}
		entries = slices.DeleteFunc(entries, func(x Entry) bool { return x.Key() == e.Key() })
		return l.write(append(entries, e))
	})
	return e, err
}

// SetIdentity records id as the identity of the entry with e's key.
func (l *Ledger) SetIdentity(e Entry, id *Identity) error {
	return l.withLock(func() error {
		entries, err := l.read()
		if err != nil {
			return err
		}
		for i := range entries {
			if entries[i].Key() == e.Key() {
				entries[i].Identity = id
				return l.write(entries)
			}
		}
		return nil
	})
}

// Remove drops the entries with the same key as e.
func (l *Ledger) Remove(e Entry) error {
	return l.withLock(func() error {
		entries, err := l.read()
		if err != nil {
			return err
		}
		n := len(entries)
		entries = slices.DeleteFunc(entries, func(x Entry) bool { return x.Key() == e.Key() })
		if len(entries) == n {
			return nil
		}
		return l.write(entries)
	})
}

// Entries returns every entry.
func (l *Ledger) Entries() ([]Entry, error) {
	var out []Entry
	err := l.withLock(func() error {
		var err error
		out, err = l.read()
		return err
	})
	return out, err
}

// Update runs fn on the entries under the lock and writes back what it
// returns: the reaper uses it to drop what it removed in one step.
func (l *Ledger) Update(fn func([]Entry) ([]Entry, error)) error {
	return l.withLock(func() error {
		entries, err := l.read()
		if err != nil {
			return err
		}
		next, err := fn(entries)
		if err != nil {
			return err
		}
		return l.write(next)
	})
}

// Stale reports whether the entry's creator is gone: no such pid, or the pid
// was reused by a process that started at another time.
func (e Entry) Stale() bool { return !Alive(e.CreatorPID, e.CreatorStart) }

// Alive reports whether process pid exists, is not a zombie, and (when start
// is not zero) started at start.
func Alive(pid int, start uint64) bool {
	if pid <= 0 {
		return false
	}
	st, state, err := procStart(pid)
	if err != nil || state == 'Z' || state == 'X' {
		return false
	}
	return start == 0 || st == start
}

// SelfStart is this process's start time in clock ticks since boot.
func SelfStart() uint64 {
	st, _, _ := procStart(os.Getpid())
	return st
}

// StartTime is the start time of pid in clock ticks since boot.
func StartTime(pid int) (uint64, error) {
	st, _, err := procStart(pid)
	return st, err
}

// procStart parses /proc/PID/stat: the state (field 3) and start time
// (field 22). The command name (field 2) may hold spaces and parentheses,
// so fields are counted from the last ')'.
func procStart(pid int) (uint64, byte, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("ledger: bad /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return 0, 0, fmt.Errorf("ledger: short /proc/%d/stat", pid)
	}
	st, err := strconv.ParseUint(f[19], 10, 64) // field 22 is the 20th after ')'
	if err != nil {
		return 0, 0, fmt.Errorf("ledger: bad start time in /proc/%d/stat", pid)
	}
	return st, f[0][0], nil
}
