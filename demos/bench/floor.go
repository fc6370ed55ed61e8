package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"sort"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ipcplay/ipcplay/ipc/worker"
	"github.com/ipcplay/ipcplay/shm"
)

// Floor is what the hardware allows on the CPUs of a run, measured before
// its cells: a number is only good or bad against it.
//
// C2CRttNs is the round trip of one cache line between two processes
// pinned to the two ends' CPUs: the first writes it, the second sees the
// write and writes back, the first sees that (the single-line ping-pong of
// core-to-core latency tools such as nviennot/core-to-core-latency; the
// stores are store-release, as in testdata/c2c.c). Each round trip is
// timed on its own like the rows' round trips, so that both contain one
// reading of the clock. The round trips come in short rounds (RoundsNs:
// the median of each) and the floor is the least round median: a floor
// is a minimum, and a round that another process or the hypervisor
// interrupted only raises its own median. When both ends share one CPU,
// the line never moves and the round trip is two context switches: each
// side yields (sched_yield) until the other has written. MemcpyGBps is
// copy() between two hot, 64-byte aligned buffers of the message size, on
// the sender's CPU (the best of a few ms of batches), 10^9 bytes per
// second.
//
// Suspect and SuspectReason are the run's judgement of the floor
// (judge.go): implausible for the hardware, or above a row's own p50.
type Floor struct {
	CPUs       []int   `json:"cpus"` // the two ends' CPUs the floor was measured on
	C2CRttNs   int64   `json:"c2c_rtt_ns"`
	MemcpyGBps float64 `json:"memcpy_gbps"` // at the largest message size of the run
	// Memcpy is the bandwidth at each message size of the run.
	Memcpy []MemcpyAt `json:"memcpy"`
	// SameCPU: both ends share one CPU (c2c is then two context switches).
	SameCPU bool `json:"same_cpu"`
	// Pinned: the run's ends are pinned to CPUs. Unpinned, the floor is
	// that of one CPU pair (the first two this process may use) and the
	// ends of the cells may run elsewhere, or move.
	Pinned    bool   `json:"pinned"`
	Method    string `json:"method"`
	ElapsedNs int64  `json:"elapsed_ns"` // time taken to measure it, workers' start included
	// RoundsNs is the median round trip of each round, in order;
	// C2CRttNs is the least of them.
	RoundsNs []int64 `json:"rounds_ns"`
	// Suspect: the floor is not to be trusted, for SuspectReason.
	Suspect       bool   `json:"suspect"`
	SuspectReason string `json:"suspect_reason,omitempty"`
}

// MemcpyAt is copy bandwidth at one message size.
type MemcpyAt struct {
	Size int     `json:"size"`
	GBps float64 `json:"gbps"`
}

// floorMethod says how a floor was measured, as its Method: a cache line
// handed between two CPUs, or (sameCPU) two context switches on one CPU,
// where no line moves; rounds of per round trips each.
func floorMethod(sameCPU bool, rounds, per int) string {
	how := "one cache line bounced between two worker processes pinned to two CPUs"
	if sameCPU {
		how = "two worker processes pinned to one CPU, each yielding (sched_yield) until the other has written a shared word: two context switches per round trip, no cache line moving between CPUs"
	}
	return fmt.Sprintf("%s (the least median of %d rounds of %d round trips, each timed like a row's); copy() of hot aligned buffers of the message size on the sender's CPU", how, rounds, per)
}

// How says in a few words what the floor's round trip was: what the
// text's floor line puts in brackets.
func (f *Floor) How() string {
	if f.SameCPU {
		return "two processes pinned to one CPU, each yielding to the other until it has answered: no cache line moves between CPUs; each round trip timed like the rows'; copy() of hot buffers"
	}
	return "one cache line bounced between two processes pinned to two CPUs, each round trip timed like the rows'; copy() of hot buffers"
}

