package doctor

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// cpuChecks reports what explains the cost of a cross-CPU wake-up, which
// every bench number pays: the CPU topology (SMT siblings share a core and
// its caches, so a cache line moves between them cheaply; CPUs of one
// last-level cache group move it through that cache; others through the
// interconnect or another socket) and the cpuidle driver (how deep an idle
// CPU sleeps, hence how long it takes to wake: haltpoll polls a while
// before halting a VM's vCPU). Sources: /sys/devices/system/cpu, see the
// kernel's Documentation/ABI/testing/sysfs-devices-system-cpu and
// Documentation/admin-guide/pm/cpuidle.rst.
func cpuChecks() []Check {
	return []Check{cpuTopology(sysCPU), cpuidleDriver(sysCPU)}
}

const sysCPU = "/sys/devices/system/cpu"

func readTrim(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// cpuTopology groups the online CPUs by SMT siblings and by shared
// last-level cache.
func cpuTopology(root string) Check {
	online := readTrim(filepath.Join(root, "online"))
	cpus := parseCPUList(online)
	if len(cpus) == 0 {
		return Check{Name: "cpu topology", Status: Info, Detail: "unknown: " + filepath.Join(root, "online") + " is unreadable"}
	}
	smt := map[string]bool{}
	llc := map[string]bool{}
	llcName := ""
	for _, c := range cpus {
		dir := filepath.Join(root, "cpu"+strconv.Itoa(c))
		if s := readTrim(filepath.Join(dir, "topology", "thread_siblings_list")); s != "" {
			smt[s] = true
		}
		// The last-level cache: the cache index with the highest level.
		best, bestList, bestSize := -1, "", ""
		idx, _ := filepath.Glob(filepath.Join(dir, "cache", "index*"))
		for _, ix := range idx {
			lvl, err := strconv.Atoi(readTrim(filepath.Join(ix, "level")))
			if err != nil || lvl < best {
				continue
			}
			if t := readTrim(filepath.Join(ix, "type")); t == "Instruction" {
				continue
			}
			best, bestList, bestSize = lvl, readTrim(filepath.Join(ix, "shared_cpu_list")), readTrim(filepath.Join(ix, "size"))
		}
		if bestList != "" {
			llc[bestList] = true
			llcName = fmt.Sprintf("L%d %s", best, bestSize)
		}
	}
	siblings := keys(smt)
	groups := keys(llc)
	shared := 0
	for _, s := range siblings {
		if len(parseCPUList(s)) > 1 {
			shared++
		}
	}
	detail := fmt.Sprintf("%d CPUs online (%s); ", len(cpus), online)
	if shared > 0 {
		detail += fmt.Sprintf("SMT siblings (one core, shared L1/L2): %s; ", strings.Join(siblings, " "))
	} else {
		detail += "no SMT siblings (each CPU its own core, as the kernel sees it); "
	}
	if len(groups) > 0 {
		detail += fmt.Sprintf("last-level cache (%s) groups: %s", llcName, strings.Join(groups, " "))
	} else {
		detail += "last-level cache groups: unknown"
	}
	c := Check{Name: "cpu topology", Status: Info, Detail: detail}
	if len(groups) > 1 {
		c.Advice = "CPUs in different cache groups hand a cache line over more slowly: pin bench with --cpus to two CPUs of one group for the lowest latency, of two groups to see the cost"
	}
	return c
}

// cpuidleDriver reports the cpuidle driver and governor.
func cpuidleDriver(root string) Check {
	drv := readTrim(filepath.Join(root, "cpuidle", "current_driver"))
	gov := readTrim(filepath.Join(root, "cpuidle", "current_governor"))
	if gov == "" {
		gov = readTrim(filepath.Join(root, "cpuidle", "current_governor_ro"))
	}
	if drv == "" || drv == "none" {
		return Check{Name: "cpuidle", Status: Info, Detail: "no cpuidle driver: an idle CPU halts (or the hypervisor decides); a wake-up pays the full exit from halt"}
	}
	var states []string
	st, _ := filepath.Glob(filepath.Join(root, "cpu0", "cpuidle", "state*"))
	sort.Strings(st)
	for _, s := range st {
		name := readTrim(filepath.Join(s, "name"))
		lat := readTrim(filepath.Join(s, "latency"))
		if name != "" {
			states = append(states, fmt.Sprintf("%s (exit %sµs)", name, lat))
		}
	}
	detail := fmt.Sprintf("driver %s, governor %s", drv, gov)
	if len(states) > 0 {
		detail += "; states: " + strings.Join(states, ", ")
	}
	c := Check{Name: "cpuidle", Status: Info, Detail: detail}
	switch drv {
	case "haltpoll":
		c.Advice = "a VM guest: an idle vCPU polls for a while (guest_halt_poll_ns) before it halts and leaves the CPU to the hypervisor; a wake-up after the halt costs a VM exit and entry, which is why futex wake-ups across CPUs cost tens of µs here"
	case "intel_idle", "acpi_idle":
		c.Advice = "deep C-states save power but take longer to leave: a sleeping end of a bench cell pays that exit latency on every wake-up"
	}
	return c
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := parseCPUList(out[i]), parseCPUList(out[j])
		if len(a) > 0 && len(b) > 0 && a[0] != b[0] {
			return a[0] < b[0]
		}
		return out[i] < out[j]
	})
	return out
}

// parseCPUList reads the kernel's CPU list format: "0-3,8,10-11".
func parseCPUList(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(f, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return nil
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a || b-a > 4096 {
				return nil
			}
		}
		for i := a; i <= b; i++ {
			out = append(out, i)
		}
	}
	return out
}
