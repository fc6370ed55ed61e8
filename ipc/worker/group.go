package worker

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
)

// Spec describes one child of a group.
type Spec struct {
	Kind  string     // registered worker kind
	Name  string     // label for logs and errors ("w1"); defaults to kind#index
	Spec  any        // JSON-encoded and given to the child (Child.Spec)
	Files []*os.File // handed over as fds FileFD(0), FileFD(1)...; the caller keeps ownership
	// CPUs pins the child to these CPUs from its first instruction (nil:
	// it inherits this process's affinity). Each must be allowed to this
	// process (sched_setaffinity(2)), or Start fails.
	CPUs []int
	// Credential, when set, runs the child as another user (uid, gid and
	// supplementary groups; an empty Groups clears them). The parent must
	// be allowed to switch (root, or CAP_SETUID and CAP_SETGID). The
	// child starts from /proc/self/exe, which needs only execute
	// permission on the binary itself, but any path it opens later must be
	// reachable by that user.
	Credential *syscall.Credential
	// Command, when set, is the program the child runs instead of this
	// binary's `worker KIND`: Command[0] is its path, the rest its
	// arguments. It is a worker written in another language (ipcplay's
	// Python workers) and must speak the same protocol (see the package
	// documentation); Kind then only labels it in logs.
	Command []string
	// Stdin, when not nil, is written to the child's standard input (a
	// Python worker's program: see ipc/python.Args); nil: /dev/null.
	Stdin []byte
	// Cloneflags, when not zero, starts the child in new namespaces
	// (SysProcAttr.Cloneflags: syscall.CLONE_NEWIPC, CLONE_NEWNS,
	// CLONE_NEWNET...; clone(2), namespaces(7)). With CLONE_NEWUSER the
	// parent's effective uid and gid become 0 inside (one id each,
	// setgroups denied; user_namespaces(7)), which an unprivileged parent
	// may do where the kernel allows unprivileged user namespaces: the
	// child is root in its namespaces, so it keeps its capabilities there
	// across execve (to mount a tmpfs in its own mount namespace), and is
	// the parent's user to everything outside. A refusal fails the start
	// with the errno (EPERM, ENOSPC, EINVAL) wrapped.
	Cloneflags uintptr
}

// Options tune a group.
type Options struct {
	// StartTimeout bounds the time from fork to every child's ready
	// message. Default 15s (generous for -race builds on loaded CI).
	StartTimeout time.Duration
	// StopGrace is how long children get after a stop request before they
	// are killed with SIGKILL. Default 2s.
	StopGrace time.Duration
	// Executable overrides /proc/self/exe (tests re-execute the test binary).
	Executable string
	// Args are put between the executable and "worker KIND" (tests use
	// this to reach their TestMain). Env is added to the child's environment.
	Args []string
	Env  []string
	// OnEvent receives each child's progress events (called from one
	// goroutine per child).
	OnEvent func(name string, pid int, data json.RawMessage)
}

// Result is what one child did.
type Result struct {
	Name     string          `json:"name"`
	Pid      int             `json:"pid"`
	Data     json.RawMessage `json:"data,omitempty"` // the worker's returned value
	Err      string          `json:"error,omitempty"`
	ExitCode int             `json:"exit_code"`        // -1 when killed by a signal
	Signal   string          `json:"signal,omitempty"` // "SIGKILL" when killed
	UserNs   int64           `json:"user_ns"`
	SysNs    int64           `json:"sys_ns"`
	Nvcsw    int64           `json:"voluntary_ctx_switches"`
	Nivcsw   int64           `json:"involuntary_ctx_switches"`
	usage    bool
}

// Decode unmarshals the child's result value into v.
func (r Result) Decode(v any) error { return json.Unmarshal(r.Data, v) }

// ExitError is returned when a child failed: it exited non-zero, was
// killed by a signal, or reported an error.
type ExitError struct {
	Name   string
	Pid    int
	Code   int
	Signal string
	Msg    string // the child's error message or the tail of its stderr
	usage  bool
}

func (e *ExitError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "worker %s (pid %d)", e.Name, e.Pid)
	switch {
	case e.Signal != "":
		fmt.Fprintf(&b, " was killed by %s", e.Signal)
	case e.Msg != "" && e.Code == 1:
		b.WriteString(" failed")
	default:
		fmt.Fprintf(&b, " exited with status %d", e.Code)
	}
	if e.Msg != "" {
		b.WriteString(": " + e.Msg)
	}
	return b.String()
}

