package race

import (
	"strings"
	"testing"
)

// An unsafe mode that lost nothing never says so bare: the line gives the
// overlap behind it and how to get a race.
func TestExplanationOfNothingLost(t *testing.T) {
	p := &Params{}
	for _, c := range []struct {
		overlap float64
		want    []string
	}{
		{0.3, []string{"hardly ran at the same time", "0.3% of the run", "--schedule P1,P2,P1,P2", "not because the counter is safe"}},
		{40, []string{"40.0% of the run", "took turns on the CPUs", "12 context switches", "--schedule P1,P2,P1,P2"}},
	} {
		for _, mode := range []string{ModeUnsafe, ModeUnsafeGo} {
			got := explanation(mode, UnitProcess, 0, c.overlap, 12, p)
			for _, w := range c.want {
				if !strings.Contains(got, w) {
					t.Errorf("%s, overlap %v: %q lacks %q", mode, c.overlap, got, w)
				}
			}
		}
	}
	if got := explanation(ModeUnsafe, UnitThread, 0, 0, 0, &Params{Schedule: "P1"}); !strings.Contains(got, "the schedule let no other thread") {
		t.Errorf("scheduled: %q", got)
	}
	if got := explanation(ModeUnsafe, UnitProcess, 5, 0, 0, p); !strings.Contains(got, "overwritten") {
		t.Errorf("lossy: %q", got)
	}
}
