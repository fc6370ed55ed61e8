package race

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ipcplay/ipcplay/demos/conduct"
	"github.com/ipcplay/ipcplay/ipc/worker"
	"github.com/ipcplay/ipcplay/semaphore"
	"github.com/ipcplay/ipcplay/shm"
	"github.com/ipcplay/ipcplay/sockets"
)

// WorkerKind is the worker kind of the race lab: one worker process that
// runs one or more racing threads.
const WorkerKind = "race"

func init() { worker.Register(WorkerKind, workerMain) }

// workerSpec is what the parent hands a worker process.
type workerSpec struct {
	Mode     string `json:"mode"`
	First    int    `json:"first"`   // index of this worker's first thread among all
	Threads  int    `json:"threads"` // 1 with --unit process
	Iters    int64  `json:"iters"`
	Region   string `json:"region"` // shm handle
	Layout   layout `json:"layout"`
	WindowNs int64  `json:"window_ns"`
	Yield    bool   `json:"yield"`
	Undo     bool   `json:"undo"`
	SemID    int    `json:"sem_id"`    // sysv-sem
	SemName  string `json:"sem_name"`  // posix-sem
	LockFile string `json:"lock_file"` // flock
	// TokenIn and TokenOut are the descriptors of the socket-token ring
	// (--unit process); -1 otherwise: a thread worker builds its own ring.
	TokenIn  int   `json:"token_in"`
	TokenOut int   `json:"token_out"`
	PinCPUs  []int `json:"pin_cpus,omitempty"` // CPU of each thread
	// Spin: every thread can have a CPU of its own (see startLine).
	Spin bool `json:"spin"`
	// StepFDs are the step sockets of a scheduled run (package conduct),
	// one per thread of this worker in thread order; empty: a timed run.
	StepFDs []int `json:"step_fds,omitempty"`
	// RecMask and RecWindow choose the recorded increments: those whose
	// loaded value v has v&RecMask < RecWindow (see sampled).
	RecMask   uint64 `json:"rec_mask"`
	RecWindow uint64 `json:"rec_window"`
	// LineProcs is how many workers meet at the start line; 0: all of
	// them (Python workers do not take part: python_linux.go).
	LineProcs int `json:"line_procs,omitempty"`
}

// workerResult is what a worker process reports.
type workerResult struct {
	Threads   []threadResult `json:"threads"`
	GoCounter uint64         `json:"go_counter"` // unsafe-go and mutex
	PyCounter uint64         `json:"py_counter"` // a Python worker's own counter (python.go)
	pyInfo
}

type threadResult struct {
	Index    int   `json:"index"`
	Tid      int   `json:"tid"`
	StartNs  int64 `json:"start_ns"`
	EndNs    int64 `json:"end_ns"`
	Ops      int64 `json:"ops"`
	Recorded int   `json:"recorded"`
}

// goCounter is the ordinary Go variable of unsafe-go and mutex.
var (
	goCounter uint64
	goMu      sync.Mutex
)

