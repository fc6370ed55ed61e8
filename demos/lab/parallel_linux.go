package lab

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ipcplay/ipcplay/ipc"
	"github.com/ipcplay/ipcplay/ipc/plural"
	"github.com/ipcplay/ipcplay/ipc/worker"
)

// ParallelismParams are the parallelism lab's parameters.
type ParallelismParams struct {
	Tasks   int           `json:"tasks"`    // CPU-bound tasks; 0: twice the CPUs
	Size    int           `json:"size"`     // numbers each CPU task checks
	IOTasks int           `json:"io_tasks"` // I/O-bound tasks
	IOWait  time.Duration `json:"io_wait_ns"`
	Trials  int           `json:"trials"` // CPU-bound runs per row; the fastest counts
}

// ParallelismRow is one way of running the tasks, in its own worker.
type ParallelismRow struct {
	Work       string  `json:"work"`       // "cpu" or "io"
	Goroutines int     `json:"goroutines"` // 1: one task after another
	GOMAXPROCS int     `json:"gomaxprocs"`
	CPUs       int     `json:"cpus"`       // CPUs the worker may run on
	PinnedTo   []int   `json:"pinned_to"`  // CPUs it was pinned to, if any
	Threads    int     `json:"threads"`    // OS threads of the worker at the end
	ElapsedNs  int64   `json:"elapsed_ns"` // wall-clock time
	CPUNs      int64   `json:"cpu_ns"`     // user+system CPU time of the work
	Speedup    float64 `json:"speedup"`    // the group's first row's elapsed / this one's
	CPUsUsed   float64 `json:"cpus_used"`  // CPUNs / ElapsedNs: CPUs kept busy on average
	// NotJudged: the row was not checked against Expected (the CPUs were
	// busy with other programs before the run, see the result's NotJudged).
	NotJudged bool   `json:"not_judged,omitempty"`
	Expected  string `json:"expected"` // in words
	Matches   bool   `json:"matches"`
	Label     string `json:"label"`
}

// ParallelismResult is the parallelism lab's document.
type ParallelismResult struct {
	Header
	CPUs     int              `json:"cpus"` // CPUs this run may use
	Tasks    int              `json:"tasks"`
	Size     int              `json:"size"`
	IOTasks  int              `json:"io_tasks"`
	IOWaitNs int64            `json:"io_wait_ns"`
	Trials   int              `json:"trials"`
	LoadAvg  string           `json:"load_avg"` // /proc/loadavg before the run: other programs' demand for CPUs
	Rows     []ParallelismRow `json:"rows"`
	// NotJudged says why the parallel row was not judged ("": it was).
	NotJudged string `json:"not_judged,omitempty"`
}

// parallelThreshold is the least speed-up, or the least CPUs kept busy on
// average, that shows CPU-bound goroutines ran in parallel; noGainBelow is
// the speed-up that goroutines sharing one CPU stay under.
const (
	parallelThreshold = 1.3
	noGainBelow       = 1.5
)

var parallelismLab = Info{
	Name:    "parallelism",
	Summary: "CPU-bound and I/O-bound work on 1 or N CPUs: when concurrency helps and when only parallelism does",
	Example: "ipcplay demo parallelism --tasks 4 --io-tasks 10 --io-wait 50ms",
	Flags: []Flag{
		{Name: "tasks", Usage: "CPU-bound tasks (0: twice the CPUs)", Default: 0},
		{Name: "size", Usage: "numbers each CPU-bound task checks for primality", Default: 300000},
		{Name: "io-tasks", Usage: "I/O-bound tasks (each one blocks in a system call)", Default: 10},
		{Name: "io-wait", Usage: "how long each I/O-bound task blocks", Default: 50 * time.Millisecond},
		{Name: "trials", Usage: "runs of each CPU-bound row; the fastest counts (other programs on the machine slow some runs down)", Default: 3},
	},
	Experiment: ipc.Experiment{Name: ExperimentPrefix + "parallelism", Validate: validateParallelism, Run: runParallelism},
}

