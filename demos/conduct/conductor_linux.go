package conduct

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ipcplay/ipcplay/ipc"
	"github.com/ipcplay/ipcplay/ipc/sysobj"
)

// StepDef is one step of a worker's plan.
type StepDef struct {
	Name string // "load", "lock"...: what a schedule names
	Call string // the real call, "semop P", "" for a plain access
	// Acquires and Releases name the resource the step takes or gives
	// back ("the semaphore", "S0"); a step that acquires may block until
	// its holder releases.
	Acquires, Releases string
	// Waits says what a blocked step waits for, when Acquires alone does
	// not say it ("the token from P2"); "" means Acquires.
	Waits string
	// Blocking lists the system calls the step may sleep in
	// (SyscallsSem...); empty: the step never blocks.
	Blocking []int
}

// Plan gives a worker's k-th step (0-based), false once it has none.
type Plan func(k int) (StepDef, bool)

// Worker is one stepping worker (a process, or one thread of one).
type Worker struct {
	Label string   // "P1"
	Conn  *os.File // the conductor's end of the step socket
	Plan  Plan
}

// Config is a scheduled run.
type Config struct {
	Workers  []Worker
	Schedule Schedule
	Spec     string // the schedule as given, for errors
	// StepTimeout bounds a step that neither completes nor blocks, and
	// the wait for a blocked step after its holder released; 0: 10 s.
	StepTimeout time.Duration
	// Probe adds the lab's own kernel view of a blocked step (semncnt).
	Probe func(w int, d StepDef) string
	// OnStuck is called once when every unfinished worker is blocked.
	OnStuck func()
	// Stop ends the run after the schedule's entries instead of running
	// the remaining steps (--step shows one state at a time).
	Stop bool
}

// Row is one line of the step table and one entry of results[].steps[].
type Row struct {
	N       int     `json:"n"`      // 1-based
	Worker  string  `json:"worker"` // "P1"
	Op      string  `json:"op"`
	Call    string  `json:"call,omitempty"` // the real call of a lock step
	Read    *uint64 `json:"read"`
	Wrote   *uint64 `json:"wrote"`
	Counter *uint64 `json:"counter"`
	Blocked bool    `json:"blocked"`
	Note    string  `json:"note"`
	// By says who chose the step: "schedule", "fixed order" or "random";
	// for a blocked step that completed later, "release" (its holder let
	// go) or "timeout" (its timed wait expired while every worker was
	// blocked).
	By string `json:"by"`
}

// Next is where a worker stands when a run stops.
type Next struct {
	Worker  string `json:"worker"`
	Step    string `json:"step"` // "" when finished
	Blocked bool   `json:"blocked"`
	Holds   string `json:"holds,omitempty"`
}

// Outcome is what Run returns besides the rows.
type Outcome struct {
	Rows  []Row  `json:"steps"`
	Next  []Next `json:"next"`
	Stuck bool   `json:"stuck"` // every unfinished worker was blocked once
}

// message is one line of the step protocol (see the package doc).
type message struct {
	Type     string  `json:"type"`
	Pid      int     `json:"pid,omitempty"`
	Tid      int     `json:"tid,omitempty"`
	Op       string  `json:"op,omitempty"`
	Read     *uint64 `json:"read"`
	Wrote    *uint64 `json:"wrote"`
	Counter  *uint64 `json:"counter"`
	Next     string  `json:"next"`
	Note     string  `json:"note,omitempty"`
	TimedOut bool    `json:"timed_out,omitempty"`
}

// maxLine bounds one protocol message.
const maxLine = 4096

type wstate struct {
	Worker
	fd       int
	buf      []byte
	pid, tid int
	k        int // steps completed
	next     string
	pending  bool // a step was sent and its did has not come
	blocked  bool
	done     bool
	holds    map[string]bool
	waitsFor string
}

type conductor struct {
	ctx     context.Context
	cfg     Config
	ws      []*wstate
	out     Outcome
	holder  map[string]int // resource -> worker index
	timeout time.Duration
}

// ErrBlockedEntry is wrapped by the usage error of a schedule entry that
// names a blocked worker.
var ErrBlockedEntry = errors.New("the worker's step is blocked")

