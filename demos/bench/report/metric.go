package report

import (
	"fmt"
	"strings"

	"github.com/ipcplay/ipcplay/demos/bench"
)

// Metric is a column the tables can be sorted by.
type Metric struct {
	Name   string
	Desc   string
	higher bool // higher is better (throughput)
	value  func(r bench.Row) float64
}

// Metrics are the values of --sort, plus "auto": p50 latency for pingpong,
// MB/s for stream.
var Metrics = []Metric{
	{Name: "msgs", Desc: "messages (round trips) per second", higher: true, value: func(r bench.Row) float64 { return r.MsgsPerS }},
	{Name: "mb", Desc: "megabytes per second", higher: true, value: func(r bench.Row) float64 { return r.MBPerS }},
	{Name: "p50", Desc: "median latency", value: func(r bench.Row) float64 { return float64(r.Latency.P50) }},
	{Name: "p90", Desc: "90th percentile latency", value: func(r bench.Row) float64 { return float64(r.Latency.P90) }},
	{Name: "p99", Desc: "99th percentile latency", value: func(r bench.Row) float64 { return float64(r.Latency.P99) }},
	{Name: "p999", Desc: "99.9th percentile latency", value: func(r bench.Row) float64 { return float64(r.Latency.P999) }},
	{Name: "mean", Desc: "mean latency", value: func(r bench.Row) float64 { return float64(r.Latency.Mean) }},
	{Name: "cpu", Desc: "CPU time of both ends per message", value: func(r bench.Row) float64 { return r.CPUNsPerMsg }},
	{Name: "ctx", Desc: "context switches of both ends per message", value: func(r bench.Row) float64 { return r.CtxSwitchesPerMsg }},
}

// ParseSort checks a --sort value: "auto" or a metric name.
func ParseSort(s string) (string, error) {
	if s == "" || s == "auto" {
		return "auto", nil
	}
	if _, ok := metric(s); ok {
		return s, nil
	}
	names := []string{"auto"}
	for _, m := range Metrics {
		names = append(names, m.Name)
	}
	return "", fmt.Errorf("--sort %q: must be one of %s", s, strings.Join(names, ", "))
}

func metric(name string) (Metric, bool) {
	for _, m := range Metrics {
		if m.Name == name {
			return m, true
		}
	}
	return Metric{}, false
}

// metricFor resolves "auto" for a pattern.
func metricFor(sort, pattern string) Metric {
	if sort == "" || sort == "auto" {
		sort = "p50"
		if pattern == bench.Stream {
			sort = "mb"
		}
	}
	m, _ := metric(sort)
	return m
}

// ratio is how many times worse than best a value is (>= 1), or 0 when it
// cannot be said (a zero).
func (m Metric) ratio(v, best float64) float64 {
	if m.higher {
		if v <= 0 {
			return 0
		}
		return best / v
	}
	if best <= 0 {
		if v <= 0 {
			return 1
		}
		return 0
	}
	return v / best
}

// better reports whether a ranks before b.
func (m Metric) better(a, b float64) bool {
	if m.higher {
		return a > b
	}
	return a < b
}
