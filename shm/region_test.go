package shm

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/ipcplay/ipcplay/ipc/ipctest"
	"golang.org/x/sys/unix"
)

func TestPermissions(t *testing.T) {
	// A restrictive umask must not leave objects without owner access; a
	// permissive one must not open them to others.
	for _, mask := range []int{0o277, 0o000} {
		t.Run(fmt.Sprintf("umask%03o", mask), func(t *testing.T) { testPermissions(t, mask) })
	}
}

func testPermissions(t *testing.T, mask int) {
	var specs []Spec
	for _, kind := range Kinds {
		specs = append(specs, newSpec(t, kind, 4096)) // TempDir before the umask
	}
	var regions []*Region
	func() {
		defer syscall.Umask(syscall.Umask(mask))
		for _, s := range specs {
			regions = append(regions, create(t, s))
		}
	}()
	for _, r := range regions {
		var mode uint32
		switch r.Kind() {
		case SysV:
			var d unix.SysvShmDesc
			if _, err := unix.SysvShmCtl(r.ID(), unix.IPC_STAT, &d); err != nil {
				t.Fatal(err)
			}
			mode = uint32(d.Perm.Mode)
		case POSIX:
			var st unix.Stat_t
			if err := unix.Lstat("/dev/shm/"+r.Name(), &st); err != nil {
				t.Fatal(err)
			}
			if st.Mode&unix.S_IFMT != unix.S_IFREG {
				t.Errorf("/dev/shm/%s is not a regular file (mode %#o)", r.Name(), st.Mode)
			}
			mode = uint32(st.Mode)
		default:
			var st unix.Stat_t
			if err := unix.Fstat(int(r.File().Fd()), &st); err != nil {
				t.Fatal(err)
			}
			mode = uint32(st.Mode)
		}
		if mode&0o7777 != 0o600 {
			t.Errorf("umask %#o: %s has mode %#o, want 0600", mask, r.Handle(), mode&0o7777)
		}
	}
}

// TestPOSIXFallocated checks that a POSIX object's memory is reserved at
// Create (blocks allocated), not on first touch.
func TestPOSIXFallocated(t *testing.T) {
	const size = 1 << 20
	r := create(t, newSpec(t, POSIX, size))
	var st unix.Stat_t
	if err := unix.Fstat(int(r.File().Fd()), &st); err != nil {
		t.Fatal(err)
	}
	if st.Size != size || st.Blocks*512 < size {
		t.Errorf("size %d, %d bytes allocated; want %d allocated", st.Size, st.Blocks*512, size)
	}
}

func TestReadOnly(t *testing.T) {
	for _, kind := range Kinds {
		t.Run(string(kind), func(t *testing.T) {
			r := create(t, newSpec(t, kind, 8192))
			copy(r.Bytes()[100:], "hello")
			ro, err := OpenReadOnly(r.Handle())
			if err != nil {
				t.Fatal(err)
			}
			defer ro.Close()
			if !ro.ReadOnly() || ro.Size() != 8192 || ro.Kind() != kind {
				t.Errorf("read-only region: ReadOnly %v, Size %d, Kind %s", ro.ReadOnly(), ro.Size(), ro.Kind())
			}
			if got := string(ro.Bytes()[100:105]); got != "hello" {
				t.Errorf("read %q, want hello", got)
			}
			atomic.AddUint64(r.Uint64(64), 5) // visible through the other mapping
			if got := atomic.LoadUint64(ro.Uint64(64)); got != 5 {
				t.Errorf("read-only view of counter = %d, want 5", got)
			}
			if err := writeFaults(ro.Bytes()); err == nil {
				t.Error("writing to a read-only region did not fault")
			}
		})
	}
}

// writeFaults writes b[0] and returns the fault it caused, or nil.
func writeFaults(b []byte) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			err, _ = p.(error)
			if err == nil {
				err = errors.New("panic")
			}
		}
	}()
	b[0] = 1
	return nil
}

func TestMemfdSealed(t *testing.T) {
	r := create(t, newSpec(t, Memfd, 4096))
	fd := int(r.File().Fd())
	for _, size := range []int64{0, 8192} {
		if err := unix.Ftruncate(fd, size); !errors.Is(err, unix.EPERM) {
			t.Errorf("ftruncate(%d) on a sealed memfd: %v, want EPERM", size, err)
		}
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_WRITE); !errors.Is(err, unix.EPERM) {
		t.Errorf("adding a seal: %v, want EPERM (F_SEAL_SEAL)", err)
	}
	// Opening our own handle in-process duplicates the descriptor.
	r2, err := Open(r.Handle())
	if err != nil {
		t.Fatal(err)
	}
	if r2.File().Fd() == r.File().Fd() {
		t.Error("Open did not duplicate the descriptor")
	}
	r2.Bytes()[0] = 9
	r2.Close()
	if r.Bytes()[0] != 9 {
		t.Error("write through the second mapping not visible")
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
		t.Errorf("closing the second region closed the first one's descriptor: %v", err)
	}
}