// UsageError reports whether the child refused its input as bad usage.
func (e *ExitError) UsageError() bool { return e.usage }

// Group is a set of children started together.
type Group struct {
	log     hclog.Logger
	opts    Options
	procs   []*proc
	barrier *os.File // write end; closing it releases the children
	start   time.Time
	once    sync.Once
}

type proc struct {
	name    string
	index   int
	cmd     *exec.Cmd
	pid     int
	control *os.File
	enc     *json.Encoder
	encMu   sync.Mutex
	ready   chan struct{}
	done    chan struct{} // closed after Wait
	ctlDone chan struct{} // closed when the control socket reaches EOF
	res     Result
	resMu   sync.Mutex
	gotRes  bool
	killed  bool // we sent SIGKILL (after a stop request or a failure)
	stderr  *tail
}

// Start forks one child per spec and waits until every child has reported
// ready (or fails, killing those already started). Children then wait at
// the start barrier until Go is called.
func Start(ctx context.Context, log hclog.Logger, specs []Spec, opts Options) (g *Group, retErr error) {
	if len(specs) == 0 {
		return nil, errors.New("worker: no workers to start")
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 15 * time.Second
	}
	if opts.StopGrace <= 0 {
		opts.StopGrace = 2 * time.Second
	}
	if opts.Executable == "" {
		opts.Executable = "/proc/self/exe"
	}
	if log == nil {
		log = hclog.NewNullLogger()
	}
	br, bw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("worker: start barrier: %w", err)
	}
	defer br.Close() // the children hold their own copies
	g = &Group{log: log, opts: opts, barrier: bw}
	defer func() {
		if retErr != nil {
			g.Kill()
			g.waitAll()
			bw.Close()
		}
	}()
	for i, s := range specs {
		if s.Name == "" {
			s.Name = s.Kind + "#" + strconv.Itoa(i)
		}
		p, err := g.spawn(i, s, br)
		if err != nil {
			return g, err
		}
		g.procs = append(g.procs, p)
	}
	timer := time.NewTimer(opts.StartTimeout)
	defer timer.Stop()
	for _, p := range g.procs {
		select {
		case <-p.ready:
		case <-p.done:
			return g, g.failure(p)
		case <-timer.C:
			return g, fmt.Errorf("worker %s (pid %d) not ready within %s", p.name, p.pid, opts.StartTimeout)
		case <-ctx.Done():
			return g, ctx.Err()
		}
	}
	return g, nil
}

