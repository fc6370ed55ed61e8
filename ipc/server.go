package ipc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ipcplay/ipcplay/ipc/proto"
	"github.com/ipcplay/ipcplay/sockets"
)

// Server limits.
const (
	// maxInflight bounds the requests one connection may have in progress.
	maxInflight = 8
	// writeTimeout bounds each response write: a client that stops
	// reading loses its connection (and its runs) instead of stalling them.
	writeTimeout = 10 * time.Second
	// deniedReadTimeout bounds the wait for a refused peer's request (read
	// only to echo its id).
	deniedReadTimeout = time.Second
)

// Server serves an Engine on the control socket with package proto: one
// goroutine per connection, every peer checked with SO_PEERCRED (the
// daemon's own uid or root only), runs cancelled when their client goes
// away.
type Server struct {
	engine *Engine
	log    hclog.Logger
	uid    int

	mu        sync.Mutex
	closing   bool
	listeners map[*sockets.Listener]struct{}
	conns     map[*serverConn]struct{}
	wg        sync.WaitGroup
}

type serverConn struct {
	c      *sockets.Conn
	cancel context.CancelCauseFunc
}

// Why a connection's runs were cancelled: the cause of its context
// (context.Cause), logged with each cancelled run. A signal to the daemon
// comes as the cause of the context given to Serve.
var (
	errClientGone     = errors.New("its client closed the connection (Ctrl-C, or the client exited)")
	errClientStuck    = errors.New("its client stopped reading (a write to it failed)")
	errClientBroke    = errors.New("its client broke the protocol")
	errServerShutdown = errors.New("the daemon is shutting down")
)

// NewServer returns a server for e. log is the server's logger (the
// daemon passes its root logger's Named("server")).
func NewServer(e *Engine, log hclog.Logger) *Server {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &Server{
		engine: e, log: log, uid: os.Geteuid(),
		listeners: map[*sockets.Listener]struct{}{},
		conns:     map[*serverConn]struct{}{},
	}
}

// Serve accepts connections on l until ctx is done or Shutdown is called,
// then closes l and returns nil. Connections (and their runs) live on
// until their clients leave, ctx is done or Shutdown.
func (s *Server) Serve(ctx context.Context, l *sockets.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return l.Close()
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
		l.Close()
	}()
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()

	var backoff time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil || s.isClosing() || errors.Is(err, net.ErrClosed) {
				return nil
			}
			if temporaryAccept(err) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("accept failed; retrying", "error", err, "in", backoff)
				select {
				case <-time.After(backoff):
				case <-ctx.Done():
				}
				continue
			}
			return fmt.Errorf("accept on %s: %w", l.Addr(), err)
		}
		backoff = 0
		go s.ServeConn(ctx, c)
	}
}

// temporaryAccept reports accept errors worth retrying (out of
// descriptors or memory, a connection aborted before accept).
func temporaryAccept(err error) bool {
	for _, errno := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED, syscall.EINTR, syscall.EAGAIN} {
		if errors.Is(err, errno) {
			return true
		}
	}
	return false
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// ServeConn serves one connection until the client closes it (or its
// writing half), sends a malformed frame, ctx is done or Shutdown. It
// closes c. Serve calls it for each accepted connection; tests may hand it
// one end of a socketpair.
func (s *Server) ServeConn(ctx context.Context, c *sockets.Conn) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sc := &serverConn{c: c, cancel: cancel}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		c.Close()
		return
	}
	s.conns[sc] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, sc)
		s.mu.Unlock()
		c.Close()
		s.wg.Done()
	}()

	cred, err := c.PeerCred()
	if err != nil {
		s.log.Error("cannot read the peer's credentials; connection closed", "error", err)
		return
	}
	log := s.log.With("peer_pid", cred.PID, "peer_uid", cred.UID)
	pc := proto.NewServerConn(c.UnixConn)
	pc.WriteTimeout = writeTimeout
	if cred.UID != s.uid && cred.UID != 0 {
		s.deny(pc, c, cred, log)
		return
	}
	log.Trace("client connected")
	// When the connection is cancelled (Shutdown, or a failed write), stop
	// reading: the loop below ends, and results still go out on the
	// writing half.
	stopRead := context.AfterFunc(ctx, func() { _ = c.CloseRead() })
	defer stopRead()

	var wg sync.WaitGroup
	inflight := make(chan struct{}, maxInflight)
	gone := errClientGone
	for {
		req, err := pc.ReadRequest()
		if err != nil {
			var pe *proto.Error
			switch {
			case err == io.EOF:
				log.Trace("client closed the connection")
			case errors.As(err, &pe):
				log.Warn("bad request; connection closed", "code", pe.Code, "error", pe.Message)
				_ = pc.WriteResponse(proto.ErrorResponse(req.ID, pe.Code, pe))
				gone = errClientBroke
			case ctx.Err() != nil:
			default:
				log.Debug("connection read failed", "error", err)
			}
			break
		}
		select {
		case inflight <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-inflight }()
			s.handle(ctx, cancel, pc, req, log.With("op", req.Op, "id", req.ID))
		}()
	}
	// The client is gone (or broke the protocol): its runs are cancelled,
	// and each still writes its final result on the open half. (If the
	// context ended first, its cause stays.)
	cancel(gone)
	wg.Wait()
}

