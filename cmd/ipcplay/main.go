// Command ipcplay is a Linux IPC playground: one binary that is the daemon,
// the CLI and (hidden) the worker processes the engine re-executes.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/ipcplay/ipcplay/ipc"
	"github.com/ipcplay/ipcplay/ipc/worker"
)

func main() {
	// A re-executed worker never reaches the CLI: it runs its kind and exits.
	worker.Dispatch()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	app := newApp()
	err := app.RunContext(ctx, interspersed(app, os.Args))
	os.Exit(report(err))
}

// report prints err the way users and tests expect and returns the exit
// code: 0 ok, 1 the run failed, 2 bad usage or input.
func report(err error) int {
	if err == nil {
		return 0
	}
	var silent *silentError
	if !errors.As(err, &silent) {
		fmt.Fprintf(os.Stderr, "ipcplay: %s\n", ipc.Explain(err))
	}
	if ipc.IsUsage(err) {
		return 2
	}
	return 1
}

// silentError carries an exit status for a failure already reported on
// stdout (for example a race whose safe counter lost updates).
type silentError struct{ err error }

func (e *silentError) Error() string { return e.err.Error() }
func (e *silentError) Unwrap() error { return e.err }
