package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/ipcplay/ipcplay/demos/bench"
	benchreport "github.com/ipcplay/ipcplay/demos/bench/report"
	"github.com/ipcplay/ipcplay/ipc"
)

var benchCommand = &cli.Command{
	Name:  "bench",
	Usage: "latency and throughput of every IPC transport, between two worker processes",
	UsageText: `ipcplay bench [--transport all|NAME,...] [--pattern pingpong|stream|both] [--size 64,4K,64K,1M]
       [--duration D | --count N] [--warmup D] [--repeat R] [--cpus A,B] [--sort METRIC]
       [--spin N,...] [--rate N] [--load cpu|cpu:N]
       [--csv] [--plot FILE.svg|FILE.png] [--histogram] [--html FILE] [--json]

Examples:
   ipcplay bench                                        every transport, 64 B to 64 KiB, both patterns (~40 s)
   ipcplay bench --transport all --size 64,4K,64K --pattern both --plot bench.svg
   ipcplay bench --transport shm,shm-spin,pipe --pattern pingpong --size 64 --cpus 0,1 --histogram
   ipcplay bench --transport unix-stream,tcp --pattern stream --size 64K,1M --count 20000 --repeat 5 --csv > out.csv
   ipcplay bench --transport shm-adaptive --pattern pingpong --size 64 --cpus 0,1 --spin 0,100,1000,10000
   ipcplay bench --transport shm,pipe --pattern pingpong --size 64 --rate 20000 --load cpu`,
	Description: `Each cell (transport x pattern x size) runs in two fresh worker processes, a sender
and a receiver. pingpong: the sender sends a message and waits for its echo; the
latency is the round trip. stream: the sender sends back to back and the receiver
acknowledges the end; the latency is one way, sampled, queueing included.
Transports:
` + bench.TransportHelp() + `Every message carries a sequence number and a CRC-32; the receiver counts lost,
corrupt and reordered messages, and any of them makes the command exit 1.
cpu/msg and ctx/msg are getrusage(2) of both workers around the measured loop:
a spinning transport burns CPU while it waits; the table shows what that bought.
A run judges its own numbers: a suspect floor, too few samples for a percentile
or a tail made by the scheduler is a warning under the table ("ok !").
Before the cells, bench measures the hardware's floor on the run's CPUs: one cache
line bounced between two processes pinned there (c2c), and memcpy at each size.
xFLOOR is p50 over it (pingpong: c2c + a copy each way; stream: c2c/2 + one copy);
the c2c is the least median of 10 short rounds.
--spin: shm-adaptive polls the ring this many times before it sleeps on the futex;
a list sweeps the budgets, one row each (latency against cpu/msg).
--rate N: open loop, N messages per second whatever the answers; latency from each
message's scheduled send time (coordinated omission corrected).
--load cpu|cpu:N: CPU hogs on the run's CPUs during the measurement.
--sort: auto (p50 for pingpong, MB/s for stream), msgs, mb, p50, p90, p99, p999,
mean, cpu, ctx. Sizes above a transport's limit (kernel.msgmax, fs.mqueue.msgsize_max,
net.core.wmem_max, the engine's --max-shm) are refused for a named transport and
skipped, with the reason, under --transport all.`,
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "transport", Aliases: []string{"t"}, Value: "all", Usage: "`NAMES` to measure: all, or a comma list of the transports above"},
		&cli.StringFlag{Name: "pattern", Aliases: []string{"p"}, Value: bench.Both, Usage: "`PATTERN`: pingpong (round-trip latency), stream (one-way throughput) or both"},
		&cli.StringFlag{Name: "size", Aliases: []string{"s"}, Value: "64,4K,64K", Usage: fmt.Sprintf("message `SIZES`, a comma list with units K, M (from %d bytes to %s)", bench.MinSize, bench.FormatSize(bench.MaxSize))},
		&cli.DurationFlag{Name: "duration", Aliases: []string{"d"}, Value: bench.DefaultDuration, Usage: fmt.Sprintf("length `D` of each measured run (%s to %s)", bench.MinDuration, bench.MaxDuration)},
		&cli.Int64Flag{Name: "count", Aliases: []string{"n"}, Usage: fmt.Sprintf("measure `N` messages (round trips for pingpong) per run instead of a duration (at most %d)", bench.MaxCount)},
		&cli.DurationFlag{Name: "warmup", Value: bench.DefaultWarmup, Usage: "unmeasured warm-up `D` before the runs of each cell (0: none)"},
		&cli.IntFlag{Name: "repeat", Aliases: []string{"r"}, Value: 1, Usage: fmt.Sprintf("measure each cell `R` times and show the median run and the spread (at most %d)", bench.MaxRepeat)},
		&cli.StringFlag{Name: "cpus", Usage: "pin the sender and the receiver to CPUs `A,B` (0,1: two CPUs; 0,0: one shared CPU)"},
		&cli.StringFlag{Name: "spin", Usage: fmt.Sprintf("shm-adaptive: poll `N` times before sleeping on the futex; a comma list sweeps (default %d)", bench.DefaultSpin)},
		&cli.Float64Flag{Name: "rate", Usage: fmt.Sprintf("open loop: send `N` messages per second (1 to %d), latency from each scheduled send time", bench.MaxRate)},
		&cli.StringFlag{Name: "load", Usage: "run CPU hogs on the run's CPUs while measuring: `cpu` (one per CPU) or cpu:N (N hogs)"},
		&cli.StringFlag{Name: "sort", Value: "auto", Usage: "sort each table by `METRIC` (see above)"},
		&cli.BoolFlag{Name: "csv", Usage: "print CSV instead of tables"},
		&cli.StringFlag{Name: "plot", Usage: "draw throughput and latency against message size into `FILE` (.svg or .png)"},
		&cli.BoolFlag{Name: "histogram", Usage: "print a histogram of the latencies under each table"},
		htmlFlag,
		&cli.StringFlag{Name: "fault", Hidden: true, Usage: "damage one message in a hundred on purpose: corrupt, drop or reorder (shows the checks work)"},
	},
	Action: benchAction,
}

