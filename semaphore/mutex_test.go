package semaphore

import (
	"context"
	"errors"
	"os"
	"sync/atomic"
	"testing"
	"time"
)

func newMutex(t *testing.T, page *sharedPage) *Mutex {
	t.Helper()
	m, err := InitMutex(page.mem[offPrim:])
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMutexContention(t *testing.T) {
	page := newSharedPage(t)
	m := newMutex(t, page)
	runCounters(t, page, "mutex", 2, 50000)
	if pid, _ := m.Owner(); pid != 0 {
		t.Errorf("Owner after contention = %d, want 0 (free)", pid)
	}
	if !m.TryLock() {
		t.Fatal("TryLock on a free mutex failed")
	}
	if err := m.Unlock(); err != nil {
		t.Fatal(err)
	}
}

func TestMutexBasics(t *testing.T) {
	page := newSharedPage(t)
	m := newMutex(t, page)
	if err := m.Unlock(); !errors.Is(err, ErrNotOwner) {
		t.Errorf("Unlock of a free mutex: %v, want ErrNotOwner", err)
	}
	if err := m.Lock(ctxTimeout(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if pid, alive := m.Owner(); pid != os.Getpid() || !alive {
		t.Errorf("Owner = %d, %v; want %d, true", pid, alive, os.Getpid())
	}
	if m.TryLock() {
		t.Fatal("TryLock on a held mutex succeeded")
	}
	// Another goroutine waits, a timed Lock gives up.
	if err := m.Lock(ctxTimeout(t, 30*time.Millisecond)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Lock on a held mutex with a deadline: %v, want DeadlineExceeded", err)
	}
	// LockRecover does not take the lock from a live owner.
	if err := m.LockRecover(ctxTimeout(t, 30*time.Millisecond)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("LockRecover with a live owner: %v, want DeadlineExceeded", err)
	}
	got := make(chan error, 1)
	go func() {
		err := m.Lock(ctxTimeout(t, 10*time.Second))
		if err == nil {
			err = m.Unlock()
		}
		got <- err
	}()
	time.Sleep(5 * time.Millisecond) // let it block (not required for correctness)
	if err := m.Unlock(); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if _, err := AttachMutex(page.mem[offPrim:]); err != nil {
		t.Errorf("AttachMutex: %v", err)
	}
	w := make([]uint64, 8)
	for name, mem := range map[string][]byte{"zeros": u64bytes(w), "short": u64bytes(w)[:63], "misaligned": u64bytes(w)[4:]} {
		if _, err := AttachMutex(mem); !errors.Is(err, ErrInvalid) {
			t.Errorf("AttachMutex(%s): %v, want ErrInvalid", name, err)
		}
	}
}

// TestMutexDeadOwner: the holder is killed; Lock stays stuck, LockRecover
// takes the lock over with ErrOwnerDead.
func TestMutexDeadOwner(t *testing.T) {
	page := newSharedPage(t)
	m := newMutex(t, page)
	holder := startHolder(t, page, "mutex")
	if pid, alive := m.Owner(); pid != holder.Process.Pid || !alive {
		t.Fatalf("Owner = %d, %v; want the holder %d, alive", pid, alive, holder.Process.Pid)
	}
	killAndReap(t, holder)
	if pid, alive := m.Owner(); pid != holder.Process.Pid || alive {
		t.Fatalf("Owner after kill = %d, %v; want %d, dead", pid, alive, holder.Process.Pid)
	}
	if err := m.Lock(ctxTimeout(t, 100*time.Millisecond)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock on a dead owner's mutex: %v, want DeadlineExceeded (stuck)", err)
	}
	if m.TryLock() {
		t.Fatal("TryLock took a dead owner's mutex")
	}
	// With a context that is never done, LockRecover still looks at the
	// owner while it waits.
	got := make(chan error, 1)
	go func() { got <- m.LockRecover(context.Background()) }()
	var err error
	select {
	case err = <-got:
	case <-time.After(20 * time.Second):
		t.Fatal("LockRecover(Background) did not take over from the dead owner")
	}
	if !errors.Is(err, ErrOwnerDead) {
		t.Fatalf("LockRecover: %v, want ErrOwnerDead", err)
	}
	if pid, alive := m.Owner(); pid != os.Getpid() || !alive {
		t.Errorf("Owner after takeover = %d, %v; want us", pid, alive)
	}
	if m.Recoveries() != 1 {
		t.Errorf("Recoveries = %d, want 1", m.Recoveries())
	}
	if err := m.Unlock(); err != nil {
		t.Fatalf("Unlock after takeover: %v", err)
	}
	if err := m.Lock(ctxTimeout(t, 5*time.Second)); err != nil {
		t.Fatalf("Lock after recovery: %v", err)
	}
	if err := m.Unlock(); err != nil {
		t.Fatal(err)
	}
}

// TestMutexRecycledPid: the recorded owner's pid now belongs to another
// process (a different start time): LockRecover takes over, Lock does not.
func TestMutexRecycledPid(t *testing.T) {
	page := newSharedPage(t)
	m := newMutex(t, page)
	ppid := os.Getppid()
	_, start, err := procStat("self")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	// Pretend our (live) parent locked it with another start time.
	*m.state = 1
	*m.owner = ownerWord(ppid, start+12345)
	if pid, alive := m.Owner(); pid != ppid || alive {
		t.Fatalf("Owner = %d, %v; want %d, dead (recycled pid)", pid, alive, ppid)
	}
	if err := m.Lock(ctxTimeout(t, 30*time.Millisecond)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock: %v, want DeadlineExceeded", err)
	}
	if err := m.LockRecover(ctxTimeout(t, 5*time.Second)); !errors.Is(err, ErrOwnerDead) {
		t.Fatalf("LockRecover: %v, want ErrOwnerDead", err)
	}
	if err := m.Unlock(); err != nil {
		t.Fatal(err)
	}
}

func TestMutexUnlockByOtherProcess(t *testing.T) {
	page := newSharedPage(t)
	m := newMutex(t, page)
	if err := m.Lock(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitChildren(t, startChild(t, page, "mutex-unlock"))
	if pid, _ := m.Owner(); pid != os.Getpid() {
		t.Errorf("Owner after a foreign Unlock = %d, want us", pid)
	}
	if err := m.Unlock(); err != nil {
		t.Fatal(err)
	}
}

func TestProcessAlive(t *testing.T) {
	me := self()
	if !processAlive(me.pid, uint32(me.start)) {
		t.Error("this process is not alive")
	}
	if me.start != 0 && processAlive(me.pid, uint32(me.start)+1) {
		t.Error("a different start time passes for this process")
	}
	if processAlive(0, 0) || processAlive(-1, 0) {
		t.Error("pid 0 or -1 alive")
	}
	// A killed child that is not reaped yet is a zombie: dead.
	child := startChild(t, nil, "hold", "none")
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the zombie to count as dead", func() bool { return !processAlive(child.Process.Pid, 0) })
	child.Wait()
	if processAlive(child.Process.Pid, 0) {
		t.Error("a reaped child is alive")
	}
}

func TestProcStatOddName(t *testing.T) {
	// The command name may hold spaces and parentheses; procStat reads
	// fields after the last ')'. Check the parse on our own stat.
	state, start, err := procStat("self")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	if state != 'R' && state != 'S' || start == 0 {
		t.Errorf("procStat(self) = %c, %d", state, start)
	}
}

// TestMutexOwnerDiesWhileWaiting: LockRecover, with a context that is
// never done, is already waiting when the holder is killed.
func TestMutexOwnerDiesWhileWaiting(t *testing.T) {
	page := newSharedPage(t)
	m := newMutex(t, page)
	holder := startHolder(t, page, "mutex")
	got := make(chan error, 1)
	go func() { got <- m.LockRecover(context.Background()) }()
	eventually(t, "LockRecover to wait", func() bool { return atomic.LoadUint32(m.state) == 2 })
	select {
	case err := <-got:
		t.Fatalf("LockRecover returned %v while the owner lives", err)
	case <-time.After(100 * time.Millisecond):
	}
	killAndReap(t, holder)
	select {
	case err := <-got:
		if !errors.Is(err, ErrOwnerDead) {
			t.Fatalf("LockRecover: %v, want ErrOwnerDead", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("LockRecover did not notice the owner's death")
	}
	if err := m.Unlock(); err != nil {
		t.Fatal(err)
	}
}
