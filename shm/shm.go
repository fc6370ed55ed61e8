package shm

import (
	"fmt"
	"path"
	"strings"
	"syscall"
)

// Kind names a shared memory backend.
type Kind string

// The backends.
const (
	Memfd Kind = "memfd" // anonymous memfd_create(2) file, passed by descriptor
	POSIX Kind = "posix" // named object in /dev/shm (shm_open(3) compatible)
	SysV  Kind = "sysv"  // System V segment (shmget(2)), found by shmid
	File  Kind = "file"  // regular file mapped MAP_SHARED
)

// Kinds lists every backend, in the order a user would try them.
var Kinds = []Kind{Memfd, POSIX, SysV, File}

// POSIXPrefix starts every POSIX object name this package creates or
// removes, so that ipcplay's objects are recognisable in /dev/shm.
const POSIXPrefix = "ipcplay."

// maxNameLen is NAME_MAX: the longest file name in /dev/shm.
const maxNameLen = 255

// maxPathLen is PATH_MAX, counting the terminating NUL.
const maxPathLen = 4096

// ParseKind parses a backend name as a user types it ("memfd", "posix",
// "sysv" or "file"; case does not matter). The error names the allowed
// values and wraps ErrInvalid.
func ParseKind(s string) (Kind, error) {
	k := Kind(strings.ToLower(s))
	if k.valid() {
		return k, nil
	}
	return "", &opError{
		op:       fmt.Sprintf("kind %q", s),
		why:      "unknown shared memory kind (allowed: " + kindList() + ")",
		sentinel: ErrInvalid,
		err:      syscall.EINVAL,
	}
}

func (k Kind) valid() bool {
	for _, v := range Kinds {
		if k == v {
			return true
		}
	}
	return false
}

func kindList() string {
	s := make([]string, len(Kinds))
	for i, k := range Kinds {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

// Spec describes a region to create. It is plain data.
type Spec struct {
	Kind Kind
	// Size in bytes, > 0. The mapping is exactly this long (the kernel
	// rounds the memory it uses up to whole pages).
	Size int
	// Name is, for POSIX, the object name without the leading slash; it
	// must start with "ipcplay." and contain no '/'. For File it is the
	// path (made absolute by Create). Other kinds ignore it.
	Name string
}

// String describes the spec as errors show it, e.g. `posix "ipcplay.x" (4096 bytes)`.
func (s Spec) String() string {
	switch s.Kind {
	case POSIX, File:
		return fmt.Sprintf("%s %q (%d bytes)", s.Kind, s.Name, s.Size)
	}
	return fmt.Sprintf("%s (%d bytes)", s.Kind, s.Size)
}

// Validate checks the spec without making system calls: a known kind, a
// positive size, and the name rules of the kind. Errors wrap ErrInvalid
// and EINVAL. Limits that depend on the machine (kernel.shmmax, free space
// in /dev/shm, RAM) are checked by Create before it creates anything.
func (s Spec) Validate() error {
	return s.validate("invalid spec " + s.String())
}

func (s Spec) validate(op string) error {
	bad := func(why string) error {
		return &opError{op: op, why: why, sentinel: ErrInvalid, err: syscall.EINVAL}
	}
	if !s.Kind.valid() {
		return bad(fmt.Sprintf("unknown kind %q (allowed: %s)", s.Kind, kindList()))
	}
	if s.Size <= 0 {
		return bad("size must be > 0")
	}
	switch s.Kind {
	case POSIX:
		if why := checkPOSIXName(s.Name); why != "" {
			return bad(why)
		}
	case File:
		if why := checkPath(s.Name, false); why != "" {
			return bad(why)
		}
	}
	return nil
}

// checkPOSIXName returns why name is not an acceptable POSIX object name
// for this package, or "".
func checkPOSIXName(name string) string {
	switch {
	case name == "":
		return "empty POSIX name"
	case strings.HasPrefix(name, "/"):
		return "POSIX name must be given without the leading slash"
	case strings.ContainsRune(name, '/'):
		return "POSIX name must not contain '/'"
	case strings.ContainsRune(name, 0):
		return "POSIX name must not contain NUL"
	case !strings.HasPrefix(name, POSIXPrefix) || len(name) == len(POSIXPrefix):
		return "POSIX name must start with \"" + POSIXPrefix + "\" followed by at least one character"
	case len(name) > maxNameLen:
		return fmt.Sprintf("POSIX name is %d bytes, longer than %d", len(name), maxNameLen)
	}
	return ""
}

// checkPath returns why p is not an acceptable file path, or "". Handles
// (strict) additionally require an absolute, clean path.
func checkPath(p string, strict bool) string {
	switch {
	case p == "":
		return "empty file path"
	case strings.ContainsRune(p, 0):
		return "file path must not contain NUL"
	case len(p) >= maxPathLen:
		return fmt.Sprintf("file path is %d bytes, longer than %d", len(p), maxPathLen-1)
	case strings.HasSuffix(p, "/"):
		return "file path names a directory"
	}
	if strict {
		if !strings.HasPrefix(p, "/") {
			return "file path in a handle must be absolute"
		}
		if path.Clean(p) != p {
			return "file path in a handle must be clean (no //, /./, /../ or trailing /)"
		}
	}
	return ""
}
