package sysobj

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ipcplay/ipcplay/ipc/ipctest"
)

// waitTimeout bounds every wait of these tests.
const waitTimeout = 20 * time.Second

// cproc is a running testdata/ipcobjs process.
type cproc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
}

// startC starts testdata/ipcobjs with args. The cleanup closes its stdin
// (the create mode then removes its objects) and kills it if it has not
// exited within the wait timeout.
func startC(t *testing.T, args ...string) *cproc {
	t.Helper()
	bin := ipctest.CompileC(t, "testdata/ipcobjs.c", "-lrt", "-pthread")
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	// No Pdeathsig: Linux ties it to the forking thread, which the Go
	// runtime may end long before this process. If the tests die, stdin
	// closes (create mode removes its objects) and waiters end by alarm.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &cproc{cmd: cmd, stdin: stdin, lines: make(chan string, 64)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	t.Cleanup(func() { p.stop(t) })
	return p
}

func (p *cproc) pid() int { return p.cmd.Process.Pid }

// expect waits for the next line starting with prefix and returns the rest.
func (p *cproc) expect(t *testing.T, prefix string) string {
	t.Helper()
	timeout := time.After(waitTimeout)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				t.Fatalf("ipcobjs exited before printing %q", prefix)
			}
			if rest, ok := strings.CutPrefix(l, prefix); ok {
				return strings.TrimSpace(rest)
			}
		case <-timeout:
			t.Fatalf("ipcobjs did not print %q within %s", prefix, waitTimeout)
		}
	}
}

// stop closes stdin and waits for the exit; SIGKILL if it does not come.
func (p *cproc) stop(t *testing.T) {
	p.stdin.Close()
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(waitTimeout):
		p.cmd.Process.Kill()
		<-done
		t.Errorf("ipcobjs %v did not exit after stdin closed", p.cmd.Args[1:])
	}
}

// kill ends a waiting process.
func (p *cproc) kill() {
	p.cmd.Process.Kill()
}

// waitFor polls cond until it holds or the wait times out.
func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not seen within %s; last state: %s", what, waitTimeout, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cObjects are the objects of one "ipcobjs create".
type cObjects struct {
	proc                *cproc
	prefix              string // "/ipcplay.t123.TestX."
	shmid, semid, msqid int
	mq                  bool
}

func createC(t *testing.T) *cObjects {
	t.Helper()
	o := &cObjects{prefix: "/" + ipctest.Name(t, ".")}
	o.proc = startC(t, "create", o.prefix)
	if pid, _ := strconv.Atoi(o.proc.expect(t, "pid ")); pid != o.proc.pid() {
		t.Fatalf("pid %d, want %d", pid, o.proc.pid())
	}
	mqLine := o.proc.expect(t, "posix-mq")
	o.mq = mqLine == "ok"
	if !o.mq {
		t.Logf("mq_open failed in C (%s): POSIX queue checks skipped", mqLine)
	}
	ids := map[string]*int{"sysv-shm ": &o.shmid, "sysv-sem ": &o.semid, "sysv-msg ": &o.msqid}
	for _, k := range []string{"sysv-shm ", "sysv-sem ", "sysv-msg "} {
		id, err := strconv.Atoi(o.proc.expect(t, k))
		if err != nil {
			t.Fatal(err)
		}
		*ids[k] = id
		ipctest.TrackSysV(strings.TrimPrefix(strings.TrimSpace(k), "sysv-"), id)
	}
	o.proc.expect(t, "ready")
	return o
}

func hasPID(procs []Proc, pid int) bool {
	for _, p := range procs {
		if p.PID == pid {
			return true
		}
	}
	return false
}

func holderOf(hs []Holder, pid int) *Holder {
	for i := range hs {
		if hs[i].PID == pid {
			return &hs[i]
		}
	}
	return nil
}

func (h *Holder) has(how string) bool {
	if h == nil {
		return false
	}
	for _, x := range h.How {
		if x == how {
			return true
		}
	}
	return false
}

