package sysobj

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"

	"golang.org/x/sys/unix"

	"github.com/ipcplay/ipcplay/ipc/plural"
	"github.com/ipcplay/ipcplay/semaphore"
)

// shmDir is where glibc keeps POSIX shared memory and named semaphores.
const shmDir = "/dev/shm"

// posixPath returns the file of a POSIX shm or semaphore name ("/x").
func posixPath(typ, name string) string {
	if typ == TypePOSIXSem {
		return shmDir + "/sem." + name[1:]
	}
	return shmDir + "/" + name[1:]
}

// openPOSIX opens the file of t read-only, refusing symbolic links and
// anything but a regular file.
func openPOSIX(t Target, path string) (int, unix.Stat_t, error) {
	var st unix.Stat_t
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	switch {
	case errors.Is(err, unix.ENOENT):
		return -1, st, notExist(t, "no file "+path+"; 'ipcplay objects --all' lists what exists")
	case errors.Is(err, unix.ELOOP):
		return -1, st, invalidf("%s: %s is a symbolic link, not a POSIX object", t, path)
	case err != nil:
		return -1, st, fmt.Errorf("%s: %w", t, &os.PathError{Op: "open", Path: path, Err: err})
	}
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, st, fmt.Errorf("%s: %w", t, os.NewSyscallError("fstat", err))
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return -1, st, invalidf("%s: %s is not a regular file", t, path)
	}
	return fd, st, nil
}

func filePerm(st *unix.Stat_t) FilePerm {
	return FilePerm{OwnerUID: int(st.Uid), OwnerGID: int(st.Gid), Mode: modeString(st.Mode)}
}

// withMapping maps n bytes of fd at off read-only (MAP_SHARED, PROT_READ:
// the pages are the object's own, nothing is copied on write because
// nothing can write) and calls fn with them. A fault while fn reads (the
// file was truncated meanwhile) becomes an error instead of a crash.
func withMapping(fd int, off, n int64, fn func([]byte)) (err error) {
	pg := int64(os.Getpagesize())
	start := off &^ (pg - 1)
	mem, err := unix.Mmap(fd, start, int(off+n-start), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return os.NewSyscallError("mmap", err)
	}
	defer unix.Munmap(mem)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the object shrank while it was read: %v", r)
		}
	}()
	fn(mem[off-start:])
	return nil
}

// InspectPOSIXSem reads the named semaphore name ("/x" or "x") from its
// file /dev/shm/sem.NAME through a read-only mapping, decoding glibc's
// sem_t: value and number of waiters. It warns when the file does not look
// like a glibc semaphore (wrong size, another libc), and lists who maps it
// and which threads are blocked in a futex wait on it (observePOSIXSem:
// what who lists).
func InspectPOSIXSem(name string) (*POSIXSem, error) {
	s, _, err := observePOSIXSem(name)
	return s, err
}

// observePOSIXSem reads the semaphore and scans its users, for inspect
// and who alike. glibc's waiter count and the threads the kernel has in a
// futex wait on it are read at different instants: while they disagree
// both are read again, up to observeTries times, so that only a lasting
// disagreement (a waiter killed while blocked stays in glibc's count) is
// warned about.
func observePOSIXSem(name string) (*POSIXSem, *scanResult, error) {
	name, err := ParseName(TypePOSIXSem, name)
	if err != nil {
		return nil, nil, err
	}
	var (
		s *POSIXSem
		r *scanResult
	)
	_, _, err = settle(func() (int, int, error) {
		var err error
		if s, r, err = readPOSIXSem(name); err != nil || s.Waiters == nil || !s.Glibc {
			return 0, 0, err // nothing to compare
		}
		return int(*s.Waiters), s.KernelWaiters, nil
	})
	if err != nil {
		return nil, nil, err
	}
	s.Warnings = append(s.Warnings, semCrossCheck(s, len(r.denied) > 0)...)
	s.Warnings = appendNonEmpty(s.Warnings, r.warning())
	s.Name, s.Path = EscapeName(s.Name), EscapeName(s.Path)
	return s, r, nil
}