func workerMain(ctx context.Context, c *worker.Child) (any, error) {
	var s workerSpec
	if err := c.Spec(&s); err != nil {
		return nil, err
	}
	mi, ok := lookupMode(s.Mode)
	if !ok || s.Threads < 1 || s.Iters < 1 || (len(s.StepFDs) > 0 && len(s.StepFDs) != s.Threads) {
		return nil, fmt.Errorf("race worker: bad spec %+v", s)
	}
	region, err := shm.Open(s.Region)
	if err != nil {
		return nil, err
	}
	defer region.Close()
	if region.Size() < s.Layout.Size {
		return nil, fmt.Errorf("race worker: region of %d bytes, the layout needs %d", region.Size(), s.Layout.Size)
	}
	sh, err := newShared(&s, mi, region)
	if err != nil {
		return nil, err
	}
	defer sh.close()

	threads := make([]*thread, s.Threads)
	for k := range threads {
		t, err := sh.newThread(&s, k)
		if err != nil {
			return nil, err
		}
		threads[k] = t
	}
	if s.Mode == ModeSocketToken && s.TokenIn < 0 {
		files, err := threadRing(threads)
		if err != nil {
			return nil, err
		}
		defer func() {
			for _, f := range files {
				f.Close()
			}
		}()
	}

	// Every thread locks its OS thread, pins it and waits at start; the
	// process reports ready once all are in place. abort releases them
	// without running when the preparation fails.
	ctx, abort := context.WithCancel(ctx)
	defer abort()
	prepared := make(chan error, len(threads))
	start := make(chan struct{})
	var wg sync.WaitGroup
	results := make([]threadResult, len(threads))
	errs := make([]error, len(threads))
	for k, t := range threads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			// Never unlocked: the thread ends with the goroutine, so no
			// other goroutine inherits its pinning.
			if len(s.PinCPUs) > k {
				if err := pinThread(s.PinCPUs[k]); err != nil {
					prepared <- fmt.Errorf("pin thread %d to CPU %d: %w", t.index, s.PinCPUs[k], os.NewSyscallError("sched_setaffinity", err))
					return
				}
			}
			t.tid = unix.Gettid()
			prepared <- nil
			select {
			case <-start:
			case <-ctx.Done():
				errs[k] = ctx.Err()
				return
			}
			results[k], errs[k] = t.run(ctx)
		}()
	}
	var prepErr error
	for range threads {
		if err := <-prepared; err != nil && prepErr == nil {
			prepErr = err
		}
	}
	if prepErr == nil {
		prepErr = c.Ready(ctx)
	}
	if prepErr != nil {
		abort()
		wg.Wait()
		return nil, prepErr
	}
	close(start)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	res := workerResult{Threads: results}
	if mi.goVar {
		res.GoCounter = atomic.LoadUint64(&goCounter)
	}
	return res, nil
}

// shared is what the threads of a worker process share.
type shared struct {
	mode     string
	def      *modeDef
	recorded bool
	mem      []byte
	lay      layout
	counter  *uint64
	started  *uint32
	set      *semaphore.Set
	named    *semaphore.Named
	unnamed  *semaphore.Unnamed
	mutex    *semaphore.Mutex
	closers  []func() error
}

func newShared(s *workerSpec, mi *modeDef, region *shm.Region) (*shared, error) {
	sh := &shared{mode: s.Mode, def: mi, recorded: mi.recorded, mem: region.Bytes(), lay: s.Layout}
	sh.counter = region.Uint64(sh.lay.counter())
	if mi.goVar {
		sh.counter = &goCounter
	}
	sh.started = region.Uint32(sh.lay.started())
	if mi.open != nil {
		if err := mi.open(sh, s); err != nil {
			sh.close()
			return nil, err
		}
	}
	return sh, nil
}

func (sh *shared) close() {
	for _, c := range sh.closers {
		_ = c()
	}
}

func (sh *shared) newThread(s *workerSpec, k int) (*thread, error) {
	index := s.First + k
	t := &thread{
		sh: sh, def: sh.def, index: index, recMask: s.RecMask, recWin: s.RecWindow, iters: s.Iters, counter: sh.counter,
		tally: (*uint64)(unsafe.Pointer(&sh.mem[sh.lay.tally(index)])), started: sh.started,
		procs: uint32(cmp.Or(s.LineProcs, sh.lay.Procs)), window: s.WindowNs, yield: s.Yield, undo: s.Undo,
		in: -1, out: -1, spin: s.Spin,
	}
	t.gap = t.window > 0 || t.yield
	if n := sh.lay.Record; n > 0 && sh.recorded {
		off := sh.lay.trace(index)
		t.rec = unsafe.Slice((*record)(unsafe.Pointer(&sh.mem[off])), n)
	}
	if sh.def.openThread != nil {
		if err := sh.def.openThread(sh, t, s); err != nil {
			return nil, err
		}
	}
	if len(s.StepFDs) > 0 {
		st, err := conduct.NewStepper(s.StepFDs[k])
		if err != nil {
			return nil, err
		}
		t.stepper = st
	}
	t.first = index == 0
	return t, nil
}

// threadRing connects the threads of one worker process in a ring of
// socketpairs: thread k sends on pair k, thread k+1 receives on it.
func threadRing(threads []*thread) ([]*os.File, error) {
	var files []*os.File
	n := len(threads)
	for k := range threads {
		a, b, err := sockets.Pair(sockets.Stream)
		if err != nil {
			for _, f := range files {
				f.Close()
			}
			return nil, err
		}
		files = append(files, a, b)
		threads[k].out = int(a.Fd())
		threads[(k+1)%n].in = int(b.Fd())
	}
	return files, nil
}
