package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/ipcplay/ipcplay/ipc"
)

var showCommand = &cli.Command{
	Name:      "show",
	Usage:     "show one run of the daemon: its state, and its result as its command printed it (--json: the document)",
	UsageText: "ipcplay show RUN_ID [--json]\n\nExample:\n   ipcplay show r-3f2a9c01de --json",
	Action: func(c *cli.Context) error {
		if err := usageArgs(c, 1, 1, "RUN_ID"); err != nil {
			return err
		}
		id := c.Args().First()
		client, err := connectToLook(c)
		if err != nil {
			return err
		}
		defer client.Close()
		if client.Engine() == ipc.EngineLocal {
			return noSuchRun(c, id)
		}
		r, err := client.Show(c.Context, id)
		if err != nil {
			return err
		}
		if globalBool(c, "json") {
			return writeJSON(c.App.Writer, struct {
				Kind string `json:"kind"`
				*ipc.RunResult
			}{"run", r})
		}
		tw := newTable(c.App.Writer)
		fmt.Fprintf(tw, "run\t%s\n", r.RunID)
		fmt.Fprintf(tw, "experiment\t%s\n", r.Experiment)
		fmt.Fprintf(tw, "engine\t%s\n", r.Engine)
		state := r.State
		if r.State == ipc.StateCancelled {
			state = runErrorText(r.State, r.Error)
		}
		fmt.Fprintf(tw, "state\t%s\n", state)
		fmt.Fprintf(tw, "started\t%s\n", r.Started.Local().Format("2006-01-02 15:04:05"))
		fmt.Fprintf(tw, "elapsed\t%s\n", fmtNs(r.ElapsedNs))
		if r.Error != "" && r.State != ipc.StateCancelled {
			fmt.Fprintf(tw, "error\t%s\n", r.Error)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if len(r.Result) > 0 {
			// The tables its command printed; --json gives the document.
			fmt.Fprintln(c.App.Writer)
			return renderResult(c.App.Writer, r.Experiment, r.Result)
		}
		return nil
	},
}
