package lab

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ipcplay/ipcplay/ipc"
	"github.com/ipcplay/ipcplay/ipc/plural"
	"github.com/ipcplay/ipcplay/ipc/python"
	"github.com/ipcplay/ipcplay/ipc/worker"
)

// gilSource is the GIL lab's Python side, run after ipc/python's worker.py.
//
//go:embed python/gil.py
var gilSource string

// GILParams are the GIL lab's parameters.
type GILParams struct {
	Tasks   int           `json:"tasks"`    // CPU-bound tasks; 0: twice the CPUs
	Size    int           `json:"size"`     // numbers each CPU-bound task checks
	IOTasks int           `json:"io_tasks"` // I/O-bound tasks
	IOWait  time.Duration `json:"io_wait_ns"`
	Trials  int           `json:"trials"` // CPU-bound runs per row; the fastest counts
	Python  string        `json:"python"` // interpreter; "": python3 from PATH
}

// GILRow is one way of running one kind of task, by one runtime.
type GILRow struct {
	Interpreter string  `json:"interpreter"` // "CPython 3.11.7 (GIL on)", or "Go"
	Path        string  `json:"path,omitempty"`
	GILEnabled  *bool   `json:"gil_enabled,omitempty"` // Python rows
	Work        string  `json:"work"`                  // "cpu" or "io"
	How         string  `json:"how"`                   // serial, threads, processes, goroutines
	Label       string  `json:"label"`                 // as the course writes it
	Workers     int     `json:"workers"`               // threads, processes or goroutines at once
	ElapsedNs   int64   `json:"elapsed_ns"`
	CPUNs       int64   `json:"cpu_ns"`  // user+system CPU time, pool processes included
	Speedup     float64 `json:"speedup"` // the serial row's elapsed / this one's
	// CPUsUsed is CPU time over elapsed time: how many CPUs the row kept
	// busy on average. With the GIL on, Python threads cannot exceed
	// about 1, whatever the machine's load.
	CPUsUsed float64 `json:"cpus_used"`
	Expected string  `json:"expected"`
	// Judged: the row was checked against Expected. A speed-up is not
	// judged when other programs kept every CPU busy before the run
	// (load average at least the CPUs): nothing could run in parallel.
	Judged  bool `json:"judged"`
	Matches bool `json:"matches"`
}

// GILResult is the GIL lab's document.
type GILResult struct {
	Header
	// GILEnabled, PythonVersion and PythonPath describe the interpreter
	// the lab was asked for (python3 or --python); a free-threaded one
	// found in PATH adds rows of its own.
	GILEnabled    bool     `json:"gil_enabled"`
	PythonVersion string   `json:"python_version"`
	PythonPath    string   `json:"python_path"`
	Interpreters  []string `json:"interpreters"`
	CPUs          int      `json:"cpus"`
	Tasks         int      `json:"tasks"`
	Size          int      `json:"size"`
	IOTasks       int      `json:"io_tasks"`
	IOWaitNs      int64    `json:"io_wait_ns"`
	Trials        int      `json:"trials"`
	LoadAvg       string   `json:"load_avg"`
	// NotJudged says why the speed-ups were not judged ("": they were).
	NotJudged string   `json:"not_judged,omitempty"`
	Rows      []GILRow `json:"rows"`
}

var gilLab = Info{
	Name:    "gil",
	Summary: "Python's GIL measured: CPU-bound and I/O-bound tasks in threads, in processes, and in Go goroutines",
	Example: "ipcplay demo gil --tasks 4 --io-tasks 8",
	Flags: []Flag{
		{Name: "tasks", Usage: "CPU-bound tasks (0: twice the CPUs)", Default: 0},
		{Name: "size", Usage: "numbers each CPU-bound task checks for primality", Default: 60000},
		{Name: "io-tasks", Usage: "I/O-bound tasks (each one sleeps, releasing the GIL)", Default: 8},
		{Name: "io-wait", Usage: "how long each I/O-bound task sleeps", Default: 50 * time.Millisecond},
		{Name: "trials", Usage: "runs of each row, taking turns; the fastest counts", Default: 3},
		{Name: "python", Usage: "the Python interpreter (default: python3 from PATH); a free-threaded python3.13t/3.14t in PATH gets rows too", Default: ""},
	},
	Experiment: ipc.Experiment{Name: ExperimentPrefix + "gil", Validate: validateGIL, Run: runGIL},
}

