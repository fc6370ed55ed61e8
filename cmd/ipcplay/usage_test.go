package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ipcplay/ipcplay/demos/lab"
)

// Package flag's messages, rewritten. If a Go release changes them, this
// fails (flagError would fall back to the raw text).
func TestFlagErrorsOfPackageFlag(t *testing.T) {
	flags := []cli.Flag{
		&cli.IntFlag{Name: "iters", Value: 100, Usage: "`M` increments per worker (at most 9)"},
		&cli.DurationFlag{Name: "timeout", Value: time.Second, Usage: "how long to wait"},
		&cli.BoolFlag{Name: "local", Usage: "run here"},
		&cli.GenericFlag{Name: "explain", Value: &explainFlag{}, Usage: "up to `K` witnesses"},
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--iters", "abc"}, `demo x: --iters "abc": not a whole number; --iters M: M increments per worker (at most 9), default 100`},
		{[]string{"-iters", "abc"}, `demo x: --iters "abc": not a whole number`},
		{[]string{"--iters", "99999999999999999999"}, `demo x: --iters "99999999999999999999": too large`},
		{[]string{"--iters"}, `demo x: --iters: needs a value; --iters M:`},
		{[]string{"--timeout", "soon"}, `demo x: --timeout "soon": not a duration: write a number with a unit (500ms, 2s, 1m30s); --timeout: how long to wait, default 1s`},
		{[]string{"--local=maybe"}, `demo x: --local "maybe": must be true or false; --local: run here`},
		{[]string{"--explain=-1"}, `demo x: --explain=-1: want a number of witnesses 1..1000; --explain K: up to K witnesses`},
		{[]string{"--explain=0"}, `demo x: --explain=0: want a number of witnesses 1..1000`},
		{[]string{"--explain", "-1"}, `demo x: -1: not a flag; a value of --explain is written joined: --explain=K, K a number of witnesses 1..1000`},
		{[]string{"--iter", "5"}, `demo x: --iter: no such flag; did you mean --iters? (see 'ipcplay demo x --help' for the flags)`},
		{[]string{"--zzz"}, `demo x: --zzz: no such flag (see 'ipcplay demo x --help' for the flags)`},
		{[]string{"-q"}, `demo x: -q: no such flag`},
		{[]string{"---x"}, `demo x: "---x": not a flag: write --name or --name=value (see 'ipcplay demo x --help')`},
	} {
		set := flag.NewFlagSet("x", flag.ContinueOnError)
		set.SetOutput(&strings.Builder{})
		for _, f := range flags {
			if err := f.Apply(set); err != nil {
				t.Fatal(err)
			}
		}
		err := set.Parse(tc.args)
		if err == nil {
			t.Fatalf("%v: parsed", tc.args)
		}
		got := flagError("demo x", flags, err).Error()
		if !strings.HasPrefix(got, tc.want) {
			t.Errorf("%v: package flag said %q\ngot  %q\nwant %q...", tc.args, err, got, tc.want)
		}
	}
}

func TestSuggest(t *testing.T) {
	names := []string{"iters", "procs", "mode", "json", "local", "h"}
	for typed, want := range map[string]string{
		"iter": "iters", "itres": "iters", "procss": "procs", "modes": "mode", "jsno": "json",
		"bogus": "", "x": "", "schedule": "", "l": "",
	} {
		if got := suggest(typed, names); got != want {
			t.Errorf("suggest(%q) = %q, want %q", typed, got, want)
		}
	}
}

// allCommands lists every command of the app with its full path ("demo
// deadlock"), subcommands included.
func allCommands(t *testing.T) map[string]*cli.Command {
	t.Helper()
	out := map[string]*cli.Command{}
	var walk func(parent string, cmds []*cli.Command)
	walk = func(parent string, cmds []*cli.Command) {
		for _, c := range cmds {
			if c.Hidden || (c.Name == "help" && parent != "") {
				continue
			}
			path := strings.TrimSpace(parent + " " + c.Name)
			out[path] = c
			walk(path, c.Subcommands)
		}
	}
	walk("", newApp().Commands)
	if len(out) < 17+len(lab.Names()) {
		t.Fatalf("only %d commands: %v", len(out), out)
	}
	return out
}

