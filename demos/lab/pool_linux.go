package lab

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipcplay/ipcplay/ipc"
	"github.com/ipcplay/ipcplay/ipc/plural"
	"github.com/ipcplay/ipcplay/ipc/worker"
	"github.com/ipcplay/ipcplay/sockets"
)

// PoolParams are the pool lab's parameters.
type PoolParams struct {
	Workers int `json:"workers"` // pool size; default the number of CPUs
	Tasks   int `json:"tasks"`   // CPU-bound tasks submitted
	Size    int `json:"size"`    // numbers each task checks for primality
	Empty   int `json:"empty"`   // empty tasks, to measure the per-task overhead
}

// PoolRow is one pool's run.
type PoolRow struct {
	Pool       string `json:"pool"` // "processes" or "goroutines"
	Workers    int    `json:"workers"`
	StartNs    int64  `json:"start_ns"` // to start the pool
	Tasks      int    `json:"tasks"`
	ElapsedNs  int64  `json:"elapsed_ns"` // submit every task, read every future
	PerTaskNs  int64  `json:"per_task_ns"`
	Empty      int    `json:"empty_tasks"`
	OverheadNs int64  `json:"overhead_ns"` // per empty task: the cost of the round trip alone
	Primes     uint64 `json:"primes"`      // sum of the results
	Correct    bool   `json:"correct"`     // every future holds the right count
	OutOfOrder int    `json:"out_of_order"`
	// Served is how many tasks each member ran ("pid 123" or "goroutine 0").
	Served map[string]int `json:"served"`
}

// PoolResult is the pool lab's document.
type PoolResult struct {
	Header
	Size  int       `json:"size"`
	CPUs  int       `json:"cpus"`
	Pools []PoolRow `json:"pools"`
}

var poolLab = Info{
	Name:    "pool",
	Summary: "a process pool with futures over Unix sockets beside a goroutine pool",
	Example: "ipcplay demo pool --workers 4 --tasks 64",
	Flags: []Flag{
		{Name: "workers", Usage: "pool size, in processes and in goroutines (default: the number of CPUs)", Default: runtime.NumCPU()},
		{Name: "tasks", Usage: "CPU-bound tasks (count the primes in a range) submitted to each pool", Default: 64},
		{Name: "size", Usage: "numbers in each task's range", Default: 30000},
		{Name: "empty", Usage: "empty tasks sent to measure the per-task overhead", Default: 1000},
	},
	Experiment: ipc.Experiment{Name: ExperimentPrefix + "pool", Validate: validatePool, Run: runPool},
}

func init() {
	worker.Register("lab-pool", poolWorker)
	renderers["pool"] = renderPool
}

func poolParams(raw json.RawMessage, lim ipc.Limits) (PoolParams, error) {
	p := PoolParams{Tasks: 64, Size: 30000, Empty: 1000}
	if err := decodeParams(raw, &p); err != nil {
		return p, err
	}
	if p.Workers == 0 {
		p.Workers = min(runtime.NumCPU(), lim.MaxProcs)
	}
	if err := lim.CheckProcs("--workers", p.Workers); err != nil {
		return p, err
	}
	if err := checkInt("tasks", p.Tasks, 1, 100000); err != nil {
		return p, err
	}
	if err := checkInt("size", p.Size, 1, 10000000); err != nil {
		return p, err
	}
	if p.Tasks*p.Size > 100000000 {
		return p, ipc.Usagef("--tasks %d × --size %d: at most 100000000 numbers in all", p.Tasks, p.Size)
	}
	return p, checkInt("empty", p.Empty, 0, 1000000)
}

func validatePool(raw json.RawMessage, lim ipc.Limits) error {
	_, err := poolParams(raw, lim)
	return err
}

// future is the promise of a task's result, like concurrent.futures.Future.
type future struct {
	lo, hi uint64
	done   chan struct{}
	count  uint64
	by     string // the pool member that ran it
	seq    int64  // completion order
	err    error
}