func (g *Group) spawn(index int, s Spec, barrier *os.File) (*proc, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("worker %s: control socket: %w", s.Name, os.NewSyscallError("socketpair", err))
	}
	parentEnd := os.NewFile(uintptr(fds[0]), "control")
	childEnd := os.NewFile(uintptr(fds[1]), "control-child")
	defer childEnd.Close()

	spec, err := json.Marshal(s.Spec)
	if err != nil {
		parentEnd.Close()
		return nil, fmt.Errorf("worker %s: encode spec: %w", s.Name, err)
	}
	exe, argv0 := g.opts.Executable, "ipcplay"
	args := append(append([]string{}, g.opts.Args...), "worker", s.Kind)
	if len(s.Command) > 0 {
		exe, argv0, args = s.Command[0], s.Command[0], s.Command[1:]
	}
	cmd := exec.Command(exe, args...)
	cmd.Args[0] = argv0
	if s.Stdin != nil {
		cmd.Stdin = bytes.NewReader(s.Stdin)
	}
	cmd.Env = append(os.Environ(), g.opts.Env...)
	var pin *unix.CPUSet
	if len(s.CPUs) > 0 {
		pin = new(unix.CPUSet)
		for _, c := range s.CPUs {
			if c < 0 || c >= cpuSetSize {
				return nil, fmt.Errorf("worker %s: CPU %d: not a CPU number (0 to %d)", s.Name, c, cpuSetSize-1)
			}
			pin.Set(c)
		}
	}
	cmd.ExtraFiles = append([]*os.File{childEnd, barrier}, s.Files...)
	// Go sets Pdeathsig after switching credentials (a change of uid
	// clears it), so it holds for a child of another user too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true, Credential: s.Credential}
	if s.Cloneflags != 0 {
		cmd.SysProcAttr.Cloneflags = s.Cloneflags
		if s.Cloneflags&syscall.CLONE_NEWUSER != 0 {
			cmd.SysProcAttr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}}
			cmd.SysProcAttr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}
			cmd.SysProcAttr.GidMappingsEnableSetgroups = false
		}
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		parentEnd.Close()
		return nil, err
	}
	p := &proc{
		name: s.Name, index: index, cmd: cmd, control: parentEnd,
		enc: json.NewEncoder(parentEnd), ready: make(chan struct{}),
		done: make(chan struct{}), ctlDone: make(chan struct{}), stderr: newTail(8),
	}
	p.res.Name = s.Name

	// Fork from a goroutine that keeps its OS thread until the child is
	// reaped: Pdeathsig fires when the forking thread exits, not the process.
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer close(p.done)
		if err := startPinned(cmd, pin); err != nil {
			started <- err
			return
		}
		p.pid = cmd.Process.Pid
		p.res.Pid = p.pid
		started <- nil
		g.relayStderr(p, stderr)
		err := cmd.Wait()
		p.finish(err)
		// Returning while locked ends this thread, which is what we want:
		// the child is gone, nothing else depends on it.
	}()
	if err := <-started; err != nil {
		parentEnd.Close()
		<-p.done
		return nil, fmt.Errorf("worker %s: start %s: %w", s.Name, exe, err)
	}
	g.log.Debug("worker started", "name", s.Name, "kind", s.Kind, "pid", p.pid)
	go g.readControl(p)
	if err := p.send(message{Type: msgSpec, Data: spec}); err != nil {
		_ = syscall.Kill(-p.pid, syscall.SIGKILL)
		<-p.done
		parentEnd.Close()
		return nil, fmt.Errorf("worker %s: send spec: %w", s.Name, err)
	}
	return p, nil
}

// startPinned starts cmd with the CPU affinity pin (nil: inherited as
// is). The caller holds runtime.LockOSThread: a child inherits the mask of
// the thread that forks it, so the thread takes pin for the fork and its
// own mask back right after. The child thus starts on its CPUs, and its
// Go runtime sizes GOMAXPROCS from them at start-up. (Pinning after exec,
// from the child, made the runtime lower GOMAXPROCS later, with a
// stop-the-world, in the middle of the measured run.) New OS threads of
// this process are not cloned from a locked thread (the runtime hands
// their creation to its template thread), so none inherits pin.
func startPinned(cmd *exec.Cmd, pin *unix.CPUSet) error {
	if pin == nil {
		return cmd.Start()
	}
	var own unix.CPUSet
	if err := unix.SchedGetaffinity(0, &own); err != nil {
		return fmt.Errorf("pin to CPUs: %w", os.NewSyscallError("sched_getaffinity", err))
	}
	if err := unix.SchedSetaffinity(0, pin); err != nil {
		return fmt.Errorf("pin to CPUs %s: %w", cpuSetString(pin), os.NewSyscallError("sched_setaffinity", err))
	}
	err := cmd.Start()
	// Should this fail, the thread keeps pin: harmless, it only relays
	// the child's stderr, waits for it and ends with it (still locked).
	_ = unix.SchedSetaffinity(0, &own)
	return err
}

// cpuSetSize is the number of CPUs a unix.CPUSet holds (1024).
const cpuSetSize = int(unsafe.Sizeof(unix.CPUSet{})) * 8

// cpuSetString lists the CPUs of set: "0,2".
func cpuSetString(set *unix.CPUSet) string {
	var cpus []string
	for c := 0; c < cpuSetSize; c++ {
		if set.IsSet(c) {
			cpus = append(cpus, strconv.Itoa(c))
		}
	}
	return strings.Join(cpus, ",")
}

// maxStderrLine is the longest worker stderr line re-logged whole; the
// rest of a longer line is read and dropped, never left in the pipe.
const maxStderrLine = 64 * 1024

// relayStderr re-logs the child's JSON log lines at their level, with the
// child's pid, and keeps the last lines for error messages. It reads until
// the child's stderr closes, whatever the child writes: a line longer than
// maxStderrLine is cut (and marked so) but drained, because a child whose
// stderr pipe fills up blocks in write(2) and the run hangs. It returns
// before Wait is called.
func (g *Group) relayStderr(p *proc, r io.Reader) {
	log := g.log.With("worker", p.name, "pid", p.pid)
	br := bufio.NewReaderSize(r, maxStderrLine)
	for {
		line, dropped, err := readLine(br)
		if len(line) > 0 || dropped > 0 || err == nil {
			g.relayLine(p, log, line, dropped)
		}
		if err != nil {
			return
		}
	}
}