// TestCObjects compares what sysobj reads with the values a C program set.
func TestCObjects(t *testing.T) {
	o := createC(t)
	cpid := o.proc.pid()

	t.Run("sysv-sem", func(t *testing.T) {
		s, err := InspectSysVSem(o.semid)
		if err != nil {
			t.Fatal(err)
		}
		if s.NSems != 3 || fmt.Sprint(s.Values) != "[1 0 7]" || fmt.Sprint(s.NCnt) != "[0 0 0]" || fmt.Sprint(s.ZCnt) != "[0 0 0]" {
			t.Errorf("nsems %d values %v ncnt %v zcnt %v", s.NSems, s.Values, s.NCnt, s.ZCnt)
		}
		for i, pid := range s.LastPID {
			if pid != cpid || s.LastProc[i] == nil || !strings.Contains(s.LastProc[i].Cmdline, "create "+o.prefix) {
				t.Errorf("sem %d: last pid %d (%+v), want %d", i, pid, s.LastProc[i], cpid)
			}
		}
		if s.Mode != "0600" || s.OwnerUID != os.Geteuid() || s.OTimeNs == 0 || s.CTimeNs == 0 {
			t.Errorf("perm/times: %+v otime %d ctime %d", s.SysVPerm, s.OTimeNs, s.CTimeNs)
		}
	})
	t.Run("sysv-shm", func(t *testing.T) {
		s, err := InspectSysVShm(o.shmid)
		if err != nil {
			t.Fatal(err)
		}
		if s.Size != 16384 || s.NAttch != 1 || s.CreatorPID != cpid || s.LastPID != cpid || !hasPID(s.MappedBy, cpid) || s.Removed {
			t.Errorf("%+v", s)
		}
		d, err := DumpSysVShm(o.shmid, 96, 32)
		if err != nil {
			t.Fatal(err)
		}
		if d.Length != 32 || d.Total != 16384 || !bytes.HasPrefix(d.Data[4:], []byte("hello sysv\x00")) {
			t.Errorf("dump %+v", d)
		}
	})
	t.Run("sysv-msg", func(t *testing.T) {
		q, err := InspectSysVMsg(o.msqid)
		if err != nil {
			t.Fatal(err)
		}
		if q.Messages != 2 || q.Bytes != 30 || q.LastSendPID != cpid || q.LastSender == nil || q.LastRecvPID != 0 || q.MaxBytes <= 0 {
			t.Errorf("%+v", q)
		}
	})
	t.Run("posix-sem", func(t *testing.T) {
		s, err := InspectPOSIXSem(strings.TrimPrefix(o.prefix+"sem", "/")) // without the slash too
		if err != nil {
			t.Fatal(err)
		}
		if s.Value == nil || *s.Value != 3 || *s.Waiters != 0 || !s.Glibc || s.Size != 32 || len(s.Warnings) > 1 || !hasPID(s.MappedBy, cpid) {
			t.Errorf("%+v (value %v waiters %v)", s, s.Value, s.Waiters)
		}
	})
	t.Run("posix-shm", func(t *testing.T) {
		s, err := InspectPOSIXShm(o.prefix + "shm")
		if err != nil {
			t.Fatal(err)
		}
		if s.Size != 8192 || s.NAttch < 1 || !hasPID(s.MappedBy, cpid) || !hasPID(s.OpenBy, cpid) || s.Mode != "0600" {
			t.Errorf("%+v", s)
		}
		d, err := DumpPOSIXShm(o.prefix+"shm", 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		if d.Length != 8192 || !bytes.HasPrefix(d.Data, []byte("hello posix\x00")) {
			t.Errorf("dump of %d bytes: %q", d.Length, d.Data[:16])
		}
	})
	t.Run("posix-mq", func(t *testing.T) {
		if !o.mq {
			t.Skip("the C program could not create a POSIX queue")
		}
		q, err := InspectPOSIXMQ(o.prefix + "mq")
		if err != nil {
			t.Fatal(err)
		}
		if q.Messages != 1 || q.MaxMessages != 5 || q.MsgSize != 64 || q.Bytes < 11 || q.NotifyPID != 0 || holderOf(q.OpenBy, cpid) == nil {
			t.Errorf("%+v", q)
		}
		w, err := Who(Target{Type: TypePOSIXMQ, ID: -1, Name: o.prefix + "mq"})
		if err != nil || !holderOf(w.Processes, cpid).has("open") {
			t.Errorf("who: %+v %v", w, err)
		}
	})
	t.Run("list", func(t *testing.T) {
		objs, err := List()
		if err != nil && !errors.Is(err, ErrMqueueNotMounted) {
			t.Logf("partial: %v", err)
		}
		want := map[string]bool{
			fmt.Sprintf("sysv-shm %d", o.shmid): false, fmt.Sprintf("sysv-sem %d", o.semid): false,
			fmt.Sprintf("sysv-msg %d", o.msqid): false, "posix-shm " + o.prefix + "shm": false, "posix-sem " + o.prefix + "sem": false,
		}
		if len(mqueueMounts()) > 0 && o.mq {
			want["posix-mq "+o.prefix+"mq"] = false
		} else if !errors.Is(err, ErrMqueueNotMounted) {
			t.Errorf("no mqueue mount, but List did not say so: %v", err)
		}
		for _, ob := range objs {
			k := ob.Target().String()
			if _, ok := want[k]; ok {
				want[k] = true
				switch ob.Type {
				case TypeSysVShm:
					if ob.Size != 16384 || ob.CreatorPID != cpid {
						t.Errorf("%+v", ob)
					}
				case TypeSysVSem:
					if ob.Size != 3 {
						t.Errorf("%+v", ob)
					}
				case TypeSysVMsg:
					if ob.Size != 30 {
						t.Errorf("%+v", ob)
					}
				}
				if ob.Mode != "0600" || ob.OwnerUID != os.Geteuid() {
					t.Errorf("%+v", ob)
				}
			}
		}
		for k, seen := range want {
			if !seen {
				t.Errorf("List misses %s", k)
			}
		}
	})
	t.Run("snapshot", func(t *testing.T) {
		st, err := Snapshot(Selection{Targets: []Target{
			{Type: TypeSysVSem, ID: o.semid}, {Type: TypePOSIXSem, ID: -1, Name: o.prefix + "sem"},
			{Type: TypeSysVShm, ID: o.shmid}, {Type: TypeSysVMsg, ID: o.msqid}, {Type: TypePOSIXShm, ID: -1, Name: o.prefix + "shm"},
			{Type: TypeSysVSem, ID: 1<<31 - 2},
		}})
		if err != nil {
			t.Fatal(err)
		}
		byKey := map[string]Status{}
		for _, s := range st {
			byKey[s.Target().String()] = s
		}
		if s := byKey[fmt.Sprintf("sysv-sem %d", o.semid)]; fmt.Sprint(s.Values) != "[1 0 7]" {
			t.Errorf("sem %+v", s)
		}
		if s := byKey["posix-sem "+o.prefix+"sem"]; s.Value == nil || *s.Value != 3 {
			t.Errorf("posix sem %+v", s)
		}
		if s := byKey[fmt.Sprintf("sysv-shm %d", o.shmid)]; s.NAttch == nil || *s.NAttch != 1 {
			t.Errorf("shm %+v", s)
		}
		if s := byKey[fmt.Sprintf("sysv-msg %d", o.msqid)]; s.Messages == nil || *s.Messages != 2 || *s.Bytes != 30 {
			t.Errorf("msg %+v", s)
		}
		if s := byKey["posix-shm "+o.prefix+"shm"]; s.NAttch == nil || *s.NAttch < 1 {
			t.Errorf("posix shm %+v", s)
		}
		if s := byKey[fmt.Sprintf("sysv-sem %d", 1<<31-2)]; !s.Gone {
			t.Errorf("missing set not gone: %+v", s)
		}
	})

	// Waiters: C processes blocked in semop, msgrcv, sem_wait and a futex.
	t.Run("sysv-sem waiters", func(t *testing.T) {
		inc := startC(t, "semop-wait", strconv.Itoa(o.semid), "1", "-1")
		zero := startC(t, "semop-wait", strconv.Itoa(o.semid), "2", "0")
		inc.expect(t, "waiting")
		zero.expect(t, "waiting")
		waitFor(t, "ncnt[1] = zcnt[2] = 1 and both waiters", func() (bool, string) {
			s, err := InspectSysVSem(o.semid)
			if err != nil {
				return false, err.Error()
			}
			ok := s.NCnt[1] == 1 && s.ZCnt[2] == 1 && s.NCnt[0] == 0 && holderOf(s.Waiting, inc.pid()) != nil && holderOf(s.Waiting, zero.pid()) != nil
			return ok, fmt.Sprintf("ncnt %v zcnt %v waiting %+v", s.NCnt, s.ZCnt, s.Waiting)
		})
		w, err := Who(Target{Type: TypeSysVSem, ID: o.semid})
		if err != nil {
			t.Fatal(err)
		}
		if !holderOf(w.Processes, inc.pid()).has("waiting") || !holderOf(w.Processes, cpid).has("last-op") {
			t.Errorf("who: %+v", w.Processes)
		}
		inc.kill()
		zero.kill()
		waitFor(t, "waiters gone after kill", func() (bool, string) {
			s, err := InspectSysVSem(o.semid)
			return err == nil && s.NCnt[1] == 0 && s.ZCnt[2] == 0, fmt.Sprint(s, err)
		})
	})
	t.Run("sysv-msg waiter", func(t *testing.T) {
		r := startC(t, "msgrcv-wait", strconv.Itoa(o.msqid))
		r.expect(t, "waiting")
		waitFor(t, "msgrcv waiter", func() (bool, string) {
			q, err := InspectSysVMsg(o.msqid)
			if err != nil {
				return false, err.Error()
			}
			return holderOf(q.Waiting, r.pid()) != nil, fmt.Sprintf("%+v", q.Waiting)
		})
		r.kill()
	})
	t.Run("posix-sem waiter", func(t *testing.T) {
		name := o.prefix + "sem"
		w := startC(t, "sem-wait", name)
		w.expect(t, "waiting")
		waitFor(t, "value 0, one glibc waiter, futex wait seen", func() (bool, string) {
			s, err := InspectPOSIXSem(name)
			if err != nil {
				return false, err.Error()
			}
			ok := *s.Value == 0 && *s.Waiters == 1 && hasPID(s.MappedBy, w.pid()) && holderOf(s.Waiting, w.pid()) != nil
			return ok, fmt.Sprintf("value %d waiters %d mapped %v waiting %+v", *s.Value, *s.Waiters, s.MappedBy, s.Waiting)
		})
		res, err := Who(Target{Type: TypePOSIXSem, ID: -1, Name: name})
		if err != nil {
			t.Fatal(err)
		}
		if h := holderOf(res.Processes, w.pid()); !h.has("maps") || !h.has("waiting") {
			t.Errorf("who: %+v", res.Processes)
		}
		w.kill()
	})
	t.Run("posix-shm futex waiter", func(t *testing.T) {
		w := startC(t, "shm-mutex-wait", o.prefix+"shm")
		w.expect(t, "waiting")
		target, err := ResolvePath(posixPath(TypePOSIXShm, o.prefix+"shm"))
		if err != nil || target != (Target{Type: TypePOSIXShm, ID: -1, Name: o.prefix + "shm"}) {
			t.Fatalf("ResolvePath: %+v %v", target, err)
		}
		waitFor(t, "futex waiter at offset 64", func() (bool, string) {
			res, err := Who(target)
			if err != nil {
				return false, err.Error()
			}
			h := holderOf(res.Processes, w.pid())
			return h.has("waiting") && h.has("maps") && strings.Contains(strings.Join(h.Details, ";"), "offset 64"), fmt.Sprintf("%+v", res.Processes)
		})
		w.kill()
	})
}

// TestLocks: flock and fcntl holders and a queued flock request.
func TestLocks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lockfile")
	if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	holder := startC(t, "lock", path, "flock")
	holder.expect(t, "locked")
	posix := startC(t, "lock", path, "fcntl")
	posix.expect(t, "locked")
	waiter := startC(t, "lock", path, "flock") // blocks behind holder
	target, err := ResolvePath(path)
	if err != nil || target.Type != TypeFile {
		t.Fatalf("ResolvePath: %+v %v", target, err)
	}
	waitFor(t, "flock holder, fcntl holder and flock waiter", func() (bool, string) {
		res, err := Who(target)
		if err != nil {
			return false, err.Error()
		}
		ok := holderOf(res.Processes, holder.pid()).has("flock") && holderOf(res.Processes, posix.pid()).has("fcntl") &&
			holderOf(res.Processes, waiter.pid()).has("waiting") && holderOf(res.Processes, holder.pid()).has("open")
		return ok, fmt.Sprintf("%+v", res.Processes)
	})
	waiter.kill() // blocked in flock: closing its stdin would not end it
}

