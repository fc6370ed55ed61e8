package shm

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ipcplay/ipcplay/ipc/ipctest"
	"golang.org/x/sys/unix"
)

// checkErr fails unless err matches every target with errors.Is and reads
// as "shm: ...".
func checkErr(t *testing.T, err error, targets ...error) {
	t.Helper()
	if err == nil {
		t.Fatalf("got nil error, want %v", targets)
	}
	t.Logf("error: %v", err)
	if !strings.HasPrefix(err.Error(), "shm: ") {
		t.Errorf("error %q does not start with \"shm: \"", err)
	}
	for _, target := range targets {
		if !errors.Is(err, target) {
			t.Errorf("errors.Is(%q, %v) = false", err, target)
		}
	}
}

func TestBadInput(t *testing.T) {
	page := os.Getpagesize()
	notAMemfd, err := os.Open("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	defer notAMemfd.Close()

	type row struct {
		name string
		// run returns the path of a POSIX object or file that must not
		// exist afterwards ("" for none), and the error; rows that cannot
		// run on this machine skip with the reason.
		run     func(t *testing.T) (mustNotExist string, err error)
		targets []error
	}
	create := func(s Spec) (string, error) {
		r, err := Create(s)
		if err == nil { // should not happen: clean up and report
			if r.Kind() == SysV {
				ipctest.TrackSysV("shm", r.ID())
			}
			r.Remove()
			r.Close()
		}
		switch name := strings.TrimPrefix(s.Name, "/"); {
		case s.Kind == POSIX && name != "" && !strings.Contains(name, "/"):
			return "/dev/shm/" + name, err
		case s.Kind == File:
			return s.Name, err
		}
		return "", err
	}
	open := func(h string) func(t *testing.T) (string, error) {
		return func(t *testing.T) (string, error) {
			r, err := Open(h)
			if err == nil {
				r.Close()
			}
			return "", err
		}
	}
	inv := []error{ErrInvalid, unix.EINVAL}

	rows := []row{
		{"size 0", func(t *testing.T) (string, error) {
			return create(Spec{Kind: Memfd, Size: 0})
		}, inv},
		{"size negative", func(t *testing.T) (string, error) {
			return create(Spec{Kind: POSIX, Size: -1, Name: ipctest.Name(t, "")})
		}, inv},
		{"unknown kind", func(t *testing.T) (string, error) {
			return create(Spec{Kind: "ramdisk", Size: page})
		}, inv},
		{"posix name without prefix", func(t *testing.T) (string, error) {
			return create(Spec{Kind: POSIX, Size: page, Name: "notours"})
		}, inv},
		{"posix name with leading slash", func(t *testing.T) (string, error) {
			name := ipctest.Name(t, "")
			_, err := create(Spec{Kind: POSIX, Size: page, Name: "/" + name})
			return "/dev/shm/" + name, err
		}, inv},
		{"posix name with slash", func(t *testing.T) (string, error) {
			return create(Spec{Kind: POSIX, Size: page, Name: "ipcplay./../etc/x"})
		}, inv},
		{"posix name too long", func(t *testing.T) (string, error) {
			n := ipctest.Name(t, "")
			return create(Spec{Kind: POSIX, Size: page, Name: n + strings.Repeat("x", 256-len(n))})
		}, inv},
		{"file without path", func(t *testing.T) (string, error) {
			return create(Spec{Kind: File, Size: page})
		}, inv},
		{"file in missing directory", func(t *testing.T) (string, error) {
			return create(Spec{Kind: File, Size: page, Name: filepath.Join(t.TempDir(), "no", "such")})
		}, []error{ErrNotFound, unix.ENOENT}},
		{"sysv above shmmax", func(t *testing.T) (string, error) {
			max, okMax := readLimit("shmmax")
			all, okAll := readLimit("shmall")
			switch {
			case okMax && max < math.MaxInt:
				return create(Spec{Kind: SysV, Size: int(max) + 1})
			case okAll && all < uint64(math.MaxInt/page):
				t.Skipf("kernel.shmmax is %d (unlimited); the shmall row covers the limit check", max)
			}
			t.Skipf("kernel.shmmax (%d) and kernel.shmall (%d pages) are both unlimited here; TestSysVLimits checks the same code with fake limits", max, all)
			return "", nil
		}, inv},
		{"sysv above shmall", func(t *testing.T) (string, error) {
			all, ok := readLimit("shmall")
			max, _ := readLimit("shmmax")
			if !ok || all >= uint64(math.MaxInt/page) || (all+1)*uint64(page) > max {
				t.Skipf("kernel.shmall is %d pages (unlimited, or above kernel.shmmax); TestSysVLimits checks the same code with fake limits", all)
			}
			return create(Spec{Kind: SysV, Size: int(all+1) * page})
		}, []error{ErrNoSpace, unix.ENOSPC}},
		{"posix above free space", func(t *testing.T) (string, error) {
			free, limited, err := freeSpace("/dev/shm")
			if err != nil || !limited || free > math.MaxInt/2 {
				t.Skipf("/dev/shm has no measurable limit (statfs: %v, limited %v)", err, limited)
			}
			return create(Spec{Kind: POSIX, Size: int(free) + 1<<20, Name: ipctest.Name(t, "")})
		}, []error{ErrNoSpace, unix.ENOSPC}},
		{"memfd above RAM", func(t *testing.T) (string, error) {
			max := memLimit()
			if max >= math.MaxInt {
				t.Skip("RAM size unknown")
			}
			return create(Spec{Kind: Memfd, Size: int(max) + 1})
		}, []error{ErrNoSpace, unix.ENOMEM}},
		{"posix name exists", func(t *testing.T) (string, error) {
			s := Spec{Kind: POSIX, Size: page, Name: ipctest.Name(t, "")}
			first := createT(t, s)
			first.Bytes()[0] = 42
			_, err := create(s)
			if first.Bytes()[0] != 42 || !exists(t, POSIX, s.Name, -1) {
				t.Errorf("failed Create harmed the existing object")
			}
			return "", err
		}, []error{ErrExist, unix.EEXIST, os.ErrExist}},
		{"file exists", func(t *testing.T) (string, error) {
			p := filepath.Join(t.TempDir(), "f")
			if err := os.WriteFile(p, []byte("keep"), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := create(Spec{Kind: File, Size: page, Name: p})
			if b, _ := os.ReadFile(p); string(b) != "keep" {
				t.Errorf("failed Create changed the existing file: %q", b)
			}
			return "", err
		}, []error{ErrExist, unix.EEXIST}},
		{"file is a symlink", func(t *testing.T) (string, error) {
			dir := t.TempDir()
			target := filepath.Join(dir, "target")
			if err := os.Symlink(target, filepath.Join(dir, "link")); err != nil {
				t.Fatal(err)
			}
			_, err := create(Spec{Kind: File, Size: page, Name: filepath.Join(dir, "link")})
			return target, err
		}, []error{ErrExist, unix.EEXIST}},
		{"missing posix handle", func(t *testing.T) (string, error) {
			return open("posix:" + ipctest.Name(t, ".missing"))(t)
		}, []error{ErrNotFound, unix.ENOENT}},
		{"missing file handle", func(t *testing.T) (string, error) {
			return open("file:" + filepath.Join(t.TempDir(), "missing"))(t)
		}, []error{ErrNotFound, unix.ENOENT}},
		{"missing sysv handle", open("sysv:2147483647"), []error{ErrNotFound, unix.EINVAL}},
		{"missing memfd handle", open("memfd:fd=1000000"), []error{ErrNotFound, unix.EBADF}},
		{"memfd handle on a plain file", open("memfd:fd=" + strconv.Itoa(int(notAMemfd.Fd()))), inv},
		{"malformed memfd:", open("memfd:"), inv},
		{"malformed memfd:fd=", open("memfd:fd="), inv},
		{"malformed memfd:fd=-1", open("memfd:fd=-1"), inv},
		{"malformed memfd:fd=03", open("memfd:fd=03"), inv},
		{"malformed sysv:abc", open("sysv:abc"), inv},
		{"malformed sysv:99999999999", open("sysv:99999999999"), inv},
		{"malformed posix:../etc", open("posix:../etc"), inv},
		{"malformed posix:/ipcplay.x", open("posix:/ipcplay.x"), inv},
		{"malformed file:relative", open("file:relative/path"), inv},
		{"malformed file:/a/../b", open("file:/a/../b"), inv},
		{"malformed nope:1", open("nope:1"), inv},
		{"malformed empty", open(""), inv},
		{"malformed no colon", open("memfd"), inv},
		{"RemovePOSIX foreign name", func(t *testing.T) (string, error) {
			return "", RemovePOSIX("sem.foreign")
		}, inv},
		{"RemovePOSIX traversal", func(t *testing.T) (string, error) {
			return "", RemovePOSIX("ipcplay./../../etc/passwd")
		}, inv},
		{"RemovePOSIX missing", func(t *testing.T) (string, error) {
			return "", RemovePOSIX(ipctest.Name(t, ".missing"))
		}, []error{ErrNotFound, unix.ENOENT}},
		{"RemoveSysV negative", func(t *testing.T) (string, error) {
			return "", RemoveSysV(-1)
		}, inv},
		{"RemoveSysV missing", func(t *testing.T) (string, error) {
			return "", RemoveSysV(math.MaxInt32)
		}, []error{ErrNotFound}},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			path, err := row.run(t)
			checkErr(t, err, row.targets...)
			if path != "" {
				if _, err := os.Lstat(path); err == nil {
					t.Errorf("%s left behind", path)
					if name, ok := strings.CutPrefix(path, "/dev/shm/"); ok {
						RemovePOSIX(name) // refuses anything not ours
					}
				}
			}
		})
	}
}

