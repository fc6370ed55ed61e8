package bench

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ipcplay/ipcplay/ipc"
)

// Params are what a bench run is asked to do (the JSON the CLI sends).
// Zero values take the defaults below.
type Params struct {
	// Transports to measure: names from Transports, or "all" (the default).
	Transports []string `json:"transports,omitempty"`
	// Pattern is "pingpong", "stream" or "both" (the default).
	Pattern string `json:"pattern,omitempty"`
	// Sizes of the messages in bytes (default 64, 4K, 64K).
	Sizes []int `json:"sizes,omitempty"`
	// DurationNs bounds each measured run by time (default 500ms), or
	// Count by number of messages (round trips for pingpong); not both.
	DurationNs int64 `json:"duration_ns,omitempty"`
	Count      int64 `json:"count,omitempty"`
	// WarmupNs is the unmeasured warm-up before the runs of each cell
	// (default 100ms; 0 means none, hence a pointer).
	WarmupNs *int64 `json:"warmup_ns,omitempty"`
	// Repeat measures each cell R times in a row and reports the median
	// run and the spread (default 1).
	Repeat int `json:"repeat,omitempty"`
	// CPUs pins the two ends: [sender, receiver] ([0,1] on two CPUs,
	// [0,0] sharing one). Empty: the scheduler decides.
	CPUs []int `json:"cpus,omitempty"`
	// Histogram asks for latency histogram buckets in every row.
	Histogram bool `json:"histogram,omitempty"`
	// Spin lists shm-adaptive's polling budgets (polls of the ring's
	// counter before sleeping on the futex), one cell per budget
	// (default DefaultSpin).
	Spin []int `json:"spin,omitempty"`
	// RatePerSec, when set, sends open-loop: message i leaves at start +
	// i/rate, whether or not earlier ones were answered, and its latency
	// is counted from that scheduled time (coordinated omission
	// corrected). 0: closed loop (the next message when the last is done).
	RatePerSec float64 `json:"rate_per_sec,omitempty"`
	// Load runs CPU hogs on the run's CPUs during the measurement: "cpu"
	// (one per CPU of the run) or "cpu:N" (N hogs). "": none.
	Load string `json:"load,omitempty"`
	// Fault damages messages on purpose ("corrupt", "drop", "reorder":
	// one in a hundred), to show that the receiver's counts work.
	Fault string `json:"fault,omitempty"`
}

// Defaults and ranges. The defaults make `bench --transport all --size
// 64,4K,64K --pattern both` (63 cells) take about 40 seconds on two cores:
// each cell costs two worker starts (~15ms), the warm-up and the run.
const (
	DefaultDuration = 500 * time.Millisecond
	DefaultWarmup   = 100 * time.Millisecond
	MinDuration     = time.Millisecond
	MaxDuration     = time.Hour
	MaxCount        = 1_000_000_000
	MaxRepeat       = 100
	MaxSize         = 64 << 20
	DefaultSpin     = 2000       // shm-adaptive's polls before sleeping
	MaxSpin         = 10_000_000 // polls: tens of milliseconds
	MaxSpins        = 16         // budgets in one sweep
	MaxRate         = 10_000_000 // messages per second
	MaxHogs         = 64
	// cellOverhead estimates the time of a cell beyond its warm-up and
	// runs (starting and stopping two workers), for the run time check.
	cellOverhead = 60 * time.Millisecond
)

// DefaultSizes are the message sizes when none are given.
var DefaultSizes = []int{64, 4 << 10, 64 << 10}

// Patterns.
const (
	PingPong = "pingpong"
	Stream   = "stream"
	Both     = "both"
)

// Faults the test hook knows.
var faults = []string{"", "corrupt", "drop", "reorder"}

