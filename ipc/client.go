package ipc

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/go-hclog"
)

// Client is how the CLI reaches an engine: over the control socket when a
// daemon answers, or in-process (LocalClient) otherwise. Every command uses
// this one interface, so both give the same kind of result.
type Client interface {
	// Engine is EngineDaemon or EngineLocal.
	Engine() string
	// Run runs an experiment; onEvent receives progress. Cancelling ctx
	// cancels the run (in the daemon too).
	Run(ctx context.Context, req RunRequest, onEvent func(Event)) (*RunResult, error)
	Status(ctx context.Context) (*Status, error)
	Runs(ctx context.Context) ([]RunInfo, error)
	Show(ctx context.Context, runID string) (*RunResult, error)
	Cancel(ctx context.Context, runID string) error
	// Objects lists live objects (all: the whole system's). With an error
	// and a non-nil list, the list is partial.
	Objects(ctx context.Context, all bool) ([]Object, error)
	// Clean removes (dryRun: lists) the objects of crashed runs whose
	// identity is proved, and reports those left alone apart. With an
	// error, the report still says what was removed.
	Clean(ctx context.Context, dryRun bool) (*CleanReport, error)
	Close() error
}

// LocalClient runs the engine inside the calling process.
type LocalClient struct{ E *Engine }

var _ Client = (*LocalClient)(nil)

// Engine implements Client.
func (c *LocalClient) Engine() string { return c.E.Name() }

// Run implements Client.
func (c *LocalClient) Run(ctx context.Context, req RunRequest, onEvent func(Event)) (*RunResult, error) {
	return c.E.Run(ctx, req, onEvent)
}

// Status implements Client.
func (c *LocalClient) Status(context.Context) (*Status, error) {
	s := c.E.Status()
	return &s, nil
}

// Runs implements Client.
func (c *LocalClient) Runs(context.Context) ([]RunInfo, error) { return c.E.Runs(), nil }

// Show implements Client.
func (c *LocalClient) Show(_ context.Context, id string) (*RunResult, error) { return c.E.Show(id) }

// Cancel implements Client.
func (c *LocalClient) Cancel(_ context.Context, id string) error { return c.E.Cancel(id) }

// Objects implements Client.
func (c *LocalClient) Objects(_ context.Context, all bool) ([]Object, error) {
	return c.E.Objects(all)
}

// Clean implements Client.
func (c *LocalClient) Clean(_ context.Context, dryRun bool) (*CleanReport, error) {
	return c.E.Clean(dryRun)
}

// Close implements Client: it cancels runs and removes their objects.
func (c *LocalClient) Close() error { return c.E.Close() }

// ConnectOptions say how the CLI finds an engine.
type ConnectOptions struct {
	Socket        string // control socket; DefaultSocket() when empty
	Local         bool   // never try the daemon
	RequireDaemon bool   // fail unless a daemon answers
	Log           hclog.Logger
	// NewLocal builds the in-process engine (with the experiments
	// registered) when no daemon answers.
	NewLocal func() (*Engine, error)
}

// ErrNoDaemon means no daemon answered on the control socket.
var ErrNoDaemon = errors.New("no ipcplay daemon is answering")

// Connect returns a client for the daemon when one answers on the socket,
// otherwise one for an in-process engine.
func Connect(ctx context.Context, o ConnectOptions) (Client, error) {
	if o.Socket == "" {
		o.Socket = DefaultSocket()
	}
	if o.Log == nil {
		o.Log = hclog.NewNullLogger()
	}
	if o.Local && o.RequireDaemon {
		return nil, Usagef("--local and --require-daemon contradict each other: choose one")
	}
	if !o.Local {
		c, err := DialDaemon(ctx, o.Socket, o.Log)
		if err == nil {
			return c, nil
		}
		noDaemon := errors.Is(err, ErrNoDaemon)
		switch {
		case o.RequireDaemon && noDaemon:
			return nil, fmt.Errorf("--require-daemon: %w", err)
		case o.RequireDaemon:
			return nil, fmt.Errorf("--require-daemon: the daemon on %s: %w", o.Socket, err)
		case noDaemon:
			o.Log.Debug("no daemon, running the engine in-process", "socket", o.Socket, "error", err)
		default:
			// Something answers but not as it should (another user's
			// daemon, another protocol version, a hung daemon): say so.
			o.Log.Warn("the daemon did not serve us; running the engine in-process", "socket", o.Socket, "error", err)
		}
	}
	e, err := o.NewLocal()
	if err != nil {
		return nil, err
	}
	return &LocalClient{E: e}, nil
}
