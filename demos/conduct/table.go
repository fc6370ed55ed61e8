package conduct

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// WriteTable writes rows as the step table: #, worker, step (with its real
// call, BLOCKED when it blocked), value read, value written, counter after
// (columns a lab without values or counter leaves out), who chose the
// step, and the note.
func WriteTable(w io.Writer, rows []Row, values bool) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if values {
		fmt.Fprintln(tw, "#\tWORKER\tSTEP\tREAD\tWROTE\tCOUNTER\tBY\tNOTE")
	} else {
		fmt.Fprintln(tw, "#\tWORKER\tSTEP\tBY\tNOTE")
	}
	val := func(v *uint64) string {
		if v == nil {
			return "-"
		}
		return fmt.Sprint(*v)
	}
	for _, s := range rows {
		step := s.Op
		if s.Call != "" {
			step += " (" + s.Call + ")"
		}
		if s.Blocked {
			step += " BLOCKED"
		}
		if values {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.N, s.Worker, step, val(s.Read), val(s.Wrote), val(s.Counter), s.By, s.Note)
		} else {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", s.N, s.Worker, step, s.By, s.Note)
		}
	}
	return tw.Flush()
}
