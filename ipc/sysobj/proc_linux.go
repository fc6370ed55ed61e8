package sysobj

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ipcplay/ipcplay/ipc/plural"
)

// procRoot is where the scans read processes from.
const procRoot = "/proc"

// Proc names a process.
type Proc struct {
	PID     int    `json:"pid"`
	Comm    string `json:"comm"`
	Cmdline string `json:"cmdline,omitempty"`
}

// procOf reads the name and command line of pid; ok is false when the
// process is gone.
func procOf(pid int) (Proc, bool) {
	dir := procRoot + "/" + strconv.Itoa(pid)
	comm, err := os.ReadFile(dir + "/comm")
	if err != nil {
		return Proc{PID: pid}, false
	}
	cmd, _ := os.ReadFile(dir + "/cmdline")
	return Proc{PID: pid, Comm: EscapeName(strings.TrimSuffix(string(comm), "\n")), Cmdline: cmdlineString(cmd)}, true
}

// listPIDs returns the pids of /proc, in increasing order.
func listPIDs() ([]int, error) {
	ents, err := os.ReadDir(procRoot)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	sort.Ints(pids)
	return pids, nil
}

// devIno identifies a file: the device (major, minor) and inode number.
type devIno struct {
	Major, Minor uint32
	Ino          uint64
}

func devInoOf(st *unix.Stat_t) devIno {
	return devIno{Major: unix.Major(st.Dev), Minor: unix.Minor(st.Dev), Ino: st.Ino}
}

// matcher says what a process scan looks for.
type matcher struct {
	file    *devIno           // a file (POSIX shm or sem, a queue's inode, any path): maps, fds, locks
	shmid   int               // a System V segment (maps "/SYSV..." with the id as inode); -1 none
	semid   int               // a System V semaphore set: threads blocked in semop on it; -1 none
	msqid   int               // a System V queue: threads blocked in msgsnd/msgrcv on it; -1 none
	sockets map[uint64]string // socket inodes of the object -> what each is ("listener", "connection")
	peers   map[uint64]string // socket inodes at the other end of its connections -> what each is
}

func newMatcher() *matcher { return &matcher{shmid: -1, semid: -1, msqid: -1} }

// wantsAllTasks reports whether every thread of the machine must be looked
// at: a System V semaphore or queue is waited on by id, without a mapping
// or a descriptor to find the process by.
func (m *matcher) wantsAllTasks() bool { return m.semid >= 0 || m.msqid >= 0 }

// hit is what a scan found about one process.
type hit struct {
	Proc
	How      []string
	details  [][2]string // how, text
	ranges   [][3]uint64 // where the process maps the object: start, end, file offset
	futexAt  []uint64    // file offsets of the object where its threads wait in futex
	fds      map[int]bool
	sockRefs []sockRef // descriptors of the object's sockets and their peers
}

type sockRef struct {
	ino uint64
	fd  int
}

func (h *hit) add(how, detail string) {
	if !h.is(how) {
		h.How = append(h.How, how)
	}
	if detail != "" {
		h.details = append(h.details, [2]string{how, detail})
	}
}

// is reports whether the process uses the object as how.
func (h *hit) is(how string) bool {
	for _, x := range h.How {
		if x == how {
			return true
		}
	}
	return false
}

// detailsFor returns the details of h about how, or all of them for "".
func (h *hit) detailsFor(how string) []string {
	var out []string
	for _, d := range h.details {
		if how == "" || d[0] == how {
			out = append(out, d[1])
		}
	}
	return out
}

// scanResult is the outcome of a scan of every process.
type scanResult struct {
	hits   map[int]*hit
	denied []int // processes whose /proc entries could not be read
}

func (r *scanResult) get(pid int) *hit {
	h := r.hits[pid]
	if h == nil {
		h = &hit{Proc: Proc{PID: pid}}
		r.hits[pid] = h
	}
	return h
}

// sorted returns the hits in pid order, with names filled in; processes
// that exited meanwhile are dropped.
func (r *scanResult) sorted() []*hit {
	var out []*hit
	for pid, h := range r.hits {
		p, ok := procOf(pid)
		if !ok {
			continue
		}
		h.Proc = p
		out = append(out, h)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PID < out[j].PID })
	return out
}

// waitingThreads counts the threads the scan saw blocked on the object
// in a system call (one "waiting" detail each).
func (r *scanResult) waitingThreads() int {
	n := 0
	for _, h := range r.hits {
		for _, d := range h.detailsFor("waiting") {
			if strings.HasPrefix(d, "thread ") {
				n++
			}
		}
	}
	return n
}