// The input: a glibc sem_open semaphore at value 0, three
// processes blocked in sem_wait, one of them killed with SIGKILL. glibc's
// count stays at 3; the kernel has 2 threads in futex wait; inspect says
// which is which and warns.
func TestPOSIXSemLibraryCountVersusKernel(t *testing.T) {
	o := createC(t)
	name := o.prefix + "sem"
	var ws []*cproc
	for i := 0; i < 3; i++ {
		w := startC(t, "sem-wait", name)
		w.expect(t, "waiting")
		ws = append(ws, w)
	}
	waitFor(t, "three waiters, glibc's and the kernel's", func() (bool, string) {
		s, err := InspectPOSIXSem(name)
		if err != nil {
			return false, err.Error()
		}
		return *s.Value == 0 && *s.Waiters == 3 && s.KernelWaiters == 3, fmt.Sprintf("%+v", s)
	})
	ws[0].kill()
	ws[0].cmd.Wait()
	var s *POSIXSem
	waitFor(t, "the killed waiter's thread gone", func() (bool, string) {
		var err error
		if s, err = InspectPOSIXSem(name); err != nil {
			return false, err.Error()
		}
		return s.KernelWaiters == 2, fmt.Sprintf("%+v", s)
	})
	if *s.Waiters != 3 {
		t.Fatalf("glibc's count is %d, not 3: the input is not the issue's", *s.Waiters)
	}
	if !strings.Contains(strings.Join(s.Warnings, "\n"), "glibc's waiter count (3, kept in the semaphore's memory) disagrees with the kernel: 2 threads") {
		t.Errorf("no warning on 3 against 2: %q", s.Warnings)
	}
	if strings.Join(s.LibraryKept, ",") != "value,waiters" {
		t.Errorf("library-kept fields: %q", s.LibraryKept)
	}
	var b bytes.Buffer
	if err := Render(&b, s); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"kept by glibc: its count", "kernel waiters  2", "warning: glibc's waiter count (3"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("inspect text lacks %q:\n%s", want, b.String())
		}
	}
	for _, w := range ws[1:] {
		w.kill()
	}
}

