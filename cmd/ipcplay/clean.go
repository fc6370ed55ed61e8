package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/ipcplay/ipcplay/ipc"
)

var cleanCommand = &cli.Command{
	Name:  "clean",
	Usage: "remove the IPC objects that crashed runs leaked (and nothing else)",
	UsageText: `ipcplay clean [--dry-run] [--json]

Examples:
   ipcplay clean --dry-run   # list what would be removed
   ipcplay clean`,
	Description: `Removes exactly the objects the ledger recorded for runs whose process is
gone (a daemon or CLI killed with SIGKILL), once each is proved to be the
object recorded: the identity noted at its creation (System V: key,
creator uid and pid, ctime, number of semaphores; files: device, inode,
owner, ctime) must match. Objects the ledger did not record, and those of
live runs, are never touched. The report lists apart:
   removed        removed now (--dry-run: would be)
   already gone   someone else removed it; the entry is dropped
   left alone     not ours (id reused): another program has the id or name
                  now (the entry is dropped); or it cannot be proved ours
                  (the entry is kept)
A removal that fails is an error (exit 1), never reported as removed.`,
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
		rep, cleanErr := client.Clean(c.Context, dry)
		if rep == nil {
			return cleanErr
		}
		if globalBool(c, "json") {
			if err := writeJSON(c.App.Writer, struct {
				docHead
				DryRun bool `json:"dry_run"`
				*ipc.CleanReport
			}{head("clean", client.Engine(), nil), dry, rep}); err != nil {
				return err
			}
			return cleanErr
		}
		if cleanErr == nil && len(rep.Removed)+len(rep.Gone)+len(rep.LeftAlone) == 0 {
			fmt.Fprintln(c.App.Writer, "nothing to clean: no object of a crashed run is left")
		}
		fmt.Fprint(c.App.Writer, rep.String(dry))
		return cleanErr
	},
}