// warning describes the processes the scan could not see, or "".
func (r *scanResult) warning() string {
	return deniedWarning(r.denied)
}

// warningUnlessCounted is warning, or "" when the kernel's own count of
// the object's users (a segment's nattch, a set's blocked semop calls) is
// all accounted for by the processes seen: then a process that could not
// be examined holds no part of it, and saying so on every inspect (pid 1
// of a container is not examinable even by root) is noise.
func (r *scanResult) warningUnlessCounted(counted, seen int) string {
	if counted <= seen {
		return ""
	}
	return r.warning()
}

// deniedWarning says in one line which processes a scan could not
// examine, or "". Not examinable: /proc/PID/maps, fd or task/*/syscall
// refused reading (another user's process; for root, one that is not
// dumpable, or a security module's refusal).
func deniedWarning(pids []int) string {
	if len(pids) == 0 {
		return ""
	}
	list := make([]string, 0, 5)
	for i, pid := range pids {
		if i == 5 {
			list = append(list, "...")
			break
		}
		list = append(list, strconv.Itoa(pid))
	}
	why := "other users'; run as root to see them"
	if os.Geteuid() == 0 {
		why = "even as root (not dumpable, or a security module)"
	}
	who := "it"
	if len(pids) > 1 {
		who = "they"
	}
	return fmt.Sprintf("%s could not be examined (pid %s), %s: %s may use the object unseen", plural.Count(len(pids), "process", "processes"), strings.Join(list, ", "), why, who)
}

// denied reports whether err means "not allowed to look".
func deniedErr(err error) bool {
	return errors.Is(err, fs.ErrPermission) || errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM)
}

// scan looks at every process for m: mappings, open descriptors, locks and
// blocked threads.
func scan(m *matcher) (*scanResult, error) {
	pids, err := listPIDs()
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	r := &scanResult{hits: map[int]*hit{}}
	for _, pid := range pids {
		denied := false
		if m.file != nil || m.shmid >= 0 {
			if err := scanMaps(pid, m, r); deniedErr(err) {
				denied = true
			}
		}
		if m.file != nil || m.sockets != nil || m.peers != nil {
			if err := scanFDs(pid, m, r); deniedErr(err) {
				denied = true
			}
		}
		if h := r.hits[pid]; h != nil || m.wantsAllTasks() {
			if err := scanTasks(pid, m, r); deniedErr(err) {
				denied = true
			}
		}
		if denied {
			r.denied = append(r.denied, pid)
		}
	}
	if m.file != nil {
		scanLocks(m, r)
	}
	return r, nil
}

// scanMaps records the mappings of the object in /proc/PID/maps.
func scanMaps(pid int, m *matcher, r *scanResult) error {
	data, err := os.ReadFile(procRoot + "/" + strconv.Itoa(pid) + "/maps")
	if err != nil {
		return err
	}
	for len(data) > 0 {
		var line []byte
		line, data, _ = bytes.Cut(data, []byte{'\n'})
		mp, ok := parseMapsLine(string(line))
		if !ok {
			continue
		}
		match := false
		switch {
		case m.shmid >= 0 && mp.Inode == uint64(m.shmid) && sysvKeyPath(mp.Path):
			match = true
		case m.file != nil && mp.Inode == m.file.Ino && mp.Major == m.file.Major && mp.Minor == m.file.Minor:
			match = true
		}
		if !match {
			continue
		}
		h := r.get(pid)
		h.ranges = append(h.ranges, [3]uint64{mp.Start, mp.End, mp.Offset})
		h.add("maps", fmt.Sprintf("maps %x-%x %s (%d bytes at offset %d)", mp.Start, mp.End, mp.Perms, mp.End-mp.Start, mp.Offset))
	}
	return nil
}

// scanFDs records the descriptors of pid that refer to the object.
func scanFDs(pid int, m *matcher, r *scanResult) error {
	dir := procRoot + "/" + strconv.Itoa(pid) + "/fd"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		link, err := os.Readlink(dir + "/" + e.Name())
		if err != nil {
			continue
		}
		if ino, ok := socketInode(link); ok {
			if role, ok := m.sockets[ino]; ok {
				h := r.get(pid)
				h.add("open", fmt.Sprintf("fd %d: %s socket (inode %d)", fd, role, ino))
				if h.fds == nil {
					h.fds = map[int]bool{}
				}
				h.fds[fd] = true
				h.sockRefs = append(h.sockRefs, sockRef{ino, fd})
			}
			if role, ok := m.peers[ino]; ok {
				h := r.get(pid)
				h.add("peer", fmt.Sprintf("fd %d: %s (inode %d)", fd, role, ino))
				h.sockRefs = append(h.sockRefs, sockRef{ino, fd})
			}
			continue
		}
		if m.file == nil || strings.HasPrefix(link, "pipe:") || strings.HasPrefix(link, "anon_inode:") {
			continue
		}
		var st unix.Stat_t
		if unix.Stat(dir+"/"+e.Name(), &st) != nil || devInoOf(&st) != *m.file {
			continue
		}
		h := r.get(pid)
		h.add("open", fmt.Sprintf("fd %d: %s", fd, EscapeName(link)))
		if h.fds == nil {
			h.fds = map[int]bool{}
		}
		h.fds[fd] = true
		scanFDLocks(pid, fd, m, h)
	}
	return nil
}

