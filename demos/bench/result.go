package bench

import (
	"fmt"
	"time"
)

// Result is the document of a bench run (DESIGN.md: `ipcplay bench
// --json`; the CLI adds "engine" and "run_id").
type Result struct {
	Kind     string   `json:"kind"` // "bench"
	Settings Settings `json:"settings"`
	Results  []Row    `json:"results"`
	// Skipped lists what was left out and why (a size above a transport's
	// limit, eventfd's stream pattern, an unavailable transport).
	Skipped []Skip `json:"skipped"`
	// Failed lists cells that could not be measured, with the error.
	Failed []Failure `json:"failed,omitempty"`
	// Floor is the hardware's floor on the run's CPUs (floor.go), measured
	// before the cells; FloorError says why it is missing.
	Floor      *Floor `json:"floor,omitempty"`
	FloorError string `json:"floor_error,omitempty"`
	WallNs     int64  `json:"wall_ns"`
	// Warnings are the run's doubts about its own numbers (judge.go): a
	// suspect floor, and each row's warnings again, naming the row.
	// Empty when there is none.
	Warnings []Warning `json:"warnings"`
}

// Warning is one doubt about a number, in plain words. Code is stable
// for programs ("floor_suspect", "few_samples", "tail_longer_than_run",
// "scheduling_tail", "spinner_descheduled", "below_rate");
// Text says
// what happened and what to do. Row is the row's label ("pipe pingpong
// 64 B") in the document's list, empty in a row's own list.
type Warning struct {
	Code string `json:"code"`
	Row  string `json:"row,omitempty"`
	Text string `json:"text"`
}

// Settings are the parameters the run used, after defaults.
type Settings struct {
	Transports []string `json:"transports"`
	Patterns   []string `json:"patterns"`
	Sizes      []int    `json:"sizes"`
	DurationNs int64    `json:"duration_ns,omitempty"`
	Count      int64    `json:"count,omitempty"`
	WarmupNs   int64    `json:"warmup_ns"`
	Repeat     int      `json:"repeat"`
	CPUs       []int    `json:"cpus,omitempty"` // sender, receiver
	NumCPU     int      `json:"num_cpu"`
	Fault      string   `json:"fault,omitempty"`
	Spin       []int    `json:"spin,omitempty"`         // shm-adaptive budgets
	RatePerSec float64  `json:"rate_per_sec,omitempty"` // open loop
	Load       string   `json:"load,omitempty"`         // --load
	LoadCPUs   []int    `json:"load_cpus,omitempty"`    // the CPU of each hog
	// LoadAvg1 is the 1-minute load average (sysinfo(2), as in
	// /proc/loadavg) when the cells had run: runnable tasks, this run's
	// own ends included. 0: not read.
	LoadAvg1 float64 `json:"load_avg_1m,omitempty"`
}

