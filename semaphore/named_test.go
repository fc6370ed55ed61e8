package semaphore

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ipcplay/ipcplay/ipc/ipctest"
	"golang.org/x/sys/unix"
)

// newNamed creates a named semaphore for the test, closed and unlinked at
// its end.
func newNamed(t testing.TB, suffix string, value uint32) *Named {
	t.Helper()
	n, err := CreateNamed("/"+ipctest.Name(t, suffix), value)
	if err != nil {
		t.Fatalf("CreateNamed: %v", err)
	}
	t.Cleanup(func() {
		n.Close()
		if err := UnlinkNamed(n.Name()); err != nil && !errors.Is(err, ErrNotFound) {
			t.Errorf("UnlinkNamed: %v", err)
		}
	})
	return n
}

// tempFiles lists files of this test run in /dev/shm that look like a
// CreateNamed temporary.
func tempFiles() []string {
	var out []string
	ents, _ := os.ReadDir(shmDir)
	for _, e := range ents {
		if strings.Contains(e.Name(), ipctest.Prefix()) && strings.Contains(e.Name(), ".tmp.") {
			out = append(out, e.Name())
		}
	}
	return out
}

func TestNamedBasics(t *testing.T) {
	n := newNamed(t, ".basic", 2)
	if !strings.HasPrefix(n.Name(), "/"+ipctest.Prefix()) || n.Path() != "/dev/shm/sem."+n.Name()[1:] {
		t.Errorf("Name = %q, Path = %q", n.Name(), n.Path())
	}
	fi, err := os.Lstat(n.Path())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != 0o600 || fi.Size() != UnnamedSize {
		t.Errorf("%s: mode %v size %d, want -rw------- and 32", n.Path(), fi.Mode(), fi.Size())
	}
	if tmp := tempFiles(); len(tmp) != 0 {
		t.Errorf("temporary files left in /dev/shm: %v", tmp)
	}
	if n.Value() != 2 || n.Waiters() != 0 {
		t.Errorf("Value, Waiters = %d, %d; want 2, 0", n.Value(), n.Waiters())
	}
	// A second handle on the same name sees the same semaphore.
	o, err := OpenNamed(n.Name()[1:]) // without the slash
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	for range 2 {
		if err := o.TryWait(); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.TryWait(); !errors.Is(err, unix.EAGAIN) {
		t.Errorf("TryWait at 0: %v, want EAGAIN", err)
	}
	if err := n.Post(); err != nil {
		t.Fatal(err)
	}
	if err := o.Wait(ctxTimeout(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if n.Value() != 0 {
		t.Errorf("Value = %d, want 0", n.Value())
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if err := o.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := o.Post(); !errors.Is(err, ErrInvalid) {
		t.Errorf("Post after Close: %v, want ErrInvalid", err)
	}
	if err := n.Unlink(); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenNamed(n.Name()); !errors.Is(err, ErrNotFound) || !errors.Is(err, unix.ENOENT) {
		t.Errorf("OpenNamed after Unlink: %v, want ErrNotFound and ENOENT", err)
	}
	if err := n.Unlink(); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Unlink: %v, want ErrNotFound", err)
	}
	// The unlinked semaphore still works for those who have it mapped.
	if err := n.Post(); err != nil || n.Value() != 1 {
		t.Errorf("Post on an unlinked semaphore: %v, value %d", err, n.Value())
	}
}

func TestNamedExistLeavesOldAlone(t *testing.T) {
	n := newNamed(t, ".excl", 3)
	again, err := CreateNamed(n.Name(), 7)
	if !errors.Is(err, ErrExist) || !errors.Is(err, unix.EEXIST) {
		if again != nil {
			again.Close()
		}
		t.Fatalf("CreateNamed on an existing name: %v, want ErrExist and EEXIST", err)
	}
	o, err := OpenNamed(n.Name())
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if o.Value() != 3 {
		t.Errorf("existing semaphore's value = %d after a failed create, want 3", o.Value())
	}
	if tmp := tempFiles(); len(tmp) != 0 {
		t.Errorf("temporary files left in /dev/shm: %v", tmp)
	}
}

func TestNamedTimeoutAndCancel(t *testing.T) {
	n := newNamed(t, ".timeout", 0)
	err := n.Wait(ctxTimeout(t, 60*time.Millisecond))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait at 0 with a deadline: %v, want DeadlineExceeded", err)
	}
	if !strings.Contains(err.Error(), n.Name()) {
		t.Errorf("error %q does not name the semaphore", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	if err := n.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait cancelled: %v, want Canceled", err)
	}
	if n.Waiters() != 0 {
		t.Errorf("Waiters after the failed waits = %d, want 0", n.Waiters())
	}
	// A done context does not stop a wait that can succeed at once.
	if err := n.Post(); err != nil {
		t.Fatal(err)
	}
	if err := n.Wait(ctx); err != nil {
		t.Errorf("Wait with a done context on a positive semaphore: %v", err)
	}
}

func TestNamedOverflow(t *testing.T) {
	n := newNamed(t, ".max", SemValueMax)
	if err := n.Post(); !errors.Is(err, unix.EOVERFLOW) {
		t.Fatalf("Post at SEM_VALUE_MAX: %v, want EOVERFLOW", err)
	}
	if _, err := CreateNamed("/"+ipctest.Name(t, ".over"), SemValueMax+1); !errors.Is(err, ErrInvalid) {
		t.Errorf("CreateNamed above SEM_VALUE_MAX: %v, want ErrInvalid", err)
	}
}

func TestNamedBadNames(t *testing.T) {
	long := ipctest.Prefix() + strings.Repeat("x", maxNameLen)
	for _, name := range []string{"", "/", "//", "a/b", "/a/b", ".", "/..", "a\x00b", long} {
		if s, err := CreateNamed(name, 0); !errors.Is(err, ErrInvalid) {
			if s != nil {
				s.Unlink()
				s.Close()
			}
			t.Errorf("CreateNamed(%q): %v, want ErrInvalid", name, err)
		}
		if _, err := OpenNamed(name); !errors.Is(err, ErrInvalid) {
			t.Errorf("OpenNamed(%q): %v, want ErrInvalid", name, err)
		}
	}
	if _, err := OpenNamed(long); !errors.Is(err, unix.ENAMETOOLONG) {
		t.Errorf("OpenNamed(too long): %v, want ENAMETOOLONG", err)
	}
	for _, name := range []string{"/other.x", "ipcplay", "/ipcplayx.y", "x.ipcplay.y"} {
		if err := UnlinkNamed(name); !errors.Is(err, ErrInvalid) {
			t.Errorf("UnlinkNamed(%q): %v, want ErrInvalid (not an ipcplay name)", name, err)
		}
	}
	if err := UnlinkNamed("/" + ipctest.Name(t, ".absent")); !errors.Is(err, ErrNotFound) {
		t.Errorf("UnlinkNamed(absent): %v, want ErrNotFound", err)
	}
	// The longest name glibc accepts works, temporary file included.
	longest := ipctest.Prefix() + strings.Repeat("y", maxNameLen-len(ipctest.Prefix()))
	s, err := CreateNamed(longest, 1)
	if err != nil {
		t.Fatalf("CreateNamed(%d-byte name): %v", len(longest), err)
	}
	s.Close()
	if err := UnlinkNamed(longest); err != nil {
		t.Fatal(err)
	}
}

func TestNamedNotASemaphore(t *testing.T) {
	name := ipctest.Name(t, ".short")
	path := semPath(name)
	if err := os.WriteFile(path, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(path)
	if _, err := OpenNamed(name); !errors.Is(err, ErrInvalid) {
		t.Errorf("OpenNamed on a 5-byte file: %v, want ErrInvalid", err)
	}
	link := ipctest.Name(t, ".link")
	if err := os.Symlink(path, semPath(link)); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(semPath(link))
	if _, err := OpenNamed(link); !errors.Is(err, ErrInvalid) || !errors.Is(err, unix.ELOOP) {
		t.Errorf("OpenNamed on a symlink: %v, want ErrInvalid and ELOOP", err)
	}
}

func TestNamedContention(t *testing.T) {
	n := newNamed(t, ".count", 1)
	runCounters(t, newSharedPage(t), "named", 2, 20000, n.Name())
	if n.Value() != 1 || n.Waiters() != 0 {
		t.Errorf("after contention: Value %d, Waiters %d; want 1, 0", n.Value(), n.Waiters())
	}
}

func TestNamedWaitersAcrossProcesses(t *testing.T) {
	n := newNamed(t, ".waiters", 0)
	child := startChild(t, nil, "named-wait", n.Name())
	eventually(t, "the child to register as a waiter", func() bool { return n.Waiters() == 1 })
	if err := n.Post(); err != nil {
		t.Fatal(err)
	}
	waitChildren(t, child)
	if n.Value() != 0 || n.Waiters() != 0 {
		t.Errorf("Value %d, Waiters %d; want 0, 0", n.Value(), n.Waiters())
	}
}

// TestNamedManyGoroutines drives the slow path hard: goroutines block and
// wake many times; every token posted is taken exactly once.
func TestNamedManyGoroutines(t *testing.T) {
	n := newNamed(t, ".many", 0)
	const workers, each = 4, 2000
	ctx := ctxTimeout(t, 30*time.Second)
	errs := make(chan error, workers)
	for range workers {
		go func() {
			for range each {
				if err := n.Wait(ctx); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range workers * each {
		if err := n.Post(); err != nil {
			t.Fatal(err)
		}
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n.Value() != 0 || n.Waiters() != 0 {
		t.Errorf("Value %d, Waiters %d; want 0, 0", n.Value(), n.Waiters())
	}
}
