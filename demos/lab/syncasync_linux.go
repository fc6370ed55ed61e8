package lab

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipcplay/ipcplay/ipc"
	"github.com/ipcplay/ipcplay/ipc/worker"
	"github.com/ipcplay/ipcplay/sockets"
)

// SyncAsyncParams are the sync-async lab's parameters.
type SyncAsyncParams struct {
	Requests int           `json:"requests"`
	Delay    time.Duration `json:"delay_ns"` // the server's work per request
}

// SyncAsyncRow is one way of sending the requests.
type SyncAsyncRow struct {
	Mode         string `json:"mode"` // "sync" or "async"
	How          string `json:"how"`
	Requests     int    `json:"requests"`
	Answered     int    `json:"answered"`
	ElapsedNs    int64  `json:"elapsed_ns"`
	PerRequestNs int64  `json:"per_request_ns"`
	OutOfOrder   int    `json:"out_of_order"` // answers that came in another order than the requests
	Expected     string `json:"expected"`
	Matches      bool   `json:"matches"`
}

// SyncAsyncResult is the sync-async lab's document.
type SyncAsyncResult struct {
	Header
	DelayNs   int64          `json:"delay_ns"`
	ServerPID int            `json:"server_pid"`
	Served    int            `json:"served"`
	Rows      []SyncAsyncRow `json:"rows"`
}

var syncAsyncLab = Info{
	Name:    "sync-async",
	Summary: "the same requests to a server process, one after another and all in flight at once",
	Example: "ipcplay demo sync-async --requests 20 --delay 20ms",
	Flags: []Flag{
		{Name: "requests", Usage: "requests sent in each mode", Default: 20},
		{Name: "delay", Usage: "how long the server works on each request", Default: 20 * time.Millisecond},
	},
	Experiment: ipc.Experiment{Name: ExperimentPrefix + "sync-async", Validate: validateSyncAsync, Run: runSyncAsync},
}

type syncServerSpec struct {
	Addr  string        `json:"addr"`
	Delay time.Duration `json:"delay_ns"`
}

func init() {
	worker.Register("lab-sync-server", syncServer)
	renderers["sync-async"] = renderSyncAsync
}

func syncAsyncParams(raw json.RawMessage) (SyncAsyncParams, error) {
	p := SyncAsyncParams{Requests: 20, Delay: 20 * time.Millisecond}
	if err := decodeParams(raw, &p); err != nil {
		return p, err
	}
	if err := checkInt("requests", p.Requests, 1, 10000); err != nil {
		return p, err
	}
	if err := checkDur("delay", p.Delay, 0, time.Second); err != nil {
		return p, err
	}
	if total := time.Duration(p.Requests) * p.Delay; total > time.Minute {
		return p, ipc.Usagef("--requests %d × --delay %s = %s one after another: at most 1m0s", p.Requests, p.Delay, total)
	}
	return p, nil
}

func validateSyncAsync(raw json.RawMessage, lim ipc.Limits) error {
	_, err := syncAsyncParams(raw)
	return err
}

func runSyncAsync(ctx context.Context, env *ipc.Env, raw json.RawMessage) (any, error) {
	p, err := syncAsyncParams(raw)
	if err != nil {
		return nil, err
	}
	res := &SyncAsyncResult{
		Header: newHeader("sync-async", "Sent one after another, each request waits for the previous answer, so the time adds up: about requests × the server's delay. "+
			"Sent all at once (pipelined on one connection, answered as each is done), the waits overlap and the whole batch takes about one delay. "+
			"Asynchronous I/O does not make the server faster; it stops the client from idling while the server works, and answers may come back in another order."),
		DelayNs: p.Delay.Nanoseconds(),
	}
	dir, err := env.TempDir()
	if err != nil {
		return nil, err
	}
	addr := filepath.Join(dir, "sync-async.sock")
	budget := 30*time.Second + 2*time.Duration(p.Requests)*p.Delay
	sctx, cancel := phase(ctx, 2*budget)
	defer cancel()
	g, err := env.StartWorkers(sctx, []worker.Spec{{Kind: "lab-sync-server", Name: "server", Spec: syncServerSpec{Addr: addr, Delay: p.Delay}}})
	if err != nil {
		return nil, fmt.Errorf("demo sync-async: %w", err)
	}
	g.Go()
	res.ServerPID = g.Pids()[0]
	env.Progress(0, 2, "one after another")
	syncRow, err1 := requestsOneByOne(addr, p, budget)
	env.Progress(1, 2, "all in flight")
	asyncRow, err2 := requestsInFlight(addr, p, budget)
	env.Progress(2, 2, "done")
	g.Stop()
	rs, err3 := g.Wait(sctx)
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, fmt.Errorf("demo sync-async: %w", err)
	}
	_ = rs[0].Decode(&res.Served)

	n := int64(p.Requests)
	// The expectations state what is checked: every request answered, the
	// sequential row at least the sum of its delays, the one in flight
	// faster than it (about one delay, on a quiet machine).
	syncRow.Expected = "all answered, at least " + strconv.Itoa(p.Requests) + " × " + dur(p.Delay.Nanoseconds()) + " = " + dur(n*p.Delay.Nanoseconds())
	syncRow.Matches = syncRow.Answered == p.Requests && syncRow.ElapsedNs >= n*p.Delay.Nanoseconds()
	asyncRow.Expected = "all answered"
	asyncRow.Matches = asyncRow.Answered == p.Requests
	if p.Requests > 1 && p.Delay > 0 {
		asyncRow.Expected = "all answered, faster than one at a time (about one delay, " + dur(p.Delay.Nanoseconds()) + ")"
		asyncRow.Matches = asyncRow.Matches && asyncRow.ElapsedNs < syncRow.ElapsedNs
	}
	res.Rows = []SyncAsyncRow{syncRow, asyncRow}
	var problems []string
	for _, r := range res.Rows {
		if !r.Matches {
			problems = append(problems, fmt.Sprintf("%s: %d of %d answered in %s, expected %s", r.Mode, r.Answered, r.Requests, dur(r.ElapsedNs), r.Expected))
		}
	}
	return res, res.verdict(problems)
}

