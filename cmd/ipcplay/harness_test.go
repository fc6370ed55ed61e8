package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/ipcplay/ipcplay/ipc"
	"github.com/ipcplay/ipcplay/ipc/ipctest"
	"github.com/ipcplay/ipcplay/ipc/ledger"
	"github.com/ipcplay/ipcplay/ipc/worker"
	"github.com/ipcplay/ipcplay/shm"
)

// The test experiment "cmdtest": procs workers open a POSIX region and add
// 1 to it; the run also holds a System V semaphore set, a named semaphore
// and a run directory. Once every worker is running it writes a line to
// the file (a fifo) named by notify. Modes: "" (finish), "hang" (workers
// wait until cancelled), "partial" (as hang, and the cancelled run returns
// a result), "kill-child" (worker 0 gets SIGKILL), "stuck"
// (as hang, but once cancelled the run writes another line and never
// ends).
type cmdtestParams struct {
	Procs  int    `json:"procs"`
	Mode   string `json:"mode,omitempty"`
	Notify string `json:"notify,omitempty"`
}

type cmdtestNote struct {
	RunID string `json:"run_id"`
	Pids  []int  `json:"pids"`
}

type cmdtestResult struct {
	Kind    string `json:"kind"`
	Procs   int    `json:"procs"`
	Counter uint64 `json:"counter"`
	StartNs int64  `json:"start_ns"` // wall clock while the run held its slot
	EndNs   int64  `json:"end_ns"`
}

type holdSpec struct {
	Handle string `json:"handle"`
	Hang   bool   `json:"hang"`
}

var cmdtestExperiment = ipc.Experiment{
	Name: "cmdtest",
	Validate: func(raw json.RawMessage, lim ipc.Limits) error {
		var p cmdtestParams
		if err := json.Unmarshal(raw, &p); err != nil {
			return ipc.Usagef("bad params: %v", err)
		}
		return lim.CheckProcs("--procs", p.Procs)
	},
	Run: func(ctx context.Context, env *ipc.Env, raw json.RawMessage) (any, error) {
		start := time.Now().UnixNano()
		var p cmdtestParams
		_ = json.Unmarshal(raw, &p)
		r, err := env.CreateRegion(shm.Spec{Kind: shm.POSIX, Size: 4096})
		if err != nil {
			return nil, err
		}
		if _, err := env.CreateSemSet(1); err != nil {
			return nil, err
		}
		if _, err := env.CreateNamedSem(0); err != nil {
			return nil, err
		}
		if _, err := env.TempDir(); err != nil {
			return nil, err
		}
		specs := make([]worker.Spec, p.Procs)
		for i := range specs {
			specs[i] = worker.Spec{Kind: "cmdtest-hold", Spec: holdSpec{Handle: r.Handle(), Hang: p.Mode == "hang" || p.Mode == "kill-child" || p.Mode == "stuck" || p.Mode == "partial"}}
		}
		g, err := env.StartWorkers(ctx, specs)
		if err != nil {
			return nil, err
		}
		notify(p.Notify, cmdtestNote{RunID: env.RunID, Pids: g.Pids()})
		if p.Mode == "kill-child" {
			g.Go()
			g.Signal(0, syscall.SIGKILL)
		}
		if _, err := g.Wait(ctx); err != nil {
			if p.Mode == "partial" {
				// A result of what ran before the cancel, as race and
				// the labs return one.
				return cmdtestResult{Kind: "cmdtest", Procs: p.Procs, Counter: atomic.LoadUint64(r.Uint64(0)), StartNs: start, EndNs: time.Now().UnixNano()}, err
			}
			if p.Mode == "stuck" {
				// A wind-down that never ends: only a second signal
				// ends the CLI now.
				notify(p.Notify, cmdtestNote{RunID: env.RunID})
				select {}
			}
			return nil, err
		}
		return cmdtestResult{Kind: "cmdtest", Procs: p.Procs, Counter: atomic.LoadUint64(r.Uint64(0)), StartNs: start, EndNs: time.Now().UnixNano()}, nil
	},
}

// notify writes note as a line to the fifo path ("" : nowhere).
func notify(path string, note cmdtestNote) {
	if path == "" {
		return
	}
	line, _ := json.Marshal(note)
	if f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0); err == nil {
		f.Write(append(line, '\n'))
		f.Close()
	}
}