// memcpyAt returns the copy bandwidth measured at size, or the nearest.
func (f *Floor) memcpyAt(size int) float64 {
	best, gb := math.MaxInt, 0.0
	for _, m := range f.Memcpy {
		if d := abs(m.Size - size); d < best {
			best, gb = d, m.GBps
		}
	}
	return gb
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// For returns the floor, in ns, of a row's p50: for a pingpong round trip,
// the cache-line round trip plus copying the message once each way; for a
// one-way stream latency, half the round trip plus one copy. size 0: no
// payload is copied (eventfd). 0 when there is no floor.
func (f *Floor) For(pattern string, size int) float64 {
	if f == nil || f.C2CRttNs <= 0 {
		return 0
	}
	copyNs := 0.0
	if gb := f.memcpyAt(size); size > 0 && gb > 0 {
		copyNs = float64(size) / gb // bytes / (10^9 bytes/s) = ns
	}
	if pattern == Stream {
		return float64(f.C2CRttNs)/2 + copyNs
	}
	return float64(f.C2CRttNs) + 2*copyNs
}

// floorSpec is what the parent tells the two floor workers.
type floorSpec struct {
	Region  string `json:"region"`
	First   bool   `json:"first"` // the side that starts each round trip and times it
	SameCPU bool   `json:"same_cpu"`
	Warm    int    `json:"warm"`
	Rounds  int    `json:"rounds"`
	Per     int    `json:"per"`             // round trips per round
	Sizes   []int  `json:"sizes,omitempty"` // first: memcpy sizes
}

type floorResult struct {
	RoundsNs []int64    `json:"rounds_ns"` // the median of each round
	Memcpy   []MemcpyAt `json:"memcpy,omitempty"`
}

const floorKind = "bench-floor"

func init() {
	worker.Register(floorKind, runFloorWorker)
}

// floorCPUs returns the CPU pair the floor of a run is measured on: the
// run's pinning, else the first two CPUs this process may use (one, if it
// may use one only).
func floorCPUs(p Params) ([]int, error) {
	if len(p.CPUs) == 2 {
		return p.CPUs, nil
	}
	cpus, err := allowedCPUs()
	if err != nil {
		return nil, err
	}
	if len(cpus) == 1 {
		return []int{cpus[0], cpus[0]}, nil
	}
	return cpus[:2], nil
}

// allowedCPUs lists the CPUs this process may run on.
func allowedCPUs() ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, fmt.Errorf("sched_getaffinity: %w", err)
	}
	var out []int
	for i := 0; i < 1024; i++ {
		if set.IsSet(i) {
			out = append(out, i)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("sched_getaffinity: no CPU allowed")
	}
	return out, nil
}

// measureFloor runs the two floor workers on the run's CPUs.
func measureFloor(ctx context.Context, st *runState, p Params, sizes []int) (*Floor, error) {
	began := time.Now()
	cpus, err := floorCPUs(p)
	if err != nil {
		return nil, err
	}
	r, err := st.env.CreateRegion(shm.Spec{Kind: shm.Memfd, Size: 4096})
	if err != nil {
		return nil, err
	}
	// The run's Env closes it at the end of the run.
	same := cpus[0] == cpus[1]
	fs := floorSpec{Region: r.HandleAt(worker.FileFD(0)), SameCPU: same, Warm: 2000, Rounds: 10, Per: 1000}
	if same { // a round trip is two context switches here: fewer of them
		fs.Warm, fs.Rounds, fs.Per = 200, 10, 100
	}
	a, b := fs, fs
	a.First, a.Sizes = true, sizes
	specs := []worker.Spec{
		{Kind: floorKind, Name: "floor-a", Spec: a, Files: []*os.File{r.File()}, CPUs: []int{cpus[0]}},
		{Kind: floorKind, Name: "floor-b", Spec: b, Files: []*os.File{r.File()}, CPUs: []int{cpus[1]}},
	}
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	res, err := st.env.RunWorkers(cctx, specs)
	if err != nil {
		return nil, fmt.Errorf("measuring the floor: %w", err)
	}
	var fr floorResult
	if err := res[0].Decode(&fr); err != nil {
		return nil, fmt.Errorf("floor result: %w", err)
	}
	if len(fr.RoundsNs) == 0 {
		return nil, errors.New("measuring the floor: no round measured")
	}
	f := &Floor{CPUs: cpus, C2CRttNs: slices.Min(fr.RoundsNs), RoundsNs: fr.RoundsNs, Memcpy: fr.Memcpy, SameCPU: same,
		Pinned: len(p.CPUs) == 2, Method: floorMethod(same, fs.Rounds, fs.Per), ElapsedNs: int64(time.Since(began))}
	if len(f.Memcpy) > 0 {
		f.MemcpyGBps = f.Memcpy[len(f.Memcpy)-1].GBps
	}
	return f, nil
}

