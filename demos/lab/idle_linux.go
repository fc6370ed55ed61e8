package lab

import (
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// userHZ is the unit of /proc/stat's times (USER_HZ, 100 on every Linux
// architecture Go supports; proc(5)).
const userHZ = 100

// idleNs is how long the CPUs this process may run on have been idle
// (the idle field of /proc/stat; not iowait, which proc(5) says may
// decrease), in nanoseconds since boot; ok is
// false when /proc/stat cannot be read. Two readings around a row say how
// much CPU time was free while it ran: what other programs took is what
// the row could not have.
func idleNs() (ns int64, ok bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	var set unix.CPUSet
	haveSet := unix.SchedGetaffinity(0, &set) == nil && set.Count() > 0
	var ticks int64
	found := false
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || !strings.HasPrefix(f[0], "cpu") || f[0] == "cpu" {
			continue
		}
		cpu, err := strconv.Atoi(strings.TrimPrefix(f[0], "cpu"))
		if err != nil || haveSet && !set.IsSet(cpu) {
			continue
		}
		idle, err := strconv.ParseInt(f[4], 10, 64)
		if err != nil {
			return 0, false
		}
		ticks += idle
		found = true
	}
	return ticks * (1e9 / userHZ), found
}
