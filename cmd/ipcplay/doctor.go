package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/ipcplay/ipcplay/ipc"
	"github.com/ipcplay/ipcplay/ipc/doctor"
)

var doctorCommand = &cli.Command{
	Name:  "doctor",
	Usage: "check this machine: what will and will not work here, and why",
	UsageText: `ipcplay doctor [--json]

Example:
   ipcplay doctor          # kernel, /dev/shm, limits, which IPC calls work, daemon, leftovers`,
	Description: "Exits 0 when everything ipcplay needs works here (warnings included), 1 with the list of what does not.",
	Action: func(c *cli.Context) error {
		if err := usageArgs(c, 0, 0, "no arguments"); err != nil {
			return err
		}
		// The probes run in this process: the question is whether IPC works
		// for this user here, whatever a daemon could do. doctor changes
		// nothing it reports on: no reaping at start, or the leftovers
		// check would find what the start just removed.
		cfg := engineConfig(c, ipc.EngineLocal)
		cfg.NoReap = true
		e, err := newEngine(cfg)
		if err != nil {
			return err
		}
		e.Register(doctor.Experiment)
		client := &ipc.LocalClient{E: e}
		defer client.Close()
		var runID string
		report := doctor.Run(c.Context,
			doctor.CallProbe(client, &runID),
			doctor.DaemonProbe(socketPath(c)),
			doctor.LeakProbe(e),
		)
		report.RunID = runID
		if globalBool(c, "json") {
			if err := writeJSON(c.App.Writer, report); err != nil {
				return err
			}
		} else {
			fmt.Fprint(c.App.Writer, report.String())
		}
		if !report.OK {
			return &silentError{errors.New("doctor: not usable here: " + strings.Join(report.Failed(), ", "))}
		}
		return nil
	},
}
