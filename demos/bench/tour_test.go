package bench

import (
	"strings"
	"testing"
	"time"
)

// TestNarrateRoundTrips: the tour's sentences follow the run's numbers.
func TestNarrateRoundTrips(t *testing.T) {
	row := func(tr string, p50 time.Duration, ctx float64) Row {
		return Row{Transport: tr, Pattern: PingPong, Size: 64, Latency: Latency{P50: int64(p50)}, CtxSwitchesPerMsg: ctx}
	}
	for _, tc := range []struct {
		name     string
		rows     []Row
		want, no []string
	}{
		{"shm fastest, sleeping", []Row{row("pipe", 3759*time.Nanosecond, 2), row("shm", 2843*time.Nanosecond, 2), row("unix-stream", 7051*time.Nanosecond, 2.5)},
			[]string{"shm was fastest at 2.843µs", "unix-stream slowest at 7.051µs", "shm made 2.0 context switches per round trip, 2.0 of them sleeps: each end slept on the futex"}, nil},
		// A run of the tour: shm 2.679µs, pipe 2.979µs; "shm was fastest"
		// claimed a difference within the noise.
		{"two leaders", []Row{row("pipe", 2979*time.Nanosecond, 2), row("shm", 2679*time.Nanosecond, 2.1), row("unix-stream", 6339*time.Nanosecond, 2)},
			[]string{"shm and pipe were fastest, within this machine's noise of each other (2.679µs, 2.979µs per round trip); unix-stream was clearly slower at 6.339µs"},
			[]string{"shm was fastest"}},
		// The fixed prose said shm pays two futex wake-ups and implied it
		// wins; here pipe wins and shm hardly slept.
		{"pipe fastest, shm spinning", []Row{row("pipe", 3*time.Microsecond, 2), row("shm", 9*time.Microsecond, 0.1), row("unix-stream", 7*time.Microsecond, 2)},
			[]string{"pipe was fastest", "shm slowest", "shm made 0.1 context switches per round trip, only 0.1 of them sleeps"}, []string{"each end slept"}},
		// Two switches per round trip, nearly all preemptions: not sleeps.
		{"shm preempted, not sleeping", []Row{row("pipe", 3*time.Microsecond, 2), func() Row {
			r := row("shm", 9*time.Microsecond, 2)
			r.Messages, r.SenderVoluntaryCtx, r.ReceiverVoluntaryCtx, r.SenderInvoluntaryCtx, r.ReceiverInvoluntaryCtx = 1000, 50, 50, 900, 1000
			return r
		}()}, []string{"shm made 2.0 context switches per round trip, only 0.1 of them sleeps", "1.9 per round trip were preemptions"}, []string{"each end slept"}},
		{"within noise", []Row{row("pipe", 3*time.Microsecond, 2), row("shm", 3100*time.Nanosecond, 2), row("unix-stream", 3500*time.Nanosecond, 2)},
			[]string{"All 3 were within this machine's noise", "no clear difference"}, []string{"fastest"}},
	} {
		got := NarrateRoundTrips(&Result{Results: tc.rows})
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: %q lacks %q", tc.name, got, w)
			}
		}
		for _, w := range tc.no {
			if strings.Contains(got, w) {
				t.Errorf("%s: %q says %q", tc.name, got, w)
			}
		}
	}
}
