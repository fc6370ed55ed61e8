package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipcplay/ipcplay/ipc/ipctest"
)

// TestAbstractSocketKeepsStateOutOfTheWorkingDirectory: with --socket
// @name (no directory), a daemon and a CLI both keep their ledger in the
// default state directory, and nothing lands in their working directories
// (issue 12: the state directory was ".").
func TestAbstractSocketKeepsStateOutOfTheWorkingDirectory(t *testing.T) {
	rt := newStateDir(t) // stands in for $XDG_RUNTIME_DIR
	daemonCwd, cliCwd := newStateDir(t), newStateDir(t)
	socket := "@" + ipctest.Name(t, "sock")

	d := cliCmd(t, "daemon", "--socket", socket, "--log-level", "debug")
	d.Env = append(d.Env, "XDG_RUNTIME_DIR="+rt) // the last value wins
	d.Dir = daemonCwd
	log := &syncBuffer{}
	d.Stderr = log
	done, err := startLocked(d)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		d.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(40 * time.Second):
			d.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("daemon log:\n%s", log.String())
		}
	}()

	var res cliResult
	for deadline := time.Now().Add(30 * time.Second); ; {
		c := cliCmd(t, "cmdtest", "--procs", "1", "--socket", socket, "--require-daemon")
		c.Env = append(c.Env, "XDG_RUNTIME_DIR="+rt)
		c.Dir = cliCwd
		var out, errb syncBuffer
		c.Stdout, c.Stderr = &out, &errb
		cdone, err := startLocked(c)
		if err != nil {
			t.Fatal(err)
		}
		<-cdone
		res = cliResult{out.String(), errb.String(), c.ProcessState.ExitCode()}
		if res.code == 0 || time.Now().After(deadline) {
			break
		}
		select {
		case <-done:
			t.Fatalf("daemon exited: %s", log.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	if res.code != 0 {
		t.Fatalf("run through the daemon on %s: exit %d\n%s", socket, res.code, res.stderr)
	}
	for _, dir := range []string{daemonCwd, cliCwd} {
		ents, _ := os.ReadDir(dir)
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		if len(names) > 0 {
			t.Errorf("working directory %s holds %s", dir, strings.Join(names, ", "))
		}
	}
	if _, err := os.Stat(filepath.Join(rt, "ipcplay")); err != nil {
		t.Errorf("the default state directory was not used: %v", err)
	}
}
