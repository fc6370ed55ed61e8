package conduct

import (
	"strings"
	"testing"

	"github.com/ipcplay/ipcplay/ipc"
)

var raceSteps = []string{"load", "store"}

func TestParseSchedule(t *testing.T) {
	good := []struct {
		spec string
		want Schedule
	}{
		{"P1,P2,P1,P2", Schedule{Entries: []Entry{{0, ""}, {1, ""}, {0, ""}, {1, ""}}}},
		{"p1:LOAD, P2:store", Schedule{Entries: []Entry{{0, "load"}, {1, "store"}}}},
		{"T2", Schedule{Entries: []Entry{{1, ""}}}},
		{"random", Schedule{Random: true}},
		{"P1,random", Schedule{Entries: []Entry{{0, ""}}, Random: true}},
	}
	for _, c := range good {
		s, err := ParseSchedule(c.spec, 2, raceSteps)
		if err != nil {
			t.Errorf("%q: %v", c.spec, err)
			continue
		}
		if s.String() != c.want.String() || len(s.Entries) != len(c.want.Entries) || s.Random != c.want.Random {
			t.Errorf("%q: got %+v (%s), want %+v", c.spec, s, s, c.want)
		}
	}
	bad := []struct{ spec, says string }{
		{"", "empty"},
		{"P3", "no such worker"},
		{"P0", "no such worker"},
		{"P", "not a worker"},
		{"Q1", "not a worker"},
		{"P1:fly", `unknown step "fly"`},
		{"random,P1", "last entry"},
		{"P1,,P2", "not a worker"},
	}
	for _, c := range bad {
		_, err := ParseSchedule(c.spec, 2, raceSteps)
		if !ipc.IsUsage(err) || !strings.Contains(err.Error(), c.says) || !strings.Contains(err.Error(), "P<n>:<step>") {
			t.Errorf("%q: %v, want a usage error saying %q and the form", c.spec, err, c.says)
		}
	}
}

func repeatPlan(steps []string, n int) Plan {
	return func(k int) (StepDef, bool) {
		if k >= n*len(steps) {
			return StepDef{}, false
		}
		return StepDef{Name: steps[k%len(steps)]}, true
	}
}

func TestCheckSchedule(t *testing.T) {
	plans := []Plan{repeatPlan(raceSteps, 1), repeatPlan(raceSteps, 1)}
	label := func(i int) string { return []string{"P1", "P2"}[i] }
	for spec, says := range map[string]string{
		"P1,P2,P1,P2":                       "",
		"P1:load,P1:store,P2:load,P2:store": "",
		"P1:store":                          "P1 is at step 1, load, not store",
		"P1,P1,P1":                          "P1 has finished after its 2 steps",
		"P2,P2:load":                        "P2 is at step 2, store, not load",
	} {
		s, err := ParseSchedule(spec, 2, raceSteps)
		if err != nil {
			t.Fatal(err)
		}
		err = CheckSchedule(spec, s, plans, label)
		switch {
		case says == "" && err != nil:
			t.Errorf("%q: %v", spec, err)
		case says != "" && (!ipc.IsUsage(err) || !strings.Contains(err.Error(), says)):
			t.Errorf("%q: %v, want a usage error saying %q", spec, err, says)
		}
	}
}

func FuzzParseSchedule(f *testing.F) {
	for _, s := range []string{"P1,P2", "P1:load,random", "P9:store", ",", "random"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		s, err := ParseSchedule(spec, 3, raceSteps)
		if err != nil {
			if !ipc.IsUsage(err) {
				t.Fatalf("%q: not a usage error: %v", spec, err)
			}
			return
		}
		// What parsed prints back as a schedule that parses the same.
		again, err := ParseSchedule(s.String(), 3, raceSteps)
		if err != nil && s.String() != "" {
			t.Fatalf("%q -> %q: %v", spec, s.String(), err)
		}
		if err == nil && again.String() != s.String() {
			t.Fatalf("%q: %q then %q", spec, s.String(), again.String())
		}
	})
}