type parallelSpec struct {
	Work       string        `json:"work"`
	Tasks      int           `json:"tasks"`
	Goroutines int           `json:"goroutines"`
	GOMAXPROCS int           `json:"gomaxprocs"` // 0: the default
	Size       int           `json:"size"`
	Wait       time.Duration `json:"wait_ns"`
	Trials     int           `json:"trials"`
}

type parallelOut struct {
	ElapsedNs  int64 `json:"elapsed_ns"`
	CPUNs      int64 `json:"cpu_ns"`
	GOMAXPROCS int   `json:"gomaxprocs"`
	CPUs       int   `json:"cpus"`
	Threads    int   `json:"threads"`
}

// primeBase is where every CPU task starts: all tasks do the same work.
const primeBase = 1000000

// primeSink keeps the results of the CPU tasks, so that no compiler may
// skip the work.
var primeSink atomic.Uint64

func init() {
	worker.Register("lab-parallel", parallelWorker)
	renderers["parallelism"] = renderParallelism
}

func parallelismParams(raw json.RawMessage) (ParallelismParams, error) {
	p := ParallelismParams{Size: 300000, IOTasks: 10, IOWait: 50 * time.Millisecond, Trials: 3}
	if err := decodeParams(raw, &p); err != nil {
		return p, err
	}
	if p.Tasks == 0 {
		p.Tasks = 2 * availableCPUs()
	}
	if err := checkInt("tasks", p.Tasks, 1, 1024); err != nil {
		return p, err
	}
	if err := checkInt("size", p.Size, 1, 100000000); err != nil {
		return p, err
	}
	if err := checkInt("io-tasks", p.IOTasks, 1, 10000); err != nil {
		return p, err
	}
	if err := checkInt("trials", p.Trials, 1, 100); err != nil {
		return p, err
	}
	return p, checkDur("io-wait", p.IOWait, time.Millisecond, 10*time.Second)
}

func validateParallelism(raw json.RawMessage, lim ipc.Limits) error {
	_, err := parallelismParams(raw)
	return err
}

// availableCPUs is the number of CPUs this process may run on.
func availableCPUs() int {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil || set.Count() == 0 {
		return runtime.NumCPU()
	}
	return set.Count()
}

// firstCPU is the lowest CPU this process may run on.
func firstCPU() int {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err == nil {
		for i := 0; i < len(set)*64; i++ {
			if set.IsSet(i) {
				return i
			}
		}
	}
	return 0
}

