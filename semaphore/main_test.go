package semaphore

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/ipcplay/ipcplay/ipc/ipctest"
	"golang.org/x/sys/unix"
)

// helpers are the child-process entry points, run by ipctest.Main when the
// test binary is re-executed by ipctest.Helper.
var helpers = map[string]func(){
	"count":        helperCount,
	"sysv-p":       helperSysVP,
	"hold":         helperHold,
	"named-wait":   helperNamedWait,
	"mutex-unlock": helperMutexUnlock,
	"robust-hold":  helperRobustHold,
	"robust-list":  helperRobustList,
}

func TestMain(m *testing.M) { ipctest.Main(m, helpers) }

// Layout of the shared page tests hand to children as fd 3.
const (
	pageSize   = 4096
	offPrim    = 0    // an Unnamed or a Mutex
	offCounter = 512  // the unprotected counter the children increment
	offReady   = 1024 // start barrier: children that are ready
)

// sharedPage is a memfd mapped MAP_SHARED, to be inherited by children.
type sharedPage struct {
	f   *os.File
	mem []byte
}

func newSharedPage(t testing.TB) *sharedPage {
	t.Helper()
	fd, err := unix.MemfdCreate("ipcplay-semaphore-test", unix.MFD_CLOEXEC)
	if err != nil {
		t.Fatalf("memfd_create: %v", err)
	}
	f := os.NewFile(uintptr(fd), "memfd")
	if err := f.Truncate(pageSize); err != nil {
		t.Fatalf("truncate memfd: %v", err)
	}
	mem, err := unix.Mmap(fd, 0, pageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		t.Fatalf("mmap memfd: %v", err)
	}
	t.Cleanup(func() {
		unix.Munmap(mem)
		f.Close()
	})
	return &sharedPage{f: f, mem: mem}
}

func (p *sharedPage) counter() *uint64 { return (*uint64)(unsafe.Pointer(&p.mem[offCounter])) }

// childPage maps the page a parent passed as fd 3.
func childPage() []byte {
	mem, err := unix.Mmap(3, 0, pageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		die("mmap fd 3: %v", err)
	}
	return mem
}

func die(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "helper: "+format+"\n", args...)
	os.Exit(1)
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		die("bad number %q", s)
	}
	return n
}

// helperCtx bounds every wait of a helper.
func helperCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 20*time.Second)
}

// locker is what the contention helper uses around its increment.
type locker struct {
	lock   func(context.Context) error
	unlock func() error
}

// helperCount: args kind procs iters [id|name]. Once procs children are
// ready, increments the unprotected counter in the shared page iters
// times, each under the primitive.
func helperCount() {
	a := ipctest.Args()
	kind, procs, iters, rest := a[0], atoi(a[1]), atoi(a[2]), a[3:]
	mem := childPage()
	var l locker
	switch kind {
	case "none":
		l = locker{func(context.Context) error { return nil }, func() error { return nil }}
	case "sysv":
		s, err := OpenSet(atoi(rest[0]))
		if err != nil {
			die("%v", err)
		}
		l = locker{func(ctx context.Context) error { return s.P(ctx, 0, true) }, func() error { return s.V(0, true) }}
	case "named":
		n, err := OpenNamed(rest[0])
		if err != nil {
			die("%v", err)
		}
		l = locker{n.Wait, n.Post}
	case "unnamed":
		u, err := AttachUnnamed(mem[offPrim:])
		if err != nil {
			die("%v", err)
		}
		l = locker{u.Wait, u.Post}
	case "mutex":
		m, err := AttachMutex(mem[offPrim:])
		if err != nil {
			die("%v", err)
		}
		l = locker{m.Lock, m.Unlock}
	case "robust":
		m, err := AttachRobustMutex(mem[offPrim:])
		if err != nil {
			die("%v", err)
		}
		l = locker{m.Lock, m.Unlock}
	default:
		die("unknown kind %q", kind)
	}
	ctx, cancel := helperCtx()
	defer cancel()
	ready := (*uint32)(unsafe.Pointer(&mem[offReady]))
	atomic.AddUint32(ready, 1)
	for atomic.LoadUint32(ready) < uint32(procs) {
		if ctx.Err() != nil {
			die("start barrier: only %d of %d children ready", atomic.LoadUint32(ready), procs)
		}
		time.Sleep(100 * time.Microsecond)
	}
	p := (*uint64)(unsafe.Pointer(&mem[offCounter]))
	for range iters {
		if err := l.lock(ctx); err != nil {
			die("lock: %v", err)
		}
		increment(p)
		if err := l.unlock(); err != nil {
			die("unlock: %v", err)
		}
	}
}

// increment is a deliberately unsafe read-modify-write: only the lock
// around it keeps updates from being lost.
//
//go:noinline
func increment(p *uint64) {
	v := *p
	*p = v + 1
}