// Run conducts the workers: it reads each one's "at", plays the schedule,
// then the remaining steps in the fixed (or random) order. The rows so far
// are returned with any error. The workers' start barrier must have been
// released.
func Run(ctx context.Context, cfg Config) (*Outcome, error) {
	c := &conductor{ctx: ctx, cfg: cfg, holder: map[string]int{}, timeout: cfg.StepTimeout}
	if c.timeout <= 0 {
		c.timeout = 10 * time.Second
	}
	for _, w := range cfg.Workers {
		c.ws = append(c.ws, &wstate{Worker: w, fd: int(w.Conn.Fd()), holds: map[string]bool{}})
	}
	c.out.Rows = []Row{}
	err := c.run()
	for _, w := range c.ws {
		n := Next{Worker: w.Label, Step: w.next, Blocked: w.blocked}
		if w.done {
			n.Step = ""
		}
		var hs []string
		for r := range w.holds {
			hs = append(hs, r)
		}
		n.Holds = strings.Join(hs, ", ")
		c.out.Next = append(c.out.Next, n)
	}
	return &c.out, err
}

func (c *conductor) run() error {
	for _, w := range c.ws {
		m, err := c.read(w, c.timeout)
		if err != nil {
			return err
		}
		if m.Type != "at" {
			return fmt.Errorf("%s: step protocol: first message %q, want \"at\"", w.Label, m.Type)
		}
		w.pid, w.tid = m.Pid, m.Tid
		if err := c.arrive(w, m.Next); err != nil {
			return err
		}
	}
	for i, e := range c.cfg.Schedule.Entries {
		w := c.ws[e.Worker]
		if w.blocked {
			return ipc.Usagef("--schedule %q: entry %d (%s): %w: it waits for %s; the steps so far and who holds what are shown", c.cfg.Spec, i+1, w.Label, ErrBlockedEntry, w.waitsFor)
		}
		if w.done {
			return ipc.Usagef("--schedule %q: entry %d (%s): %s has finished", c.cfg.Spec, i+1, w.Label, w.Label)
		}
		if e.Step != "" && e.Step != w.next {
			return ipc.Usagef("--schedule %q: entry %d (%s:%s): %s is at %s", c.cfg.Spec, i+1, w.Label, e.Step, w.Label, w.next)
		}
		if err := c.step(w, "schedule"); err != nil {
			return err
		}
	}
	if c.cfg.Stop {
		return nil
	}
	var rng *rand.Rand
	by := "fixed order"
	if c.cfg.Schedule.Random {
		rng = rand.New(rand.NewPCG(c.cfg.Schedule.Seed, 0x1bc0ffee))
		by = "random"
	}
	for {
		var movable []*wstate
		unfinished := 0
		for _, w := range c.ws {
			if !w.done {
				unfinished++
				if !w.blocked {
					movable = append(movable, w)
				}
			}
		}
		if unfinished == 0 {
			return nil
		}
		if len(movable) == 0 {
			if err := c.stuck(); err != nil {
				return err
			}
			continue
		}
		w := movable[0]
		if rng != nil {
			w = movable[rng.IntN(len(movable))]
		}
		if err := c.step(w, by); err != nil {
			return err
		}
	}
}

// arrive records where w stands after a message.
func (c *conductor) arrive(w *wstate, next string) error {
	d, ok := w.Plan(w.k)
	switch {
	case next == "" && ok:
		return fmt.Errorf("%s: step protocol: worker says it has finished, the plan has step %d (%s)", w.Label, w.k+1, d.Name)
	case next == "":
		w.done, w.next = true, ""
		return nil
	case !ok:
		return fmt.Errorf("%s: step protocol: worker is at %q after all %d steps of its plan", w.Label, next, w.k)
	case next != d.Name:
		return fmt.Errorf("%s: step protocol: worker is at %q, its plan at %q (step %d): the worker and the mode table disagree", w.Label, next, d.Name, w.k+1)
	}
	w.next = next
	return nil
}

// step sends w its next step and waits until it completes or blocks.
func (c *conductor) step(w *wstate, by string) error {
	d, _ := w.Plan(w.k)
	if _, err := w.Conn.Write([]byte("{\"type\":\"step\"}\n")); err != nil {
		return fmt.Errorf("%s: step protocol: %w", w.Label, err)
	}
	w.pending = true
	m, blocked, err := c.await(w, d)
	if err != nil {
		return err
	}
	if blocked {
		w.blocked = true
		w.waitsFor = d.Acquires
		if d.Waits != "" {
			w.waitsFor = d.Waits
		}
		if h, ok := c.holder[d.Acquires]; ok {
			w.waitsFor = c.ws[h].Label + ", who holds " + d.Acquires
			if d.Waits != "" {
				w.waitsFor = d.Waits + " (" + c.ws[h].Label + " holds " + d.Acquires + ")"
			}
		}
		note := fmt.Sprintf("%s blocks in %s: waits for %s", w.Label, c.kernelView(w, d), w.waitsFor)
		c.add(Row{Worker: w.Label, Op: d.Name, Call: d.Call, Blocked: true, Note: note, By: by})
		return nil
	}
	return c.complete(w, d, m, by)
}