// benchParams builds the experiment's parameters from the flags.
func benchParams(c *cli.Context) (bench.Params, error) {
	p := bench.Params{
		Pattern:   c.String("pattern"),
		Repeat:    c.Int("repeat"),
		Histogram: c.Bool("histogram"),
		Fault:     c.String("fault"),
	}
	for _, t := range strings.Split(c.String("transport"), ",") {
		if t = strings.TrimSpace(t); t != "" {
			p.Transports = append(p.Transports, t)
		}
	}
	if len(p.Transports) == 0 {
		return p, ipc.Usagef("--transport %q: give all or at least one of %s", c.String("transport"), strings.Join(bench.TransportNames(), ", "))
	}
	sizes, err := bench.ParseSizes(c.String("size"))
	if err != nil {
		return p, err
	}
	p.Sizes = sizes
	if c.IsSet("count") {
		if c.IsSet("duration") {
			return p, ipc.Usagef("--duration and --count: give one of them, not both")
		}
		p.Count = c.Int64("count")
		if p.Count <= 0 {
			return p, ipc.Usagef("--count %d: must be between 1 and %d", p.Count, bench.MaxCount)
		}
	} else {
		p.DurationNs = c.Duration("duration").Nanoseconds()
		if p.DurationNs <= 0 {
			return p, ipc.Usagef("--duration %s: must be between %s and %s", c.Duration("duration"), bench.MinDuration, bench.MaxDuration)
		}
	}
	warm := c.Duration("warmup").Nanoseconds()
	p.WarmupNs = &warm
	if c.IsSet("repeat") && p.Repeat <= 0 {
		return p, ipc.Usagef("--repeat %d: must be between 1 and %d", p.Repeat, bench.MaxRepeat)
	}
	if s := c.String("spin"); c.IsSet("spin") {
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				return p, ipc.Usagef("--spin %q: want polling budgets, a number or a comma list such as 0,100,1000,10000", s)
			}
			p.Spin = append(p.Spin, n)
		}
	}
	if c.IsSet("rate") {
		p.RatePerSec = c.Float64("rate")
		if err := bench.CheckRate(p.RatePerSec); err != nil {
			return p, err
		}
	}
	p.Load = c.String("load")
	if c.IsSet("load") && p.Load == "" {
		return p, ipc.Usagef("--load \"\": must be cpu (one CPU hog per CPU of the run) or cpu:N (N hogs)")
	}
	if s := c.String("cpus"); s != "" {
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				return p, ipc.Usagef("--cpus %q: want two CPU numbers, sender then receiver, such as 0,1", s)
			}
			p.CPUs = append(p.CPUs, n)
		}
	}
	return p, nil
}

