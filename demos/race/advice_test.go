package race

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/ipcplay/ipcplay/ipc"
)

// pluralSlip finds a count of one with a plural noun ("1 increments",
// "1 worker processes"), as a new user found in the race's output.
var pluralSlip = regexp.MustCompile(`\b1 (increments|updates|witnesses|trials|threads|worker processes|CPUs|context switches|lost ones|tracks)\b`)

// A run of one worker, one increment, one CPU, one witness and one trial
// reads in the singular everywhere, and marks its witness timed or not.
func TestRenderOneOfEverything(t *testing.T) {
	one := ModeResult{Mode: ModeUnsafe, Unit: UnitProcess, Procs: 1, Iters: 1, Shm: "memfd", Expected: 1, Actual: 1,
		CPUs: []int{0, 1}, Trials: Trials{Count: 1}, Recorded: 1, WitnessesFound: 1, WitnessesTimed: 0, WitnessedLost: 1,
		Witnesses: []Witness{{Text: "P1 read 0 · P2 read 0 · P1 wrote 1 · P2 wrote 1 → one increment lost", Trial: 1}}, Lost: 1}
	var b bytes.Buffer
	if err := Render(&b, &Result{CPUs: 1, Results: []ModeResult{one}}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"race: 1 worker process × 1 increment,", "pinned to CPU 0,", "1 CPU available",
		"all its 1 increment (", "they prove 1 update lost in 1 witness, 0 timed and 1 untimed", "[untimed] P1 read 0", "[timed]: the clocks show"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if m := pluralSlip.FindString(out); m != "" {
		t.Errorf("%q in:\n%s", m, out)
	}
	threads := one
	threads.Unit, threads.Steps, threads.Schedule = UnitThread, nil, "P1,P1"
	b.Reset()
	_ = Render(&b, &Result{CPUs: 2, Results: []ModeResult{threads}})
	if out := b.String(); !strings.Contains(out, "race, scheduled: unsafe, 1 thread in one worker process × 1 increment") || pluralSlip.MatchString(out) {
		t.Errorf("scheduled, one thread:\n%s", out)
	}
	if got := Narrate(&Result{Results: []ModeResult{{Mode: ModeUnsafe, Lost: 1, Expected: 2, Actual: 1, Trials: Trials{Count: 1}}}}); !strings.Contains(got, "1 increment (0.0%) was lost") {
		t.Errorf("narration: %q", got)
	}
}

// Every piece of advice fits the run it is given for: one worker cannot
// lose an update, threads are T1, T2, a run that already yields is not
// told to yield, and the command offered to force the race is one the
// race accepts as it stands.
func TestAdviceFitsTheRun(t *testing.T) {
	if got := explanation(ModeUnsafe, UnitProcess, 0, 0, 0, &Params{Procs: 1}); !strings.Contains(got, "with one worker") || !strings.Contains(got, "--procs 2") || strings.Contains(got, "P1,P2") {
		t.Errorf("one worker: %q", got)
	}
	if got := explanation(ModeUnsafe, UnitProcess, 0, 0, 0, &Params{Procs: 1, Schedule: "P1,P1"}); !strings.Contains(got, "with one worker") {
		t.Errorf("one worker, scheduled: %q", got)
	}
	if got := explanation(ModeUnsafe, UnitProcess, 0, 0, 0, &Params{Procs: 2, Yield: true}); strings.Contains(got, "--yield") || !strings.Contains(got, "--window 1us") {
		t.Errorf("already yielding: %q", got)
	}
	if got := explanation(ModeUnsafe, UnitProcess, 0, 50, 1, &Params{Procs: 2}); !strings.Contains(got, "1 context switch;") {
		t.Errorf("one context switch: %q", got)
	}
	_, pyErr := exec.LookPath("python3")
	cmdRe := regexp.MustCompile(`ipcplay race (.*)$`)
	for _, c := range []struct {
		mode, unit, lang, want string
	}{
		{ModeUnsafe, UnitProcess, LangGo, "--schedule P1,P2,P1,P2"},
		{ModeUnsafe, UnitThread, LangGo, "--unit thread --procs 2 --iters 1 --schedule T1,T2,T1,T2"},
		{ModeUnsafeGo, UnitThread, LangGo, "--schedule T1,T2,T1,T2"},
		{ModeUnsafe, UnitProcess, LangPython, "--lang python --procs 2"},
		{ModeUnsafe, UnitProcess, LangMixed, "--lang go,python --procs 2"},
		{ModeUnsafe, UnitThread, LangPython, "--unit thread --lang python"},
	} {
		for _, overlap := range []float64{0, 50} {
			got := explanation(c.mode, c.unit, 0, overlap, 3, &Params{Procs: 4, Iters: 100000, Lang: c.lang})
			m := cmdRe.FindStringSubmatch(got)
			if m == nil || !strings.Contains(m[1], c.want) {
				t.Errorf("%s %s %s: %q lacks %q", c.mode, c.unit, c.lang, got, c.want)
				continue
			}
			if c.lang != LangGo && pyErr != nil {
				continue // the check below finds the interpreter
			}
			if err := Validate(flagsToParams(t, m[1]), ipc.DefaultLimits()); err != nil {
				t.Errorf("%s %s %s: the advice %q is refused: %v", c.mode, c.unit, c.lang, m[0], err)
			}
		}
	}
}

// flagsToParams reads "--mode unsafe --procs 2 ..." as the CLI would.
func flagsToParams(t *testing.T, s string) json.RawMessage {
	t.Helper()
	f := strings.Fields(s)
	m := map[string]any{}
	for i := 0; i+1 < len(f); i += 2 {
		v := f[i+1]
		switch f[i] {
		case "--mode":
			m["modes"] = []string{v}
		case "--unit", "--lang", "--schedule":
			m[strings.TrimPrefix(f[i], "--")] = v
		case "--procs", "--iters":
			var n int64
			if err := json.Unmarshal([]byte(v), &n); err != nil {
				t.Fatalf("%s %s: %v", f[i], v, err)
			}
			m[strings.TrimPrefix(f[i], "--")] = n
		default:
			t.Fatalf("flag %s in %q", f[i], s)
		}
	}
	raw, _ := json.Marshal(m)
	return raw
}

// A replay or advice line carries what makes the run what it was: its
// workers' unit and language, the interpreter, the shared memory and
// SEM_UNDO (a replay of a Python witness once came back with Go workers).
func TestScheduleCommandKeepsTheRun(t *testing.T) {
	off := false
	p := &Params{Unit: UnitThread, Lang: LangPython, Python: "/opt/py", Shm: "sysv", Undo: &off}
	want := "ipcplay race --mode sysv-sem --unit thread --lang python --python /opt/py --shm sysv --undo=false --procs 2 --iters 1 --schedule T1,T2"
	if got := ScheduleCommand(ModeSysVSem, p, 2, 1, "T1,T2"); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	w := Witness{Mode: ModeUnsafe, Steps: []Step{{Label: "T2", Op: "read"}, {Label: "T1", Op: "read"}, {Label: "T2", Op: "wrote"}, {Label: "T1", Op: "wrote"}}}
	if got, want := replay(w, &Params{Unit: UnitThread, Lang: LangPython, Procs: 3, Shm: "memfd"}), "ipcplay race --mode unsafe --unit thread --lang python --procs 3 --iters 1 --schedule T2:load,T1:load,T2:store,T1:store"; got != want {
		t.Errorf("replay %s\nwant   %s", got, want)
	}
}
