package ipc

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Engine names, as in the "engine" field of every JSON document.
const (
	EngineDaemon = "daemon"
	EngineLocal  = "local"
)

// RunRequest asks the engine to run one experiment.
type RunRequest struct {
	Experiment string          `json:"experiment"`
	Params     json.RawMessage `json:"params,omitempty"`
}

// Run states.
const (
	StateQueued    = "queued"
	StateRunning   = "running"
	StateOK        = "ok"
	StateFailed    = "failed"
	StateCancelled = "cancelled"
)

// RunResult is what a run produced. Result is the experiment's document;
// it may be present for a failed run too (a race whose safe counter lost
// updates still has its table).
type RunResult struct {
	RunID      string          `json:"run_id"`
	Experiment string          `json:"experiment"`
	Engine     string          `json:"engine"`
	State      string          `json:"state"`
	Error      string          `json:"error,omitempty"`
	Usage      bool            `json:"usage,omitempty"` // the error is bad input
	Result     json.RawMessage `json:"result,omitempty"`
	Started    time.Time       `json:"started"`
	ElapsedNs  int64           `json:"elapsed_ns"`
}

// Err returns the run's failure as an error (a UsageError for bad input),
// or nil when it succeeded.
func (r *RunResult) Err() error {
	switch r.State {
	case StateOK:
		return nil
	case StateCancelled:
		// Error names who cancelled it when the engine knew ("the daemon
		// is shutting down (SIGTERM received)"), else it is empty (or, from
		// an older daemon, the bare context error, which says nothing the
		// word "cancelled" does not).
		return &CancelledError{RunID: r.RunID, Cause: CancelCause(r.Error)}
	}
	if r.Usage {
		return Usagef("%s", r.Error)
	}
	return fmt.Errorf("%s", r.Error)
}

// CancelCause is who cancelled a run, from the Error a cancelled run
// (RunResult, RunInfo) carries, or "" when unknown: the engine leaves it
// empty, and a daemon from before the cause was recorded wrote only the
// context's words ("race: sysv-sem, trial 1 of 1: context canceled").
func CancelCause(msg string) string {
	if strings.Contains(msg, context.Canceled.Error()) {
		return ""
	}
	return msg
}

// CancelledError is the error of a cancelled run: "run r-1 cancelled", and
// who cancelled it when the engine knew ("...: the daemon is shutting down
// (SIGTERM received)").
type CancelledError struct {
	RunID string
	Cause string // empty when unknown
}

func (e *CancelledError) Error() string {
	if e.Cause == "" {
		return fmt.Sprintf("run %s cancelled", e.RunID)
	}
	return fmt.Sprintf("run %s cancelled: %s", e.RunID, e.Cause)
}

// RunInfo is a line of `ipcplay runs`.
type RunInfo struct {
	RunID      string    `json:"run_id"`
	Experiment string    `json:"experiment"`
	State      string    `json:"state"`
	Started    time.Time `json:"started"`
	ElapsedNs  int64     `json:"elapsed_ns"`
	Error      string    `json:"error,omitempty"`
}

// Event is progress of a run, streamed to the client.
type Event struct {
	RunID   string          `json:"run_id"`
	Type    string          `json:"type"` // "state", "progress", "data"
	State   string          `json:"state,omitempty"`
	Done    int64           `json:"done,omitempty"`
	Total   int64           `json:"total,omitempty"`
	Message string          `json:"message,omitempty"`
	Data    json.RawMessage `json:"data,omitempty"`
}

// Status describes an engine.
type Status struct {
	Engine     string `json:"engine"`
	PID        int    `json:"pid"`
	Version    string `json:"version,omitempty"`
	UptimeNs   int64  `json:"uptime_ns"`
	ActiveRuns int    `json:"active_runs"`
	QueuedRuns int    `json:"queued_runs"`
	Limits     Limits `json:"limits"`
	StateDir   string `json:"state_dir"`
	Socket     string `json:"socket,omitempty"`
	Ledger     int    `json:"ledger_entries"`
	// HTTPURL is the daemon's page with its token (`daemon --http`); it
	// goes only to clients of the daemon's uid, as every answer does.
	HTTPURL string `json:"http_url,omitempty"`
}

// Object is one IPC object as `ipcplay objects` lists it.
type Object struct {
	Type       string  `json:"type"`
	ID         int     `json:"id"`
	Name       string  `json:"name"`
	OwnerUID   int     `json:"owner_uid"`
	Mode       string  `json:"mode"`
	Size       int64   `json:"size"`
	CreatorPID int     `json:"creator_pid"`
	RunID      *string `json:"run_id"`
	Stale      bool    `json:"stale"`
	Note       string  `json:"note,omitempty"` // what to know to read the entry (a relative socket name)
}
