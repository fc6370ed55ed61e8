package sysobj

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ipcplay/ipcplay/ipc/plural"
)

// sysvErr turns the error of an IPC_STAT or GET* call on t into the
// package's: a missing or removed id is ErrNotExist, anything else (EACCES
// above all) is the system call error, wrapped.
func sysvErr(t Target, call string, err error) error {
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EIDRM) {
		return notExist(t, "no "+t.Type+" with this id; 'ipcplay objects --all' or ipcs lists them")
	}
	return fmt.Errorf("%s: %w", t, os.NewSyscallError(call, err))
}

func sysvPerm(p *unix.SysvIpcPerm) SysVPerm {
	return SysVPerm{
		Key:        int64(p.Key),
		OwnerUID:   int(p.Uid),
		OwnerGID:   int(p.Gid),
		CreatorUID: int(p.Cuid),
		CreatorGID: int(p.Cgid),
		Mode:       modeString(p.Mode),
	}
}

// InspectSysVSem reads semaphore set id with IPC_STAT, GETALL, GETNCNT,
// GETZCNT and GETPID (all read-only, all needing read permission), and
// looks for the threads blocked on it (observeSysVSem: what who lists).
func InspectSysVSem(id int) (*SysVSem, error) {
	s, _, err := observeSysVSem(id)
	return s, err
}

// observeSysVSem reads set id and scans for the threads blocked on it,
// for inspect and who alike. The kernel's counts of waiters (the sum of
// GETNCNT and GETZCNT: one per blocked semop) and the threads seen
// asleep in semop/semtimedop on the set are read at different instants;
// while they disagree both are read again, up to observeTries times, so
// that a waiter passing between two slices of a timed wait, or one woken
// between the two readings, does not make the two tools disagree. What
// still disagrees is said in a warning.
func observeSysVSem(id int) (*SysVSem, *scanResult, error) {
	m := newMatcher()
	m.semid = id
	var (
		s *SysVSem
		r *scanResult
	)
	want, seen, err := settle(func() (int, int, error) {
		var err error
		if s, err = statSysVSem(id); err != nil {
			return 0, 0, err
		}
		if r, err = scan(m); err != nil {
			return 0, 0, err
		}
		return s.kernelWaiters(), r.waitingThreads(), nil
	})
	if err != nil {
		return nil, nil, err
	}
	hits := r.sorted()
	s.Waiting = holders(hits, "waiting")
	if w := waitCountWarning("the set (the sum of NCNT and ZCNT)", "semop/semtimedop on the set", want, seen, len(r.denied) > 0); w != "" {
		s.Warnings = append(s.Warnings, w)
	}
	// A set's only users the scan finds are its blocked semop calls, which
	// the kernel counts: when all are seen, the unexamined have none.
	s.Warnings = appendNonEmpty(s.Warnings, r.warningUnlessCounted(want, seen))
	return s, r, nil
}

// kernelWaiters is the kernel's count of semop calls blocked on the set.
func (s *SysVSem) kernelWaiters() int {
	n := 0
	for i := range s.NCnt {
		n += s.NCnt[i] + s.ZCnt[i]
	}
	return n
}

// Observing an object with a count of waiters: how many times, and how
// far apart, the count and the threads are read while they disagree.
const (
	observeTries = 5
	observePause = 2 * time.Millisecond
)

// settle reads a count of waiters and the threads seen blocked (read)
// until the two agree, at most observeTries times, observePause apart,
// and returns the last reading: the two are read at different instants,
// and one reading can catch a waiter between the two.
func settle(read func() (want, seen int, err error)) (int, int, error) {
	for try := 1; ; try++ {
		want, seen, err := read()
		if err != nil || want == seen || try == observeTries {
			return want, seen, err
		}
		time.Sleep(observePause)
	}
}

// waitCountWarning says why a count of waiters (want, on what) and the
// threads seen blocked (seen, in call) disagree, or "" when they agree.
// partial: some processes could not be examined.
func waitCountWarning(what, call string, want, seen int, partial bool) string {
	switch {
	case want > seen:
		why := "a waiter in another PID namespace (a container) or a 32-bit process, which this view cannot place, or a waiter that keeps leaving and re-entering the call (a wait in time slices)"
		if partial {
			why = "waiters among the processes that could not be examined (see below), " + why
		}
		return fmt.Sprintf("the kernel counts %s on %s but %s seen asleep in %s, after %d readings: %s", plural.Count(want, "waiter", "waiters"), what, plural.Count(seen, "thread was", "threads were"), call, observeTries, why)
	case want < seen:
		return fmt.Sprintf("%s seen asleep in %s but the kernel counts %s on %s, after %d readings: a waiter was woken between the two readings of a busy object", plural.Count(seen, "thread was", "threads were"), call, plural.Count(want, "waiter", "waiters"), what, observeTries)
	}
	return ""
}

