package bench

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// The tour's transport step, rendered and told.

// byP50 sorts rows by their median latency, fastest first.
func byP50(rows []Row) []Row {
	out := append([]Row(nil), rows...)
	sort.Slice(out, func(i, j int) bool { return out[i].Latency.P50 < out[j].Latency.P50 })
	return out
}

// RenderRoundTrips prints a ping-pong result as the tour's compact table:
// one line per transport, fastest first, with the p50 and p99 round trip,
// round trips per second, CPU per round trip and lost/corrupt counts.
func RenderRoundTrips(w io.Writer, r *Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "transport\tround trip p50\tp99\tround trips/s\tCPU per round trip\tlost/corrupt")
	for _, row := range byP50(r.Results) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.0f\t%s\t%d/%d\n", row.Transport,
			time.Duration(row.Latency.P50), time.Duration(row.Latency.P99), row.MsgsPerS,
			time.Duration(int64(row.CPUNsPerMsg)), row.Lost, row.Corrupt)
	}
	return tw.Flush()
}

// NarrateRoundTrips says which transport was fastest and why, for the
// tour, from the run's own numbers: who was faster only where the
// difference is clear (CompareP50), and what the context switches per
// round trip say about sleeping. r must hold at least one row.
func NarrateRoundTrips(r *Result) string {
	rows := byP50(r.Results)
	fast, slow := rows[0], rows[len(rows)-1]
	var b strings.Builder
	var lead []Row // the rows within noise of the fastest
	for _, row := range rows {
		if CompareP50(fast, row) == 0 {
			lead = append(lead, row)
		}
	}
	switch {
	case len(rows) == 1:
	case len(lead) == len(rows):
		fmt.Fprintf(&b, "All %d were within this machine's noise of each other, %s to %s per round trip: no clear difference in one run. ",
			len(rows), time.Duration(fast.Latency.P50), time.Duration(slow.Latency.P50))
	case len(lead) == 1:
		fmt.Fprintf(&b, "%s was fastest at %s per round trip, %s slowest at %s. ", fast.Transport, time.Duration(fast.Latency.P50), slow.Transport, time.Duration(slow.Latency.P50))
	default:
		var names, times []string
		for _, row := range lead {
			names = append(names, row.Transport)
			times = append(times, time.Duration(row.Latency.P50).String())
		}
		fmt.Fprintf(&b, "%s were fastest, within this machine's noise of each other (%s per round trip); %s was clearly slower at %s. ",
			strings.Join(names, " and "), strings.Join(times, ", "), slow.Transport, time.Duration(slow.Latency.P50))
	}
	for _, row := range rows {
		if row.Transport != "shm" {
			continue
		}
		// Sleeps are the voluntary switches; the involuntary ones are
		// preemptions, which say nothing about the futex.
		sleeps, preempts := row.CtxSwitchesPerMsg, 0.0
		if n := float64(row.Messages); n > 0 {
			sleeps = float64(row.SenderVoluntaryCtx+row.ReceiverVoluntaryCtx) / n
			preempts = float64(row.SenderInvoluntaryCtx+row.ReceiverInvoluntaryCtx) / n
		}
		switch {
		case sleeps >= 1.5:
			fmt.Fprintf(&b, "shm made %.1f context switches per round trip, %.1f of them sleeps: each end slept on the futex and was woken, as pipes and sockets sleep in read. ", row.CtxSwitchesPerMsg, sleeps)
		default:
			fmt.Fprintf(&b, "shm made %.1f context switches per round trip, only %.1f of them sleeps: the answer was mostly there before an end went to sleep. ", row.CtxSwitchesPerMsg, sleeps)
		}
		if preempts >= 0.1 {
			fmt.Fprintf(&b, "%.1f per round trip were preemptions (involuntary): something else wanted the CPUs. ", preempts)
		}
	}
	b.WriteString("At 64 bytes, copying the message through the kernel (pipes, sockets) costs little; the wake-ups decide. ")
	b.WriteString("Every message carried a sequence number and a checksum, so lost or damaged messages would have shown in the last column. 'ipcplay bench' measures every transport, sizes and throughput.")
	return b.String()
}
