package bench

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/ipcplay/ipcplay/ipc/ipctest"
)

// TestCompareFloor produces every ratio of issue 14's "done when", on two
// CPUs this process may use, measured alternately round after round (C
// first in odd rounds, Go first in even ones) and compared by medians:
//
//   - bench's floor (c2c_rtt_ns) against testdata/c2c.c, an independent C
//     cache-line ping-pong between two processes (target 0.6-1.6x);
//   - shm-spin 64 B pingpong p50 over the floor of the same run (<= 1.5x),
//     and the same C ring (shmring -m spin) over C's c2c, and Go over C;
//   - shm-adaptive 64 B pingpong p50 against shmring -m adaptive:N, the
//     same spin-then-futex ring in C (<= 1.25x), at two budgets: the
//     default, and one long enough (100000 polls) to outlast a wake-up. A
//     budget shorter than a cross-CPU wake-up but longer than a spinning
//     peer's answer is bistable: once one side sleeps, the other's wait
//     includes the wake-up and it sleeps too, and they stay there; which
//     state a run falls into is luck, so such rows vary run to run;
//   - shm stream 64 KiB with both ends on one CPU, C's MB/s over Go's
//     (<= 1.25x).
//
// It measures and reports; it asserts nothing about speed (timing has no
// place in pass/fail), so it runs only when asked:
//
//	IPCPLAY_COMPARE_C=1 go test -count=1 -run '^TestCompareFloor$' -v ./demos/bench
//	demos/bench/testdata/floor-compare.sh
//
// IPCPLAY_COMPARE_ROUNDS (default 7) sets the rounds, IPCPLAY_COMPARE_PAIR
// the two CPUs ("2,3"; default: the first two this process may use) and
// IPCPLAY_COMPARE_SPIN shm-adaptive's first budget (default DefaultSpin).
func TestCompareFloor(t *testing.T) {
	if os.Getenv("IPCPLAY_COMPARE_C") != "1" {
		t.Skip("set IPCPLAY_COMPARE_C=1 to compare with the C references (a measurement, not a test)")
	}
	c2c := ipctest.CompileC(t, "testdata/c2c.c")
	shmring := ipctest.CompileC(t, "testdata/shmring.c")
	rounds := envInt("IPCPLAY_COMPARE_ROUNDS", 7)
	spin := DefaultSpin
	if s, err := strconv.Atoi(os.Getenv("IPCPLAY_COMPARE_SPIN")); err == nil && s >= 0 {
		spin = s
	}
	cpus, err := allowedCPUs()
	if err != nil {
		t.Fatal(err)
	}
	if len(cpus) < 2 {
		t.Skipf("one CPU allowed (%v): the floor between two CPUs cannot be measured", cpus)
	}
	a, b := cpus[0], cpus[1]
	if s := os.Getenv("IPCPLAY_COMPARE_PAIR"); s != "" {
		if _, err := fmt.Sscanf(s, "%d,%d", &a, &b); err != nil || checkCPUs([]int{a, b}) != nil {
			t.Fatalf("IPCPLAY_COMPARE_PAIR=%q: want two allowed CPUs such as %d,%d", s, cpus[0], cpus[1])
		}
	}
	A, B := strconv.Itoa(a), strconv.Itoa(b)
	const count = 20000
	cRun := func(args ...string) map[string]float64 {
		t.Helper()
		out, err := exec.Command(args[0], args[1:]...).Output()
		if err != nil {
			t.Fatalf("%s: %v", strings.Join(args, " "), err)
		}
		kv := parseKV(string(out))
		if kv["bad"] != 0 {
			t.Fatalf("%s: %d messages out of sequence", strings.Join(args, " "), int(kv["bad"]))
		}
		return kv
	}
	e := newEngine(t)
	warm := int64(50 * time.Millisecond)
	const longSpin = 100000
	var goFloor, cC2C, cBatched, goSpin, cSpin, spinOverFloor, goAdapt, cAdapt, goLong, cLong, goStream, cStream []float64
	for r := range rounds {
		cSide := func() {
			kv := cRun(c2c, "100", "200", A, B)
			cC2C = append(cC2C, kv["c2c_rtt_ns"])
			cBatched = append(cBatched, kv["batched_ns"])
			cSpin = append(cSpin, cRun(shmring, "-m", "spin", "pingpong", "64", strconv.Itoa(count), "2000", A, B)["p50_ns"])
			cAdapt = append(cAdapt, cRun(shmring, "-m", "adaptive:"+strconv.Itoa(spin), "pingpong", "64", strconv.Itoa(count), "2000", A, B)["p50_ns"])
			cLong = append(cLong, cRun(shmring, "-m", "adaptive:"+strconv.Itoa(longSpin), "pingpong", "64", strconv.Itoa(count), "2000", A, B)["p50_ns"])
			cStream = append(cStream, cRun(shmring, "stream", "65536", strconv.Itoa(count), "2000", A, A)["mb_per_sec"])
		}
		goSide := func() {
			res, _, err := runBench(t, e, Params{Transports: []string{"shm-spin", "shm-adaptive"}, Pattern: PingPong, Sizes: []int{64},
				Count: count, WarmupNs: &warm, CPUs: []int{a, b}, Spin: []int{spin, longSpin}})
			if err != nil || res.Floor == nil {
				t.Fatalf("go pingpong: %v (floor %v)", err, res)
			}
			goFloor = append(goFloor, float64(res.Floor.C2CRttNs))
			for _, row := range res.Results {
				switch row.Transport {
				case "shm-spin":
					goSpin = append(goSpin, float64(row.Latency.P50))
					spinOverFloor = append(spinOverFloor, float64(row.Latency.P50)/float64(res.Floor.C2CRttNs))
				case "shm-adaptive":
					if *row.Spin == longSpin {
						goLong = append(goLong, float64(row.Latency.P50))
					} else {
						goAdapt = append(goAdapt, float64(row.Latency.P50))
					}
				}
			}
			res, _, err = runBench(t, e, Params{Transports: []string{"shm"}, Pattern: Stream, Sizes: []int{64 << 10},
				Count: count, WarmupNs: &warm, CPUs: []int{a, a}})
			if err != nil {
				t.Fatalf("go stream: %v", err)
			}
			goStream = append(goStream, res.Results[0].MBPerS)
		}
		if r%2 == 0 {
			cSide()
			goSide()
		} else {
			goSide()
			cSide()
		}
	}
	verdict := func(v, lo, hi float64) string {
		if hi < 0 {
			return "-"
		}
		if v >= lo && v <= hi {
			return "met"
		}
		return "MISSED"
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "\nCPUs %d,%d; %d rounds, alternated; medians; shm-adaptive --spin %d\n", a, b, rounds, spin)
	fmt.Fprintf(tw, "ratio\tvalue\ttarget\t\tfrom (Go runs | C runs)\n")
	row := func(name string, v float64, target string, lo, hi float64, from string) {
		fmt.Fprintf(tw, "%s\t%.2f\t%s\t%s\t%s\n", name, v, target, verdict(v, lo, hi), from)
	}
	row("bench floor / C c2c", median(goFloor)/median(cC2C), "0.6-1.6", 0.6, 1.6, fmtVals(goFloor)+" | "+fmtVals(cC2C))
	row("bench floor / C c2c batched (no clock)", median(goFloor)/median(cBatched), "(info)", 0, -1, "| "+fmtVals(cBatched))
	row("Go shm-spin p50 / floor (same run)", median(spinOverFloor), "<= 1.5", 0, 1.5, fmtVals(goSpin))
	row("C shm-spin p50 / C c2c", median(cSpin)/median(cC2C), "(info)", 0, -1, fmtVals(cSpin))
	row("Go shm-spin / C shm-spin p50", median(goSpin)/median(cSpin), "(info)", 0, -1, "")
	row(fmt.Sprintf("Go / C shm-adaptive p50, spin %d", spin), median(goAdapt)/median(cAdapt), "<= 1.25", 0, 1.25, fmtVals(goAdapt)+" | "+fmtVals(cAdapt))
	row(fmt.Sprintf("Go / C shm-adaptive p50, spin %d", longSpin), median(goLong)/median(cLong), "<= 1.25", 0, 1.25, fmtVals(goLong)+" | "+fmtVals(cLong))
	row(fmt.Sprintf("shm stream 64K on CPU %d: C MB/s / Go MB/s", a), median(cStream)/median(goStream), "<= 1.25", 0, 1.25, fmtVals(goStream)+" | "+fmtVals(cStream))
	tw.Flush()
}