// statSysVSem reads set id without looking at processes.
func statSysVSem(id int) (*SysVSem, error) {
	t := Target{Type: TypeSysVSem, ID: id}
	var ds semidDs
	if err := semctlStat(id, &ds); err != nil {
		return nil, sysvErr(t, "semctl IPC_STAT", err)
	}
	n := int(ds.Nsems)
	s := &SysVSem{
		Type: TypeSysVSem, ID: id, SysVPerm: sysvPerm(&ds.Perm), NSems: n,
		Values: make([]int, n), NCnt: make([]int, n), ZCnt: make([]int, n),
		LastPID: make([]int, n), LastProc: make([]*Proc, n),
		OTimeNs: secNs(ds.Otime), CTimeNs: secNs(ds.Ctime),
		Waiting: []Holder{},
	}
	vals := make([]uint16, n)
	if err := semctlGetAll(id, vals); err != nil {
		return nil, sysvErr(t, "semctl GETALL", err)
	}
	latest := max(ds.Otime, ds.Ctime)
	for i := range n {
		s.Values[i] = int(vals[i])
		var err error
		if s.NCnt[i], err = semctlInt(id, i, cmdGETNCNT); err != nil {
			return nil, sysvErr(t, "semctl GETNCNT", err)
		}
		if s.ZCnt[i], err = semctlInt(id, i, cmdGETZCNT); err != nil {
			return nil, sysvErr(t, "semctl GETZCNT", err)
		}
		if s.LastPID[i], err = semctlInt(id, i, cmdGETPID); err != nil {
			return nil, sysvErr(t, "semctl GETPID", err)
		}
		s.LastProc[i] = lastProc(s.LastPID[i], latest)
	}
	return s, nil
}

// lastProc returns the running process pid, unless it started after
// `latest` (Unix seconds of the object's last recorded operation): then
// the pid was reused by another program and the recorded one is gone.
func lastProc(pid int, latest int64) *Proc {
	if pid <= 0 {
		return nil
	}
	p, ok := procOf(pid)
	if !ok {
		return nil
	}
	if start, ok := procStartUnix(pid); ok && latest > 0 && start > latest {
		return nil
	}
	return &p
}

// procStartUnix returns when pid started, in Unix seconds.
func procStartUnix(pid int) (int64, bool) {
	b, err := os.ReadFile(procRoot + "/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 20 {
		return 0, false
	}
	ticks, err := strconv.ParseInt(string(f[19]), 10, 64)
	boot, ok := bootTime()
	if err != nil || !ok {
		return 0, false
	}
	return boot + ticks/userHZ, true
}

// userHZ is USER_HZ, the unit of /proc/PID/stat times: 100 on every Linux
// architecture Go supports.
const userHZ = 100

