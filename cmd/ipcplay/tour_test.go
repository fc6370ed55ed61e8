package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// The first ten minutes: a fresh build runs the tour and the doctor with
// --json, and both succeed and leave nothing behind.
func TestTourJSON(t *testing.T) {
	dir := demoStateDir(t)
	stdout, stderr, code := demoCLI(t, dir, "tour", "--json")
	if code != 0 {
		t.Fatalf("tour exited %d\nstderr: %s\nstdout: %s", code, stderr, stdout)
	}
	var doc struct {
		Kind   string  `json:"kind"`
		Engine string  `json:"engine"`
		RunID  *string `json:"run_id"`
		Steps  []struct {
			Name      string          `json:"name"`
			RunID     string          `json:"run_id"`
			State     string          `json:"state"`
			Narration string          `json:"narration"`
			Result    json.RawMessage `json:"result"`
		} `json:"steps"`
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("stdout is not one JSON document: %v\n%s", err, stdout)
	}
	if doc.Kind != "tour" || doc.Engine != "local" {
		t.Fatalf("kind %q engine %q", doc.Kind, doc.Engine)
	}
	var names []string
	for _, s := range doc.Steps {
		names = append(names, s.Name)
		if s.State != "ok" || !strings.HasPrefix(s.RunID, "r-") || s.Narration == "" || len(s.Result) == 0 {
			t.Errorf("step %s: state %s run %q narration %q", s.Name, s.State, s.RunID, s.Narration)
		}
	}
	if strings.Join(names, ",") != "race,bench,crash" {
		t.Errorf("steps %v", names)
	}
	assertNoEntries(t, dir)
}

func TestTourText(t *testing.T) {
	dir := demoStateDir(t)
	stdout, stderr, code := demoCLI(t, dir, "tour")
	if code != 0 {
		t.Fatalf("tour exited %d\nstderr: %s", code, stderr)
	}
	for _, want := range []string{"== 1/3", "== 2/3", "== 3/3", "unsafe", "unix-stream", "SEM_UNDO", "Next:"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("tour output lacks %q", want)
		}
	}
}
