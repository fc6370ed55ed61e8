package race

import (
	"fmt"
	"strings"

	"github.com/ipcplay/ipcplay/ipc/plural"
)

// Narrate says in a few sentences what a race result showed, for the
// tour: lost updates of the unsafe mode, and what the slowest safe mode
// paid per increment. It claims only what the numbers show.
func Narrate(r *Result) string {
	var unsafe, slowest *ModeResult
	var b strings.Builder
	for i := range r.Results {
		m := &r.Results[i]
		if m.Mode == ModeUnsafe {
			unsafe = m
		} else if slowest == nil || m.NsPerOp > slowest.NsPerOp {
			slowest = m
		}
	}
	if unsafe != nil {
		if unsafe.Lost > 0 {
			if t := unsafe.Trials; t.Count > 1 {
				fmt.Fprintf(&b, "Updates were lost in %d of %s; in the median one the unsafe counter ended at %d instead of %d: %s (%.1f%%) lost. ", t.Lossy, plural.Count(t.Count, "trial", "trials"), unsafe.Actual, unsafe.Expected, plural.Count(unsafe.Lost, "increment", "increments"), unsafe.LostPct)
			} else {
				were := "were"
				if unsafe.Lost == 1 {
					were = "was"
				}
				fmt.Fprintf(&b, "The unsafe counter ended at %d instead of %d: %s (%.1f%%) %s lost. ", unsafe.Actual, unsafe.Expected, plural.Count(unsafe.Lost, "increment", "increments"), unsafe.LostPct, were)
			}
			b.WriteString("Each increment is a load and a separate store; when both processes load the same value, one store overwrites the other")
			if len(unsafe.Witnesses) > 0 {
				b.WriteString(" (the witness above is one such interleaving, rebuilt from the workers' own records)")
			}
			b.WriteString(". ")
		} else {
			b.WriteString("This time the unsafe counter lost nothing: the two processes rarely overlapped. Run 'ipcplay race --mode unsafe --yield' to widen the gap. ")
		}
	}
	if slowest != nil {
		fmt.Fprintf(&b, "The safe modes lost nothing; what safety costs is in ns/op: %s took %.0f ns per increment", slowest.Mode, slowest.NsPerOp)
		if unsafe != nil && unsafe.NsPerOp > 0 {
			fmt.Fprintf(&b, ", %.0f× the unsafe one", slowest.NsPerOp/unsafe.NsPerOp)
		}
		if slowest.CtxSwitchesPerOp >= 0.1 {
			fmt.Fprintf(&b, ", with %.2f context switches per increment (CTXSW/OP): a waiter sleeps in the kernel and the other CPU must wake it", slowest.CtxSwitchesPerOp)
		}
		b.WriteString(".")
	}
	return b.String()
}
