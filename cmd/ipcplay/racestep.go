package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/ipcplay/ipcplay/demos/race"
	"github.com/ipcplay/ipcplay/ipc"
)

// stepStdin and stepStdout are the terminal of `race --step` (tests
// replace them).
var stepStdin, stepStdout = os.Stdin, os.Stdout

// maxStepWorkers: one digit key per worker.
const maxStepWorkers = 9

// raceStep is `race --step`: the student presses a worker's number to let
// it take its next step. Each state shown is a real run: the schedule so
// far is replayed on fresh workers (a schedule replays exactly) and the
// run stops after it (Params.StopAfter), so the table, the counter and a
// blocked step come from real processes and the kernel every time.
func raceStep(c *cli.Context, p race.Params) error {
	if globalBool(c, "json") {
		return ipc.Usagef("--step and --json: --step is interactive; for a document use --schedule SPEC --json")
	}
	if p.Procs > maxStepWorkers {
		return ipc.Usagef("--step with --procs %d: must be between 1 and %d workers (one key each)", p.Procs, maxStepWorkers)
	}
	in, out := int(stepStdin.Fd()), stepStdout
	if !term.IsTerminal(in) || !term.IsTerminal(int(out.Fd())) {
		return ipc.Usagef("--step: needs a terminal on stdin and stdout (it reads single key presses); without one, give the steps with --schedule SPEC")
	}
	var entries []string
	if p.Schedule != "" {
		entries = strings.Split(p.Schedule, ",")
	}
	p.StopAfter = true
	if err := precheck(c, p, race.Validate); err != nil {
		return err
	}
	client, err := connect(c)
	if err != nil {
		return err
	}
	defer client.Close()

	old, err := term.MakeRaw(in)
	if err != nil {
		return fmt.Errorf("race --step: terminal raw mode: %w", err)
	}
	restored := false
	restore := func() {
		if !restored {
			restored = true
			fmt.Fprint(out, "\x1b[?25h")
			_ = term.Restore(in, old)
		}
	}
	// Restored on every way out: return, error, panic.
	defer restore()
	keys := make(chan byte)
	go func() {
		buf := make([]byte, 16)
		for {
			n, err := stepStdin.Read(buf)
			if err != nil {
				close(keys)
				return
			}
			for _, b := range buf[:n] {
				keys <- b
			}
		}
	}()

	msg := ""
	var last *race.ModeResult
	for {
		p.Schedule = strings.Join(entries, ",")
		m, err := stepState(c, client, p)
		if err != nil {
			restore()
			return err
		}
		last = m
		drawStep(out, m, p, msg)
		msg = ""
		var key byte
		var ok bool
		select {
		case key, ok = <-keys:
		case <-c.Context.Done():
			ok = false
		}
		if !ok {
			key = 'q'
		}
		switch {
		case key == 'q' || key == 'Q' || key == 3 || key == 4:
			restore()
			fmt.Fprint(out, "\x1b[H\x1b[2J")
			return renderStepEnd(c.App.Writer, last, p)
		case key == 'u' || key == 'U':
			if len(entries) > 0 {
				entries = entries[:len(entries)-1]
			}
		case key == 'f' || key == 'F':
			// The whole run, its rest in the fixed order, shown as q shows
			// a state: no progress bar (it would land in the table), and
			// the replay line (the steps so far replay the same run).
			p.StopAfter = false
			if p.Schedule == "" {
				// No step taken: the fixed order's first (the lowest
				// worker that can move, P1 at the start), so that the
				// run stays a scheduled one.
				p.Schedule = "P1"
			}
			m, err := stepState(c, client, p)
			restore()
			fmt.Fprint(out, "\x1b[H\x1b[2J")
			if err != nil {
				return err
			}
			return renderStepEnd(c.App.Writer, m, p)
		case key >= '1' && key <= '9':
			n := int(key - '0')
			if n > len(m.Next) {
				msg = fmt.Sprintf("there is no worker %d: %s", n, stepKeys(len(m.Next)))
				continue
			}
			nx := m.Next[n-1]
			switch {
			case allFinished(m):
				msg = "every worker has finished: u undoes, q quits"
			case nx.Step == "":
				msg = fmt.Sprintf("%s has finished", nx.Worker)
			case nx.Blocked:
				msg = fmt.Sprintf("%s is blocked in %s: let the holder go on first", nx.Worker, nx.Step)
			default:
				entries = append(entries, nx.Worker)
			}
		case allFinished(m):
			msg = "every worker has finished: u undoes, q quits"
		default:
			msg = "keys: " + stepKeys(len(m.Next)) + ", u undoes, f finishes in the fixed order, q quits"
		}
	}
}

