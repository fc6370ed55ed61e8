package race

import "github.com/ipcplay/ipcplay/demos/conduct"

// Kind is the "kind" of the race experiment's JSON document.
const Kind = "race"

// Result is the race experiment's document (the CLI adds "engine" and
// "run_id").
type Result struct {
	Kind    string       `json:"kind"` // "race"
	CPUs    int          `json:"cpus"` // CPUs this engine may use (its affinity mask)
	Results []ModeResult `json:"results"`
	// Trace carries the recorded increments when Params.Trace is set; the
	// CLI writes it to the --trace file (WriteChromeTrace) and drops it
	// from the printed document.
	Trace *Trace `json:"trace,omitempty"`
}

// ModeResult is one mode's line of the table. Expected, Actual and Lost
// are those of the median trial (by Lost); ElapsedNs is the median of the
// trials' elapsed times and NsPerOp is ElapsedNs / Expected.
type ModeResult struct {
	Mode      string  `json:"mode"`
	Unit      string  `json:"unit"`
	Procs     int     `json:"procs"`
	Iters     int64   `json:"iters"`
	Shm       string  `json:"shm"`
	Expected  int64   `json:"expected"`
	Actual    int64   `json:"actual"`
	Lost      int64   `json:"lost"`
	LostPct   float64 `json:"lost_pct"`
	ElapsedNs int64   `json:"elapsed_ns"`
	NsPerOp   float64 `json:"ns_per_op"`
	OpsPerSec float64 `json:"ops_per_sec"`
	// CPU time and context switches of all workers of the median trial,
	// per increment (they include the workers' start-up).
	CPUNsPerOp       float64   `json:"cpu_ns_per_op"`
	SysNsPerOp       float64   `json:"sys_ns_per_op"`
	CtxSwitchesPerOp float64   `json:"ctx_switches_per_op"`
	Safe             bool      `json:"safe"`
	Lock             string    `json:"lock"`    // what serialises the increment
	Counter          string    `json:"counter"` // where the counter lives
	Explanation      string    `json:"explanation"`
	WindowNs         int64     `json:"window_ns,omitempty"`
	Yield            bool      `json:"yield,omitempty"`
	Undo             *bool     `json:"undo,omitempty"` // sysv-sem only
	CPUs             []int     `json:"cpus,omitempty"`
	SameLine         bool      `json:"same_line"`
	Trials           Trials    `json:"trials"`
	Recorded         int       `json:"recorded_per_worker,omitempty"`
	WitnessesFound   int       `json:"witnesses_found"`  // in every recorded trial
	WitnessesTimed   int       `json:"witnesses_timed"`  // of which the clocks order (Witness.Timed)
	WitnessedLost    int64     `json:"witnessed_lost"`   // updates those witnesses prove lost
	Witnesses        []Witness `json:"witnesses"`        // up to Params.Explain
	Broken           bool      `json:"broken,omitempty"` // a safe mode lost updates
	// OverlapPct is the share of the (median) trial's wall time, in
	// percent, during which two or more workers were incrementing at once,
	// from each worker's CLOCK_MONOTONIC start and end.
	OverlapPct float64 `json:"overlap_pct"`
	// RecordMask and RecordWindow say which increments were recorded:
	// those that loaded a value v with v & mask < window.
	RecordMask   uint64 `json:"record_mask,omitempty"`
	RecordWindow uint64 `json:"record_window,omitempty"`

	// A scheduled run (--schedule): the schedule, the seed of its random
	// part, every step, and where each worker stood at the end.
	Schedule string         `json:"schedule,omitempty"`
	Seed     *uint64        `json:"seed,omitempty"`
	Steps    []conduct.Row  `json:"steps,omitempty"`
	Next     []conduct.Next `json:"next,omitempty"`
	// Stopped: the run ended after the schedule's entries (--step), the
	// remaining steps were not taken.
	Stopped bool `json:"stopped,omitempty"`
	// Stuck: at some point every unfinished worker was blocked.
	Stuck bool `json:"stuck,omitempty"`
	// Lang is the workers' language: "go", "python" or "go,python". The
	// Python fields come from the Python workers themselves.
	Lang            string  `json:"lang"`
	PythonVersion   string  `json:"python_version,omitempty"`
	GILEnabled      *bool   `json:"gil_enabled,omitempty"`
	SwitchIntervalS float64 `json:"switch_interval_s,omitempty"` // sys.getswitchinterval() in the workers
}

// Trials summarises the repetitions of one mode.
type Trials struct {
	Count      int       `json:"count"`
	Lossy      int       `json:"lossy"` // trials that lost any update
	LostMin    int64     `json:"lost_min"`
	LostMedian int64     `json:"lost_median"`
	LostMax    int64     `json:"lost_max"`
	Lost       []int64   `json:"lost"`        // per trial
	ElapsedNs  []int64   `json:"elapsed_ns"`  // per trial
	OverlapPct []float64 `json:"overlap_pct"` // per trial
}

// Witness is a lost update reconstructed from the records: increments of
// different workers that all read Value before any of them stored Value+1.
type Witness struct {
	Mode  string `json:"mode"`
	Trial int    `json:"trial"` // 1-based
	Value uint64 `json:"value"` // read by every increment of the witness
	Wrote uint64 `json:"wrote"` // Value+1, stored by each of them
	Lost  int    `json:"lost"`  // increments minus one
	Steps []Step `json:"steps"` // loads and stores, by timestamp
	Text  string `json:"text"`  // "P1 read 41 · P2 read 41 · P1 wrote 42 · P2 wrote 42 → one increment lost"
	// Timed: the clocks prove that every load came before every store
	// (max t1 < min t2). Otherwise the values alone prove the loss (see
	// FindWitnesses) and Steps are in timestamp order.
	Timed bool `json:"timed"`
	// Replay is the command line that replays this lost update with
	// --schedule, from a counter of 0: every load, then every store.
	Replay string `json:"replay"`
}

// Step is one load or store of a witness.
type Step struct {
	Worker int    `json:"worker"` // 0-based index
	Label  string `json:"label"`  // "P1", "T2"
	Pid    int    `json:"pid"`
	Tid    int    `json:"tid"`
	Op     string `json:"op"` // "read" or "wrote"
	Value  uint64 `json:"value"`
	// TNs is the CLOCK_MONOTONIC timestamp that bounds the access: taken
	// right after a read, right before a write.
	TNs int64 `json:"t_ns"`
	Seq int   `json:"seq"` // index of the increment among the worker's records
}

// Trace is what the workers recorded, for WriteChromeTrace.
type Trace struct {
	Tracks    []Track `json:"tracks"`
	Truncated bool    `json:"truncated,omitempty"`
}

// Track is one worker's records in one trial of one mode.
type Track struct {
	Mode    string `json:"mode"`
	Unit    string `json:"unit"`
	Trial   int    `json:"trial"`
	Worker  int    `json:"worker"`
	Label   string `json:"label"`
	Pid     int    `json:"pid"`
	Tid     int    `json:"tid"`
	StartNs int64  `json:"start_ns"` // the worker's first increment began
	EndNs   int64  `json:"end_ns"`   // its last one ended
	// Events are [read, wrote, t1_ns, t2_ns], in the worker's order.
	Events [][4]int64 `json:"events"`
	// Lost marks, by index into Events, the increments that belong to a
	// witness.
	Lost []int `json:"lost,omitempty"`
}
