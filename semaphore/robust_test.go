package semaphore

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/ipcplay/ipcplay/ipc/ipctest"
	"golang.org/x/sys/unix"
)

func newRobust(t *testing.T, page *sharedPage) *RobustMutex {
	t.Helper()
	m, err := InitRobustMutex(page.mem[offPrim:])
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// helperRobustHold: args step. Takes the robust mutex in the shared page
// the way step says, prints "held <tid>", and sleeps until killed:
//
//	full       the whole protocol (word, list, list_op_pending cleared)
//	nolink     list_op_pending set and the word taken, not linked yet
//	nopending  the word taken without list_op_pending, not linked
//	unlock     full Lock, then on a line from stdin an Unlock that stops
//	           after clearing the word and before the wake-up; prints
//	           "unlocked"
func helperRobustHold() {
	step := ipctest.Args()[0]
	m, err := AttachRobustMutex(childPage()[offPrim:])
	if err != nil {
		die("%v", err)
	}
	ctx, cancel := helperCtx()
	defer cancel()
	runtime.LockOSThread()
	switch step {
	case "full", "unlock":
		err = m.Lock(ctx)
	case "nolink":
		err = m.lock(ctx, lockNoLink)
	case "nopending":
		err = m.lock(ctx, lockNoPending)
	default:
		die("unknown step %q", step)
	}
	if err != nil {
		die("lock: %v", err)
	}
	fmt.Printf("held %d\n", unix.Gettid())
	if step == "unlock" {
		bufio.NewReader(os.Stdin).ReadString('\n')
		if err := m.unlock(true); err != nil {
			die("unlock: %v", err)
		}
		fmt.Println("unlocked")
	}
	time.Sleep(30 * time.Second)
	die("not killed")
}

// robustHolder starts helperRobustHold and waits for its "held TID" line.
type robustHolder struct {
	cmd   *exec.Cmd
	tid   int
	lines *bufio.Reader
	stdin io.WriteCloser
}

func startRobustHolder(t *testing.T, page *sharedPage, step string) *robustHolder {
	t.Helper()
	cmd := ipctest.Helper(t, "robust-hold", step)
	cmd.ExtraFiles = []*os.File{page.f}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	h := &robustHolder{cmd: cmd, lines: bufio.NewReader(out), stdin: in}
	line := h.readLine(t)
	f := strings.Fields(line)
	if len(f) != 2 || f[0] != "held" {
		t.Fatalf("holder said %q, want \"held TID\"", line)
	}
	h.tid, _ = strconv.Atoi(f[1])
	return h
}

func (h *robustHolder) readLine(t *testing.T) string {
	t.Helper()
	got := make(chan string, 1)
	go func() { s, _ := h.lines.ReadString('\n'); got <- strings.TrimSpace(s) }()
	select {
	case s := <-got:
		return s
	case <-time.After(20 * time.Second):
		t.Fatal("holder said nothing within 20s")
		return ""
	}
}

// waiter runs Lock on its own locked goroutine and reports its thread id
// first, so the test can see it asleep in FUTEX_WAIT.
type waiter struct {
	tid  int
	done chan error
	m    *RobustMutex
	stop chan struct{}
}

func startWaiter(t *testing.T, m *RobustMutex, ctx context.Context) *waiter {
	t.Helper()
	w := &waiter{done: make(chan error, 1), m: m, stop: make(chan struct{})}
	tids := make(chan int)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tids <- unix.Gettid()
		err := m.Lock(ctx)
		w.done <- err
		if err == nil || errors.Is(err, ErrOwnerDead) {
			<-w.stop // hold until the test says, then unlock on this thread
			w.done <- m.Unlock()
		}
	}()
	w.tid = <-tids
	return w
}

// asleepInFutex waits until thread tid of this process is blocked in the
// futex system call on m's word (/proc/self/task/TID/syscall: the call's
// number, then its arguments in hex, the first being the address), so
// that what follows happens to a sleeping waiter, not by luck. The
// thread may also sleep in a futex of the Go runtime: the address tells.
func asleepInFutex(t *testing.T, tid int, m *RobustMutex) {
	t.Helper()
	want := fmt.Sprintf("%d %#x ", unix.SYS_FUTEX, uintptr(unsafe.Pointer(m.word)))
	eventually(t, "the waiter to sleep in futex on the lock word", func() bool {
		b, err := os.ReadFile("/proc/self/task/" + strconv.Itoa(tid) + "/syscall")
		if err != nil {
			t.Fatalf("cannot tell whether the waiter sleeps: %v", err)
		}
		return strings.HasPrefix(string(b), want)
	})
}