func init() { renderers["gil"] = renderGIL }

func gilParams(raw json.RawMessage) (GILParams, *python.Interpreter, error) {
	p := GILParams{Size: 60000, IOTasks: 8, IOWait: 50 * time.Millisecond, Trials: 3}
	if err := decodeParams(raw, &p); err != nil {
		return p, nil, err
	}
	if p.Tasks == 0 {
		p.Tasks = 2 * availableCPUs()
	}
	for _, c := range []struct {
		flag      string
		v, lo, hi int
	}{{"tasks", p.Tasks, 1, 64}, {"size", p.Size, 1, 10000000}, {"io-tasks", p.IOTasks, 1, 64}, {"trials", p.Trials, 1, 20}} {
		if err := checkInt(c.flag, c.v, c.lo, c.hi); err != nil {
			return p, nil, err
		}
	}
	if err := checkDur("io-wait", p.IOWait, time.Millisecond, 10*time.Second); err != nil {
		return p, nil, err
	}
	in, err := python.Find(context.Background(), p.Python)
	if err != nil {
		flag := "demo gil"
		if p.Python != "" {
			flag = "--python " + p.Python
		}
		return p, nil, ipc.Usagef("%s: %v", flag, err)
	}
	return p, in, nil
}

func validateGIL(raw json.RawMessage, lim ipc.Limits) error {
	_, _, err := gilParams(raw)
	return err
}

type gilOut struct {
	Rows []struct {
		Work      string `json:"work"`
		How       string `json:"how"`
		Workers   int    `json:"workers"`
		ElapsedNs int64  `json:"elapsed_ns"`
		CPUNs     int64  `json:"cpu_ns"`
		Checksum  uint64 `json:"checksum"`
	} `json:"rows"`
	PythonVersion string `json:"python_version"`
	GILEnabled    bool   `json:"gil_enabled"`
}