// scanFDLocks records the locks held through descriptor fd of pid, from
// the "lock:" lines of /proc/PID/fdinfo/FD (fs/locks.c show_fd_locks):
// the kernel lists there the flock and OFD locks of the open file
// description and the POSIX (fcntl) locks the process owns through it.
// This is who holds a lock: /proc/locks's pid column is -1 for OFD locks
// and, for flock, names whoever took the lock, who may have exited while
// another process kept the descriptor.
func scanFDLocks(pid, fd int, m *matcher, h *hit) {
	data, err := os.ReadFile(procRoot + "/" + strconv.Itoa(pid) + "/fdinfo/" + strconv.Itoa(fd))
	if err != nil {
		return
	}
	for _, l := range parseFDInfoLocks(data) {
		if l.Inode != m.file.Ino || l.Major != m.file.Major || l.Minor != m.file.Minor {
			continue
		}
		how := lockHow(l.Class)
		h.add(how, fmt.Sprintf("fd %d: %s %s lock held, bytes %s-%s", fd, lockClassName(l.Class), strings.ToLower(l.Access), l.Start, l.End))
	}
}

// lockHow is the HOW of a lock class of /proc/locks and fdinfo.
func lockHow(class string) string {
	switch class {
	case "FLOCK":
		return "flock"
	case "OFDLCK":
		return "ofd"
	case "LEASE", "DELEG":
		return "lease"
	}
	return "fcntl"
}

// lockClassName names a lock class for people.
func lockClassName(class string) string {
	switch class {
	case "FLOCK":
		return "flock"
	case "OFDLCK":
		return "open file description (F_OFD_SETLK)"
	case "POSIX":
		return "fcntl (POSIX)"
	}
	return strings.ToLower(class)
}

// socketInode parses a descriptor link "socket:[12345]".
func socketInode(link string) (uint64, bool) {
	s, ok := strings.CutPrefix(link, "socket:[")
	if !ok {
		return 0, false
	}
	ino, err := strconv.ParseUint(strings.TrimSuffix(s, "]"), 10, 64)
	return ino, err == nil
}

// scanTasks records the threads of pid blocked on the object: asleep in
// the kernel (ReadThread, Thread.Asleep) inside a system call that waits
// on it. A thread preempted on its way into or out of the call is not
// waiting.
func scanTasks(pid int, m *matcher, r *scanResult) error {
	return eachThread(pid, func(t Thread) bool {
		if !t.Asleep() {
			return true
		}
		what, ok := waitsOn(taskSyscall{InCall: true, Nr: t.Nr, Args: t.Args}, m, r.hits[pid])
		if !ok {
			return true
		}
		detail := fmt.Sprintf("thread %d blocked in %s", t.TID, what)
		if t.Wchan != "" && t.Wchan != "0" {
			detail += " (kernel: " + t.Wchan + ")"
		}
		r.get(pid).add("waiting", detail)
		return true
	})
}

// waitsOn reports whether a thread blocked in system call sc waits on the
// object, and in what.
func waitsOn(sc taskSyscall, m *matcher, h *hit) (string, bool) {
	name, known := syscallNames[sc.Nr]
	arg0 := sc.Args[0]
	switch {
	case !known:
		return "", false
	case isSemop(sc.Nr):
		if m.semid >= 0 && arg0 == uint64(m.semid) {
			return fmt.Sprintf("%s on set %d", name, m.semid), true
		}
	case sc.Nr == unix.SYS_MSGRCV || sc.Nr == unix.SYS_MSGSND:
		if m.msqid >= 0 && arg0 == uint64(m.msqid) {
			return fmt.Sprintf("%s on queue %d", name, m.msqid), true
		}
	case sc.Nr == unix.SYS_FUTEX:
		if h == nil {
			return "", false
		}
		for _, rg := range h.ranges {
			if arg0 >= rg[0] && arg0 < rg[1] {
				h.futexAt = append(h.futexAt, arg0-rg[0]+rg[2])
				return fmt.Sprintf("futex wait at %#x (offset %d of the object)", arg0, arg0-rg[0]+rg[2]), true
			}
		}
	default: // system calls whose first argument is a descriptor
		if h != nil && arg0 < 1<<31 && h.fds[int(arg0)] {
			return fmt.Sprintf("%s on fd %d", name, arg0), true
		}
	}
	return "", false
}

