package semaphore

import (
	"bufio"
	"context"
	"errors"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipcplay/ipcplay/ipc/ipctest"
	"golang.org/x/sys/unix"
)

func newSet(t testing.TB, n int) *Set {
	t.Helper()
	s, err := CreateSet(n)
	if err != nil {
		t.Fatalf("CreateSet(%d): %v", n, err)
	}
	ipctest.TrackSysV("sem", s.ID())
	t.Cleanup(func() {
		if err := s.Remove(); err != nil {
			t.Errorf("Remove: %v", err)
		}
	})
	return s
}

func TestSysVContention(t *testing.T) {
	s := newSet(t, 1)
	if err := s.SetVal(0, 1); err != nil {
		t.Fatal(err)
	}
	runCounters(t, newSharedPage(t), "sysv", 2, 20000, strconv.Itoa(s.ID()))
	if v, err := s.Val(0); err != nil || v != 1 {
		t.Fatalf("Val = %d, %v; want 1", v, err)
	}
}

func TestSysVNCountAndLastPID(t *testing.T) {
	s := newSet(t, 2)
	child := startChild(t, nil, "sysv-p", strconv.Itoa(s.ID()), "0")
	eventually(t, "GETNCNT to show the blocked child", func() bool {
		n, err := s.NCount(0)
		return err == nil && n == 1
	})
	if z, err := s.ZCount(0); err != nil || z != 0 {
		t.Errorf("ZCount = %d, %v; want 0", z, err)
	}
	if err := s.V(0, false); err != nil {
		t.Fatal(err)
	}
	waitChildren(t, child)
	pid, err := s.LastPID(0)
	if err != nil {
		t.Fatal(err)
	}
	if pid != child.Process.Pid {
		t.Errorf("LastPID = %d, want the child's %d", pid, child.Process.Pid)
	}
	if n, _ := s.NCount(0); n != 0 {
		t.Errorf("NCount after the wake-up = %d, want 0", n)
	}
	if pid, _ := s.LastPID(1); pid != 0 {
		t.Errorf("LastPID of an untouched semaphore = %d, want 0", pid)
	}
}

func TestSysVUndoOnKill(t *testing.T) {
	for _, undo := range []bool{true, false} {
		t.Run(map[bool]string{true: "undo", false: "no-undo"}[undo], func(t *testing.T) {
			s := newSet(t, 1)
			if err := s.SetVal(0, 1); err != nil {
				t.Fatal(err)
			}
			holder := startHolder(t, nil, "sysv", strconv.Itoa(s.ID()), map[bool]string{true: "1", false: "0"}[undo])
			if v, _ := s.Val(0); v != 0 {
				t.Fatalf("Val while held = %d, want 0", v)
			}
			killAndReap(t, holder)
			v, err := s.Val(0)
			if err != nil {
				t.Fatal(err)
			}
			err = s.TryP(0, false)
			if undo {
				if v != 1 || err != nil {
					t.Fatalf("after SIGKILL with SEM_UNDO: Val = %d, TryP = %v; want 1 and success", v, err)
				}
			} else {
				if v != 0 || !errors.Is(err, unix.EAGAIN) {
					t.Fatalf("after SIGKILL without SEM_UNDO: Val = %d, TryP = %v; want 0 and EAGAIN", v, err)
				}
			}
		})
	}
}