func runGIL(ctx context.Context, env *ipc.Env, raw json.RawMessage) (any, error) {
	p, in, err := gilParams(raw)
	if err != nil {
		return nil, err
	}
	n := availableCPUs()
	best := min(n, p.Tasks)
	res := &GILResult{
		Header: newHeader("gil", "CPython's global interpreter lock (GIL) lets one thread run Python bytecode at a time. "+
			"So CPU-bound work in a ThreadPoolExecutor takes turns and gains nothing, while a ProcessPoolExecutor runs one interpreter, with its own GIL, per CPU, "+
			"and gains up to the number of CPUs ("+strconv.Itoa(n)+" here, at most "+strconv.Itoa(best)+"× for these tasks), minus the cost of starting processes. "+
			"A thread blocked in a system call (a sleep, a read) releases the GIL, so I/O-bound work overlaps in threads as well as in processes. "+
			"A free-threaded build (python3.13t and later, GIL off) runs CPU-bound threads in parallel, as Go's goroutines do. "+
			"The GIL never made counter += 1 safe: it keeps each bytecode whole, not the load, add and store of one statement (see `ipcplay race --lang python --unit thread`)."),
		GILEnabled: in.GILEnabled, PythonVersion: in.Version, PythonPath: in.Path,
		CPUs: n, Tasks: p.Tasks, Size: p.Size, IOTasks: p.IOTasks, IOWaitNs: p.IOWait.Nanoseconds(), Trials: p.Trials, LoadAvg: loadAvg(),
	}
	interps := []*python.Interpreter{in}
	if p.Python == "" {
		for _, ft := range python.FreeThreadedInPath() {
			if fi, err := python.Find(ctx, ft); err == nil && fi.Executable != in.Executable {
				interps = append(interps, fi)
			}
		}
	}
	var problems []string
	busy := loadBusy(res.LoadAvg, n)
	if busy {
		res.NotJudged = fmt.Sprintf("speed-ups not judged: the load average before the run, %s, is at least the %s (other programs kept them busy, so nothing could run in parallel); the GIL's own evidence, CPUS USED by the threads, is judged", strings.Fields(res.LoadAvg)[0], plural.Count(n, "CPU", "CPUs"))
	}
	// check judges a row's speed-up; when the CPUs were busy it says so
	// instead (the GIL's own evidence, CPUs used, is judged by gilCheck).
	check := func(row *GILRow, ok bool) {
		if busy {
			row.Matches = true
			return
		}
		row.Judged, row.Matches = true, ok
		if !ok {
			problems = append(problems, fmt.Sprintf("%s, %s work, %s: speed-up %.2f×, expected %s (load average before the run: %s)",
				row.Interpreter, row.Work, row.Label, row.Speedup, row.Expected, res.LoadAvg))
		}
	}
	// gilCheck: with the GIL on, threads kept at most about one CPU busy;
	// more would mean their bytecode ran in parallel. Load only lowers it.
	gilCheck := func(row *GILRow) {
		row.Judged = true
		row.Matches = row.Speedup < 1.5 && row.CPUsUsed <= 1.3
		if !row.Matches {
			problems = append(problems, fmt.Sprintf("%s, %s work, %s: speed-up %.2f× using %.2f CPUs, expected no gain and at most one CPU: did the GIL not hold?",
				row.Interpreter, row.Work, row.Label, row.Speedup, row.CPUsUsed))
		}
	}
	// As in the parallelism lab: the threshold is stated, and CPUs kept
	// busy at once count as evidence of running in parallel.
	judge, parallelExpected, _ := parallelJudge(n, best, "")
	parallelOK := func(r *GILRow) bool { return judge(&ParallelismRow{Speedup: r.Speedup, CPUsUsed: r.CPUsUsed}) }
	ioOK := func(s float64) bool { return p.IOTasks < 2 || s >= 1.5 }
	ioExpected := "no gain: one task"
	if p.IOTasks >= 2 {
		ioExpected = fmt.Sprintf("≥1.5× (up to %d×): the waits overlap", p.IOTasks)
	}
	steps := int64(len(interps) + 3)
	threadsNs := map[string]int64{} // CPU-bound threads' elapsed, per interpreter
	for i, in := range interps {
		res.Interpreters = append(res.Interpreters, in.Label()+" "+in.Path)
		env.Progress(int64(i), steps, "python "+in.Path)
		spec := map[string]any{"tasks": p.Tasks, "size": p.Size, "base": primeBase, "io_tasks": p.IOTasks, "io_wait_ns": p.IOWait.Nanoseconds(), "trials": p.Trials}
		pctx, cancel := phase(ctx, 5*time.Minute)
		// The worker says which row it runs (gil.py), so that an error, a
		// run timeout above all, says what the lab was doing rather than
		// naming the interpreter's path.
		var mu sync.Mutex
		doing := "starting " + in.Label()
		rs, err := env.RunWorkersWatched(pctx, []worker.Spec{{Kind: "lab-gil-python", Name: "python", Spec: spec,
			Command: append([]string{in.Path}, python.Args("gil.py", "ipcplay-demo-gil")...), Stdin: []byte(python.Program(gilSource))}},
			func(_ string, data json.RawMessage) {
				var ev struct{ Work, How string }
				if json.Unmarshal(data, &ev) == nil && ev.Work != "" {
					mu.Lock()
					doing = in.Label() + ", " + gilDoing(ev.Work, ev.How, p)
					mu.Unlock()
				}
			})
		cancel()
		if err != nil {
			mu.Lock()
			defer mu.Unlock()
			return res, fmt.Errorf("demo gil: %s: %w", doing, err)
		}
		var out gilOut
		if err := rs[0].Decode(&out); err != nil {
			return res, fmt.Errorf("demo gil: %s: result: %w", in.Path, err)
		}
		gil := out.GILEnabled
		label := fmt.Sprintf("CPython %s (GIL %s)", out.PythonVersion, map[bool]string{true: "on", false: "off"}[gil])
		base := map[string]int64{}
		sums := map[string]uint64{}
		for _, r := range out.Rows {
			row := GILRow{Interpreter: label, Path: in.Path, GILEnabled: &gil, Work: r.Work, How: r.How, Workers: r.Workers,
				ElapsedNs: r.ElapsedNs, CPUNs: r.CPUNs, Matches: true}
			if s, ok := sums[r.Work]; ok && s != r.Checksum {
				return res, fmt.Errorf("demo gil: %s: %s %s counted %d primes, serial counted %d", in.Path, r.Work, r.How, r.Checksum, s)
			}
			sums[r.Work] = r.Checksum
			switch r.How {
			case "serial":
				row.Label, row.Expected = "one after another", "baseline"
				base[r.Work] = r.ElapsedNs
			case "threads":
				row.Label = fmt.Sprintf("ThreadPoolExecutor(%d)", r.Workers)
			case "processes":
				row.Label = fmt.Sprintf("ProcessPoolExecutor(%d)", r.Workers)
			}
			if r.ElapsedNs > 0 {
				row.Speedup = float64(base[r.Work]) / float64(r.ElapsedNs)
				row.CPUsUsed = float64(r.CPUNs) / float64(r.ElapsedNs)
			}
			switch {
			case r.How == "serial":
			case r.Work == "io":
				row.Expected = ioExpected
				check(&row, ioOK(row.Speedup))
			case r.How == "threads" && gil:
				row.Expected = "no gain, one CPU at a time: the GIL runs one thread's bytecode at a time"
				gilCheck(&row)
			case r.How == "processes" && gil && best >= 2:
				// Judged against the threads, measured in turn with it:
				// the shape the lab explains, whatever else loads the CPUs.
				row.Expected = parallelExpected + ", faster than the threads"
				check(&row, parallelOK(&row) || row.ElapsedNs > 0 && float64(threadsNs[in.Path])/float64(row.ElapsedNs) >= parallelThreshold)
			default: // processes on one CPU, or threads without a GIL
				row.Expected = parallelExpected
				check(&row, parallelOK(&row))
			}
			if r.Work == "cpu" && r.How == "threads" {
				threadsNs[in.Path] = r.ElapsedNs
			}
			res.Rows = append(res.Rows, row)
		}
	}
	// Go, for comparison: the same primes in goroutines (the parallelism
	// lab's worker), no interpreter lock.
	goRuns := []struct {
		spec     parallelSpec
		label    string
		expected string
		ok       func(*GILRow) bool
	}{
		{parallelSpec{Work: "cpu", Tasks: p.Tasks, Goroutines: 1, Size: p.Size, Trials: p.Trials}, "one after another", "baseline", nil},
		{parallelSpec{Work: "cpu", Tasks: p.Tasks, Goroutines: p.Tasks, GOMAXPROCS: n, Size: p.Size, Trials: p.Trials},
			fmt.Sprintf("%d goroutines, GOMAXPROCS=%d", p.Tasks, n), parallelExpected, parallelOK},
		{parallelSpec{Work: "io", Tasks: p.IOTasks, Goroutines: 1, Wait: p.IOWait}, "one after another", "baseline", nil},
		{parallelSpec{Work: "io", Tasks: p.IOTasks, Goroutines: p.IOTasks, GOMAXPROCS: n, Wait: p.IOWait},
			fmt.Sprintf("%d goroutines", p.IOTasks), ioExpected, func(r *GILRow) bool { return ioOK(r.Speedup) }},
	}
	var base int64
	for i, g := range goRuns {
		env.Progress(int64(len(interps)+i/2), steps, "go "+g.spec.Work)
		pctx, cancel := phase(ctx, time.Minute+time.Duration(p.IOTasks)*p.IOWait)
		rs, err := env.RunWorkers(pctx, []worker.Spec{{Kind: "lab-parallel", Name: "go-" + g.spec.Work, Spec: g.spec}})
		cancel()
		if err != nil {
			return res, fmt.Errorf("demo gil: Go, %s: %w", workWords(g.spec.Work, g.label), err)
		}
		var out parallelOut
		if err := rs[0].Decode(&out); err != nil {
			return res, err
		}
		how := "goroutines"
		if g.ok == nil {
			how, base = "serial", out.ElapsedNs
		}
		row := GILRow{Interpreter: "Go " + runtime.Version(), Work: g.spec.Work, How: how, Label: g.label, Workers: g.spec.Goroutines,
			ElapsedNs: out.ElapsedNs, CPUNs: out.CPUNs, Expected: g.expected, Matches: true}
		if out.ElapsedNs > 0 {
			row.Speedup = float64(base) / float64(out.ElapsedNs)
			row.CPUsUsed = float64(out.CPUNs) / float64(out.ElapsedNs)
		}
		if g.ok != nil {
			check(&row, g.ok(&row))
		}
		res.Rows = append(res.Rows, row)
	}
	env.Progress(steps, steps, "done")
	return res, res.verdict(problems)
}