// withDefaults returns p with its zero values replaced by the defaults.
func (p Params) withDefaults() Params {
	if len(p.Transports) == 0 {
		p.Transports = []string{"all"}
	}
	var names []string // each once, in the order given
	for _, n := range p.Transports {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	p.Transports = names
	if p.Pattern == "" {
		p.Pattern = Both
	}
	if len(p.Sizes) == 0 {
		p.Sizes = slices.Clone(DefaultSizes)
	}
	if p.DurationNs == 0 && p.Count == 0 {
		p.DurationNs = int64(DefaultDuration)
	}
	if p.WarmupNs == nil {
		w := int64(DefaultWarmup)
		p.WarmupNs = &w
	}
	if p.Repeat == 0 {
		p.Repeat = 1
	}
	return p
}

// spinBudgets returns shm-adaptive's budgets, each once, in the order given.
func (p Params) spinBudgets() []int {
	if len(p.Spin) == 0 {
		return []int{DefaultSpin}
	}
	var out []int
	for _, b := range p.Spin {
		if !slices.Contains(out, b) {
			out = append(out, b)
		}
	}
	return out
}

// hogs returns the CPU each hog of --load runs on: N hogs (one per CPU of
// the run by default) spread round robin over the run's CPUs (the pinned
// ones, else every CPU this process may use).
func (p Params) hogs() ([]int, error) {
	if p.Load == "" {
		return nil, nil
	}
	cpus := slices.Clone(p.CPUs)
	slices.Sort(cpus)
	cpus = slices.Compact(cpus)
	if len(cpus) == 0 {
		var err error
		if cpus, err = allowedCPUs(); err != nil {
			return nil, err
		}
	}
	n := len(cpus)
	if rest, ok := strings.CutPrefix(p.Load, "cpu:"); ok {
		v, err := strconv.Atoi(rest)
		if err != nil || v < 1 || v > MaxHogs {
			return nil, ipc.Usagef("--load %q: N in cpu:N must be a number of hogs from 1 to %d", p.Load, MaxHogs)
		}
		n = v
	} else if p.Load != "cpu" {
		return nil, ipc.Usagef("--load %q: must be cpu (one CPU hog per CPU of the run) or cpu:N (N hogs)", p.Load)
	}
	out := make([]int, n)
	for i := range out {
		out[i] = cpus[i%len(cpus)]
	}
	return out, nil
}

// adaptive reports whether the run measures a transport that takes --spin.
func (p Params) adaptive() bool {
	if p.all() {
		return true
	}
	for _, n := range p.Transports {
		if t, ok := lookupTransport(n); ok && t.spins {
			return true
		}
	}
	return false
}

func (p Params) patterns() []string {
	if p.Pattern == Both {
		return []string{PingPong, Stream}
	}
	return []string{p.Pattern}
}

// all reports whether the user asked for every transport.
func (p Params) all() bool { return slices.Contains(p.Transports, "all") }

// Validate checks params against the engine's limits without creating
// anything: unknown names, sizes beyond a transport's limit (named), bad
// durations and counts. Errors are ipc usage errors (exit 2).
func Validate(raw json.RawMessage, lim ipc.Limits) error {
	_, err := decode(raw, lim)
	return err
}

// decode parses and validates params, applying the defaults.
func decode(raw json.RawMessage, lim ipc.Limits) (Params, error) {
	var p Params
	if len(raw) > 0 {
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil {
			return p, ipc.Usagef("bench: bad parameters: %v", err)
		}
	}
	p = p.withDefaults()
	if err := p.check(lim); err != nil {
		return p, err
	}
	return p, nil
}

func (p Params) check(lim ipc.Limits) error {
	for _, name := range p.Transports {
		if name == "all" {
			continue
		}
		if _, ok := lookupTransport(name); !ok {
			return ipc.Usagef("--transport %q: unknown; known are %s, or all", name, strings.Join(TransportNames(), ", "))
		}
	}
	if p.all() && len(p.Transports) > 1 {
		return ipc.Usagef("--transport %s: \"all\" cannot be combined with other names", strings.Join(p.Transports, ","))
	}
	if p.Pattern != PingPong && p.Pattern != Stream && p.Pattern != Both {
		return ipc.Usagef("--pattern %q: must be pingpong, stream or both", p.Pattern)
	}
	for _, s := range p.Sizes {
		if s < MinSize || s > MaxSize {
			return ipc.Usagef("--size %s: must be between %d bytes (the header every message carries: sequence number, send time, flags, CRC-32) and %s", FormatSize(s), MinSize, FormatSize(MaxSize))
		}
	}
	switch {
	case p.DurationNs != 0 && p.Count != 0:
		return ipc.Usagef("--duration and --count: give one of them, not both")
	case p.Count < 0 || p.Count > MaxCount:
		return ipc.Usagef("--count %d: must be between 1 and %d", p.Count, MaxCount)
	case p.Count == 0 && (p.DurationNs < int64(MinDuration) || p.DurationNs > int64(MaxDuration)):
		return ipc.Usagef("--duration %s: must be between %s and %s", time.Duration(p.DurationNs), MinDuration, MaxDuration)
	case *p.WarmupNs < 0 || *p.WarmupNs > int64(MaxDuration):
		return ipc.Usagef("--warmup %s: must be between 0 and %s", time.Duration(*p.WarmupNs), MaxDuration)
	case p.Repeat < 1 || p.Repeat > MaxRepeat:
		return ipc.Usagef("--repeat %d: must be between 1 and %d", p.Repeat, MaxRepeat)
	case !slices.Contains(faults, p.Fault):
		return ipc.Usagef("--fault %q: must be corrupt, drop or reorder", p.Fault)
	}
	if err := checkCPUs(p.CPUs); err != nil {
		return err
	}
	if len(p.Spin) > MaxSpins {
		return ipc.Usagef("--spin: %d budgets, at most %d in one sweep", len(p.Spin), MaxSpins)
	}
	for _, b := range p.Spin {
		if b < 0 || b > MaxSpin {
			return ipc.Usagef("--spin %d: must be between 0 (sleep at once) and %d polls", b, MaxSpin)
		}
	}
	if len(p.Spin) > 0 && !p.adaptive() {
		return ipc.Usagef("--spin: applies to --transport shm-adaptive only (it is the polling budget before the futex wait)")
	}
	if p.RatePerSec != 0 { // 0: not asked, closed loop
		if err := CheckRate(p.RatePerSec); err != nil {
			return err
		}
	}
	hogs, err := p.hogs()
	if err != nil {
		return err
	}
	if err := lim.CheckProcs("bench workers and --load hogs", 2+len(hogs)); err != nil {
		return err
	}
	// Explicitly named transports must take every size and pattern asked.
	if !p.all() {
		for _, name := range p.Transports {
			t, _ := lookupTransport(name)
			if p.Pattern == Stream && !t.stream {
				return ipc.Usagef("--transport %s --pattern stream: %s", name, t.noStream)
			}
			if !t.sized {
				continue
			}
			for _, s := range p.Sizes {
				if why := t.sizeLimit(s, lim); why != "" {
					return ipc.Usagef("--size %s with --transport %s: %s", FormatSize(s), name, why)
				}
			}
		}
	}
	cells, skips := plan(p, lim)
	if len(cells) == 0 {
		var why []string
		for _, s := range skips {
			why = append(why, fmt.Sprintf("%s %s %s: %s", s.Transport, s.Pattern, FormatSize(s.Size), s.Reason))
		}
		return ipc.Usagef("bench: nothing to measure, every cell is skipped: %s", strings.Join(why, "; "))
	}
	runNs := p.DurationNs
	if p.Count > 0 && p.RatePerSec > 0 {
		runNs = int64(float64(p.Count) / p.RatePerSec * 1e9)
	}
	if runNs > 0 {
		per := time.Duration(*p.WarmupNs+int64(p.Repeat)*runNs) + cellOverhead
		if est := time.Duration(len(cells)) * per; est > lim.RunTimeout {
			return ipc.Usagef("bench: %d cells of about %s each take about %s, above the run timeout of %s (%s): shorten --duration or --repeat, or measure fewer transports or sizes", len(cells), per.Round(time.Millisecond), est.Round(time.Second), lim.RunTimeout, lim.Which("run-timeout"))
		}
	}
	return nil
}

// CheckRate checks a --rate value: from 1 to MaxRate messages per
// second. The one check of --rate, for the CLI and Validate alike; a
// closed loop is asked by leaving --rate out.
func CheckRate(v float64) error {
	if v >= 1 && v <= MaxRate { // false for NaN
		return nil
	}
	return ipc.Usagef("--rate %s: must be between 1 and %d messages per second (leave --rate out for a closed loop)", FormatRate(v), MaxRate)
}

// FormatRate writes a rate as people type it: 100000000, not 1e+08; a
// fraction as short as it goes (2.5).
func FormatRate(v float64) string {
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// checkCPUs checks a --cpus pair against the CPUs this process may use.
func checkCPUs(cpus []int) error {
	if len(cpus) == 0 {
		return nil
	}
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return fmt.Errorf("bench: sched_getaffinity: %w", err)
	}
	if len(cpus) != 2 {
		return ipc.Usagef("--cpus %s: give two CPUs, sender then receiver (\"0,1\": two CPUs, \"0,0\": one shared)", joinInts(cpus))
	}
	for _, c := range cpus {
		if c < 0 || c >= 1024 || !set.IsSet(c) {
			return ipc.Usagef("--cpus %s: CPU %d is not available (this process may use CPUs %s)", joinInts(cpus), c, cpuList(&set))
		}
	}
	return nil
}

func cpuList(set *unix.CPUSet) string {
	var out []string
	for i := 0; i < 1024; i++ {
		if !set.IsSet(i) {
			continue
		}
		j := i
		for j+1 < 1024 && set.IsSet(j+1) {
			j++
		}
		if j > i {
			out = append(out, fmt.Sprintf("%d-%d", i, j))
		} else {
			out = append(out, strconv.Itoa(i))
		}
		i = j
	}
	return strings.Join(out, ",")
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}

// ParseSizes parses a comma list of sizes with optional binary units, as
// users type them: "64,4K,64KiB,1M". K, M and G are powers of 1024.
func ParseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := parseSize(f)
		if err != nil {
			return nil, ipc.Usagef("--size %q: %v (examples: 64, 4K, 64K, 1M)", f, err)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, ipc.Usagef("--size %q: give at least one size (examples: 64, 4K, 64K, 1M)", s)
	}
	return out, nil
}

