package ipc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ipcplay/ipcplay/ipc/proto"
	"github.com/ipcplay/ipcplay/sockets"
)

// Client-side timeouts.
const (
	// ProbeTimeout bounds DialDaemon's ping: a daemon that does not answer
	// within it is taken as absent.
	ProbeTimeout = 2 * time.Second
	// callTimeout bounds the requests other than run.
	callTimeout = time.Minute
	// cancelGrace is how long a cancelled run may take to report its end
	// (its workers get worker.Options.StopGrace, then SIGKILL).
	cancelGrace = 30 * time.Second
)

// DaemonClient reaches a daemon over its control socket (package proto).
// Each call uses its own connection.
type DaemonClient struct {
	socket string
	log    hclog.Logger
	pong   Pong
}

var _ Client = (*DaemonClient)(nil)

// noDaemonError says nobody listens on the socket. It matches ErrNoDaemon;
// the errno is kept in the message only (its generic advice would mislead).
type noDaemonError struct {
	socket string
	cause  error
}

func (e *noDaemonError) Error() string {
	return fmt.Sprintf("%v on %s (%v)", ErrNoDaemon, e.socket, e.cause)
}
func (e *noDaemonError) Unwrap() error { return ErrNoDaemon }

// DialDaemon connects to the daemon on socket and pings it (within
// ProbeTimeout). When nothing listens there (no socket file, or a stale
// one) it fails at once with an error matching ErrNoDaemon, so that the
// embedded fallback costs next to nothing.
func DialDaemon(ctx context.Context, socket string, log hclog.Logger) (Client, error) {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	dc := &DaemonClient{socket: socket, log: log.Named("client")}
	ctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
	defer cancel()
	if _, err := dc.Ping(ctx); err != nil {
		return nil, err
	}
	return dc, nil
}

// Ping asks the daemon who it is.
func (dc *DaemonClient) Ping(ctx context.Context) (*Pong, error) {
	var p Pong
	if err := dc.call(ctx, proto.Request{Op: proto.OpPing}, nil, &p); err != nil {
		return nil, err
	}
	dc.pong = p
	return &p, nil
}

// Socket is the daemon's control socket.
func (dc *DaemonClient) Socket() string { return dc.socket }

// Engine implements Client: EngineDaemon.
func (dc *DaemonClient) Engine() string { return EngineDaemon }

// Run implements Client. Cancelling ctx closes the connection's writing
// half: the daemon cancels the run, removes its objects and reports the
// cancelled run, which Run returns.
func (dc *DaemonClient) Run(ctx context.Context, req RunRequest, onEvent func(Event)) (*RunResult, error) {
	var res RunResult
	handle := func(raw json.RawMessage) {
		if onEvent == nil {
			return
		}
		var ev Event
		if json.Unmarshal(raw, &ev) == nil {
			onEvent(ev)
		}
	}
	err := dc.call(ctx, proto.Request{Op: proto.OpRun, Experiment: req.Experiment, Params: req.Params}, handle, &res)
	if err != nil {
		return nil, err
	}
	return &res, res.Err()
}