// readPOSIXSem is one reading of observePOSIXSem: the sem_t, then the scan.
func readPOSIXSem(name string) (*POSIXSem, *scanResult, error) {
	t := Target{Type: TypePOSIXSem, ID: -1, Name: name}
	path := posixPath(TypePOSIXSem, name)
	fd, st, err := openPOSIX(t, path)
	if err != nil {
		return nil, nil, err
	}
	s := &POSIXSem{Type: TypePOSIXSem, Name: name, Path: path, FilePerm: filePerm(&st), Size: st.Size}
	if st.Size >= semaphore.UnnamedSize {
		var value, waiters uint32
		var ok bool
		err = withMapping(fd, 0, semaphore.UnnamedSize, func(b []byte) {
			value, waiters, ok = semaphore.DecodeGlibc(b)
		})
		if err == nil {
			s.Value, s.Waiters, s.Glibc = &value, &waiters, ok && st.Size == semaphore.UnnamedSize
			if !ok {
				s.Warnings = append(s.Warnings, "the contents do not look like a glibc sem_t (value above SEM_VALUE_MAX or an unexpected private field): another C library made it (musl keeps its waiters elsewhere), or it is not a semaphore; value and waiters are shown as glibc would read them")
			}
		}
	}
	unix.Close(fd)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", t, err)
	}
	if st.Size != semaphore.UnnamedSize {
		s.Warnings = append(s.Warnings, fmt.Sprintf("the file is %d bytes, not %d: not a glibc semaphore of a 64-bit process (another C library, or sem_open has not finished creating it)", st.Size, semaphore.UnnamedSize))
	}
	r, err := scan(&matcher{file: ptr(devInoOf(&st)), shmid: -1, semid: -1, msqid: -1})
	if err != nil {
		return nil, nil, err
	}
	hits := r.sorted()
	s.MappedBy = procsWith(hits, "maps")
	s.Waiting = holders(hits, "waiting")
	s.LibraryKept = []string{"value", "waiters"}
	for _, h := range hits {
		for _, off := range h.futexAt {
			if off < 8 { // glibc waits on the value word of the 64-bit data at offset 0
				s.KernelWaiters++
			}
		}
	}
	return s, r, nil
}

func ptr[T any](v T) *T { return &v }

// semCrossCheck compares what glibc keeps in the semaphore's memory with
// what the kernel shows: threads in futex wait on it. partial: some
// processes could not be examined, so the kernel count is a lower bound.
func semCrossCheck(s *POSIXSem, partial bool) []string {
	if s.Waiters == nil || !s.Glibc {
		return nil
	}
	var out []string
	lib, kern := int(*s.Waiters), s.KernelWaiters
	seen := ""
	if partial {
		seen = " among the processes this user can examine (others' may hold more)"
	}
	switch {
	case lib > kern:
		out = append(out, fmt.Sprintf("glibc's waiter count (%d, kept in the semaphore's memory) disagrees with the kernel: %s in a futex wait on it%s. glibc uncounts a waiter only when sem_wait returns: a waiter killed while blocked (SIGKILL) stays counted, so sem_post keeps making futex wake calls for nobody", lib, plural.Count(kern, "thread", "threads"), seen))
	case lib < kern:
		out = append(out, fmt.Sprintf("glibc's waiter count (%d) is below the %s the kernel has in a futex wait on the semaphore: the memory was written by something other than glibc's sem_* (another C library, or a stray write)", lib, plural.Count(kern, "thread", "threads")))
	}
	if s.Value != nil && *s.Value > 0 && kern > 0 {
		out = append(out, fmt.Sprintf("the value is %d yet %s blocked in a futex wait on it: a lost wake-up, or the value was written directly (the threads wake at the next sem_post)", *s.Value, plural.Count(kern, "thread is", "threads are")))
	}
	return out
}

// InspectPOSIXShm reads the POSIX shared memory object name ("/x" or "x")
// from /dev/shm: size, owner, the processes that map it or hold it open.
func InspectPOSIXShm(name string) (*POSIXShm, error) {
	s, _, err := observePOSIXShm(name)
	return s, err
}

// observePOSIXShm is InspectPOSIXShm with the scan, for who.
func observePOSIXShm(name string) (*POSIXShm, *scanResult, error) {
	name, err := ParseName(TypePOSIXShm, name)
	if err != nil {
		return nil, nil, err
	}
	t := Target{Type: TypePOSIXShm, ID: -1, Name: name}
	path := posixPath(TypePOSIXShm, name)
	fd, st, err := openPOSIX(t, path)
	if err != nil {
		return nil, nil, err
	}
	unix.Close(fd)
	s := &POSIXShm{
		Type: TypePOSIXShm, Name: name, Path: path, FilePerm: filePerm(&st),
		Size: st.Size, MTimeNs: st.Mtim.Nano(),
	}
	r, err := scan(&matcher{file: ptr(devInoOf(&st)), shmid: -1, semid: -1, msqid: -1})
	if err != nil {
		return nil, nil, err
	}
	hits := r.sorted()
	s.MappedBy = procsWith(hits, "maps")
	s.OpenBy = procsWith(hits, "open")
	s.NAttch = len(s.MappedBy)
	s.Waiting = holders(hits, "waiting")
	s.Warnings = appendNonEmpty(s.Warnings, r.warning())
	s.Name, s.Path = EscapeName(s.Name), EscapeName(s.Path)
	return s, r, nil
}

// InspectPOSIXMQ reads the POSIX message queue name ("/x" or "x") through
// mq_open(O_RDONLY) and mq_getattr, which works whether or not an mqueue
// file system is mounted, and the queue's status line (QSIZE, NOTIFY_PID)
// by reading that descriptor. Reading the status line sets the queue's
// access time, as `cat /dev/mqueue/NAME` does; nothing else changes.
func InspectPOSIXMQ(name string) (*POSIXMQ, error) {
	q, _, err := observePOSIXMQ(name)
	return q, err
}

