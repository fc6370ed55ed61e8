package shm

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

func createSysV(op string, size int) (_ *Region, retErr error) {
	if err := checkSysVLimits(op, size); err != nil {
		return nil, err
	}
	id, err := unix.SysvShmGet(unix.IPC_PRIVATE, size, unix.IPC_CREAT|unix.IPC_EXCL|0o600)
	if err != nil {
		return nil, sysErr(op, explainShmget(err), "shmget", err)
	}
	defer func() {
		if retErr != nil {
			_, _ = unix.SysvShmCtl(id, unix.IPC_RMID, nil)
		}
	}()
	data, err := unix.SysvShmAttach(id, 0, 0)
	if err != nil {
		return nil, sysErr(op, "", "shmat", err)
	}
	return &Region{kind: SysV, data: data, size: len(data), fd: -1, id: id}, nil
}

func explainShmget(err error) string {
	switch {
	case errors.Is(err, unix.EINVAL):
		return "size outside kernel.shmmin..kernel.shmmax"
	case errors.Is(err, unix.ENOSPC):
		return "system-wide limit reached: kernel.shmall (pages in all segments) or kernel.shmmni (number of segments)"
	case errors.Is(err, unix.ENOMEM):
		return "not enough memory"
	case errors.Is(err, unix.ENOSYS):
		return "System V IPC is not available (kernel without CONFIG_SYSVIPC, or a sandbox blocks it); use memfd or posix"
	}
	return ""
}

func openSysV(op string, id int, ro bool) (*Region, error) {
	flag := 0
	if ro {
		flag = unix.SHM_RDONLY
	}
	data, err := unix.SysvShmAttach(id, 0, flag)
	if err != nil {
		return nil, sysvErr(op, id, "shmat", err)
	}
	if len(data) == 0 { // cannot happen: shmget refuses size 0
		_ = unix.SysvShmDetach(data)
		return nil, &opError{op: op, why: "segment is empty", sentinel: ErrInvalid, err: unix.EINVAL}
	}
	return &Region{kind: SysV, data: data, size: len(data), fd: -1, id: id, readOnly: ro}, nil
}

// rmid marks segment id for removal.
func rmid(op string, id int) error {
	if _, err := unix.SysvShmCtl(id, unix.IPC_RMID, nil); err != nil {
		return sysvErr(op, id, "shmctl", err)
	}
	return nil
}

// sysvErr reports a failed call on an existing segment id, where EINVAL
// and EIDRM mean that no such segment exists.
func sysvErr(op string, id int, call string, err error) error {
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EIDRM) {
		return &opError{op: op, why: fmt.Sprintf("no System V segment with id %d", id), sentinel: ErrNotFound, err: os.NewSyscallError(call, err)}
	}
	return sysErr(op, explain(err, fmt.Sprintf("System V segment %d", id)), call, err)
}