func TestSysVTimeoutAndCancel(t *testing.T) {
	s := newSet(t, 1)
	err := s.P(ctxTimeout(t, 60*time.Millisecond), 0, false)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("P on 0 with a deadline: %v, want DeadlineExceeded", err)
	}
	if !strings.Contains(err.Error(), "set "+strconv.Itoa(s.ID())) {
		t.Errorf("error %q does not name the set", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(30*time.Millisecond, cancel)
	if err := s.P(ctx, 0, false); !errors.Is(err, context.Canceled) {
		t.Fatalf("P cancelled: %v, want Canceled", err)
	}
	// A done context does not stop an operation that can proceed at once.
	if err := s.V(0, false); err != nil {
		t.Fatal(err)
	}
	if err := s.P(ctx, 0, false); err != nil {
		t.Fatalf("P with a done context on a positive semaphore: %v", err)
	}
	if n, _ := s.NCount(0); n != 0 {
		t.Errorf("NCount after the timed-out waits = %d, want 0", n)
	}
}

func TestSysVOpMulti(t *testing.T) {
	s := newSet(t, 3)
	// Atomically: sem0 += 2, sem1 += 1.
	if err := s.Op(context.Background(), []Sembuf{{Num: 0, Op: 2}, {Num: 1, Op: 1}}); err != nil {
		t.Fatal(err)
	}
	// All or nothing: sem0 -= 1 can proceed but sem2 -= 1 cannot.
	err := s.Op(context.Background(), []Sembuf{{Num: 0, Op: -1, Flg: NoWait}, {Num: 2, Op: -1, Flg: NoWait}})
	if !errors.Is(err, unix.EAGAIN) {
		t.Fatalf("Op that would block with NoWait: %v, want EAGAIN", err)
	}
	for i, want := range []int{2, 1, 0} {
		if v, _ := s.Val(i); v != want {
			t.Errorf("Val(%d) = %d, want %d", i, v, want)
		}
	}
	// Wait-for-zero.
	if err := s.Op(ctxTimeout(t, 5*time.Second), []Sembuf{{Num: 2, Op: 0}}); err != nil {
		t.Fatalf("wait for zero on a zero semaphore: %v", err)
	}
	if err := s.Op(context.Background(), nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("Op(nil): %v, want ErrInvalid", err)
	}
	if err := s.Op(context.Background(), []Sembuf{{Num: 3, Op: 1}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Op on index 3 of 3: %v, want ErrInvalid", err)
	}
}

func TestSysVBadInput(t *testing.T) {
	lim, err := Limits()
	if err != nil {
		t.Fatal(err)
	}
	if lim.SEMMSL <= 0 || lim.SEMOPM <= 0 || lim.SEMMNI <= 0 || lim.SEMMNS <= 0 {
		t.Fatalf("Limits = %+v", lim)
	}
	for _, n := range []int{0, -1, lim.SEMMSL + 1} {
		if s, err := CreateSet(n); !errors.Is(err, ErrInvalid) {
			if s != nil {
				s.Remove()
			}
			t.Errorf("CreateSet(%d): %v, want ErrInvalid", n, err)
		}
	}
	if _, err := OpenSet(-1); !errors.Is(err, ErrInvalid) {
		t.Errorf("OpenSet(-1): %v, want ErrInvalid", err)
	}

	// A set that existed and was removed.
	s, err := CreateSet(1)
	if err != nil {
		t.Fatal(err)
	}
	ipctest.TrackSysV("sem", s.ID())
	if err := s.Remove(); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(); err != nil {
		t.Errorf("second Remove: %v, want nil", err)
	}
	_, err = OpenSet(s.ID())
	if !errors.Is(err, ErrNotFound) || !errors.Is(err, unix.EINVAL) {
		t.Errorf("OpenSet(removed): %v, want ErrNotFound and EINVAL", err)
	}
	if err == nil || !strings.Contains(err.Error(), "no such set") {
		t.Errorf("OpenSet(removed) error not explained: %v", err)
	}
	if err := s.V(0, false); !errors.Is(err, ErrNotFound) {
		t.Errorf("V on a removed set: %v, want ErrNotFound", err)
	}

	live := newSet(t, 2)
	if err := live.SetVal(0, SEMVMX+1); !errors.Is(err, ErrInvalid) {
		t.Errorf("SetVal(SEMVMX+1): %v, want ErrInvalid", err)
	}
	if err := live.SetVal(2, 1); !errors.Is(err, ErrInvalid) {
		t.Errorf("SetVal on index 2 of 2: %v, want ErrInvalid", err)
	}
	if _, err := live.Val(-1); !errors.Is(err, ErrInvalid) {
		t.Errorf("Val(-1): %v, want ErrInvalid", err)
	}
	if err := live.P(context.Background(), 5, false); !errors.Is(err, ErrInvalid) {
		t.Errorf("P(5): %v, want ErrInvalid", err)
	}
	if err := live.SetVal(1, SEMVMX); err != nil {
		t.Fatal(err)
	}
	if err := live.V(1, false); !errors.Is(err, unix.ERANGE) {
		t.Errorf("V above SEMVMX: %v, want ERANGE", err)
	}
}

func TestSysVBlockedWaiterSeesRemoval(t *testing.T) {
	s, err := CreateSet(1)
	if err != nil {
		t.Fatal(err)
	}
	ipctest.TrackSysV("sem", s.ID())
	done := make(chan error, 1)
	go func() { done <- s.P(ctxTimeout(t, 10*time.Second), 0, false) }()
	eventually(t, "the waiter to block", func() bool { n, _ := s.NCount(0); return n == 1 })
	if err := s.Remove(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, unix.EIDRM) || !errors.Is(err, ErrNotFound) {
			t.Fatalf("P on a set removed under it: %v, want EIDRM and ErrNotFound", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("waiter not woken by IPC_RMID")
	}
}

// TestSysVStatMatchesIpcs checks IPC_STAT (and so the per-architecture
// struct semid64_ds) and GETVAL/GETPID against ipcs(1).
func TestSysVStatMatchesIpcs(t *testing.T) {
	ipcs, err := exec.LookPath("ipcs")
	if err != nil {
		t.Skip("no ipcs(1): IPC_STAT not cross-checked")
	}
	s := newSet(t, 3)
	if err := s.SetVal(1, 5); err != nil {
		t.Fatal(err)
	}
	if err := s.V(2, false); err != nil {
		t.Fatal(err)
	}
	info, err := s.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if info.NSems != 3 || info.Mode != 0o600 || info.UID != uint32(unix.Getuid()) || info.CUID != uint32(unix.Getuid()) ||
		info.GID != uint32(unix.Getgid()) || info.Key != 0 || info.OTime.IsZero() || info.CTime.IsZero() {
		t.Errorf("Stat = %+v", info)
	}
	out, err := exec.Command(ipcs, "-s", "-i", strconv.Itoa(s.ID())).Output()
	if err != nil {
		t.Fatalf("ipcs: %v", err)
	}
	kv := map[string]string{}
	var rows [][]string
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		line := sc.Text()
		if strings.Contains(line, " = ") {
			k, v, _ := strings.Cut(line, " = ")
			kv[strings.TrimSpace(k)] = strings.TrimSpace(v)
			continue
		}
		for _, f := range strings.Fields(strings.ReplaceAll(line, ",", "")) {
			if k, v, ok := strings.Cut(f, "="); ok {
				kv[k] = v
			}
		}
		if f := strings.Fields(line); len(f) == 5 && f[0] >= "0" && f[0] <= "9" {
			rows = append(rows, f)
		}
	}
	want := map[string]string{
		"uid": strconv.Itoa(int(info.UID)), "gid": strconv.Itoa(int(info.GID)),
		"cuid": strconv.Itoa(int(info.CUID)), "cgid": strconv.Itoa(int(info.CGID)),
		"mode": "0600", "nsems": "3",
	}
	for k, v := range want {
		if kv[k] != v {
			t.Errorf("ipcs %s = %q, Stat says %q\n%s", k, kv[k], v, out)
		}
	}
	for _, k := range []string{"otime", "ctime"} {
		got, err := time.ParseInLocation("Mon Jan _2 15:04:05 2006", kv[k], time.Local)
		tm := map[string]time.Time{"otime": info.OTime, "ctime": info.CTime}[k]
		if err != nil || !got.Equal(tm) {
			t.Errorf("ipcs %s = %q (%v), Stat says %v", k, kv[k], err, tm)
		}
	}
	if len(rows) != 3 {
		t.Fatalf("ipcs listed %d semaphores, want 3\n%s", len(rows), out)
	}
	for i, r := range rows {
		v, _ := s.Val(i)
		pid, _ := s.LastPID(i)
		nc, _ := s.NCount(i)
		zc, _ := s.ZCount(i)
		if r[1] != strconv.Itoa(v) || r[2] != strconv.Itoa(nc) || r[3] != strconv.Itoa(zc) || r[4] != strconv.Itoa(pid) {
			t.Errorf("ipcs row %v, ours value=%d ncount=%d zcount=%d pid=%d", r, v, nc, zc, pid)
		}
	}
}
