package lab

import (
	"fmt"
	"strings"
)

// How each primitive came back after its holder died, or why it stayed
// stuck: the tour's narration names only what this run saw.
var (
	crashRecoveredBy = map[string]string{
		"sysv-sem-undo":       "the kernel undid the SEM_UNDO semaphore's -1",
		"flock":               "the kernel dropped the dead process's flock",
		"robust-futex":        "the kernel marked the robust futex FUTEX_OWNER_DIED",
		"futex-mutex-recover": "the recorded owner pid let the next locker notice the death",
	}
	crashStuckBecause = map[string]string{
		"sysv-sem-no-undo": "a semaphore without SEM_UNDO",
		"posix-sem":        "a POSIX semaphore",
		"futex-mutex":      "a futex word taken with a plain Lock",
	}
)

// NarrateCrash says which primitives recovered after the holder was
// killed and which stayed stuck, and why, for the tour. It follows the
// rows: a mechanism is named only for a primitive that recovered through
// it, and a row that did not come out as expected is said to be so.
func NarrateCrash(r *CrashResult) string {
	var rec, stuckRows, how, why, surprise []string
	for _, row := range r.Rows {
		if row.Happened == recovered {
			rec = append(rec, row.Primitive)
			if h, ok := crashRecoveredBy[row.Primitive]; ok && row.Matches {
				how = append(how, h)
			}
		} else {
			stuckRows = append(stuckRows, row.Primitive)
			if w, ok := crashStuckBecause[row.Primitive]; ok && row.Matches {
				why = append(why, w)
			}
		}
		if !row.Matches {
			surprise = append(surprise, fmt.Sprintf("%s (%s, expected %s)", row.Primitive, row.Happened, row.Expected))
		}
	}
	var b strings.Builder
	if len(rec) > 0 {
		fmt.Fprintf(&b, "Recovered after the holder died: %s", strings.Join(rec, ", "))
		if len(how) > 0 {
			fmt.Fprintf(&b, " — %s", joinAnd(how))
		}
		b.WriteString(". ")
	}
	if len(stuckRows) > 0 {
		fmt.Fprintf(&b, "Stuck: %s", strings.Join(stuckRows, ", "))
		if len(why) > 0 {
			fmt.Fprintf(&b, " — nothing records who holds %s, so nobody can give it back; the timeout, not a hang, is how ipcplay noticed", joinOr(why))
		}
		b.WriteString(".")
	}
	if len(surprise) > 0 {
		fmt.Fprintf(&b, " Not as explained: %s.", strings.Join(surprise, "; "))
	}
	return strings.TrimSpace(b.String())
}

// joinAnd joins "a", "b" and "c" as "a, b and c".
func joinAnd(s []string) string { return joinLast(s, " and ") }

// joinOr joins "a", "b" and "c" as "a, b or c".
func joinOr(s []string) string { return joinLast(s, " or ") }

func joinLast(s []string, last string) string {
	if len(s) <= 1 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + last + s[len(s)-1]
}
