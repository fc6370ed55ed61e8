package main

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipcplay/ipcplay/ipc"
)

// The embedded engine's limits come from the same variables as the
// daemon's flags; a bad value names the variable and exits 2.
func TestLocalLimitsFromEnvironment(t *testing.T) {
	t.Setenv(ipc.EnvMaxProcs, "128")
	t.Setenv(ipc.EnvMaxShm, "2G")
	t.Setenv(ipc.EnvMaxRuns, "3")
	t.Setenv(ipc.EnvRunTimeout, "1h")
	lim, err := localLimits()
	if err != nil {
		t.Fatal(err)
	}
	want := ipc.Limits{MaxProcs: 128, MaxShmBytes: 2 << 30, MaxRuns: 3, RunTimeout: time.Hour, Engine: ipc.EngineLocal}
	if lim != want {
		t.Errorf("got %+v, want %+v", lim, want)
	}
	for _, c := range []struct{ env, val, want string }{
		{ipc.EnvRunTimeout, "abc", `IPCPLAY_RUN_TIMEOUT="abc": not a duration`},
		{ipc.EnvRunTimeout, "48h", `IPCPLAY_RUN_TIMEOUT="48h": --run-timeout 48h0m0s: must be between 1s and 24h`},
		{ipc.EnvMaxProcs, "0", `IPCPLAY_MAX_PROCS="0": --max-procs 0: must be between 1 and 4096`},
		{ipc.EnvMaxProcs, "many", `IPCPLAY_MAX_PROCS="many": not a whole number`},
	} {
		t.Run(c.env+"="+c.val, func(t *testing.T) {
			t.Setenv(c.env, c.val)
			_, err := localLimits()
			if err == nil || !strings.HasPrefix(err.Error(), c.want) || !ipc.IsUsage(err) {
				t.Errorf("got %v, want a usage error %q", err, c.want)
			}
		})
	}
}

// A race past the embedded engine's run timeout says what stopped it and
// how to raise it, prints no empty table, and leaves nothing behind
// (TestMain checks). The run cannot finish in the second it is given:
// 2 × 1e9 sysv-sem increments take minutes on any machine.
func TestRaceRunTimeoutSaysHowToRaiseIt(t *testing.T) {
	cmd := cliCmd(t, "race", "--local", "--mode", "sysv-sem", "--procs", "2", "--iters", "1000000000", "--socket", t.TempDir()+"/none.sock")
	cmd.Env = append(cmd.Env, ipc.EnvRunTimeout+"=1s", "IPCPLAY_STATE_DIR="+newStateDir(t))
	var out, errb syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	done, err := startLocked(cmd)
	if err != nil {
		t.Fatal(err)
	}
	<-done
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, out.String(), errb.String())
	}
	for _, want := range []string{"race: sysv-sem, trial 1 of 1: stopped by the run timeout after 1s", "the embedded engine's (--local) run-timeout", "IPCPLAY_RUN_TIMEOUT=1h"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("stderr %q lacks %q", errb.String(), want)
		}
	}
	if strings.Contains(errb.String(), "deadline") || strings.Contains(out.String(), "no mode ran") {
		t.Errorf("stdout %q, stderr %q", out.String(), errb.String())
	}
}

// With --local while a daemon answers, a limit's message says the
// embedded engine is used because --local asked for it, not for want of a
// daemon; without --local, the daemon's limit is the one named.
func TestLocalLimitMessageSaysLocal(t *testing.T) {
	d := startDaemon(t, newStateDir(t))
	for _, c := range []struct {
		args       []string
		want, lack string
	}{
		{[]string{"cmdtest", "--local", "--procs", "100", "--socket", d.socket}, "the embedded engine's (--local) max-procs", "used when no daemon answers"},
		{[]string{"race", "--local", "--procs", "100", "--socket", d.socket}, "the embedded engine's (--local) max-procs", "used when no daemon answers"},
		{[]string{"race", "--procs", "100", "--socket", d.socket}, "the daemon's --max-procs", "embedded"},
		{[]string{"race", "--procs", "100", "--socket", d.socket + ".none"}, "the embedded engine's max-procs, used when no daemon answers", "(--local)"},
	} {
		r := runCLI(t, c.args...)
		if r.code != 2 || !strings.Contains(r.stderr, c.want) || strings.Contains(r.stderr, c.lack) {
			t.Errorf("ipcplay %v: exit %d, stderr %q: want exit 2 and %q without %q", c.args, r.code, r.stderr, c.want, c.lack)
		}
	}
}

func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{10 * time.Minute: "10m", 2 * time.Hour: "2h", 90 * time.Minute: "1h30m", 1500 * time.Millisecond: "1.5s"} {
		if got := shortDuration(d); got != want {
			t.Errorf("%v: %q, want %q", d, got, want)
		}
	}
}

// race --help, read as a student: the limits and how to raise them, every
// flag in USAGE, and no flag text that contradicts its default.
func TestRaceHelpStatesLimitsAndFlags(t *testing.T) {
	r := runCLI(t, "race", "--help")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	usage, _, _ := strings.Cut(r.stdout, "Examples:")
	for _, flag := range []string{"--mode", "--procs", "--iters", "--unit", "--shm", "--trials", "--cpus", "--window", "--yield", "--undo", "--same-line", "--separate-lines", "--explain", "--trace", "--html", "--record", "--schedule", "--seed", "--step", "--lang", "--python", "--switch-interval", "--json"} {
		if !strings.Contains(usage, flag) {
			t.Errorf("USAGE lacks %s:\n%s", flag, usage)
		}
	}
	lim := ipc.DefaultLimits()
	for _, want := range []string{
		"at most " + strconv.Itoa(lim.MaxProcs) + " workers", "run timeout of 10m", ipc.EnvRunTimeout, ipc.EnvMaxProcs,
		"(1 to " + strconv.Itoa(lim.MaxProcs) + " without a daemon", "marked timed", "(default: on unless --same-line)",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("race --help lacks %q", want)
		}
	}
	for _, bad := range []string{"and last, random", "(the default) (default: false)"} {
		if strings.Contains(r.stdout, bad) {
			t.Errorf("race --help still says %q", bad)
		}
	}
}
