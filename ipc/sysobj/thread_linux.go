package sysobj

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Thread is what the kernel shows of one thread in /proc/PID/task/TID
// (proc(5)): its scheduling state (stat), the system call it is in with
// its arguments (syscall) and its wait channel (wchan). This is the one
// place where ipcplay decides that a thread waits in the kernel: inspect,
// who, watch, the conductor of scheduled runs and the labs all ask here.
type Thread struct {
	PID, TID int
	// State is the state letter of stat: R running or runnable, S
	// interruptible sleep, D uninterruptible sleep, T stopped...
	State byte
	// InCall: the thread is in system call Nr with Args (native calling
	// convention), as syscall shows it. False while it runs on a CPU or
	// sleeps outside a system call.
	InCall bool
	Nr     int64
	Args   [6]uint64
	Wchan  string // "" or "0" when the kernel does not say
}

// ReadThread reads thread tid of process pid. Reading syscall needs
// ptrace access to the process (the same user and no Yama restriction, or
// root); when it is refused the error wraps fs.ErrPermission. A thread
// that has exited gives an error wrapping fs.ErrNotExist.
func ReadThread(pid, tid int) (Thread, error) {
	t := Thread{PID: pid, TID: tid}
	dir := procRoot + "/" + strconv.Itoa(pid) + "/task/" + strconv.Itoa(tid) + "/"
	st, err := os.ReadFile(dir + "stat")
	if err != nil {
		return t, err
	}
	i := bytes.LastIndexByte(st, ')')
	if i < 0 || i+2 >= len(st) {
		return t, fmt.Errorf("%sstat: cannot parse %q", dir, st)
	}
	t.State = st[i+2]
	sc, err := os.ReadFile(dir + "syscall")
	if err != nil {
		return t, err
	}
	if s, ok := parseSyscall(sc); ok && s.InCall {
		t.InCall, t.Nr, t.Args = true, s.Nr, s.Args
	}
	if w, err := os.ReadFile(dir + "wchan"); err == nil {
		t.Wchan = strings.TrimSpace(string(w))
	}
	return t, nil
}

// Asleep reports whether the thread sleeps in the kernel inside a system
// call: state S or D, and a call in syscall. A thread that is runnable
// (preempted on its way in or out of the call) or stopped does not wait.
func (t Thread) Asleep() bool {
	return (t.State == 'S' || t.State == 'D') && t.InCall
}

// SleepsIn reports whether the thread is Asleep in one of the system calls
// nrs (the architecture's numbers, unix.SYS_*) with first argument arg0
// (a descriptor, a set id; any when arg0 is negative).
func (t Thread) SleepsIn(nrs []int, arg0 int64) bool {
	if !t.Asleep() || (arg0 >= 0 && t.Args[0] != uint64(arg0)) {
		return false
	}
	for _, nr := range nrs {
		if int64(nr) == t.Nr {
			return true
		}
	}
	return false
}

// FindAsleep looks at every thread of process pid for one that SleepsIn
// nrs with first argument arg0. A thread whose system call cannot be read
// makes it return that error (wrapping fs.ErrPermission) unless another
// thread was found.
func FindAsleep(pid int, nrs []int, arg0 int64) (Thread, bool, error) {
	var found Thread
	ok := false
	err := eachThread(pid, func(t Thread) bool {
		if t.SleepsIn(nrs, arg0) {
			found, ok = t, true
		}
		return !ok
	})
	if ok {
		return found, true, nil
	}
	return Thread{}, false, err
}

// eachThread reads every thread of process pid (ReadThread) and gives it
// to fn until fn returns false. A thread that cannot be read is skipped:
// one that ended meanwhile silently, and the first one refused (wrapping
// fs.ErrPermission) is the error returned, as is a task directory that
// cannot be listed.
func eachThread(pid int, fn func(Thread) bool) error {
	ents, err := os.ReadDir(procRoot + "/" + strconv.Itoa(pid) + "/task")
	if err != nil {
		return err
	}
	var denied error
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		t, err := ReadThread(pid, tid)
		if err != nil {
			if deniedErr(err) && denied == nil {
				denied = err
			}
			continue
		}
		if !fn(t) {
			break
		}
	}
	return denied
}