// helperSysVP: args id undo. One P on semaphore 0, then exit.
func helperSysVP() {
	a := ipctest.Args()
	s, err := OpenSet(atoi(a[0]))
	if err != nil {
		die("%v", err)
	}
	ctx, cancel := helperCtx()
	defer cancel()
	if err := s.P(ctx, 0, a[1] == "1"); err != nil {
		die("%v", err)
	}
}

// helperHold: args kind [id undo | -]. Takes the primitive, says "held" on
// stdout, then sleeps until killed (or gives up after a while).
func helperHold() {
	a := ipctest.Args()
	ctx, cancel := helperCtx()
	defer cancel()
	switch a[0] {
	case "sysv":
		s, err := OpenSet(atoi(a[1]))
		if err != nil {
			die("%v", err)
		}
		if err := s.P(ctx, 0, a[2] == "1"); err != nil {
			die("%v", err)
		}
	case "mutex":
		m, err := AttachMutex(childPage()[offPrim:])
		if err != nil {
			die("%v", err)
		}
		if err := m.Lock(ctx); err != nil {
			die("%v", err)
		}
	}
	fmt.Println("held")
	time.Sleep(30 * time.Second)
	die("not killed")
}

// helperNamedWait: args name. One Wait on the named semaphore.
func helperNamedWait() {
	n, err := OpenNamed(ipctest.Args()[0])
	if err != nil {
		die("%v", err)
	}
	defer n.Close()
	ctx, cancel := helperCtx()
	defer cancel()
	if err := n.Wait(ctx); err != nil {
		die("%v", err)
	}
}

// helperMutexUnlock: Unlock a mutex this process does not hold; it must
// fail with ErrNotOwner.
func helperMutexUnlock() {
	m, err := AttachMutex(childPage()[offPrim:])
	if err != nil {
		die("%v", err)
	}
	if err := m.Unlock(); !isErr(err, ErrNotOwner) {
		die("Unlock by a non-owner: got %v, want ErrNotOwner", err)
	}
}

// runCounters runs procs "count" children of kind, iters increments each,
// and checks that no update was lost.
func runCounters(t *testing.T, page *sharedPage, kind string, procs, iters int, extra ...string) {
	t.Helper()
	var cmds []*exec.Cmd
	for range procs {
		args := append([]string{kind, strconv.Itoa(procs), strconv.Itoa(iters)}, extra...)
		cmds = append(cmds, startChild(t, page, "count", args...))
	}
	waitChildren(t, cmds...)
	if got, want := *page.counter(), uint64(procs*iters); got != want {
		t.Fatalf("counter = %d, want %d: %d updates lost under %s", got, want, want-got, kind)
	}
}

// startChild starts a helper with the page (if any) as fd 3 and arranges
// for it to be killed and reaped at the end of the test.
func startChild(t *testing.T, page *sharedPage, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := ipctest.Helper(t, name, args...)
	if page != nil {
		cmd.ExtraFiles = []*os.File{page.f}
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start helper %s: %v", name, err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return cmd
}

// startHolder starts the "hold" helper and waits for its "held" line.
func startHolder(t *testing.T, page *sharedPage, args ...string) *exec.Cmd {
	t.Helper()
	cmd := ipctest.Helper(t, "hold", args...)
	if page != nil {
		cmd.ExtraFiles = []*os.File{page.f}
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start holder: %v", err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(out).ReadString('\n')
		line <- s
		io.Copy(io.Discard, out)
	}()
	select {
	case s := <-line:
		if strings.TrimSpace(s) != "held" {
			t.Fatalf("holder said %q, want \"held\"", s)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("holder did not take the lock within 20s")
	}
	return cmd
}

// killAndReap SIGKILLs a child and waits for it.
func killAndReap(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill: %v", err)
	}
	cmd.Wait()
}

// waitChildren waits for children with a limit.
func waitChildren(t *testing.T, cmds ...*exec.Cmd) {
	t.Helper()
	done := make(chan error, len(cmds))
	for _, c := range cmds {
		go func() { done <- c.Wait() }()
	}
	timeout := time.After(60 * time.Second)
	for range cmds {
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("helper failed: %v", err)
			}
		case <-timeout:
			t.Fatal("helpers did not finish within 60s")
		}
	}
}

// eventually polls cond every 2 ms for up to 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func isErr(err, target error) bool {
	return err != nil && errors.Is(err, target)
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// runWithTimeout runs cmd, killing it after d; it returns stdout and
// stderr together with the error.
func runWithTimeout(cmd *exec.Cmd, d time.Duration) (string, error) {
	var out strings.Builder
	cmd.Stdout = &out
	var errOut strings.Builder
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		return "", err
	}
	timer := time.AfterFunc(d, func() { cmd.Process.Kill() })
	defer timer.Stop()
	err := cmd.Wait()
	if err != nil {
		return out.String() + errOut.String(), err
	}
	return out.String(), nil
}

// u64bytes views 8-byte aligned Go memory as bytes.
func u64bytes(w []uint64) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(&w[0])), len(w)*8)
}