// complete records a did of w for its step d, then waits for the steps
// that d's release unblocks.
func (c *conductor) complete(w *wstate, d StepDef, m message, by string) error {
	if m.Type != "did" {
		return fmt.Errorf("%s: step protocol: %q, want \"did\"", w.Label, m.Type)
	}
	if m.Op != d.Name {
		return fmt.Errorf("%s: step protocol: did %q, the plan's step is %q", w.Label, m.Op, d.Name)
	}
	w.pending, w.blocked, w.waitsFor = false, false, ""
	w.k++
	row := Row{Worker: w.Label, Op: d.Name, Call: d.Call, Read: m.Read, Wrote: m.Wrote, Counter: m.Counter, Note: m.Note, By: by}
	if !m.TimedOut {
		if d.Acquires != "" {
			c.holder[d.Acquires] = indexOf(c.ws, w)
			w.holds[d.Acquires] = true
		}
	}
	if d.Releases != "" {
		delete(c.holder, d.Releases)
		delete(w.holds, d.Releases)
	}
	if m.TimedOut {
		// A timed wait that expired backs off: the worker gives back all
		// it holds and ends (the deadlock lab).
		for r := range w.holds {
			delete(c.holder, r)
		}
		clear(w.holds)
	}
	c.add(row)
	if m.TimedOut {
		// It backed off and ends: whatever its plan had left is skipped.
		w.done, w.next = true, ""
	} else if err := c.arrive(w, m.Next); err != nil {
		return err
	}
	released := []string{}
	if d.Releases != "" {
		released = append(released, d.Releases)
	}
	if m.TimedOut {
		released = append(released, "*")
	}
	return c.wake(released)
}

// wake waits for a blocked step on a released resource to complete, so that
// which workers can move never depends on timing.
func (c *conductor) wake(released []string) error {
	for _, r := range released {
		var waiters []*wstate
		for _, w := range c.ws {
			if d, _ := w.Plan(w.k); w.blocked && (r == "*" || d.Acquires == r) {
				waiters = append(waiters, w)
			}
		}
		if len(waiters) == 0 {
			continue
		}
		w, m, err := c.readAny(waiters, c.timeout)
		if err != nil {
			return fmt.Errorf("after %s was released, no waiter got it: %w", r, err)
		}
		d, _ := w.Plan(w.k)
		if err := c.complete(w, d, m, "release"); err != nil {
			return err
		}
	}
	return nil
}

// stuck handles a run where every unfinished worker is blocked.
func (c *conductor) stuck() error {
	if !c.out.Stuck {
		c.out.Stuck = true
		if c.cfg.OnStuck != nil {
			c.cfg.OnStuck()
		}
	}
	var blocked []*wstate
	for _, w := range c.ws {
		if w.blocked {
			blocked = append(blocked, w)
		}
	}
	w, m, err := c.readAny(blocked, c.timeout+time.Minute)
	if err != nil {
		return fmt.Errorf("every worker is blocked and none timed out: %w", err)
	}
	d, _ := w.Plan(w.k)
	return c.complete(w, d, m, "timeout")
}

func (c *conductor) add(r Row) {
	r.N = len(c.out.Rows) + 1
	c.out.Rows = append(c.out.Rows, r)
}

func indexOf(ws []*wstate, w *wstate) int {
	for i, x := range ws {
		if x == w {
			return i
		}
	}
	return -1
}

// await waits for w's did; if d may block, it watches the kernel's view
// of w's thread and returns blocked once the thread sleeps in one of d's
// system calls twice in a row with no message arrived.
func (c *conductor) await(w *wstate, d StepDef) (message, bool, error) {
	deadline := time.Now().Add(c.timeout)
	seen := 0
	for {
		if m, ok, err := c.take(w); err != nil || ok {
			return m, false, err
		}
		if err := c.ctx.Err(); err != nil {
			return message{}, false, err
		}
		if time.Now().After(deadline) {
			return message{}, false, fmt.Errorf("%s: step %s neither completed nor blocked within %s", w.Label, d.Name, c.timeout)
		}
		// Look at the thread first, then at the socket: a did written
		// before the look is in the socket by then.
		sleeping := len(d.Blocking) > 0 && sleepsIn(w.pid, w.tid, d.Blocking)
		ready, err := c.poll([]*wstate{w}, time.Millisecond)
		if err != nil {
			return message{}, false, err
		}
		if ready >= 0 {
			continue
		}
		if sleeping {
			seen++
			if seen >= 2 {
				return message{}, true, nil
			}
		} else {
			seen = 0
		}
	}
}

