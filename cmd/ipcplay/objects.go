package main

import (
	"fmt"
	"strconv"

	"github.com/urfave/cli/v2"

	"github.com/ipcplay/ipcplay/ipc"
	"github.com/ipcplay/ipcplay/ipc/sysobj"
)

var objectsCommand = &cli.Command{
	Name:  "objects",
	Usage: "list live IPC objects: ipcplay's own, or with --all every one on the machine",
	UsageText: `ipcplay objects [--all] [--json]

Examples:
   ipcplay objects          # what ipcplay's runs hold now; STALE marks leaks of crashed runs
   ipcplay objects --all    # System V, POSIX shm/sem/mq and Unix sockets of everyone`,
	Description: "STALE objects belong to a run whose process is gone: 'ipcplay clean' removes them.",
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "all", Usage: "list every IPC object of the machine, not only ipcplay's"},
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
		all := c.Bool("all")
		objs, err := client.Objects(c.Context, all)
		if objs == nil {
			return err
		}
		if err != nil {
			logger.Warn("the listing is incomplete", "error", err)
		}
		if globalBool(c, "json") {
			return writeJSON(c.App.Writer, struct {
				docHead
				Objects []ipc.Object `json:"objects"`
			}{head("objects", client.Engine(), nil), objs})
		}
		if len(objs) == 0 {
			if all {
				fmt.Fprintln(c.App.Writer, "no IPC objects")
			} else {
				fmt.Fprintln(c.App.Writer, "no ipcplay objects (--all lists every IPC object of the machine)")
			}
			return nil
		}
		tw := newTable(c.App.Writer)
		fmt.Fprintln(tw, "TYPE\tID\tNAME\tOWNER\tMODE\tSIZE\tCREATOR\tRUN\tSTALE")
		users := map[int]string{} // one look-up per uid
		for _, o := range objs {
			owner, ok := users[o.OwnerUID]
			if !ok {
				owner = sysobj.UserName(o.OwnerUID)
				users[o.OwnerUID] = owner
			}
			id, creator, run, stale := "-", "-", "-", ""
			if o.ID >= 0 && (o.Name == "" || o.Type == "sysv-shm" || o.Type == "sysv-sem" || o.Type == "sysv-msg") {
				id = strconv.Itoa(o.ID)
			}
			if o.CreatorPID > 0 {
				creator = strconv.Itoa(o.CreatorPID)
			}
			if o.RunID != nil {
				run = *o.RunID
			}
			if o.Stale {
				stale = "stale"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", o.Type, id, dash(o.Name), owner, dash(o.Mode), o.Size, creator, run, stale)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		for _, o := range objs {
			if o.Note != "" {
				fmt.Fprintf(c.App.Writer, "note: %s %s: %s\n", o.Type, dash(o.Name), o.Note)
			}
		}
		return nil
	},
}
