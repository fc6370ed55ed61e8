package main

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ipcplay/ipcplay/ipc"
)

// localLimits are the embedded engine's limits: the defaults, each
// overridden by its IPCPLAY_* variable (the same variables as the
// daemon's limit flags). A bad value is a usage error naming the variable.
func localLimits() (ipc.Limits, error) {
	lim := ipc.DefaultLimits()
	lim.Engine = ipc.EngineLocal
	for _, v := range []struct {
		env string
		set func(string) error
	}{
		{ipc.EnvMaxProcs, func(s string) error {
			n, err := strconv.Atoi(s)
			if err != nil {
				return errors.New("not a whole number")
			}
			lim.MaxProcs = n
			return nil
		}},
		{ipc.EnvMaxShm, func(s string) (err error) {
			lim.MaxShmBytes, err = parseBytes(s)
			return err
		}},
		{ipc.EnvMaxRuns, func(s string) error {
			n, err := strconv.Atoi(s)
			if err != nil {
				return errors.New("not a whole number")
			}
			lim.MaxRuns = n
			return nil
		}},
		{ipc.EnvRunTimeout, func(s string) (err error) {
			if lim.RunTimeout, err = time.ParseDuration(s); err != nil {
				return errors.New("not a duration: write e.g. 30m or 2h")
			}
			return nil
		}},
	} {
		s := strings.TrimSpace(os.Getenv(v.env))
		if s == "" {
			continue
		}
		if err := v.set(s); err != nil {
			return lim, ipc.Usagef("%s=%q: %v", v.env, s, err)
		}
		// The defaults are valid: what fails now is this variable.
		if err := lim.Validate(); err != nil {
			return lim, ipc.Usagef("%s=%q: %v", v.env, s, err)
		}
	}
	return lim, nil
}

// runLimits are the limits of the engine a run of this command will use,
// found without creating anything, so that a value out of range is
// refused with the real range before anything starts: the page's daemon
// (a form), the daemon answering on the socket (its status), or the
// embedded engine's. When none can be known (--require-daemon and no
// daemon) they are the widest any engine may have; the engine checks its
// own again in any case.
func runLimits(c *cli.Context) (ipc.Limits, error) {
	if cp := capturing(c.Context); cp != nil && cp.limits != nil {
		return *cp.limits, nil
	}
	if !globalBool(c, "local") {
		ctx := c.Context
		if ctx == nil {
			ctx = context.Background()
		}
		if dc, err := ipc.DialDaemon(ctx, socketPath(c), nil); err == nil {
			st, err := dc.Status(ctx)
			dc.Close()
			if err == nil {
				lim := st.Limits
				lim.Engine = ipc.EngineDaemon
				return lim, nil
			}
		}
		if globalBool(c, "require-daemon") {
			return ipc.Limits{MaxProcs: ipc.MaxProcsLimit, MaxShmBytes: ipc.MaxShmBytesLimit, MaxRuns: ipc.MaxRunsLimit, RunTimeout: ipc.MaxRunTimeout}, nil
		}
	}
	lim, err := localLimits()
	lim.Chosen = globalBool(c, "local")
	return lim, err
}