// readLine returns the next line of br without its newline, at most
// maxStderrLine bytes of it, and how many bytes of the line it dropped.
// err is non-nil at the end of the stream (the last line may still be
// returned with it).
func readLine(br *bufio.Reader) (line []byte, dropped int64, err error) {
	for {
		frag, isPrefix, err := br.ReadLine()
		if room := maxStderrLine - len(line); room > 0 {
			n := min(room, len(frag))
			line = append(line, frag[:n]...)
			dropped += int64(len(frag) - n)
		} else {
			dropped += int64(len(frag))
		}
		if err != nil || !isPrefix {
			return line, dropped, err
		}
	}
}

func (g *Group) relayLine(p *proc, log hclog.Logger, raw []byte, dropped int64) {
	line := string(raw)
	if dropped > 0 {
		line += fmt.Sprintf(" [... %d more bytes of this line dropped]", dropped)
		p.stderr.add(line)
		log.Warn("worker output (line cut)", "line", line, "line_bytes", int64(len(raw))+dropped)
		return
	}
	var entry map[string]any
	if json.Unmarshal(raw, &entry) != nil || entry["@message"] == nil {
		p.stderr.add(line)
		log.Info("worker output", "line", line)
		return
	}
	msg, _ := entry["@message"].(string)
	level := hclog.LevelFromString(fmt.Sprint(entry["@level"]))
	if level >= hclog.Error {
		p.stderr.add(msg)
	}
	var kv []any
	for k, v := range entry {
		if !strings.HasPrefix(k, "@") {
			kv = append(kv, k, v)
		}
	}
	log.Log(level, msg, kv...)
}

func (g *Group) readControl(p *proc) {
	defer close(p.ctlDone)
	r := bufio.NewReader(p.control)
	readyOnce := sync.OnceFunc(func() { close(p.ready) })
	for {
		m, err := readMessage(r)
		if errors.Is(err, errBadMessage) {
			// Keep reading: a reader that stops leaves the child blocked
			// on a full socket.
			g.log.Warn("unreadable control message from worker", "worker", p.name, "pid", p.pid, "error", err)
			continue
		}
		if err != nil {
			return
		}
		switch m.Type {
		case msgReady:
			readyOnce()
		case msgEvent:
			if g.opts.OnEvent != nil {
				g.opts.OnEvent(p.name, p.pid, m.Data)
			}
		case msgResult, msgError:
			p.resMu.Lock()
			p.gotRes = true
			p.res.Data, p.res.Err, p.res.usage = m.Data, m.Error, m.Usage
			p.resMu.Unlock()
			readyOnce()
		}
	}
}

func (p *proc) send(m message) error {
	p.encMu.Lock()
	defer p.encMu.Unlock()
	return p.enc.Encode(m)
}

// finish records how the child ended.
func (p *proc) finish(waitErr error) {
	p.resMu.Lock()
	defer p.resMu.Unlock()
	st := p.cmd.ProcessState
	if st == nil {
		p.res.ExitCode = -1
		p.res.Err = fmt.Sprint(waitErr)
		return
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		p.res.ExitCode = -1
		p.res.Signal = unix.SignalName(ws.Signal())
	} else {
		p.res.ExitCode = st.ExitCode()
	}
	if ru, ok := st.SysUsage().(*syscall.Rusage); ok {
		p.res.UserNs = ru.Utime.Nano()
		p.res.SysNs = ru.Stime.Nano()
		p.res.Nvcsw = ru.Nvcsw
		p.res.Nivcsw = ru.Nivcsw
	}
}

// Pids returns the children's pids, in spec order.
func (g *Group) Pids() []int {
	out := make([]int, len(g.procs))
	for i, p := range g.procs {
		out[i] = p.pid
	}
	return out
}

// Go releases the start barrier: every child returns from Ready at once.
func (g *Group) Go() {
	g.once.Do(func() {
		g.start = time.Now()
		g.barrier.Close()
	})
}

