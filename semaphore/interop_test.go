package semaphore

import (
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipcplay/ipcplay/ipc/ipctest"
)

// semtool runs testdata/semtool.c (glibc's semaphores) with args and
// returns its trimmed stdout; it fails the test when the tool fails.
func semtool(t *testing.T, page *sharedPage, args ...string) string {
	t.Helper()
	cmd := exec.Command(ipctest.CompileC(t, "testdata/semtool.c", "-pthread"), args...)
	if page != nil {
		cmd.ExtraFiles = []*os.File{page.f}
	}
	out, err := runWithTimeout(cmd, 20*time.Second)
	if err != nil {
		t.Fatalf("semtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(out)
}

// startSemtool starts semtool in the background; the returned channel
// yields its result.
func startSemtool(t *testing.T, args ...string) <-chan error {
	t.Helper()
	cmd := exec.Command(ipctest.CompileC(t, "testdata/semtool.c", "-pthread"), args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		if err != nil {
			err = fmt.Errorf("semtool %s: %w: %s", strings.Join(args, " "), err, stderr.String())
		}
		done <- err
	}()
	t.Cleanup(func() { cmd.Process.Kill() })
	return done
}

func TestInteropGoCreatesCWaits(t *testing.T) {
	n := newNamed(t, ".go2c", 0)
	for range 3 {
		if err := n.Post(); err != nil {
			t.Fatal(err)
		}
	}
	if v := semtool(t, nil, "getvalue", n.Name()); v != "3" {
		t.Fatalf("C sem_getvalue = %s, want 3", v)
	}
	semtool(t, nil, "wait", n.Name(), "3", "5000")
	if n.Value() != 0 {
		t.Errorf("Go sees %d after C took 3 tokens, want 0", n.Value())
	}
	// C's sem_unlink removes what Go created.
	semtool(t, nil, "unlink", n.Name())
	if _, err := OpenNamed(n.Name()); err == nil {
		t.Error("OpenNamed after C sem_unlink succeeded")
	}
}

func TestInteropCCreatesGoWaits(t *testing.T) {
	name := "/" + ipctest.Name(t, ".c2go")
	semtool(t, nil, "create", name, "2")
	t.Cleanup(func() { UnlinkNamed(name) })
	semtool(t, nil, "post", name, "1")
	n, err := OpenNamed(name)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if v, w, ok := DecodeGlibc(n.mem); n.Value() != 3 || v != 3 || w != 0 || !ok {
		t.Fatalf("Value = %d, DecodeGlibc = %d, %d, %v; want 3, 3, 0, true", n.Value(), v, w, ok)
	}
	ctx := ctxTimeout(t, 5*time.Second)
	for range 3 {
		if err := n.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.TryWait(); err == nil {
		t.Fatal("TryWait succeeded on an empty semaphore")
	}
	if v := semtool(t, nil, "getvalue", name); v != "0" {
		t.Errorf("C sem_getvalue = %s, want 0", v)
	}
	// CreateNamed refuses a name C created.
	if s, err := CreateNamed(name, 1); err == nil {
		s.Close()
		t.Error("CreateNamed over a C semaphore succeeded")
	}
}

// TestInteropCBlockedGoPosts: C blocks in sem_timedwait (registering in
// the nwaiters half, which Go sees), Go posts and wakes it.
func TestInteropCBlockedGoPosts(t *testing.T) {
	n := newNamed(t, ".cblocked", 0)
	done := startSemtool(t, "wait", n.Name(), "2", "10000")
	for range 2 {
		eventually(t, "C to block in sem_timedwait", func() bool { return n.Waiters() == 1 })
		if err := n.Post(); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("C waiter not woken by a Go post")
	}
	if n.Value() != 0 || n.Waiters() != 0 {
		t.Errorf("Value %d, Waiters %d; want 0, 0", n.Value(), n.Waiters())
	}
}

// TestInteropGoBlockedCPosts: Go blocks in Wait, C's sem_post wakes it.
func TestInteropGoBlockedCPosts(t *testing.T) {
	n := newNamed(t, ".goblocked", 0)
	done := make(chan error, 1)
	go func() { done <- n.Wait(ctxTimeout(t, 10*time.Second)) }()
	eventually(t, "Go to block in Wait", func() bool { return n.Waiters() == 1 })
	semtool(t, nil, "post", n.Name(), "1")
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Go waiter not woken by a C post")
	}
}

// TestInteropUnnamed shares a sem_t in a memfd between Go and C, in both
// directions of initialisation.
func TestInteropUnnamed(t *testing.T) {
	page := newSharedPage(t)
	// Go initialises, C uses.
	u, err := InitUnnamed(page.mem, 2)
	if err != nil {
		t.Fatal(err)
	}
	if v := semtool(t, page, "ugetvalue"); v != "2" {
		t.Fatalf("C sem_getvalue = %s, want 2", v)
	}
	semtool(t, page, "uwait", "2", "5000")
	semtool(t, page, "upost", "5")
	if u.Value() != 5 {
		t.Fatalf("Go Value = %d after C posted 5, want 5", u.Value())
	}
	// C initialises (sem_init pshared=1), Go attaches.
	clear(page.mem[:UnnamedSize])
	semtool(t, page, "uinit", "4")
	a, err := AttachUnnamed(page.mem)
	if err != nil {
		t.Fatalf("AttachUnnamed on C's sem_init: %v", err)
	}
	if a.Value() != 4 {
		t.Errorf("Value = %d, want 4", a.Value())
	}
	// Go blocked, C posts.
	for range 4 {
		if err := a.TryWait(); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- a.Wait(ctxTimeout(t, 10*time.Second)) }()
	eventually(t, "Go to block", func() bool { return a.Waiters() == 1 })
	semtool(t, page, "upost", "1")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestInitUnnamedMatchesSemInit compares the bytes InitUnnamed writes with
// those of glibc's sem_init(pshared=1).
func TestInitUnnamedMatchesSemInit(t *testing.T) {
	out := semtool(t, nil, "layout", "5")
	size, hexBytes, _ := strings.Cut(out, " ")
	if size != strconv.Itoa(UnnamedSize) {
		t.Fatalf("C sizeof(sem_t) = %s, UnnamedSize = %d", size, UnnamedSize)
	}
	want, err := hex.DecodeString(hexBytes)
	if err != nil {
		t.Fatal(err)
	}
	mem := make([]uint64, UnnamedSize/8)
	b := u64bytes(mem)
	for i := range b {
		b[i] = 0xee
	}
	if _, err := InitUnnamed(b, 5); err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(b) != hex.EncodeToString(want) {
		t.Errorf("InitUnnamed wrote %x\nsem_init wrote   %x", b, want)
	}
}