func parseSize(s string) (int, error) {
	u := strings.ToUpper(s)
	u = strings.TrimSuffix(strings.TrimSuffix(u, "B"), "I")
	mult := 1
	switch {
	case strings.HasSuffix(u, "K"):
		mult, u = 1<<10, strings.TrimSuffix(u, "K")
	case strings.HasSuffix(u, "M"):
		mult, u = 1<<20, strings.TrimSuffix(u, "M")
	case strings.HasSuffix(u, "G"):
		mult, u = 1<<30, strings.TrimSuffix(u, "G")
	case strings.HasSuffix(u, "T"):
		mult, u = 1<<40, strings.TrimSuffix(u, "T")
	}
	n, err := strconv.ParseUint(u, 10, 64)
	tooLarge := fmt.Errorf("too large: must be between %d bytes and %s", MinSize, FormatSize(MaxSize))
	if errors.Is(err, strconv.ErrRange) {
		return 0, tooLarge
	}
	if err != nil {
		return 0, fmt.Errorf("not a size in bytes")
	}
	if n > (1<<31-1)/uint64(mult) {
		return 0, tooLarge
	}
	return int(n) * mult, nil
}

// FormatSize writes a size the way ParseSizes reads it: 64, 4K, 1M.
func FormatSize(n int) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return strconv.Itoa(n>>30) + "G"
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.Itoa(n>>20) + "M"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.Itoa(n>>10) + "K"
	}
	return strconv.Itoa(n)
}
