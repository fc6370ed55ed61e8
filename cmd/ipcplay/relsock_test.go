package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runCLIIn runs the CLI from directory dir.
func runCLIIn(t *testing.T, dir string, args ...string) cliResult {
	t.Helper()
	cmd := cliCmd(t, args...)
	cmd.Dir = dir
	var out, errb syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	done, err := startLocked(cmd)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		<-done
		t.Fatalf("ipcplay %v: no exit within a minute", args)
	}
	return cliResult{out.String(), errb.String(), cmd.ProcessState.ExitCode()}
}

// The input: a process does chdir(D) and bind("r.sock"); ipcplay
// runs from a directory holding an unrelated file of that name. objects
// must not report that file's owner and mode for the socket, and watch
// must find by D/r.sock the socket inspect finds.
func TestRelativeSocketNameIsNotResolvedFromOurDirectory(t *testing.T) {
	bindDir, ourDir := t.TempDir(), t.TempDir()
	name := fmt.Sprintf("r-%d.sock", os.Getpid())
	if err := os.WriteFile(filepath.Join(ourDir, name), []byte("unrelated"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(ourDir, name), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := startObjC(t, "bind-relative", bindDir, name)
	srv.expect(t, "ready")

	r := runCLIIn(t, ourDir, "objects", "--all", "--json")
	var doc struct {
		Objects []struct {
			Type, Name, Mode, Note string
		} `json:"objects"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("objects: %v\n%s%s", err, r.stdout, r.stderr)
	}
	found := false
	for _, o := range doc.Objects {
		if o.Type != "unix-socket" || o.Name != name {
			continue
		}
		found = true
		if o.Mode == "0644" {
			t.Errorf("objects reports the mode of ipcplay's own %s for the socket: %+v", name, o)
		}
		if !strings.Contains(o.Note, "relative name") {
			t.Errorf("no note on the relative name: %+v", o)
		}
	}
	if !found {
		t.Fatalf("objects --all lacks the socket %q as the kernel names it:\n%s", name, r.stdout)
	}
	full := filepath.Join(bindDir, name)
	ins := runCLIIn(t, ourDir, "inspect", "unix-socket", full)
	if ins.code != 0 || !strings.Contains(ins.stdout, "listening") || !strings.Contains(ins.stdout, "relative name") {
		t.Errorf("inspect unix-socket %s: exit %d\n%s%s", full, ins.code, ins.stdout, ins.stderr)
	}
	w := runCLIIn(t, ourDir, "watch", "--count", "1", "--json", "unix-socket", full)
	if w.code != 0 || !strings.Contains(w.stdout, `"listening": true`) {
		t.Errorf("watch unix-socket %s: exit %d\n%s%s", full, w.code, w.stdout, w.stderr)
	}
}