// stepState runs the schedule so far and returns where it stands.
func stepState(c *cli.Context, client ipc.Client, p race.Params) (*race.ModeResult, error) {
	raw, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	res, err := client.Run(c.Context, ipc.RunRequest{Experiment: race.Name, Params: raw}, queuedNote(c, func(ipc.Event) {}))
	if res == nil || len(res.Result) == 0 {
		if err == nil {
			err = fmt.Errorf("race --step: the run produced no result")
		}
		return nil, err
	}
	var r race.Result
	if jerr := json.Unmarshal(res.Result, &r); jerr != nil {
		return nil, fmt.Errorf("race --step: result: %w", jerr)
	}
	if len(r.Results) != 1 {
		return nil, fmt.Errorf("race --step: %d results, want 1 (error %v)", len(r.Results), err)
	}
	return &r.Results[0], nil
}

// drawStep shows the state in raw mode (lines end in \r\n).
func drawStep(w io.Writer, m *race.ModeResult, p race.Params, msg string) {
	var b strings.Builder
	var lines []string
	if err := race.Render(&b, &race.Result{Kind: race.Kind, Results: []race.ModeResult{*m}}); err == nil {
		lines = strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	}
	height := 40
	if _, h, err := term.GetSize(int(stepStdout.Fd())); err == nil && h > 10 {
		height = h
	}
	// Keep the last rows of a long table.
	if room := height - 6; len(lines) > room {
		lines = append(lines[:3], append([]string{"..."}, lines[len(lines)-room+4:]...)...)
	}
	var next []string
	for i, n := range m.Next {
		s := fmt.Sprintf("[%d] %s ", i+1, n.Worker)
		switch {
		case n.Step == "":
			s += "finished"
		case n.Blocked:
			s += "BLOCKED in " + n.Step
		default:
			s += "next: " + n.Step
		}
		next = append(next, s)
	}
	keys := stepKeys(len(m.Next)) + ", u to undo, f to finish in the fixed order, q to quit"
	if allFinished(m) {
		keys = "every worker has finished: u to undo, q to quit"
	}
	lines = append(lines, "", strings.Join(next, "   ")+fmt.Sprintf("   counter %d", m.Actual), keys)
	if msg != "" {
		lines = append(lines, msg)
	}
	fmt.Fprint(w, "\x1b[?25l\x1b[H\x1b[2J"+strings.Join(lines, "\r\n")+"\r\n")
}

// allFinished reports whether no worker has a step left.
func allFinished(m *race.ModeResult) bool {
	for _, n := range m.Next {
		if n.Step != "" {
			return false
		}
	}
	return true
}

// renderStepEnd prints the last state after the terminal is restored,
// with the command line that replays it.
func renderStepEnd(w io.Writer, m *race.ModeResult, p race.Params) error {
	if m == nil {
		return nil
	}
	if err := race.Render(w, &race.Result{Kind: race.Kind, Results: []race.ModeResult{*m}}); err != nil {
		return err
	}
	if p.Schedule != "" {
		_, err := fmt.Fprintf(w, "\nreplay: %s\n", race.ScheduleCommand(m.Mode, &p, p.Procs, p.Iters, p.Schedule))
		return err
	}
	return nil
}

// stepKeys says which keys move a worker: "press 1 to move P1" with one
// worker, "press 1-3 to move a worker" with three.
func stepKeys(n int) string {
	if n == 1 {
		return "press 1 to move the worker"
	}
	return fmt.Sprintf("press 1-%d to move a worker", n)
}
