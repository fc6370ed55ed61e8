package main

import (
	"errors"
	"fmt"
	"path/filepath"
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
		// The call probes ask whether IPC works here, which does not depend
		// on the ledger: when the state dir's ledger cannot be used (the
		// leak probe reports that, with the fix) they record their objects
		// in a scratch ledger of their own, which reaps what a killed
		// doctor left in it.
		probes := e
		if e.Ledger().Check() != nil {
			scfg := cfg
			scfg.StateDir = filepath.Join(cfg.StateDir, "doctor-scratch")
			scfg.NoReap = false
			if probes, err = newEngine(scfg); err != nil {
				return err
			}
		}
		probes.Register(doctor.Experiment)
		client := &ipc.LocalClient{E: probes}
		defer client.Close()
		var runID string
		report := doctor.Run(c.Context,
			doctor.CallProbe(client, &runID),
			doctor.DaemonProbe(socketPath(c)),
			doctor.LeakProbe(e.Ledger()),
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
