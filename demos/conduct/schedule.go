package conduct

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/ipcplay/ipcplay/ipc"
)

// MaxEntries bounds a schedule's entries.
const MaxEntries = 100_000

// Entry is one entry of a schedule.
type Entry struct {
	Worker int    `json:"worker"` // 0-based
	Step   string `json:"step"`   // the step the worker must be at; "" for any
}

// Schedule is a parsed --schedule.
type Schedule struct {
	Entries []Entry `json:"entries"`
	// Random: after Entries, a seeded random worker among those that can
	// move takes each next step (instead of the fixed order).
	Random bool   `json:"random,omitempty"`
	Seed   uint64 `json:"seed,omitempty"`
}

// Form is the shape of a schedule, for error messages.
const Form = "a comma list of P<n> (worker n takes its next step), P<n>:<step> (and it must be that step); it may end with random (with --seed N)"

// ParseSchedule parses spec for workers workers whose steps are named in
// steps, listed in the order of a worker's first steps (steps[0] is every
// worker's first step: the example in the errors relies on it). Errors are
// ipc.UsageErrors naming --schedule, the lab's own steps, the form and an
// example that the lab accepts.
func ParseSchedule(spec string, workers int, steps []string) (Schedule, error) {
	var s Schedule
	first := ""
	if len(steps) > 0 {
		first = steps[0]
	}
	bad := func(format string, a ...any) error {
		return ipc.Usagef("--schedule %q: %s; write %s, e.g. %s", spec, fmt.Sprintf(format, a...), Form, Example(workers, first))
	}
	if strings.TrimSpace(spec) == "" {
		return s, bad("empty")
	}
	parts := strings.Split(spec, ",")
	if len(parts) > MaxEntries {
		return s, bad("%d entries, at most %d", len(parts), MaxEntries)
	}
	for i, part := range parts {
		part = strings.TrimSpace(part)
		if strings.EqualFold(part, "random") {
			if i != len(parts)-1 {
				return s, bad("random must be the last entry")
			}
			s.Random = true
			continue
		}
		name, step, hasStep := strings.Cut(part, ":")
		if len(name) < 2 || (name[0] != 'P' && name[0] != 'p' && name[0] != 'T' && name[0] != 't') {
			return s, bad("%q is not a worker (P1 to P%d)", part, workers)
		}
		n, err := strconv.Atoi(name[1:])
		if err != nil || n < 1 || n > workers {
			return s, bad("%q: no such worker, there are P1 to P%d", name, workers)
		}
		e := Entry{Worker: n - 1}
		if hasStep {
			step = strings.ToLower(strings.TrimSpace(step))
			if !contains(steps, step) {
				return s, bad("%q: unknown step %q, the steps are %s", part, step, strings.Join(steps, ", "))
			}
			e.Step = step
		}
		s.Entries = append(s.Entries, e)
	}
	return s, nil
}

// Example is a schedule that every lab with workers workers whose first
// step is named first accepts: P1 names its first step, P2 takes its own.
// Nothing else is certain for every lab and its parameters (a worker may
// have a single step, a second step may block).
func Example(workers int, first string) string {
	ex := "P1"
	if first != "" {
		ex += ":" + first
	}
	if workers >= 2 {
		ex += ",P2"
	}
	return ex
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// CheckSchedule checks s against the workers' plans before anything is
// created: every entry must name a worker that still has a step, and the
// step it names must be the one that worker is at. The only schedule error
// it cannot see is naming a worker whose step is blocked, which depends on
// the run. label names worker i ("P1").
func CheckSchedule(spec string, s Schedule, plans []Plan, label func(int) string) error {
	first := ""
	if len(plans) > 0 {
		if d, ok := plans[0](0); ok {
			first = d.Name
		}
	}
	example := Example(len(plans), first)
	taken := make([]int, len(plans))
	for i, e := range s.Entries {
		k := taken[e.Worker]
		d, ok := plans[e.Worker](k)
		if !ok {
			return ipc.Usagef("--schedule %q: entry %d (%s): %s has finished after its %d steps (%s); write %s, e.g. %s", spec, i+1, label(e.Worker), label(e.Worker), k, planSteps(plans[e.Worker]), Form, example)
		}
		if e.Step != "" && e.Step != d.Name {
			return ipc.Usagef("--schedule %q: entry %d (%s:%s): %s is at step %d, %s, not %s (its steps: %s)", spec, i+1, label(e.Worker), e.Step, label(e.Worker), k+1, d.Name, e.Step, planSteps(plans[e.Worker]))
		}
		taken[e.Worker]++
	}
	return nil
}

// planSteps lists a plan's steps ("lock, lock, unlock, unlock"), the
// first 8 and "..." for a longer one.
func planSteps(p Plan) string {
	var names []string
	for k := 0; ; k++ {
		d, ok := p(k)
		if !ok {
			break
		}
		if k == 8 {
			names = append(names, "...")
			break
		}
		names = append(names, d.Name)
	}
	return strings.Join(names, ", ")
}

// String writes s back as a SPEC.
func (s Schedule) String() string {
	parts := make([]string, 0, len(s.Entries)+1)
	for _, e := range s.Entries {
		p := "P" + strconv.Itoa(e.Worker+1)
		if e.Step != "" {
			p += ":" + e.Step
		}
		parts = append(parts, p)
	}
	if s.Random {
		parts = append(parts, "random")
	}
	return strings.Join(parts, ",")
}