// TestLockOwnersFromTheirDescriptors: the input, a process holding
// an open-file-description lock (F_OFD_SETLK, pid -1 in /proc/locks), is
// shown as holding it; and a flock taken by a process that exited while
// its child kept the descriptor is held by the child, not the pid
// /proc/locks names.
func TestLockOwnersFromTheirDescriptors(t *testing.T) {
	dir := t.TempDir()
	ofdPath, forkPath := filepath.Join(dir, "ofd"), filepath.Join(dir, "fork")
	for _, p := range []string{ofdPath, forkPath} {
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ofd := startC(t, "lock", ofdPath, "ofd")
	ofd.expect(t, "locked")
	res, err := Who(Target{Type: TypeFile, ID: -1, Name: ofdPath})
	if err != nil {
		t.Fatal(err)
	}
	if h := holderOf(res.Processes, ofd.pid()); !h.has("ofd") || !strings.Contains(strings.Join(h.Details, "|"), "open file description") {
		t.Errorf("OFD lock holder %d not shown as holding it: %+v", ofd.pid(), res.Processes)
	}

	fork := startC(t, "lock", forkPath, "flock-fork")
	child, err := strconv.Atoi(fork.expect(t, "holder "))
	if err != nil {
		t.Fatal(err)
	}
	fork.expect(t, "locked")
	t.Cleanup(func() { unix.Kill(child, unix.SIGKILL) })
	// Until the parent has exited it still holds the descriptor (and the
	// lock): wait for it to be a zombie, which holds no descriptor.
	waitFor(t, "the parent exited", func() (bool, string) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", fork.pid()))
		if err != nil {
			return true, ""
		}
		i := bytes.LastIndexByte(b, ')')
		return i > 0 && i+2 < len(b) && b[i+2] == 'Z', string(b)
	})
	res, err = Who(Target{Type: TypeFile, ID: -1, Name: forkPath})
	if err != nil {
		t.Fatal(err)
	}
	if !holderOf(res.Processes, child).has("flock") {
		t.Errorf("the child %d that holds the flock is not shown holding it: %+v", child, res.Processes)
	}
	if holderOf(res.Processes, fork.pid()).has("flock") {
		t.Errorf("the exited parent %d is shown holding the flock: %+v", fork.pid(), res.Processes)
	}
}

