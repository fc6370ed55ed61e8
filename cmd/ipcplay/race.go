package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ipcplay/ipcplay/demos/race"
	"github.com/ipcplay/ipcplay/ipc"
	"github.com/ipcplay/ipcplay/ipc/outfile"
	"github.com/ipcplay/ipcplay/ipc/plural"
)

var raceCommand = &cli.Command{
	Name:  "race",
	Usage: "N workers do i += 1 on one shared counter: count the lost updates, unsafe against safe",
	UsageText: `ipcplay race [--mode all|MODE,...] [--procs N] [--iters M] [--unit process|thread] [--shm memfd|posix|sysv|file]
       [--trials K] [--cpus LIST] [--window D] [--yield] [--undo=false] [--same-line|--separate-lines]
       [--explain[=K]] [--trace FILE] [--html FILE] [--record N]
       [--schedule SPEC [--seed N]] [--step] [--lang go|python|go,python] [--python PATH] [--switch-interval D] [--json]

Examples:
   ipcplay race                                       every mode, one process per CPU
   ipcplay race --mode unsafe,atomic,sysv-sem --procs 4 --iters 1000000
   ipcplay race --mode unsafe --procs 2 --cpus 0 --yield --explain=3 --trace race.json
   ipcplay race --unit thread --mode unsafe,unsafe-go,mutex,futex
   ipcplay race --mode unsafe --procs 2 --iters 1 --schedule P1,P2,P1,P2      one lost update, step by step
   ipcplay race --mode sysv-sem --procs 2 --iters 2 --schedule P1,P2,P1,P1,P1   P2 blocks in semop
   ipcplay race --mode unsafe --procs 3 --iters 2 --schedule random --seed 7
   ipcplay race --lang python --mode unsafe,posix-sem,mp-value,mp-value-lock
   ipcplay race --lang go,python --mode posix-sem,sysv-sem    Go and CPython on one semaphore
   ipcplay race --lang python --unit thread --mode global,threading-lock --switch-interval 1us
   ipcplay race --lang python --mode unsafe --procs 2 --iters 1 --schedule P1,P2,P1,P2`,
	Description: fmt.Sprintf(`Each worker adds 1 to one counter --iters times. A lost update is an increment
whose result another worker overwrote: expected minus actual. Modes:
  unsafe             a load and a separate store
  atomic             atomic add (LOCK XADD)
  sysv-sem           System V semaphore P/V around the increment (--undo: SEM_UNDO)
  posix-sem          named POSIX semaphore; posix-sem-unnamed: one in the shared region
  futex              futex mutex in the shared region
  flock              flock(2) on a file each worker opens itself
  socket-token       a token passed around a ring of Unix socketpairs
  mutex, unsafe-go   (--unit thread only) sync.Mutex and x++ on a Go variable
With --lang python the workers are CPython processes, or threads of one with
--unit thread (python3 from PATH, or --python), on the same region,
semaphores and lock file: unsafe, sysv-sem
(semop via ctypes), posix-sem (libc's sem_open via ctypes), flock
(fcntl.flock), and the course's forms:
  global, threading-lock      (--unit thread) counter += 1 on a global, bare or under threading.Lock
  mp-value, mp-value-lock     one Python parent starts the racers with multiprocessing;
                              v.value += 1, bare or inside "with v.get_lock():"
--window and --yield widen the gap between load and store, so the race shows
on one CPU too (--cpus 0). --explain prints lost updates reconstructed from
per-worker records; --trace writes them as Chrome trace JSON (ui.perfetto.dev).
--schedule runs the same workers one step at a time (unsafe: load, store; lock
modes: lock, load, store, unlock; atomic: add; socket-token: recv, load, store,
send) in the order SPEC gives, then the rest in a fixed order (the lowest
worker that can move goes next). A step blocked in the kernel is shown with
whom it waits for.
Limits: at most %[1]d workers (--procs) and a run timeout of %[2]s when no
daemon answers (raise them with IPCPLAY_MAX_PROCS and IPCPLAY_RUN_TIMEOUT, e.g.
IPCPLAY_RUN_TIMEOUT=2h); a daemon has its own --max-procs and --run-timeout
('ipcplay status' shows them). A run past the timeout is stopped and its
objects removed. sysv-sem, flock and socket-token take microseconds per
increment: 2 workers x 1e9 increments of sysv-sem take hours, of unsafe
seconds.
Exit status 0 when every mode behaved; 1 when a safe mode lost an update or
the run failed (the run timeout included); 2 for bad input, a bad schedule
included (also one that names a worker whose step is blocked).`, ipc.DefaultLimits().MaxProcs, shortDuration(ipc.DefaultLimits().RunTimeout)),
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "mode", Value: "all", Usage: "`MODES` to run: all, or a comma list of the modes above"},
		&cli.IntFlag{Name: "procs", Value: defaultRaceProcs(), Usage: fmt.Sprintf("`N` workers: processes, or threads with --unit thread (1 to %d without a daemon; a daemon: 1 to its --max-procs)", ipc.DefaultLimits().MaxProcs), DefaultText: "the number of CPUs, at least 2"},
		&cli.Int64Flag{Name: "iters", Value: race.DefaultIters, Usage: fmt.Sprintf("`M` increments per worker (1 to %d; the run must end within the run timeout, see Limits in race --help)", race.MaxIters)},
		&cli.StringFlag{Name: "unit", Value: race.UnitProcess, Usage: "`UNIT` that races: process (one process per worker) or thread (OS threads of one process)"},
		&cli.StringFlag{Name: "shm", Value: "memfd", Usage: "shared memory `BACKEND` of the counter: memfd, posix, sysv or file"},
		&cli.IntFlag{Name: "trials", Value: 1, Usage: fmt.Sprintf("repeat each mode `K` times and show min/median/max lost (1 to %d)", race.MaxTrials)},
		&cli.StringFlag{Name: "cpus", Usage: "pin worker i to the i-th CPU of `LIST` (round robin), e.g. 0 or 0,1 or 0-3; none: let the scheduler place them", DefaultText: "every CPU this process may use, one worker each"},
		&cli.DurationFlag{Name: "window", Usage: fmt.Sprintf("wait `D` between load and store (spin below 1ms, sleep from 1ms; at most %s)", race.MaxWindow)},
		&cli.BoolFlag{Name: "yield", Usage: "call sched_yield(2) between load and store"},
		&cli.BoolFlag{Name: "undo", Value: true, Usage: "sysv-sem: SEM_UNDO on P and V (--undo=false to turn off)"},
		&cli.BoolFlag{Name: "same-line", Usage: "put the workers' progress tallies on one cache line (false sharing)"},
		&cli.BoolFlag{Name: "separate-lines", Usage: "give each worker's progress tally a cache line of its own; this is what happens without --same-line, so the flag only says it explicitly", DefaultText: "on unless --same-line"},
		&cli.GenericFlag{Name: "explain", Value: &explainFlag{}, Usage: fmt.Sprintf("print up to `K` lost-update witnesses per mode, each marked timed (the clocks order its loads before its stores) or untimed (the values alone prove it); --explain alone: %d, or write --explain=K", defaultExplain)},
		&cli.StringFlag{Name: "trace", Usage: "write the recorded loads and stores as Chrome trace JSON to `FILE`"},
		&cli.StringFlag{Name: "lang", Value: race.LangGo, Usage: "workers' `LANG`: go, python (CPython processes or threads on the same objects) or go,python (they alternate, P1 Go, P2 Python, ...; written in this order)"},
		&cli.StringFlag{Name: "python", Usage: "`PATH` of the Python interpreter, with --lang python or go,python", DefaultText: "python3 from PATH"},
		&cli.DurationFlag{Name: "switch-interval", Usage: fmt.Sprintf("--lang python: sys.setswitchinterval(`D`), how long a thread may hold the GIL (%s to %s)", race.MinSwitchInterval, race.MaxSwitchInterval), DefaultText: "the interpreter's, 5ms"},
		htmlFlag,
		&cli.IntFlag{Name: "record", Value: race.DefaultRecord, Usage: fmt.Sprintf("with --explain, --trace or --html: at most `N` increments each worker records, sampled by counter value over the whole run (1 to %d)", race.MaxRecord)},
		&cli.StringFlag{Name: "schedule", Usage: "be the scheduler: `SPEC` is a comma list of P<n> (worker n takes its next step) and P<n>:<step> (the same, and it must be that step); it may end with random (a seeded random order from there on, see --seed); after SPEC the rest runs in a fixed order"},
		&cli.BoolFlag{Name: "step", Usage: "interactive, in a terminal: press a worker's number to let it take its next step (u undoes, f finishes, q quits)"},
		&cli.StringFlag{Name: "seed", Usage: "`N` seeds random in --schedule: the same seed gives the same steps", DefaultText: "a new one, printed"},
	},
	Action: raceAction,
}

