package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/ipcplay/ipcplay/ipc"
)

var runsCommand = &cli.Command{
	Name:  "runs",
	Usage: "list the recent runs of the daemon (running, queued and finished)",
	UsageText: `ipcplay runs [--json]

Example:
   ipcplay runs            # the daemon's recent runs, newest last

The daemon remembers its last 100 runs; see one with 'ipcplay show RUN_ID'.`,
	Action: func(c *cli.Context) error {
		if err := usageArgs(c, 0, 0, "no arguments"); err != nil {
			return err
		}
		client, err := connectToLook(c)
		if err != nil {
			return err
		}
		defer client.Close()
		runs, err := client.Runs(c.Context)
		if err != nil {
			return err
		}
		if runs == nil {
			runs = []ipc.RunInfo{}
		}
		if globalBool(c, "json") {
			return writeJSON(c.App.Writer, struct {
				docHead
				Runs []ipc.RunInfo `json:"runs"`
			}{head("runs", client.Engine(), nil), runs})
		}
		if len(runs) == 0 {
			if client.Engine() == ipc.EngineLocal {
				fmt.Fprintf(c.App.Writer, "no runs: %s; embedded runs are known only to the CLI that ran them\n", engineNote(client, socketPath(c)))
			} else {
				fmt.Fprintln(c.App.Writer, "no runs yet")
			}
			return nil
		}
		tw := newTable(c.App.Writer)
		fmt.Fprintln(tw, "RUN ID\tEXPERIMENT\tSTATE\tSTARTED\tELAPSED\tERROR")
		for _, r := range runs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.RunID, r.Experiment, r.State,
				r.Started.Local().Format("15:04:05"), fmtNs(r.ElapsedNs), dash(firstLine(runErrorText(r.State, r.Error), 60)))
		}
		return tw.Flush()
	},
}

// firstLine returns the first line of s, at most n bytes.
func firstLine(s string, n int) string {
	for i, r := range s {
		if r == '\n' {
			s = s[:i]
			break
		}
	}
	if len(s) > n {
		s = s[:n-3] + "..."
	}
	return s
}