// gilDoing says in words what a row of gil.py runs: "CPU-bound tasks in
// threads (ThreadPoolExecutor(4))".
func gilDoing(work, how string, p GILParams) string {
	n := p.Tasks
	if work == "io" {
		n = p.IOTasks
	}
	switch how {
	case "threads":
		return workWords(work, fmt.Sprintf("in threads (ThreadPoolExecutor(%d))", n))
	case "processes":
		return workWords(work, fmt.Sprintf("in processes (ProcessPoolExecutor(%d))", n))
	}
	return workWords(work, "one after another")
}

// workWords names a row's work and how it runs: "CPU-bound tasks,
// goroutines, GOMAXPROCS=2".
func workWords(work, how string) string {
	w := "CPU-bound tasks"
	if work == "io" {
		w = "I/O-bound tasks"
	}
	if strings.HasPrefix(how, "in ") {
		return w + " " + how
	}
	return w + ", " + how
}

// loadBusy reports whether other programs kept every one of the n CPUs
// busy before the run: the first field of /proc/loadavg (runnable and
// uninterruptible tasks, averaged over a minute) is at least n.
func loadBusy(loadAvg string, n int) bool {
	f := strings.Fields(loadAvg)
	if len(f) == 0 {
		return false
	}
	l, err := strconv.ParseFloat(f[0], 64)
	return err == nil && l >= float64(n)
}