const defaultExplain = 3

// shortDuration prints whole minutes and hours as people write them
// ("10m", "2h"), not as time.Duration does ("10m0s").
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
		if strings.HasSuffix(s, "h0m") {
			s = strings.TrimSuffix(s, "0m")
		}
	}
	return s
}

func defaultRaceProcs() int { return max(2, runtime.NumCPU()) }

// explainFlag is --explain with an optional value: "--explain" alone is a
// boolean flag to the flag package (IsBoolFlag), "--explain=K" sets K.
type explainFlag struct{ k int }

func (f *explainFlag) IsBoolFlag() bool { return true }

// Joined says how the optional value is written, for messages about a
// value typed apart from the flag (--explain 5, --explain -1), which the
// flag package cannot give it.
func (f *explainFlag) Joined() string {
	return fmt.Sprintf("--explain=K, K a number of witnesses 1..%d (--explain alone: %d)", race.MaxExplain, defaultExplain)
}

func (f *explainFlag) String() string {
	if f == nil || f.k == 0 {
		return ""
	}
	return strconv.Itoa(f.k)
}

func (f *explainFlag) Set(s string) error {
	switch s {
	case "true":
		f.k = defaultExplain
	case "false":
		f.k = 0
	default:
		k, err := strconv.Atoi(s)
		if err != nil || k < 1 || k > race.MaxExplain {
			return fmt.Errorf("--explain=%s: want a number of witnesses 1..%d", s, race.MaxExplain)
		}
		f.k = k
	}
	return nil
}

