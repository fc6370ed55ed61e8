package outfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// leftovers lists the files of dir other than keep.
func leftovers(t *testing.T, dir string, keep ...string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		found := false
		for _, k := range keep {
			found = found || e.Name() == k
		}
		if !found {
			out = append(out, e.Name())
		}
	}
	return out
}

func modeOf(t *testing.T, path string) os.FileMode {
	t.Helper()
	st, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode()
}

func TestNewFileIsPrivate(t *testing.T) {
	for _, umask := range []int{0, 0o022, 0o077} {
		old := syscall.Umask(umask)
		dir := t.TempDir()
		path := filepath.Join(dir, "report.html")
		err := WriteBytes(path, []byte("<html>"))
		syscall.Umask(old)
		if err != nil {
			t.Fatal(err)
		}
		if m := modeOf(t, path); m != Mode {
			t.Errorf("umask %03o: mode %v, want %v", umask, m, os.FileMode(Mode))
		}
		if b, _ := os.ReadFile(path); string(b) != "<html>" {
			t.Errorf("contents %q", b)
		}
		if l := leftovers(t, dir, "report.html"); len(l) > 0 {
			t.Errorf("left behind: %v", l)
		}
	}
}

func TestExistingFileIsReplacedAndMadePrivate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "trace.json")
	if err := os.WriteFile(path, []byte("old, and longer than the new one"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	if err := WriteBytes(path, []byte("new")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "new" {
		t.Errorf("contents %q", b)
	}
	if m := modeOf(t, path); m != Mode {
		t.Errorf("mode %v, want %v", m, os.FileMode(Mode))
	}
}

// A symlink at the target is replaced by the file, never followed: the
// file it points to keeps its contents (the classic attack: a link in a
// shared directory to the victim's file).
func TestSymlinkAtTargetIsReplacedNotFollowed(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	if err := os.WriteFile(victim, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "report.html")
	if err := os.Symlink(victim, path); err != nil {
		t.Fatal(err)
	}
	// A dangling link too: following it would create its target.
	dangling := filepath.Join(dir, "plot.svg")
	if err := os.Symlink(filepath.Join(dir, "created-through-link"), dangling); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, dangling} {
		if err := WriteBytes(p, []byte("report")); err != nil {
			t.Fatal(err)
		}
		if m := modeOf(t, p); m&os.ModeSymlink != 0 || m != Mode {
			t.Errorf("%s: mode %v, want a plain %v file", p, m, os.FileMode(Mode))
		}
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious" {
		t.Errorf("the link was followed: victim now %q", b)
	}
	if _, err := os.Lstat(filepath.Join(dir, "created-through-link")); err == nil {
		t.Error("the dangling link was followed")
	}
}

func TestNothingLeftOnError(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.json")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := Write(path, func(w io.Writer) error {
		if _, err := w.Write([]byte("half")); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), path) {
		t.Errorf("error %v, want boom naming the path", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "old" {
		t.Errorf("target changed to %q", b)
	}
	if l := leftovers(t, dir, "out.json"); len(l) > 0 {
		t.Errorf("left behind after a failed write: %v", l)
	}

	// The rename fails: the target is a directory.
	sub := filepath.Join(dir, "adir")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := WriteBytes(sub, []byte("x")); err == nil {
		t.Error("writing over a directory succeeded")
	}
	if l := leftovers(t, dir, "out.json", "adir"); len(l) > 0 {
		t.Errorf("left behind after a failed rename: %v", l)
	}

	// No directory: nothing is created anywhere.
	if err := WriteBytes(filepath.Join(dir, "no", "such", "x"), []byte("x")); err == nil {
		t.Error("writing into a missing directory succeeded")
	}
}

func TestLongNameStaysUnderNameMax(t *testing.T) {
	dir := t.TempDir()
	name := strings.Repeat("r", 250)
	if err := WriteBytes(filepath.Join(dir, name), []byte("x")); err != nil {
		t.Fatal(err)
	}
	if l := leftovers(t, dir, name); len(l) > 0 {
		t.Errorf("left behind: %v", l)
	}
}

func TestCheckTarget(t *testing.T) {
	dir := t.TempDir()
	if abs, err := CheckTarget(filepath.Join(dir, "r.html")); err != nil || abs != filepath.Join(dir, "r.html") {
		t.Errorf("good path: %q %v", abs, err)
	}
	if _, err := CheckTarget(filepath.Join(dir, "missing", "r.html")); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing directory: %v", err)
	}
	if _, err := CheckTarget(dir); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("a directory: %v", err)
	}
	if l := leftovers(t, dir); len(l) > 0 {
		t.Errorf("CheckTarget created %v", l)
	}
	if os.Geteuid() != 0 { // root may write anywhere
		ro := filepath.Join(dir, "ro")
		if err := os.Mkdir(ro, 0o500); err != nil {
			t.Fatal(err)
		}
		if _, err := CheckTarget(filepath.Join(ro, "r.html")); err == nil || !strings.Contains(err.Error(), "cannot create a file in") {
			t.Errorf("a read-only directory: %v", err)
		}
	}
}
