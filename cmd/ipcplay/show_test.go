package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/ipcplay/ipcplay/demos/race"
)

// show prints a run's result as its command does (race.Render for a race
// run), and --json gives the raw document.
func TestShowRendersTheResultLikeItsCommand(t *testing.T) {
	d := startDaemon(t, newStateDir(t))
	r := runCLI(t, "race", "--mode", "atomic", "--procs", "2", "--iters", "100", "--require-daemon", "--socket", d.socket, "--json")
	if r.code != 0 {
		t.Fatalf("race: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	id, _ := jsonDoc(t, r.stdout)["run_id"].(string)
	js := runCLI(t, "show", "--json", "--socket", d.socket, id)
	var doc struct {
		Result json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal([]byte(js.stdout), &doc); err != nil || len(doc.Result) == 0 {
		t.Fatalf("show --json: %v\n%s%s", err, js.stdout, js.stderr)
	}
	var res race.Result
	if err := json.Unmarshal(doc.Result, &res); err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if err := race.Render(&want, &res); err != nil {
		t.Fatal(err)
	}
	text := runCLI(t, "show", "--socket", d.socket, id)
	if text.code != 0 || !strings.Contains(text.stdout, want.String()) || strings.Contains(text.stdout, `"kind"`) {
		t.Errorf("show: exit %d\n%s%s\nwant it to hold:\n%s", text.code, text.stdout, text.stderr, want.String())
	}
}

func TestRunErrorTextOfACancelledRun(t *testing.T) {
	for _, c := range []struct{ state, msg, want string }{
		{"cancelled", "race: sysv-sem, trial 1 of 1: context canceled", "cancelled"},
		{"cancelled", "", "cancelled"},
		{"cancelled", "the daemon is shutting down (SIGTERM received)", "cancelled: the daemon is shutting down (SIGTERM received)"},
		{"failed", "race: boom", "race: boom"},
	} {
		if got := runErrorText(c.state, c.msg); got != c.want {
			t.Errorf("runErrorText(%q, %q) = %q, want %q", c.state, c.msg, got, c.want)
		}
	}
}
