package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"golang.org/x/sys/unix"

	"github.com/ipcplay/ipcplay/ipc/worker"
)

// Worker kinds: "bench-<transport>-sender" and "bench-<transport>-receiver",
// so that ps shows what each child does.
func init() {
	for _, t := range transports {
		worker.Register(workerKind(t.name, roleSender), runWorker)
		worker.Register(workerKind(t.name, roleReceiver), runWorker)
	}
}

func workerKind(transport, role string) string { return "bench-" + transport + "-" + role }

// Latency histograms track 1 ns .. 60 s with 3 significant digits.
const (
	histMin    = 1
	histMax    = int64(60 * time.Second)
	histDigits = 3
	// sampleEvery: one stream message in sampleEvery carries its send
	// time (and the sender checks the clock for the end of the run).
	sampleEvery = 16
)

// runWorker is the body of every bench worker kind.
func runWorker(ctx context.Context, c *worker.Child) (any, error) {
	var s workerSpec
	if err := c.Spec(&s); err != nil {
		return nil, err
	}
	stop := new(atomic.Bool)
	cn, err := open(&s, stop)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", s.Transport, s.Role, err)
	}
	defer cn.close()
	undo := context.AfterFunc(ctx, func() {
		stop.Store(true)
		if i, ok := cn.(interface{ interrupt() }); ok {
			i.interrupt()
		}
	})
	defer undo()
	w := newWork(&s, cn, stop)
	if s.RatePerSec > 0 {
		// Pacing sleeps end within 1ns of the asked time instead of the
		// default 50µs timer slack (prctl(2) PR_SET_TIMERSLACK).
		_ = unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0)
	}
	if err := c.Ready(ctx); err != nil {
		return nil, err
	}
	// The measured loops allocate nothing; with the collector off, no
	// pause lands in a measurement. One OS thread does all the work.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer debug.SetGCPercent(debug.SetGCPercent(-1))

	var res workerResult
	for i := -1; i < s.Repeats; i++ {
		warm := i < 0
		if warm && s.WarmupNs <= 0 {
			continue
		}
		p, err := w.phase(warm)
		if err != nil {
			if stop.Load() {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("%s %s: %w", s.Transport, s.Role, err)
		}
		if !warm {
			res.Phases = append(res.Phases, p)
		}
	}
	return res, nil
}

// work is a worker's state across the phases of a cell.
type work struct {
	s      *workerSpec
	cn     conn
	stop   *atomic.Bool
	out    *sealer   // our outgoing messages
	seq    uint64    // our next sequence number
	in     *verifier // the peer's messages
	hist   *hdrhistogram.Histogram
	ru     unix.Rusage
	clock  monoClock
	isSend bool
	// interval is the open-loop spacing of messages in ns (--rate); 0:
	// closed loop.
	interval float64
}

func newWork(s *workerSpec, cn conn, stop *atomic.Bool) *work {
	w := &work{
		s: s, cn: cn, stop: stop, out: newSealer(cn.buffer()),
		in:   &verifier{size: s.Size},
		hist: hdrhistogram.New(histMin, histMax, histDigits), clock: newMonoClock(),
		isSend: s.Role == roleSender,
	}
	if s.RatePerSec > 0 {
		w.interval = 1e9 / s.RatePerSec
	}
	return w
}

// usage returns this process's CPU time, context switches and the
// involuntary ones among them so far.
func (w *work) usage() (cpu, ctxsw, invol int64) {
	_ = unix.Getrusage(unix.RUSAGE_SELF, &w.ru)
	return w.ru.Utime.Nano() + w.ru.Stime.Nano(), w.ru.Nvcsw + w.ru.Nivcsw, w.ru.Nivcsw
}

// phase runs one warm-up or measured run of the cell and returns what this
// side saw.
func (w *work) phase(warm bool) (phase, error) {
	count, dur := w.s.Count, w.s.DurationNs
	if warm {
		count, dur = 0, w.s.WarmupNs
	}
	w.hist.Reset()
	v0 := *w.in
	cpu0, cs0, iv0 := w.usage()
	start := w.clock.now()
	var n int64
	var err error
	switch {
	case w.s.Pattern == PingPong && w.isSend:
		n, err = w.pingClient(count, start+dur)
	case w.s.Pattern == PingPong:
		n, err = w.pingEcho()
	case w.isSend:
		n, err = w.streamSend(count, start+dur)
	default:
		n, err = w.streamReceive()
	}
	elapsed := w.clock.now() - start
	cpu1, cs1, iv1 := w.usage()
	if err != nil {
		return phase{}, err
	}
	p := phase{
		Messages: n, ElapsedNs: elapsed, CPUNs: cpu1 - cpu0, CtxSwitches: cs1 - cs0, InvolCtx: iv1 - iv0,
		Samples: w.hist.TotalCount(),
		Lost:    w.in.lost - v0.lost, Corrupt: w.in.corrupt - v0.corrupt, Reordered: w.in.reordered - v0.reordered,
	}
	if w.hist.TotalCount() > 0 {
		p.Latency = latencyOf(w.hist)
		if w.s.Histogram {
			p.Histogram = bucketsOf(w.hist)
		}
	}
	return p, nil
}