// Row is one transport x pattern x size. For pingpong, a message is a round
// trip and the latency is the round trip time, timed by the sender; for
// stream, the latency is one way, sampled (every 16th message carries its
// send time and the receiver subtracts it from its own clock) and includes
// the time spent queued behind earlier messages.
type Row struct {
	Transport string  `json:"transport"`
	Pattern   string  `json:"pattern"`
	Size      int     `json:"size"`
	Messages  int64   `json:"messages"`
	Bytes     int64   `json:"bytes"`
	ElapsedNs int64   `json:"elapsed_ns"`
	MsgsPerS  float64 `json:"msgs_per_sec"`
	MBPerS    float64 `json:"mb_per_sec"` // 10^6 bytes per second
	Latency   Latency `json:"latency_ns"`
	// CPU time (user+system) and context switches (voluntary+involuntary)
	// of both ends per message, from getrusage(RUSAGE_SELF) of each worker
	// around its measured loop.
	CPUNsPerMsg       float64 `json:"cpu_ns_per_msg"`
	CtxSwitchesPerMsg float64 `json:"ctx_switches_per_msg"`
	Lost              int64   `json:"lost"`
	Corrupt           int64   `json:"corrupt"`
	Reordered         int64   `json:"reordered"`

	// LatencyKind: "round_trip" or "one_way_sampled" (closed loop);
	// open loop (--rate), "round_trip_from_schedule" or
	// "one_way_from_schedule": every message, from its scheduled send time.
	LatencyKind         string   `json:"latency_kind"`
	SenderCPUNsPerMsg   float64  `json:"sender_cpu_ns_per_msg"`
	ReceiverCPUNsPerMsg float64  `json:"receiver_cpu_ns_per_msg"`
	Repeats             int      `json:"repeats"`
	Spread              *Spread  `json:"spread,omitempty"` // with repeats > 1
	Note                string   `json:"note,omitempty"`
	Histogram           []Bucket `json:"histogram,omitempty"`
	// XFloor is Latency.P50 over the floor that applies (Floor.For): for
	// pingpong the cache-line round trip plus a copy each way, for stream
	// half of it plus one copy. 0 without a floor.
	XFloor float64 `json:"x_floor"`
	// Spin is shm-adaptive's polling budget for this row.
	Spin *int `json:"spin,omitempty"`
	// RatePerSec is the open-loop send rate (--rate); absent: closed loop.
	RatePerSec float64 `json:"rate_per_sec,omitempty"`
	// LatencySamples is how many latencies the percentiles come from
	// (every round trip; one stream message in 16, every one open loop).
	LatencySamples int64 `json:"latency_samples"`
	// Involuntary context switches of each end during the measured run
	// (getrusage ru_nivcsw): the scheduler took the CPU away (another
	// runnable process, a --load hog, the other end on the same CPU), or
	// a spinning end gave it up with sched_yield(2).
	SenderInvoluntaryCtx   int64 `json:"sender_involuntary_ctx_switches"`
	ReceiverInvoluntaryCtx int64 `json:"receiver_involuntary_ctx_switches"`
	// Voluntary context switches of each end (getrusage ru_nvcsw): the
	// end went to sleep itself (futex wait, a blocking read or receive).
	SenderVoluntaryCtx   int64 `json:"sender_voluntary_ctx_switches"`
	ReceiverVoluntaryCtx int64 `json:"receiver_voluntary_ctx_switches"`
	// Warnings say when the row's numbers mean less than they seem
	// (judge.go): too few samples for a percentile, a tail made by the
	// scheduler. Empty when there is none.
	Warnings []Warning `json:"warnings"`
}

// Latency percentiles, integer nanoseconds (HDR histogram, 3 significant
// digits).
type Latency struct {
	Min  int64 `json:"min"`
	P50  int64 `json:"p50"`
	P90  int64 `json:"p90"`
	P99  int64 `json:"p99"`
	P999 int64 `json:"p999"`
	Max  int64 `json:"max"`
	Mean int64 `json:"mean"`
}

// Spread is how the repeated runs of a cell varied; the row shows the
// median run (by msgs_per_sec).
type Spread struct {
	MsgsPerSecMin float64 `json:"msgs_per_sec_min"`
	MsgsPerSecMax float64 `json:"msgs_per_sec_max"`
	P50Min        int64   `json:"p50_min_ns"`
	P50Max        int64   `json:"p50_max_ns"`
	// Relative is (max - min) / median of msgs_per_sec.
	Relative float64 `json:"relative"`
}

// Bucket is a histogram bar: Count latencies in (previous LeNs, LeNs].
type Bucket struct {
	LeNs  int64 `json:"le_ns"`
	Count int64 `json:"count"`
}

// Failure is a cell that could not be measured.
type Failure struct {
	Transport string `json:"transport"`
	Pattern   string `json:"pattern"`
	Size      int    `json:"size"`
	Error     string `json:"error"`
}

// Label names the row in tables: the transport, with its polling budget
// for shm-adaptive ("shm-adaptive spin=1000").
func (r Row) Label() string {
	if r.Spin != nil {
		return fmt.Sprintf("%s spin=%d", r.Transport, *r.Spin)
	}
	return r.Transport
}

// Bad reports whether the row lost, corrupted or reordered messages.
func (r Row) Bad() bool { return r.Lost != 0 || r.Corrupt != 0 || r.Reordered != 0 }

// Elapsed is ElapsedNs as a duration.
func (r Row) Elapsed() time.Duration { return time.Duration(r.ElapsedNs) }

// phase is what one worker measured in one run of a cell.
type phase struct {
	Messages    int64    `json:"messages"` // sent (sender) or received (receiver)
	ElapsedNs   int64    `json:"elapsed_ns"`
	CPUNs       int64    `json:"cpu_ns"`
	CtxSwitches int64    `json:"ctx_switches"`
	InvolCtx    int64    `json:"involuntary_ctx_switches"`
	Samples     int64    `json:"samples"` // latencies recorded
	Lost        int64    `json:"lost"`
	Corrupt     int64    `json:"corrupt"`
	Reordered   int64    `json:"reordered"`
	Latency     *Latency `json:"latency,omitempty"`
	Histogram   []Bucket `json:"histogram,omitempty"`
}

// workerResult is a worker's answer: its measured runs (not the warm-up).
type workerResult struct {
	Phases []phase `json:"phases"`
}
