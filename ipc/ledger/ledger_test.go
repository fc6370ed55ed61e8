package ledger

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ipcplay/ipcplay/ipc/ipctest"
)

func TestMain(m *testing.M) {
	ipctest.Main(m, map[string]func(){
		"add": func() {
			l, err := Open(ipctest.Args()[0])
			if err != nil {
				panic(err)
			}
			for i := 0; i < 20; i++ {
				if _, err := l.Add(Entry{Type: POSIXShm, Name: fmt.Sprintf("ipcplay.x.%d.%d", os.Getpid(), i), RunID: "r-test"}); err != nil {
					panic(err)
				}
			}
		},
	})
}

func privateDir(t *testing.T) string {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestAddRemoveRoundTrip(t *testing.T) {
	l, err := Open(privateDir(t))
	if err != nil {
		t.Fatal(err)
	}
	e, err := l.Add(Entry{Type: SysVSem, ID: 42, RunID: "r-1"})
	if err != nil {
		t.Fatal(err)
	}
	if e.CreatorPID != os.Getpid() || e.CreatorStart == 0 || e.Created.IsZero() {
		t.Fatalf("creator not filled in: %+v", e)
	}
	if _, err := l.Add(Entry{Type: POSIXShm, Name: "ipcplay.r-1.a", RunID: "r-1"}); err != nil {
		t.Fatal(err)
	}
	got, _ := l.Entries()
	if len(got) != 2 {
		t.Fatalf("entries = %+v", got)
	}
	if err := l.Remove(e); err != nil {
		t.Fatal(err)
	}
	got, _ = l.Entries()
	if len(got) != 1 || got[0].Name != "ipcplay.r-1.a" || got[0].ID != -1 {
		t.Fatalf("after remove: %+v", got)
	}
	fi, err := os.Stat(l.Path())
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("ledger file mode: %v %v", fi.Mode(), err)
	}
}

func TestRefusesSharedDir(t *testing.T) {
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	if _, err := Open(dir); err == nil {
		t.Fatal("Open accepted a 0755 state dir")
	}
}

// Several processes adding at once must not lose entries.
func TestConcurrentProcesses(t *testing.T) {
	dir := privateDir(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = ipctest.Helper(t, "add", dir).Run()
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	l, _ := Open(dir)
	got, err := l.Entries()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 80 {
		t.Fatalf("got %d entries, want 80", len(got))
	}
	// The helpers are gone, so each entry is stale.
	for _, e := range got {
		if !e.Stale() {
			t.Fatalf("entry of exited pid %d not stale", e.CreatorPID)
		}
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "*tmp*"))
	if len(matches) != 0 {
		t.Fatalf("temp files left: %v", matches)
	}
}

func TestAliveChecksStartTime(t *testing.T) {
	if !Alive(os.Getpid(), SelfStart()) {
		t.Fatal("self not alive")
	}
	if Alive(os.Getpid(), SelfStart()+1) {
		t.Fatal("a reused pid (other start time) counts as alive")
	}
	cmd := exec.Command("true")
	cmd.Run()
	if Alive(cmd.Process.Pid, 0) {
		t.Fatalf("exited pid %s alive", strconv.Itoa(cmd.Process.Pid))
	}
}

// A ledger that cannot be read as ours is refused with a message naming
// the file and the way out, never read through a link, never overwritten.
func TestUntrustedLedger(t *testing.T) {
	cases := map[string]func(t *testing.T, path string){
		"corrupt": func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte(`{"entries":[`), 0o600); err != nil {
				t.Fatal(err)
			}
		},
		"symlink": func(t *testing.T, path string) {
			target := filepath.Join(t.TempDir(), "elsewhere.json")
			if err := os.WriteFile(target, []byte(`{"entries":[]}`), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, path); err != nil {
				t.Fatal(err)
			}
		},
		"fifo": func(t *testing.T, path string) {
			if err := unix.Mkfifo(path, 0o600); err != nil {
				t.Fatal(err)
			}
		},
	}
	for name, setup := range cases {
		t.Run(name, func(t *testing.T) {
			dir := privateDir(t)
			l, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			setup(t, l.Path())
			before, _ := os.Readlink(l.Path())
			_, err = l.Entries()
			var ue *UntrustedError
			if !errors.As(err, &ue) {
				t.Fatalf("Entries: %v, want an *UntrustedError", err)
			}
			for _, want := range []string{l.Path(), "cannot be trusted", "mv " + l.Path() + " " + l.Path() + ".corrupt", "ipcplay objects --all"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if _, err := l.Add(Entry{Type: POSIXShm, Name: "ipcplay.x", RunID: "r-test"}); !errors.As(err, &ue) {
				t.Fatalf("Add over an untrusted ledger: %v, want the same refusal", err)
			}
			if after, _ := os.Readlink(l.Path()); after != before {
				t.Errorf("the ledger was replaced: link %q, now %q", before, after)
			}
		})
	}
}

// Entries are named as every output names objects: POSIX names with '/'.
func TestEntryString(t *testing.T) {
	for e, want := range map[Entry]string{
		{Type: POSIXShm, ID: -1, Name: "ipcplay.a"}: "posix-shm /ipcplay.a",
		{Type: POSIXSem, ID: -1, Name: "ipcplay.b"}: "posix-sem /ipcplay.b",
		{Type: POSIXMQ, ID: -1, Name: "ipcplay.c"}:  "posix-mq /ipcplay.c",
		{Type: SysVShm, ID: 42}:                     "sysv-shm 42",
		{Type: File, ID: -1, Name: "/tmp/x/fifo"}:   "file /tmp/x/fifo",
	} {
		if got := e.String(); got != want {
			t.Errorf("%+v: %q, want %q", e, got, want)
		}
	}
}

// Another user's file at the ledger's name is refused (root can make one).
func TestLedgerOfAnotherUserIsRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give the file to another user")
	}
	l, err := Open(privateDir(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(l.Path(), []byte(`{"entries":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(l.Path(), 65534, 65534); err != nil {
		t.Fatal(err)
	}
	var ue *UntrustedError
	if _, err := l.Entries(); !errors.As(err, &ue) || !strings.Contains(err.Error(), "owned by uid 65534") {
		t.Fatalf("Entries: %v, want a refusal naming the owner", err)
	}
}