func renderGIL(w io.Writer, doc json.RawMessage) error {
	var r GILResult
	if err := decodeDoc(doc, &r); err != nil {
		return err
	}
	gil := "on"
	if !r.GILEnabled {
		gil = "off"
	}
	fmt.Fprintf(w, "Python: %s, version %s, GIL %s. CPU-bound: %s, each counting the primes among %d numbers (the fastest of %s). I/O-bound: %s, each sleeping %s. This run may use %s (load average %s).\n\n",
		r.PythonPath, r.PythonVersion, gil, plural.Count(r.Tasks, "task", "tasks"), r.Size, plural.Count(r.Trials, "run", "runs"), plural.Count(r.IOTasks, "task", "tasks"), dur(r.IOWaitNs), plural.Count(r.CPUs, "CPU", "CPUs"), r.LoadAvg)
	rows := [][]string{}
	for _, row := range r.Rows {
		matches := yesNo(row.Matches)
		switch {
		case row.Expected == "baseline":
			matches = ""
		case !row.Judged:
			matches = "not judged"
		}
		rows = append(rows, []string{row.Interpreter, row.Work, row.Label, dur(row.ElapsedNs), dur(row.CPUNs),
			fmt.Sprintf("%.2f", row.CPUsUsed), fmt.Sprintf("%.2f×", row.Speedup), row.Expected, matches})
	}
	table(w, []string{"RUNTIME", "WORK", "HOW", "ELAPSED", "CPU TIME", "CPUS USED", "SPEED-UP", "EXPECTED", "MATCHES"}, rows)
	fmt.Fprintln(w, "(CPUS USED: CPU time over elapsed time, how many CPUs the row kept busy on average)")
	if r.NotJudged != "" {
		fmt.Fprintf(w, "(%s)\n", r.NotJudged)
	}
	return nil
}
