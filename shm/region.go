package shm

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"unsafe"
)

// Region is a live shared memory mapping. It owns its mapping and, for
// memfd, POSIX and file regions, its descriptor; Close releases both.
// The accessors may be called from any goroutine, but not concurrently with
// Close: memory handed out by Bytes, Uint32 and Uint64 is unmapped by Close.
type Region struct {
	kind     Kind
	data     []byte
	size     int
	file     *os.File // memfd, posix, file; nil for sysv
	fd       int      // descriptor number of file in this process, or -1
	name     string   // posix name or absolute file path
	id       int      // sysv shmid, or -1
	readOnly bool

	// Identity of the named object (posix, file) when it was created or
	// opened, so that Remove never unlinks a different object that has
	// taken the name since.
	dev, ino uint64

	mu      sync.Mutex
	closed  bool
	removed bool
}

// Bytes returns the mapping: Size bytes, shared with every process that
// maps the region. It returns nil after Close. Writing to a read-only
// region faults.
func (r *Region) Bytes() []byte { return r.data }

// Size returns the size of the region in bytes.
func (r *Region) Size() int { return r.size }

// Kind returns the backend of the region.
func (r *Region) Kind() Kind { return r.kind }

// ReadOnly reports whether the region was opened with OpenReadOnly.
func (r *Region) ReadOnly() bool { return r.readOnly }

// Handle returns the textual handle of the region in this process:
// "memfd:fd=N" (N is this process's descriptor), "posix:NAME",
// "sysv:ID" or "file:/PATH". Open accepts it.
func (r *Region) Handle() string {
	return r.handle(r.fd).String()
}

// HandleAt returns the handle a child process should open when it receives
// File() as descriptor fd (fd 3 for the first of exec.Cmd.ExtraFiles). For
// memfd it is "memfd:fd=<fd>"; the other kinds are found by name or id, so
// it is the same as Handle.
func (r *Region) HandleAt(fd int) string {
	return r.handle(fd).String()
}

func (r *Region) handle(fd int) handle {
	return handle{kind: r.kind, fd: fd, name: r.name, id: r.id}
}

// File returns the descriptor backing the region (memfd, POSIX, file), or
// nil for System V. It is owned by the region and closed by Close; pass it
// to children through exec.Cmd.ExtraFiles or SCM_RIGHTS, do not close it.
func (r *Region) File() *os.File { return r.file }

// Name returns the POSIX object name (without leading slash) or the
// absolute file path; "" for memfd and System V.
func (r *Region) Name() string { return r.name }

// ID returns the System V shmid, or -1 for the other kinds.
func (r *Region) ID() int { return r.id }

// String describes the region, e.g. "posix:ipcplay.x (4096 bytes)".
func (r *Region) String() string {
	return r.Handle() + " (" + strconv.Itoa(r.size) + " bytes)"
}

// Uint32 returns a pointer to the 4-byte word at offset off, for use with
// sync/atomic. It panics if off is not a multiple of 4 or the word does not
// fit in the region (including after Close).
func (r *Region) Uint32(off int) *uint32 {
	r.checkWord(off, 4, "Uint32")
	return (*uint32)(unsafe.Pointer(&r.data[off]))
}

// Uint64 returns a pointer to the 8-byte word at offset off, for use with
// sync/atomic (the mapping is page-aligned, so the word is 8-aligned on
// every architecture). It panics if off is not a multiple of 8 or the word
// does not fit in the region (including after Close).
func (r *Region) Uint64(off int) *uint64 {
	r.checkWord(off, 8, "Uint64")
	return (*uint64)(unsafe.Pointer(&r.data[off]))
}

func (r *Region) checkWord(off, size int, what string) {
	if off < 0 || off%size != 0 || off > len(r.data)-size {
		panic(fmt.Sprintf("shm: %s(%d): offset misaligned or out of range for %d-byte mapping", what, off, len(r.data)))
	}
}
