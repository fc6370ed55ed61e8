package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/ipcplay/ipcplay/ipc/ledger"
	"github.com/ipcplay/ipcplay/shm"
)

// goneProcess returns the pid and start time of a process that has exited:
// the creator a CLI killed with kill -9 leaves in the ledger.
func goneProcess(t *testing.T) (int, uint64) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "IPCPLAY_TEST_NOTHING=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	start, _ := ledger.StartTime(pid)
	cmd.Wait()
	if start == 0 {
		start = 1 // exited before it could be read: any start time is another process's
	}
	return pid, start
}

// The input: a CLI run killed with kill -9 leaves an object in the
// ledger. doctor must report it, and leave it (and its entry) alone.
func TestDoctorReportsLeftoversWithoutRemovingThem(t *testing.T) {
	dir := demoStateDir(t)
	name := fmt.Sprintf("%sdoctor-leftover-%d", shm.POSIXPrefix, os.Getpid())
	path := "/dev/shm/" + name
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	t.Cleanup(func() { os.Remove(path) })
	pid, start := goneProcess(t)
	l, err := ledger.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Add(ledger.Entry{Type: ledger.POSIXShm, Name: name, RunID: "r-killed", CreatorPID: pid, CreatorStart: start}); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, _ := demoCLI(t, dir, "doctor", "--json")
	var doc struct {
		Checks []struct{ Name, Status, Detail string } `json:"checks"`
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("doctor --json: %v\n%s%s", err, stdout, stderr)
	}
	found := false
	for _, c := range doc.Checks {
		if c.Name == "leftovers" {
			found = true
			if c.Status != "warn" || !strings.Contains(c.Detail, "posix-shm "+name) || !strings.Contains(c.Detail, "r-killed") {
				t.Errorf("leftovers check: %+v", c)
			}
		}
	}
	if !found {
		t.Errorf("no leftovers check in %s", stdout)
	}
	if _, err := os.Lstat(path); err != nil {
		t.Errorf("doctor removed the leftover %s: %v", path, err)
	}
	if es, _ := l.Entries(); len(es) != 1 {
		t.Errorf("doctor changed the ledger: %+v", es)
	}
}