// raceParams builds the experiment's parameters from the flags.
func raceParams(c *cli.Context) (race.Params, error) {
	p := race.Params{
		Modes:    strings.Split(c.String("mode"), ","),
		Unit:     c.String("unit"),
		Procs:    c.Int("procs"),
		Iters:    c.Int64("iters"),
		Shm:      c.String("shm"),
		WindowNs: c.Duration("window").Nanoseconds(),
		Yield:    c.Bool("yield"),
		Trials:   c.Int("trials"),
		SameLine: c.Bool("same-line"),
		Trace:    c.String("trace") != "",
		Record:   c.Int("record"),
		Lang:     c.String("lang"),
		Python:   c.String("python"),
	}
	if c.IsSet("switch-interval") {
		p.SwitchIntervalNs = c.Duration("switch-interval").Nanoseconds()
		if p.SwitchIntervalNs == 0 {
			return p, ipc.Usagef("--switch-interval 0s: must be between %s and %s", race.MinSwitchInterval, race.MaxSwitchInterval)
		}
	}
	p.Schedule = c.String("schedule")
	if c.IsSet("schedule") && strings.TrimSpace(p.Schedule) == "" {
		return p, ipc.Usagef("--schedule \"\": give a schedule, e.g. P1,P2,P1,P2")
	}
	if c.IsSet("seed") {
		seed, err := strconv.ParseUint(strings.TrimSpace(c.String("seed")), 10, 64)
		if err != nil {
			return p, ipc.Usagef("--seed %q: must be a whole number from 0 to %d", c.String("seed"), uint64(math.MaxUint64))
		}
		p.Seed = &seed
	}
	undo := c.Bool("undo")
	p.Undo = &undo
	if c.Bool("same-line") && c.Bool("separate-lines") {
		return p, ipc.Usagef("--same-line and --separate-lines: choose one")
	}
	if c.IsSet("trials") && p.Trials == 0 {
		return p, ipc.Usagef("--trials 0: must be between 1 and %d", race.MaxTrials)
	}
	if c.IsSet("record") && p.Record == 0 {
		return p, ipc.Usagef("--record 0: must be between 1 and %d increments per worker", race.MaxRecord)
	}
	if c.IsSet("explain") {
		if f, ok := c.Generic("explain").(*explainFlag); ok {
			p.Explain = f.k
		}
	}
	if c.IsSet("record") && p.Explain == 0 && !p.Trace && c.String("html") == "" {
		return p, ipc.Usagef("--record: only with --explain, --trace or --html, which use the records")
	}
	if c.String("cpus") == "none" {
		p.Unpinned = true
		return p, nil
	}
	cpus, err := race.ParseCPUList(c.String("cpus"))
	if err != nil {
		return p, err
	}
	if c.IsSet("cpus") && len(cpus) == 0 {
		return p, ipc.Usagef("--cpus %q: give at least one CPU", c.String("cpus"))
	}
	p.CPUs = cpus
	return p, nil
}

