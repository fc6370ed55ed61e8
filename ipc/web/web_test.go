package web

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ipcplay/ipcplay/ipc"
)

func TestListenRefusesNonLoopbackUnlessAllowed(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", "[::]:0", "192.0.2.1:0", "nonsense", "1.2.3.4"} {
		l, err := Listen(addr, false)
		if err == nil {
			l.Close()
			t.Errorf("Listen(%q): accepted", addr)
			continue
		}
		if !ipc.IsUsage(err) || !strings.Contains(err.Error(), "--http") {
			t.Errorf("Listen(%q): %v, want a usage error naming --http", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:0", "localhost:0", ":0", "0", "[::1]:0"} {
		l, err := Listen(addr, false)
		if err != nil {
			if addr == "[::1]:0" {
				continue // no IPv6 here
			}
			t.Errorf("Listen(%q): %v", addr, err)
			continue
		}
		l.Close()
	}
	l, err := Listen("0.0.0.0:0", true)
	if err != nil {
		t.Fatalf("Listen(0.0.0.0:0, allowRemote): %v", err)
	}
	l.Close()
}

// A document is inlined in a <script> element: nothing in it may end the
// element or open a comment.
func TestDocumentIsSafeInAScript(t *testing.T) {
	res := &ipc.RunResult{RunID: "r-1", Experiment: "race", Engine: ipc.EngineLocal, Result: json.RawMessage(`{"kind":"race","note":"</script><script>alert(1)</script> <!-- \u2028"}`)}
	doc, kind, err := Document(res)
	if err != nil || kind != "race" {
		t.Fatal(kind, err)
	}
	s := string(doc)
	if strings.Contains(s, "</script") || strings.Contains(s, "<!--") || strings.Contains(s, "\u2028") {
		t.Fatalf("unsafe in a script: %s", s)
	}
	var back map[string]any
	if err := json.Unmarshal([]byte(s), &back); err != nil || back["run_id"] != "r-1" || back["engine"] != "local" {
		t.Fatalf("document %s: %v", s, err)
	}
}

// The report: one file, a CSP that forbids every request, the views'
// tables and documents inline, no live parts.
func TestReportIsSelfContained(t *testing.T) {
	res := &ipc.RunResult{RunID: "r-2", Experiment: "race", Engine: ipc.EngineLocal, State: ipc.StateOK, Started: time.Now(),
		Result: json.RawMessage(`{"kind":"race","results":[]}`)}
	v := BuildView(res, func(*ipc.RunResult) (Drawing, error) { return Drawing{Text: "MODE <x>"}, nil })
	var b bytes.Buffer
	if err := WritePage(&b, &Page{Title: "t", Views: []View{v}}); err != nil {
		t.Fatal(err)
	}
	s := b.String()
	for _, want := range []string{reportCSP, "MODE &lt;x&gt;", `id="doc-0"`, `class="timeline"`, "<style>", "<script>"} {
		if !strings.Contains(s, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	for _, bad := range []string{"<link", " src=", `id="runs"`, `form class="card start"`} {
		if strings.Contains(s, bad) {
			t.Errorf("report has %q", bad)
		}
	}
}
