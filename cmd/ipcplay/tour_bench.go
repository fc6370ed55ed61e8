package main

import (
	"encoding/json"
	"io"
	"time"

	"github.com/ipcplay/ipcplay/demos/bench"
	"github.com/ipcplay/ipcplay/ipc"
)

// The tour's transport step: one 64-byte message back and forth between
// two processes over three transports, shown as a compact table.
func tourBenchStep() tourStep {
	return tourStep{
		name: "bench", title: "Transports: a 64-byte round trip between two processes",
		exp: "bench",
		params: func() any {
			warm := int64(50 * time.Millisecond)
			return bench.Params{
				Transports: []string{"shm", "unix-stream", "pipe"},
				Pattern:    bench.PingPong,
				Sizes:      []int{64},
				DurationNs: int64(300 * time.Millisecond),
				WarmupNs:   &warm,
				Repeat:     1,
			}
		},
		render: func(w io.Writer, res *ipc.RunResult) error {
			var r bench.Result
			if err := json.Unmarshal(res.Result, &r); err != nil {
				return err
			}
			return bench.RenderRoundTrips(w, &r)
		},
		narrate: func(res *ipc.RunResult) string {
			var r bench.Result
			if json.Unmarshal(res.Result, &r) != nil || len(r.Results) == 0 {
				return ""
			}
			return bench.NarrateRoundTrips(&r)
		},
	}
}
