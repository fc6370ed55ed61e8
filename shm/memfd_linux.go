package shm

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// memfdName is the name memfds get; it shows in /proc/PID/fd as
// "/memfd:ipcplay (deleted)".
const memfdName = "ipcplay"

// memfdSeals fix the size of a memfd for good, so no process can shrink it
// under another one's mapping (SIGBUS) or grow it.
const memfdSeals = unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_SEAL

func createMemfd(op string, size int) (_ *Region, retErr error) {
	if max := memLimit(); uint64(size) > max {
		return nil, limitErr(op, "larger than the machine's RAM ("+humanBytes(max)+")", unix.ENOMEM)
	}
	// MFD_NOEXEC_SEAL (Linux 6.3) keeps the memfd from ever being
	// executed and is required where vm.memfd_noexec=2; older kernels
	// refuse the flag with EINVAL, so retry without it.
	fd, err := unix.MemfdCreate(memfdName, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING|unix.MFD_NOEXEC_SEAL)
	if errors.Is(err, unix.EINVAL) {
		fd, err = unix.MemfdCreate(memfdName, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	}
	if err != nil {
		why := ""
		if errors.Is(err, unix.ENOSYS) {
			why = "memfd_create is not available (Linux before 3.17, or a sandbox blocks it); use posix"
		}
		return nil, sysErr(op, why, "memfd_create", err)
	}
	f := os.NewFile(uintptr(fd), "memfd:"+memfdName)
	defer func() {
		if retErr != nil {
			_ = f.Close()
		}
	}()
	// memfds start 0777 (0666 with MFD_NOEXEC_SEAL); keep to 0600 like
	// every other object, although only /proc/PID/fd reaches it.
	if err := unix.Fchmod(fd, 0o600); err != nil {
		return nil, sysErr(op, "", "fchmod", err)
	}
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		return nil, sysErr(op, "", "ftruncate", err)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, memfdSeals); err != nil {
		return nil, sysErr(op, "cannot seal the size", "fcntl", err)
	}
	data, err := mapFd(fd, size, false)
	if err != nil {
		return nil, sysErr(op, "", "mmap", err)
	}
	return &Region{kind: Memfd, data: data, size: size, file: f, fd: fd, id: -1}, nil
}

// openMemfd maps the memfd at descriptor fd, through a duplicate that the
// region owns.
func openMemfd(op string, fd int, ro bool) (_ *Region, retErr error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		why := ""
		if errors.Is(err, unix.EBADF) {
			why = fmt.Sprintf("descriptor %d is not open (was the memfd passed in ExtraFiles?)", fd)
		}
		return nil, sysErr(op, why, "fstat", err)
	}
	bad := func(why string) error {
		return &opError{op: op, why: fmt.Sprintf("descriptor %d %s", fd, why), sentinel: ErrInvalid, err: unix.EINVAL}
	}
	size, why := mappableSize(st)
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		why = "is not a memfd"
	}
	if why != "" {
		return nil, bad(why)
	}
	// Where /proc is mounted, make sure it is a memfd and not some file.
	if link, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd)); err == nil && !strings.HasPrefix(link, "/memfd:") {
		return nil, bad(fmt.Sprintf("is %s, not a memfd", link))
	}
	nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, sysErr(op, explain(err, "descriptor"), "fcntl", err)
	}
	f := os.NewFile(uintptr(nfd), "memfd:"+memfdName)
	defer func() {
		if retErr != nil {
			_ = f.Close()
		}
	}()
	data, err := mapFd(nfd, size, ro)
	if err != nil {
		return nil, sysErr(op, "", "mmap", err)
	}
	return &Region{kind: Memfd, data: data, size: size, file: f, fd: nfd, id: -1, readOnly: ro}, nil
}
