package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/ipcplay/ipcplay/demos/bench"
	"github.com/ipcplay/ipcplay/demos/lab"
	"github.com/ipcplay/ipcplay/demos/race"
	"github.com/ipcplay/ipcplay/ipc"
)

// experiments lists what the engine can run. Each lab adds its entry here;
// ipc never imports demos, cmd injects them.
func experiments() []ipc.Experiment {
	return append([]ipc.Experiment{
		race.Experiment,
		bench.Experiment,
	}, lab.Experiments()...)
}

// engineConfig is the configuration of an engine started by this process
// (embedded in the CLI, or the daemon).
func engineConfig(c *cli.Context, name string) ipc.Config {
	socket := socketPath(c)
	// The environment's limits (a bad value is refused where an engine is
	// started for a run: connect, connectToLook; the daemon sets its own).
	lim, err := localLimits()
	if err != nil {
		lim = ipc.DefaultLimits()
	}
	lim.Chosen = name == ipc.EngineLocal && globalBool(c, "local")
	return ipc.Config{
		Name:     name,
		StateDir: ipc.DefaultStateDir(socket),
		Socket:   socket,
		Version:  version(),
		Limits:   lim,
		Log:      logger.Named("engine"),
	}
}

// extraExperiments are registered after experiments(): the tests of this
// package add theirs (a daemon started by a test must know them).
var extraExperiments []ipc.Experiment

// newEngine builds an engine with every experiment registered.
func newEngine(cfg ipc.Config) (*ipc.Engine, error) {
	return newEngineFrom(cfg, stateDirSource(nil, cfg.StateDir, cfg.Socket))
}

// newEngineFrom is newEngine with the source of cfg.StateDir named
// (stateDirSource) for a state directory that is not private.
func newEngineFrom(cfg ipc.Config, source string) (*ipc.Engine, error) {
	if err := checkPrivateDir(cfg.StateDir, source); err != nil {
		return nil, err
	}
	e, err := ipc.NewEngine(cfg)
	if err != nil {
		return nil, err
	}
	for _, x := range append(experiments(), extraExperiments...) {
		e.Register(x)
	}
	return e, nil
}

func socketPath(c *cli.Context) string {
	if s := globalString(c, "socket"); s != "" {
		return s
	}
	return ipc.DefaultSocket()
}

// connect returns a client for the daemon, or for an engine in this
// process, as the global flags say.
func connect(c *cli.Context) (ipc.Client, error) {
	return connected(c)(ipc.Connect(c.Context, ipc.ConnectOptions{
		Socket:        socketPath(c),
		Local:         globalBool(c, "local"),
		RequireDaemon: globalBool(c, "require-daemon"),
		Log:           logger,
		NewLocal: func() (*ipc.Engine, error) {
			if _, err := localLimits(); err != nil {
				return nil, err
			}
			return newEngine(engineConfig(c, ipc.EngineLocal))
		},
	}))
}

// connected returns a function that notes the engine of a new client for
// report (a --json error document names it) and passes its arguments on.
func connected(c *cli.Context) func(ipc.Client, error) (ipc.Client, error) {
	return func(client ipc.Client, err error) (ipc.Client, error) {
		if err == nil {
			stateOf(c.App).setEngine(client.Engine())
		}
		return client, err
	}
}

// precheck validates an experiment's params before the run, against the
// limits of the engine that will run it (runLimits), so that bad input
// exits 2 naming the real allowed range, without creating anything. The
// engine checks them again.
func precheck(c *cli.Context, params any, validate func(json.RawMessage, ipc.Limits) error) error {
	raw, err := json.Marshal(params)
	if err != nil {
		return err
	}
	lim, err := runLimits(c)
	if err != nil {
		return err
	}
	return ipc.AsUsage(validate(raw, lim))
}

