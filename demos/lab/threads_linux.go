package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ipcplay/ipcplay/ipc"
	"github.com/ipcplay/ipcplay/ipc/worker"
	"github.com/ipcplay/ipcplay/shm"
)

// ThreadsParams are the threads-vs-processes lab's parameters.
type ThreadsParams struct {
	Count   int `json:"count"`   // goroutines and OS threads created
	Procs   int `json:"procs"`   // processes (/bin/true) created
	Workers int `json:"workers"` // ipcplay workers started
}

// CreationRow is the cost of creating one kind of execution unit.
type CreationRow struct {
	Unit     string `json:"unit"`     // "goroutine", "os-thread", "process", "ipcplay-worker"
	Measured string `json:"measured"` // what one iteration does
	Count    int    `json:"count"`
	MeanNs   int64  `json:"mean_ns"`
	// Times the cost of a goroutine.
	VsGoroutine float64 `json:"vs_goroutine"`
	Note        string  `json:"note,omitempty"`
	Skipped     string  `json:"skipped,omitempty"`
}

// VisibilityRow says whether a write by one thread or process was seen by
// another.
type VisibilityRow struct {
	Writer    string `json:"writer"` // "thread" or "process"
	WriterPID int    `json:"writer_pid"`
	WriterTID int    `json:"writer_tid"`
	ReaderPID int    `json:"reader_pid"`
	ReaderTID int    `json:"reader_tid,omitempty"` // thread rows only
	Memory    string `json:"memory"`               // "variable" or "shared-memory"
	Address   string `json:"address"`              // where the writer wrote, in its own address space
	Written   int64  `json:"written"`
	Read      int64  `json:"read"` // what the reader found there afterwards
	Seen      bool   `json:"seen"`
	Expected  bool   `json:"expected_seen"`
	Matches   bool   `json:"matches"`
}

// ThreadsResult is the threads-vs-processes lab's document.
type ThreadsResult struct {
	Header
	Creation   []CreationRow   `json:"creation"`
	Visibility []VisibilityRow `json:"visibility"`
}

var threadsLab = Info{
	Name:    "threads-vs-processes",
	Summary: "what a goroutine, an OS thread and a process cost to create, and what they share",
	Example: "ipcplay demo threads-vs-processes --count 1000 --procs 20",
	Flags: []Flag{
		{Name: "count", Usage: "goroutines and OS threads to create (one after another)", Default: 1000},
		{Name: "procs", Usage: "processes (/bin/true) to create", Default: 20},
		{Name: "workers", Usage: "ipcplay worker processes to start", Default: 3},
	},
	Experiment: ipc.Experiment{Name: ExperimentPrefix + "threads-vs-processes", Validate: validateThreads, Run: runThreads},
}

// labVariable is an ordinary variable: a writer process sets it in its own
// copy; the engine process never writes it.
var labVariable int64

const visibilityValue = 42

type tvpCreateSpec struct {
	Count int `json:"count"`
	Procs int `json:"procs"`
}

type tvpWriteSpec struct {
	Region string `json:"region"`
	Offset int    `json:"offset"`
}

type tvpWritten struct {
	PID     int    `json:"pid"`
	TID     int    `json:"tid"`
	Address string `json:"address"`
}

func init() {
	worker.Register("lab-tvp-create", tvpCreate)
	worker.Register("lab-tvp-write", tvpWrite)
	worker.Register("lab-tvp-noop", func(ctx context.Context, c *worker.Child) (any, error) {
		return os.Getpid(), c.Ready(ctx)
	})
	renderers["threads-vs-processes"] = renderThreads
}

func threadsParams(raw json.RawMessage) (ThreadsParams, error) {
	p := ThreadsParams{Count: 1000, Procs: 20, Workers: 3}
	if err := decodeParams(raw, &p); err != nil {
		return p, err
	}
	if err := checkInt("count", p.Count, 1, 100000); err != nil {
		return p, err
	}
	if err := checkInt("procs", p.Procs, 1, 10000); err != nil {
		return p, err
	}
	return p, checkInt("workers", p.Workers, 1, 1000)
}

func validateThreads(raw json.RawMessage, lim ipc.Limits) error {
	_, err := threadsParams(raw)
	return err
}

