// Package doctor checks a machine for what ipcplay needs and says plainly
// what will and will not work here, and why: the kernel, /dev/shm and
// /dev/mqueue, the System V and POSIX limits, whether each kind of IPC call
// actually works (sandboxes answer ENOSYS), systemd-logind's RemoveIPC, the
// daemon, and objects that crashed runs left behind.
package doctor

import (
	"context"
	"fmt"
	"strings"
)

// Status of one check.
const (
	OK   = "ok"
	Warn = "warn" // works, with a caveat worth knowing
	Fail = "fail" // something ipcplay needs does not work here
	Info = "info" // a fact, no judgement
)

// Check is one line of the report.
type Check struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Detail string `json:"detail"`
	Advice string `json:"advice,omitempty"`
}

// Report is the whole diagnosis.
type Report struct {
	Kind   string  `json:"kind"`   // "doctor"
	Engine string  `json:"engine"` // the probes always run in-process: "local"
	RunID  string  `json:"run_id"` // the run of the call probes
	OK     bool    `json:"ok"`     // no check failed
	Checks []Check `json:"checks"`
}

// Failed lists the names of failed checks.
func (r *Report) Failed() []string {
	var out []string
	for _, c := range r.Checks {
		if c.Status == Fail {
			out = append(out, c.Name)
		}
	}
	return out
}

// Probe is a check that needs the engine (to create and remove objects
// through the ledger) or the daemon; cmd supplies them.
type Probe func(ctx context.Context) []Check

// Run runs the machine checks and the given probes.
func Run(ctx context.Context, probes ...Probe) *Report {
	r := &Report{Kind: "doctor", Engine: "local"}
	for _, fn := range machineChecks {
		r.Checks = append(r.Checks, fn()...)
	}
	for _, p := range probes {
		r.Checks = append(r.Checks, p(ctx)...)
	}
	r.OK = len(r.Failed()) == 0
	return r
}

// String renders the report as the terminal shows it.
func (r *Report) String() string {
	var b strings.Builder
	for _, c := range r.Checks {
		fmt.Fprintf(&b, "%-5s %-22s %s\n", strings.ToUpper(c.Status), c.Name, c.Detail)
		if c.Advice != "" {
			fmt.Fprintf(&b, "      %-22s → %s\n", "", c.Advice)
		}
	}
	if r.OK {
		b.WriteString("\nall usable: every ipcplay command should work here\n")
	} else {
		fmt.Fprintf(&b, "\nnot usable here: %s\n", strings.Join(r.Failed(), ", "))
	}
	return b.String()
}
