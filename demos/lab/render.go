package lab

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// renderers print each lab's document; filled by the lab files.
var renderers = map[string]func(w io.Writer, doc json.RawMessage) error{}

// Render prints a lab's JSON document (a run's result) as text: a title,
// the measured rows, the explanation and whether the lab behaved as it says.
func Render(w io.Writer, doc json.RawMessage) error {
	var h Header
	if err := json.Unmarshal(doc, &h); err != nil {
		return fmt.Errorf("demo result: %w", err)
	}
	r, ok := renderers[h.Lab]
	if !ok {
		return fmt.Errorf("demo result: unknown lab %q", h.Lab)
	}
	info, _ := Lookup(h.Lab)
	fmt.Fprintf(w, "demo %s: %s\n\n", h.Lab, info.Summary)
	if err := r(w, doc); err != nil {
		return err
	}
	fmt.Fprintln(w)
	fmt.Fprint(w, wrap("Why: "+h.Explanation, 78))
	switch {
	case h.Stopped != "":
		// The error itself follows on stderr.
		fmt.Fprintln(w, "Behaved as explained: not judged: the lab stopped before it finished, so the rows above are partial.")
	case h.OK:
		fmt.Fprintln(w, "Behaved as explained: yes.")
	default:
		fmt.Fprintln(w, "Behaved as explained: NO")
		for _, p := range h.Problems {
			fmt.Fprintf(w, "  - %s\n", p)
		}
	}
	return nil
}

// table prints rows under a header, aligned in columns.
func table(w io.Writer, header []string, rows [][]string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}

// dur formats nanoseconds for people: 850ns, 12.3µs, 4.56ms, 1.20s.
func dur(ns int64) string {
	d := time.Duration(ns)
	switch {
	case d < time.Microsecond:
		return fmt.Sprintf("%dns", ns)
	case d < time.Millisecond:
		return fmt.Sprintf("%.1fµs", float64(ns)/1e3)
	case d < time.Second:
		return fmt.Sprintf("%.2fms", float64(ns)/1e6)
	default:
		return fmt.Sprintf("%.2fs", float64(ns)/1e9)
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "NO"
}

// wrap breaks s into lines of at most width characters (words kept whole);
// continuation lines are indented by two spaces.
func wrap(s string, width int) string {
	var b strings.Builder
	line := 0
	for i, word := range strings.Fields(s) {
		if i > 0 && line+1+len([]rune(word)) > width {
			b.WriteString("\n  ")
			line = 2
		} else if i > 0 {
			b.WriteByte(' ')
			line++
		}
		b.WriteString(word)
		line += len([]rune(word))
	}
	b.WriteByte('\n')
	return b.String()
}

// decodeDoc unmarshals a lab's document for its renderer.
func decodeDoc(doc json.RawMessage, v any) error {
	if err := json.Unmarshal(doc, v); err != nil {
		return fmt.Errorf("demo result: %w", err)
	}
	return nil
}
