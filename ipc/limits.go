package ipc

import (
	"fmt"
	"runtime"
	"time"
)

// Limits bound what one engine lets runs do. Requests beyond them are
// refused before anything is created.
type Limits struct {
	MaxProcs    int           `json:"max_procs"`     // worker processes per run
	MaxShmBytes int64         `json:"max_shm_bytes"` // shared memory per run
	MaxRuns     int           `json:"max_runs"`      // runs at once; more wait in a queue
	RunTimeout  time.Duration `json:"run_timeout_ns"`
	// Engine is whose limits these are: EngineDaemon, EngineLocal (the
	// embedded engine), or "" (none in particular: the widest any engine
	// may have). The messages of the checks say which engine's limit was
	// hit and how to raise it. Not sent on the wire.
	Engine string `json:"-"`
	// Chosen is set for EngineLocal when the user asked for the embedded
	// engine (--local) rather than it being used for want of a daemon: the
	// messages then say so. Not sent on the wire.
	Chosen bool `json:"-"`
}

// The environment variables that set an engine's limits: the embedded
// engine reads them, and each is also its daemon flag's variable
// (--max-procs, --max-shm, --max-runs, --run-timeout).
const (
	EnvMaxProcs   = "IPCPLAY_MAX_PROCS"
	EnvMaxShm     = "IPCPLAY_MAX_SHM"
	EnvMaxRuns    = "IPCPLAY_MAX_RUNS"
	EnvRunTimeout = "IPCPLAY_RUN_TIMEOUT"
)

// The ranges the limits themselves may take (daemon flags).
const (
	MinProcs, MaxProcsLimit       = 1, 4096
	MinShmBytes, MaxShmBytesLimit = 4096, 1 << 40
	MinRuns, MaxRunsLimit         = 1, 1024
	MinRunTimeout, MaxRunTimeout  = time.Second, 24 * time.Hour
)

// DefaultLimits suit a laptop or a 2-core CI machine.
func DefaultLimits() Limits {
	return Limits{
		MaxProcs:    max(64, 4*runtime.NumCPU()),
		MaxShmBytes: 1 << 30,
		MaxRuns:     4,
		RunTimeout:  10 * time.Minute,
	}
}

// Validate checks every limit against its allowed range; the error names
// the flag and the range.
func (l Limits) Validate() error {
	switch {
	case l.MaxProcs < MinProcs || l.MaxProcs > MaxProcsLimit:
		return Usagef("--max-procs %d: must be between %d and %d", l.MaxProcs, MinProcs, MaxProcsLimit)
	case l.MaxShmBytes < MinShmBytes || l.MaxShmBytes > MaxShmBytesLimit:
		return Usagef("--max-shm %d: must be between %d (4K) and %d (1T) bytes", l.MaxShmBytes, int64(MinShmBytes), int64(MaxShmBytesLimit))
	case l.MaxRuns < MinRuns || l.MaxRuns > MaxRunsLimit:
		return Usagef("--max-runs %d: must be between %d and %d", l.MaxRuns, MinRuns, MaxRunsLimit)
	case l.RunTimeout < MinRunTimeout || l.RunTimeout > MaxRunTimeout:
		return Usagef("--run-timeout %s: must be between %s and %s", l.RunTimeout, MinRunTimeout, MaxRunTimeout)
	}
	return nil
}

// CheckProcs refuses a run that asks for n workers (processes, or the
// threads of a thread run) beyond the limit. flag names the experiment's
// flag for the message, which gives the allowed range and whose limit it
// is.
func (l Limits) CheckProcs(flag string, n int) error {
	if n < 1 || n > l.MaxProcs {
		return Usagef("%s %d: must be between 1 and %d (%s)", flag, n, l.MaxProcs, l.Which("max-procs"))
	}
	return nil
}

// CheckShm refuses shared memory beyond the limit.
func (l Limits) CheckShm(flag string, bytes int64) error {
	if bytes < 1 || bytes > l.MaxShmBytes {
		return Usagef("%s: %d bytes of shared memory: must be between 1 and %d (%s)", flag, bytes, l.MaxShmBytes, l.Which("max-shm"))
	}
	return nil
}

// Which says, for a message, whose limit `limit` ("max-procs", "max-shm",
// "max-runs" or "run-timeout") is and how to raise it: the daemon's flag,
// or for the embedded engine the environment variable, with the largest
// value either may take.
func (l Limits) Which(limit string) string {
	env, eg, most := "", "", ""
	switch limit {
	case "max-procs":
		env, eg, most = EnvMaxProcs, "256", fmt.Sprint(MaxProcsLimit)
	case "max-shm":
		env, eg, most = EnvMaxShm, "4G", "1T"
	case "max-runs":
		env, eg, most = EnvMaxRuns, "8", fmt.Sprint(MaxRunsLimit)
	case "run-timeout":
		env, eg, most = EnvRunTimeout, "1h", "24h"
	}
	switch l.Engine {
	case EngineDaemon:
		return fmt.Sprintf("the daemon's --%s; restart the daemon with a larger one, e.g. --%s %s, at most %s", limit, limit, eg, most)
	case EngineLocal:
		if l.Chosen {
			return fmt.Sprintf("the embedded engine's (--local) %s; raise it in the environment, e.g. %s=%s, at most %s", limit, env, eg, most)
		}
		return fmt.Sprintf("the embedded engine's %s, used when no daemon answers; raise it in the environment, e.g. %s=%s, at most %s", limit, env, eg, most)
	}
	return fmt.Sprintf("the most any engine allows: a daemon's --%s, or %s for the embedded engine", limit, env)
}

// TimedOut is the message of a run stopped by the run timeout: what it
// hit and how to raise it.
func (l Limits) TimedOut() string {
	return fmt.Sprintf("stopped by the run timeout after %s (%s), or give the run less to do", l.RunTimeout, l.Which("run-timeout"))
}

func (l Limits) String() string {
	return fmt.Sprintf("max-procs=%d max-shm=%d max-runs=%d run-timeout=%s", l.MaxProcs, l.MaxShmBytes, l.MaxRuns, l.RunTimeout)
}