// valueFlag returns a flag of cmd that takes a number or a duration, the
// bad value to give it and the words the refusal must have; else a global
// boolean with a value that is not one.
func valueFlag(cmd *cli.Command) (arg, want string) {
	for _, f := range cmd.Flags {
		switch f.(type) {
		case *cli.IntFlag, *cli.Int64Flag, *cli.UintFlag:
			return "--" + f.Names()[0] + "=abc", fmt.Sprintf(`--%s "abc": not a whole number; --%s`, f.Names()[0], f.Names()[0])
		case *cli.DurationFlag:
			return "--" + f.Names()[0] + "=abc", fmt.Sprintf(`--%s "abc": not a duration`, f.Names()[0])
		}
	}
	return "--local=maybe", `--local "maybe": must be true or false; --local: run the engine`
}

// Bad flags of every command and subcommand, run through the real CLI:
// exit 2, "ipcplay: <full path>: <flag>: <why>", the hint naming the full
// path, nothing on stdout; with --json exactly one error document there.
func TestBadFlagsOfEveryCommandExit2(t *testing.T) {
	dir := newStateDir(t)
	socket := filepath.Join(dir, "d.sock")
	for path, cmd := range allCommands(t) {
		words := strings.Fields(path)
		badValue, wantValue := valueFlag(cmd)
		for _, tc := range []struct {
			args []string
			want string
			json bool
		}{
			{[]string{"--bogus"}, fmt.Sprintf("ipcplay: %s: --bogus: no such flag (see 'ipcplay %s --help' for the flags)", path, path), false},
			{[]string{"--json", "--bogus"}, fmt.Sprintf("ipcplay: %s: --bogus: no such flag", path), true},
			{[]string{badValue}, fmt.Sprintf("ipcplay: %s: %s", path, wantValue), false},
		} {
			args := append(append(append([]string{}, words...), "--socket", socket), tc.args...)
			r := runCLI(t, args...)
			if r.code != 2 || !strings.HasPrefix(r.stderr, tc.want) || strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("ipcplay %s: exit %d, stderr %q\nwant exit 2 and %q", strings.Join(args, " "), r.code, r.stderr, tc.want)
			}
			if !tc.json {
				if r.stdout != "" {
					t.Errorf("ipcplay %s: stdout %q", strings.Join(args, " "), r.stdout)
				}
				continue
			}
			doc := oneErrorDoc(t, r.stdout)
			if doc.Kind != "error" || doc.Command != path || doc.ExitCode != 2 || doc.Code != "usage" || doc.Engine != "local" || doc.RunID != nil ||
				"ipcplay: "+doc.Error != strings.TrimSpace(r.stderr) {
				t.Errorf("ipcplay %s: error document %+v\nstderr %q", strings.Join(args, " "), doc, r.stderr)
			}
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("bad flags created %v in %s", ents, dir)
	}
}

// oneErrorDoc decodes stdout, which must hold exactly one JSON document.
func oneErrorDoc(t *testing.T, stdout string) errorDoc {
	t.Helper()
	var doc errorDoc
	dec := json.NewDecoder(strings.NewReader(stdout))
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("stdout is not a JSON document: %v\n%s", err, stdout)
	}
	if dec.More() {
		t.Fatalf("stdout holds more than one document:\n%s", stdout)
	}
	return doc
}