func runThreads(ctx context.Context, env *ipc.Env, raw json.RawMessage) (any, error) {
	p, err := threadsParams(raw)
	if err != nil {
		return nil, err
	}
	res := &ThreadsResult{Header: newHeader("threads-vs-processes",
		"A goroutine is a few KiB of stack managed by the Go runtime; an OS thread is a kernel task (clone); a process is a new address space, and here a new program (exec) too. "+
			"Threads of one process share all its memory, so a write to an ordinary variable is seen by the other threads. "+
			"A process has its own copy of every variable, even at the same address; only memory mapped shared (here a memfd) is seen by both.")}

	// Creation costs, measured in a worker so that the engine's own threads
	// are left alone.
	env.Progress(0, 3, "creation costs")
	cctx, cancel := phase(ctx, 2*time.Minute)
	defer cancel()
	rs, err := env.RunWorkers(cctx, []worker.Spec{{Kind: "lab-tvp-create", Name: "creator", Spec: tvpCreateSpec{Count: p.Count, Procs: p.Procs}}})
	if err != nil {
		return nil, fmt.Errorf("demo threads-vs-processes: %w", err)
	}
	if err := rs[0].Decode(&res.Creation); err != nil {
		return nil, err
	}
	env.Progress(1, 3, "worker starts")
	var total int64
	for i := 0; i < p.Workers; i++ {
		start := time.Now()
		if _, err := env.RunWorkers(cctx, []worker.Spec{{Kind: "lab-tvp-noop", Name: "noop"}}); err != nil {
			return nil, fmt.Errorf("demo threads-vs-processes: %w", err)
		}
		total += since(start)
	}
	res.Creation = append(res.Creation, CreationRow{
		Unit: "ipcplay-worker", Count: p.Workers, MeanNs: total / int64(p.Workers),
		Measured: "fork+exec of this binary, Go runtime start, spec and ready handshake over a socket, exit, wait",
	})
	if g := res.Creation[0].MeanNs; g > 0 {
		for i := range res.Creation {
			res.Creation[i].VsGoroutine = float64(res.Creation[i].MeanNs) / float64(g)
		}
	}

	// Who sees a write.
	env.Progress(2, 3, "visibility")
	region, err := env.CreateRegion(shm.Spec{Kind: shm.Memfd, Size: 4096})
	if err != nil {
		return res, err
	}
	res.Visibility = append(res.Visibility, threadWrites(region)...)
	wctx, cancel2 := phase(ctx, time.Minute)
	defer cancel2()
	rs, err = env.RunWorkers(wctx, []worker.Spec{{Kind: "lab-tvp-write", Name: "writer", Files: []*os.File{region.File()},
		Spec: tvpWriteSpec{Region: region.HandleAt(worker.FileFD(0)), Offset: 64}}})
	if err != nil {
		return res, fmt.Errorf("demo threads-vs-processes: %w", err)
	}
	var wr tvpWritten
	if err := rs[0].Decode(&wr); err != nil {
		return res, err
	}
	res.Visibility = append(res.Visibility,
		VisibilityRow{Writer: "process", WriterPID: wr.PID, WriterTID: wr.TID, ReaderPID: os.Getpid(),
			Memory: "variable", Address: wr.Address + " (here: " + fmt.Sprintf("%p", &labVariable) + ")",
			Written: visibilityValue, Read: atomic.LoadInt64(&labVariable), Expected: false},
		VisibilityRow{Writer: "process", WriterPID: wr.PID, WriterTID: wr.TID, ReaderPID: os.Getpid(),
			Memory: "shared-memory", Address: "memfd offset 64",
			Written: visibilityValue, Read: int64(atomic.LoadUint64(region.Uint64(64))), Expected: true},
	)
	env.Progress(3, 3, "done")

	var problems []string
	for i := range res.Visibility {
		v := &res.Visibility[i]
		v.Seen = v.Read == v.Written
		v.Matches = v.Seen == v.Expected
		if !v.Matches {
			problems = append(problems, fmt.Sprintf("a %s's write to %s: seen %v, expected %v", v.Writer, v.Memory, v.Seen, v.Expected))
		}
	}
	// The costs are orders of magnitude apart; only a gross inversion
	// counts as a surprise.
	mean := map[string]int64{}
	for _, c := range res.Creation {
		if c.Skipped == "" {
			mean[c.Unit] = c.MeanNs
		}
	}
	if g, t := mean["goroutine"], mean["os-thread"]; g > 0 && t > 0 && g >= t {
		problems = append(problems, fmt.Sprintf("a goroutine (%s) did not cost less than an OS thread (%s)", dur(g), dur(t)))
	}
	if t, pr := mean["os-thread"], mean["process"]; t > 0 && pr > 0 && t >= pr {
		problems = append(problems, fmt.Sprintf("an OS thread (%s) did not cost less than a process (%s)", dur(t), dur(pr)))
	}
	return res, res.verdict(problems)
}

// threadWrites has another OS thread of this process write an ordinary
// variable and the shared region, and reads both from this thread.
func threadWrites(region *shm.Region) []VisibilityRow {
	runtime.LockOSThread() // so that the reader's thread id means something
	defer runtime.UnlockOSThread()
	var variable int64
	readerTID := unix.Gettid()
	done := make(chan int)
	go func() {
		// A locked goroutine never runs on the reader's thread, which is
		// locked to the reader.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		atomic.StoreInt64(&variable, visibilityValue)
		atomic.StoreUint64(region.Uint64(0), visibilityValue)
		done <- unix.Gettid()
	}()
	writerTID := <-done
	pid := os.Getpid()
	return []VisibilityRow{
		{Writer: "thread", WriterPID: pid, WriterTID: writerTID, ReaderPID: pid, ReaderTID: readerTID,
			Memory: "variable", Address: fmt.Sprintf("%p", &variable),
			Written: visibilityValue, Read: atomic.LoadInt64(&variable), Expected: true},
		{Writer: "thread", WriterPID: pid, WriterTID: writerTID, ReaderPID: pid, ReaderTID: readerTID,
			Memory: "shared-memory", Address: "memfd offset 0",
			Written: visibilityValue, Read: int64(atomic.LoadUint64(region.Uint64(0))), Expected: true},
	}
}

