package race

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ipcplay/ipcplay/ipc/ipctest"
)

// TestCompareC runs every process mode with 2 workers and the default
// iterations, in Go (the lab) and in C (testdata/race.c: the same loops,
// layout, start line and timing), several times interleaved, and prints
// the median ns/op of each and their ratio. It measures, it does not judge:
// set IPCPLAY_COMPARE_C=1 to run it.
//
//	IPCPLAY_COMPARE_C=1 go test -run TestCompareC -v ./demos/race/
//
// IPCPLAY_COMPARE_CPUS sets the CPU list (default the first two allowed CPUs:
// one worker per CPU, so that placement does not vary between runs; "-"
// for no pinning). IPCPLAY_COMPARE_ROUNDS sets the repetitions (default 5),
// IPCPLAY_COMPARE_MODES the modes (default: every process mode).
func TestCompareC(t *testing.T) {
	if os.Getenv("IPCPLAY_COMPARE_C") != "1" {
		t.Skip("set IPCPLAY_COMPARE_C=1 to compare with C")
	}
	bin := ipctest.CompileC(t, "testdata/race.c", "-pthread")
	cpus := "-"
	if allowed := ipctest.AllowedCPUs(t); len(allowed) >= 2 {
		cpus = fmt.Sprintf("%d,%d", allowed[0], allowed[1])
	}
	if s := os.Getenv("IPCPLAY_COMPARE_CPUS"); s != "" {
		cpus = s
	}
	rounds := 5
	if s := os.Getenv("IPCPLAY_COMPARE_ROUNDS"); s != "" {
		rounds, _ = strconv.Atoi(s)
	}
	var cpuList []int
	if cpus != "-" {
		var err error
		if cpuList, err = ParseCPUList(cpus); err != nil {
			t.Fatal(err)
		}
	}
	modes := Modes(UnitProcess)
	if s := os.Getenv("IPCPLAY_COMPARE_MODES"); s != "" {
		modes = strings.Split(s, ",")
	}
	const procs = 2
	iters := int64(DefaultIters)
	goNs, cNs := map[string][]float64{}, map[string][]float64{}
	goLost, cLost := map[string][]int64{}, map[string][]int64{}
	e := newEngine(t)
	lockFile := filepath.Join(t.TempDir(), "lock")
	for round := 0; round < rounds; round++ {
		res, err := runRace(t, e, Params{Modes: modes, Procs: procs, Iters: iters, CPUs: cpuList})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range res.Results {
			goNs[m.Mode] = append(goNs[m.Mode], m.NsPerOp)
			goLost[m.Mode] = append(goLost[m.Mode], m.Lost)
		}
		sem := "/" + ipctest.Name(t, fmt.Sprintf(".%d", round))
		args := append([]string{strconv.Itoa(procs), strconv.FormatInt(iters, 10), cpus, sem, lockFile}, modes...)
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", bin, args, err, out)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			f := strings.Fields(line)
			if len(f) != 3 {
				t.Fatalf("C output line %q", line)
			}
			ns, _ := strconv.ParseFloat(f[1], 64)
			lost, _ := strconv.ParseInt(f[2], 10, 64)
			cNs[f[0]] = append(cNs[f[0]], ns)
			cLost[f[0]] = append(cLost[f[0]], lost)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d processes × %d increments, CPUs %s, median of %d rounds (ns per increment, wall time / all increments)\n", procs, iters, cpus, rounds)
	fmt.Fprintf(&b, "%-18s %10s %10s %7s   %s\n", "mode", "Go ns/op", "C ns/op", "Go/C", "lost Go | C (per round)")
	for _, m := range modes {
		g, c := median(goNs[m]), median(cNs[m])
		fmt.Fprintf(&b, "%-18s %10.2f %10.2f %7.2f   %v | %v\n", m, g, c, g/c, goLost[m], cLost[m])
		if mi, _ := lookupMode(m); mi.safe && (slices.ContainsFunc(goLost[m], nonZero) || slices.ContainsFunc(cLost[m], nonZero)) {
			t.Errorf("%s lost updates: Go %v, C %v", m, goLost[m], cLost[m])
		}
	}
	t.Log("\n" + b.String())
}

func nonZero(v int64) bool { return v != 0 }

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}
