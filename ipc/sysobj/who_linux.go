package sysobj

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Who returns the processes that use the object t: map it, hold it open,
// hold an flock, fcntl or OFD lock on it (from the lock: lines of their
// descriptors' /proc/PID/fdinfo), wait on it, or, for
// System V objects and queues, were the last to operate on it. For a Unix
// socket: the holders of the sockets bound to the name, of their accepted
// connections, and the peers at the other ends. Nothing is changed.
//
// Waiting is best effort and exact only for what it sees: a thread blocked
// in semop/semtimedop on the set, msgsnd/msgrcv on the queue, a futex wait
// on an address inside a mapping of the object (sem_wait on a POSIX
// semaphore, a process-shared mutex in shared memory), a read, accept,
// flock, mq_timedreceive... on a descriptor of it, or a lock request
// queued in /proc/locks. A thread waiting through poll, select or epoll is
// not recognised.
func Who(t Target) (*WhoResult, error) {
	m := newMatcher()
	type use struct {
		pid         int
		how, detail string
	}
	var uses []use
	res := &WhoResult{Target: t.String(), Processes: []Holder{}}
	switch t.Type {
	case TypeSysVSem:
		s, err := statSysVSem(t.ID)
		if err != nil {
			return nil, err
		}
		m.semid = t.ID
		for i, p := range s.LastProc {
			if p != nil {
				uses = append(uses, use{p.PID, "last-op", fmt.Sprintf("last operation on semaphore %d", i)})
			}
		}
	case TypeSysVShm:
		if _, err := statSysVShm(t.ID); err != nil {
			return nil, err
		}
		m.shmid = t.ID
	case TypeSysVMsg:
		q, err := statSysVMsg(t.ID)
		if err != nil {
			return nil, err
		}
		m.msqid = t.ID
		if q.LastSender != nil {
			uses = append(uses, use{q.LastSendPID, "last-send", "last msgsnd on the queue"})
		}
		if q.LastReceiver != nil {
			uses = append(uses, use{q.LastRecvPID, "last-receive", "last msgrcv on the queue"})
		}
	case TypePOSIXShm, TypePOSIXSem:
		name, err := ParseName(t.Type, t.Name)
		if err != nil {
			return nil, err
		}
		t.Name = name
		fd, st, err := openPOSIX(t, posixPath(t.Type, name))
		if err != nil {
			return nil, err
		}
		unix.Close(fd)
		m.file = ptr(devInoOf(&st))
	case TypePOSIXMQ:
		name, err := ParseName(t.Type, t.Name)
		if err != nil {
			return nil, err
		}
		t.Name = name
		q, st, err := readMQ(t)
		if err != nil {
			return nil, err
		}
		m.file = ptr(devInoOf(&st))
		if q.NotifyPID > 0 {
			uses = append(uses, use{q.NotifyPID, "notify", "registered with mq_notify (" + q.Notify + ")"})
		}
	case TypeUnixSocket:
		u, err := InspectUnixSocket(t.Name)
		if err != nil {
			return nil, err
		}
		res.Target = TypeUnixSocket + " " + u.Name
		res.Processes = holders(u.hits, "")
		res.Warnings = u.Warnings
		return res, nil
	case TypeFile:
		var st unix.Stat_t
		if err := unix.Stat(t.Name, &st); err != nil {
			if errors.Is(err, unix.ENOENT) {
				return nil, notExist(t, "")
			}
			return nil, fmt.Errorf("%s: %w", t, &os.PathError{Op: "stat", Path: t.Name, Err: err})
		}
		m.file = ptr(devInoOf(&st))
	default:
		_, err := ParseType(t.Type)
		return nil, err
	}
	r, err := scan(m)
	if err != nil {
		return nil, err
	}
	for _, u := range uses {
		r.get(u.pid).add(u.how, u.detail)
	}
	res.Processes = holders(r.sorted(), "")
	res.Warnings = appendNonEmpty(res.Warnings, r.warning())
	return res, nil
}

// ResolvePath turns the PATH of `ipcplay who PATH` into a target: "@x" or
// a socket file is a unix-socket, /dev/shm/sem.NAME a posix-sem, another
// file of /dev/shm a posix-shm, a file of a mounted mqueue file system a
// posix-mq, anything else a plain file. A path that does not exist is
// still a unix-socket when a live socket is bound to that name.
func ResolvePath(path string) (Target, error) {
	if path == "" {
		return Target{}, invalidf("empty path")
	}
	path, err := UnescapeName(path)
	if err != nil {
		return Target{}, err
	}
	if strings.HasPrefix(path, "@") {
		p, err := parseSocketPath(path)
		return Target{Type: TypeUnixSocket, ID: -1, Name: p}, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return Target{}, invalidf("path %q: %v", path, err)
	}
	var st unix.Stat_t
	if err := unix.Stat(abs, &st); err != nil {
		if !errors.Is(err, unix.ENOENT) {
			return Target{}, fmt.Errorf("%s: %w", abs, &os.PathError{Op: "stat", Path: abs, Err: err})
		}
		if recs, _, err := unixSockets(); err == nil {
			for _, r := range recs {
				if r.Name == abs {
					return Target{Type: TypeUnixSocket, ID: -1, Name: abs}, nil
				}
			}
		}
		return Target{}, notExist(Target{Type: TypeFile, ID: -1, Name: abs}, "no such file, and no socket bound to that name")
	}
	dir, base := filepath.Split(abs)
	dir = filepath.Clean(dir)
	switch {
	case st.Mode&unix.S_IFMT == unix.S_IFSOCK:
		return Target{Type: TypeUnixSocket, ID: -1, Name: abs}, nil
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
	case dir == shmDir && strings.HasPrefix(base, "sem.") && len(base) > len("sem."):
		return Target{Type: TypePOSIXSem, ID: -1, Name: "/" + strings.TrimPrefix(base, "sem.")}, nil
	case dir == shmDir:
		return Target{Type: TypePOSIXShm, ID: -1, Name: "/" + base}, nil
	default:
		for _, mnt := range mqueueMounts() {
			if dir == filepath.Clean(mnt) {
				return Target{Type: TypePOSIXMQ, ID: -1, Name: "/" + base}, nil
			}
		}
	}
	return Target{Type: TypeFile, ID: -1, Name: abs}, nil
}