// next returns the sequence number, flags and damage of the i-th message
// of a phase, applying the test hook's fault to one message in a hundred
// (never the last).
func (w *work) next(i int64, last bool) (seq uint64, flags uint32, damage bool) {
	flags = 0
	if last {
		flags = flagStop
	}
	if w.s.Fault != "" && !last {
		switch k := i % 100; {
		case w.s.Fault == "drop" && k == 50:
			w.seq++ // this number is never sent
		case w.s.Fault == "reorder" && k == 50:
			seq = w.seq + 1
			w.seq++
			return seq, flags | flagFault, false
		case w.s.Fault == "reorder" && k == 51:
			seq = w.seq - 1
			w.seq++
			return seq, flags | flagFault, false
		case w.s.Fault == "corrupt" && k == 50:
			damage = true
		}
	}
	seq = w.seq
	w.seq++
	return seq, flags, damage
}

// sendOne seals and sends a message, damaging it first if asked (the
// sender's buffer is repaired right after).
func (w *work) sendOne(seq uint64, sent int64, flags uint32, damage bool) error {
	w.out.seal(seq, sent, flags)
	return w.sendSealed(damage)
}

// sendSealed sends the message sealed in the sender's buffer.
func (w *work) sendSealed(damage bool) error {
	b := w.out.buf
	if damage {
		b[len(b)-1] ^= 0xff
	}
	err := w.cn.send(b)
	if damage {
		b[len(b)-1] ^= 0xff
	}
	return err
}

// pingClient sends a message, waits for its echo and times the round trip,
// until count round trips or the end time. It checks every echo against
// the message sent.
//
// Open loop (--rate), message i is due at start + i x interval: the client
// waits for that time if it is early, sends at once if it is late (an echo
// came back after the next message was due), and times the round trip
// from the due time, so that a slow round trip also counts in the
// latency of every message it delayed (coordinated omission corrected).
func (w *work) pingClient(count, end int64) (int64, error) {
	back := verifier{size: w.s.Size}
	now := w.clock.now()
	start := now
	var i int64
	for ; ; i++ {
		var due int64
		if w.interval > 0 {
			due = start + int64(float64(i)*w.interval)
			now = w.pace(due)
		}
		last := (count > 0 && i == count-1) || (count == 0 && now >= end)
		seq, flags, damage := w.next(i, last)
		back.next = seq // an echo must carry the number just sent
		// The message is built (sealed) before the clock starts: the
		// round trip is the transport's, as in the C reference.
		w.out.seal(seq, 0, flags)
		t0 := w.clock.now()
		if w.interval > 0 {
			t0 = due
		}
		if err := w.sendSealed(damage); err != nil {
			return i, err
		}
		msg, err := w.cn.recv()
		if err != nil {
			return i, err
		}
		now = w.clock.now()
		back.check(msg)
		if err := w.cn.release(); err != nil {
			return i, err
		}
		_ = w.hist.RecordValue(min(now-t0, histMax))
		if last {
			break
		}
	}
	w.in.lost += back.lost
	w.in.corrupt += back.corrupt
	w.in.reordered += back.reordered
	return i + 1, nil
}

// pingEcho sends every message back as it came, until the last one. It
// checks each message after sending it back (the message stays valid
// until release): the check is off the round trip, and the client checks
// the echo too.
func (w *work) pingEcho() (int64, error) {
	var n int64
	for {
		msg, err := w.cn.recv()
		if err != nil {
			return n, err
		}
		if err := w.cn.send(msg); err != nil {
			return n, err
		}
		_, _, flags := w.in.check(msg)
		n++
		if err := w.cn.release(); err != nil {
			return n, err
		}
		if flags&flagStop != 0 {
			return n, nil
		}
	}
}