// anyLimits accepts whatever an engine could allow: the CLI checks the
// parameters before it connects, and the engine checks them again against
// its own limits.

func raceAction(c *cli.Context) error {
	if c.Args().Present() {
		a := c.Args().First()
		if _, err := strconv.Atoi(a); err == nil {
			return ipc.Usagef("race: unexpected argument %q: to ask for %s witnesses write --explain=%s (%s)", a, a, a, (&explainFlag{}).Joined())
		}
		if c.IsSet("explain") {
			return ipc.Usagef("race: unexpected argument %q: --explain takes its value joined: %s", a, (&explainFlag{}).Joined())
		}
		return ipc.Usagef("race: unexpected argument %q (see 'ipcplay race --help')", a)
	}
	p, err := raceParams(c)
	if err != nil {
		return err
	}
	if c.Bool("step") {
		return raceStep(c, p)
	}
	if err := precheck(c, p, race.Validate); err != nil {
		return err
	}
	traceFile := c.String("trace")
	if traceFile != "" {
		if traceFile, err = outfile.CheckTarget(traceFile); err != nil {
			return ipc.Usagef("--trace %s: %v", c.String("trace"), err)
		}
	}
	htmlFile, err := htmlPath(c)
	if err != nil {
		return err
	}
	if htmlFile != "" && p.Schedule == "" {
		// The report draws the interleaving from the recorded increments;
		// a scheduled run's page plays its steps[] instead, which already
		// hold every load and store (recording is refused with a schedule).
		p.Trace = true
	}
	render := func(w io.Writer, res *ipc.RunResult) error {
		var r race.Result
		if err := json.Unmarshal(res.Result, &r); err != nil {
			return fmt.Errorf("race: result: %w", err)
		}
		if err := race.Render(w, &r); err != nil {
			return err
		}
		if traceFile != "" && r.Trace != nil {
			// Written here, so that the line below is printed only for a
			// file that exists.
			if err := writeTrace(traceFile, r.Trace); err != nil {
				return err
			}
			fmt.Fprintf(w, "\ntrace: %s (%s; open it in https://ui.perfetto.dev or chrome://tracing)\n", c.String("trace"), plural.Count(len(r.Trace.Tracks), "track", "tracks"))
		}
		return nil
	}
	var got *ipc.RunResult
	run := func() error {
		var err error
		got, err = runExperimentResult(c, race.Name, p, render)
		return err
	}
	if traceFile == "" && htmlFile == "" {
		return runExperiment(c, race.Name, p, render)
	}
	if !globalBool(c, "json") {
		runErr := run()
		return joinErr(runErr, writeHTML(c, htmlFile, "ipcplay race", htmlRun{res: got}))
	}
	// --json: the document travels through a buffer so that the trace can
	// go to its file instead of stdout.
	out := c.App.Writer
	var buf bytes.Buffer
	c.App.Writer = &buf
	runErr := run()
	c.App.Writer = out
	if buf.Len() == 0 {
		return runErr
	}
	runErr = joinErr(runErr, writeHTML(c, htmlFile, "ipcplay race", htmlRun{res: got}))
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		_, _ = out.Write(buf.Bytes())
		return joinErr(runErr, fmt.Errorf("race: result: %w", err))
	}
	var traceErr error
	if t, ok := doc["trace"]; ok && traceFile != "" {
		var tr race.Trace
		if err := json.Unmarshal(t, &tr); err != nil {
			traceErr = fmt.Errorf("race: trace: %w", err)
		} else {
			traceErr = writeTrace(traceFile, &tr)
		}
	}
	delete(doc, "trace")
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return joinErr(runErr, err)
	}
	if _, err := out.Write(append(b, '\n')); err != nil {
		return joinErr(runErr, err)
	}
	return joinErr(runErr, traceErr)
}

// writeTrace writes t as Chrome trace JSON to path, replacing it
// (outfile.Write: atomic, mode 0600, a symlink at path replaced).
func writeTrace(path string, t *race.Trace) error {
	if err := outfile.Write(path, func(w io.Writer) error { return race.WriteChromeTrace(w, t) }); err != nil {
		return fmt.Errorf("race: trace: %w", err)
	}
	return nil
}

// joinErr keeps the run's error (and its exit status) first.
func joinErr(runErr, err error) error {
	switch {
	case err == nil:
		return runErr
	case runErr == nil:
		return err
	}
	return fmt.Errorf("%w; %v", runErr, err)
}
