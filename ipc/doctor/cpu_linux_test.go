package doctor

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseCPUList(t *testing.T) {
	for in, want := range map[string][]int{"0": {0}, "0-3": {0, 1, 2, 3}, "0-1,4,6-7": {0, 1, 4, 6, 7}, "": nil, "x": nil, "3-1": nil} {
		if got := parseCPUList(in); !slices.Equal(got, want) {
			t.Errorf("parseCPUList(%q) = %v, want %v", in, got, want)
		}
	}
}

// fakeSysCPU lays out a /sys/devices/system/cpu with 4 CPUs: SMT pairs
// 0,2 and 1,3, two L3 groups 0,2 and 1,3.
func fakeSysCPU(t *testing.T, driver string) string {
	t.Helper()
	root := t.TempDir()
	write := func(rel, v string) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("online", "0-3")
	for c, sib := range []string{"0,2", "1,3", "0,2", "1,3"} {
		d := "cpu" + string(rune('0'+c))
		write(d+"/topology/thread_siblings_list", sib)
		write(d+"/cache/index0/level", "1")
		write(d+"/cache/index0/type", "Data")
		write(d+"/cache/index0/shared_cpu_list", sib)
		write(d+"/cache/index3/level", "3")
		write(d+"/cache/index3/type", "Unified")
		write(d+"/cache/index3/size", "32768K")
		write(d+"/cache/index3/shared_cpu_list", sib)
	}
	if driver != "" {
		write("cpuidle/current_driver", driver)
		write("cpuidle/current_governor", "menu")
		write("cpu0/cpuidle/state0/name", "POLL")
		write("cpu0/cpuidle/state0/latency", "0")
		write("cpu0/cpuidle/state1/name", "C1")
		write("cpu0/cpuidle/state1/latency", "2")
	}
	return root
}

func TestCPUTopologyAndIdle(t *testing.T) {
	root := fakeSysCPU(t, "haltpoll")
	c := cpuTopology(root)
	for _, want := range []string{"4 CPUs online (0-3)", "SMT siblings", "0,2 1,3", "L3 32768K"} {
		if !strings.Contains(c.Detail, want) {
			t.Errorf("topology %q lacks %q", c.Detail, want)
		}
	}
	if c.Advice == "" {
		t.Errorf("two cache groups and no advice: %+v", c)
	}
	idle := cpuidleDriver(root)
	if !strings.Contains(idle.Detail, "driver haltpoll, governor menu") || !strings.Contains(idle.Detail, "C1 (exit 2µs)") || !strings.Contains(idle.Advice, "VM") {
		t.Errorf("cpuidle: %+v", idle)
	}
	if none := cpuidleDriver(fakeSysCPU(t, "")); !strings.Contains(none.Detail, "no cpuidle driver") {
		t.Errorf("no driver: %+v", none)
	}
	if bad := cpuTopology(t.TempDir()); !strings.Contains(bad.Detail, "unknown") {
		t.Errorf("empty sysfs: %+v", bad)
	}
	// The real machine: whatever it has, two info lines.
	for _, c := range cpuChecks() {
		if c.Status != Info || c.Detail == "" {
			t.Errorf("%+v", c)
		}
	}
}