// Flags take one dash as in package flag: -json is --json.
func TestSingleDashFlags(t *testing.T) {
	r := runCLI(t, "version", "-json")
	var doc struct{ Kind string }
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &doc) != nil || doc.Kind != "version" {
		t.Errorf("version -json: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, "race", "-iters", "x")
	if r.code != 2 || !strings.HasPrefix(r.stderr, `ipcplay: race: --iters "x": not a whole number`) {
		t.Errorf("race -iters x: exit %d, stderr %q", r.code, r.stderr)
	}
}

// Commands that do not exist, at the top and under demo and help;
// `ipcplay` alone: usage on stderr, exit 2; wrong arguments and values,
// named by the command.
func TestUnknownAndMissingCommandsExit2(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "ipcplay: no command given"},
		{[]string{"rase"}, `ipcplay: "rase": no such command; did you mean race? (see 'ipcplay --help' for the list)`},
		{[]string{"help", "nope"}, `ipcplay: help: "nope": no such command`},
		{[]string{"help", "demo", "deadlok"}, `ipcplay: help: demo: "deadlok": no such command; did you mean demo deadlock? (see 'ipcplay demo --help' for the list)`},
		{[]string{"demo", "nope"}, `ipcplay: demo: unknown lab "nope": the labs are ` + strings.Join(lab.Names(), ", ")},
		{[]string{"show"}, "ipcplay: show: expected RUN_ID, got 0 arguments (see 'ipcplay show --help')"},
		{[]string{"show", "a", "b"}, "ipcplay: show: expected RUN_ID, got 2 arguments"},
		{[]string{"inspect", "sysv-sem"}, "ipcplay: inspect: expected TYPE and ID|NAME|PATH, got 1 argument: "},
		{[]string{"who", "a", "b", "c"}, "ipcplay: who: expected PATH, or TYPE and ID|NAME|PATH, got 3 arguments"},
		{[]string{"demo", "deadlock", "extra"}, `ipcplay: demo deadlock: unexpected argument "extra" (see 'ipcplay demo deadlock --help')`},
		// Values the command checks itself: named by the command too.
		{[]string{"race", "--procs", "0"}, "ipcplay: race: --procs 0: must be"},
		{[]string{"demo", "deadlock", "--timeout", "5ms"}, "ipcplay: demo deadlock: --timeout 5ms: must be between"},
		{[]string{"bench", "--size", "x"}, `ipcplay: bench: --size "x":`},
		{[]string{"status", "--log-level", "loud"}, `ipcplay: status: --log-level "loud": must be one of`},
	} {
		r := runCLI(t, tc.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) || r.stdout != "" {
			t.Errorf("ipcplay %v: exit %d, stdout %q, stderr %q\nwant exit 2 and %q", tc.args, r.code, r.stdout, r.stderr, tc.want)
		}
	}
	if r := runCLI(t); !strings.Contains(r.stderr, "USAGE:") || !strings.Contains(r.stderr, "tour") {
		t.Errorf("ipcplay alone: no usage on stderr: %q", r.stderr)
	}
	if r := runCLI(t, "--json"); r.code != 2 || oneErrorDoc(t, r.stdout).Code != "usage" {
		t.Errorf("ipcplay --json: exit %d, stdout %q", r.code, r.stdout)
	}
	for _, args := range [][]string{{"--help"}, {"help"}, {"help", "demo", "deadlock"}, {"demo", "deadlock", "--help"}} {
		if r := runCLI(t, args...); r.code != 0 || !strings.Contains(r.stdout, "USAGE:") || r.stderr != "" {
			t.Errorf("ipcplay %v: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
}

// In every command's help, the lines of USAGE that start a command line
// start in one column (demo's second line was 3 columns right).
func TestHelpUsageLinesAligned(t *testing.T) {
	for path := range allCommands(t) {
		r := runCLI(t, append(strings.Fields(path), "--help")...)
		if r.code != 0 {
			t.Fatalf("%s --help: exit %d %s", path, r.code, r.stderr)
		}
		sc := bufio.NewScanner(strings.NewReader(r.stdout))
		in, col := false, -1
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "USAGE:":
				in = true
			case in && strings.TrimSpace(line) == "":
				in = false // the synopsis ends; examples follow, indented
			case in && strings.HasPrefix(strings.TrimSpace(line), "ipcplay "+path):
				c := len(line) - len(strings.TrimLeft(line, " "))
				if col < 0 {
					col = c
				} else if c != col {
					t.Errorf("%s --help: usage line at column %d, the first at %d: %q", path, c, col, line)
				}
			}
		}
		if path == "demo" && !strings.Contains(r.stdout, "\n   ipcplay demo                 list the labs\n   ipcplay demo NAME [flags]    run one") {
			t.Errorf("demo --help: the two usage lines are not aligned:\n%s", r.stdout)
		}
	}
}

// The list of labs comes from the registered labs: demo's summary, its
// help, and the README's row name every one.
func TestDemoSummaryNamesEveryLab(t *testing.T) {
	r := runCLI(t, "--help")
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var row string
	for _, line := range strings.Split(string(readme), "\n") {
		if strings.HasPrefix(line, "| `ipcplay demo") {
			row = line
		}
	}
	help := runCLI(t, "demo", "--help")
	for _, name := range lab.Names() {
		if !strings.Contains(demoSummary(), name) {
			t.Errorf("demo's summary %q lacks %s", demoSummary(), name)
		}
		if !strings.Contains(help.stdout, "\n   "+name+" ") {
			t.Errorf("demo --help lacks %s", name)
		}
		if !strings.Contains(row, "`"+name+"`") {
			t.Errorf("README's demo row lacks `%s`: %s", name, row)
		}
	}
	if !strings.Contains(r.stdout, demoSummary()) {
		t.Errorf("ipcplay --help lacks demo's summary")
	}
	if strings.Contains(help.stdout, "help, h") {
		t.Errorf("demo --help lists help among the labs")
	}
}

