package python_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipcplay/ipcplay/ipc/python"
	"github.com/ipcplay/ipcplay/ipc/python/pythontest"
)

func TestFindProbesTheInterpreter(t *testing.T) {
	in := pythontest.Require(t)
	if !filepath.IsAbs(in.Path) || in.Version == "" || len(in.VersionInfo) < 3 || in.VersionInfo[0] != 3 {
		t.Fatalf("probe: %+v", in)
	}
	if in.VersionInfo[1] < 13 && !in.GILEnabled {
		t.Errorf("Python %s before 3.13 reports its GIL off", in.Version)
	}
	if in.SemOpen == "" || in.Semop == "" {
		t.Errorf("ctypes did not reach sem_open (%q) or semop (%q) on glibc", in.SemOpen, in.Semop)
	}
	again, err := python.Find(context.Background(), in.Path)
	if err != nil || again.Version != in.Version {
		t.Fatalf("Find(%s) = %+v, %v", in.Path, again, err)
	}
}

func TestFindRefusesWhatIsNotAUsablePython(t *testing.T) {
	dir := t.TempDir()
	script := func(name, body string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	old := script("python3.6", "#!/bin/sh\necho '{\"version\":\"3.6.9\",\"version_info\":[3,6,9]}'\n", 0o755)
	broken := script("broken", "#!/bin/sh\necho 'not python' >&2; exit 1\n", 0o755)
	notExec := script("plain", "print(1)\n", 0o644)
	// Python 2 refuses -I and names itself on --version.
	py2 := script("python2", "#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'Python 2.7.18' >&2; exit 0; fi\necho 'Unknown option: -I' >&2; exit 2\n", 0o755)
	for _, c := range []struct {
		path string
		want error
		says string
	}{
		{filepath.Join(dir, "missing"), python.ErrNotFound, "no such file"},
		{dir, python.ErrNotFound, "is a directory"},
		{notExec, python.ErrNotFound, "not executable"},
		{old, python.ErrTooOld, "Python 3.6.9"},
		{py2, python.ErrTooOld, "Python 2.7.18"},
		{broken, python.ErrBroken, "not python"},
	} {
		_, err := python.Find(context.Background(), c.path)
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.says) || !strings.Contains(err.Error(), "apt-get install python3") {
			t.Errorf("Find(%s) = %v, want %v saying %q and how to install Python", c.path, err, c.want, c.says)
		}
	}
}

func TestLookupWithoutPython3InPath(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := python.Lookup("")
	if !errors.Is(err, python.ErrNotFound) || !strings.Contains(err.Error(), "apt-get install python3") {
		t.Fatalf("Lookup with no python3 in PATH: %v", err)
	}
}