// streamSend sends messages back to back until count or the end time, then
// waits for the receiver's acknowledgement: the phase lasts until the last
// message was received and checked.
//
// Open loop (--rate), message i is due at start + i x interval and every
// message carries its due time, so that the receiver's latency includes
// the time it waited behind a slow predecessor.
func (w *work) streamSend(count, end int64) (int64, error) {
	start := w.clock.now()
	var i int64
	for ; ; i++ {
		var sent int64
		last := count > 0 && i == count-1
		if w.interval > 0 {
			due := start + int64(float64(i)*w.interval)
			now := w.pace(due)
			sent = w.clock.abs(due)
			last = last || (count == 0 && now >= end)
		} else if i%sampleEvery == 0 {
			now := w.clock.now()
			sent = w.clock.abs(now)
			last = last || (count == 0 && now >= end)
		}
		seq, flags, damage := w.next(i, last)
		if err := w.sendOne(seq, sent, flags, damage); err != nil {
			return i, err
		}
		if last {
			break
		}
	}
	msg, err := w.cn.recv()
	if err != nil {
		return i + 1, err
	}
	_, _, flags := w.in.check(msg)
	if err := w.cn.release(); err != nil {
		return i + 1, err
	}
	if flags&flagAck == 0 {
		return i + 1, errors.New("the receiver's acknowledgement did not arrive (another message came instead)")
	}
	return i + 1, nil
}

// streamReceive checks every message until the last one of the phase,
// records the sampled one-way latencies and acknowledges.
func (w *work) streamReceive() (int64, error) {
	var n int64
	for {
		msg, err := w.cn.recv()
		if err != nil {
			return n, err
		}
		_, sent, flags := w.in.check(msg)
		if sent != 0 {
			_ = w.hist.RecordValue(min(max(w.clock.abs(w.clock.now())-sent, histMin), histMax))
		}
		n++
		if err := w.cn.release(); err != nil {
			return n, err
		}
		if flags&flagStop != 0 {
			break
		}
	}
	seq, _, _ := w.next(0, true)
	if err := w.sendOne(seq, 0, flagAck, false); err != nil {
		return n, err
	}
	return n, nil
}

// pace waits until the clock reads due (ns since the clock's start) and
// returns the time: a sleep while more than 100µs remain (clock_nanosleep
// wakes up late by a few to tens of µs), then polling the clock. A
// message already late is sent at once.
func (w *work) pace(due int64) int64 {
	for {
		now := w.clock.now()
		left := due - now
		if left <= 0 {
			return now
		}
		if left > int64(100*time.Microsecond) {
			nanosleep(left - int64(80*time.Microsecond))
		}
		if w.stop.Load() {
			return now
		}
	}
}

// monoClock reads the monotonic clock cheaply (Go's runtime clock, one vDSO
// call) and converts its readings to absolute CLOCK_MONOTONIC nanoseconds,
// which two processes on one machine share.
type monoClock struct {
	base   time.Time
	offset int64 // CLOCK_MONOTONIC at base
}

func newMonoClock() monoClock {
	c := monoClock{base: time.Now()}
	best := int64(math.MaxInt64)
	for range 20 {
		a := int64(time.Since(c.base))
		var ts unix.Timespec
		_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
		b := int64(time.Since(c.base))
		if b-a < best {
			best = b - a
			c.offset = ts.Nano() - (a+b)/2
		}
	}
	return c
}

// now is nanoseconds since the clock was made, monotonic.
func (c *monoClock) now() int64 { return int64(time.Since(c.base)) }

// abs turns a now() reading into CLOCK_MONOTONIC nanoseconds.
func (c *monoClock) abs(now int64) int64 { return c.offset + now }

func latencyOf(h *hdrhistogram.Histogram) *Latency {
	return &Latency{
		Min: h.Min(), P50: h.ValueAtQuantile(50), P90: h.ValueAtQuantile(90), P99: h.ValueAtQuantile(99),
		P999: h.ValueAtQuantile(99.9), Max: h.Max(), Mean: int64(math.Round(h.Mean())),
	}
}

// bucketsOf folds the histogram into bars four to an octave (each bar's
// upper bound is 2^(k/4) ns), leaving out empty bars at both ends.
func bucketsOf(h *hdrhistogram.Histogram) []Bucket {
	counts := map[int]int64{}
	lo, hi := math.MaxInt, math.MinInt
	for _, bar := range h.Distribution() {
		if bar.Count == 0 {
			continue
		}
		v := float64(max(bar.To, 1))
		k := int(math.Ceil(4 * math.Log2(v)))
		counts[k] += bar.Count
		lo, hi = min(lo, k), max(hi, k)
	}
	var out []Bucket
	for k := lo; k <= hi; k++ {
		out = append(out, Bucket{LeNs: int64(math.Ceil(math.Exp2(float64(k) / 4))), Count: counts[k]})
	}
	return out
}