// The tour's duration is said once (tourDuration) and the README says the
// same.
func TestTourDurationSaidTheSameEverywhere(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "tour: a race, transports, a crash ("+tourDuration+")") {
		t.Errorf("README's tour line does not say %q", tourDuration)
	}
	if r := runCLI(t, "tour", "--help"); !strings.Contains(r.stdout, tourDuration) {
		t.Errorf("tour --help does not say %q:\n%s", tourDuration, r.stdout)
	}
}

// ignored reports whether this process ignores sig: its children start
// with it ignored too (execve keeps SIG_IGN), and then a CLI that winds
// down after it exits 128+sig instead of being killed by it.
func ignored(t *testing.T, sig syscall.Signal) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "SigIgn:"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			return mask&(1<<(uint(sig)-1)) != 0
		}
	}
	t.Fatal("no SigIgn in /proc/self/status")
	return false
}

// wantEndedBy checks that a CLI interrupted by sig ended by it: killed
// by sig, so that a shell reports 128+sig (130 for SIGINT) and stops a
// script; or, where sig is ignored, exit status 128+sig.
func wantEndedBy(t *testing.T, ps *os.ProcessState, sig syscall.Signal) {
	t.Helper()
	ws := ps.Sys().(syscall.WaitStatus)
	if ignored(t, sig) {
		if ws.Signaled() || ws.ExitStatus() != 128+int(sig) {
			t.Errorf("CLI ended with %v, want exit status %d (%s is ignored here)", ps, 128+int(sig), sig)
		}
		return
	}
	if !ws.Signaled() || ws.Signal() != sig {
		t.Errorf("CLI ended with %v, want killed by %s (the shell's $? is %d)", ps, sig, 128+int(sig))
	}
}

// Ctrl-C (SIGINT) or SIGTERM of a foreground run: the run is cancelled,
// its workers stop, its objects are removed, and the CLI ends by the
// signal (130, 143). With --json, stdout has the error document.
// A run that returns a partial result when cancelled (race, the labs)
// prints no document of its own with --json: the one document is the
// error document, code "interrupted".
func TestInterruptedRunEndsByTheSignalAndLeavesNothing(t *testing.T) {
	for _, c := range []struct {
		sig  syscall.Signal
		mode string
	}{{syscall.SIGINT, "hang"}, {syscall.SIGTERM, "hang"}, {syscall.SIGINT, "partial"}, {syscall.SIGTERM, "partial"}} {
		sig := c.sig
		dir := newStateDir(t)
		n := newNotifier(t)
		cmd := cliCmd(t, "cmdtest", "--local", "--json", "--socket", filepath.Join(dir, "d.sock"), "--procs", "2", "--mode", c.mode, "--notify", n.path)
		var out, errb syncBuffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		done, err := startLocked(cmd)
		if err != nil {
			t.Fatal(err)
		}
		note := n.wait(t)
		before := ledgerEntries(t, dir)
		if len(before) < 4 {
			t.Fatalf("the run recorded %+v", before)
		}
		cmd.Process.Signal(sig)
		select {
		case <-done:
		case <-time.After(time.Minute):
			cmd.Process.Kill()
			<-done
			t.Fatalf("the CLI did not exit after %s", sig)
		}
		wantEndedBy(t, cmd.ProcessState, sig)
		name := map[syscall.Signal]string{syscall.SIGINT: "SIGINT", syscall.SIGTERM: "SIGTERM"}[sig]
		if want := "cancelled (" + name + ")"; !strings.HasPrefix(errb.String(), "ipcplay: ") || !strings.Contains(errb.String(), want) {
			t.Errorf("%s: stderr %q lacks %q", sig, errb.String(), want)
		}
		doc := oneErrorDoc(t, out.String())
		if doc.Kind != "error" || doc.Code != "interrupted" || doc.ExitCode != 128+int(sig) || doc.Command != "cmdtest" {
			t.Errorf("%s: error document %+v", sig, doc)
		}
		// The run had an id: the document gives it, for 'ipcplay show'.
		if doc.RunID == nil || !strings.HasPrefix(*doc.RunID, "r-") || !strings.Contains(doc.Error, *doc.RunID) {
			t.Errorf("%s: the error document's run_id is %v, want the cancelled run's (%s)", sig, doc.RunID, doc.Error)
		}
		waitGone(t, note.Pids)
		assertClean(t, dir, before)
	}
}