func isSemop(nr int64) bool { return nr == unix.SYS_SEMOP || nr == unix.SYS_SEMTIMEDOP }

// syscallNames are the system calls a thread can be blocked in on an IPC
// object. All but futex, semop and msg* take the descriptor first.
var syscallNames = map[int64]string{
	unix.SYS_SEMOP:           "semop",
	unix.SYS_SEMTIMEDOP:      "semtimedop",
	unix.SYS_MSGRCV:          "msgrcv",
	unix.SYS_MSGSND:          "msgsnd",
	unix.SYS_FUTEX:           "futex",
	unix.SYS_READ:            "read",
	unix.SYS_READV:           "readv",
	unix.SYS_WRITE:           "write",
	unix.SYS_RECVFROM:        "recvfrom",
	unix.SYS_RECVMSG:         "recvmsg",
	unix.SYS_SENDTO:          "sendto",
	unix.SYS_SENDMSG:         "sendmsg",
	unix.SYS_ACCEPT:          "accept",
	unix.SYS_ACCEPT4:         "accept4",
	unix.SYS_CONNECT:         "connect",
	unix.SYS_FLOCK:           "flock",
	unix.SYS_FCNTL:           "fcntl (lock wait)",
	unix.SYS_MQ_TIMEDRECEIVE: "mq_timedreceive",
	unix.SYS_MQ_TIMEDSEND:    "mq_timedsend",
}

// scanLocks records the lock requests queued on m.file (the "->" lines
// of /proc/locks). Held locks come from the holders' descriptors
// (scanFDLocks), never from /proc/locks's pid column. A queued request's
// pid is the process blocked in it now (-1 for an OFD request: that
// thread is found by the system call it is blocked in, scanTasks).
func scanLocks(m *matcher, r *scanResult) {
	data, err := os.ReadFile(procRoot + "/locks")
	if err != nil {
		return
	}
	for _, l := range parseLocks(data) {
		if !l.Blocked || l.PID <= 0 || l.Inode != m.file.Ino || l.Major != m.file.Major || l.Minor != m.file.Minor {
			continue
		}
		r.get(l.PID).add("waiting", fmt.Sprintf("waiting for a %s %s lock, bytes %s-%s", lockClassName(l.Class), strings.ToLower(l.Access), l.Start, l.End))
	}
}

// mapIndex is who maps what, over the whole machine: for counting the
// processes that map each object in one pass (watch, list).
type mapIndex struct {
	files  map[devIno]map[int]bool
	sysv   map[int]map[int]bool // shmid -> pids
	denied int                  // processes whose maps could not be read
}

// indexMaps reads the maps of every process once, keeping only shared
// file mappings under the given devices and System V segments.
func indexMaps(devs map[[2]uint32]bool) mapIndex {
	ix := mapIndex{files: map[devIno]map[int]bool{}, sysv: map[int]map[int]bool{}}
	pids, _ := listPIDs()
	for _, pid := range pids {
		data, err := os.ReadFile(procRoot + "/" + strconv.Itoa(pid) + "/maps")
		if err != nil {
			if deniedErr(err) {
				ix.denied++
			}
			continue
		}
		for len(data) > 0 {
			var line []byte
			line, data, _ = bytes.Cut(data, []byte{'\n'})
			if len(line) < 30 || !bytes.Contains(line, []byte("/")) {
				continue
			}
			mp, ok := parseMapsLine(string(line))
			if !ok || mp.Inode == 0 {
				continue
			}
			switch {
			case sysvKeyPath(mp.Path):
				add(ix.sysv, int(mp.Inode), pid)
			case devs[[2]uint32{mp.Major, mp.Minor}]:
				k := devIno{mp.Major, mp.Minor, mp.Inode}
				if ix.files[k] == nil {
					ix.files[k] = map[int]bool{}
				}
				ix.files[k][pid] = true
			}
		}
	}
	return ix
}

func add(m map[int]map[int]bool, k, pid int) {
	if m[k] == nil {
		m[k] = map[int]bool{}
	}
	m[k][pid] = true
}
