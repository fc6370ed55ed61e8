package race

import "runtime"

// keepTwoPs gives the worker process a second P (GOMAXPROCS 2) when it has
// one, before the start line, for a mode whose lock blocks in the kernel
// through the runtime's system call path (flock LOCK_EX).
//
// A worker pinned to one CPU starts with GOMAXPROCS 1 (the runtime sizes
// it from the affinity mask). When its thread blocks in LOCK_EX, sysmon
// takes the P from it, and handoffp, finding no idle P and no spinning M,
// starts a spinning M (runtime/proc.go, "no local work, check that there
// are no spinning/idle M's"): a thread that wakes on the worker's one CPU,
// finds nothing to run and sleeps again, twice per blocked LOCK_EX. With
// a second, idle P, handoffp leaves the P idle instead. Measured on 2
// CPUs, flock at 2 x 100000 increments against testdata/race.c: Go/C 1.45
// with one P, 1.22 with two (medians of 9 interleaved runs). The call
// stops the world once, before the barrier, and fixes GOMAXPROCS for the
// run (the runtime no longer adjusts it), so nothing changes under the
// measurement.
func keepTwoPs() {
	if runtime.GOMAXPROCS(0) < 2 {
		runtime.GOMAXPROCS(2)
	}
}
