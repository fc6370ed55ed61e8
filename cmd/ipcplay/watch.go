package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/ipcplay/ipcplay/ipc"
	"github.com/ipcplay/ipcplay/ipc/sysobj"
)

var watchCommand = &cli.Command{
	Name:      "watch",
	Usage:     "a live view of IPC objects, like top: values, waiters, attach counts, queue depths, changes highlighted",
	UsageText: "ipcplay watch [--interval D] [--count N] [--json] [TYPE [ID|NAME|PATH] ...]\n\nExamples:\n   ipcplay watch                       # every object, refreshed each second; q quits\n   ipcplay watch sysv-sem 32769 --interval 200ms",
	Description: `Without arguments: every IPC object of the machine except Unix sockets
(name the type unix-socket to see those). A TYPE alone selects every object
of that type; a TYPE followed by an ID, NAME or PATH one object.

` + objectTypesHelp + `

On a terminal the table refreshes in place: changed values in reverse video,
new objects in bold; q (or Ctrl-C) quits. When stdout is not a terminal it
prints one snapshot per interval, each row marked '*' when it changed since
the previous snapshot and '+' when it is new. "mapped by >=N" means some
processes could not be examined (other users', unless root).

--interval is a duration (500ms, 2s) or a number of seconds (1.5), from
100ms to 1h. --count N stops after N snapshots. --json needs --count and
prints one document {"kind":"watch","interval_ns":...,"snapshots":[...]}
once the N snapshots are taken.

Examples:
   ipcplay watch
   ipcplay watch sysv-sem posix-sem
   ipcplay watch --interval 200ms sysv-sem 32768 posix-shm /myshm
   ipcplay watch --count 1 --json`,
	SkipFlagParsing: true, // parsed by objCommandArgs: flags may follow the arguments
	Flags:           watchFlags(),
	Action:          runWatch,
}

func watchFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "interval", Value: "1s", Usage: "time between refreshes: `D` a duration (500ms, 2s) or seconds (1.5), 100ms to 1h"},
		&cli.IntFlag{Name: "count", Usage: "stop after `N` snapshots (0: until q or Ctrl-C)"},
	}
}

// watchStdin is where watch reads keys from (a test gives it a terminal).
var watchStdin = os.Stdin

const (
	watchMinInterval = 100 * time.Millisecond
	watchMaxInterval = time.Hour
)

// parseInterval reads --interval: a Go duration or a number of seconds.
func parseInterval(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		secs, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || secs != secs { // NaN
			return 0, ipc.Usagef("watch: --interval %q: must be a duration like 500ms or 2s, or a number of seconds, between 100ms and 1h", s)
		}
		d = time.Duration(secs * float64(time.Second))
	}
	if d < watchMinInterval || d > watchMaxInterval {
		return 0, ipc.Usagef("watch: --interval %q: must be between 100ms and 1h", s)
	}
	return d, nil
}

// parseWatchSelection reads "[TYPE [ID|NAME|PATH] ...]".
func parseWatchSelection(args []string) (sysobj.Selection, error) {
	var sel sysobj.Selection
	for i := 0; i < len(args); i++ {
		typ, err := sysobj.ParseType(args[i])
		if err != nil {
			return sel, objErr("watch", err)
		}
		if i+1 < len(args) {
			if _, terr := sysobj.ParseType(args[i+1]); terr != nil {
				t, err := sysobj.ParseTarget(typ, args[i+1])
				if err != nil {
					return sel, objErr("watch", err)
				}
				sel.Targets = append(sel.Targets, t)
				i++
				continue
			}
		}
		sel.Types = append(sel.Types, typ)
	}
	return sel, nil
}

