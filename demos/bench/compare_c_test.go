package bench

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/ipcplay/ipcplay/ipc/ipctest"
)

// TestCompareC runs the C references in testdata (pingpong.c: blocking
// read/write on a socketpair or pipes; shmring.c: the shm ring with futex
// wake-ups, and memcpy-bound streaming) and the same cells of ipcplay
// bench on this machine, interleaved, and prints the ratios. It measures;
// it asserts nothing about speed (timing has no place in pass/fail), so it
// only runs when asked:
//
//	IPCPLAY_COMPARE_C=1 go test -run TestCompareC -v ./demos/bench
//
// IPCPLAY_COMPARE_ROUNDS (default 5) sets the rounds per cell (the medians
// are compared, and the best rounds); IPCPLAY_COMPARE_CPUS a ;-list of
// pinnings ("none;0,1;0,0" by default on two or more CPUs). Unpinned, the
// scheduler sometimes puts both ends on one CPU (a wake-up costs a few
// microseconds) and sometimes not (tens on a VM): compare pinned rows.
func TestCompareC(t *testing.T) {
	if os.Getenv("IPCPLAY_COMPARE_C") != "1" {
		t.Skip("set IPCPLAY_COMPARE_C=1 to compare with the C references (a measurement, not a test)")
	}
	pingpong := ipctest.CompileC(t, "testdata/pingpong.c")
	shmring := ipctest.CompileC(t, "testdata/shmring.c")
	rounds := envInt("IPCPLAY_COMPARE_ROUNDS", 5)
	pinnings := []string{"none"}
	if allowed := ipctest.AllowedCPUs(t); len(allowed) >= 2 {
		a, b := allowed[0], allowed[1]
		pinnings = append(pinnings, fmt.Sprintf("%d,%d", a, b), fmt.Sprintf("%d,%d", a, a))
	}
	if s := os.Getenv("IPCPLAY_COMPARE_CPUS"); s != "" {
		pinnings = strings.Split(s, ";")
	}
	type cmp struct {
		transport, pattern string
		size               int
		count              int64
		cArgs              func(cpus []string) []string
	}
	cells := []cmp{
		{"unix-stream", PingPong, 64, 20000, func(c []string) []string {
			return append([]string{pingpong, "socketpair", "64", "20000", "2000"}, c...)
		}},
		{"pipe", PingPong, 64, 20000, func(c []string) []string { return append([]string{pingpong, "pipe", "64", "20000", "2000"}, c...) }},
		{"shm", PingPong, 64, 20000, func(c []string) []string { return append([]string{shmring, "pingpong", "64", "20000", "2000"}, c...) }},
		{"shm", Stream, 64 << 10, 20000, func(c []string) []string { return append([]string{shmring, "stream", "65536", "20000", "2000"}, c...) }},
	}
	e := newEngine(t)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "cpus\ttransport\tpattern\tsize\tmetric\tC median\tGo median\tratio\tC best\tGo best\tratio\tC runs\tGo runs\t\n")
	for _, pin := range pinnings {
		var cpus []int
		var cArgs []string
		if pin != "none" {
			for _, f := range strings.Split(pin, ",") {
				n, _ := strconv.Atoi(f)
				cpus = append(cpus, n)
			}
			cArgs = strings.Split(pin, ",")
		}
		for _, c := range cells {
			var cVals, goVals []float64
			for range rounds {
				args := c.cArgs(cArgs)
				out, err := exec.Command(args[0], args[1:]...).Output()
				if err != nil {
					t.Fatalf("%s: %v", strings.Join(args, " "), err)
				}
				kv := parseKV(string(out))
				warm := int64(50 * time.Millisecond)
				res, _, err := runBench(t, e, Params{Transports: []string{c.transport}, Pattern: c.pattern, Sizes: []int{c.size}, Count: c.count, WarmupNs: &warm, CPUs: cpus})
				if err != nil {
					t.Fatalf("go %s %s: %v", c.transport, c.pattern, err)
				}
				row := res.Results[0]
				if c.pattern == PingPong {
					cVals = append(cVals, kv["p50_ns"])
					goVals = append(goVals, float64(row.Latency.P50))
				} else {
					cVals = append(cVals, kv["mb_per_sec"])
					goVals = append(goVals, row.MBPerS)
				}
			}
			// Ratios are Go's cost over C's: latency Go/C, throughput C/Go.
			// "best" compares the best round of each, which another load
			// on the machine disturbs least.
			cm, gm := median(cVals), median(goVals)
			cb, gb := slices.Min(cVals), slices.Min(goVals)
			metric, ratio, bratio := "p50 round trip ns", gm/cm, gb/cb
			if c.pattern == Stream {
				cb, gb = slices.Max(cVals), slices.Max(goVals)
				metric, ratio, bratio = "MB/s", cm/gm, cb/gb
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.0f\t%.0f\t%.2f\t%.0f\t%.0f\t%.2f\t%s\t%s\t\n", pin, c.transport, c.pattern, FormatSize(c.size), metric, cm, gm, ratio, cb, gb, bratio, fmtVals(cVals), fmtVals(goVals))
		}
	}
	tw.Flush()
}

func parseKV(s string) map[string]float64 {
	kv := map[string]float64{}
	for _, f := range strings.Fields(s) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			continue
		}
		if x, err := strconv.ParseFloat(v, 64); err == nil {
			kv[k] = x
		}
	}
	return kv
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func fmtVals(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.FormatFloat(x, 'f', 0, 64)
	}
	return strings.Join(s, " ")
}

func envInt(k string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(k)); err == nil && n > 0 {
		return n
	}
	return def
}
