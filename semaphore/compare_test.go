package semaphore

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipcplay/ipcplay/ipc/ipctest"
)

// TestCompareC measures the uncontended operations in C (testdata/bench.c:
// glibc's semop, sem_wait/sem_post, a futex mutex doing what Mutex does,
// and a process-shared pthread mutex) and in Go (the same bodies as the
// benchmarks), and prints both and their ratio. Rounds alternate C and Go
// and the best of each is kept, which tames a noisy machine. It only runs
// with IPCPLAY_COMPARE_C=1: it takes about a minute and has no pass/fail
// threshold.
func TestCompareC(t *testing.T) {
	if os.Getenv("IPCPLAY_COMPARE_C") != "1" {
		t.Skip("set IPCPLAY_COMPARE_C=1 to compare with C")
	}
	bin := ipctest.CompileC(t, "testdata/bench.c", "-pthread")

	set, undoSet := newSet(t, 1), newSet(t, 1)
	for _, s := range []*Set{set, undoSet} {
		if err := s.SetVal(0, 1); err != nil {
			t.Fatal(err)
		}
	}
	named := newNamed(t, ".cmp", 1)
	unnamed, err := InitUnnamed(newSharedPage(t).mem, 1)
	if err != nil {
		t.Fatal(err)
	}
	mutex, err := InitMutex(newSharedPage(t).mem)
	if err != nil {
		t.Fatal(err)
	}
	goBench := []struct {
		c, what string
		fn      func(*testing.B)
	}{
		{"sysv_pv", "System V P+V (semtimedop)", func(b *testing.B) { benchSysVPV(b, set, context.Background(), false) }},
		{"sysv_pv_undo", "System V P+V with SEM_UNDO", func(b *testing.B) { benchSysVPV(b, undoSet, context.Background(), true) }},
		{"named_waitpost", "named Wait+Post (sem_wait+sem_post)", func(b *testing.B) { benchWaitPost(b, named) }},
		{"unnamed_waitpost", "unnamed Wait+Post (pshared sem_t)", func(b *testing.B) { benchWaitPost(b, unnamed) }},
		{"futex_lockunlock", "Mutex Lock+Unlock (same futex mutex in C)", func(b *testing.B) { benchLockUnlock(b, mutex) }},
		{"pthread_pshared", "Mutex Lock+Unlock vs pthread pshared mutex", nil},
	}

	const rounds = 3
	bestC, bestGo := map[string]float64{}, map[string]float64{}
	keep := func(m map[string]float64, k string, v float64) {
		if old, ok := m[k]; !ok || v < old {
			m[k] = v
		}
	}
	for r := range rounds {
		name := "/" + ipctest.Name(t, ".cbench"+strconv.Itoa(r))
		out, err := runWithTimeout(exec.Command(bin, "2000000", name), 2*time.Minute)
		UnlinkNamed(name) // bench.c unlinks it at once; this is for a crash
		if err != nil {
			t.Fatalf("bench.c: %v\n%s", err, out)
		}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			k, v, _ := strings.Cut(line, " ")
			ns, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("bench.c printed %q", line)
			}
			keep(bestC, k, ns)
		}
		for _, g := range goBench {
			if g.c == "pthread_pshared" { // the same Go figure as futex_lockunlock
				bestGo[g.c] = bestGo["futex_lockunlock"]
				continue
			}
			res := testing.Benchmark(g.fn)
			if res.N == 0 {
				t.Fatalf("Go benchmark %s failed", g.c)
			}
			keep(bestGo, g.c, float64(res.T.Nanoseconds())/float64(res.N))
		}
	}
	t.Logf("best of %d rounds, ns per pair (uncontended):", rounds)
	t.Logf("%-44s %10s %10s %7s", "operation", "C", "Go", "Go/C")
	for _, g := range goBench {
		c, gv := bestC[g.c], bestGo[g.c]
		if c == 0 {
			t.Errorf("bench.c printed no %s", g.c)
			continue
		}
		t.Logf("%-44s %10.1f %10.1f %7.2f", g.what, c, gv, gv/c)
	}
}