func runParallelism(ctx context.Context, env *ipc.Env, raw json.RawMessage) (any, error) {
	p, err := parallelismParams(raw)
	if err != nil {
		return nil, err
	}
	n := availableCPUs()
	best := min(n, p.Tasks)
	res := &ParallelismResult{
		Header: newHeader("parallelism", "Concurrency is having many tasks in progress; parallelism is running several at the same instant, which needs several CPUs. "+
			"CPU-bound goroutines go faster only with GOMAXPROCS > 1 and more than one CPU, at most by the number of CPUs ("+strconv.Itoa(n)+" here, so at most "+strconv.Itoa(best)+"× for these tasks); on one CPU they just take turns. "+
			"I/O-bound tasks spend their time blocked in the kernel, and Go runs a blocked system call on a thread of its own, so they overlap even with GOMAXPROCS=1 (as CPython threads do, since CPython releases its GIL while blocked). "+
			"Unlike CPython, Go has no global interpreter lock: its threads compute in parallel, and only the number of CPUs limits CPU-bound work."),
		CPUs: n, Tasks: p.Tasks, Size: p.Size, IOTasks: p.IOTasks, IOWaitNs: p.IOWait.Nanoseconds(), Trials: p.Trials,
		LoadAvg: loadAvg(),
	}
	cpu := firstCPU()
	type variant struct {
		label    string
		spec     parallelSpec
		pin      []int
		expected string
		ok       func(row *ParallelismRow) bool
		parallel bool // judged only when the CPUs were free
	}
	noGain := func(r *ParallelismRow) bool { return r.Speedup < noGainBelow }
	noGainWords := fmt.Sprintf("no gain (below %.1f×)", noGainBelow)
	parallelOK, parallelExpected, notJudged := parallelJudge(n, best, res.LoadAvg)
	res.NotJudged = notJudged
	busy := notJudged != ""
	ioBest := p.IOTasks
	variants := []variant{
		{"one after another", parallelSpec{Work: "cpu", Tasks: p.Tasks, Goroutines: 1, Size: p.Size, Trials: p.Trials}, nil, "baseline", nil, false},
		{"goroutines, GOMAXPROCS=1", parallelSpec{Work: "cpu", Tasks: p.Tasks, Goroutines: p.Tasks, GOMAXPROCS: 1, Size: p.Size, Trials: p.Trials}, nil,
			noGainWords + ": they take turns on one P", noGain, false},
		// GOMAXPROCS is set explicitly: left alone, the runtime lowers it to
		// 1 when it notices the new affinity, at a moment of its choosing.
		{"goroutines, GOMAXPROCS=" + strconv.Itoa(n) + ", pinned to one CPU", parallelSpec{Work: "cpu", Tasks: p.Tasks, Goroutines: p.Tasks, GOMAXPROCS: n, Size: p.Size, Trials: p.Trials}, []int{cpu},
			noGainWords + ": one CPU", noGain, false},
		{"goroutines, GOMAXPROCS=" + strconv.Itoa(n), parallelSpec{Work: "cpu", Tasks: p.Tasks, Goroutines: p.Tasks, GOMAXPROCS: n, Size: p.Size, Trials: p.Trials}, nil,
			parallelExpected, parallelOK, best >= 2},
		{"one after another", parallelSpec{Work: "io", Tasks: p.IOTasks, Goroutines: 1, Wait: p.IOWait}, nil, "baseline", nil, false},
		{"goroutines, GOMAXPROCS=1", parallelSpec{Work: "io", Tasks: p.IOTasks, Goroutines: p.IOTasks, GOMAXPROCS: 1, Wait: p.IOWait}, nil,
			ioExpected(ioBest), func(r *ParallelismRow) bool { return ioBest < 2 || r.Speedup >= float64(ioBest)/2 }, false},
	}
	var problems []string
	var baseline int64
	for i, v := range variants {
		env.Progress(int64(i), int64(len(variants)), v.spec.Work+" "+v.label)
		pctx, cancel := phase(ctx, time.Minute+time.Duration(p.IOTasks)*p.IOWait)
		idle0, idleOK := idleNs()
		start := time.Now()
		rs, err := env.RunWorkers(pctx, []worker.Spec{{Kind: "lab-parallel", Name: v.spec.Work, Spec: v.spec, CPUs: v.pin}})
		wall := time.Since(start)
		idle1, idleOK1 := idleNs()
		cancel()
		if err != nil {
			return res, fmt.Errorf("demo parallelism: %s: %w", workWords(v.spec.Work, v.label), err)
		}
		var out parallelOut
		if err := rs[0].Decode(&out); err != nil {
			return res, err
		}
		row := ParallelismRow{Work: v.spec.Work, Label: v.label, Goroutines: v.spec.Goroutines, GOMAXPROCS: out.GOMAXPROCS,
			CPUs: out.CPUs, PinnedTo: v.pin, Threads: out.Threads, ElapsedNs: out.ElapsedNs, CPUNs: out.CPUNs, Expected: v.expected, Matches: true}
		if v.ok == nil {
			baseline = out.ElapsedNs
		}
		if out.ElapsedNs > 0 {
			row.Speedup = float64(baseline) / float64(out.ElapsedNs)
			row.CPUsUsed = float64(out.CPUNs) / float64(out.ElapsedNs)
		}
		if v.parallel && !busy && !v.ok(&row) && idleOK && idleOK1 && wall > 0 {
			// Not in parallel: were the CPUs free to be had? The row kept
			// CPUsUsed busy; if that and the CPU time left idle together
			// stay under the threshold, other programs took the rest.
			free := max(0, float64(idle1-idle0)/float64(wall.Nanoseconds()))
			if row.CPUsUsed+free < parallelThreshold {
				busy = true
				res.NotJudged = fmt.Sprintf("parallel speed-up not judged: while it ran, the goroutines kept %.2f CPUs busy and %.2f were idle, so other programs had the rest of the %s", row.CPUsUsed, free, plural.Count(n, "CPU", "CPUs"))
			}
		}
		if v.parallel && busy {
			row.NotJudged = true
		} else if v.ok != nil && !v.ok(&row) {
			row.Matches = false
			problems = append(problems, fmt.Sprintf("%s work, %s: speed-up %.2f×, expected %s (are other programs using the CPUs? load average before the run: %s)",
				v.spec.Work, v.label, row.Speedup, v.expected, res.LoadAvg))
		}
		res.Rows = append(res.Rows, row)
	}
	env.Progress(int64(len(variants)), int64(len(variants)), "done")
	return res, res.verdict(problems)
}

