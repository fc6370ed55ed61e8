package race

import (
	"strings"
	"testing"
)

// TestExplanationFollowsEachWorkersLanguage: with --lang go,python the
// unsafe explanation names each worker with its own language, and never
// calls a Go worker's load and store Python bytecodes.
func TestExplanationFollowsEachWorkersLanguage(t *testing.T) {
	for _, tc := range []struct {
		lang    string
		procs   int
		want    []string
		notWant []string
	}{
		{LangMixed, 2, []string{"two machine instructions in Go (P1)", "two bytecodes on a memoryview in Python (P2)"}, []string{"in Python, two bytecodes"}},
		{LangMixed, 4, []string{"in Go (P1, P3)", "in Python (P2, P4)"}, nil},
		{LangPython, 2, []string{"in Python, two bytecodes on a memoryview"}, []string{"in Go"}},
	} {
		p := &Params{Lang: tc.lang, Procs: tc.procs}
		mr := &ModeResult{Mode: ModeUnsafe, Unit: UnitProcess, Explanation: "load and store are separate instructions; another process wrote between them"}
		(&runner{p: p}).annotate(mr)
		for _, w := range tc.want {
			if !strings.Contains(mr.Explanation, w) {
				t.Errorf("--lang %s --procs %d: explanation %q lacks %q", tc.lang, tc.procs, mr.Explanation, w)
			}
		}
		for _, w := range tc.notWant {
			if strings.Contains(mr.Explanation, w) {
				t.Errorf("--lang %s --procs %d: explanation %q says %q", tc.lang, tc.procs, mr.Explanation, w)
			}
		}
	}
}
