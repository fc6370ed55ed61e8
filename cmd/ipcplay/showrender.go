package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/ipcplay/ipcplay/demos/bench"
	benchreport "github.com/ipcplay/ipcplay/demos/bench/report"
	"github.com/ipcplay/ipcplay/demos/lab"
	"github.com/ipcplay/ipcplay/demos/race"
	"github.com/ipcplay/ipcplay/ipc"
)

// renderResult prints a run's result document as the command that runs
// its experiment prints it (race, bench, a lab); the result of any other
// experiment (doctor's probes, a test's) as indented JSON. A document its
// renderer cannot read is printed as JSON too, not lost.
func renderResult(w io.Writer, experiment string, doc json.RawMessage) error {
	err := func() error {
		switch {
		case experiment == race.Experiment.Name:
			var r race.Result
			if err := json.Unmarshal(doc, &r); err != nil {
				return err
			}
			return race.Render(w, &r)
		case experiment == bench.Experiment.Name:
			var r bench.Result
			if err := json.Unmarshal(doc, &r); err != nil {
				return err
			}
			// The run's --histogram is seen in its rows.
			hist := false
			for _, row := range r.Results {
				hist = hist || len(row.Histogram) > 0
			}
			return benchreport.Text(w, &r, benchreport.Options{Sort: "auto", Histogram: hist})
		case strings.HasPrefix(experiment, lab.ExperimentPrefix):
			return lab.Render(w, doc)
		}
		return errNoRenderer
	}()
	if err == nil {
		return nil
	}
	var out bytes.Buffer
	if json.Indent(&out, doc, "  ", "  ") != nil {
		return nil
	}
	_, werr := fmt.Fprintf(w, "result:\n  %s\n", out.String())
	return werr
}

var errNoRenderer = fmt.Errorf("no renderer")

// runErrorText is a run's error in plain words for runs and show: a
// cancelled run says "cancelled" and who cancelled it when the engine knew
// (ipc.CancelledError), never the context's "context canceled".
func runErrorText(state, msg string) string {
	if state != ipc.StateCancelled {
		return msg
	}
	if cause := ipc.CancelCause(msg); cause != "" {
		return "cancelled: " + cause
	}
	return "cancelled"
}
