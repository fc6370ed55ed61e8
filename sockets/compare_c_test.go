package sockets

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipcplay/ipcplay/ipc/ipctest"
)

// compareRuns is how many times each side of TestCompareC runs. The minimum
// and median are reported: on a shared or virtual machine single runs of the
// same C program vary several-fold with the wake-up latency of the moment,
// and the minimum is the undisturbed figure.
const compareRuns = 5

// TestCompareC compares the cross-process 64-byte round trip of Go
// (BenchmarkSocketpairRoundTripProcess) with testdata/pingpong.c, the same
// ping-pong in C. Timing only: it reports, it does not judge. Run with
//
//	IPCPLAY_COMPARE_C=1 go test -run TestCompareC -v ./sockets/
func TestCompareC(t *testing.T) {
	if os.Getenv("IPCPLAY_COMPARE_C") != "1" {
		t.Skip("timing comparison with C: set IPCPLAY_COMPARE_C=1 to run it")
	}
	bin := ipctest.CompileC(t, "testdata/pingpong.c")
	var c, raw, conn []float64
	// Interleave the three so that a burst of load hits them alike.
	for range compareRuns {
		c = append(c, runPingPongC(t, bin))
		raw = append(raw, benchProcessNs(t, false))
		conn = append(conn, benchProcessNs(t, true))
	}
	cMin, cMed := minMedian(c)
	t.Logf("64-byte round trip over a SOCK_STREAM socketpair, min / median of %d runs:", compareRuns)
	t.Logf("  C   fork, blocking read/write            %s", fmtNs(cMin, cMed))
	for _, v := range []struct {
		name string
		ns   []float64
	}{{"Go  re-exec, raw unix.Read/Write        ", raw}, {"Go  re-exec, net.Conn (netpoller)       ", conn}} {
		lo, med := minMedian(v.ns)
		t.Logf("  %s %s   Go/C %.2f / %.2f", v.name, fmtNs(lo, med), lo/cMin, med/cMed)
	}
}

func runPingPongC(t *testing.T, bin string) float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "50000", strconv.Itoa(benchMsg)).Output()
	if err != nil {
		t.Fatalf("%s: %v", bin, err)
	}
	ns, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		t.Fatalf("pingpong printed %q: %v", out, err)
	}
	return ns
}

func benchProcessNs(t *testing.T, conn bool) float64 {
	t.Helper()
	r := testing.Benchmark(func(b *testing.B) { benchProcess(b, conn) })
	if r.N == 0 {
		t.Fatal("benchmark failed")
	}
	return float64(r.T.Nanoseconds()) / float64(r.N)
}

func minMedian(xs []float64) (lo, med float64) {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[0], s[len(s)/2]
}

func fmtNs(lo, med float64) string { return fmt.Sprintf("%7.0f / %7.0f ns", lo, med) }