// runFloorWorker is one side of the cache-line ping-pong; the first side
// then measures memcpy.
func runFloorWorker(ctx context.Context, c *worker.Child) (any, error) {
	var s floorSpec
	if err := c.Spec(&s); err != nil {
		return nil, err
	}
	if s.Rounds <= 0 || s.Per <= 0 || s.Warm < 0 {
		return nil, errors.New("floor: bad spec")
	}
	r, err := shm.Open(s.Region)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	mem := r.Bytes()
	if len(mem) < 64 {
		return nil, errors.New("floor: region too small")
	}
	word := (*uint32)(unsafe.Pointer(&mem[0]))
	stop := new(atomic.Bool)
	defer context.AfterFunc(ctx, func() { stop.Store(true) })()
	if err := c.Ready(ctx); err != nil {
		return nil, err
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	// wait polls until the line holds v; on one shared CPU it yields at
	// once, as the other side cannot write while we run.
	wait := func(v uint32) error {
		for spins := 0; atomic.LoadUint32(word) != v; spins++ {
			if s.SameCPU || spins >= 1<<16 {
				schedYield()
				if spins&1023 == 0 && stop.Load() {
					return errStopped
				}
			}
		}
		return nil
	}
	total := s.Warm + s.Rounds*s.Per
	if !s.First {
		for i := range total {
			if err := wait(uint32(2*i + 1)); err != nil {
				return nil, err
			}
			storeRelease32(word, uint32(2*i+2))
		}
		return floorResult{}, nil
	}
	// Each round trip is timed on its own, as bench times the rows'
	// round trips, so that the floor and a row's p50 both contain one
	// reading of the clock; each round gives its median.
	clock := newMonoClock()
	rtts := make([]int64, 0, s.Per)
	var res floorResult
	for i := range total {
		t0 := clock.now()
		storeRelease32(word, uint32(2*i+1))
		if err := wait(uint32(2*i + 2)); err != nil {
			return nil, err
		}
		if t1 := clock.now(); i >= s.Warm {
			rtts = append(rtts, t1-t0)
		}
		if len(rtts) == s.Per {
			res.RoundsNs = append(res.RoundsNs, medianNs(rtts))
			rtts = rtts[:0]
		}
	}
	for _, size := range s.Sizes {
		res.Memcpy = append(res.Memcpy, MemcpyAt{Size: size, GBps: memcpyGBps(&clock, size)})
	}
	return res, nil
}

// medianNs sorts v and returns its middle value.
func medianNs(v []int64) int64 {
	slices.Sort(v)
	return v[len(v)/2]
}

// memcpyGBps copies size bytes between two hot, aligned buffers in
// batches of about 1 MiB for about 2 ms (at least 3 batches) and returns
// the best batch's bandwidth in 10^9 bytes per second.
func memcpyGBps(clock *monoClock, size int) float64 {
	src, dst := alignedBuf(size), alignedBuf(size)
	for i := range src {
		src[i] = byte(i)
	}
	copy(dst, src)
	k := max(1, (1<<20)/size)
	best := math.MaxFloat64
	start := clock.now()
	for n := 0; n < 3 || clock.now()-start < int64(2*time.Millisecond); n++ {
		t0 := clock.now()
		for range k {
			copy(dst, src)
		}
		best = min(best, float64(clock.now()-t0))
		if n > 10000 {
			break
		}
	}
	return float64(k*size) / max(best, 1)
}

// uniqueSizes returns the message sizes of the cells that carry a
// payload, ascending (eventfd copies none).
func uniqueSizes(cells []cell) []int {
	var out []int
	for _, c := range cells {
		if c.t.sized && !slices.Contains(out, c.size) {
			out = append(out, c.size)
		}
	}
	sort.Ints(out)
	return out
}
