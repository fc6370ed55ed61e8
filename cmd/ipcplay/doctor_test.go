package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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

// leakedPOSIXShm makes what a CLI run killed with kill -9 leaves: a POSIX
// shm object /dev/shm/<prefix><tag>-<pid> (removed at cleanup) and its
// ledger entry in dir, recorded by a process that is gone. It returns the
// object's name, its path and the ledger.
func leakedPOSIXShm(t *testing.T, dir, tag, runID string) (name, path string, l *ledger.Ledger) {
	t.Helper()
	name = fmt.Sprintf("%s%s-%d", shm.POSIXPrefix, tag, os.Getpid())
	path = "/dev/shm/" + name
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	t.Cleanup(func() { os.Remove(path) })
	pid, start := goneProcess(t)
	if l, err = ledger.Open(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Add(ledger.Entry{Type: ledger.POSIXShm, Name: name, RunID: runID, CreatorPID: pid, CreatorStart: start}); err != nil {
		t.Fatal(err)
	}
	return name, path, l
}

// The input: a CLI run killed with kill -9 leaves an object in the
// ledger. doctor must report it, and leave it (and its entry) alone.
func TestDoctorReportsLeftoversWithoutRemovingThem(t *testing.T) {
	dir := demoStateDir(t)
	name, path, l := leakedPOSIXShm(t, dir, "doctor-leftover", "r-killed")
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
			if c.Status != "warn" || !strings.Contains(c.Detail, "posix-shm /"+name) || !strings.Contains(c.Detail, "r-killed") {
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

// A corrupt ledger: clean does not claim there is nothing to clean, doctor
// gives one "ledger" failure with the way out while its IPC probes still
// say whether IPC works, and nothing rewrites the file.
func TestCorruptLedgerIsOneProblemWithItsFix(t *testing.T) {
	dir := demoStateDir(t)
	path := filepath.Join(dir, "ledger.json")
	if err := os.WriteFile(path, []byte(`{"entries":[`), 0o600); err != nil {
		t.Fatal(err)
	}
	fix := "mv " + path + " " + path + ".corrupt"
	stdout, stderr, code := demoCLI(t, dir, "clean", "--local")
	if code != 1 || strings.Contains(stdout, "nothing to clean") || !strings.Contains(stderr, fix) || !strings.Contains(stderr, "objects --all") {
		t.Errorf("clean: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	stdout, stderr, code = demoCLI(t, dir, "doctor", "--json")
	var doc struct {
		Checks []struct{ Name, Status, Detail, Advice string } `json:"checks"`
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("doctor --json: %v\n%s%s", err, stdout, stderr)
	}
	if code != 1 {
		t.Errorf("doctor: exit %d, want 1", code)
	}
	ledgerLines := 0
	for _, c := range doc.Checks {
		switch {
		case c.Name == "ledger":
			ledgerLines++
			if c.Status != "fail" || !strings.Contains(c.Detail, path) || !strings.Contains(c.Advice, fix) {
				t.Errorf("ledger check: %+v", c)
			}
		case strings.Contains(c.Detail, "ledger"):
			t.Errorf("check %q blames the ledger: %+v", c.Name, c)
		}
	}
	if ledgerLines != 1 {
		t.Errorf("%d ledger lines, want 1: %s", ledgerLines, stdout)
	}
	if b, _ := os.ReadFile(path); string(b) != `{"entries":[` {
		t.Errorf("the corrupt ledger was rewritten: %q", b)
	}
}
