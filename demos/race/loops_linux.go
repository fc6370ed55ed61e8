package race

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ipcplay/ipcplay/demos/conduct"
	"github.com/ipcplay/ipcplay/ipc/plural"
	"github.com/ipcplay/ipcplay/semaphore"
)

// thread is one racer: a goroutine locked to its OS thread, alone in its
// process with --unit process.
type thread struct {
	sh      *shared
	def     *modeDef
	index   int // among all threads of the run
	tid     int
	iters   int64
	counter *uint64 // in the region, or goCounter
	tally   *uint64 // this thread's progress slot in the region
	started *uint32
	procs   uint32
	window  int64
	yield   bool
	gap     bool // window or yield
	undo    bool
	rec     []record // this thread's records in the region; nil: no recording
	nrec    int
	lockFD  int // flock
	in, out int // socket-token ring
	first   bool
	spin    bool // spin at the start line (see startLine)
	// recMask and recWin choose the recorded increments (see sampled).
	recMask, recWin uint64
	held            uint64             // the value a scheduled load step read
	semPOp          []semaphore.Sembuf // sysv-sem: the P operation
	tok             [1]byte            // socket-token: the token
	stepper         *conduct.Stepper   // scheduled run: the step socket
}

// chunk is how many increments run between two checks of the context
// (without --window).
const chunk = 4096

// sleepFrom is the --window from which the gap sleeps instead of spinning.
const sleepFrom = int64(time.Millisecond)

// run performs the thread's increments and reports its timing.
func (t *thread) run(ctx context.Context) (threadResult, error) {
	if t.stepper != nil {
		return t.runSteps(ctx)
	}
	if err := t.startLine(ctx); err != nil {
		return threadResult{Index: t.index, Tid: t.tid}, err
	}
	start := nanotime()
	var err error
	done := int64(0)
	step := int64(chunk)
	if t.window > 0 {
		step = 1 // each increment takes the window: check at every one
	}
	for done < t.iters {
		n := min(step, t.iters-done)
		if err = t.def.loop(t, done, done+n); err != nil {
			break
		}
		done += n
		if err = ctx.Err(); err != nil {
			break
		}
	}
	if err == nil && t.sh.mode == ModeSocketToken && t.first {
		// The last increment of the run sends the token back to the
		// first thread: take it, so no byte stays in a socket.
		err = t.recvToken()
	}
	end := nanotime()
	res := threadResult{Index: t.index, Tid: t.tid, StartNs: start, EndNs: end, Ops: done, Recorded: t.nrec}
	if err != nil {
		return res, fmt.Errorf("%s thread %d after %s: %w", t.sh.mode, t.index, plural.Count(done, "increment", "increments"), err)
	}
	return res, nil
}

