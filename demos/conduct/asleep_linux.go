package conduct

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/ipcplay/ipcplay/ipc/sysobj"
)

// WaitAsleep waits until a thread of process pid is seen asleep in the
// kernel inside one of the system calls nrs with first argument arg0 (a
// descriptor; any when negative), twice in a row 1 ms apart, the rule the
// conductor uses for a blocked step: a thread only passing through the
// call is not taken for asleep. It returns that thread. It fails when
// limit passes or ctx ends first, when the process is gone, and at once
// when the kernel refuses to show the threads' system calls (ptrace access:
// then nothing can be said). A lab uses it to act only once its worker
// sleeps where the lab says, instead of sleeping and assuming.
func WaitAsleep(ctx context.Context, pid int, nrs []int, arg0 int64, limit time.Duration) (sysobj.Thread, error) {
	deadline := time.Now().Add(limit)
	seen := 0
	var last sysobj.Thread
	for {
		t, ok, err := sysobj.FindAsleep(pid, nrs, arg0)
		switch {
		case err != nil && errors.Is(err, fs.ErrNotExist):
			return t, fmt.Errorf("process %d ended before it was seen asleep in %s", pid, callNames(nrs))
		case err != nil && !ok:
			return t, fmt.Errorf("cannot see where process %d's threads sleep: %w", pid, err)
		case ok && (seen == 0 || t.TID == last.TID):
			seen++
			last = t
		default:
			seen = 0
		}
		if seen >= 2 {
			return last, nil
		}
		if time.Now().After(deadline) {
			return t, fmt.Errorf("process %d was not seen asleep in %s within %s", pid, callNames(nrs), limit)
		}
		select {
		case <-ctx.Done():
			return t, ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
}

func callNames(nrs []int) string {
	s := ""
	for i, nr := range nrs {
		if i > 0 {
			s += " or "
		}
		s += syscallName(nr)
	}
	return s
}