func TestAccessors(t *testing.T) {
	for _, kind := range Kinds {
		t.Run(string(kind), func(t *testing.T) {
			s := newSpec(t, kind, 100)
			r := create(t, s)
			if r.Size() != 100 || len(r.Bytes()) != 100 || r.Kind() != kind || r.ReadOnly() {
				t.Errorf("Size %d, len %d, Kind %s, ReadOnly %v", r.Size(), len(r.Bytes()), r.Kind(), r.ReadOnly())
			}
			h := r.Handle()
			if _, why := parseHandle(h); why != "" {
				t.Errorf("Handle %q does not parse: %s", h, why)
			}
			if !strings.HasPrefix(h, string(kind)+":") || !strings.HasSuffix(r.String(), "(100 bytes)") {
				t.Errorf("Handle %q, String %q", h, r)
			}
			switch kind {
			case Memfd:
				if got := r.HandleAt(3); got != "memfd:fd=3" {
					t.Errorf("HandleAt(3) = %q", got)
				}
				if r.Name() != "" || r.ID() != -1 || r.File() == nil {
					t.Errorf("Name %q, ID %d, File %v", r.Name(), r.ID(), r.File())
				}
			case SysV:
				if r.HandleAt(3) != h || r.Name() != "" || r.ID() < 0 || r.File() != nil {
					t.Errorf("HandleAt %q, Name %q, ID %d, File %v", r.HandleAt(3), r.Name(), r.ID(), r.File())
				}
			case POSIX:
				if r.HandleAt(3) != h || h != "posix:"+s.Name || r.Name() != s.Name || r.ID() != -1 {
					t.Errorf("HandleAt %q, Handle %q, Name %q, ID %d", r.HandleAt(3), h, r.Name(), r.ID())
				}
			case File:
				if r.HandleAt(3) != h || h != "file:"+s.Name || r.Name() != s.Name || r.ID() != -1 {
					t.Errorf("HandleAt %q, Handle %q, Name %q, ID %d", r.HandleAt(3), h, r.Name(), r.ID())
				}
			}
			if err := r.Sync(); err != nil {
				t.Errorf("Sync: %v", err)
			}
		})
	}
}

func TestWords(t *testing.T) {
	r := create(t, newSpec(t, Memfd, 64))
	*r.Uint32(60) = 7
	atomic.AddUint64(r.Uint64(0), 3)
	if r.Bytes()[0] != 3 || *r.Uint32(60) != 7 {
		t.Errorf("words not stored in the mapping")
	}
	panics := func(name string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s did not panic", name)
			}
		}()
		f()
	}
	panics("Uint32(2)", func() { r.Uint32(2) })
	panics("Uint32(64)", func() { r.Uint32(64) })
	panics("Uint32(-4)", func() { r.Uint32(-4) })
	panics("Uint64(4)", func() { r.Uint64(4) })
	panics("Uint64(64)", func() { r.Uint64(64) })
	panics("SlotOffset(-1)", func() { SlotOffset(-1, false) })
	r.Close()
	panics("Uint64 after Close", func() { r.Uint64(0) })
	if r.Bytes() != nil {
		t.Error("Bytes after Close is not nil")
	}
}

func TestSlotOffset(t *testing.T) {
	if CacheLineSize < 64 || CacheLineSize&(CacheLineSize-1) != 0 {
		t.Fatalf("CacheLineSize %d is not a power of two >= 64", CacheLineSize)
	}
	for i := range 10 {
		if got := SlotOffset(i, true); got != i*8 {
			t.Errorf("SlotOffset(%d, true) = %d, want %d", i, got, i*8)
		}
		got := SlotOffset(i, false)
		if got != i*CacheLineSize {
			t.Errorf("SlotOffset(%d, false) = %d, want %d", i, got, i*CacheLineSize)
		}
		if i > 0 && got/CacheLineSize == SlotOffset(i-1, false)/CacheLineSize {
			t.Errorf("slots %d and %d share a line", i-1, i)
		}
	}
	if SlotOffset(1, true)/CacheLineSize != 0 {
		t.Error("sameLine slots 0 and 1 are on different lines")
	}
}