func tvpWrite(ctx context.Context, c *worker.Child) (any, error) {
	var s tvpWriteSpec
	if err := c.Spec(&s); err != nil {
		return nil, err
	}
	r, err := shm.Open(s.Region)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if err := c.Ready(ctx); err != nil {
		return nil, err
	}
	atomic.StoreInt64(&labVariable, visibilityValue)
	atomic.StoreUint64(r.Uint64(s.Offset), visibilityValue)
	return tvpWritten{PID: os.Getpid(), TID: unix.Gettid(), Address: fmt.Sprintf("%p", &labVariable)}, nil
}

func tvpCreate(ctx context.Context, c *worker.Child) (any, error) {
	var s tvpCreateSpec
	if err := c.Spec(&s); err != nil {
		return nil, err
	}
	if err := c.Ready(ctx); err != nil {
		return nil, err
	}
	var rows []CreationRow

	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < s.Count; i++ {
		if i%1000 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		wg.Add(1)
		go wg.Done()
		wg.Wait()
	}
	rows = append(rows, CreationRow{Unit: "goroutine", Count: s.Count, MeanNs: since(start) / int64(s.Count),
		Measured: "go f(); wait until it ran (sync.WaitGroup)"})

	// A goroutine that exits while locked to its OS thread takes the thread
	// with it, so the runtime must clone a new one for the next.
	tids := map[int]bool{}
	ch := make(chan int)
	start = time.Now()
	for i := 0; i < s.Count; i++ {
		if i%100 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		go func() {
			runtime.LockOSThread()
			ch <- unix.Gettid()
		}()
		tids[<-ch] = true
	}
	rows = append(rows, CreationRow{Unit: "os-thread", Count: s.Count, MeanNs: since(start) / int64(s.Count),
		Measured: "a goroutine locked to its OS thread runs and exits: the thread exits and the runtime clones a new one",
		Note:     strconv.Itoa(len(tids)) + " distinct thread ids seen"})

	row := CreationRow{Unit: "process", Count: s.Procs,
		Measured: "fork+exec of /bin/true, exit, wait (os/exec; Go forks with a vfork-style clone)"}
	if path, err := exec.LookPath("true"); err != nil {
		row.Skipped = "no 'true' program on PATH"
	} else {
		row.Measured = "fork+exec of " + path + ", exit, wait (os/exec; Go forks with a vfork-style clone)"
		start = time.Now()
		for i := 0; i < s.Procs; i++ {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if err := exec.CommandContext(ctx, path).Run(); err != nil {
				return nil, fmt.Errorf("run %s: %w", path, err)
			}
		}
		row.MeanNs = since(start) / int64(s.Procs)
	}
	return append(rows, row), nil
}

func renderThreads(w io.Writer, doc json.RawMessage) error {
	var r ThreadsResult
	if err := decodeDoc(doc, &r); err != nil {
		return err
	}
	fmt.Fprintln(w, "Creation cost (mean of one create + run + finish):")
	fmt.Fprintln(w)
	rows := [][]string{}
	for _, c := range r.Creation {
		if c.Skipped != "" {
			rows = append(rows, []string{c.Unit, "-", "skipped: " + c.Skipped, "", ""})
			continue
		}
		vs := fmt.Sprintf("%.0f×", c.VsGoroutine)
		if c.VsGoroutine < 10 {
			vs = fmt.Sprintf("%.1f×", c.VsGoroutine)
		}
		rows = append(rows, []string{c.Unit, strconv.Itoa(c.Count), dur(c.MeanNs), vs, c.Measured})
	}
	table(w, []string{"UNIT", "COUNT", "MEAN", "VS GOROUTINE", "ONE ITERATION"}, rows)
	for _, c := range r.Creation {
		if c.Note != "" {
			fmt.Fprintf(w, "(%s: %s)\n", c.Unit, c.Note)
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Who sees a write of 42:")
	fmt.Fprintln(w)
	rows = rows[:0]
	for _, v := range r.Visibility {
		reader := fmt.Sprintf("pid %d", v.ReaderPID)
		if v.ReaderTID != 0 {
			reader += fmt.Sprintf(", tid %d", v.ReaderTID)
		}
		rows = append(rows, []string{
			fmt.Sprintf("%s (pid %d, tid %d)", v.Writer, v.WriterPID, v.WriterTID),
			reader,
			v.Memory, v.Address, strconv.FormatInt(v.Read, 10), seenMark(v.Seen), yesNo(v.Matches),
		})
	}
	table(w, []string{"WRITER", "READER", "MEMORY", "ADDRESS", "READ", "SEEN", "AS EXPECTED"}, rows)
	return nil
}

func seenMark(seen bool) string {
	if seen {
		return "yes"
	}
	return "no (the writer changed its own copy)"
}
