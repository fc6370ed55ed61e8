package ipctest

import (
	"fmt"
	"math/bits"
	"syscall"
	"testing"
	"unsafe"
)

// AllowedCPUs returns the CPUs this process may run on, ascending: its
// sched_getaffinity(2) mask, which a cpuset, taskset or a container may
// have narrowed (CPU 0 need not be in it). Tests that pin must pick from
// these, never assume CPUs 0 and 1.
func AllowedCPUs(t testing.TB) []int {
	t.Helper()
	cpus, err := allowedCPUs()
	if err != nil {
		t.Fatalf("ipctest: %v", err)
	}
	return cpus
}

// CPUs returns the first n allowed CPUs, or skips the test, with the
// reason, when fewer are allowed.
func CPUs(t testing.TB, n int) []int {
	t.Helper()
	cpus := AllowedCPUs(t)
	if len(cpus) < n {
		t.Skipf("needs %d CPUs to pin to; this process may use only %v", n, cpus)
	}
	return cpus[:n]
}

func allowedCPUs() ([]int, error) {
	var mask [128]uint64 // 8192 CPUs, the kernel's CONFIG_NR_CPUS maximum
	_, _, errno := syscall.RawSyscall(syscall.SYS_SCHED_GETAFFINITY, 0, unsafe.Sizeof(mask), uintptr(unsafe.Pointer(&mask[0])))
	if errno != 0 {
		return nil, fmt.Errorf("sched_getaffinity: %w", errno)
	}
	var out []int
	for i, w := range mask {
		for w != 0 {
			b := bits.TrailingZeros64(w)
			out = append(out, i*64+b)
			w &^= 1 << b
		}
	}
	return out, nil
}