func runWatch(c *cli.Context) error {
	ctx, args, err := objCommandArgs(c, watchFlags())
	if err != nil {
		if errors.Is(err, errObjHelpShown) {
			return nil
		}
		return err
	}
	interval, err := parseInterval(globalString(ctx, "interval"))
	if err != nil {
		return err
	}
	count := ctx.Int("count")
	if count < 0 {
		return ipc.Usagef("watch: --count %d: must be 0 (no limit) or more", count)
	}
	sel, err := parseWatchSelection(args)
	if err != nil {
		return err
	}
	asJSON := globalBool(ctx, "json")
	if asJSON && count == 0 {
		return ipc.Usagef("watch: --json needs --count N: it prints one document holding the N snapshots")
	}
	out := c.App.Writer
	file := outFile(out)
	tty := !asJSON && file != nil && term.IsTerminal(int(file.Fd()))

	// The first snapshot, before the screen is taken: a named object that
	// does not exist is bad input.
	statuses, perr := sysobj.Snapshot(sel)
	for _, s := range statuses {
		if s.Gone {
			return ipc.AsUsage(fmt.Errorf("watch: %s does not exist ('ipcplay objects --all' lists what does)", s.Target()))
		}
	}
	quit := make(chan struct{})
	refresh := make(chan struct{}, 1)
	if tty {
		restore, err := watchScreen(file, quit, refresh)
		if err != nil {
			return err
		}
		defer restore()
	}
	v := sysobj.NewWatchView(out, tty, interval, func() (int, int, bool) {
		w, h, err := term.GetSize(int(file.Fd()))
		return w, h, err == nil
	})
	var snaps []sysobj.WatchSnapshot
	for n := 1; ; n++ {
		if n > 1 {
			statuses, perr = sysobj.Snapshot(sel)
		}
		snap := sysobj.WatchSnapshot{TimeNs: time.Now().UnixNano(), Objects: statuses, Warnings: errLines(perr)}
		if asJSON {
			snaps = append(snaps, snap)
		} else {
			v.Show(snap, n)
		}
		if count > 0 && n >= count {
			break
		}
		timer := time.NewTimer(interval)
		select {
		case <-ctx.Context.Done():
			timer.Stop()
			return watchDone(asJSON, out, interval, snaps)
		case <-quit:
			timer.Stop()
			return nil
		case <-refresh:
			timer.Stop()
		case <-timer.C:
		}
	}
	return watchDone(asJSON, out, interval, snaps)
}

func watchDone(asJSON bool, out io.Writer, interval time.Duration, snaps []sysobj.WatchSnapshot) error {
	if !asJSON {
		return nil
	}
	if snaps == nil {
		snaps = []sysobj.WatchSnapshot{}
	}
	return writeJSON(out, struct {
		docHead
		IntervalNs int64                  `json:"interval_ns"`
		Snapshots  []sysobj.WatchSnapshot `json:"snapshots"`
	}{head("watch", ipc.EngineLocal, nil), interval.Nanoseconds(), snaps})
}

// errLines splits a joined error into its messages.
func errLines(err error) []string {
	if err == nil {
		return nil
	}
	return strings.Split(err.Error(), "\n")
}

// watchScreen prepares the terminal: the alternate screen, no cursor and,
// when stdin is a terminal too, raw mode with a reader that turns q, Q,
// Ctrl-C and Ctrl-D into quit and any other key into an immediate
// refresh. restore undoes all of it; the caller defers it.
func watchScreen(out *os.File, quit chan<- struct{}, refresh chan<- struct{}) (restore func(), err error) {
	in := int(watchStdin.Fd())
	var old *term.State
	if term.IsTerminal(in) {
		if old, err = term.MakeRaw(in); err != nil {
			return nil, fmt.Errorf("watch: terminal raw mode: %w", err)
		}
		go func() {
			buf := make([]byte, 16)
			for {
				n, err := watchStdin.Read(buf)
				if err != nil {
					return
				}
				for _, b := range buf[:n] {
					if b == 'q' || b == 'Q' || b == 3 || b == 4 {
						close(quit)
						return
					}
				}
				select {
				case refresh <- struct{}{}:
				default:
				}
			}
		}()
	}
	fmt.Fprint(out, "\x1b[?1049h\x1b[?25l")
	return func() {
		fmt.Fprint(out, "\x1b[?25h\x1b[?1049l")
		if old != nil {
			_ = term.Restore(in, old)
		}
	}, nil
}