// Status implements Client.
func (dc *DaemonClient) Status(ctx context.Context) (*Status, error) {
	var s Status
	if err := dc.call(ctx, proto.Request{Op: proto.OpStatus}, nil, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Runs implements Client.
func (dc *DaemonClient) Runs(ctx context.Context) ([]RunInfo, error) {
	var b runsBody
	if err := dc.call(ctx, proto.Request{Op: proto.OpRuns}, nil, &b); err != nil {
		return nil, err
	}
	return b.Runs, nil
}

// Show implements Client.
func (dc *DaemonClient) Show(ctx context.Context, runID string) (*RunResult, error) {
	var r RunResult
	if err := dc.call(ctx, proto.Request{Op: proto.OpShow, RunID: runID}, nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Cancel implements Client.
func (dc *DaemonClient) Cancel(ctx context.Context, runID string) error {
	return dc.call(ctx, proto.Request{Op: proto.OpCancel, RunID: runID}, nil, &cancelBody{})
}

// Objects implements Client.
func (dc *DaemonClient) Objects(ctx context.Context, all bool) ([]Object, error) {
	var b objectsBody
	if err := dc.call(ctx, proto.Request{Op: proto.OpObjects, All: all}, nil, &b); err != nil {
		return nil, err
	}
	if b.Objects == nil {
		b.Objects = []Object{}
	}
	if b.Warning != "" {
		return b.Objects, errors.New(b.Warning)
	}
	return b.Objects, nil
}

// Clean implements Client.
func (dc *DaemonClient) Clean(ctx context.Context, dryRun bool) (*CleanReport, error) {
	var b cleanBody
	if err := dc.call(ctx, proto.Request{Op: proto.OpClean, DryRun: dryRun}, nil, &b); err != nil {
		return nil, err
	}
	if b.Error != "" {
		return &b.CleanReport, errors.New(b.Error)
	}
	return &b.CleanReport, nil
}

// Close implements Client. Connections are per call: nothing to close.
func (dc *DaemonClient) Close() error { return nil }

// dial connects to the daemon's socket.
func (dc *DaemonClient) dial(ctx context.Context) (*sockets.Conn, error) {
	d := ProbeTimeout
	if dl, ok := ctx.Deadline(); ok {
		d = min(d, time.Until(dl))
	}
	if d <= 0 {
		return nil, ctx.Err()
	}
	c, err := sockets.DialTimeout(sockets.Stream, dc.socket, d)
	if err != nil {
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOTDIR) {
			var se *os.SyscallError
			cause := err
			if errors.As(err, &se) {
				cause = se
			}
			return nil, &noDaemonError{socket: dc.socket, cause: cause}
		}
		return nil, fmt.Errorf("connect to the daemon on %s: %w", dc.socket, err)
	}
	return c, nil
}

// call sends req on a new connection, passes events to onEvent and decodes
// the result into out. A run waits as long as it lasts; other requests at
// most callTimeout. When ctx ends, the writing half is closed (the daemon
// cancels what the request started) and the final answer is awaited for
// at most cancelGrace.
func (dc *DaemonClient) call(ctx context.Context, req proto.Request, onEvent func(json.RawMessage), out any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c, err := dc.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if req.Op != proto.OpRun {
		_ = c.SetDeadline(time.Now().Add(callTimeout))
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetWriteDeadline(dl)
	}
	pc := proto.NewClientConn(c.UnixConn)
	req.ID = 1
	if err := pc.WriteRequest(req); err != nil {
		return dc.lost(ctx, req, err)
	}
	stop := context.AfterFunc(ctx, func() {
		_ = c.CloseWrite()
		grace := cancelGrace
		if req.Op == proto.OpPing {
			grace = 0 // a probe that timed out: give up at once
		}
		_ = c.SetReadDeadline(time.Now().Add(grace))
	})
	defer stop()
	for {
		resp, err := pc.ReadResponse()
		if err != nil {
			return dc.lost(ctx, req, err)
		}
		if resp.ID != req.ID && resp.ID != 0 {
			continue // not ours (cannot happen with one request per connection)
		}
		switch resp.Type {
		case proto.TypeEvent:
			if onEvent != nil {
				onEvent(resp.Event)
			}
		case proto.TypeResult:
			if err := json.Unmarshal(resp.Result, out); err != nil {
				return fmt.Errorf("daemon on %s: bad %s result: %w", dc.socket, req.Op, err)
			}
			return nil
		case proto.TypeError:
			return remoteError(resp.Error)
		}
	}
}

// lost explains a connection that failed mid-request.
func (dc *DaemonClient) lost(ctx context.Context, req proto.Request, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s on the daemon: %w (and its answer did not come: %v)", req.Op, ctx.Err(), err)
	}
	var pe *proto.Error
	if errors.As(err, &pe) {
		return fmt.Errorf("daemon on %s: %w", dc.socket, err)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("the daemon on %s closed the connection during %s (did it stop or crash?)", dc.socket, req.Op)
	}
	return fmt.Errorf("daemon on %s: %s: %w", dc.socket, req.Op, err)
}

// remoteError turns an error reply into an error: a UsageError for code
// usage (exit 2), the *proto.Error itself otherwise.
func remoteError(e *proto.Error) error {
	if e.Code == proto.CodeUsage {
		return &UsageError{Err: e}
	}
	return e
}