// observePOSIXMQ is InspectPOSIXMQ with the scan, for who. The kernel
// keeps no count of a queue's waiters to check the threads against.
func observePOSIXMQ(name string) (*POSIXMQ, *scanResult, error) {
	name, err := ParseName(TypePOSIXMQ, name)
	if err != nil {
		return nil, nil, err
	}
	t := Target{Type: TypePOSIXMQ, ID: -1, Name: name}
	q, st, err := readMQ(t)
	if err != nil {
		return nil, nil, err
	}
	r, err := scan(&matcher{file: ptr(devInoOf(&st)), shmid: -1, semid: -1, msqid: -1})
	if err != nil {
		return nil, nil, err
	}
	hits := r.sorted()
	q.OpenBy = holders(hits, "open")
	q.Waiting = holders(hits, "waiting")
	q.Warnings = appendNonEmpty(q.Warnings, r.warning())
	q.Name, q.Path = EscapeName(q.Name), EscapeName(q.Path)
	return q, r, nil
}

// readMQ opens, reads and closes the queue of t.
func readMQ(t Target) (*POSIXMQ, unix.Stat_t, error) {
	var st unix.Stat_t
	fd, err := mqOpenReadOnly(t.Name)
	switch {
	case errors.Is(err, unix.ENOENT):
		return nil, st, notExist(t, "mq_open: no such queue")
	case err != nil:
		return nil, st, fmt.Errorf("%s: %w", t, os.NewSyscallError("mq_open", err))
	}
	defer unix.Close(fd)
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, st, fmt.Errorf("%s: %w", t, os.NewSyscallError("fstat", err))
	}
	var attr mqAttr
	if err := mqGetAttr(fd, &attr); err != nil {
		return nil, st, fmt.Errorf("%s: %w", t, os.NewSyscallError("mq_getattr", err))
	}
	q := &POSIXMQ{
		Type: TypePOSIXMQ, Name: t.Name, FilePerm: filePerm(&st),
		Messages: attr.Curmsgs, MaxMessages: attr.Maxmsg, MsgSize: attr.Msgsize,
		Bytes: -1, MTimeNs: st.Mtim.Nano(),
		MsgMaxSys:  readSysctl("/proc/sys/fs/mqueue/msg_max"),
		MsgSizeSys: readSysctl("/proc/sys/fs/mqueue/msgsize_max"),
		OpenBy:     []Holder{}, Waiting: []Holder{},
	}
	buf := make([]byte, 256)
	n, err := unix.Read(fd, buf)
	if err == nil {
		if s, ok := parseMQStatus(buf[:n]); ok {
			q.Bytes, q.NotifyPID = s.QSize, s.NotifyPID
			if s.NotifyPID != 0 {
				q.Notify = notifyName(s.Notify, s.Signo)
			}
		}
	}
	if q.Bytes < 0 {
		q.Warnings = append(q.Warnings, "the queue's status line (QSIZE, NOTIFY_PID) could not be read")
	}
	if mnts := mqueueMounts(); len(mnts) > 0 {
		q.Path = mnts[0] + "/" + t.Name[1:]
	}
	return q, st, nil
}

// notifyName describes an mq_notify registration (SIGEV_SIGNAL 0,
// SIGEV_NONE 1, SIGEV_THREAD 2).
func notifyName(notify, signo int) string {
	switch notify {
	case 0:
		return fmt.Sprintf("signal %d", signo)
	case 1:
		return "none"
	case 2:
		return "thread"
	}
	return fmt.Sprintf("kind %d", notify)
}

// mqueueMounts returns where mqueue file systems are mounted.
func mqueueMounts() []string {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	return parseMountinfo(data, "mqueue")
}

// DumpPOSIXShm copies n bytes at off (n < 0: to the end) of the POSIX
// shared memory object name through a read-only mapping.
func DumpPOSIXShm(name string, off, n int64) (*Dump, error) {
	name, err := ParseName(TypePOSIXShm, name)
	if err != nil {
		return nil, err
	}
	t := Target{Type: TypePOSIXShm, ID: -1, Name: name}
	fd, st, err := openPOSIX(t, posixPath(TypePOSIXShm, name))
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	d, err := dumpRange(t, st.Size, off, n)
	if err != nil || d.Length == 0 {
		return d, err
	}
	err = withMapping(fd, d.Offset, d.Length, func(b []byte) { copy(d.Data, b) })
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t, err)
	}
	return d.finish(), nil
}

// DumpSysVShm copies n bytes at off (n < 0: to the end) of System V
// segment id through a read-only attach (shmat SHM_RDONLY). The kernel
// records the attach: it sets the segment's last attach and detach times
// and its last pid (shm_lpid) to this process. Contents are untouched.
func DumpSysVShm(id int, off, n int64) (*Dump, error) {
	t := Target{Type: TypeSysVShm, ID: id}
	mem, err := unix.SysvShmAttach(id, 0, unix.SHM_RDONLY)
	if err != nil {
		return nil, sysvErr(t, "shmat", err)
	}
	defer unix.SysvShmDetach(mem)
	d, err := dumpRange(t, int64(len(mem)), off, n)
	if err != nil {
		return nil, err
	}
	copy(d.Data, mem[d.Offset:d.Offset+d.Length])
	return d.finish(), nil
}
