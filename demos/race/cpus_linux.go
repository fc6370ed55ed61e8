package race

import (
	"golang.org/x/sys/unix"

	"github.com/ipcplay/ipcplay/ipc"
)

// maxCPU is the highest CPU number a unix.CPUSet holds.
const maxCPU = 1023

// checkCPUs refuses CPUs this process may not run on (offline, absent, or
// outside its affinity mask: a container's cpuset), before anything is
// created.
func checkCPUs(cpus []int) error {
	if len(cpus) == 0 {
		return nil
	}
	var allowed unix.CPUSet
	if err := unix.SchedGetaffinity(0, &allowed); err != nil {
		return ipc.Usagef("--cpus: cannot read this process's CPU affinity: %v", err)
	}
	for _, c := range cpus {
		if c < 0 || c > maxCPU || !allowed.IsSet(c) {
			return ipc.Usagef("--cpus %s: CPU %d is not available to this process (allowed: %s)", FormatCPUList(cpus), c, FormatCPUList(cpuList(&allowed)))
		}
	}
	return nil
}

// allowedCPUs lists the CPUs this process may run on.
func allowedCPUs() []int {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil
	}
	return cpuList(&set)
}

func cpuList(set *unix.CPUSet) []int {
	var out []int
	for c := 0; c <= maxCPU; c++ {
		if set.IsSet(c) {
			out = append(out, c)
		}
	}
	return out
}

// pinThread pins the calling OS thread to cpu. The caller holds
// runtime.LockOSThread.
func pinThread(cpu int) error {
	var set unix.CPUSet
	set.Set(cpu)
	return unix.SchedSetaffinity(0, &set)
}
