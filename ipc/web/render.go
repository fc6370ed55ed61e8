package web

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"time"

	"github.com/ipcplay/ipcplay/ipc"
	"github.com/ipcplay/ipcplay/ipc/outfile"
)

//go:embed assets
var assets embed.FS

// Drawing is what a renderer makes of one run's result.
type Drawing struct {
	// Text is the terminal's tables, exactly as the CLI prints them.
	Text string
	// Figures are inline SVG elements (charts), from trusted renderers.
	Figures []template.HTML
	// Note is a narration under the tables (the tour's).
	Note string
}

// RenderFunc draws a run's result. It is injected by cmd/ipcplay, which
// knows the experiments' types (package ipc does not).
type RenderFunc func(res *ipc.RunResult) (Drawing, error)

// View is one run on the page or in a report.
type View struct {
	Title      string
	RunID      string
	Experiment string
	Engine     string
	State      string
	Error      string
	Started    time.Time
	ElapsedNs  int64
	Drawing
	// Doc is the run's --json document (with kind, engine and run_id),
	// made safe to inline in a script element; the timeline and the
	// step player read it.
	Doc template.JS
	// Kind is the document's "kind" (race, bench, ...).
	Kind string
}

// Page is the data of the one template behind the live page and the
// reports.
type Page struct {
	Title string
	// Live: the daemon's page (streams, form); otherwise a
	// self-contained report that makes no network request.
	Live       bool
	Generated  time.Time
	Views      []View
	Forms      []Form
	Runs       []ipc.RunInfo
	HasObjects bool
	Objects    *Table
}

// BuildView makes the view of a run: its state, the renderer's drawing of
// its result (when there is one) and its document for the scripts. A
// renderer's failure is shown in the view, not hidden.
func BuildView(res *ipc.RunResult, render RenderFunc) View {
	v := View{
		Title: res.Experiment + " " + res.RunID, RunID: res.RunID, Experiment: res.Experiment,
		Engine: res.Engine, State: res.State, Error: res.Error, Started: res.Started, ElapsedNs: res.ElapsedNs,
	}
	if len(res.Result) == 0 {
		return v
	}
	doc, kind, err := Document(res)
	if err != nil {
		v.Text = err.Error()
		return v
	}
	v.Doc, v.Kind = doc, kind
	d, err := render(res)
	if err != nil {
		d.Text = fmt.Sprintf("cannot draw this result: %v", err)
	}
	v.Drawing = d
	return v
}

// Document returns the run's --json document (the experiment's result
// plus "engine" and "run_id"), compact and with <, > and & escaped so that
// it can sit inside a <script> element, and its "kind".
func Document(res *ipc.RunResult) (template.JS, string, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(res.Result, &doc); err != nil {
		return "", "", fmt.Errorf("result of %s is not a JSON object: %w", res.Experiment, err)
	}
	doc["engine"], _ = json.Marshal(res.Engine)
	doc["run_id"], _ = json.Marshal(res.RunID)
	if _, ok := doc["kind"]; !ok {
		doc["kind"], _ = json.Marshal(res.Experiment)
	}
	var kind string
	_ = json.Unmarshal(doc["kind"], &kind)
	b, err := json.Marshal(doc)
	if err != nil {
		return "", "", err
	}
	var out bytes.Buffer
	json.HTMLEscape(&out, b) // also escapes U+2028/9
	// #nosec: JSON, escaped for a script element.
	return template.JS(out.String()), kind, nil
}

var page = template.Must(template.New("page.html").Funcs(template.FuncMap{
	"css":  func() template.CSS { return template.CSS(mustAsset("assets/style.css")) },
	"js":   func() template.JS { return template.JS(mustAsset("assets/app.js")) },
	"dur":  func(ns int64) string { return fmtDur(ns) },
	"when": func(t time.Time) string { return t.Local().Format("2006-01-02 15:04:05") },
	"final": func(state string) bool {
		return state != ipc.StateQueued && state != ipc.StateRunning
	},
}).ParseFS(assets, "assets/page.html"))

func mustAsset(name string) string {
	b, err := assets.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// WritePage renders p with the page's template.
func WritePage(w io.Writer, p *Page) error {
	if p.Generated.IsZero() {
		p.Generated = time.Now()
	}
	return page.Execute(w, p)
}

// reportCSP forbids every network request in a report: it must open the
// same from a USB stick, offline.
const reportCSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:"

// WriteReport writes one self-contained HTML file to path (replacing it
// atomically, mode 0600, through outfile.Write like every output file of
// the CLI): CSS, JS, SVG and the documents inline, no network request.
// title heads it; views are the runs.
func WriteReport(path, title string, views []View) error {
	var buf bytes.Buffer
	if err := WritePage(&buf, &Page{Title: title, Views: views}); err != nil {
		return fmt.Errorf("html report: %w", err)
	}
	if err := outfile.WriteBytes(path, buf.Bytes()); err != nil {
		return fmt.Errorf("html report: %w", err)
	}
	return nil
}

// fmtDur formats nanoseconds for people: 850ns, 12.3µs, 4.56ms, 1.20s.
func fmtDur(ns int64) string {
	d := time.Duration(ns)
	switch {
	case d < time.Microsecond:
		return fmt.Sprintf("%dns", ns)
	case d < time.Millisecond:
		return fmt.Sprintf("%.1fµs", float64(ns)/1e3)
	case d < time.Second:
		return fmt.Sprintf("%.2fms", float64(ns)/1e6)
	default:
		return fmt.Sprintf("%.2fs", float64(ns)/1e9)
	}
}
