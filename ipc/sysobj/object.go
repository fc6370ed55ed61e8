package sysobj

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// The object types, as the CLI and the JSON documents spell them.
const (
	TypeSysVShm    = "sysv-shm"
	TypeSysVSem    = "sysv-sem"
	TypeSysVMsg    = "sysv-msg"
	TypePOSIXShm   = "posix-shm"
	TypePOSIXSem   = "posix-sem"
	TypePOSIXMQ    = "posix-mq"
	TypeUnixSocket = "unix-socket"
	// TypeFile is the target of `ipcplay who PATH` for a path that is none
	// of the above (any file someone maps, holds open or locks).
	TypeFile = "file"
)

// Types lists the object types in display order.
var Types = []string{TypeSysVShm, TypeSysVSem, TypeSysVMsg, TypePOSIXShm, TypePOSIXSem, TypePOSIXMQ, TypeUnixSocket}

// Errors callers tell apart. Bad input (ErrInvalid) and a missing object
// (ErrNotExist) are the user's to fix; the CLI exits 2 for both.
var (
	// ErrInvalid marks an unknown type, a malformed name or id.
	ErrInvalid = errors.New("sysobj: invalid argument")
	// ErrNotExist marks an object that does not exist.
	ErrNotExist = errors.New("sysobj: no such object")
	// ErrMqueueNotMounted is reported (inside List's joined error) when no
	// mqueue file system is mounted: POSIX message queues cannot be listed,
	// though each can still be inspected by name.
	ErrMqueueNotMounted = errors.New("no mqueue file system is mounted (mount -t mqueue none /dev/mqueue): POSIX message queues cannot be listed, only inspected by name")
)

// Object is one IPC object of the machine, as `ipcplay objects --all`
// lists it.
type Object struct {
	Type       string `json:"type"` // one of Types
	ID         int    `json:"id"`   // System V id; -1 for named objects; the socket inode for unix-socket
	Name       string `json:"name"` // POSIX name with its leading '/', socket path ("@x" if abstract); "" for System V
	Key        int64  `json:"key,omitempty"`
	OwnerUID   int    `json:"owner_uid"`      // -1 when unknown
	Mode       string `json:"mode"`           // permission bits, "0600"; "" when unknown
	Size       int64  `json:"size"`           // bytes (shm), semaphores (sysv-sem: in the set; posix-sem: 1), bytes queued (msg, mq); 0 for sockets
	CreatorPID int    `json:"creator_pid"`    // 0 when the kernel does not tell (sem, msg, POSIX, sockets)
	Note       string `json:"note,omitempty"` // what to know to read the entry (a relative socket name)
}

// Target names one object (or, for `who PATH`, any file).
type Target struct {
	Type string // one of Types, or TypeFile
	ID   int    // System V id; -1 otherwise
	Name string // POSIX name "/x", socket path or "@abstract", file path
}

func (t Target) String() string {
	switch t.Type {
	case TypeSysVShm, TypeSysVSem, TypeSysVMsg:
		return fmt.Sprintf("%s %d", t.Type, t.ID)
	}
	return t.Type + " " + EscapeName(t.Name)
}

// Target returns the target that designates o.
func (o Object) Target() Target {
	switch o.Type {
	case TypeSysVShm, TypeSysVSem, TypeSysVMsg:
		return Target{Type: o.Type, ID: o.ID}
	}
	return Target{Type: o.Type, ID: -1, Name: o.Name}
}

// ParseType checks a type name; the error names the allowed values.
func ParseType(s string) (string, error) {
	for _, t := range Types {
		if s == t {
			return t, nil
		}
	}
	return "", invalidf("unknown object type %q: must be one of %s", s, strings.Join(Types, ", "))
}

// ParseTarget checks "TYPE ID|NAME|PATH" as a user typed it: a System V id
// is a non-negative decimal number, a POSIX name is given with or without
// its leading slash (as to sem_open or shm_open) and has no other slash, a
// socket is a path or "@abstract". Names and paths are in the escaped form
// of EscapeName (what inspect, objects, who and watch print); the Target
// holds their bytes. Existence is not checked here.
func ParseTarget(typ, arg string) (Target, error) {
	t, err := ParseType(typ)
	if err != nil {
		return Target{}, err
	}
	if t != TypeSysVShm && t != TypeSysVSem && t != TypeSysVMsg {
		if arg, err = UnescapeName(arg); err != nil {
			return Target{}, err
		}
	}
	switch t {
	case TypeSysVShm, TypeSysVSem, TypeSysVMsg:
		id, err := ParseID(arg)
		if err != nil {
			return Target{}, invalidf("%s %v", t, err)
		}
		return Target{Type: t, ID: id}, nil
	case TypePOSIXShm, TypePOSIXSem, TypePOSIXMQ:
		name, err := ParseName(t, arg)
		if err != nil {
			return Target{}, err
		}
		return Target{Type: t, ID: -1, Name: name}, nil
	default: // unix-socket
		p, err := parseSocketPath(arg)
		if err != nil {
			return Target{}, err
		}
		return Target{Type: t, ID: -1, Name: p}, nil
	}
}

