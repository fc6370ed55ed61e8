package bench

import (
	"fmt"
	"strings"

	"github.com/ipcplay/ipcplay/ipc/plural"
)

// A run judges its own numbers before it reports them: a floor the
// hardware cannot have, a percentile from too few samples, a tail that is
// the scheduler's rather than the transport's. Each doubt is a Warning in
// plain words, on its row and in the document's list. The rules are pure
// functions of the document, so that they are tested on made-up numbers.

// Plausible floors. A cache line handed between two CPUs and back takes
// about 50 ns (SMT siblings) to 1 µs (sockets apart) on real hardware; a
// round trip through two sched_yield(2) context switches on one CPU a few
// µs. A measured floor above these means that the floor's two processes
// were not both running (a busy machine, a descheduled vCPU).
const (
	MaxPlausibleC2CNs   = 2_000
	MaxPlausibleYieldNs = 50_000
)

// Tail rules. A percentile needs samples: with fewer than minSamplesP99
// (minSamplesP999) latencies, p99 (p99.9) is merely the slowest one. A p99
// TailFactor times the p50 or more is made by waits for a CPU, not by the
// transport.
const (
	minSamplesP99  = 100
	minSamplesP999 = 1000
	TailFactor     = 100
)

// NoiseRatio: two values of one run (no --repeat) closer than this factor
// are within the run-to-run noise of a shared machine, "no clear
// difference"; with --repeat, the runs' p50 ranges decide (CompareP50).
const NoiseRatio = 1.25

// Name is a row's name in warnings and conclusions: "pipe pingpong 64 B".
func (r Row) Name() string {
	return fmt.Sprintf("%s %s %s", r.Label(), r.Pattern, SizeLabel(r.Size))
}

