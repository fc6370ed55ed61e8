package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/ipcplay/ipcplay/ipc/ledger"
)

var cleanCommand = &cli.Command{
	Name:  "clean",
	Usage: "remove the IPC objects that crashed runs leaked (and nothing else)",
	UsageText: `ipcplay clean [--dry-run] [--json]

Examples:
   ipcplay clean --dry-run   # list what would be removed
   ipcplay clean`,
	Description: `Removes exactly the objects the ledger recorded for runs whose process is
gone (a daemon or CLI killed with SIGKILL). Objects the ledger did not
record, and those of live runs, are never touched.`,
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "dry-run", Usage: "list what would be removed, remove nothing"},
	},
	Action: func(c *cli.Context) error {
		if err := usageArgs(c, 0, 0, "no arguments"); err != nil {
			return err
		}
		client, err := connectToLook(c)
		if err != nil {
			return err
		}
		defer client.Close()
		dry := c.Bool("dry-run")
		removed, cleanErr := client.Clean(c.Context, dry)
		if removed == nil && cleanErr != nil {
			return cleanErr
		}
		if removed == nil {
			removed = []ledger.Entry{}
		}
		if globalBool(c, "json") {
			if err := writeJSON(c.App.Writer, struct {
				docHead
				DryRun  bool           `json:"dry_run"`
				Objects []ledger.Entry `json:"objects"`
			}{head("clean", client.Engine(), nil), dry, removed}); err != nil {
				return err
			}
			return cleanErr
		}
		verb := "removed"
		if dry {
			verb = "would remove"
		}
		if len(removed) == 0 {
			fmt.Fprintln(c.App.Writer, "nothing to clean: no object of a crashed run is left")
		}
		for _, e := range removed {
			fmt.Fprintf(c.App.Writer, "%s %s (run %s, creator pid %d, gone)\n", verb, e, e.RunID, e.CreatorPID)
		}
		return cleanErr
	},
}