// Signal sends sig to the i-th child's process group.
func (g *Group) Signal(i int, sig syscall.Signal) error {
	p := g.procs[i]
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := syscall.Kill(-p.pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal worker %s (pid %d): %w", p.name, p.pid, err)
	}
	return nil
}

// Kill sends SIGKILL to every child still running.
func (g *Group) Kill() {
	for i, p := range g.procs {
		p.resMu.Lock()
		p.killed = true
		p.resMu.Unlock()
		_ = g.Signal(i, syscall.SIGKILL)
	}
}

// Stop asks every child to stop (their ctx is cancelled), then kills those
// still running after the grace period.
func (g *Group) Stop() {
	for _, p := range g.procs {
		_ = p.send(message{Type: msgStop})
	}
	timer := time.NewTimer(g.opts.StopGrace)
	defer timer.Stop()
	for _, p := range g.procs {
		select {
		case <-p.done:
		case <-timer.C:
			g.Kill()
			return
		}
	}
}

// Done returns a channel closed when the i-th child has been reaped.
func (g *Group) Done(i int) <-chan struct{} { return g.procs[i].done }

func (g *Group) waitAll() {
	for _, p := range g.procs {
		<-p.done
		drained(p)
		p.control.Close()
	}
}

// drained waits, after a child finished, until its control reader has read
// what the child wrote (a result sent just before exit): the reader ends at
// EOF, which comes when the child's end closes; a grandchild that
// inherited it could hold it open, hence the bound.
func drained(p *proc) {
	select {
	case <-p.ctlDone:
	case <-time.After(time.Second):
	}
}

// Wait waits for every child. When one fails (non-zero exit, a signal, an
// error result) or ctx ends, the others are stopped. It returns every
// child's Result, and the first failure as an *ExitError (or ctx's error).
func (g *Group) Wait(ctx context.Context) ([]Result, error) {
	g.Go()
	var firstErr error
	pending := make(chan int, len(g.procs))
	for i, p := range g.procs {
		go func() { <-p.done; pending <- i }()
	}
	stopped := false
	for range g.procs {
		select {
		case i := <-pending:
			if err := g.failure(g.procs[i]); err != nil && firstErr == nil && !stopped {
				firstErr = err
				stopped = true
				go g.Stop()
			}
		case <-ctx.Done():
			if !stopped {
				stopped = true
				firstErr = ctx.Err()
				go g.Stop()
			}
			i := <-pending
			_ = i
		}
	}
	g.waitAll()
	results := make([]Result, len(g.procs))
	for i, p := range g.procs {
		p.resMu.Lock()
		results[i] = p.res
		p.resMu.Unlock()
	}
	return results, firstErr
}

// failure returns the *ExitError of a finished child, or nil if it
// succeeded. It must only be called after the child's done channel closed.
func (g *Group) failure(p *proc) error {
	<-p.done
	drained(p) // the result line may still be in the control socket
	p.resMu.Lock()
	defer p.resMu.Unlock()
	r := p.res
	if r.ExitCode == 0 && r.Signal == "" && r.Err == "" && p.gotRes {
		return nil
	}
	if p.killed && p.gotRes && r.Err == "" {
		return nil // it delivered its result; we killed it on its way out
	}
	msg := r.Err
	if msg == "" {
		msg = p.stderr.String()
	}
	if msg == "" && r.ExitCode == 0 && r.Signal == "" {
		msg = "exited without a result"
	}
	return &ExitError{Name: p.name, Pid: p.pid, Code: r.ExitCode, Signal: r.Signal, Msg: msg, usage: r.usage}
}

// Run starts the children, releases them together and waits for them.
func Run(ctx context.Context, log hclog.Logger, specs []Spec, opts Options) ([]Result, error) {
	g, err := Start(ctx, log, specs, opts)
	if err != nil {
		return nil, err
	}
	return g.Wait(ctx)
}

// tail keeps the last n lines written to it.
type tail struct {
	mu    sync.Mutex
	n     int
	lines []string
}

func newTail(n int) *tail { return &tail{n: n} }

// maxTailLine bounds each kept line: they end up in error messages.
const maxTailLine = 2048

func (t *tail) add(s string) {
	if len(s) > maxTailLine {
		s = s[:maxTailLine] + "..."
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, s)
	if len(t.lines) > t.n {
		t.lines = t.lines[len(t.lines)-t.n:]
	}
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.lines, "; ")
}
