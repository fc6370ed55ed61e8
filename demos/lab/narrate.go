package lab

import (
	"fmt"
	"strings"
)

// NarrateCrash says which primitives recovered after the holder was
// killed and which stayed stuck, and why, for the tour.
func NarrateCrash(r *CrashResult) string {
	var rec, stuck []string
	for _, row := range r.Rows {
		if row.Happened == "recovered" {
			rec = append(rec, row.Primitive)
		} else {
			stuck = append(stuck, row.Primitive)
		}
	}
	var b strings.Builder
	if len(rec) > 0 {
		fmt.Fprintf(&b, "Recovered after the holder died: %s — the kernel undoes a SEM_UNDO semaphore, drops a dead process's flock and marks a robust futex FUTEX_OWNER_DIED, and a recorded owner pid lets the next locker notice the death. ", strings.Join(rec, ", "))
	}
	if len(stuck) > 0 {
		fmt.Fprintf(&b, "Stuck: %s — nothing records who holds a plain semaphore or futex, so nobody can give it back; the timeout, not a hang, is how ipcplay noticed.", strings.Join(stuck, ", "))
	}
	return b.String()
}
