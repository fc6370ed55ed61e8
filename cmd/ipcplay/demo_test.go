package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipcplay/ipcplay/demos/lab"
	"github.com/ipcplay/ipcplay/ipc/ipctest"
)

func init() {
	// The CLI as a child process, so that every run starts from a fresh
	// app, as a user's would.
	helpers["ipcplay-demo"] = func() {
		ctx, stop := interruptContext(context.Background()) // as main
		defer stop()
		code := runApp(ctx, newApp(), append([]string{"ipcplay"}, ipctest.Args()...))
		stop()
		exit(code)
	}
}

// demoCLI runs `ipcplay args...` with a private state directory and no
// daemon, and returns stdout, stderr and the exit code.
func demoCLI(t *testing.T, stateDir string, args ...string) (string, string, int) {
	t.Helper()
	cmd := ipctest.Helper(t, "ipcplay-demo", args...)
	var env []string
	for _, kv := range cmd.Env {
		if !strings.HasPrefix(kv, "IPCPLAY_SOCKET=") && !strings.HasPrefix(kv, "IPCPLAY_STATE_DIR=") && !strings.HasPrefix(kv, "IPCPLAY_LOG_LEVEL=") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "IPCPLAY_STATE_DIR="+stateDir, "IPCPLAY_SOCKET="+filepath.Join(stateDir, "none.sock"))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		<-done
		t.Fatalf("ipcplay %v: no exit within a minute\nstdout: %s\nstderr: %s", args, out.String(), errb.String())
	}
	return out.String(), errb.String(), cmd.ProcessState.ExitCode()
}

func demoStateDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ipcdemo-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func TestDemoListsTheLabs(t *testing.T) {
	dir := demoStateDir(t)
	out, errOut, code := demoCLI(t, dir, "demo")
	if code != 0 {
		t.Fatalf("ipcplay demo: exit %d\n%s", code, errOut)
	}
	for _, l := range lab.Labs() {
		if !strings.Contains(out, l.Name) || !strings.Contains(out, l.Summary) {
			t.Errorf("the list does not show %s: %q", l.Name, l.Summary)
		}
	}

	out, errOut, code = demoCLI(t, dir, "demo", "--json")
	if code != 0 {
		t.Fatalf("ipcplay demo --json: exit %d\n%s", code, errOut)
	}
	var doc struct {
		Kind string `json:"kind"`
		Labs []struct {
			Name       string `json:"name"`
			Experiment string `json:"experiment"`
		} `json:"labs"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("not one JSON document: %v\n%s", err, out)
	}
	if doc.Kind != "demo-list" || len(doc.Labs) != len(lab.Labs()) {
		t.Errorf("list document %+v", doc)
	}

	_, errOut, code = demoCLI(t, dir, "demo", "nosuch")
	if code != 2 || !strings.Contains(errOut, `unknown lab "nosuch"`) || !strings.Contains(errOut, "crash, deadlock") {
		t.Errorf("unknown lab: exit %d, stderr %q; want 2 and the list of labs", code, errOut)
	}

	out, _, code = demoCLI(t, dir, "demo", "crash", "--help")
	if code != 0 || !strings.Contains(out, "Example:") || !strings.Contains(out, "--timeout") {
		t.Errorf("demo crash --help: exit %d\n%s", code, out)
	}

	_, errOut, code = demoCLI(t, dir, "demo", "crash", "--timeout", "1ms", "--local")
	if code != 2 || !strings.Contains(errOut, "--timeout 1ms") {
		t.Errorf("bad --timeout: exit %d, stderr %q; want 2 naming the flag", code, errOut)
	}
}

func TestDemoRunsALabWithJSON(t *testing.T) {
	dir := demoStateDir(t)
	out, errOut, code := demoCLI(t, dir, "demo", "fd-passing", "--source", "memfd", "--local", "--json")
	if code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	var doc struct {
		lab.FDPassingResult
		Engine string `json:"engine"`
		RunID  string `json:"run_id"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("not one JSON document: %v\n%s", err, out)
	}
	if doc.Kind != "demo" || doc.Lab != "fd-passing" || !doc.OK || doc.Engine != "local" || !strings.HasPrefix(doc.RunID, "r-") {
		t.Errorf("document header: kind %q lab %q ok %v engine %q run_id %q", doc.Kind, doc.Lab, doc.OK, doc.Engine, doc.RunID)
	}
	if len(doc.Rows) != 1 || doc.Rows[0].Source != "memfd" || !doc.Rows[0].Matches {
		t.Errorf("rows %+v", doc.Rows)
	}
	if _, err := os.Stat(filepath.Join(dir, doc.RunID)); !os.IsNotExist(err) {
		t.Errorf("run directory left behind: %v", err)
	}

	// The text form prints the explanation beside the outcome.
	out, errOut, code = demoCLI(t, dir, "demo", "blocking", "--delay", "20ms", "--local")
	if code != 0 || !strings.Contains(out, "EAGAIN") || !strings.Contains(out, "Why: ") || !strings.Contains(out, "Behaved as explained: yes") {
		t.Errorf("demo blocking: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
}