func benchAction(c *cli.Context) error {
	if c.Args().Present() {
		return ipc.Usagef("bench: unexpected argument %q (see 'ipcplay bench --help')", c.Args().First())
	}
	p, err := benchParams(c)
	if err != nil {
		return err
	}
	if err := precheck(c, p, bench.Validate); err != nil {
		return err
	}
	sortBy, err := benchreport.ParseSort(c.String("sort"))
	if err != nil {
		return ipc.AsUsage(err)
	}
	jsonOut, csvOut := globalBool(c, "json"), c.Bool("csv")
	if jsonOut && csvOut {
		return ipc.Usagef("--csv and --json: choose one output format")
	}
	plotPath := c.String("plot")
	if plotPath != "" {
		if _, err := benchreport.PlotFormat(plotPath); err != nil {
			return ipc.AsUsage(err)
		}
		if plotPath, err = filepath.Abs(plotPath); err != nil {
			return ipc.Usagef("--plot %q: %v", c.String("plot"), err)
		}
		if st, err := os.Stat(filepath.Dir(plotPath)); err != nil || !st.IsDir() {
			return ipc.Usagef("--plot %s: the directory %s does not exist", c.String("plot"), filepath.Dir(plotPath))
		}
	}
	htmlFile, err := htmlPath(c)
	if err != nil {
		return err
	}
	color := !csvOut && outFile(c.App.Writer) == os.Stdout && term.IsTerminal(int(os.Stdout.Fd()))
	var got *bench.Result
	render := func(w io.Writer, res *ipc.RunResult) error {
		var r bench.Result
		if err := json.Unmarshal(res.Result, &r); err != nil {
			return fmt.Errorf("bench: result: %w", err)
		}
		got = &r
		if csvOut {
			return benchreport.CSV(w, &r)
		}
		if err := benchreport.Text(w, &r, benchreport.Options{Sort: sortBy, Color: color, Histogram: p.Histogram}); err != nil {
			return err
		}
		if plotPath != "" {
			fmt.Fprintf(w, "\nplot: %s\n", c.String("plot"))
		}
		return nil
	}
	var gotRes *ipc.RunResult
	run := func() error {
		var err error
		gotRes, err = runExperimentResult(c, bench.Experiment.Name, p, render)
		return err
	}
	withHTML := func(runErr error) error {
		return joinErr(runErr, writeHTML(c, htmlFile, "ipcplay bench", htmlRun{res: gotRes}))
	}
	if plotPath == "" {
		return withHTML(run())
	}
	if !jsonOut {
		runErr := run()
		if got == nil {
			return runErr
		}
		return withHTML(joinErr(runErr, benchreport.WritePlot(plotPath, got)))
	}
	// --json: the document passes through a buffer so that the plot can be
	// drawn from it; stdout gets the document alone.
	out := c.App.Writer
	var buf bytes.Buffer
	c.App.Writer = &buf
	runErr := run()
	c.App.Writer = out
	if buf.Len() == 0 {
		return runErr
	}
	runErr = withHTML(runErr)
	if _, err := out.Write(buf.Bytes()); err != nil {
		return joinErr(runErr, err)
	}
	var r bench.Result
	if err := json.Unmarshal(buf.Bytes(), &r); err != nil {
		return joinErr(runErr, fmt.Errorf("bench: result: %w", err))
	}
	return joinErr(runErr, benchreport.WritePlot(plotPath, &r))
}