// TestIpcmk inspects objects made by util-linux's ipcmk.
func TestIpcmk(t *testing.T) {
	ipcmk, err := exec.LookPath("ipcmk")
	if err != nil {
		t.Skip("util-linux ipcmk not installed: ipcmk interop not checked")
	}
	mk := func(kind string, args ...string) int {
		out, err := exec.Command(ipcmk, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("ipcmk %v: %v\n%s", args, err, out)
		}
		m := regexp.MustCompile(`id: (\d+)`).FindSubmatch(out)
		if m == nil {
			t.Fatalf("ipcmk %v: no id in %q", args, out)
		}
		id, _ := strconv.Atoi(string(m[1]))
		ipctest.TrackSysV(kind, id)
		return id
	}
	shmid := mk("shm", "-M", "4096", "-p", "0600")
	t.Cleanup(func() { unix.SysvShmCtl(shmid, unix.IPC_RMID, nil) })
	semid := mk("sem", "-S", "4", "-p", "0600")
	t.Cleanup(func() { unix.Syscall6(unix.SYS_SEMCTL, uintptr(semid), 0, unix.IPC_RMID, 0, 0, 0) })
	msqid := mk("msg", "-Q", "-p", "0600")
	t.Cleanup(func() { unix.Syscall(unix.SYS_MSGCTL, uintptr(msqid), unix.IPC_RMID, 0) })

	shm, err := InspectSysVShm(shmid)
	if err != nil || shm.Size != 4096 || shm.NAttch != 0 || len(shm.MappedBy) != 0 || shm.Mode != "0600" {
		t.Errorf("shm %+v %v", shm, err)
	}
	sem, err := InspectSysVSem(semid)
	if err != nil || sem.NSems != 4 || fmt.Sprint(sem.Values) != "[0 0 0 0]" || fmt.Sprint(sem.LastPID) != "[0 0 0 0]" {
		t.Errorf("sem %+v %v", sem, err)
	}
	msg, err := InspectSysVMsg(msqid)
	if err != nil || msg.Messages != 0 || msg.Bytes != 0 || msg.LastSender != nil {
		t.Errorf("msg %+v %v", msg, err)
	}
	d, err := DumpSysVShm(shmid, 0, 16)
	if err != nil || !bytes.Equal(d.Data, make([]byte, 16)) {
		t.Errorf("dump %+v %v", d, err)
	}
}

