package main

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ipcplay/ipcplay/ipc"
)

// cancelWait bounds the wait for a cancelled run to end (its workers get
// their stop grace, then SIGKILL; then its objects are removed).
const cancelWait = 30 * time.Second

var cancelCommand = &cli.Command{
	Name:  "cancel",
	Usage: "cancel a queued or running run of the daemon, and wait until its objects are removed",
	UsageText: `ipcplay cancel RUN_ID [--json]

Example:
   ipcplay cancel r-3f2a9c01de

Find RUN_ID with 'ipcplay runs'.`,
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
		if err := client.Cancel(c.Context, id); err != nil {
			return err
		}
		// Wait for the end of the run, so that its objects are gone when
		// this command returns.
		state := ""
		deadline := time.Now().Add(cancelWait)
		for {
			r, err := client.Show(c.Context, id)
			if err != nil {
				return err
			}
			state = r.State
			if state != ipc.StateQueued && state != ipc.StateRunning {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("run %s was asked to stop but is still %s after %s", id, state, cancelWait)
			}
			select {
			case <-time.After(20 * time.Millisecond):
			case <-c.Context.Done():
				return c.Context.Err()
			}
		}
		if globalBool(c, "json") {
			return writeJSON(c.App.Writer, struct {
				docHead
				State string `json:"state"`
			}{head("cancel", client.Engine(), &id), state})
		}
		fmt.Fprintf(c.App.Writer, "run %s %s\n", id, state)
		return nil
	},
}