// get waits for the result.
func (f *future) get(ctx context.Context) (uint64, error) {
	select {
	case <-f.done:
		return f.count, f.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// executor hands submitted tasks to its members, each running one task at
// a time: a process pool member writes the task to its worker's socket and
// reads the answer; a goroutine member computes it.
type executor struct {
	queue chan *future
	wg    sync.WaitGroup
	seq   atomic.Int64
}

// Once ctx is done, the members fail the tasks left instead of running them.
func newExecutor(ctx context.Context, members []string, run func(i int, f *future) error) *executor {
	e := &executor{queue: make(chan *future, 1024)}
	for i, name := range members {
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			for f := range e.queue {
				if f.err = ctx.Err(); f.err == nil {
					f.err = run(i, f)
				}
				f.by = name
				f.seq = e.seq.Add(1)
				close(f.done)
			}
		}()
	}
	return e
}

func (e *executor) submit(lo, hi uint64) *future {
	f := &future{lo: lo, hi: hi, done: make(chan struct{})}
	e.queue <- f
	return f
}

func (e *executor) shutdown() {
	close(e.queue)
	e.wg.Wait()
}

// mapTasks submits n tasks (ranges of size numbers; size 0: empty tasks)
// from another goroutine, as a client would, and reads the futures in
// submission order.
func mapTasks(ctx context.Context, e *executor, n, size int, row *PoolRow) ([]uint64, error) {
	futures := make(chan *future, n)
	submitted := make(chan struct{})
	go func() {
		defer close(submitted)
		for i := 0; i < n; i++ {
			if size == 0 {
				futures <- e.submit(0, 0)
				continue
			}
			futures <- e.submit(uint64(i*size+1), uint64((i+1)*size+1))
		}
	}()
	// The members keep draining the queue, so the submitter always ends;
	// wait for it so that the executor is never shut down under it.
	defer func() { <-submitted }()
	out := make([]uint64, n)
	var last int64
	for i := 0; i < n; i++ {
		var f *future
		select {
		case f = <-futures:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		c, err := f.get(ctx)
		if err != nil {
			return nil, fmt.Errorf("task %d: %w", i, err)
		}
		out[i] = c
		if f.seq < last {
			row.OutOfOrder++
		}
		last = f.seq
		if row.Served != nil {
			row.Served[f.by]++
		}
	}
	return out, nil
}

func runPool(ctx context.Context, env *ipc.Env, raw json.RawMessage) (any, error) {
	p, err := poolParams(raw, env.Limits)
	if err != nil {
		return nil, err
	}
	res := &PoolResult{
		Header: newHeader("pool", "A pool keeps workers alive and feeds them tasks, so the cost of starting them is paid once; each submit returns a future and the results are read in submission order even when tasks finish out of order. "+
			"A process pool must copy every task and result through the kernel (here a Unix socket per worker), which costs microseconds per task; a goroutine pool shares memory and hands a task over in well under a microsecond. "+
			"Both use every CPU for the computation itself, so for tasks much longer than the overhead they finish in about the same time."),
		Size: p.Size, CPUs: runtime.NumCPU(),
	}
	want := sievePrimes(p.Tasks, p.Size)
	var problems []string
	check := func(row *PoolRow, got []uint64) {
		row.Correct = len(got) == len(want)
		for i := range got {
			row.Primes += got[i]
			if row.Correct && got[i] != want[i] {
				row.Correct = false
				problems = append(problems, fmt.Sprintf("%s pool: task %d counted %d primes, the sieve says %d", row.Pool, i, got[i], want[i]))
			}
		}
	}

	// The process pool.
	env.Progress(0, 2, "process pool")
	pctx, cancel := phase(ctx, 2*time.Minute)
	defer cancel()
	row, got, err := processPool(pctx, env, p)
	if err != nil {
		return nil, fmt.Errorf("demo pool: process pool: %w", err)
	}
	check(&row, got)
	res.Pools = append(res.Pools, row)

	// The goroutine pool.
	env.Progress(1, 2, "goroutine pool")
	row = PoolRow{Pool: "goroutines", Workers: p.Workers, Tasks: p.Tasks, Empty: p.Empty, Served: map[string]int{}}
	members := make([]string, p.Workers)
	for i := range members {
		members[i] = "goroutine " + strconv.Itoa(i)
	}
	start := time.Now()
	e := newExecutor(pctx, members, func(_ int, f *future) error {
		f.count = countPrimes(f.lo, f.hi)
		return nil
	})
	row.StartNs = since(start)
	got, err = timeTasks(pctx, e, p, &row)
	e.shutdown()
	if err != nil {
		return nil, fmt.Errorf("demo pool: goroutine pool: %w", err)
	}
	check(&row, got)
	res.Pools = append(res.Pools, row)
	env.Progress(2, 2, "done")
	return res, res.verdict(problems)
}

// timeTasks runs the CPU-bound tasks, then the empty ones, on e.
func timeTasks(ctx context.Context, e *executor, p PoolParams, row *PoolRow) ([]uint64, error) {
	start := time.Now()
	got, err := mapTasks(ctx, e, p.Tasks, p.Size, row)
	if err != nil {
		return nil, err
	}
	row.ElapsedNs = since(start)
	row.PerTaskNs = row.ElapsedNs / int64(p.Tasks)
	if p.Empty > 0 {
		served := row.Served
		row.Served = nil // count the real tasks only
		out := row.OutOfOrder
		start = time.Now()
		if _, err := mapTasks(ctx, e, p.Empty, 0, row); err != nil {
			return nil, err
		}
		row.OverheadNs = since(start) / int64(p.Empty)
		row.Served, row.OutOfOrder = served, out
	}
	return got, nil
}

// processPool starts the worker processes, each with one end of a
// socketpair, and runs the tasks through them.
func processPool(ctx context.Context, env *ipc.Env, p PoolParams) (PoolRow, []uint64, error) {
	row := PoolRow{Pool: "processes", Workers: p.Workers, Tasks: p.Tasks, Empty: p.Empty, Served: map[string]int{}}
	conns := make([]*sockets.Conn, 0, p.Workers)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	specs := make([]worker.Spec, p.Workers)
	var theirs []*os.File
	defer func() {
		for _, f := range theirs {
			f.Close()
		}
	}()
	for i := range specs {
		a, b, err := sockets.Pair(sockets.Stream)
		if err != nil {
			return row, nil, err
		}
		theirs = append(theirs, b)
		c, err := sockets.FileConn(a)
		if err != nil {
			return row, nil, err
		}
		conns = append(conns, c)
		specs[i] = worker.Spec{Kind: "lab-pool", Name: "pool-" + strconv.Itoa(i), Files: []*os.File{b}}
	}
	start := time.Now()
	g, err := env.StartWorkers(ctx, specs)
	if err != nil {
		return row, nil, err
	}
	g.Go()
	row.StartNs = since(start)
	for _, f := range theirs { // the workers have their own copies
		f.Close()
	}
	theirs = nil
	members := make([]string, p.Workers)
	for i, pid := range g.Pids() {
		members[i] = "pid " + strconv.Itoa(pid)
	}
	e := newExecutor(ctx, members, func(i int, f *future) error {
		c := conns[i]
		if err := c.SetDeadline(time.Now().Add(time.Minute)); err != nil {
			return err
		}
		var req [16]byte
		binary.LittleEndian.PutUint64(req[0:], f.lo)
		binary.LittleEndian.PutUint64(req[8:], f.hi)
		if err := sockets.WriteFrame(c, req[:], 16); err != nil {
			return err
		}
		b, err := sockets.ReadFrame(c, 8)
		if err != nil {
			return err
		}
		if len(b) != 8 {
			return fmt.Errorf("answer of %d bytes, want 8", len(b))
		}
		f.count = binary.LittleEndian.Uint64(b)
		return nil
	})
	got, runErr := timeTasks(ctx, e, p, &row)
	e.shutdown()
	// EOF on its socket tells each worker to return.
	for _, c := range conns {
		c.Close()
	}
	conns = nil
	rs, err := g.Wait(ctx)
	if err := errors.Join(runErr, err); err != nil {
		return row, nil, err
	}
	total := 0
	for _, r := range rs {
		var n int
		if err := r.Decode(&n); err != nil {
			return row, nil, err
		}
		total += n
	}
	if total != p.Tasks+p.Empty {
		return row, nil, fmt.Errorf("the workers served %s, %d were submitted", plural.Count(total, "task", "tasks"), p.Tasks+p.Empty)
	}
	return row, got, nil
}

// poolWorker answers tasks on its socket until the parent closes it, and
// returns how many it served.
func poolWorker(ctx context.Context, c *worker.Child) (any, error) {
	f := c.File(0)
	if f == nil {
		return nil, errors.New("no socket")
	}
	conn, err := sockets.FileConn(f)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if err := c.Ready(ctx); err != nil {
		return nil, err
	}
	go func() {
		<-ctx.Done()
		conn.Close()
	}()
	served := 0
	for {
		req, err := sockets.ReadFrame(conn, 16)
		if errors.Is(err, io.EOF) {
			return served, nil
		}
		if err != nil {
			return nil, err
		}
		if len(req) != 16 {
			return nil, fmt.Errorf("task of %d bytes, want 16", len(req))
		}
		n := countPrimes(binary.LittleEndian.Uint64(req[0:]), binary.LittleEndian.Uint64(req[8:]))
		var ans [8]byte
		binary.LittleEndian.PutUint64(ans[:], n)
		if err := sockets.WriteFrame(conn, ans[:], 8); err != nil {
			return nil, err
		}
		served++
	}
}

func renderPool(w io.Writer, doc json.RawMessage) error {
	var r PoolResult
	if err := decodeDoc(doc, &r); err != nil {
		return err
	}
	fmt.Fprintf(w, "Each pool counted the primes of %s of %d numbers (%s here), then ran %s to measure the per-task overhead.\n\n",
		plural.Count(firstTasks(r.Pools), "range", "ranges"), r.Size, plural.Count(r.CPUs, "CPU", "CPUs"), plural.Count(firstEmpty(r.Pools), "empty task", "empty tasks"))
	rows := [][]string{}
	for _, p := range r.Pools {
		rows = append(rows, []string{p.Pool, strconv.Itoa(p.Workers), dur(p.StartNs), dur(p.ElapsedNs), dur(p.PerTaskNs),
			dur(p.OverheadNs), strconv.FormatUint(p.Primes, 10), yesNo(p.Correct), strconv.Itoa(p.OutOfOrder)})
	}
	table(w, []string{"POOL", "WORKERS", "START", "ALL TASKS", "PER TASK", "OVERHEAD/TASK", "PRIMES", "CORRECT", "DONE OUT OF ORDER"}, rows)
	fmt.Fprintln(w)
	for _, p := range r.Pools {
		keys := make([]string, 0, len(p.Served))
		for k := range p.Served {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s: %d", k, p.Served[k])
		}
		fmt.Fprint(w, wrap(fmt.Sprintf("Tasks per member (%s): %s", p.Pool, strings.Join(parts, ", ")), 78))
	}
	return nil
}

func firstTasks(p []PoolRow) int {
	if len(p) == 0 {
		return 0
	}
	return p[0].Tasks
}

func firstEmpty(p []PoolRow) int {
	if len(p) == 0 {
		return 0
	}
	return p[0].Empty
}