// runExperiment runs one experiment through the engine and prints its
// result: with --json the experiment's document plus engine and run_id,
// otherwise render's text. A failed run whose result exists is printed and
// still exits non-zero.
func runExperiment(c *cli.Context, name string, params any, render func(w io.Writer, res *ipc.RunResult) error) error {
	_, err := runExperimentResult(c, name, params, render)
	return err
}

// runExperimentResult is runExperiment that also returns the run's result
// (nil when the run did not start), for --html.
func runExperimentResult(c *cli.Context, name string, params any, render func(w io.Writer, res *ipc.RunResult) error) (*ipc.RunResult, error) {
	raw, err := json.Marshal(params)
	if err != nil {
		return nil, err
	}
	if cp := capturing(c.Context); cp != nil {
		// The page's form: checked like a command line, run by the page.
		cp.req = &ipc.RunRequest{Experiment: name, Params: raw}
		return nil, nil
	}
	client, err := connect(c)
	if err != nil {
		return nil, err
	}
	defer client.Close()
	jsonOut := globalBool(c, "json")
	bar := newProgress(!jsonOut)
	res, runErr := client.Run(c.Context, ipc.RunRequest{Experiment: name, Params: raw}, queuedNote(c, bar.event))
	bar.finish()
	if res == nil || len(res.Result) == 0 {
		if runErr == nil {
			runErr = fmt.Errorf("%s: the run produced no result", name)
		}
		return nil, runErr
	}
	if jsonOut {
		doc, err := decorate(res)
		if err != nil {
			return res, err
		}
		if _, err := c.App.Writer.Write(doc); err != nil {
			return res, err
		}
	} else if err := render(c.App.Writer, res); err != nil {
		return res, err
	}
	if runErr != nil && errors.Is(runErr, context.Canceled) {
		return res, fmt.Errorf("%s: cancelled", name)
	}
	return res, runErr
}

// queuedNote returns an event handler that says on stderr, once, why a
// run waits in the engine's queue (the engine's message, with --json
// too: stdout keeps its one document), and passes every event to next.
func queuedNote(c *cli.Context, next func(ipc.Event)) func(ipc.Event) {
	var once sync.Once
	return func(ev ipc.Event) {
		if ev.Type == "state" && ev.State == ipc.StateQueued && ev.Message != "" {
			once.Do(func() { fmt.Fprintf(c.App.ErrWriter, "queued: %s\n", ev.Message) })
		}
		next(ev)
	}
}

// decorate adds "engine" and "run_id" to an experiment's JSON document.
func decorate(res *ipc.RunResult) ([]byte, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(res.Result, &doc); err != nil {
		return nil, fmt.Errorf("result of %s is not a JSON object: %w", res.Experiment, err)
	}
	doc["engine"], _ = json.Marshal(res.Engine)
	doc["run_id"], _ = json.Marshal(res.RunID)
	if _, ok := doc["kind"]; !ok {
		doc["kind"], _ = json.Marshal(res.Experiment)
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	return append(out, '\n'), err
}

// progress draws a bar on stderr for runs that report progress, only when
// stdout is a terminal and the output is not JSON.
type progress struct {
	mu  sync.Mutex // events arrive from several goroutines
	on  bool
	bar *progressbar.ProgressBar
}

func newProgress(allowed bool) *progress {
	return &progress{on: allowed && term.IsTerminal(int(os.Stdout.Fd())) && term.IsTerminal(int(os.Stderr.Fd()))}
}

func (p *progress) event(ev ipc.Event) {
	if !p.on || ev.Type != "progress" || ev.Total <= 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar == nil {
		p.bar = progressbar.NewOptions64(ev.Total,
			progressbar.OptionSetWriter(os.Stderr),
			progressbar.OptionSetDescription(ev.Message),
			progressbar.OptionShowCount(),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
	}
	if ev.Total != p.bar.GetMax64() {
		p.bar.ChangeMax64(ev.Total)
	}
	p.bar.Describe(ev.Message)
	_ = p.bar.Set64(ev.Done)
}

func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}
