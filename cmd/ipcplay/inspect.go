package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ipcplay/ipcplay/ipc"
)

// Helpers of the commands that look at an engine: status, runs, show,
// cancel, objects, clean. (The `ipcplay inspect` command is objinspect.go.)

// connectToLook is connect for these commands. An embedded engine started
// for them does not reap at start: objects must still show stale objects,
// clean --dry-run must not remove them, and clean reports what it removes.
func connectToLook(c *cli.Context) (ipc.Client, error) {
	return connected(c)(ipc.Connect(c.Context, ipc.ConnectOptions{
		Socket:        socketPath(c),
		Local:         globalBool(c, "local"),
		RequireDaemon: globalBool(c, "require-daemon"),
		Log:           logger,
		NewLocal: func() (*ipc.Engine, error) {
			if _, err := localLimits(); err != nil {
				return nil, err
			}
			cfg := engineConfig(c, ipc.EngineLocal)
			cfg.NoReap = true
			return newEngine(cfg)
		},
	}))
}

// docHead is what every JSON document of a command that is not a run
// starts with. Each command's document is a typed struct embedding it, so
// that values go from the typed data to the encoder with no detour
// through map[string]any (which would turn integers into float64 and
// round those above 2^53).
type docHead struct {
	Kind   string  `json:"kind"`
	Engine string  `json:"engine"`
	RunID  *string `json:"run_id"` // null unless the document is about one run
}

// head returns a document head.
func head(kind, engine string, runID *string) docHead {
	return docHead{Kind: kind, Engine: engine, RunID: runID}
}

// newTable returns a tabwriter for aligned columns; Flush it.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

// dash shows an empty value as "-".
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// fmtNs renders nanoseconds as a duration rounded for people.
func fmtNs(ns int64) string {
	d := time.Duration(ns)
	switch {
	case d >= time.Minute:
		return d.Round(time.Second).String()
	case d >= time.Second:
		return d.Round(time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	}
	return d.Round(time.Microsecond).String()
}

// engineNote says where the answer came from, for text output.
func engineNote(client ipc.Client, socket string) string {
	if client.Engine() == ipc.EngineDaemon {
		return "answering on " + socket
	}
	return fmt.Sprintf("embedded in this process (no daemon answers on %s)", socket)
}

// noSuchRun explains a run id that an embedded engine cannot know.
func noSuchRun(c *cli.Context, id string) error {
	return ipc.Usagef("no run %q: no daemon answers on %s, and the runs of an embedded engine are known only to the CLI that ran them", id, socketPath(c))
}