func (w *waiter) result(t *testing.T) error {
	t.Helper()
	select {
	case err := <-w.done:
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("the waiter was not woken within 20s")
		return nil
	}
}

func (w *waiter) unlock(t *testing.T) {
	t.Helper()
	close(w.stop)
	if err := <-w.done; err != nil {
		t.Fatalf("Unlock by the waiter: %v", err)
	}
}

func TestRobustMutexBasics(t *testing.T) {
	page := newSharedPage(t)
	m := newRobust(t, page)
	if err := m.Unlock(); !errors.Is(err, ErrNotOwner) {
		t.Errorf("Unlock of a free mutex: %v, want ErrNotOwner", err)
	}
	runtime.LockOSThread() // so that the tid below is the locking thread's
	defer runtime.UnlockOSThread()
	if err := m.Lock(ctxTimeout(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if pid, tid := m.Owner(); pid != os.Getpid() || tid != unix.Gettid() {
		t.Errorf("Owner = pid %d tid %d; want %d, %d", pid, tid, os.Getpid(), unix.Gettid())
	}
	if w := m.Word(); w != uint32(unix.Gettid()) {
		t.Errorf("word = %#x (%s), want our tid %d alone", w, DescribeFutexWord(w), unix.Gettid())
	}
	if err := m.Lock(ctxTimeout(t, time.Second)); !errors.Is(err, ErrInvalid) {
		t.Errorf("second Lock on the holding thread: %v, want ErrInvalid", err)
	}
	// Another goroutine (another thread) can neither unlock nor take it.
	other := make(chan error, 2)
	go func() {
		other <- m.Unlock()
		other <- m.Lock(ctxTimeout(t, 30*time.Millisecond))
	}()
	if err := <-other; !errors.Is(err, ErrNotOwner) {
		t.Errorf("Unlock from another goroutine: %v, want ErrNotOwner", err)
	}
	if err := <-other; !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Lock from another goroutine with a deadline: %v, want DeadlineExceeded", err)
	}
	if w := m.Word(); w&FutexWaiters == 0 {
		t.Errorf("word = %s after a waiter gave up, want WAITERS (set before sleeping)", DescribeFutexWord(w))
	}
	if err := m.Unlock(); err != nil {
		t.Fatal(err)
	}
	if w := m.Word(); w != 0 {
		t.Errorf("word after Unlock = %#x, want 0", w)
	}
	if _, err := AttachRobustMutex(page.mem[offPrim:]); err != nil {
		t.Errorf("AttachRobustMutex: %v", err)
	}
	w := make([]uint64, 8)
	for name, mem := range map[string][]byte{"zeros": u64bytes(w), "short": u64bytes(w)[:63], "misaligned": u64bytes(w)[4:]} {
		if _, err := AttachRobustMutex(mem); !errors.Is(err, ErrInvalid) {
			t.Errorf("AttachRobustMutex(%s): %v, want ErrInvalid", name, err)
		}
	}
}

// TestRobustListRegistration measures, in a fresh process, what
// get_robust_list(2) shows on a Go thread before any Lock: nothing in a
// pure Go binary (the runtime makes threads with clone), glibc's head in
// a cgo or -race binary (pthread_create registers one per thread). Then
// Lock must register this package's head and Unlock give the previous one
// back. The helper checks; the test logs what it found.
func TestRobustListRegistration(t *testing.T) {
	page := newSharedPage(t)
	newRobust(t, page)
	cmd := ipctest.Helper(t, "robust-list")
	cmd.ExtraFiles = []*os.File{page.f}
	out, err := runWithTimeout(cmd, 20*time.Second)
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	t.Logf("fresh process: %s", strings.TrimSpace(out))
}

func helperRobustList() {
	m, err := AttachRobustMutex(childPage()[offPrim:])
	if err != nil {
		die("%v", err)
	}
	runtime.LockOSThread()
	before, err := getRobustList()
	if err != nil {
		die("get_robust_list: %v", err)
	}
	if err := m.Lock(context.Background()); err != nil {
		die("%v", err)
	}
	during, _ := getRobustList()
	rt, _, _ := currentList()
	if rt == nil || during != unsafe.Pointer(&rt.head) {
		die("while held, registered head %p is not this package's", during)
	}
	if rt.head.list != uintptr(unsafe.Pointer(m.entry)) || rt.head.pending != 0 || rt.head.futexOffset != -8 {
		die("head = %+v, want list = the lock's entry %p, pending 0, futex_offset -8", rt.head, m.entry)
	}
	if rt.saved != before {
		die("saved head %p, want the one found %p", rt.saved, before)
	}
	if err := m.Unlock(); err != nil {
		die("%v", err)
	}
	after, _ := getRobustList()
	switch {
	case before != nil && after != before:
		die("after Unlock the registered head is %p, want the previous one %p back", after, before)
	case before == nil && after != during:
		die("after Unlock the registered head is %p, want ours %p kept", after, during)
	}
	kind := "none (threads made by the Go runtime with clone)"
	if before != nil {
		kind = fmt.Sprintf("%p (glibc's: this binary uses cgo, threads come from pthread_create); given back after Unlock", before)
	}
	fmt.Printf("head before Lock: %s; ours while held: %p\n", kind, during)
}

func TestRobustMutexContention(t *testing.T) {
	page := newSharedPage(t)
	m := newRobust(t, page)
	runCounters(t, page, "robust", 2, 20000)
	if w := m.Word(); w&FutexTIDMask != 0 || m.Recoveries() != 0 {
		t.Errorf("after contention word %s, recoveries %d; want free, 0", DescribeFutexWord(w), m.Recoveries())
	}
}

// TestRobustMutexHolderKilled: the kernel marks the lock of a killed
// holder FUTEX_OWNER_DIED; the next Lock takes it with ErrOwnerDead.
func TestRobustMutexHolderKilled(t *testing.T) {
	page := newSharedPage(t)
	m := newRobust(t, page)
	h := startRobustHolder(t, page, "full")
	if w := m.Word(); w != uint32(h.tid) {
		t.Fatalf("word = %s, want the holder's tid %d", DescribeFutexWord(w), h.tid)
	}
	if pid, _ := m.Owner(); pid != h.cmd.Process.Pid {
		t.Errorf("Owner pid = %d, want %d", pid, h.cmd.Process.Pid)
	}
	killAndReap(t, h.cmd)
	if w := m.Word(); w != FutexOwnerDied {
		t.Fatalf("word after the kill = %#x (%s), want exactly OWNER_DIED", w, DescribeFutexWord(w))
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	err := m.Lock(ctxTimeout(t, 5*time.Second))
	var od *OwnerDiedError
	if !errors.As(err, &od) || !errors.Is(err, ErrOwnerDead) || od.Word != FutexOwnerDied {
		t.Fatalf("Lock: %v, want *OwnerDiedError with word OWNER_DIED", err)
	}
	if w := m.Word(); w != uint32(unix.Gettid()) || m.Recoveries() != 1 {
		t.Errorf("after the takeover word %s, recoveries %d; want our tid, 1", DescribeFutexWord(w), m.Recoveries())
	}
	if err := m.Unlock(); err != nil {
		t.Fatal(err)
	}
	if err := m.Lock(ctxTimeout(t, 5*time.Second)); err != nil {
		t.Fatalf("Lock after recovery: %v", err)
	}
	if err := m.Unlock(); err != nil {
		t.Fatal(err)
	}
}

// TestRobustMutexWaiterWokenByKernel: a waiter sleeps in FUTEX_WAIT with
// no time limit; the holder is killed; the kernel sets OWNER_DIED, keeps
// WAITERS and wakes the waiter.
func TestRobustMutexWaiterWokenByKernel(t *testing.T) {
	page := newSharedPage(t)
	m := newRobust(t, page)
	h := startRobustHolder(t, page, "full")
	w := startWaiter(t, m, context.Background())
	asleepInFutex(t, w.tid, m)
	if got := m.Word(); got != uint32(h.tid)|FutexWaiters {
		t.Fatalf("word = %s, want holder tid %d|WAITERS", DescribeFutexWord(got), h.tid)
	}
	t.Logf("holder tid %d, waiter tid %d asleep in futex: word %s", h.tid, w.tid, DescribeFutexWord(m.Word()))
	killAndReap(t, h.cmd)
	err := w.result(t)
	var od *OwnerDiedError
	if !errors.As(err, &od) || od.Word != FutexOwnerDied|FutexWaiters {
		t.Fatalf("waiter's Lock: %v, want *OwnerDiedError with word OWNER_DIED|WAITERS", err)
	}
	t.Logf("after SIGKILL the kernel woke the waiter: %v", err)
	w.unlock(t)
}

// TestRobustMutexKilledBeforeLink: killed after taking the word but before
// linking the lock into its list. list_op_pending names the lock, and the
// kernel handles the pending entry like a listed one.
func TestRobustMutexKilledBeforeLink(t *testing.T) {
	page := newSharedPage(t)
	m := newRobust(t, page)
	h := startRobustHolder(t, page, "nolink")
	if w := m.Word(); w != uint32(h.tid) {
		t.Fatalf("word = %s, want the holder's tid %d", DescribeFutexWord(w), h.tid)
	}
	t.Logf("holder tid %d took the word, list_op_pending set, not linked: word %s", h.tid, DescribeFutexWord(m.Word()))
	killAndReap(t, h.cmd)
	t.Logf("after SIGKILL: word %s (%#08x)", DescribeFutexWord(m.Word()), m.Word())
	if w := m.Word(); w != FutexOwnerDied {
		t.Fatalf("word after the kill = %s, want OWNER_DIED (the kernel used list_op_pending)", DescribeFutexWord(w))
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := m.Lock(ctxTimeout(t, 5*time.Second)); !errors.Is(err, ErrOwnerDead) {
		t.Fatalf("Lock: %v, want ErrOwnerDead", err)
	}
	if err := m.Unlock(); err != nil {
		t.Fatal(err)
	}
}

// TestRobustMutexKilledWithoutPending: the broken order. The word is taken
// before list_op_pending is set, and the holder dies before linking: the
// kernel has no way to the lock, the word keeps the dead thread's id and
// the lock is stuck, as with a plain futex.
func TestRobustMutexKilledWithoutPending(t *testing.T) {
	page := newSharedPage(t)
	m := newRobust(t, page)
	h := startRobustHolder(t, page, "nopending")
	t.Logf("holder tid %d took the word before setting list_op_pending, not linked: word %s", h.tid, DescribeFutexWord(m.Word()))
	killAndReap(t, h.cmd)
	t.Logf("after SIGKILL: word %s (%#08x): the kernel knew nothing of it", DescribeFutexWord(m.Word()), m.Word())
	if w := m.Word(); w != uint32(h.tid) {
		t.Fatalf("word after the kill = %s, want the dead holder's tid %d untouched", DescribeFutexWord(w), h.tid)
	}
	if err := m.Lock(ctxTimeout(t, 100*time.Millisecond)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock: %v, want DeadlineExceeded (stuck)", err)
	}
}

// TestRobustMutexKilledBeforeWake: the holder clears the word but is
// killed before FUTEX_WAKE, with list_op_pending still set. The waiter
// sleeps with no time limit; the kernel sees a pending lock with no owner
// and wakes one waiter, which takes a clean lock (no OWNER_DIED).
func TestRobustMutexKilledBeforeWake(t *testing.T) {
	page := newSharedPage(t)
	m := newRobust(t, page)
	h := startRobustHolder(t, page, "unlock")
	w := startWaiter(t, m, context.Background())
	asleepInFutex(t, w.tid, m)
	if _, err := io.WriteString(h.stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
	if s := h.readLine(t); s != "unlocked" {
		t.Fatalf("holder said %q", s)
	}
	asleepInFutex(t, w.tid, m) // still asleep: clearing the word woke nobody
	t.Logf("holder tid %d cleared the word, killed before FUTEX_WAKE; waiter tid %d asleep in futex; word %s", h.tid, w.tid, DescribeFutexWord(m.Word()))
	killAndReap(t, h.cmd)
	if err := w.result(t); err != nil {
		t.Fatalf("waiter's Lock: %v, want nil (the word was free)", err)
	}
	t.Logf("after SIGKILL the kernel woke the waiter; it took a clean lock: word %s", DescribeFutexWord(m.Word()))
	w.unlock(t)
}

// TestRobustMutexGoroutineExit: a goroutine that exits holding the lock
// ends its OS thread (it is still locked to it), and the kernel's exit
// walk marks the lock, as for a killed process.
func TestRobustMutexGoroutineExit(t *testing.T) {
	page := newSharedPage(t)
	m := newRobust(t, page)
	done := make(chan error)
	go func() {
		runtime.LockOSThread()
		if unix.Gettid() != os.Getpid() {
			// Not the main thread: lock and exit, still locked to it.
			done <- m.Lock(context.Background())
			return
		}
		// The main thread, which the runtime never ends: keep it, so
		// that the holder below runs on another thread.
		defer runtime.UnlockOSThread()
		inner := make(chan error)
		go func() {
			runtime.LockOSThread()
			inner <- m.Lock(context.Background()) // never unlocked
		}()
		done <- <-inner
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	err := m.Lock(ctxTimeout(t, 20*time.Second))
	if !errors.Is(err, ErrOwnerDead) {
		t.Fatalf("Lock after the holder's thread ended: %v, want ErrOwnerDead", err)
	}
	if err := m.Unlock(); err != nil {
		t.Fatal(err)
	}
}

func TestDescribeFutexWord(t *testing.T) {
	for w, want := range map[uint32]string{
		0: "free", 1234: "tid 1234", FutexOwnerDied: "OWNER_DIED",
		FutexOwnerDied | FutexWaiters: "OWNER_DIED|WAITERS", 77 | FutexWaiters: "tid 77|WAITERS",
	} {
		if got := DescribeFutexWord(w); got != want {
			t.Errorf("DescribeFutexWord(%#x) = %q, want %q", w, got, want)
		}
	}
}

// TestRobustForeignHead plays glibc: a head of someone else's registered
// on this thread. Empty, Lock borrows the registration and Unlock gives
// it back; in use (a lock listed), Lock refuses with ErrUnsupported and
// leaves it alone.
func TestRobustForeignHead(t *testing.T) {
	page := newSharedPage(t)
	m := newRobust(t, page)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	prev, err := getRobustList()
	if err != nil {
		t.Fatal(err)
	}
	restore := func() {
		var e error
		if prev == nil {
			// No way to unregister: an empty head of ours is harmless.
			e = setRobustList(&robustHead{})
		} else {
			e = restoreRobustList(prev)
		}
		if e != nil {
			t.Fatalf("restore the robust list: %v", e)
		}
	}
	defer restore()
	// On the heap (a stack may move, and the kernel keeps the address).
	foreign := new(foreignList)
	keepForeign = foreign
	defer func() { keepForeign = nil }()
	foreign.head.list = uintptr(unsafe.Pointer(&foreign.head))
	if err := setRobustList(&foreign.head); err != nil {
		t.Fatal(err)
	}
	if err := m.Lock(ctxTimeout(t, 5*time.Second)); err != nil {
		t.Fatalf("Lock with an empty foreign head: %v", err)
	}
	if cur, _ := getRobustList(); cur == unsafe.Pointer(&foreign.head) {
		t.Error("while held, the foreign head is still registered")
	}
	if err := m.Unlock(); err != nil {
		t.Fatal(err)
	}
	if cur, _ := getRobustList(); cur != unsafe.Pointer(&foreign.head) {
		t.Errorf("after Unlock the registered head is %p, want the foreign one back", cur)
	}
	// Now the foreign list holds an entry: hands off.
	foreign.entry = uint64(uintptr(unsafe.Pointer(&foreign.head)))
	foreign.head.list = uintptr(unsafe.Pointer(&foreign.entry))
	if err := m.Lock(ctxTimeout(t, 5*time.Second)); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("Lock with a foreign list in use: %v, want ErrUnsupported", err)
	}
	if cur, _ := getRobustList(); cur != unsafe.Pointer(&foreign.head) {
		t.Errorf("a refused Lock changed the registered head to %p", cur)
	}
	if w := m.Word(); w != 0 {
		t.Errorf("a refused Lock left the word %s", DescribeFutexWord(w))
	}
	foreign.head.list = uintptr(unsafe.Pointer(&foreign.head)) // empty again
}

type foreignList struct {
	head  robustHead
	entry uint64 // a listed "lock" of the foreign owner
}

var keepForeign *foreignList
