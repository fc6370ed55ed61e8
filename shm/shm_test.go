package shm

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipcplay/ipcplay/ipc/ipctest"
	"golang.org/x/sys/unix"
)

var helpers = map[string]func(){
	"child": childMain,
}

func TestMain(m *testing.M) { ipctest.Main(m, helpers) }

// Layout of the region shared with the child in TestCrossProcess.
const (
	regionSize = 4096
	offCounter = 0    // both sides add to it
	offReady   = 256  // child: pattern checked, answer written
	offGo      = 512  // parent: start adding
	offAnswer  = 768  // child writes answerValue
	offPattern = 1024 // parent writes pattern(i)
	patternLen = 2048
	iters      = 100000
	answerVal  = 0x1badc0de
)

func pattern(i int) byte { return byte(i*7 + 3) }

// waitWord polls *p until it equals want or the timeout expires.
func waitWord(p *uint32, want uint32, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for atomic.LoadUint32(p) != want {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Microsecond)
	}
	return true
}

// childMain is the child side of TestCrossProcess: args are the handle and
// the expected kind.
func childMain() {
	args := ipctest.Args()
	fail := func(format string, a ...any) {
		fmt.Fprintf(os.Stderr, "child: "+format+"\n", a...)
		os.Exit(1)
	}
	if len(args) != 2 {
		fail("want 2 args, got %q", args)
	}
	r, err := Open(args[0])
	if err != nil {
		fail("%v", err)
	}
	defer r.Close()
	if r.Kind() != Kind(args[1]) || r.Size() != regionSize {
		fail("opened %s kind %s size %d, want kind %s size %d", args[0], r.Kind(), r.Size(), args[1], regionSize)
	}
	b := r.Bytes()
	for i := range patternLen {
		if b[offPattern+i] != pattern(i) {
			fail("pattern byte %d = %#x, want %#x", i, b[offPattern+i], pattern(i))
		}
	}
	atomic.StoreUint32(r.Uint32(offAnswer), answerVal)
	atomic.StoreUint32(r.Uint32(offReady), 1)
	if !waitWord(r.Uint32(offGo), 1, 20*time.Second) {
		fail("parent never said go")
	}
	c := r.Uint64(offCounter)
	for range iters {
		atomic.AddUint64(c, 1)
	}
	if err := r.Close(); err != nil {
		fail("%v", err)
	}
	os.Exit(0)
}

// newSpec returns a spec of kind for test t, with a unique name.
func newSpec(t *testing.T, kind Kind, size int) Spec {
	t.Helper()
	s := Spec{Kind: kind, Size: size}
	switch kind {
	case POSIX:
		s.Name = ipctest.Name(t, ".r")
	case File:
		s.Name = filepath.Join(t.TempDir(), "region")
	}
	return s
}

// create creates a region for the test, tracks System V ids and removes
// and closes it at cleanup.
func create(t *testing.T, s Spec) *Region {
	t.Helper()
	r, err := Create(s)
	if err != nil {
		t.Fatalf("Create(%v): %v", s, err)
	}
	if r.Kind() == SysV {
		ipctest.TrackSysV("shm", r.ID())
	}
	t.Cleanup(func() {
		if err := r.Remove(); err != nil {
			t.Errorf("Remove: %v", err)
		}
		if err := r.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return r
}

// exists reports whether the named object or segment of r still exists.
func exists(t *testing.T, kind Kind, name string, id int) bool {
	t.Helper()
	switch kind {
	case POSIX, File:
		p := name
		if kind == POSIX {
			p = "/dev/shm/" + name
		}
		_, err := os.Lstat(p)
		return err == nil
	case SysV:
		var d unix.SysvShmDesc
		_, err := unix.SysvShmCtl(id, unix.IPC_STAT, &d)
		return err == nil
	}
	return false
}

func TestCrossProcess(t *testing.T) {
	for _, kind := range Kinds {
		t.Run(string(kind), func(t *testing.T) {
			r, err := Create(newSpec(t, kind, regionSize))
			if err != nil {
				t.Fatal(err)
			}
			if kind == SysV {
				ipctest.TrackSysV("shm", r.ID())
			}
			defer r.Close()
			defer r.Remove()
			b := r.Bytes()
			if len(b) != regionSize || r.Size() != regionSize {
				t.Fatalf("len(Bytes) = %d, Size = %d, want %d", len(b), r.Size(), regionSize)
			}
			for i := range patternLen {
				b[offPattern+i] = pattern(i)
			}

			// The child gets File() as its descriptor 3 (only memfd
			// needs it; the others are found by name or id).
			handle := r.HandleAt(3)
			cmd := ipctest.Helper(t, "child", handle, string(kind))
			if f := r.File(); f != nil {
				cmd.ExtraFiles = []*os.File{f}
			}
			t.Logf("child opens %q", handle)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			wait := func() error {
				select {
				case err := <-done:
					return err
				case <-time.After(30 * time.Second):
					_ = cmd.Process.Kill()
					<-done
					return errors.New("child timed out")
				}
			}

			// Wait for the child to be ready, or to die trying.
			deadline := time.Now().Add(20 * time.Second)
			for atomic.LoadUint32(r.Uint32(offReady)) != 1 {
				select {
				case err := <-done:
					t.Fatalf("child exited before it was ready: %v", err)
				case <-time.After(100 * time.Microsecond):
				}
				if time.Now().After(deadline) {
					t.Fatalf("child never got ready: %v", wait())
				}
			}
			atomic.StoreUint32(r.Uint32(offGo), 1)
			c := r.Uint64(offCounter)
			for range iters {
				atomic.AddUint64(c, 1)
			}
			if err := wait(); err != nil {
				t.Fatalf("child: %v", err)
			}
			if got := atomic.LoadUint32(r.Uint32(offAnswer)); got != answerVal {
				t.Errorf("answer = %#x, want %#x", got, answerVal)
			}
			if got := atomic.LoadUint64(c); got != 2*iters {
				t.Errorf("counter = %d, want %d (atomic adds lost?)", got, 2*iters)
			}

			name, id := r.Name(), r.ID()
			if err := r.Remove(); err != nil {
				t.Fatal(err)
			}
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
			if exists(t, kind, name, id) {
				t.Errorf("%s still exists after Remove and Close", handle)
			}
		})
	}
}
