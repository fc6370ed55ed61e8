package semaphore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"

	"golang.org/x/sys/unix"
)

// CreateNamed creates the named semaphore with the given initial value,
// failing with an error wrapping ErrExist (and unix.EEXIST) if the name is
// taken: sem_open(name, O_CREAT|O_EXCL, 0600, value). name is given as C
// passes it, "/ipcplay.x" or "ipcplay.x".
//
// It creates the file the way glibc does, so that no process ever sees a
// half-initialised semaphore: it writes the initialised 32 bytes to a
// fresh temporary file in /dev/shm (O_EXCL|O_NOFOLLOW, mode 0600, named
// after the semaphore so a leak is attributable), maps it, link(2)s it to
// the final name and unlinks the temporary name. The caller owns the name
// and must Unlink it.
func CreateNamed(name string, value uint32) (*Named, error) {
	op := fmt.Sprintf("create named %q", name)
	n, err := cleanName(op, name)
	if err != nil {
		return nil, err
	}
	if value > SemValueMax {
		return nil, invalid(op, fmt.Sprintf("initial value %d above SEM_VALUE_MAX (%d)", value, SemValueMax))
	}
	var init [UnnamedSize]byte
	binary.NativeEndian.PutUint64(init[0:], uint64(value))
	binary.NativeEndian.PutUint32(init[offPrivate:], futexShared)

	tmp, fd, err := createTemp(op, n)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	defer unix.Unlink(tmp)
	if err := writeAll(fd, init[:]); err != nil {
		return nil, shmErr(op, "write", err)
	}
	mem, err := unix.Mmap(fd, 0, UnnamedSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, shmErr(op, "mmap", err)
	}
	if err := unix.Link(tmp, semPath(n)); err != nil {
		_ = unix.Munmap(mem)
		if err == unix.EEXIST {
			return nil, sysErr(op, "link", err, "a semaphore of that name exists (a crashed run may have left it: 'ipcplay clean' removes ipcplay's leftovers)")
		}
		return nil, shmErr(op, "link", err)
	}
	return &Named{name: n, mem: mem, g: newGsem(mem)}, nil
}

// createTemp creates the temporary file for semaphore n:
// /dev/shm/sem.<n>.tmp.<random>, truncating n if the name would be too
// long.
func createTemp(op, n string) (string, int, error) {
	const suffixLen = len(".tmp.") + 12
	if len(n) > maxNameLen-suffixLen {
		n = n[:maxNameLen-suffixLen]
	}
	for range 100 {
		path := fmt.Sprintf("%s.tmp.%012x", semPath(n), rand.Uint64()&(1<<48-1))
		fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err == unix.EEXIST {
			continue
		}
		if err != nil {
			return "", -1, shmErr(op, "open", err)
		}
		return path, fd, nil
	}
	return "", -1, sysErr(op, "open", unix.EEXIST, "no free temporary name in "+shmDir)
}

func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		k, err := unix.Write(fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		b = b[k:]
	}
	return nil
}

// shmErr wraps a failed call on /dev/shm, explaining the usual causes.
func shmErr(op, call string, err error) error {
	why := ""
	switch {
	case errors.Is(err, unix.ENOSPC):
		why = shmDir + " is full (containers often give it only 64 MiB)"
	case errors.Is(err, unix.ENOENT) && (call == "open" || call == "link"):
		why = shmDir + " does not exist: POSIX named semaphores need a tmpfs mounted there"
	case errors.Is(err, unix.EROFS):
		why = shmDir + " is read-only"
	}
	return sysErr(op, call, err, why)
}

