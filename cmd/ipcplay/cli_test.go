package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

func TestDoctorJSON(t *testing.T) {
	dir := demoStateDir(t)
	stdout, stderr, code := demoCLI(t, dir, "doctor", "--json")
	var doc struct {
		Kind   string `json:"kind"`
		OK     bool   `json:"ok"`
		Engine string `json:"engine"`
		Checks []struct {
			Name, Status, Detail string
		} `json:"checks"`
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("stdout is not one JSON document: %v\n%s\n%s", err, stdout, stderr)
	}
	if code != 0 || !doc.OK || doc.Kind != "doctor" || len(doc.Checks) < 10 {
		t.Fatalf("doctor exited %d ok=%v: %+v\n%s", code, doc.OK, doc.Checks, stderr)
	}
	assertNoEntries(t, dir)
}

func TestCompletionScripts(t *testing.T) {
	for _, sh := range []string{"bash", "zsh"} {
		stdout, _, code := demoCLI(t, demoStateDir(t), "completion", sh)
		if code != 0 || !strings.Contains(stdout, "--generate-bash-completion") {
			t.Errorf("completion %s: exit %d\n%s", sh, code, stdout)
		}
	}
	if _, stderr, code := demoCLI(t, demoStateDir(t), "completion", "fish"); code != 2 || !strings.Contains(stderr, "bash or zsh") {
		t.Errorf("completion fish: exit %d, %s", code, stderr)
	}
	stdout, _, _ := demoCLI(t, demoStateDir(t), "--generate-bash-completion")
	for _, want := range []string{"race", "bench", "tour", "doctor", "inspect"} {
		if !strings.Contains(stdout, want+"\n") {
			t.Errorf("command completion lacks %s", want)
		}
	}
}

// Every command's --help has an example line.
func TestEveryCommandHasAnExample(t *testing.T) {
	for _, cmd := range newApp().Commands {
		if cmd.Hidden || cmd.Name == "help" {
			continue
		}
		if !strings.Contains(cmd.UsageText, "ipcplay "+cmd.Name) || !strings.Contains(strings.ToLower(cmd.UsageText), "example") {
			t.Errorf("ipcplay %s --help has no example line (UsageText %q)", cmd.Name, cmd.UsageText)
		}
	}
}

// assertNoEntries fails if the ledger in dir still names objects.
func assertNoEntries(t *testing.T, dir string) {
	t.Helper()
	b, err := os.ReadFile(dir + "/ledger.json")
	if err != nil {
		return // never written: nothing was recorded
	}
	var doc struct {
		Entries []json.RawMessage `json:"entries"`
	}
	if json.Unmarshal(b, &doc) == nil && len(doc.Entries) != 0 {
		t.Fatalf("ledger still names %d object(s): %s", len(doc.Entries), b)
	}
}
