package main

import (
	"encoding/json"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A run that waits for the daemon's --max-runs says so on stderr, naming
// the run it waits for; with --json, stdout still holds its one document.
func TestQueuedRunSaysWhy(t *testing.T) {
	d := startDaemon(t, newStateDir(t), "--max-runs", "1")
	n := newNotifier(t)
	first := cliCmd(t, "cmdtest", "--socket", d.socket, "--procs", "1", "--mode", "hang", "--notify", n.path)
	firstDone, err := startLocked(first)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		first.Process.Signal(syscall.SIGTERM)
		<-firstDone
	}()
	holder := n.wait(t)

	second := cliCmd(t, "cmdtest", "--socket", d.socket, "--procs", "1", "--json")
	var out, errb syncBuffer
	second.Stdout, second.Stderr = &out, &errb
	secondDone, err := startLocked(second)
	if err != nil {
		t.Fatal(err)
	}
	want := "queued: the daemon runs at most 1 run at a time (--max-runs); waiting for " + holder.RunID + "\n"
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(errb.String(), want) {
		if time.Now().After(deadline) {
			second.Process.Kill()
			<-secondDone
			t.Fatalf("stderr %q lacks %q", errb.String(), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
	first.Process.Signal(syscall.SIGTERM) // frees the slot
	<-firstDone
	<-secondDone
	if code := second.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("queued run: exit %d\n%s%s", code, out.String(), errb.String())
	}
	var doc cmdtestResult
	if err := json.Unmarshal([]byte(out.String()), &doc); err != nil || doc.Kind != "cmdtest" {
		t.Errorf("stdout %q: %v", out.String(), err)
	}
	if c := strings.Count(errb.String(), "queued:"); c != 1 {
		t.Errorf("stderr says queued %d times: %q", c, errb.String())
	}
}
