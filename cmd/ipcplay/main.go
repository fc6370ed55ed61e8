// Command ipcplay is a Linux IPC playground: one binary that is the daemon,
// the CLI and (hidden) the worker processes the engine re-executes.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/ipcplay/ipcplay/ipc"
	"github.com/ipcplay/ipcplay/ipc/worker"
)

func main() {
	// A re-executed worker never reaches the CLI: it runs its kind and exits.
	worker.Dispatch()

	ctx, stop := interruptContext(context.Background())
	defer stop()

	app := newApp()
	err := app.RunContext(ctx, interspersed(app, os.Args))
	os.Exit(report(err))
}

// interruptContext returns a context cancelled by the first SIGINT or
// SIGTERM: the run winds down (its workers stop, its objects are removed)
// and the command returns. A second signal does not wait for that: it
// ends the process at once, by the same signal with its default action
// (exit status 128+n where the signal is ignored). What the run leaves,
// its ledger entries say, and the next engine start or 'ipcplay clean'
// removes; its workers die with their parent (Pdeathsig). stop releases
// the signals.
func interruptContext(parent context.Context) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancel(parent)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	stopped := make(chan struct{})
	go func() {
		select {
		case <-sigs:
			cancel()
		case <-stopped:
			return
		}
		select {
		case sig := <-sigs:
			n := sig.(syscall.Signal)
			fmt.Fprintf(os.Stderr, "ipcplay: %s again: exiting now, without waiting for the run to wind down; the next start or 'ipcplay clean' removes what it left\n", unix.SignalName(n))
			signal.Reset(n)
			// Directed at this thread, the signal is handled before tgkill
			// returns to Go code: the runtime's default action ends the
			// process here. (kill(2) could land on another thread and
			// lose the race with os.Exit.)
			runtime.LockOSThread()
			_ = unix.Tgkill(os.Getpid(), unix.Gettid(), n)
			os.Exit(128 + int(n)) // the signal was ignored when we started (nohup): exit as a shell reports it
		case <-stopped:
		}
	}()
	var once sync.Once
	return ctx, func() {
		once.Do(func() {
			signal.Stop(sigs)
			close(stopped)
			cancel()
		})
	}
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