// cmdtestCommand runs the experiment from the CLI (test builds only).
var cmdtestCommand = &cli.Command{
	Name: "cmdtest",
	Flags: []cli.Flag{
		&cli.IntFlag{Name: "procs", Value: 2},
		&cli.StringFlag{Name: "mode"},
		&cli.StringFlag{Name: "notify"},
	},
	Action: func(c *cli.Context) error {
		p := cmdtestParams{Procs: c.Int("procs"), Mode: c.String("mode"), Notify: c.String("notify")}
		return runExperiment(c, "cmdtest", p, func(w io.Writer, res *ipc.RunResult) error {
			_, err := fmt.Fprintf(w, "result %s\n", res.Result)
			return err
		})
	},
}

func init() {
	extraExperiments = append(extraExperiments, cmdtestExperiment)
	worker.Register("cmdtest-hold", func(ctx context.Context, c *worker.Child) (any, error) {
		var s holdSpec
		if err := c.Spec(&s); err != nil {
			return nil, err
		}
		r, err := shm.Open(s.Handle)
		if err != nil {
			return nil, err
		}
		defer r.Close()
		if err := c.Ready(ctx); err != nil {
			return nil, err
		}
		atomic.AddUint64(r.Uint64(0), 1)
		if s.Hang {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return 1, nil
	})
	// "ipcplay" is the CLI itself, with the test command: main() without
	// worker dispatch (TestMain did that).
	helpers["ipcplay"] = func() {
		ctx, stop := interruptContext(context.Background()) // as main
		defer stop()
		app := newApp()
		addGlobals(cmdtestCommand, "")
		app.Commands = append(app.Commands, cmdtestCommand)
		code := runApp(ctx, app, append([]string{"ipcplay"}, ipctest.Args()...))
		stop()
		exit(code)
	}
}

// cleanEnv is the environment without the variables that would point the
// CLI elsewhere or change its engine's limits.
func cleanEnv(env []string) []string {
	var out []string
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "IPCPLAY_SOCKET", "IPCPLAY_STATE_DIR", "IPCPLAY_LOG_LEVEL", "IPCPLAY_LOG_FORMAT", ipc.EnvMaxProcs, ipc.EnvMaxShm, ipc.EnvMaxRuns, ipc.EnvRunTimeout:
			continue
		}
		out = append(out, kv)
	}
	return out
}

// cli returns the command running the CLI with args.
func cliCmd(t testing.TB, args ...string) *exec.Cmd {
	t.Helper()
	cmd := ipctest.Helper(t, "ipcplay", args...)
	cmd.Env = cleanEnv(cmd.Env)
	return cmd
}

type cliResult struct {
	stdout, stderr string
	code           int
}

// startLocked starts cmd from a goroutine that keeps its OS thread until
// cmd is reaped, and returns a channel closed then. Helpers get Pdeathsig,
// which Linux ties to the forking thread: a thread that ends (as those of
// worker.Start do, in an embedded engine of this process) would kill a
// child forked from it.
func startLocked(cmd *exec.Cmd) (<-chan struct{}, error) {
	started := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer close(done)
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = cmd.Wait()
	}()
	if err := <-started; err != nil {
		<-done
		return nil, err
	}
	return done, nil
}

// runCLI runs the CLI to its end (at most a minute).
func runCLI(t testing.TB, args ...string) cliResult {
	t.Helper()
	return runCLIEnv(t, nil, args...)
}

// runCLIEnv is runCLI with env ("NAME=value") added to the environment.
func runCLIEnv(t testing.TB, env []string, args ...string) cliResult {
	t.Helper()
	cmd := cliCmd(t, args...)
	cmd.Env = append(cmd.Env, env...)
	var out, errb syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	done, err := startLocked(cmd)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		<-done
		t.Fatalf("ipcplay %v: no exit within a minute\nstdout: %s\nstderr: %s", args, out.String(), errb.String())
	}
	return cliResult{out.String(), errb.String(), cmd.ProcessState.ExitCode()}
}

// syncBuffer collects a process's stderr.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// daemonProc is an `ipcplay daemon` child process.
type daemonProc struct {
	cmd    *exec.Cmd
	dir    string // its socket and state directory
	socket string
	log    *syncBuffer
	done   <-chan struct{}
}

