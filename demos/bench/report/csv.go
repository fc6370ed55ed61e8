package report

import (
	"encoding/csv"
	"io"
	"strconv"
	"strings"

	"github.com/ipcplay/ipcplay/demos/bench"
)

// CSVHeader names the columns CSV writes.
var CSVHeader = []string{
	"transport", "pattern", "size", "messages", "bytes", "elapsed_ns", "msgs_per_sec", "mb_per_sec",
	"latency_kind", "latency_min_ns", "latency_p50_ns", "latency_p90_ns", "latency_p99_ns", "latency_p999_ns",
	"latency_max_ns", "latency_mean_ns", "cpu_ns_per_msg", "sender_cpu_ns_per_msg", "receiver_cpu_ns_per_msg",
	"ctx_switches_per_msg", "lost", "corrupt", "reordered", "repeats", "spread_relative",
	"x_floor", "spin", "rate_per_sec", "latency_samples", "warnings",
}

// CSV writes one line per result, with a header line, in the order of
// res.Results. The warnings column holds the codes of the row's
// warnings, separated by ';' (the texts are in the table and --json).
func CSV(w io.Writer, res *bench.Result) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	i := func(v int64) string { return strconv.FormatInt(v, 10) }
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	for _, r := range res.Results {
		spread := ""
		if r.Spread != nil {
			spread = f(r.Spread.Relative)
		}
		spin := ""
		if r.Spin != nil {
			spin = strconv.Itoa(*r.Spin)
		}
		rate := ""
		if r.RatePerSec > 0 {
			rate = f(r.RatePerSec)
		}
		var codes []string
		for _, w := range r.Warnings {
			codes = append(codes, w.Code)
		}
		l := r.Latency
		if err := cw.Write([]string{
			r.Transport, r.Pattern, strconv.Itoa(r.Size), i(r.Messages), i(r.Bytes), i(r.ElapsedNs), f(r.MsgsPerS), f(r.MBPerS),
			r.LatencyKind, i(l.Min), i(l.P50), i(l.P90), i(l.P99), i(l.P999), i(l.Max), i(l.Mean),
			f(r.CPUNsPerMsg), f(r.SenderCPUNsPerMsg), f(r.ReceiverCPUNsPerMsg), f(r.CtxSwitchesPerMsg),
			i(r.Lost), i(r.Corrupt), i(r.Reordered), strconv.Itoa(r.Repeats), spread,
			f(r.XFloor), spin, rate, i(r.LatencySamples), strings.Join(codes, ";"),
		}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