// A refused value is told with the values allowed: the range, not only
// one bound; the form of an optional value; that a command has nothing
// below it.
func TestRefusalsGiveTheAllowedValues(t *testing.T) {
	sock := filepath.Join(newStateDir(t), "none.sock")
	for _, c := range []struct {
		args       []string
		want, lack string
	}{
		{[]string{"race", "--procs", "0"}, "race: --procs 0: must be between 1 and ", "at least"},
		{[]string{"bench", "--size", "1T"}, `bench: --size "1T": too large: must be between 24 bytes and 64M`, "not a size"},
		{[]string{"bench", "--size", "64,3G"}, `bench: --size "3G": too large: must be between 24 bytes and 64M`, "not a size"},
		{[]string{"race", "--explain", "abc"}, `race: unexpected argument "abc": --explain takes its value joined: --explain=K, K a number of witnesses 1..1000`, "see 'ipcplay race --help'"},
		{[]string{"race", "--explain", "-1"}, `race: -1: not a flag; a value of --explain is written joined: --explain=K, K a number of witnesses 1..1000`, "no such flag"},
		{[]string{"race", "--explain=0"}, `race: --explain=0: want a number of witnesses 1..1000`, ""},
		{[]string{"race", "--step", "--procs", "12"}, "race: --step with --procs 12: must be between 1 and 9 workers", "at most"},
		{[]string{"help", "race", "bogus"}, `help: race: "bogus": 'ipcplay race' has no subcommands`, "for the list"},
		{[]string{"help", "demo", "bogus"}, `help: demo: "bogus": no such command (see 'ipcplay demo --help' for the list)`, ""},
	} {
		r := runCLI(t, append(c.args, "--socket", sock)...)
		if c.args[0] == "help" {
			r = runCLI(t, c.args...)
		}
		if r.code != 2 || !strings.Contains(r.stderr, c.want) || (c.lack != "" && strings.Contains(r.stderr, c.lack)) {
			t.Errorf("ipcplay %v: exit %d, stderr %q: want exit 2 and %q, without %q", c.args, r.code, r.stderr, c.want, c.lack)
		}
	}
}

// The README's race commands with --schedule work as written, and a
// schedule's own mistakes are told before the run's size.
func TestScheduleAsREADMEWritesIt(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(newStateDir(t), "none.sock")
	found := 0
	for _, line := range strings.Split(string(readme), "`") {
		if !strings.HasPrefix(line, "ipcplay race ") || !strings.Contains(line, "--schedule") {
			continue
		}
		found++
		args := append(strings.Fields(strings.TrimPrefix(line, "ipcplay ")), "--local", "--socket", sock)
		if r := runCLI(t, args...); r.code != 0 {
			t.Errorf("README's `%s`: exit %d\n%s%s", line, r.code, r.stdout, r.stderr)
		}
	}
	if found == 0 {
		t.Error("README gives no `ipcplay race ... --schedule ...` command")
	}
	for _, c := range []struct {
		args       []string
		want, lack string
	}{
		{[]string{"--schedule", "P1,P3"}, `--schedule "P1,P3": "P3": no such worker, there are P1 to P2`, "steps"},
		{[]string{"--schedule", "garbage"}, `--schedule "garbage": "garbage" is not a worker`, "steps"},
		{[]string{"--schedule", "P1,P2"}, "400000 steps (2 per increment), at most 20000; use --iters 1 ", "fewer"},
	} {
		args := append([]string{"race", "--mode", "unsafe", "--procs", "2", "--local", "--socket", sock}, c.args...)
		r := runCLI(t, args...)
		if r.code != 2 || !strings.Contains(r.stderr, c.want) || strings.Contains(r.stderr, c.lack) {
			t.Errorf("ipcplay %v: exit %d, stderr %q: want exit 2 and %q without %q", args, r.code, r.stderr, c.want, c.lack)
		}
	}
}