// parallelJudge is how the row of CPU-bound goroutines on n CPUs is judged:
// its check, its expectation in words (the threshold stated), and why it is
// not judged ("" when it is). best is the most speed-up the tasks allow.
func parallelJudge(n, best int, loadAvg string) (ok func(*ParallelismRow) bool, expected, notJudged string) {
	if best < 2 {
		return func(r *ParallelismRow) bool { return r.Speedup < noGainBelow }, fmt.Sprintf("no gain (below %.1f×): one CPU", noGainBelow), ""
	}
	// Running in parallel shows in the CPU time as well as in the
	// speed-up: CPU time over elapsed time is how many CPUs the goroutines
	// kept busy at once, which a short run or a CPU slowing down when both
	// its cores work does not lower as much as it lowers the speed-up.
	ok = func(r *ParallelismRow) bool {
		return r.Speedup >= parallelThreshold || r.CPUsUsed >= parallelThreshold
	}
	expected = fmt.Sprintf("≥%.1f× or ≥%.1f CPUs used (up to %d×, %s)", parallelThreshold, parallelThreshold, best, plural.Count(n, "CPU", "CPUs"))
	if loadBusy(loadAvg, n) {
		notJudged = fmt.Sprintf("parallel speed-up not judged: the load average before the run, %s, is at least the %s (other programs kept them busy, so the goroutines could not have them all)", strings.Fields(loadAvg)[0], plural.Count(n, "CPU", "CPUs"))
	}
	return ok, expected, notJudged
}

// ioExpected is the I/O-bound row's expectation with its threshold: half
// of the most the waits can overlap.
func ioExpected(tasks int) string {
	if tasks < 2 {
		return "no gain: one task"
	}
	return fmt.Sprintf("≥%s (up to %d×): the waits overlap", strconv.FormatFloat(float64(tasks)/2, 'f', -1, 64)+"×", tasks)
}

func parallelWorker(ctx context.Context, c *worker.Child) (any, error) {
	var s parallelSpec
	if err := c.Spec(&s); err != nil {
		return nil, err
	}
	if s.GOMAXPROCS > 0 {
		runtime.GOMAXPROCS(s.GOMAXPROCS)
	}
	if err := c.Ready(ctx); err != nil {
		return nil, err
	}
	task := func() error {
		if s.Work == "io" {
			return blockFor(ctx, s.Wait)
		}
		primeSink.Add(countPrimes(primeBase, primeBase+uint64(s.Size)))
		return ctx.Err()
	}
	var best parallelOut
	for trial := 0; trial < max(1, s.Trials); trial++ {
		cpu0 := cpuTime()
		start := time.Now()
		if err := runTasks(s, task); err != nil {
			return nil, err
		}
		elapsed, cpu := since(start), cpuTime()-cpu0
		if trial == 0 || elapsed < best.ElapsedNs {
			best.ElapsedNs, best.CPUNs = elapsed, cpu
		}
	}
	best.GOMAXPROCS, best.CPUs, best.Threads = runtime.GOMAXPROCS(0), availableCPUs(), threadCount()
	return best, nil
}