// SizeLabel writes a message size for people: "64 B", "4 KiB", "1 MiB".
func SizeLabel(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

// CompareP50 says which of two rows has the lower median latency: -1 a,
// +1 b, 0 no clear difference. Rows measured with --repeat differ clearly
// when their runs' p50 ranges do not overlap; single runs when one p50 is
// at least NoiseRatio times the other.
func CompareP50(a, b Row) int {
	if a.Spread != nil && b.Spread != nil {
		switch {
		case a.Spread.P50Max < b.Spread.P50Min:
			return -1
		case b.Spread.P50Max < a.Spread.P50Min:
			return 1
		}
		return 0
	}
	return CompareValues(float64(a.Latency.P50), float64(b.Latency.P50))
}

// CompareValues says which of two single measurements is lower: -1 a, +1
// b, 0 within NoiseRatio of each other (or either missing).
func CompareValues(a, b float64) int {
	switch {
	case a <= 0 || b <= 0:
		return 0
	case b >= a*NoiseRatio:
		return -1
	case a >= b*NoiseRatio:
		return 1
	}
	return 0
}

// judge fills in the run's warnings: the floor's suspicion, each row's
// warnings, and the document's list of both.
func judge(res *Result) {
	res.Warnings = []Warning{}
	if f := res.Floor; f != nil {
		f.Suspect, f.SuspectReason = false, ""
		if why := floorDoubt(f, res.Results); why != "" {
			f.Suspect, f.SuspectReason = true, why
			res.Warnings = append(res.Warnings, Warning{Code: "floor_suspect",
				Text: "the floor is suspect: " + why + ". The xFLOOR ratios are marked '?'; measure again on a quiet machine, pinned with --cpus"})
		}
	}
	for i := range res.Results {
		r := &res.Results[i]
		t, _ := lookupTransport(r.Transport)
		r.Warnings = rowWarnings(*r, res.Settings, t != nil && t.neverSleeps)
		for _, w := range r.Warnings {
			w.Row = r.Name()
			res.Warnings = append(res.Warnings, w)
		}
	}
}

// floorDoubt returns why the floor cannot be trusted, or "": it is more
// than the hardware takes, or a row came in below it (no transport beats
// the cache line it moves through).
func floorDoubt(f *Floor, rows []Row) string {
	var why []string
	rtt := Dur(f.C2CRttNs)
	if n := len(f.RoundsNs); n > 1 {
		rtt += fmt.Sprintf(" (the least median of %d rounds)", n)
	}
	switch {
	case !f.SameCPU && f.C2CRttNs > MaxPlausibleC2CNs:
		why = append(why, fmt.Sprintf("a cache-line round trip between two CPUs takes about 50ns to 1µs on real hardware, but %s was measured: likely the floor's two processes were not both running, because the machine was busy or the hypervisor did not run a vCPU", rtt))
	case f.SameCPU && f.C2CRttNs > MaxPlausibleYieldNs:
		why = append(why, fmt.Sprintf("two context switches on one CPU take a few µs, but %s was measured: likely other processes were running on that CPU", rtt))
	}
	var below []string
	for _, r := range rows {
		if r.XFloor > 0 && r.XFloor < 1 {
			below = append(below, fmt.Sprintf("%s (%.2fx)", r.Name(), r.XFloor))
		}
	}
	if len(below) > 0 {
		list := strings.Join(below, ", ")
		if len(below) > 3 {
			list = fmt.Sprintf("%s and %d more", strings.Join(below[:3], ", "), len(below)-3)
		}
		where := "likely the floor was measured at a busy moment, or the hypervisor moved the vCPUs closer since"
		if !f.Pinned {
			where = "likely the floor was measured at a busy moment, or (not pinned) the ends ran on a closer pair of CPUs than the floor's"
		}
		why = append(why, fmt.Sprintf("%s in below it, which no transport can do: %s; %s", plural.Count(len(below), "row came", "rows came"), list, where))
	}
	return strings.Join(why, "; ")
}

// RateKeptUp: an open-loop row (--rate) that reached less than this
// fraction of its rate did not keep up. One that keeps up sends every
// message on schedule and its msgs/s is the rate, less only the drain of
// the last few messages; 95% leaves room for that and for the timer's
// slack, and no more.
const RateKeptUp = 0.95

// BehindRate reports whether an open-loop row fell behind its rate
// (RateKeptUp).
func (r Row) BehindRate() bool {
	return r.RatePerSec > 0 && r.MsgsPerS < RateKeptUp*r.RatePerSec
}

// rowWarnings judges one row of a run with settings s; neverSleeps: the
// transport polls and never sleeps (shm-spin).
func rowWarnings(r Row, s Settings, neverSleeps bool) []Warning {
	out := []Warning{}
	if r.BehindRate() {
		xf := ""
		if r.XFloor > 0 {
			xf = fmt.Sprintf(", and nor is its xFLOOR %sx", Sig3(r.XFloor))
		}
		out = append(out, Warning{Code: "below_rate", Text: fmt.Sprintf(
			"did not keep up with the rate: %s msgs/s is %.0f%% of --rate %s (below %.0f%% counts as behind). The messages it could not send on time queued up, more of them the longer it ran, so its latencies (p50 %s, p99 %s) are mostly that queueing delay and grow with the run's length: they are not the transport's latency%s. Measure it at a rate it keeps up with, or without --rate for its closed-loop maximum",
			Rate3(r.MsgsPerS), 100*r.MsgsPerS/r.RatePerSec, FormatRate(r.RatePerSec), 100*RateKeptUp, Dur(r.Latency.P50), Dur(r.Latency.P99), xf)})
	}
	what := ""
	if r.Pattern == Stream && r.RatePerSec == 0 {
		what = " (one stream message in 16 is timed)"
	}
	switch n := r.LatencySamples; {
	case n > 0 && n < minSamplesP99:
		out = append(out, Warning{Code: "few_samples", Text: fmt.Sprintf(
			"only %s%s in %s: p99 needs at least %d and p99.9 at least %d, so both are just the slowest of these few; measure longer (--duration, --count)",
			plural.Count(n, "latency", "latencies"), what, Dur(r.ElapsedNs), minSamplesP99, minSamplesP999)})
	case n > 0 && n < minSamplesP999:
		out = append(out, Warning{Code: "few_samples", Text: fmt.Sprintf(
			"only %d latencies%s: p99.9 needs at least %d, so it is just the slowest of these; measure longer (--duration, --count)",
			n, what, minSamplesP999)})
	}
	run := s.DurationNs
	if run <= 0 {
		run = r.ElapsedNs
	}
	p50, p99 := r.Latency.P50, r.Latency.P99
	switch {
	case run > 0 && p99 > run:
		over := ""
		if r.ElapsedNs > run {
			over = fmt.Sprintf(" (it overran to %s)", Dur(r.ElapsedNs))
		}
		out = append(out, Warning{Code: "tail_longer_than_run", Text: fmt.Sprintf(
			"p99 %s is longer than the whole run was meant to take, %s%s: %s",
			Dur(p99), Dur(run), over, tailCause(r, s, neverSleeps))})
	case p50 > 0 && p99 >= TailFactor*p50:
		out = append(out, Warning{Code: "scheduling_tail", Text: fmt.Sprintf(
			"p99 %s is %.0fx the p50 %s: 1 message in 100 waited far longer than the typical one; %s",
			Dur(p99), float64(p99)/float64(p50), Dur(p50), tailCause(r, s, neverSleeps))})
	}
	if neverSleeps && r.CtxSwitchesPerMsg >= 0.005 {
		where := "likely they shared a CPU with each other or with another program"
		switch {
		case s.Load != "":
			where = "the --load hogs share their CPUs"
		case len(s.CPUs) == 2 && s.CPUs[0] == s.CPUs[1]:
			where = fmt.Sprintf("both ends are pinned to CPU %d, so the waiting end can only spin until it yields to its peer", s.CPUs[0])
		case len(s.CPUs) != 2:
			where = "not pinned, likely the scheduler put them on a CPU shared with each other or with another program"
		}
		out = append(out, Warning{Code: "spinner_descheduled", Text: fmt.Sprintf(
			"%s never sleeps, yet its ends switched %.2f times per message (involuntary: sender %d, receiver %d; preempted, or gave way with sched_yield after 4096 polls): %s. Spinning is fast only while each end has a CPU of its own; while one end is off its CPU the other spins for nothing",
			r.Transport, r.CtxSwitchesPerMsg, r.SenderInvoluntaryCtx, r.ReceiverInvoluntaryCtx, where)})
	}
	return out
}

// sleepsIn says how an end of the transport waits for its peer when it
// goes to sleep; "" for one that never sleeps.
func sleepsIn(transport string) string {
	switch transport {
	case "shm-spin":
		return ""
	case "shm":
		return "shm sleeps on a futex whenever its ring is empty (or full) and is woken by its peer's FUTEX_WAKE"
	case "shm-adaptive":
		return "shm-adaptive falls back to a futex sleep whenever its polling budget runs out before the answer comes"
	case "shm-sem":
		return "shm-sem sleeps in sem_wait (a futex) whenever its semaphore is zero"
	case "sysv-msgq":
		return "sysv-msgq sleeps in msgrcv(2) until a message arrives"
	case "posix-mq":
		return "posix-mq sleeps in mq_receive(3) until a message arrives"
	case "eventfd":
		return "eventfd sleeps in read(2) until its counter is non-zero"
	}
	return transport + " sleeps in read(2)/recv(2) until data arrives"
}

// tailCause says what the slow messages of a row likely waited for,
// from what was measured, strongest evidence first:
//   - an open loop that fell behind: the backlog;
//   - involuntary context switches (ru_nivcsw) at least as many as the
//     slow messages: preemption;
//   - on a busy machine (--load hogs, a load average above the CPUs), a
//     woken end waits in the run queue, which counts no involuntary
//     switch of its own: likely run-queue waits;
//   - voluntary switches (ru_nvcsw) at least as many as the slow
//     messages: the transport's own sleeps and wake-ups;
//   - fewer preemptions than slow messages: part of the tail at most.
//
// Only when none of these is there are the waits put down to the kernel
// or the hypervisor, and then as likely, not known.
func tailCause(r Row, s Settings, neverSleeps bool) string {
	if r.BehindRate() {
		return "the row did not keep up with --rate (below_rate), so its messages waited behind the backlog"
	}
	n := max(r.LatencySamples, r.Messages)
	slow := max(n/100, 1) // the messages beyond p99
	snd, rcv := r.SenderInvoluntaryCtx, r.ReceiverInvoluntaryCtx
	vol := r.SenderVoluntaryCtx + r.ReceiverVoluntaryCtx
	var causes []string
	if r.RatePerSec > 0 {
		causes = append(causes, "open loop, a latency counts from the message's scheduled send time, so a message also waited for the ones queued ahead of it")
	}
	preempt := preempted(r, s, neverSleeps)
	if snd+rcv >= slow {
		causes = append(causes, preempt+": likely a large part of the tail")
	}
	busy := ""
	switch {
	case s.Load != "":
		busy = fmt.Sprintf("the --load hogs (%s) kept the CPUs busy", plural.Count(len(s.LoadCPUs), "hog", "hogs"))
	case s.NumCPU > 0 && s.LoadAvg1 > float64(s.NumCPU):
		busy = fmt.Sprintf("the load average was %.1f on %s (this run's own ends included): more runnable tasks than CPUs",
			s.LoadAvg1, plural.Count(s.NumCPU, "CPU", "CPUs"))
	}
	if busy != "" && !neverSleeps {
		causes = append(causes, busy+"; an end woken from a sleep then likely waited in the run queue behind them, and such a wait counts no involuntary context switch of its own")
	}
	if !neverSleeps && vol >= slow && r.Messages > 0 {
		causes = append(causes, fmt.Sprintf("the ends went to sleep %s (voluntary context switches, %.2f per message): %s; each sleep ends in a wake-up that takes µs to tens of µs, more on a busy CPU or an idle vCPU, so likely a part of the tail is the transport's own sleeps",
			plural.Count(vol, "time", "times"), float64(vol)/float64(r.Messages), sleepsIn(r.Transport)))
	}
	if snd+rcv > 0 && snd+rcv < slow {
		causes = append(causes, fmt.Sprintf("%s, fewer than the %s beyond p99, so preemption made part of the tail at most", preempt, plural.Count(slow, "message", "messages")))
	}
	if len(causes) == 0 || (len(causes) == 1 && r.RatePerSec > 0) {
		quiet := "neither end was preempted (no involuntary context switches)"
		switch {
		case !neverSleeps && vol == 0:
			quiet += " and neither went to sleep (no voluntary ones)"
		case !neverSleeps:
			quiet += fmt.Sprintf(" and they slept only %s (voluntary switches)", plural.Count(vol, "time", "times"))
		}
		if s.LoadAvg1 > 0 {
			quiet += fmt.Sprintf(", and the load average was %.1f on %s", s.LoadAvg1, plural.Count(s.NumCPU, "CPU", "CPUs"))
		}
		causes = append(causes, quiet+": likely the kernel's or the hypervisor's waits (interrupts, a vCPU the hypervisor did not run)")
	}
	return "likely causes: " + strings.Join(causes, "; ")
}

// Dur writes nanoseconds for people, to three significant digits as the
// tables do: 812ns, 4.21µs, 1.88s.
func Dur(ns int64) string {
	switch {
	case ns <= 0:
		return "0s"
	case ns < 1000:
		return fmt.Sprintf("%dns", ns)
	}
	return DurF(float64(ns))
}

// DurF writes v nanoseconds, fractional, to three significant digits, as
// the tables do: 2.80ns, 812ns, 4.21µs, 13.2ms (999.7µs is 1.00ms).
func DurF(v float64) string {
	units, i := []string{"ns", "µs", "ms", "s"}, 0
	for v >= 999.5 && i < len(units)-1 {
		v /= 1000
		i++
	}
	return Sig3(v) + units[i]
}

// preempted says, from the involuntary context switches of each end, who
// lost the CPU how often and to what: "the receiver was preempted 3 times
// by …". A spinner's count includes its yields. Empty when neither was.
func preempted(r Row, s Settings, neverSleeps bool) string {
	snd, rcv := r.SenderInvoluntaryCtx, r.ReceiverInvoluntaryCtx
	by := "by another runnable process (the other end on the same CPU, another program)"
	if s.Load != "" {
		by = "by the --load hogs"
	}
	if neverSleeps {
		by = "(preempted " + by + ", or yielding to its peer)"
	}
	lost := "preempted"
	if neverSleeps {
		lost = "switched out"
	}
	times := func(n int64) string { return plural.Count(n, "time", "times") }
	switch {
	case snd == 0 && rcv == 0:
		return ""
	case rcv > 0 && snd > 0:
		return fmt.Sprintf("the receiver was %s %s and the sender %s %s", lost, times(rcv), times(snd), by)
	case rcv > 0:
		return fmt.Sprintf("the receiver was %s %s %s", lost, times(rcv), by)
	}
	return fmt.Sprintf("the sender was %s %s %s", lost, times(snd), by)
}

// Rate3 writes a count per second to three significant digits, as the
// tables do: 812, 19.4k, 1.20M (FormatRate writes it exactly).
func Rate3(v float64) string {
	switch {
	case v >= 1e6:
		return Sig3(v/1e6) + "M"
	case v >= 1e3:
		return Sig3(v/1e3) + "k"
	}
	return Sig3(v)
}

// Sig3 writes v to three significant digits (v below 1000): 812, 19.4,
// 1.20; 99.96 rounds to 100, not 100.0.
func Sig3(v float64) string {
	switch {
	case v >= 99.95:
		return fmt.Sprintf("%.0f", v)
	case v >= 9.995:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}
