package main

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSecondInterruptExitsAtOnce: Ctrl-C twice. The first cancels the run,
// whose wind-down here never ends; the second ends the CLI at once, by
// SIGINT. What the run left is in the ledger, and clean removes it
// (issue 12: the second Ctrl-C was swallowed until the wind-down ended).
func TestSecondInterruptExitsAtOnce(t *testing.T) {
	dir := newStateDir(t)
	socket := filepath.Join(dir, "d.sock")
	n := newNotifier(t)
	cmd := cliCmd(t, "cmdtest", "--local", "--socket", socket, "--procs", "2", "--mode", "stuck", "--notify", n.path)
	var out, errb syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	done, err := startLocked(cmd)
	if err != nil {
		t.Fatal(err)
	}
	note := n.wait(t) // the workers run
	left := ledgerEntries(t, dir)
	if len(left) == 0 {
		t.Fatal("the run recorded nothing in the ledger")
	}
	t.Cleanup(func() { runCLI(t, "clean", "--socket", socket) }) // also when the test fails
	cmd.Process.Signal(syscall.SIGINT)
	n.wait(t) // the run was cancelled and is winding down, for ever
	cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-done:
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		<-done
		t.Fatalf("the CLI did not exit after a second SIGINT\nstderr: %s", errb.String())
	}
	// Killed by SIGINT, or exit 130 where SIGINT is ignored (a test run
	// from a shell's background job inherits SIG_IGN).
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !(ws.Signaled() && ws.Signal() == syscall.SIGINT) && ws.ExitStatus() != 128+int(syscall.SIGINT) {
		t.Errorf("CLI ended with %v, want killed by SIGINT (or exit 130)", cmd.ProcessState)
	}
	if !strings.Contains(errb.String(), "SIGINT again: exiting now") || !strings.Contains(errb.String(), "ipcplay clean") {
		t.Errorf("stderr %q does not say why it exits, nor what removes the rest", errb.String())
	}
	waitGone(t, note.Pids)

	r := runCLI(t, "clean", "--socket", socket)
	if r.code != 0 {
		t.Fatalf("clean: exit %d\n%s", r.code, r.stderr)
	}
	assertClean(t, dir, left)
	noRunLeftovers(t, dir, note.RunID)
}