// take parses one buffered line of w, if any, reading what the socket
// holds without waiting.
func (c *conductor) take(w *wstate) (message, bool, error) {
	for {
		if i := bytes.IndexByte(w.buf, '\n'); i >= 0 {
			line := w.buf[:i]
			w.buf = w.buf[i+1:]
			var m message
			if err := json.Unmarshal(line, &m); err != nil {
				return m, false, fmt.Errorf("%s: step protocol: bad message %q: %w", w.Label, line, err)
			}
			return m, true, nil
		}
		if len(w.buf) > maxLine {
			return message{}, false, fmt.Errorf("%s: step protocol: message longer than %d bytes", w.Label, maxLine)
		}
		ready, err := c.poll([]*wstate{w}, 0)
		if err != nil || ready < 0 {
			return message{}, false, err
		}
		var b [maxLine]byte
		n, err := unix.Read(w.fd, b[:])
		if err == unix.EINTR || err == unix.EAGAIN {
			continue
		}
		if err != nil {
			return message{}, false, fmt.Errorf("%s: step socket: %w", w.Label, os.NewSyscallError("read", err))
		}
		if n == 0 {
			return message{}, false, fmt.Errorf("%s: the worker closed its step socket (it ended or failed)", w.Label)
		}
		w.buf = append(w.buf, b[:n]...)
	}
}

// read waits up to limit for w's next message.
func (c *conductor) read(w *wstate, limit time.Duration) (message, error) {
	_, m, err := c.readAny([]*wstate{w}, limit)
	return m, err
}

// readAny waits up to limit for a message of any of ws.
func (c *conductor) readAny(ws []*wstate, limit time.Duration) (*wstate, message, error) {
	deadline := time.Now().Add(limit)
	for {
		for _, w := range ws {
			if m, ok, err := c.take(w); err != nil || ok {
				return w, m, err
			}
		}
		if err := c.ctx.Err(); err != nil {
			return nil, message{}, err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil, message{}, fmt.Errorf("no message from %s within %s", labels(ws), limit)
		}
		if _, err := c.poll(ws, min(left, 50*time.Millisecond)); err != nil {
			return nil, message{}, err
		}
	}
}

func labels(ws []*wstate) string {
	var s []string
	for _, w := range ws {
		s = append(s, w.Label)
	}
	return strings.Join(s, ", ")
}

// poll waits up to d for one of ws to be readable and returns its index,
// or -1.
func (c *conductor) poll(ws []*wstate, d time.Duration) (int, error) {
	fds := make([]unix.PollFd, len(ws))
	for i, w := range ws {
		fds[i] = unix.PollFd{Fd: int32(w.fd), Events: unix.POLLIN}
	}
	for {
		n, err := unix.Poll(fds, int(d.Milliseconds()))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return -1, os.NewSyscallError("poll", err)
		}
		if n == 0 {
			return -1, nil
		}
		for i, f := range fds {
			if f.Revents != 0 {
				return i, nil
			}
		}
		return -1, nil
	}
}

// kernelView describes where w's thread sleeps: the system call, the wait
// channel and the lab's own probe.
func (c *conductor) kernelView(w *wstate, d StepDef) string {
	parts := []string{}
	if nr, ok := syscallOf(w.pid, w.tid); ok {
		parts = append(parts, syscallName(nr))
	} else if d.Call != "" {
		parts = append(parts, d.Call)
	}
	if wc := wchan(w.pid, w.tid); wc != "" && wc != "0" {
		parts = append(parts, "wchan "+wc)
	}
	if c.cfg.Probe != nil {
		if s := c.cfg.Probe(indexOf(c.ws, w), d); s != "" {
			parts = append(parts, s)
		}
	}
	if len(parts) == 0 {
		return d.Name
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return parts[0] + " (kernel: " + strings.Join(parts[1:], ", ") + ")"
}

// sleepsIn reports whether the thread sleeps (state S or D) in one of the
// system calls nrs (sysobj.Thread.SleepsIn: the detection inspect and who
// use). Where /proc/.../syscall cannot be read (ptrace access refused), a
// sleeping thread counts.
func sleepsIn(pid, tid int, nrs []int) bool {
	t, err := sysobj.ReadThread(pid, tid)
	if errors.Is(err, fs.ErrPermission) {
		return t.State == 'S' || t.State == 'D'
	}
	return err == nil && t.SleepsIn(nrs, -1)
}

// syscallOf returns the system call the thread sleeps in; false when it
// runs, sleeps outside a call, or cannot be read.
func syscallOf(pid, tid int) (int, bool) {
	t, err := sysobj.ReadThread(pid, tid)
	if err != nil || !t.InCall {
		return 0, false
	}
	return int(t.Nr), true
}

func wchan(pid, tid int) string {
	t, _ := sysobj.ReadThread(pid, tid)
	return t.Wchan
}
