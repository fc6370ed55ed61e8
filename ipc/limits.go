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
}

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

// CheckProcs refuses a run that asks for n worker processes beyond the
// limit. flag names the experiment's flag for the message.
func (l Limits) CheckProcs(flag string, n int) error {
	if n < 1 || n > l.MaxProcs {
		return Usagef("%s %d: must be between 1 and %d (the engine's --max-procs)", flag, n, l.MaxProcs)
	}
	return nil
}

// CheckShm refuses shared memory beyond the limit.
func (l Limits) CheckShm(flag string, bytes int64) error {
	if bytes < 1 || bytes > l.MaxShmBytes {
		return Usagef("%s: %d bytes of shared memory: must be between 1 and %d (the engine's --max-shm)", flag, bytes, l.MaxShmBytes)
	}
	return nil
}

func (l Limits) String() string {
	return fmt.Sprintf("max-procs=%d max-shm=%d max-runs=%d run-timeout=%s", l.MaxProcs, l.MaxShmBytes, l.MaxRuns, l.RunTimeout)
}