// deny answers a peer of another user with "denied" and logs it.
func (s *Server) deny(pc *proto.Conn, c *sockets.Conn, cred sockets.Cred, log hclog.Logger) {
	log.Warn("refused a client of another user", "daemon_uid", s.uid)
	// Read its request (briefly) only to echo the id.
	_ = c.SetReadDeadline(time.Now().Add(deniedReadTimeout))
	req, _ := pc.ReadRequest()
	msg := fmt.Sprintf("permission denied: uid %d may not use the daemon of uid %d (run your own daemon, or the command with --local)", cred.UID, s.uid)
	_ = pc.WriteResponse(proto.ErrorResponse(req.ID, proto.CodeDenied, errors.New(msg)))
}

// handle serves one request. cancelConn ends the connection (used when a
// write fails: the client is gone or stuck).
func (s *Server) handle(ctx context.Context, cancelConn context.CancelCauseFunc, pc *proto.Conn, req proto.Request, log hclog.Logger) {
	defer func() {
		if p := recover(); p != nil {
			log.Error("request handler panicked", "panic", p, "stack", string(debug.Stack()))
			_ = pc.WriteResponse(proto.ErrorResponse(req.ID, proto.CodeInternal, fmt.Errorf("internal error in the daemon: %v", p)))
		}
	}()
	log.Debug("request")
	reply := func(v any, err error) {
		var resp proto.Response
		if err != nil {
			resp = proto.ErrorResponse(req.ID, errorCode(err), errors.New(Explain(err)))
		} else {
			b, merr := json.Marshal(v)
			if merr != nil {
				resp = proto.ErrorResponse(req.ID, proto.CodeInternal, fmt.Errorf("encode %s result: %w", req.Op, merr))
			} else {
				resp = proto.Response{ID: req.ID, Type: proto.TypeResult, Result: b}
			}
		}
		if werr := pc.WriteResponse(resp); werr != nil {
			log.Debug("cannot write the response", "error", werr)
			cancelConn(errClientStuck)
		}
	}
	e := s.engine
	switch req.Op {
	case proto.OpPing:
		reply(Pong{Engine: e.Name(), PID: os.Getpid(), Version: e.cfg.Version, Proto: proto.Version}, nil)
	case proto.OpStatus:
		reply(e.Status(), nil)
	case proto.OpRun:
		s.run(ctx, cancelConn, pc, req, log, reply)
	case proto.OpRuns:
		reply(runsBody{Runs: e.Runs()}, nil)
	case proto.OpShow:
		reply(e.Show(req.RunID))
	case proto.OpCancel:
		if err := e.Cancel(req.RunID); err != nil {
			reply(nil, err)
			return
		}
		log.Info("run cancelled by a client", "run_id", req.RunID)
		reply(cancelBody{RunID: req.RunID}, nil)
	case proto.OpObjects:
		objs, err := e.Objects(req.All)
		if objs == nil && err != nil {
			reply(nil, err)
			return
		}
		body := objectsBody{Objects: objs}
		if err != nil {
			body.Warning = err.Error()
		}
		reply(body, nil)
	case proto.OpClean:
		rep, err := e.Clean(req.DryRun)
		if rep == nil {
			reply(nil, err) // the ledger could not be read: no report
			return
		}
		body := cleanBody{CleanReport: *rep}
		if err != nil {
			body.Error = Explain(err)
		}
		if !req.DryRun && len(rep.Removed) > 0 {
			log.Info("removed objects leaked by crashed runs", "count", len(rep.Removed))
		}
		if len(rep.LeftAlone) > 0 {
			log.Warn("left alone objects of crashed runs", "count", len(rep.LeftAlone))
		}
		reply(body, nil)
	default:
		reply(nil, proto.Errorf(proto.CodeBadRequest, "unknown op %q", req.Op))
	}
}

// run runs an experiment, streaming its events, then its result.
func (s *Server) run(ctx context.Context, cancelConn context.CancelCauseFunc, pc *proto.Conn, req proto.Request, log hclog.Logger, reply func(any, error)) {
	onEvent := func(ev Event) {
		b, err := json.Marshal(ev)
		if err != nil {
			return
		}
		if err := pc.WriteResponse(proto.Response{ID: req.ID, Type: proto.TypeEvent, Event: b}); err != nil {
			// The client is gone or stuck: cancel its run.
			log.Debug("cannot write an event; cancelling the client's runs", "error", err)
			cancelConn(errClientStuck)
		}
	}
	res, err := s.engine.Run(ctx, RunRequest{Experiment: req.Experiment, Params: req.Params}, onEvent)
	if res == nil {
		reply(nil, err)
		return
	}
	if res.State == StateCancelled && ctx.Err() != nil {
		// Say why: the client left, or the daemon was told to stop.
		log.Info("run cancelled", "run_id", res.RunID, "cause", context.Cause(ctx).Error())
	}
	reply(res, nil)
}

// errorCode maps an engine error to a protocol error code.
func errorCode(err error) string {
	var pe *proto.Error
	switch {
	case errors.As(err, &pe):
		return pe.Code
	case IsUsage(err):
		return proto.CodeUsage
	}
	return proto.CodeFailed
}

// Shutdown stops accepting, cancels every connection's runs and waits
// until their objects are removed and their connections closed, or ctx
// ends (then the remaining connections are closed at once and ctx's error
// returned).
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	for l := range s.listeners {
		l.Close()
	}
	for c := range s.conns {
		c.cancel(errServerShutdown)
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			c.c.Close()
		}
		s.mu.Unlock()
		return ctx.Err()
	}
}
