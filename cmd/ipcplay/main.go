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
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/ipcplay/ipcplay/ipc"
	"github.com/ipcplay/ipcplay/ipc/worker"
)

func main() {
	// A re-executed worker never reaches the CLI: it runs its kind and exits.
	worker.Dispatch()

	ctx, stop := interruptContext(context.Background())
	defer stop()

	code := runApp(ctx, newApp(), os.Args)
	stop()
	exit(code)
}

// runApp runs app on the command line args (args[0] is the program) and
// returns the exit status report gives. main and the tests' child
// processes both run the CLI through it.
func runApp(ctx context.Context, app *cli.App, args []string) int {
	args = interspersed(app, args)
	if out, ok := app.Writer.(*outWriter); ok && jsonRequested(args) && len(args) > 1 && !signalEnds[firstPositional(app.Flags, args[1:])] {
		out.hold = true // report releases it
	}
	err := app.RunContext(ctx, args)
	return report(app, args, interruptedBy(ctx), err)
}

// interrupt is the cause of a context ended by a signal.
type interrupt struct{ sig syscall.Signal }

func (i *interrupt) Error() string { return unix.SignalName(i.sig) + " received" }

// interruptedBy returns the signal that ended ctx (interruptContext), or 0.
func interruptedBy(ctx context.Context) syscall.Signal {
	var i *interrupt
	if errors.As(context.Cause(ctx), &i) {
		return i.sig
	}
	return 0
}

// interruptContext returns a context cancelled by the first SIGINT or
// SIGTERM, with an *interrupt as its cause (context.Cause): the run winds
// down (its workers stop, its objects are removed), the command returns,
// and main ends the process by that signal (report, exit). A second
// signal does not wait for that: it ends the process at once, by the same
// signal. What the run leaves then, its ledger entries say, and the next
// engine start or 'ipcplay clean' removes; its workers die with their
// parent (Pdeathsig). stop releases the signals.
func interruptContext(parent context.Context) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(parent)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	stopped := make(chan struct{})
	go func() {
		select {
		case sig := <-sigs:
			cancel(&interrupt{sig.(syscall.Signal)})
		case <-stopped:
			return
		}
		select {
		case sig := <-sigs:
			n := sig.(syscall.Signal)
			fmt.Fprintf(os.Stderr, "ipcplay: %s again: exiting now, without waiting for the run to wind down; the next start or 'ipcplay clean' removes what it left\n", unix.SignalName(n))
			dieBy(n)
		case <-stopped:
		}
	}()
	var once sync.Once
	return ctx, func() {
		once.Do(func() {
			signal.Stop(sigs)
			close(stopped)
			cancel(nil)
		})
	}
}

// dieBy ends the process by signal n with its default action, so that a
// shell sees it killed by n ($? is 128+n) and stops a script or loop as
// it does for any interrupted program; where n is ignored (started under
// nohup, or as a background job), it exits with status 128+n.
func dieBy(n syscall.Signal) {
	signal.Reset(n)
	// Directed at this thread, the signal is handled before tgkill
	// returns to Go code: the runtime's default action ends the process
	// here. (kill(2) could land on another thread and lose the race with
	// os.Exit.)
	runtime.LockOSThread()
	_ = unix.Tgkill(os.Getpid(), unix.Gettid(), n)
	os.Exit(128 + int(n))
}

// exit ends the process with code; codes above 128 are signals (report),
// and the process ends by that signal (dieBy).
func exit(code int) {
	if code > 128 && code < 128+65 {
		dieBy(syscall.Signal(code - 128))
	}
	os.Exit(code)
}

// signalEnds lists the commands whose normal end is a signal: the daemon
// (SIGTERM from systemd, Ctrl-C in a terminal) and watch (Ctrl-C). They
// exit 0 when they stopped cleanly; every other command interrupted by
// SIGINT or SIGTERM ends by that signal (exit status 130 or 143).
var signalEnds = map[string]bool{"daemon": true, "watch": true}

// report prints err the way users and tests expect and returns the exit
// code: 0 ok, 1 the run failed, 2 bad usage or input, 128+n when signal n
// (SIGINT, SIGTERM) interrupted the command (sig, 0 for none). Errors go to
// stderr as "ipcplay: <what>: <why>". With --json (in args), a command
// that printed nothing on stdout prints an error document there, so that
// stdout always holds exactly one document.
func report(app *cli.App, args []string, sig syscall.Signal, err error) int {
	path, engine := stateOf(app).get()
	out, _ := app.Writer.(*outWriter)
	if out != nil && out.hold {
		// --json: a document of an interrupted run is not the run's
		// result; the error document below replaces it.
		out.release(sig == 0 || signalEnds[path])
	}
	var code int
	switch {
	case sig != 0 && !signalEnds[path]:
		code = 128 + int(sig)
		if err == nil && path == "" {
			err = errors.New("interrupted")
		} else if err == nil {
			err = fmt.Errorf("%s: interrupted", path)
		}
	case err == nil:
		return 0
	case ipc.IsUsage(err):
		code = 2
	default:
		code = 1
	}
	msg := ipc.Explain(err)
	if sig != 0 && code > 128 {
		// Our own signal cancelled the run: the cause the engine gives
		// ("SIGINT received", or the daemon's "its client closed the
		// connection") says again what the signal's name says.
		var ce *ipc.CancelledError
		if errors.As(err, &ce) && ce.Cause != "" {
			msg = strings.Replace(msg, ": "+ce.Cause, "", 1)
		}
		msg += " (" + unix.SignalName(sig) + ")"
	}
	var silent *silentError
	if !errors.As(err, &silent) {
		fmt.Fprintf(app.ErrWriter, "ipcplay: %s\n", msg)
	}
	if out != nil && jsonRequested(args) && !out.wrote.Load() {
		if engine == "" {
			engine = ipc.EngineLocal // nothing answered: this process decided
		}
		kind := map[int]string{1: "failed", 2: "usage"}[code]
		if code > 128 {
			kind = "interrupted"
		}
		// The run's id, when the error is a run's that has one (a
		// cancelled run): the script can 'ipcplay show' it.
		var runID *string
		if ce := (*ipc.CancelledError)(nil); errors.As(err, &ce) && ce.RunID != "" {
			runID = &ce.RunID
		}
		_ = writeJSON(out, errorDoc{head("error", engine, runID), path, code, kind, msg})
	}
	return code
}

// jsonRequested reports whether args ask for --json (before any "--").
func jsonRequested(args []string) bool {
	on := false
	for _, a := range args {
		if a == "--" {
			break
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "json" {
			continue
		}
		on = true
		if hasValue {
			on, _ = strconv.ParseBool(value)
		}
	}
	return on
}

// silentError carries an exit status for a failure already reported on
// stdout (for example a race whose safe counter lost updates).
type silentError struct{ err error }

func (e *silentError) Error() string { return e.err.Error() }
func (e *silentError) Unwrap() error { return e.err }