// OpenNamed opens an existing named semaphore, created by CreateNamed or
// by C's sem_open. A missing one gives an error wrapping ErrNotFound.
func OpenNamed(name string) (*Named, error) {
	op := fmt.Sprintf("open named %q", name)
	n, err := cleanName(op, name)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Open(semPath(n), unix.O_RDWR|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		switch err {
		case unix.ENOENT:
			return nil, sysErr(op, "open", err, "no such semaphore (no file "+semPath(n)+")")
		case unix.ELOOP:
			e := sysErr(op, "open", err, semPath(n)+" is a symbolic link: refusing it").(*opError)
			e.sentinel = ErrInvalid
			return nil, e
		}
		return nil, shmErr(op, "open", err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, sysErr(op, "fstat", err, "")
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Size < UnnamedSize {
		return nil, invalid(op, fmt.Sprintf("%s is not a semaphore (a regular file of %d bytes)", semPath(n), UnnamedSize))
	}
	mem, err := unix.Mmap(fd, 0, UnnamedSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, shmErr(op, "mmap", err)
	}
	if _, _, ok := DecodeGlibc(mem); !ok {
		_ = unix.Munmap(mem)
		return nil, invalid(op, semPath(n)+" does not hold a glibc semaphore")
	}
	return &Named{name: n, mem: mem, g: newGsem(mem)}, nil
}

func (n *Named) closedErr(op string) error {
	return invalid(op+" "+n.desc(), "semaphore is closed")
}

// Wait takes one token, blocking while the value is zero (sem_wait). It
// returns when it got one or ctx is done; then the error wraps ctx.Err()
// (context.DeadlineExceeded once the deadline passed). A token that is
// available is taken even if ctx is already done.
func (n *Named) Wait(ctx context.Context) error {
	if n.closed.Load() {
		return n.closedErr("wait")
	}
	if err := n.g.wait(ctx); err != nil {
		return &opError{op: "wait " + n.desc(), err: err}
	}
	return nil
}

// TryWait takes a token if there is one (sem_trywait); otherwise it
// returns an error wrapping unix.EAGAIN.
func (n *Named) TryWait() error {
	if n.closed.Load() {
		return n.closedErr("trywait")
	}
	if !n.g.tryWait() {
		return &opError{op: "trywait " + n.desc(), why: "would block: the value is 0", err: unix.EAGAIN}
	}
	return nil
}

// Post adds a token and wakes a waiter (sem_post). At SEM_VALUE_MAX it
// fails with an error wrapping unix.EOVERFLOW.
func (n *Named) Post() error {
	if n.closed.Load() {
		return n.closedErr("post")
	}
	if err := n.g.post(); err != nil {
		return postErr("post "+n.desc(), err)
	}
	return nil
}

func postErr(op string, err error) error {
	if err == unix.EOVERFLOW {
		return &opError{op: op, why: "the value is at SEM_VALUE_MAX", err: err}
	}
	return &opError{op: op, err: err}
}

// Value returns the current value, like sem_getvalue (never negative: the
// waiters are counted apart, see Waiters). It returns -1 after Close.
func (n *Named) Value() int {
	if n.closed.Load() {
		return -1
	}
	return n.g.value()
}

// Waiters returns how many waiters (in any process, Go or C) are
// registered as blocked: the high half of the 64-bit data word. It returns
// -1 after Close.
func (n *Named) Waiters() int {
	if n.closed.Load() {
		return -1
	}
	return n.g.waiters()
}

// Close unmaps the semaphore (sem_close). The name stays until Unlink.
// Closing twice is not an error.
func (n *Named) Close() error {
	if n.closed.Swap(true) {
		return nil
	}
	if err := unix.Munmap(n.mem); err != nil {
		return sysErr("close "+n.desc(), "munmap", err, "")
	}
	return nil
}

// Unlink removes the name (sem_unlink); processes that have the semaphore
// open keep using it. A name already gone gives an error wrapping
// ErrNotFound.
func (n *Named) Unlink() error { return unlinkNamed("unlink "+n.desc(), n.name) }

// UnlinkNamed removes a named semaphore by name, for a reaper that has no
// Named. It refuses (ErrInvalid) names that do not start with "ipcplay."
// after the leading '/', so it can never remove another program's
// semaphore. A name already gone gives an error wrapping ErrNotFound.
func UnlinkNamed(name string) error {
	op := fmt.Sprintf("unlink named %q", name)
	n, err := cleanName(op, name)
	if err != nil {
		return err
	}
	if len(n) < len(reapPrefix) || n[:len(reapPrefix)] != reapPrefix {
		return invalid(op, fmt.Sprintf("refusing to remove a name that does not start with %q", reapPrefix))
	}
	return unlinkNamed(op, n)
}

func unlinkNamed(op, n string) error {
	if err := unix.Unlink(semPath(n)); err != nil {
		if err == unix.ENOENT {
			return sysErr(op, "unlink", err, "no such semaphore")
		}
		return shmErr(op, "unlink", err)
	}
	return nil
}
