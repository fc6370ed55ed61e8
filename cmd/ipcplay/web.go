package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net/url"
	"strings"
	"sync"

	"github.com/urfave/cli/v2"

	"github.com/ipcplay/ipcplay/demos/bench"
	benchreport "github.com/ipcplay/ipcplay/demos/bench/report"
	"github.com/ipcplay/ipcplay/demos/lab"
	"github.com/ipcplay/ipcplay/demos/race"
	"github.com/ipcplay/ipcplay/ipc"
	"github.com/ipcplay/ipcplay/ipc/outfile"
	"github.com/ipcplay/ipcplay/ipc/sysobj"
	"github.com/ipcplay/ipcplay/ipc/web"
)

// This file is what cmd injects into package ipc/web (which may not import
// demos): how each experiment's result is drawn, how the page's form
// becomes a run request (through this CLI's own flags and checks), and
// the objects table of `ipcplay watch`.

// webConfig is the daemon's HTTP side configuration for engine e.
func webConfig(e *ipc.Engine) web.Config {
	return web.Config{
		Engine: e,
		Render: webRender,
		Start: func(ctx context.Context, form url.Values) (ipc.RunRequest, error) {
			lim := e.Limits()
			return webStart(ctx, form, &lim)
		},
		Forms:   webForms(e.Limits()),
		Objects: webObjects,
		Log:     logger.Named("http"),
	}
}

// webRender draws a run's result: the terminal's tables (the very
// renderers the commands print with, without colour) and, for bench, the
// charts.
func webRender(res *ipc.RunResult) (web.Drawing, error) {
	var d web.Drawing
	var text bytes.Buffer
	switch {
	case res.Experiment == race.Name:
		var r race.Result
		if err := json.Unmarshal(res.Result, &r); err != nil {
			return d, err
		}
		if err := race.Render(&text, &r); err != nil {
			return d, err
		}
	case res.Experiment == bench.Experiment.Name:
		var r bench.Result
		if err := json.Unmarshal(res.Result, &r); err != nil {
			return d, err
		}
		if err := benchreport.Text(&text, &r, benchreport.Options{Sort: "auto", Histogram: r.Results != nil && len(r.Results[0].Histogram) > 0}); err != nil {
			return d, err
		}
		// The floor (when the document has one) is read from the document
		// itself, so the chart shows it whichever version wrote it.
		var fl struct {
			Floor *struct {
				C2CRttNs float64 `json:"c2c_rtt_ns"`
			} `json:"floor"`
		}
		_ = json.Unmarshal(res.Result, &fl)
		var floorNs int64
		if fl.Floor != nil {
			floorNs = int64(fl.Floor.C2CRttNs)
		}
		for _, s := range benchreport.LatencySVG(&r, floorNs) {
			d.Figures = append(d.Figures, template.HTML(s)) // #nosec: our SVG, names escaped
		}
		for _, s := range benchreport.ThroughputSVG(&r) {
			d.Figures = append(d.Figures, template.HTML(s))
		}
	case strings.HasPrefix(res.Experiment, "demo-"):
		if err := lab.Render(&text, res.Result); err != nil {
			return d, err
		}
	default:
		var pretty bytes.Buffer
		if err := json.Indent(&pretty, res.Result, "", "  "); err != nil {
			return d, err
		}
		text = pretty
	}
	d.Text = text.String()
	return d, nil
}

// webForms are the page's forms: a few flags of race, bench and demo, with
// the ranges of the engine (lim) that serves the page.
func webForms(lim ipc.Limits) []web.Form {
	return []web.Form{
		{Kind: "race", Label: "Race: i += 1 on one counter", Fields: []web.Field{
			{Name: "mode", Label: "--mode", Value: "unsafe,atomic,sysv-sem", Help: "all, or a comma list: unsafe, atomic, sysv-sem, posix-sem, futex, flock, socket-token"},
			{Name: "procs", Label: "--procs", Value: "2", Help: fmt.Sprintf("workers, 1 to %d (this daemon's --max-procs)", lim.MaxProcs)},
			{Name: "iters", Label: "--iters", Value: "100000", Help: fmt.Sprintf("increments per worker (at most %d)", race.MaxIters)},
			{Name: "window", Label: "--window", Help: "wait between load and store, such as 1ms: the race shows slowly, on one CPU too"},
		}},
		{Kind: "bench", Label: "Bench: transports compared", Fields: []web.Field{
			{Name: "transport", Label: "--transport", Value: "pipe,unix-stream,shm", Help: "all, or a comma list of " + strings.Join(bench.TransportNames(), ", ")},
			{Name: "pattern", Label: "--pattern", Value: "both", Choices: []string{"pingpong", "stream", "both"}},
			{Name: "size", Label: "--size", Value: "64,4K,64K"},
			{Name: "duration", Label: "--duration", Value: "300ms", Help: fmt.Sprintf("each measured run (%s to %s)", bench.MinDuration, bench.MaxDuration)},
		}},
		{Kind: "demo", Label: "Demo: a lab", Fields: []web.Field{
			{Name: "lab", Label: "lab", Value: "crash", Choices: lab.Names()},
		}},
	}
}