// A request or an answer is one frame holding the request's number.
func writeReq(f *sockets.Framer, id uint32) error {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], id)
	return f.Write(b[:])
}

func readReq(f *sockets.Framer) (uint32, error) {
	b, err := f.Read()
	if err != nil {
		return 0, err
	}
	if len(b) != 4 {
		return 0, fmt.Errorf("frame of %d bytes, want 4", len(b))
	}
	return binary.BigEndian.Uint32(b), nil
}

func dialServer(addr string, budget time.Duration) (*sockets.Conn, *sockets.Framer, error) {
	c, err := sockets.DialTimeout(sockets.Stream, addr, 5*time.Second)
	if err != nil {
		return nil, nil, err
	}
	if err := c.SetDeadline(time.Now().Add(budget)); err != nil {
		c.Close()
		return nil, nil, err
	}
	return c, sockets.NewFramer(c, 64), nil
}

// requestsOneByOne sends a request and waits for its answer, n times.
func requestsOneByOne(addr string, p SyncAsyncParams, budget time.Duration) (SyncAsyncRow, error) {
	row := SyncAsyncRow{Mode: "sync", How: "one after another: send, wait for the answer, repeat", Requests: p.Requests}
	c, f, err := dialServer(addr, budget)
	if err != nil {
		return row, err
	}
	defer c.Close()
	start := time.Now()
	for i := 0; i < p.Requests; i++ {
		if err := writeReq(f, uint32(i)); err != nil {
			return row, err
		}
		id, err := readReq(f)
		if err != nil {
			return row, err
		}
		if id != uint32(i) {
			row.OutOfOrder++
		}
		row.Answered++
	}
	row.ElapsedNs = since(start)
	row.PerRequestNs = row.ElapsedNs / int64(p.Requests)
	return row, nil
}

// requestsInFlight sends every request at once on one connection and
// collects the answers as they come.
func requestsInFlight(addr string, p SyncAsyncParams, budget time.Duration) (SyncAsyncRow, error) {
	row := SyncAsyncRow{Mode: "async", How: "all in flight: send every request, then collect the answers", Requests: p.Requests}
	c, f, err := dialServer(addr, budget)
	if err != nil {
		return row, err
	}
	defer c.Close()
	start := time.Now()
	sent := make(chan error, 1)
	go func() {
		for i := 0; i < p.Requests; i++ {
			if err := writeReq(f, uint32(i)); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	got := make([]bool, p.Requests)
	for i := 0; i < p.Requests; i++ {
		id, err := readReq(f)
		if err != nil {
			return row, errors.Join(err, <-sent)
		}
		if int(id) >= p.Requests || got[id] {
			return row, fmt.Errorf("unexpected answer %d", id)
		}
		got[id] = true
		if id != uint32(i) {
			row.OutOfOrder++
		}
		row.Answered++
	}
	row.ElapsedNs = since(start)
	row.PerRequestNs = row.ElapsedNs / int64(p.Requests)
	return row, <-sent
}

// syncServer answers every request after the delay, each in its own
// goroutine, until it is stopped; it returns how many it answered.
func syncServer(ctx context.Context, c *worker.Child) (any, error) {
	var s syncServerSpec
	if err := c.Spec(&s); err != nil {
		return nil, err
	}
	l, err := sockets.Listen(sockets.Stream, s.Addr)
	if err != nil {
		return nil, err
	}
	defer l.Close()
	if err := c.Ready(ctx); err != nil {
		return nil, err
	}
	var served atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		<-ctx.Done()
		l.Close()
		mu.Lock()
		for _, cn := range conns {
			cn.Close()
		}
		mu.Unlock()
	}()
	for {
		conn, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			return nil, err
		}
		mu.Lock()
		conns = append(conns, conn)
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			f := sockets.NewFramer(conn, 64)
			for {
				id, err := readReq(f)
				if err != nil {
					return
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					select {
					case <-time.After(s.Delay):
					case <-ctx.Done():
						return
					}
					if writeReq(f, id) == nil {
						served.Add(1)
					}
				}()
			}
		}()
	}
	wg.Wait()
	return served.Load(), nil
}

func renderSyncAsync(w io.Writer, doc json.RawMessage) error {
	var r SyncAsyncResult
	if err := decodeDoc(doc, &r); err != nil {
		return err
	}
	fmt.Fprintf(w, "A server process (pid %d) answers each request after %s of work, on a Unix stream socket.\n\n", r.ServerPID, dur(r.DelayNs))
	rows := make([][]string, 0, len(r.Rows))
	for _, row := range r.Rows {
		rows = append(rows, []string{row.How, strconv.Itoa(row.Answered) + "/" + strconv.Itoa(row.Requests),
			dur(row.ElapsedNs), dur(row.PerRequestNs), strconv.Itoa(row.OutOfOrder), row.Expected, yesNo(row.Matches)})
	}
	table(w, []string{"MODE", "ANSWERED", "ELAPSED", "PER REQUEST", "OUT OF ORDER", "EXPECTED", "MATCHES"}, rows)
	return nil
}