// runTasks runs s.Tasks tasks, one after another or each in a goroutine.
func runTasks(s parallelSpec, task func() error) error {
	if s.Goroutines <= 1 {
		for i := 0; i < s.Tasks; i++ {
			if err := task(); err != nil {
				return err
			}
		}
		return nil
	}
	var wg sync.WaitGroup
	errs := make([]error, s.Tasks)
	for i := 0; i < s.Tasks; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = task()
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// blockFor blocks this goroutine's thread in the kernel for d
// (nanosleep(2)), as a blocking read would: the Go scheduler hands the
// goroutine's P to another thread meanwhile.
func blockFor(ctx context.Context, d time.Duration) error {
	ts := unix.NsecToTimespec(d.Nanoseconds())
	for {
		var left unix.Timespec
		err := unix.Nanosleep(&ts, &left)
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EINTR) {
			return os.NewSyscallError("nanosleep", err)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		ts = left
	}
}

// cpuTime is this process's user+system CPU time so far.
func cpuTime() int64 {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return unix.TimevalToNsec(ru.Utime) + unix.TimevalToNsec(ru.Stime)
}

// loadAvg is the first three fields of /proc/loadavg: how many tasks
// wanted a CPU, on average over 1, 5 and 15 minutes.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// threadCount is the number of OS threads of this process.
func threadCount() int {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Threads:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return 0
}

func renderParallelism(w io.Writer, doc json.RawMessage) error {
	var r ParallelismResult
	if err := decodeDoc(doc, &r); err != nil {
		return err
	}
	fmt.Fprintf(w, "CPU-bound: %s, each counting the primes among %d numbers (the fastest of %s). I/O-bound: %s, each blocked %s in a system call. This run may use %s (load average %s).\n\n",
		plural.Count(r.Tasks, "task", "tasks"), r.Size, plural.Count(r.Trials, "run", "runs"), plural.Count(r.IOTasks, "task", "tasks"), dur(r.IOWaitNs), plural.Count(r.CPUs, "CPU", "CPUs"), r.LoadAvg)
	rows := [][]string{}
	for _, row := range r.Rows {
		cpus := strconv.Itoa(row.CPUs)
		if len(row.PinnedTo) > 0 {
			cpus += fmt.Sprintf(" (pinned to %v)", row.PinnedTo)
		}
		matches := yesNo(row.Matches)
		switch {
		case row.Expected == "baseline":
			matches = ""
		case row.NotJudged:
			matches = "not judged"
		}
		rows = append(rows, []string{row.Work, row.Label, strconv.Itoa(row.GOMAXPROCS), cpus, strconv.Itoa(row.Threads),
			dur(row.ElapsedNs), dur(row.CPUNs), fmt.Sprintf("%.2f", row.CPUsUsed), fmt.Sprintf("%.2f×", row.Speedup), row.Expected, matches})
	}
	table(w, []string{"WORK", "HOW", "GOMAXPROCS", "CPUS", "THREADS", "ELAPSED", "CPU TIME", "CPUS USED", "SPEED-UP", "EXPECTED", "MATCHES"}, rows)
	fmt.Fprintln(w, "(CPUS USED: CPU time over elapsed time, how many CPUs the row kept busy on average)")
	if r.NotJudged != "" {
		fmt.Fprintf(w, "(%s)\n", r.NotJudged)
	}
	return nil
}