// TestPythonSharedMemory inspects a multiprocessing.shared_memory segment.
func TestPythonSharedMemory(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3: Python interop not checked")
	}
	name := ipctest.Name(t, "")
	script := `import sys
from multiprocessing import shared_memory
s = shared_memory.SharedMemory(name=sys.argv[1], create=True, size=4096)
s.buf[:5] = b"hello"
print("ready", flush=True)
sys.stdin.read()
s.close()
s.unlink()
`
	cmd := exec.Command(py, "-c", script, name) // ends (and unlinks) when stdin closes
	stdin, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		stdin.Close()
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(waitTimeout):
			cmd.Process.Kill()
			os.Remove(shmDir + "/" + name)
		}
	})
	ready := make(chan bool, 1)
	go func() { l, _ := bufio.NewReader(out).ReadString('\n'); ready <- l == "ready\n" }()
	select {
	case ok := <-ready:
		if !ok {
			t.Skipf("python3 could not create shared memory: %s", stderr.String())
		}
	case <-time.After(waitTimeout):
		t.Fatal("python3 did not start")
	}
	s, err := InspectPOSIXShm(name)
	if err != nil {
		t.Fatal(err)
	}
	if s.Size != 4096 || !hasPID(s.MappedBy, cmd.Process.Pid) {
		t.Errorf("%+v", s)
	}
	d, err := DumpPOSIXShm(name, 0, 5)
	if err != nil || string(d.Data) != "hello" {
		t.Errorf("dump %+v %v", d, err)
	}
}

