package sysobj

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
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
//
// For every type inspect shows, who makes the very same observation
// (observeSysVSem...): the same scan and the same detection of waiters
// (sysobj.Thread: asleep in the kernel in a system call on the object),
// the same re-reading while a kernel count and the threads seen disagree,
// and the same warnings. The two never disagree about who waits, except
// for what changed between two commands.
func Who(t Target) (*WhoResult, error) {
	type use struct {
		pid         int
		how, detail string
	}
	var (
		uses     []use
		r        *scanResult
		warnings []string
		err      error
	)
	res := &WhoResult{Target: t.String(), Processes: []Holder{}}
	switch t.Type {
	case TypeSysVSem:
		var s *SysVSem
		if s, r, err = observeSysVSem(t.ID); err != nil {
			return nil, err
		}
		for i, p := range s.LastProc {
			if p != nil {
				uses = append(uses, use{p.PID, "last-op", fmt.Sprintf("last operation on semaphore %d", i)})
			}
		}
		warnings = s.Warnings
	case TypeSysVShm:
		var s *SysVShm
		if s, r, err = observeSysVShm(t.ID); err != nil {
			return nil, err
		}
		warnings = s.Warnings
	case TypeSysVMsg:
		var q *SysVMsg
		if q, r, err = observeSysVMsg(t.ID); err != nil {
			return nil, err
		}
		if q.LastSender != nil {
			uses = append(uses, use{q.LastSendPID, "last-send", "last msgsnd on the queue"})
		}
		if q.LastReceiver != nil {
			uses = append(uses, use{q.LastRecvPID, "last-receive", "last msgrcv on the queue"})
		}
		warnings = q.Warnings
	case TypePOSIXShm:
		var s *POSIXShm
		if s, r, err = observePOSIXShm(t.Name); err != nil {
			return nil, err
		}
		res.Target = TypePOSIXShm + " " + s.Name
		warnings = s.Warnings
	case TypePOSIXSem:
		var s *POSIXSem
		if s, r, err = observePOSIXSem(t.Name); err != nil {
			return nil, err
		}
		res.Target = TypePOSIXSem + " " + s.Name
		warnings = s.Warnings
	case TypePOSIXMQ:
		var q *POSIXMQ
		if q, r, err = observePOSIXMQ(t.Name); err != nil {
			return nil, err
		}
		res.Target = TypePOSIXMQ + " " + q.Name
		if q.NotifyPID > 0 {
			uses = append(uses, use{q.NotifyPID, "notify", "registered with mq_notify (" + q.Notify + ")"})
		}
		warnings = q.Warnings
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
		m := newMatcher()
		m.file = ptr(devInoOf(&st))
		if r, err = scan(m); err != nil {
			return nil, err
		}
		warnings = appendNonEmpty(nil, r.warning())
	default:
		_, err := ParseType(t.Type)
		return nil, err
	}
	for _, u := range uses {
		r.get(u.pid).add(u.how, u.detail)
	}
	res.Processes = holders(r.sorted(), "")
	res.Warnings = append(res.Warnings, warnings...)
	// "among those this user can examine" only when the warning about the
	// others was kept (it is dropped when a kernel count rules them out).
	if w := r.warning(); w != "" {
		res.unseen = slices.Contains(res.Warnings, w)
	}
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