// ParseID parses a System V id: a non-negative decimal number.
func ParseID(s string) (int, error) {
	id, err := strconv.ParseInt(s, 10, 32)
	if err != nil || id < 0 {
		return 0, invalidf("id %q is not a System V id (a non-negative decimal number, as ipcs and 'ipcplay objects --all' print it)", s)
	}
	return int(id), nil
}

// nameMax is NAME_MAX: the longest file name in /dev/shm or the mqueue
// file system. A named semaphore's file adds "sem." to the name.
const nameMax = 255

// ParseName checks a POSIX object name of type typ and returns it with its
// leading slash: "x" and "/x" both give "/x". The name may not contain
// another slash, be "." or "..", hold a NUL byte or exceed NAME_MAX.
func ParseName(typ, s string) (string, error) {
	n := strings.TrimPrefix(s, "/")
	limit := nameMax
	if typ == TypePOSIXSem {
		limit -= len("sem.")
	}
	switch {
	case n == "":
		return "", invalidf("%s name %q is empty", typ, s)
	case strings.Contains(n, "/"):
		return "", invalidf("%s name %q has a slash after the first character: POSIX names are \"/name\" with no other slash", typ, s)
	case n == "." || n == "..":
		return "", invalidf("%s name %q is not allowed", typ, s)
	case strings.ContainsRune(n, 0):
		return "", invalidf("%s name %q contains a NUL byte", typ, s)
	case len(n) > limit:
		return "", invalidf("%s name is %d bytes long: at most %d", typ, len(n), limit)
	}
	return "/" + n, nil
}

// sunPathMax is the room in sockaddr_un.sun_path for a name (108 bytes,
// one of them the terminating NUL of a path).
const sunPathMax = 107

// pathMax is PATH_MAX of <linux/limits.h>, NUL included.
const pathMax = 4096

// parseSocketPath returns a socket path made absolute, or "@name" for an
// abstract socket.
func parseSocketPath(s string) (string, error) {
	switch {
	case s == "" || s == "@":
		return "", invalidf("empty unix socket path")
	case strings.HasPrefix(s, "@"): // an abstract name may hold NUL bytes
		if len(s)-1 > sunPathMax {
			return "", invalidf("abstract socket name %q is longer than %d bytes", EscapeName(s), sunPathMax)
		}
		return s, nil
	case strings.ContainsRune(s, 0):
		return "", invalidf("unix socket path %q contains a NUL byte", EscapeName(s))
	}
	p, err := filepath.Abs(s)
	if err != nil {
		return "", invalidf("unix socket path %q: %v", EscapeName(s), err)
	}
	// Not sunPathMax: a socket bound by a relative name (chdir, then
	// bind("r.sock")) has a file whose full path may be far longer than
	// sun_path; it is found by that file's device and inode, which stat
	// reaches by any path up to PATH_MAX.
	if len(p) >= pathMax {
		return "", invalidf("unix socket path %q is %d bytes long: at most %d", EscapeName(p), len(p), pathMax-1)
	}
	return p, nil
}

// notExist returns the error for a target that does not exist.
func notExist(t Target, why string) error {
	msg := t.String() + " does not exist"
	if why != "" {
		msg += " (" + why + ")"
	}
	return &markedError{msg: msg, kind: ErrNotExist}
}

// invalidf returns an ErrInvalid error with the formatted message.
func invalidf(format string, args ...any) error {
	return &markedError{msg: fmt.Sprintf(format, args...), kind: ErrInvalid}
}

// markedError is an error whose message is for people and whose kind is
// one of the package's sentinels, for errors.Is.
type markedError struct {
	msg  string
	kind error
}

func (e *markedError) Error() string        { return e.msg }
func (e *markedError) Is(target error) bool { return target == e.kind }