func TestCloseRemoveIdempotent(t *testing.T) {
	for _, kind := range Kinds {
		t.Run(string(kind), func(t *testing.T) {
			r, err := Create(newSpec(t, kind, 4096))
			if err != nil {
				t.Fatal(err)
			}
			if kind == SysV {
				ipctest.TrackSysV("shm", r.ID())
			}
			// Remove first (classic pattern): the mapping stays usable.
			for range 2 {
				if err := r.Remove(); err != nil {
					t.Fatalf("Remove: %v", err)
				}
			}
			atomic.AddUint64(r.Uint64(0), 1)
			if exists(t, kind, r.Name(), r.ID()) && kind != SysV {
				t.Errorf("%s exists after Remove", r.Handle())
			}
			for range 2 {
				if err := r.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
			}
			if exists(t, kind, r.Name(), r.ID()) {
				t.Errorf("%s exists after Remove and Close", r.Handle())
			}
			if err := r.Remove(); err != nil {
				t.Errorf("Remove after Close: %v", err)
			}
		})
	}
}

// TestRemoveLeavesReplacement: a Region whose name was removed and taken
// by a new object must not remove the new one.
func TestRemoveLeavesReplacement(t *testing.T) {
	for _, kind := range []Kind{POSIX, File} {
		t.Run(string(kind), func(t *testing.T) {
			s := newSpec(t, kind, 4096)
			first := create(t, s)
			child, err := Open(first.Handle())
			if err != nil {
				t.Fatal(err)
			}
			defer child.Close()
			if err := first.Remove(); err != nil {
				t.Fatal(err)
			}
			second := create(t, s)
			if err := child.Remove(); err != nil {
				t.Fatal(err)
			}
			if !exists(t, kind, second.Name(), -1) {
				t.Fatal("Remove of a stale region removed the object that replaced it")
			}
		})
	}
}

func TestRemoveByIdentity(t *testing.T) {
	r := create(t, newSpec(t, POSIX, 4096))
	if err := RemovePOSIX(r.Name()); err != nil {
		t.Fatal(err)
	}
	if exists(t, POSIX, r.Name(), -1) {
		t.Error("RemovePOSIX left the object")
	}
	if err := RemovePOSIX(r.Name()); !errors.Is(err, ErrNotFound) {
		t.Errorf("second RemovePOSIX: %v, want ErrNotFound", err)
	}

	s := create(t, newSpec(t, SysV, 4096))
	if err := RemoveSysV(s.ID()); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := RemoveSysV(s.ID()); !errors.Is(err, ErrNotFound) {
		t.Errorf("second RemoveSysV: %v, want ErrNotFound", err)
	}
}

func TestFileSync(t *testing.T) {
	s := newSpec(t, File, 4096)
	r := create(t, s)
	copy(r.Bytes(), "synced")
	if err := r.Sync(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(s.Name)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 4096 || !bytes.HasPrefix(b, []byte("synced")) {
		t.Errorf("file holds %d bytes starting %q", len(b), b[:min(len(b), 6)])
	}
	r.Close()
	if err := r.Sync(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Sync after Close: %v, want os.ErrClosed", err)
	}
}

func TestFileRelativePath(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	r := create(t, Spec{Kind: File, Size: 10, Name: "rel.shm"})
	if want := "file:" + dir + "/rel.shm"; r.Handle() != want {
		t.Errorf("Handle = %q, want %q", r.Handle(), want)
	}
}

func TestParseKind(t *testing.T) {
	for _, k := range Kinds {
		for _, s := range []string{string(k), strings.ToUpper(string(k))} {
			if got, err := ParseKind(s); err != nil || got != k {
				t.Errorf("ParseKind(%q) = %q, %v", s, got, err)
			}
		}
	}
	for _, s := range []string{"", " memfd", "shm", "posix:"} {
		if _, err := ParseKind(s); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseKind(%q): %v, want ErrInvalid", s, err)
		}
	}
}

func TestValidate(t *testing.T) {
	good := []Spec{
		{Kind: Memfd, Size: 1},
		{Kind: Memfd, Size: 1, Name: "ignored/../x"},
		{Kind: SysV, Size: 1 << 20},
		{Kind: POSIX, Size: 1, Name: "ipcplay.a"},
		{Kind: File, Size: 1, Name: "relative"},
	}
	for _, s := range good {
		if err := s.Validate(); err != nil {
			t.Errorf("Validate(%v): %v", s, err)
		}
	}
	bad := []Spec{
		{},
		{Kind: Memfd},
		{Kind: SysV, Size: -5},
		{Kind: POSIX, Size: 1, Name: "ipcplay."},
		{Kind: POSIX, Size: 1, Name: "ipcplay.a\x00b"},
		{Kind: File, Size: 1, Name: "dir/"},
		{Kind: File, Size: 1, Name: "/x\x00"},
	}
	for _, s := range bad {
		err := s.Validate()
		if !errors.Is(err, ErrInvalid) || !errors.Is(err, unix.EINVAL) {
			t.Errorf("Validate(%v) = %v, want ErrInvalid", s, err)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "shm: invalid spec") {
			t.Errorf("Validate error %q", err)
		}
	}
}
