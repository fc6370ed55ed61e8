package race

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/ipcplay/ipcplay/demos/conduct"
	"github.com/ipcplay/ipcplay/ipc"
)

// TestScheduleErrorsNameTheModesSteps: a bad --schedule names the mode's own
// steps and an example that the same run accepts, for every mode of either
// unit, one worker or two, one increment or more (an example with another
// mode's or lab's steps sends the student to a second refusal).
func TestScheduleErrorsNameTheModesSteps(t *testing.T) {
	for _, unit := range []string{UnitProcess, UnitThread} {
		for _, name := range Modes(unit) {
			m, ok := lookupMode(name)
			if !ok || len(m.stepNames()) == 0 {
				t.Fatalf("mode %s has no steps", name)
			}
			for _, procs := range []int{1, 2} {
				for _, iters := range []int64{1, 3} {
					p := func(spec string) json.RawMessage {
						b, _ := json.Marshal(Params{Modes: []string{name}, Unit: unit, Procs: procs, Iters: iters, Schedule: spec})
						return b
					}
					ex := conduct.Example(procs, m.stepNames()[0])
					if err := Validate(p(ex), ipc.DefaultLimits()); err != nil {
						t.Errorf("%s %s procs %d iters %d: the example %q is refused: %v", unit, name, procs, iters, ex, err)
					}
					err := Validate(p("P1:fly"), ipc.DefaultLimits())
					if !ipc.IsUsage(err) || !strings.Contains(err.Error(), "the steps are "+strings.Join(m.stepNames(), ", ")) || !strings.Contains(err.Error(), "e.g. "+ex) {
						t.Errorf("%s %s procs %d: %v, want the mode's steps and e.g. %s", unit, name, procs, err, ex)
					}
				}
			}
		}
	}
}