// TestUnixSocket: a listener with an accepted connection, a queued client
// and a thread blocked in accept; a stale socket file; an abstract name.
func TestUnixSocket(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.sock")
	lfd := listenUnix(t, path, unix.SOCK_STREAM)
	c1 := dialUnix(t, path)
	afd, _, err := unix.Accept4(lfd, unix.SOCK_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(afd) })
	c2 := dialUnix(t, path) // stays in the backlog
	u, err := InspectUnixSocket(path)
	if err != nil {
		t.Fatal(err)
	}
	me := os.Getpid()
	if !u.Bound || !u.Listening || u.Stale || !u.FileIsSocket || u.SocketType != "stream" {
		t.Fatalf("%+v", u)
	}
	ino := func(fd int) uint64 {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			t.Fatal(err)
		}
		return st.Ino
	}
	roles := map[uint64]SocketEnd{}
	for _, e := range u.Sockets {
		roles[e.Inode] = e
	}
	if e := roles[ino(lfd)]; e.Role != "listener" || holderOf(e.HeldBy, me) == nil {
		t.Errorf("listener %+v", e)
	}
	acc := roles[ino(afd)]
	if acc.Role != "accepted" || acc.State != "connected" || holderOf(acc.HeldBy, me) == nil {
		t.Errorf("accepted %+v", acc)
	}
	if u.PeersKnown {
		if acc.PeerInode != ino(c1) || holderOf(acc.PeerHeldBy, me) == nil {
			t.Errorf("peer of the accepted socket: %+v, want inode %d", acc, ino(c1))
		}
		if len(u.Pending) != 1 || u.Pending[0].Inode != ino(c2) || u.Backlog != 1 {
			t.Errorf("pending %+v backlog %d, want client %d", u.Pending, u.Backlog, ino(c2))
		}
	} else {
		t.Log("sock_diag unavailable: peers not checked")
	}

	// A thread of this process blocked in accept(2) on the listener, once
	// the backlog is empty.
	a2, _, err := unix.Accept4(lfd, unix.SOCK_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(a2)
	accepted := make(chan int, 1)
	go func() {
		fd, _, _ := unix.Accept4(lfd, unix.SOCK_CLOEXEC) // blocking socket: the thread sleeps in accept4
		accepted <- fd
	}()
	waitFor(t, "this process waiting in accept on the listener", func() (bool, string) {
		res, err := Who(Target{Type: TypeUnixSocket, ID: -1, Name: path})
		if err != nil {
			return false, err.Error()
		}
		h := holderOf(res.Processes, me)
		return h.has("waiting") && h.has("open"), fmt.Sprintf("%+v", res.Processes)
	})
	dialUnix(t, path) // lets the accept return
	select {
	case fd := <-accepted:
		unix.Close(fd)
	case <-time.After(waitTimeout):
		t.Fatal("accept did not return")
	}

	// A stale file: bound, then closed without unlink.
	stale := filepath.Join(dir, "stale.sock")
	unix.Close(listenUnix(t, stale, unix.SOCK_STREAM))
	s, err := InspectUnixSocket(stale)
	if err != nil || !s.Stale || s.Bound || len(s.Warnings) == 0 {
		t.Errorf("stale: %+v %v", s, err)
	}
	// A datagram socket: bound, not listening.
	dg := filepath.Join(dir, "dg.sock")
	listenUnix(t, dg, unix.SOCK_DGRAM)
	if d, err := InspectUnixSocket(dg); err != nil || !d.Bound || d.Listening || d.SocketType != "dgram" {
		t.Errorf("dgram: %+v %v", d, err)
	}
	// An abstract listener, and a name nobody has.
	abs := "@" + ipctest.Name(t, ".abs")
	listenUnix(t, abs, unix.SOCK_STREAM)
	if a, err := InspectUnixSocket(abs); err != nil || !a.Abstract || !a.Listening {
		t.Errorf("abstract: %+v %v", a, err)
	}
	if _, err := InspectUnixSocket(abs + ".none"); !errors.Is(err, ErrNotExist) {
		t.Errorf("missing abstract name: %v", err)
	}
	// What List shows for the name: one object, the listener's inode.
	objs, _ := List()
	n := 0
	for _, o := range objs {
		if o.Type == TypeUnixSocket && o.Name == path {
			n++
			if o.ID != int(ino(lfd)) || o.Mode == "" {
				t.Errorf("listed %+v", o)
			}
		}
	}
	if n != 1 {
		t.Errorf("List has %d entries for %s, want 1", n, path)
	}
	// A socket whose file was removed while it is bound.
	os.Remove(dg)
	if d, err := InspectUnixSocket(dg); err != nil || !d.Bound || d.FileExists {
		t.Errorf("unlinked: %+v %v", d, err)
	}
	if tg, err := ResolvePath(dg); err != nil || tg.Type != TypeUnixSocket {
		t.Errorf("ResolvePath of a removed bound socket: %+v %v", tg, err)
	}
}

func listenUnix(t *testing.T, name string, typ int) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_UNIX, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	sa := &unix.SockaddrUnix{Name: name}
	if strings.HasPrefix(name, "@") {
		sa.Name = "\x00" + name[1:]
	}
	if err := unix.Bind(fd, sa); err != nil {
		t.Fatal(err)
	}
	if typ != unix.SOCK_DGRAM {
		if err := unix.Listen(fd, 8); err != nil {
			t.Fatal(err)
		}
	}
	return fd
}

func dialUnix(t *testing.T, path string) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	return fd
}