// createT is create (shm_test.go) under a name that does not clash with
// the closure in TestBadInput.
func createT(t *testing.T, s Spec) *Region { t.Helper(); return create(t, s) }

func TestErrorMessages(t *testing.T) {
	// Free space depends on the machine: check the format on a made-up case.
	e := limitErr(`create posix "ipcplay.x" (1073741824 bytes)`, noSpaceWhy("/dev/shm", 64<<20), unix.ENOSPC)
	want := `shm: create posix "ipcplay.x" (1073741824 bytes): only 64 MiB free on /dev/shm (containers default to 64 MiB; docker run --shm-size raises it): no space left on device`
	if e.Error() != want {
		t.Errorf("got  %s\nwant %s", e, want)
	}
	checkErr(t, e, ErrNoSpace, unix.ENOSPC)

	_, err := ParseKind("ramdisk")
	checkErr(t, err, ErrInvalid)
	if !strings.Contains(err.Error(), "memfd, posix, sysv, file") {
		t.Errorf("ParseKind error %q does not name the allowed values", err)
	}
	if !errors.Is(ErrUnsupported, errors.ErrUnsupported) {
		t.Error("ErrUnsupported does not match errors.ErrUnsupported")
	}
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[uint64]string{
		0: "0 bytes", 1023: "1023 bytes", 1024: "1 KiB", 1536: "1.5 KiB",
		64 << 20: "64 MiB", 23<<30 + 512<<20: "23.5 GiB", math.MaxUint64: "16.0 EiB",
	} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestSysVLimits checks the shmmax/shmall checks with made-up limits, as
// the real ones are usually unlimited.
func TestSysVLimits(t *testing.T) {
	dir := t.TempDir()
	page := os.Getpagesize()
	write := func(name string, v int) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(strconv.Itoa(v)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("shmmax", 1<<20)
	write("shmall", 16)
	old := procSysKernel
	procSysKernel = dir
	defer func() { procSysKernel = old }()

	_, err := Create(Spec{Kind: SysV, Size: 1<<20 + 1})
	checkErr(t, err, ErrInvalid, unix.EINVAL)
	if !strings.Contains(err.Error(), "kernel.shmmax (1048576 bytes, 1 MiB)") {
		t.Errorf("error %q does not name kernel.shmmax and its value", err)
	}
	_, err = Create(Spec{Kind: SysV, Size: 17 * page})
	checkErr(t, err, ErrNoSpace, unix.ENOSPC)
	if !strings.Contains(err.Error(), "kernel.shmall (16 pages") {
		t.Errorf("error %q does not name kernel.shmall and its value", err)
	}
	r := create(t, Spec{Kind: SysV, Size: 16 * page}) // exactly at the limit
	if r.Size() != 16*page {
		t.Errorf("Size = %d", r.Size())
	}
}
