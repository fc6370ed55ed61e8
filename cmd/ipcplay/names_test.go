package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ipcplay/ipcplay/ipc/ipctest"
)

// objectsNamed returns the names in `objects --all --json` that start
// with prefix.
func objectsNamed(t *testing.T, typ, prefix string) []string {
	t.Helper()
	r := runCLI(t, "objects", "--all", "--json")
	var doc struct {
		Objects []struct{ Type, Name string } `json:"objects"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("objects --all --json: %v\n%s%s", err, r.stdout, r.stderr)
	}
	var out []string
	for _, o := range doc.Objects {
		if o.Type == typ && strings.HasPrefix(o.Name, prefix) {
			out = append(out, o.Name)
		}
	}
	return out
}

// inspectName inspects typ name and returns the name inspect printed in
// JSON, failing the test when inspect cannot find it.
func inspectName(t *testing.T, typ, name string) string {
	t.Helper()
	r := runCLI(t, "inspect", typ, name, "--json")
	if r.code != 0 {
		t.Fatalf("inspect %s %q: exit %d: %s", typ, name, r.code, r.stderr)
	}
	var doc struct {
		Object struct{ Name string } `json:"object"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Object.Name
}

// The input: /dev/shm/x\xfe and /dev/shm/x\xff (not UTF-8) are two
// objects under two names, and every command finds each from what
// objects printed.
func TestNamesKeepTheirBytesAndRoundTrip(t *testing.T) {
	prefix := ipctest.Name(t, ".")
	for _, b := range []string{"x\xfe", "x\xff"} {
		path := "/dev/shm/" + prefix + b
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		t.Cleanup(func() { os.Remove(path) })
	}
	names := objectsNamed(t, "posix-shm", "/"+prefix)
	want := []string{"/" + prefix + `x\xfe`, "/" + prefix + `x\xff`}
	if strings.Join(names, "|") != strings.Join(want, "|") {
		t.Fatalf("objects --all --json names %q, want %q", names, want)
	}
	text := runCLI(t, "objects", "--all").stdout
	for _, n := range names {
		if !strings.Contains(text, n) {
			t.Errorf("objects --all (text) lacks %q", n)
		}
		if got := inspectName(t, "posix-shm", n); got != n {
			t.Errorf("inspect posix-shm %q printed the name %q", n, got)
		}
		who := runCLI(t, "who", "/dev/shm"+n, "--json")
		if who.code != 0 || !strings.Contains(who.stdout, `"target": "posix-shm `+strings.ReplaceAll(n, `\`, `\\`)+`"`) {
			t.Errorf("who /dev/shm%s: exit %d\n%s%s", n, who.code, who.stdout, who.stderr)
		}
		w := runCLI(t, "watch", "--count", "1", "--json", "posix-shm", n)
		if w.code != 0 || !strings.Contains(w.stdout, `"name": "`+strings.ReplaceAll(n, `\`, `\\`)+`"`) {
			t.Errorf("watch posix-shm %s: exit %d\n%s%s", n, w.code, w.stdout, w.stderr)
		}
	}
}

// Socket paths and abstract names (NUL bytes included) round-trip too.
func TestSocketNamesKeepTheirBytes(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s\xfe\nx.sock")
	abstract := "@" + ipctest.Name(t, "") + "\x00a\xff"
	for _, name := range []string{path, abstract} {
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(fd) })
		if err := unix.Bind(fd, &unix.SockaddrUnix{Name: name}); err != nil {
			t.Fatalf("bind %q: %v", name, err)
		}
		if err := unix.Listen(fd, 1); err != nil {
			t.Fatal(err)
		}
	}
	wantPath := strings.ReplaceAll(dir, `\`, `\\`) + `/s\xfe\x0ax.sock`
	wantAbs := "@" + ipctest.Name(t, "") + `\x00a\xff`
	for _, want := range []string{wantPath, wantAbs} {
		if got := objectsNamed(t, "unix-socket", want); len(got) != 1 || got[0] != want {
			t.Errorf("objects --all: %q, want %q", got, want)
		}
		if got := inspectName(t, "unix-socket", want); got != want {
			t.Errorf("inspect unix-socket %q printed %q", want, got)
		}
	}
}
