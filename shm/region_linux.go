package shm

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// Create creates a region as s describes and maps it MAP_SHARED,
// read-write. The object is new (O_EXCL / IPC_EXCL), mode 0600, and the
// size is checked against the backend's limit before anything is created:
// kernel.shmmax and kernel.shmall for System V, the free space of /dev/shm
// for POSIX, the machine's RAM for memfd. When Create fails it leaves
// nothing behind. The caller owns the region: Close it, and Remove it if
// it has a name or id.
func Create(s Spec) (*Region, error) {
	op := "create " + s.String()
	if err := s.validate(op); err != nil {
		return nil, err
	}
	switch s.Kind {
	case Memfd:
		return createMemfd(op, s.Size)
	case POSIX:
		if err := checkFree(op, shmDir, s.Size); err != nil {
			return nil, err
		}
		return createNamed(op, POSIX, shmDir+"/"+s.Name, s.Name, s.Size)
	case SysV:
		return createSysV(op, s.Size)
	default: // File
		p, err := filepath.Abs(s.Name)
		if err != nil {
			return nil, &opError{op: op, why: "cannot make the path absolute", sentinel: classify(err), err: err}
		}
		return createNamed(op, File, p, p, s.Size)
	}
}

// Open maps, read-write, the existing region named by handle (see the
// package documentation for the forms). For "memfd:fd=N" it duplicates
// descriptor N (which must be a memfd), so the caller keeps N and may close
// it. A malformed handle gives an error wrapping ErrInvalid; a handle that
// names nothing, one wrapping ErrNotFound and the errno.
func Open(handle string) (*Region, error) {
	return open(handle, false)
}

// OpenReadOnly is like Open but maps the region PROT_READ (and opens named
// objects O_RDONLY, attaches System V segments SHM_RDONLY), for inspectors.
// Writing to its memory faults.
func OpenReadOnly(handle string) (*Region, error) {
	return open(handle, true)
}

func open(s string, ro bool) (*Region, error) {
	op := "open " + strconv.Quote(s)
	if ro {
		op = "open read-only " + strconv.Quote(s)
	}
	h, why := parseHandle(s)
	if why != "" {
		return nil, &opError{op: op, why: "malformed handle: " + why, sentinel: ErrInvalid, err: unix.EINVAL}
	}
	switch h.kind {
	case Memfd:
		return openMemfd(op, h.fd, ro)
	case POSIX:
		return openNamed(op, POSIX, shmDir+"/"+h.name, h.name, ro)
	case SysV:
		return openSysV(op, h.id, ro)
	default: // File
		return openNamed(op, File, h.name, h.name, ro)
	}
}

// mapFd maps size bytes of fd MAP_SHARED.
func mapFd(fd, size int, ro bool) ([]byte, error) {
	prot := unix.PROT_READ
	if !ro {
		prot |= unix.PROT_WRITE
	}
	return unix.Mmap(fd, 0, size, prot, unix.MAP_SHARED)
}

// Close unmaps the region (detaches a System V segment) and closes its
// descriptor. It does not remove a named object or segment: see Remove.
// Close is idempotent; memory from Bytes, Uint32 and Uint64 must not be
// used afterwards.
func (r *Region) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	var errs []error
	if r.data != nil {
		if r.kind == SysV {
			if err := unix.SysvShmDetach(r.data); err != nil {
				errs = append(errs, os.NewSyscallError("shmdt", err))
			}
		} else if err := unix.Munmap(r.data); err != nil {
			errs = append(errs, os.NewSyscallError("munmap", err))
		}
		r.data = nil
	}
	if r.file != nil {
		if err := r.file.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return &opError{op: "close " + r.Handle(), sentinel: classify(err), err: err}
	}
	return nil
}

// Remove removes the region's name: it unlinks the POSIX object or the
// file, or marks the System V segment for removal (IPC_RMID), which then
// disappears when the last process detaches. Mappings stay valid until
// Close. For memfd it does nothing (the memory goes with the last
// descriptor and mapping). Remove is idempotent: an object already gone
// (ENOENT, EINVAL, EIDRM) is not an error, and a name that now belongs to
// a different object (it was removed and created again) is left alone.
func (r *Region) Remove() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.removed {
		return nil
	}
	var err error
	switch r.kind {
	case POSIX:
		err = removeNamed("remove "+r.Handle(), shmDir+"/"+r.name, r.dev, r.ino)
	case File:
		err = removeNamed("remove "+r.Handle(), r.name, r.dev, r.ino)
	case SysV:
		err = rmid("remove "+r.Handle(), r.id)
		if errors.Is(err, ErrNotFound) {
			err = nil
		}
	}
	if err == nil {
		r.removed = true
	}
	return err
}

// Sync flushes a file region to its file with msync(MS_SYNC). It does
// nothing for the other kinds, whose memory has no backing store.
func (r *Region) Sync() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.kind != File {
		return nil
	}
	op := "sync " + r.Handle()
	if r.closed {
		return &opError{op: op, err: os.ErrClosed}
	}
	if err := unix.Msync(r.data, unix.MS_SYNC); err != nil {
		return sysErr(op, "", "msync", err)
	}
	return nil
}

// RemovePOSIX removes the POSIX shared memory object name (given without
// the leading slash), like shm_unlink(3): an object that does not exist is
// an error wrapping ErrNotFound and ENOENT. It refuses names that do not
// start with "ipcplay." or that contain '/', so that it can only remove
// ipcplay's own objects.
func RemovePOSIX(name string) error {
	op := "remove posix " + strconv.Quote(name)
	if why := checkPOSIXName(name); why != "" {
		return &opError{op: op, why: why, sentinel: ErrInvalid, err: unix.EINVAL}
	}
	path := shmDir + "/" + name
	if err := unix.Unlink(path); err != nil {
		return sysErr(op, explain(err, path), "unlink", err)
	}
	return nil
}

// RemoveSysV marks the System V shared memory segment id for removal
// (IPC_RMID). A segment that does not exist gives an error wrapping
// ErrNotFound and EINVAL (or EIDRM).
func RemoveSysV(id int) error {
	op := fmt.Sprintf("remove sysv %d", id)
	if id < 0 {
		return &opError{op: op, why: "negative shmid", sentinel: ErrInvalid, err: unix.EINVAL}
	}
	return rmid(op, id)
}
