package semaphore

import (
	"fmt"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Named is a POSIX named semaphore, binary-compatible with glibc's
// sem_open(3) on amd64 and arm64: the file /dev/shm/sem.NAME holds a
// 32-byte sem_t, mapped MAP_SHARED, and Wait and Post run glibc's
// algorithm on it. A C program that calls sem_open("/NAME", ...) uses the
// very same semaphore.
//
// A Named is safe for concurrent use until Close; using it after Close
// returns an error wrapping ErrInvalid, but Close must not race with a
// Wait or Post in progress (the mapping goes away under them).
type Named struct {
	name   string // without the leading '/'
	mem    []byte // the 32-byte mapping
	g      gsem
	closed atomic.Bool
}

const (
	shmDir        = "/dev/shm"
	semFilePrefix = "sem."
	// maxNameLen is NAME_MAX less the "sem." prefix, as glibc allows.
	maxNameLen = 255 - len(semFilePrefix)
	// reapPrefix starts every name ipcplay creates; UnlinkNamed removes
	// nothing else.
	reapPrefix = "ipcplay."
)

// cleanName returns name without its leading slashes (C passes "/x",
// glibc strips them), or an error wrapping ErrInvalid.
func cleanName(op, name string) (string, error) {
	n := strings.TrimLeft(name, "/")
	switch {
	case n == "":
		return "", invalid(op, "empty name")
	case strings.ContainsRune(n, '/'):
		return "", invalid(op, "a name has no '/' after the leading one")
	case strings.ContainsRune(n, 0):
		return "", invalid(op, "a name has no NUL byte")
	case n == "." || n == "..":
		return "", invalid(op, "'.' and '..' are not names")
	case len(n) > maxNameLen:
		return "", &opError{op: op, why: fmt.Sprintf("name longer than %d bytes", maxNameLen), sentinel: ErrInvalid, err: unix.ENAMETOOLONG}
	}
	return n, nil
}

// semPath is the file glibc uses for the semaphore named n.
func semPath(n string) string { return shmDir + "/" + semFilePrefix + n }

// Name is the semaphore's name as C passes it to sem_open, with one
// leading slash: "/ipcplay.r-1.items".
func (n *Named) Name() string { return "/" + n.name }

// Path is the semaphore's file: "/dev/shm/sem.ipcplay.r-1.items".
func (n *Named) Path() string { return semPath(n.name) }

func (n *Named) desc() string { return fmt.Sprintf("named %q", n.Name()) }