// bootTime returns the "btime" of /proc/stat: boot, in Unix seconds.
func bootTime() (int64, bool) {
	b, err := os.ReadFile(procRoot + "/stat")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// InspectSysVShm reads segment id with IPC_STAT and /proc/sysvipc/shm, and
// finds the processes that map it. It does not attach the segment; see
// DumpSysVShm for the contents.
func InspectSysVShm(id int) (*SysVShm, error) {
	s, _, err := observeSysVShm(id)
	return s, err
}

// observeSysVShm is InspectSysVShm with the scan, for who.
func observeSysVShm(id int) (*SysVShm, *scanResult, error) {
	s, err := statSysVShm(id)
	if err != nil {
		return nil, nil, err
	}
	m := newMatcher()
	m.shmid = id
	r, err := scan(m)
	if err != nil {
		return nil, nil, err
	}
	hits := r.sorted()
	s.MappedBy = procsWith(hits, "maps")
	s.Waiting = holders(hits, "waiting")
	if len(s.MappedBy) != s.NAttch {
		s.Warnings = append(s.Warnings, fmt.Sprintf("nattch is %d but %s seen mapping it: a process attached it several times, or runs in another PID namespace, or could not be examined", s.NAttch, plural.Count(len(s.MappedBy), "process was", "processes were")))
	}
	// Every attachment is a mapping the scan would see: when they are all
	// seen, a process that could not be examined has none.
	s.Warnings = appendNonEmpty(s.Warnings, r.warningUnlessCounted(s.NAttch, len(s.MappedBy)))
	return s, r, nil
}

// statSysVShm reads segment id without looking at processes.
func statSysVShm(id int) (*SysVShm, error) {
	t := Target{Type: TypeSysVShm, ID: id}
	var ds unix.SysvShmDesc
	if _, err := unix.SysvShmCtl(id, unix.IPC_STAT, &ds); err != nil {
		return nil, sysvErr(t, "shmctl IPC_STAT", err)
	}
	s := &SysVShm{
		Type: TypeSysVShm, ID: id, SysVPerm: sysvPerm(&ds.Perm),
		Size: int64(ds.Segsz), NAttch: int(ds.Nattch),
		CreatorPID: int(ds.Cpid), LastPID: int(ds.Lpid),
		ATimeNs: secNs(ds.Atime), DTimeNs: secNs(ds.Dtime), CTimeNs: secNs(ds.Ctime),
		Removed: ds.Perm.Mode&shmDest != 0, Locked: ds.Perm.Mode&shmLocked != 0,
		RSS: -1, Swap: -1, MappedBy: []Proc{}, Waiting: []Holder{},
	}
	if data, err := os.ReadFile("/proc/sysvipc/shm"); err == nil {
		for _, row := range parseSysVTable(data) {
			if v, ok := rowInt(row, "shmid"); !ok || int(v) != id {
				continue
			}
			if v, ok := rowInt(row, "rss"); ok {
				s.RSS = v
			}
			if v, ok := rowInt(row, "swap"); ok {
				s.Swap = v
			}
		}
	}
	return s, nil
}

// The high mode bits of a System V segment (linux/shm.h).
const (
	shmDest   = 0o1000 // SHM_DEST: marked for removal
	shmLocked = 0o2000 // SHM_LOCKED
)

// InspectSysVMsg reads queue id with IPC_STAT and looks for the threads
// blocked in msgsnd or msgrcv on it.
func InspectSysVMsg(id int) (*SysVMsg, error) {
	q, _, err := observeSysVMsg(id)
	return q, err
}

// observeSysVMsg is InspectSysVMsg with the scan, for who. The kernel
// keeps no count of a queue's waiters to check the threads against.
func observeSysVMsg(id int) (*SysVMsg, *scanResult, error) {
	q, err := statSysVMsg(id)
	if err != nil {
		return nil, nil, err
	}
	m := newMatcher()
	m.msqid = id
	r, err := scan(m)
	if err != nil {
		return nil, nil, err
	}
	q.Waiting = holders(r.sorted(), "waiting")
	q.Warnings = appendNonEmpty(q.Warnings, r.warning())
	return q, r, nil
}

// statSysVMsg reads queue id without looking at processes.
func statSysVMsg(id int) (*SysVMsg, error) {
	t := Target{Type: TypeSysVMsg, ID: id}
	var ds msqidDs
	if err := msgctlStat(id, &ds); err != nil {
		return nil, sysvErr(t, "msgctl IPC_STAT", err)
	}
	latest := max(ds.Stime, ds.Rtime, ds.Ctime)
	q := &SysVMsg{
		Type: TypeSysVMsg, ID: id, SysVPerm: sysvPerm(&ds.Perm),
		Messages: int64(ds.Qnum), Bytes: int64(ds.Cbytes), MaxBytes: int64(ds.Qbytes),
		MsgMax:      readSysctl("/proc/sys/kernel/msgmax"),
		LastSendPID: int(ds.Lspid), LastRecvPID: int(ds.Lrpid),
		LastSender: lastProc(int(ds.Lspid), latest), LastReceiver: lastProc(int(ds.Lrpid), latest),
		STimeNs: secNs(ds.Stime), RTimeNs: secNs(ds.Rtime), CTimeNs: secNs(ds.Ctime),
		Waiting: []Holder{},
	}
	return q, nil
}

// readSysctl reads a numeric /proc/sys file; -1 when it cannot.
func readSysctl(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return -1
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// procsWith returns the processes among hits that use the object as how.
func procsWith(hits []*hit, how string) []Proc {
	out := []Proc{}
	for _, h := range hits {
		if h.is(how) {
			out = append(out, h.Proc)
		}
	}
	return out
}

// holders returns the hits that use the object as how, with the details
// that concern it; with how "", every hit with every detail.
func holders(hits []*hit, how string) []Holder {
	out := []Holder{}
	for _, h := range hits {
		switch {
		case how == "":
			out = append(out, Holder{Proc: h.Proc, How: h.How, Details: h.detailsFor("")})
		case h.is(how):
			out = append(out, Holder{Proc: h.Proc, How: []string{how}, Details: h.detailsFor(how)})
		}
	}
	return out
}

func appendNonEmpty(list []string, s string) []string {
	if s == "" {
		return list
	}
	return append(list, s)
}
