package race

import (
	"testing"

	"github.com/ipcplay/ipcplay/ipc/ipctest"
)

// BenchmarkRace runs each mode with 2 worker processes doing b.N
// increments each (pinned to the first two allowed CPUs where there are two). The
// standard ns/op includes starting the workers; ns/incr is the lab's own
// figure: the wall time from the start line to the last increment divided
// by all increments, as `ipcplay race` reports it.
//
//	go test -run '^$' -bench Race -benchtime 200000x ./demos/race/
func BenchmarkRace(b *testing.B) {
	var cpus []int // one worker per allowed CPU where there are two
	if allowed := ipctest.AllowedCPUs(b); len(allowed) >= 2 {
		cpus = allowed[:2]
	}
	for _, unit := range []string{UnitProcess, UnitThread} {
		for _, mode := range Modes(unit) {
			b.Run(unit+"/"+mode, func(b *testing.B) {
				e := newEngine(b)
				res, err := runRace(b, e, Params{Modes: []string{mode}, Unit: unit, Procs: 2, Iters: int64(b.N), CPUs: cpus})
				if err != nil {
					b.Fatal(err)
				}
				m := res.Results[0]
				b.ReportMetric(m.NsPerOp, "ns/incr")
				b.ReportMetric(m.LostPct, "lost%")
			})
		}
	}
}
