package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/ipcplay/ipcplay/ipc"
	"github.com/ipcplay/ipcplay/ipc/plural"
)

var statusCommand = &cli.Command{
	Name:  "status",
	Usage: "which engine answers (the daemon, or embedded), its runs, limits and ledger",
	UsageText: `ipcplay status [--json]

Examples:
   ipcplay status                    # the daemon if one answers, else this process's engine
   ipcplay status --require-daemon   # exit 1 unless a daemon answers`,
	Action: func(c *cli.Context) error {
		if err := usageArgs(c, 0, 0, "no arguments"); err != nil {
			return err
		}
		client, err := connectToLook(c)
		if err != nil {
			return err
		}
		defer client.Close()
		st, err := client.Status(c.Context)
		if err != nil {
			return err
		}
		if globalBool(c, "json") {
			return writeJSON(c.App.Writer, struct {
				Kind string `json:"kind"`
				*ipc.Status
				RunID *string `json:"run_id"`
			}{"status", st, nil})
		}
		tw := newTable(c.App.Writer)
		fmt.Fprintf(tw, "engine\t%s: %s\n", st.Engine, engineNote(client, socketPath(c)))
		fmt.Fprintf(tw, "pid\t%d\n", st.PID)
		fmt.Fprintf(tw, "version\t%s\n", dash(st.Version))
		fmt.Fprintf(tw, "state dir\t%s\n", st.StateDir)
		fmt.Fprintf(tw, "uptime\t%s\n", fmtNs(st.UptimeNs))
		fmt.Fprintf(tw, "runs\t%d running, %d queued\n", st.ActiveRuns, st.QueuedRuns)
		fmt.Fprintf(tw, "limits\tmax-procs %d, max-shm %s, max-runs %d, run-timeout %s\n",
			st.Limits.MaxProcs, formatBytes(st.Limits.MaxShmBytes), st.Limits.MaxRuns, st.Limits.RunTimeout)
		fmt.Fprintf(tw, "ledger\t%s recorded\n", plural.Count(st.Ledger, "object", "objects"))
		if st.HTTPURL != "" {
			fmt.Fprintf(tw, "page\t%s\n", st.HTTPURL)
		}
		return tw.Flush()
	},
}