// captureKey marks a context in which runExperiment records the request
// instead of running it: the page's form goes through the CLI's own flag
// parsing and checks.
type captureKey struct{}

type capture struct {
	req    *ipc.RunRequest
	limits *ipc.Limits // the page's engine's: the form is checked against them
}

func capturing(ctx context.Context) *capture {
	if ctx == nil {
		return nil
	}
	c, _ := ctx.Value(captureKey{}).(*capture)
	return c
}

// formApp is newApp, set in init: the daemon command (which serves the
// form) is itself one of the app's commands.
var formApp func() *cli.App

func init() { formApp = newApp }

// captureMu serialises the form's parses: the commands' flag values are
// shared package variables.
var captureMu sync.Mutex

// webStart turns the page's form into a run request by running the
// command line the form stands for ("ipcplay race --procs=0 ...") through
// this CLI, stopping where the CLI would connect. Bad input fails with the
// CLI's message, checked against lim (the page's engine's limits; nil: as
// the CLI would find them), before anything exists.
func webStart(ctx context.Context, form url.Values, lim *ipc.Limits) (ipc.RunRequest, error) {
	kind := form.Get("kind")
	var f *web.Form
	forms := webForms(ipc.Limits{})
	for i := range forms {
		if forms[i].Kind == kind {
			f = &forms[i]
		}
	}
	if f == nil {
		return ipc.RunRequest{}, ipc.Usagef("kind %q: must be race, bench or demo", kind)
	}
	args := []string{"ipcplay", kind}
	for _, fld := range f.Fields {
		v := strings.TrimSpace(form.Get(fld.Name))
		switch {
		case kind == "demo" && fld.Name == "lab":
			args = append(args, v)
		case v != "":
			args = append(args, "--"+fld.Name+"="+v)
		}
	}
	captureMu.Lock()
	defer captureMu.Unlock()
	app := formApp()
	app.Writer, app.ErrWriter = io.Discard, io.Discard
	cp := &capture{limits: lim}
	if err := app.RunContext(context.WithValue(ctx, captureKey{}, cp), interspersed(app, args)); err != nil {
		return ipc.RunRequest{}, err
	}
	if cp.req == nil {
		return ipc.RunRequest{}, ipc.Usagef("%s: nothing to run (see 'ipcplay %s --help')", strings.Join(args[1:], " "), kind)
	}
	req := *cp.req
	if req.Experiment == race.Name {
		// The page draws the interleaving: record some increments.
		var p race.Params
		if err := json.Unmarshal(req.Params, &p); err != nil {
			return req, err
		}
		if !p.Trace {
			p.Trace, p.Record = true, pageRecord
		}
		raw, err := json.Marshal(p)
		if err != nil {
			return req, err
		}
		req.Params = raw
	}
	return req, nil
}

// pageRecord is how many increments each worker of a race started from the
// page records for its timeline.
const pageRecord = 1024

// webObjects is the objects table of `ipcplay watch`: every IPC object
// the daemon's user can see, with the same columns and cells.
func webObjects() web.Table {
	statuses, err := sysobj.Snapshot(sysobj.Selection{})
	v := sysobj.NewWatchView(nil, false, 0, nil)
	t := web.Table{Header: sysobj.WatchHeader(), Rows: [][]string{}, Warnings: errLines(err)}
	for _, s := range statuses {
		t.Rows = append(t.Rows, v.Cells(s))
	}
	return t
}

// htmlFlag is --html FILE of race, bench, demo and tour.
var htmlFlag = &cli.StringFlag{Name: "html", Usage: "also write a self-contained HTML report (tables, charts, the interleaving; no network needed to open it) to `FILE`"}

// htmlPath checks --html before anything runs: its directory must exist
// and it must not be a directory (outfile.CheckTarget).
func htmlPath(c *cli.Context) (string, error) {
	p := c.String("html")
	if p == "" {
		return "", nil
	}
	abs, err := outfile.CheckTarget(p)
	if err != nil {
		return "", ipc.Usagef("--html %s: %v", p, err)
	}
	return abs, nil
}

// htmlRun is one run of a report, with the tour's title and narration.
type htmlRun struct {
	res   *ipc.RunResult
	title string
	note  string
}

// writeHTML writes the report of runs to path (nothing when path is "" or
// no run produced a result) with the page's templates, and says so on
// stdout unless the output is JSON.
func writeHTML(c *cli.Context, path, title string, runs ...htmlRun) error {
	if path == "" {
		return nil
	}
	var views []web.View
	for _, r := range runs {
		if r.res == nil {
			continue
		}
		v := web.BuildView(r.res, webRender)
		if r.title != "" {
			v.Title = r.title
		}
		if r.note != "" {
			v.Note = r.note
		}
		views = append(views, v)
	}
	if len(views) == 0 {
		return nil
	}
	if err := web.WriteReport(path, title, views); err != nil {
		return err
	}
	if !globalBool(c, "json") && !c.Bool("csv") {
		fmt.Fprintf(c.App.Writer, "\nreport: %s (open it in a browser; it needs no network)\n", c.String("html"))
	}
	return nil
}