// startLine waits until every thread of the run, in every process, has
// arrived: the workers' wake-ups from the start barrier are spread over
// hundreds of microseconds, longer than a whole small run, so without it
// the first worker would be done before the last one begins.
//
// When every worker may have a CPU of its own (t.spin), the wait first
// spins without giving up the CPU, for at most spinLine: two workers that
// the scheduler woke on one CPU then stay runnable side by side, and the
// load balancer moves one to an idle CPU before the race starts, instead
// of letting them take turns on one CPU. Otherwise, and after spinLine,
// the wait yields, so that on one CPU the late ones can arrive.
func (t *thread) startLine(ctx context.Context) error {
	deadline := nanotime() + spinLine
	// Two rounds: every thread has arrived, then every thread has seen
	// that (so none starts while another that arrived is still descheduled).
	for round := uint32(1); round <= 2; round++ {
		atomic.AddUint32(t.started, 1)
		for n := 1; atomic.LoadUint32(t.started) < round*t.procs; n++ {
			if !t.spin || nanotime() > deadline {
				schedYield()
			}
			if n%1024 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// spinLine bounds the spinning at the start line: a few scheduler ticks.
const spinLine = int64(20 * time.Millisecond)

// loopUnsafe is the race itself. Without a gap or records it is the
// tightest loop: for the region a MOV load (atomic.LoadUint64, which the
// compiler may neither cache across iterations nor fuse with the store)
// and a plain MOV store; for unsafe-go a plain x++ through a pointer.
//
// The norace directive: unsafe-go is a data race on purpose (see the
// package doc).
//
//go:norace
func (t *thread) loopUnsafe(from, to int64) {
	p, tally := t.counter, t.tally
	if !t.gap && t.rec == nil {
		if t.sh.mode == ModeUnsafeGo {
			for i := from; i < to; i++ {
				*p++
				*tally = uint64(i + 1)
			}
			return
		}
		for i := from; i < to; i++ {
			v := atomic.LoadUint64(p)
			*p = v + 1
			*tally = uint64(i + 1)
		}
		return
	}
	for i := from; i < to; i++ {
		t.inc()
		*tally = uint64(i + 1)
	}
}

// inc is the unsafe increment: load, the optional gap, store. Inside a
// lock it is safe because of the lock. With records, the increments that
// load a sampled value (see sampled) are recorded, with t1 taken right
// after the load and t2 right before the store.
//
//go:norace
func (t *thread) inc() {
	p := t.counter
	v := atomic.LoadUint64(p)
	if t.rec != nil && v&t.recMask < t.recWin && t.nrec < len(t.rec) {
		t1 := nanotime()
		if t.gap {
			t.pause(t1)
		}
		t2 := nanotime()
		*p = v + 1
		t.rec[t.nrec] = record{Read: v, T1: t1, T2: t2, Wrote: v + 1}
		t.nrec++
		return
	}
	if t.gap {
		t.pause(nanotime())
	}
	*p = v + 1
}

// pause is the gap between load and store: sched_yield, then the window
// (spinning on the clock, or sleeping from sleepFrom on).
func (t *thread) pause(from int64) {
	if t.yield {
		schedYield()
	}
	if t.window > 0 {
		if t.window >= sleepFrom {
			time.Sleep(time.Duration(t.window))
			return
		}
		for nanotime()-from < t.window {
		}
	}
}

func flock(fd, how int) error {
	for {
		err := unix.Flock(fd, how)
		if err != unix.EINTR {
			if err != nil {
				return os.NewSyscallError("flock", err)
			}
			return nil
		}
	}
}

// errRingBroken: the neighbour of the socket-token ring went away.
var errRingBroken = errors.New("socket-token ring broken: a neighbouring worker is gone")

func readToken(fd int, b []byte) error {
	for {
		n, err := unix.Read(fd, b)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return os.NewSyscallError("read", err)
		case n == 0:
			return errRingBroken
		}
		return nil
	}
}

func writeToken(fd int, b []byte) error {
	for {
		_, err := unix.Write(fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return os.NewSyscallError("write", err)
		}
		return nil
	}
}

// runSteps is a scheduled run: the mode's steps, one per "step" of the
// conductor (package conduct), from the same table entry as the timed
// loop.
func (t *thread) runSteps(ctx context.Context) (threadResult, error) {
	steps := t.def.steps
	res := threadResult{Index: t.index, Tid: t.tid, StartNs: nanotime()}
	fail := func(err error) (threadResult, error) {
		res.EndNs = nanotime()
		return res, fmt.Errorf("%s thread %d after %s: %w", t.sh.mode, t.index, plural.Count(res.Ops, "increment", "increments"), err)
	}
	if err := t.stepper.At(steps[0].Name); err != nil {
		return fail(err)
	}
	for i := int64(0); i < t.iters; i++ {
		for k, sd := range steps {
			if err := t.stepper.Wait(); err != nil {
				return fail(err)
			}
			if err := ctx.Err(); err != nil {
				return fail(err)
			}
			read, wrote, note, err := sd.do(t, i)
			if err != nil {
				return fail(err)
			}
			if k == len(steps)-1 {
				res.Ops = i + 1
				*t.tally = uint64(i + 1)
			}
			next := ""
			switch {
			case k+1 < len(steps):
				next = steps[k+1].Name
			case i+1 < t.iters:
				next = steps[0].Name
			}
			d := conduct.Did{Op: sd.Name, Read: read, Wrote: wrote, Counter: conduct.U64(t.load()), Next: next, Note: note}
			if err := t.stepper.Done(d); err != nil {
				return fail(err)
			}
		}
	}
	if t.sh.mode == ModeSocketToken && t.first {
		// As in the timed run: the last send of the ring comes back here.
		if err := t.recvToken(); err != nil {
			return fail(err)
		}
	}
	res.EndNs = nanotime()
	return res, nil
}