// newStateDir returns a fresh private directory with a short path.
func newStateDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ipcd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// startDaemon starts a daemon on dir/d.sock and waits until it answers.
// The cleanup stops it with SIGTERM.
func startDaemon(t testing.TB, dir string, args ...string) *daemonProc {
	t.Helper()
	socket := filepath.Join(dir, "d.sock")
	d := &daemonProc{dir: dir, socket: socket, log: &syncBuffer{}}
	d.cmd = cliCmd(t, append([]string{"daemon", "--socket", socket, "--log-level", "debug"}, args...)...)
	d.cmd.Stderr = d.log
	done, err := startLocked(d.cmd)
	if err != nil {
		t.Fatal(err)
	}
	d.done = done
	t.Cleanup(func() {
		d.stop(t)
		if t.Failed() {
			t.Logf("daemon log:\n%s", d.log.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := ipc.DialDaemon(context.Background(), socket, nil)
		if err == nil {
			c.Close()
			return d
		}
		select {
		case <-d.done:
			t.Fatalf("daemon exited: %v\n%s", d.cmd.ProcessState, d.log.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon not answering: %v\n%s", err, d.log.String())
		}
	}
}

// stop sends SIGTERM and waits for the exit; it returns the exit code.
func (d *daemonProc) stop(t testing.TB) int {
	t.Helper()
	select {
	case <-d.done:
		return d.cmd.ProcessState.ExitCode()
	default:
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(40 * time.Second):
		d.cmd.Process.Kill()
		<-d.done
		t.Errorf("daemon did not stop within 40s of SIGTERM")
	}
	return d.cmd.ProcessState.ExitCode()
}

func (d *daemonProc) client(t testing.TB) ipc.Client {
	t.Helper()
	c, err := ipc.DialDaemon(context.Background(), d.socket, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// notifier is a fifo the test experiment writes a line to when its workers
// all run.
type notifier struct {
	path  string
	lines chan string
}

func newNotifier(t testing.TB) *notifier {
	t.Helper()
	path := filepath.Join(newStateDir(t), "notify")
	if err := unix.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0) // never blocks, never EOF
	if err != nil {
		t.Fatal(err)
	}
	n := &notifier{path: path, lines: make(chan string, 16)}
	go func() {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			n.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() { f.Close() })
	return n
}

func (n *notifier) wait(t testing.TB) cmdtestNote {
	t.Helper()
	select {
	case line := <-n.lines:
		var note cmdtestNote
		if err := json.Unmarshal([]byte(line), &note); err != nil {
			t.Fatalf("notify line %q: %v", line, err)
		}
		return note
	case <-time.After(60 * time.Second):
		t.Fatal("the run's workers did not all start within a minute")
	}
	return cmdtestNote{}
}

func ledgerEntries(t testing.TB, dir string) []ledger.Entry {
	t.Helper()
	l, err := ledger.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := l.Entries()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		switch e.Type {
		case ledger.SysVShm, ledger.SysVSem, ledger.SysVMsg:
			ipctest.TrackSysV(strings.TrimPrefix(e.Type, "sysv-"), e.ID)
		}
	}
	return entries
}

// objectExists reports whether the object of a ledger entry is there.
func objectExists(t testing.TB, e ledger.Entry) bool {
	t.Helper()
	var path string
	switch e.Type {
	case ledger.POSIXShm:
		path = "/dev/shm/" + e.Name
	case ledger.POSIXSem:
		path = "/dev/shm/sem." + e.Name
	case ledger.Dir, ledger.File, ledger.UnixSocket:
		path = e.Name
	case ledger.SysVShm, ledger.SysVSem, ledger.SysVMsg:
		b, err := os.ReadFile("/proc/sysvipc/" + strings.TrimPrefix(e.Type, "sysv-"))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			if f := strings.Fields(line); len(f) > 1 && f[1] == strconv.Itoa(e.ID) {
				return true
			}
		}
		return false
	default:
		t.Fatalf("unexpected ledger entry %+v", e)
	}
	_, err := os.Lstat(path)
	return err == nil
}

// assertClean checks that dir's ledger is empty and that none of the
// objects once recorded (before) exists.
func assertClean(t testing.TB, dir string, before []ledger.Entry) {
	t.Helper()
	if left := ledgerEntries(t, dir); len(left) != 0 {
		t.Errorf("ledger still records %+v", left)
	}
	for _, e := range before {
		if objectExists(t, e) {
			t.Errorf("%s still exists", e)
		}
	}
}

// waitGone waits until every pid has exited (gone, or a zombie no one
// reaped yet).
func waitGone(t testing.TB, pids []int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for _, pid := range pids {
		for alive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("worker pid %d still running", pid)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || (s[i+2] != 'Z' && s[i+2] != 'X')
}

// badInputStdout reports whether stdout is what a refused command line
// args prints there: nothing, or with --json exactly one error document.
func badInputStdout(args []string, stdout string) bool {
	if !jsonRequested(args) {
		return stdout == ""
	}
	var doc errorDoc
	dec := json.NewDecoder(strings.NewReader(stdout))
	return dec.Decode(&doc) == nil && !dec.More() && doc.Kind == "error" && doc.ExitCode == 2
}
