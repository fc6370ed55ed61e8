package bench

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/ipcplay/ipcplay/ipc"
	"github.com/ipcplay/ipcplay/ipc/worker"
)

// --load cpu: CPU hogs, one worker process each, pinned to the run's CPUs,
// that burn CPU until the run ends, so that the measured ends share their
// CPUs with a noisy neighbour at the same priority: the scheduler now
// takes turns, a woken end waits for the hog's slice to end, and tails and
// context switches show it.

const hogKind = "bench-hog"

func init() {
	worker.Register(hogKind, runHog)
}

// hogResult is what a hog reports: how long it burned.
type hogResult struct {
	BurnedNs int64  `json:"burned_ns"`
	Sum      uint64 `json:"sum"` // the loop's result, so that it is not optimised away
}

// runHog spins until told to stop.
func runHog(ctx context.Context, c *worker.Child) (any, error) {
	if err := c.Ready(ctx); err != nil {
		return nil, err
	}
	runtime.LockOSThread()
	start := time.Now()
	var x uint64
	for ctx.Err() == nil {
		for i := range 1 << 16 {
			x += uint64(i) ^ x>>3
		}
	}
	return hogResult{BurnedNs: int64(time.Since(start)), Sum: x}, nil
}

// startHogs starts one hog per entry of cpus, pinned there, and returns
// the function that stops them all and waits for them.
func startHogs(ctx context.Context, env *ipc.Env, cpus []int) (stop func(), err error) {
	specs := make([]worker.Spec, len(cpus))
	for i, c := range cpus {
		specs[i] = worker.Spec{Kind: hogKind, Name: fmt.Sprintf("hog%d-cpu%d", i, c), Spec: struct{}{}, CPUs: []int{c}}
	}
	g, err := env.StartWorkers(ctx, specs)
	if err != nil {
		return nil, fmt.Errorf("--load: starting the CPU hogs: %w", err)
	}
	g.Go()
	return func() {
		g.Stop()
		_, _ = g.Wait(context.Background())
	}, nil
}
