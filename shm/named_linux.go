package shm

import (
	"errors"
	"math"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// This file holds the two named backends: POSIX objects in /dev/shm and
// regular files. They differ only in where they live.

// fallocChunk is how much one fallocate call reserves: big reservations on
// tmpfs give up with EINTR when a signal arrives, so they go in chunks and
// an interrupted chunk is retried.
const fallocChunk = 64 << 20

// createNamed creates path O_EXCL, 0600, reserves size bytes and maps it.
func createNamed(op string, kind Kind, path, name string, size int) (_ *Region, retErr error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		why := explain(err, path)
		if kind == POSIX && errors.Is(err, unix.ENOENT) {
			why = "no " + shmDir + " directory (POSIX shared memory needs a tmpfs mounted there)"
		}
		return nil, sysErr(op, why, "open", err)
	}
	f := os.NewFile(uintptr(fd), path)
	var data []byte
	defer func() {
		if retErr != nil {
			if data != nil {
				_ = unix.Munmap(data)
			}
			_ = unix.Unlink(path)
			_ = f.Close()
		}
	}()
	// The umask may have taken bits off 0600; put them back.
	if err := unix.Fchmod(fd, 0o600); err != nil {
		return nil, sysErr(op, "", "fchmod", err)
	}
	if err := reserve(op, fd, filepath.Dir(path), size); err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, sysErr(op, "", "fstat", err)
	}
	if data, err = mapFd(fd, size, false); err != nil {
		return nil, sysErr(op, "", "mmap", err)
	}
	return &Region{
		kind: kind, data: data, size: size, file: f, fd: fd, name: name, id: -1,
		dev: uint64(st.Dev), ino: uint64(st.Ino),
	}, nil
}

// reserve gives fd size bytes of real storage with fallocate, so that a
// full file system fails here with ENOSPC instead of SIGBUS on first touch.
// Where fallocate is unsupported it checks the free space of dir and
// falls back to ftruncate.
func reserve(op string, fd int, dir string, size int) error {
	for off := int64(0); off < int64(size); {
		n := min(int64(size)-off, fallocChunk)
		err := unix.Fallocate(fd, 0, off, n)
		switch {
		case err == nil:
			off += n
		case errors.Is(err, unix.EINTR):
			// retry the chunk
		case errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.ENOSYS):
			if err := checkFree(op, dir, size); err != nil {
				return err
			}
			if err := unix.Ftruncate(fd, int64(size)); err != nil {
				return sysErr(op, "", "ftruncate", err)
			}
			return nil
		case errors.Is(err, unix.ENOSPC):
			return sysErr(op, noSpaceNow(dir), "fallocate", err)
		default:
			return sysErr(op, "", "fallocate", err)
		}
	}
	return nil
}

// openNamed opens and maps an existing POSIX object or file.
func openNamed(op string, kind Kind, path, name string, ro bool) (_ *Region, retErr error) {
	flags := unix.O_RDWR
	if ro {
		flags = unix.O_RDONLY
	}
	// O_NONBLOCK: a FIFO planted at path must not block us; it is then
	// refused as not a regular file.
	fd, err := unix.Open(path, flags|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, sysErr(op, explain(err, path), "open", err)
	}
	defer func() {
		if retErr != nil {
			_ = unix.Close(fd)
		}
	}()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, sysErr(op, "", "fstat", err)
	}
	size, why := mappableSize(st)
	if why != "" {
		return nil, &opError{op: op, why: path + " " + why, sentinel: ErrInvalid, err: unix.EINVAL}
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		return nil, sysErr(op, "", "fcntl", err)
	}
	data, err := mapFd(fd, size, ro)
	if err != nil {
		return nil, sysErr(op, "", "mmap", err)
	}
	return &Region{
		kind: kind, data: data, size: size, file: os.NewFile(uintptr(fd), path), fd: fd,
		name: name, id: -1, readOnly: ro, dev: uint64(st.Dev), ino: uint64(st.Ino),
	}, nil
}

// mappableSize returns the size of a regular, non-empty file, or why it
// cannot be mapped as a region.
func mappableSize(st unix.Stat_t) (int, string) {
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		return 0, "is not a regular file"
	case st.Size <= 0:
		return 0, "is empty"
	case uint64(st.Size) > math.MaxInt:
		return 0, "is too large to map"
	}
	return int(st.Size), ""
}

// removeNamed unlinks path if it is still the object (dev, ino); gone or
// replaced is success.
func removeNamed(op, path string, dev, ino uint64) error {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return sysErr(op, explain(err, path), "lstat", err)
	}
	if uint64(st.Dev) != dev || uint64(st.Ino) != ino {
		return nil
	}
	if err := unix.Unlink(path); err != nil && !errors.Is(err, unix.ENOENT) {
		return sysErr(op, explain(err, path), "unlink", err)
	}
	return nil
}