// TestWithoutSockDiag: the /proc/net/unix fallback finds the sockets of a
// name but cannot tell peers.
func TestWithoutSockDiag(t *testing.T) {
	data := []byte(`Num       RefCount Protocol Flags    Type St Inode Path
0000000000000001: 00000002 00000000 00010000 0001 01 500 /run/a.sock
0000000000000002: 00000003 00000000 00000000 0001 03 501 /run/a.sock
0000000000000003: 00000003 00000000 00000000 0001 03 502
`)
	var recs []sockRecord
	for _, n := range parseNetUnix(data) {
		recs = append(recs, sockRecord{Inode: n.Inode, Type: n.Type, State: ssName(n), Listening: n.listening(), Name: n.Path, UID: -1})
	}
	u := &UnixSocket{FileExists: true, FileIsSocket: true, OwnerUID: -1}
	u.fill(matchSockets(recs, "/run/a.sock", nil), recs)
	if !u.Bound || !u.Listening || u.Stale || len(u.Sockets) != 2 || u.Sockets[0].Role != "listener" || u.Sockets[1].Role != "accepted" || u.Sockets[1].PeerInode != 0 {
		t.Fatalf("%+v", u)
	}
	u = &UnixSocket{FileExists: true, FileIsSocket: true, OwnerUID: -1}
	u.fill(matchSockets(recs, "/run/b.sock", nil), recs)
	if !u.Stale || u.Bound {
		t.Fatalf("stale: %+v", u)
	}
}

// TestErrors: bad input is ErrInvalid, missing objects ErrNotExist, and
// neither is the other.
func TestErrors(t *testing.T) {
	missing := []func() error{
		func() error { _, err := InspectSysVSem(1<<31 - 2); return err },
		func() error { _, err := InspectSysVShm(1<<31 - 2); return err },
		func() error { _, err := InspectSysVMsg(1<<31 - 2); return err },
		func() error { _, err := InspectPOSIXSem("/ipcplay.none." + t.Name()); return err },
		func() error { _, err := InspectPOSIXShm("ipcplay.none"); return err },
		func() error { _, err := InspectPOSIXMQ("/ipcplay.none"); return err },
		func() error { _, err := InspectUnixSocket(filepath.Join(t.TempDir(), "none.sock")); return err },
		func() error { _, err := Who(Target{Type: TypeSysVSem, ID: 1<<31 - 2}); return err },
		func() error { _, err := ResolvePath("/nonexistent/ipcplay"); return err },
		func() error { _, err := DumpSysVShm(1<<31-2, 0, 1); return err },
	}
	for i, f := range missing {
		if err := f(); !errors.Is(err, ErrNotExist) || errors.Is(err, ErrInvalid) {
			t.Errorf("missing #%d: %v", i, err)
		}
	}
	regular := filepath.Join(t.TempDir(), "file")
	os.WriteFile(regular, nil, 0o600)
	invalid := []func() error{
		func() error { _, err := InspectPOSIXSem("/a/b"); return err },
		func() error { _, err := InspectPOSIXShm(""); return err },
		func() error { _, err := InspectUnixSocket(regular); return err },
		func() error { _, err := Who(Target{Type: "bogus"}); return err },
		func() error { _, err := ResolvePath(""); return err },
	}
	for i, f := range invalid {
		if err := f(); !errors.Is(err, ErrInvalid) {
			t.Errorf("invalid #%d: %v", i, err)
		}
	}
	// EACCES stays the system call's error, for the CLI to explain.
	err := sysvErr(Target{Type: TypeSysVSem, ID: 1}, "semctl IPC_STAT", unix.EACCES)
	if !errors.Is(err, unix.EACCES) || errors.Is(err, ErrNotExist) {
		t.Errorf("EACCES: %v", err)
	}
}

// TestNotGlibcSemaphore: a sem.NAME file of the wrong size is flagged.
func TestNotGlibcSemaphore(t *testing.T) {
	name := ipctest.Name(t, "")
	path := posixPath(TypePOSIXSem, "/"+name)
	if err := os.WriteFile(path, make([]byte, 16), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(path) })
	s, err := InspectPOSIXSem(name)
	if err != nil {
		t.Fatal(err)
	}
	if s.Glibc || s.Value != nil || len(s.Warnings) == 0 || !strings.Contains(s.Warnings[0], "16 bytes") {
		t.Errorf("%+v", s)
	}
	// 32 bytes with a value above SEM_VALUE_MAX: another libc's layout.
	b := make([]byte, 32)
	b[3] = 0x80
	os.WriteFile(path, b, 0o600)
	if s, err := InspectPOSIXSem(name); err != nil || s.Glibc || len(s.Warnings) == 0 {
		t.Errorf("%+v %v", s, err)
	}
}
