package ipc

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipcplay/ipcplay/ipc/proto"
	"github.com/ipcplay/ipcplay/sockets"
)

// newDaemonEngine is an engine named "daemon" on a private state dir.
func newDaemonEngine(t testing.TB, lim Limits) *Engine {
	t.Helper()
	dir, err := os.MkdirTemp("", "ipcplay-srv-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	e, err := NewEngine(Config{Name: EngineDaemon, StateDir: dir, Limits: lim, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	e.Register(testExperiment)
	t.Cleanup(func() { e.Close() })
	return e
}

// startServer serves e on a fresh socket; the cleanup shuts it down.
func startServer(t testing.TB, e *Engine) (string, *Server) {
	t.Helper()
	socket := filepath.Join(e.stateDir, "d.sock")
	l, err := sockets.Listen(sockets.Stream, socket)
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(e, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, l) }()
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer scancel()
		if err := srv.Shutdown(sctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return")
		}
		if _, err := os.Lstat(socket); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("socket %s left behind (%v)", socket, err)
		}
	})
	return socket, srv
}

func dialDaemon(t testing.TB, socket string) *DaemonClient {
	t.Helper()
	c, err := DialDaemon(context.Background(), socket, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c.(*DaemonClient)
}

// rawConn is a protocol connection without the client's conveniences.
func rawConn(t testing.TB, socket string) (*sockets.Conn, *proto.Conn) {
	t.Helper()
	c, err := sockets.Dial(sockets.Stream, socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	return c, proto.NewClientConn(c.UnixConn)
}

func params(p testParams) json.RawMessage {
	b, _ := json.Marshal(p)
	return b
}

func TestDaemonRunGivesSameKindOfResultAsEmbedded(t *testing.T) {
	e := newDaemonEngine(t, Limits{})
	socket, _ := startServer(t, e)
	dc := dialDaemon(t, socket)
	req := RunRequest{Experiment: "test-add", Params: params(testParams{Procs: 2, Iters: 500})}
	var events []Event
	remote, err := dc.Run(context.Background(), req, func(ev Event) { events = append(events, ev) })
	if err != nil {
		t.Fatal(err)
	}
	local, err := (&LocalClient{E: newTestEngine(t)}).Run(context.Background(), req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if remote.Engine != EngineDaemon || local.Engine != EngineLocal {
		t.Fatalf("engines %q and %q", remote.Engine, local.Engine)
	}
	if remote.State != local.State || string(remote.Result) != string(local.Result) || remote.Experiment != local.Experiment {
		t.Fatalf("daemon %+v\nlocal %+v", remote, local)
	}
	if len(events) < 2 || events[0].State != StateQueued || events[len(events)-1].State != StateRunning || events[0].RunID != remote.RunID {
		t.Fatalf("events %+v", events)
	}
	// The run is remembered.
	shown, err := dc.Show(context.Background(), remote.RunID)
	if err != nil || shown.State != StateOK || string(shown.Result) != string(remote.Result) {
		t.Fatalf("show: %+v %v", shown, err)
	}
	runs, err := dc.Runs(context.Background())
	if err != nil || len(runs) != 1 || runs[0].RunID != remote.RunID {
		t.Fatalf("runs: %+v %v", runs, err)
	}
	st, err := dc.Status(context.Background())
	if err != nil || st.Engine != EngineDaemon || st.PID != os.Getpid() || st.Ledger != 0 {
		t.Fatalf("status: %+v %v", st, err)
	}
	if err := dc.Cancel(context.Background(), remote.RunID); err == nil || IsUsage(err) || !strings.Contains(err.Error(), "already ended") {
		t.Fatalf("cancel of a finished run: %v", err)
	}
	objs, err := dc.Objects(context.Background(), false)
	if objs == nil || len(objs) != 0 {
		t.Fatalf("objects: %+v %v", objs, err)
	}
	if rep, err := dc.Clean(context.Background(), true); err != nil || len(rep.Removed)+len(rep.Gone)+len(rep.LeftAlone) != 0 {
		t.Fatalf("clean: %+v %v", rep, err)
	}
	assertNoObjects(t, e)
}

func TestDaemonUsageErrorsKeepTheirExitCode(t *testing.T) {
	e := newDaemonEngine(t, Limits{})
	socket, _ := startServer(t, e)
	dc := dialDaemon(t, socket)
	_, err := dc.Run(context.Background(), RunRequest{Experiment: "test-add", Params: params(testParams{Procs: 100000, Iters: 1})}, nil)
	if !IsUsage(err) || !strings.Contains(err.Error(), "--procs") {
		t.Fatalf("err %v, want a usage error naming --procs", err)
	}
	if _, err := dc.Show(context.Background(), "r-nope"); !IsUsage(err) {
		t.Fatalf("show of an unknown run: %v", err)
	}
	if _, err := dc.Run(context.Background(), RunRequest{Experiment: "nope"}, nil); !IsUsage(err) {
		t.Fatalf("unknown experiment: %v", err)
	}
	// A failed run is a result, not a protocol error.
	res, err := dc.Run(context.Background(), RunRequest{Experiment: "test-add", Params: params(testParams{Procs: 1, Iters: 1, Mode: "fail"})}, nil)
	if err == nil || IsUsage(err) || res == nil || res.State != StateFailed || string(res.Result) != `{"partial":1}` {
		t.Fatalf("failed run: %+v %v", res, err)
	}
	assertNoObjects(t, e)
}

func TestDaemonKilledChildFailsRunNamingSignal(t *testing.T) {
	e := newDaemonEngine(t, Limits{})
	socket, _ := startServer(t, e)
	res, err := dialDaemon(t, socket).Run(context.Background(), RunRequest{Experiment: "test-add", Params: params(testParams{Procs: 3, Iters: 1, Mode: "kill-child"})}, nil)
	if err == nil || !strings.Contains(err.Error(), "SIGKILL") || res.State != StateFailed {
		t.Fatalf("res %+v err %v", res, err)
	}
	assertNoObjects(t, e)
}

func TestDaemonAnswersBadFramesAndKeepsServing(t *testing.T) {
	e := newDaemonEngine(t, Limits{})
	socket, _ := startServer(t, e)
	frame := func(b []byte) []byte {
		return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...)
	}
	tests := []struct {
		name string
		send []byte
		code string
		want string
	}{
		{"not json", frame([]byte("hello daemon")), proto.CodeBadRequest, "not a JSON object"},
		{"bad json", frame([]byte(`{"v":1,"id":4,"op":`)), proto.CodeBadRequest, "malformed"},
		{"other version", frame([]byte(`{"v":99,"id":5,"op":"ping"}`)), proto.CodeUnsupportedVersion, "speaks version 1"},
		{"unknown op", frame([]byte(`{"v":1,"id":6,"op":"format-disk"}`)), proto.CodeBadRequest, "unknown op"},
		{"oversized", binary.BigEndian.AppendUint32(nil, 64<<20), proto.CodeBadRequest, "exceeds the maximum"},
		{"huge then body", frame(make([]byte, proto.MaxRequestSize+1)), proto.CodeBadRequest, "exceeds the maximum"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, pc := rawConn(t, socket)
			go c.Write(tt.send) // may block on the oversized body: the daemon reads only the header
			resp, err := pc.ReadResponse()
			if err != nil {
				t.Fatal(err)
			}
			if resp.Type != proto.TypeError || resp.Error.Code != tt.code || !strings.Contains(resp.Error.Message, tt.want) {
				t.Fatalf("response %+v %+v", resp, resp.Error)
			}
			// Then the daemon hangs up on this connection...
			if _, err := pc.ReadResponse(); err == nil {
				t.Fatal("connection still open after a bad frame")
			}
			// ...and serves everyone else.
			if _, err := dialDaemon(t, socket).Ping(context.Background()); err != nil {
				t.Fatal(err)
			}
		})
	}
	// Several requests on one connection are answered by id.
	_, pc := rawConn(t, socket)
	for id := uint64(10); id < 13; id++ {
		if err := pc.WriteRequest(proto.Request{ID: id, Op: proto.OpPing}); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[uint64]bool{}
	for range 3 {
		resp, err := pc.ReadResponse()
		if err != nil || resp.Type != proto.TypeResult {
			t.Fatalf("%+v %v", resp, err)
		}
		seen[resp.ID] = true
	}
	if len(seen) != 3 {
		t.Fatalf("ids %v", seen)
	}
}

// Closing the connection (a client killed, or Ctrl-C) cancels its run.
func TestDaemonCancelsTheRunOfAClientThatLeaves(t *testing.T) {
	e := newDaemonEngine(t, Limits{})
	socket, _ := startServer(t, e)
	c, pc := rawConn(t, socket)
	if err := pc.WriteRequest(proto.Request{ID: 1, Op: proto.OpRun, Experiment: "test-add", Params: params(testParams{Procs: 2, Iters: 1, Mode: "hang"})}); err != nil {
		t.Fatal(err)
	}
	var runID string
	for runID == "" {
		resp, err := pc.ReadResponse()
		if err != nil {
			t.Fatal(err)
		}
		var ev Event
		_ = json.Unmarshal(resp.Event, &ev)
		if ev.State == StateRunning {
			runID = ev.RunID
		}
	}
	c.Close()
	waitState(t, e, runID, StateCancelled)
	assertNoObjects(t, e)
}

// Cancelling the client's context gets the cancelled run back.
func TestDaemonClientContextCancelsRun(t *testing.T) {
	e := newDaemonEngine(t, Limits{})
	socket, _ := startServer(t, e)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res, err := dialDaemon(t, socket).Run(ctx, RunRequest{Experiment: "test-add", Params: params(testParams{Procs: 2, Iters: 1, Mode: "hang"})}, func(ev Event) {
		if ev.State == StateRunning {
			time.AfterFunc(100*time.Millisecond, cancel)
		}
	})
	if err == nil || res == nil || res.State != StateCancelled {
		t.Fatalf("res %+v err %v", res, err)
	}
	assertNoObjects(t, e)
}

func TestDaemonCancelOp(t *testing.T) {
	e := newDaemonEngine(t, Limits{})
	socket, _ := startServer(t, e)
	dc := dialDaemon(t, socket)
	done := make(chan *RunResult, 1)
	running := make(chan string, 1)
	go func() {
		res, _ := dc.Run(context.Background(), RunRequest{Experiment: "test-add", Params: params(testParams{Procs: 1, Iters: 1, Mode: "hang"})}, func(ev Event) {
			if ev.State == StateRunning {
				running <- ev.RunID
			}
		})
		done <- res
	}()
	id := <-running
	if err := dc.Cancel(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	select {
	case res := <-done:
		if res.State != StateCancelled {
			t.Fatalf("%+v", res)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("cancelled run did not end")
	}
	assertNoObjects(t, e)
}

func TestShutdownCancelsRunsAndRemovesTheSocket(t *testing.T) {
	e := newDaemonEngine(t, Limits{})
	socket := filepath.Join(e.stateDir, "d.sock")
	l, err := sockets.Listen(sockets.Stream, socket)
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(e, nil)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(context.Background(), l) }()
	dc := dialDaemon(t, socket)
	done := make(chan *RunResult, 1)
	running := make(chan struct{})
	go func() {
		res, _ := dc.Run(context.Background(), RunRequest{Experiment: "test-add", Params: params(testParams{Procs: 2, Iters: 1, Mode: "hang"})}, func(ev Event) {
			if ev.State == StateRunning {
				close(running)
			}
		})
		done <- res
	}()
	<-running
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	res := <-done
	if res == nil || res.State != StateCancelled {
		t.Fatalf("run after shutdown: %+v", res)
	}
	if _, err := os.Lstat(socket); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket left: %v", err)
	}
	assertNoObjects(t, e)
}

func TestDialDaemonWithoutDaemonFailsFast(t *testing.T) {
	dir, _ := os.MkdirTemp("", "ipcplay-srv-")
	defer os.RemoveAll(dir)
	socket := filepath.Join(dir, "d.sock")
	_, err := DialDaemon(context.Background(), socket, nil)
	if !errors.Is(err, ErrNoDaemon) || !strings.Contains(err.Error(), socket) {
		t.Fatalf("no socket: %v", err)
	}
	// A stale socket file: bound once, nobody listening.
	ul, err := net.ListenUnix("unix", &net.UnixAddr{Name: socket, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ul.SetUnlinkOnClose(false)
	ul.Close()
	if _, err := DialDaemon(context.Background(), socket, nil); !errors.Is(err, ErrNoDaemon) {
		t.Fatalf("stale socket: %v", err)
	}
	// Connect falls back to the embedded engine.
	c, err := Connect(context.Background(), ConnectOptions{Socket: socket, NewLocal: func() (*Engine, error) { return newTestEngine(t), nil }})
	if err != nil || c.Engine() != EngineLocal {
		t.Fatalf("connect: %v %v", c, err)
	}
	if _, err := Connect(context.Background(), ConnectOptions{Socket: socket, RequireDaemon: true}); !errors.Is(err, ErrNoDaemon) || !strings.Contains(err.Error(), "--require-daemon") {
		t.Fatalf("require-daemon: %v", err)
	}
}

// A daemon that accepts but never answers is given up after the probe.
func TestDialDaemonHungDaemon(t *testing.T) {
	dir, _ := os.MkdirTemp("", "ipcplay-srv-")
	defer os.RemoveAll(dir)
	l, err := sockets.Listen(sockets.Stream, filepath.Join(dir, "d.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	start := time.Now()
	_, err = DialDaemon(context.Background(), l.Addr(), nil)
	if err == nil || errors.Is(err, ErrNoDaemon) {
		t.Fatalf("err %v", err)
	}
	if d := time.Since(start); d > ProbeTimeout+5*time.Second {
		t.Fatalf("probe took %s", d)
	}
}

func waitState(t *testing.T, e *Engine, id, state string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := e.Show(id)
		if err == nil && r.State == state {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s: %+v %v, want state %s", id, r, err, state)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// BenchmarkControlRoundTrip measures one ping request and its response on
// the control socket: on an open connection, and with a connection per
// request as the CLI makes them.
func BenchmarkControlRoundTrip(b *testing.B) {
	e := newDaemonEngine(b, Limits{})
	socket, _ := startServer(b, e)
	b.Run("conn", func(b *testing.B) {
		_, pc := rawConn(b, socket)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if err := pc.WriteRequest(proto.Request{ID: uint64(i), Op: proto.OpPing}); err != nil {
				b.Fatal(err)
			}
			if r, err := pc.ReadResponse(); err != nil || r.Type != proto.TypeResult {
				b.Fatal(r, err)
			}
		}
	})
	b.Run("dial", func(b *testing.B) {
		dc := dialDaemon(b, socket)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := dc.Ping(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
	})
}
