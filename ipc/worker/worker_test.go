package worker

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/ipcplay/ipcplay/ipc/ipctest"
)

type echoSpec struct{ N int }

func monotonicNs() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

func init() {
	Register("test-echo", func(ctx context.Context, c *Child) (any, error) {
		var s echoSpec
		if err := c.Spec(&s); err != nil {
			return nil, err
		}
		if err := c.Ready(ctx); err != nil {
			return nil, err
		}
		released := monotonicNs()
		_ = c.Event(map[string]int{"progress": s.N})
		return map[string]int64{"double": int64(2 * s.N), "released_ns": released}, nil
	})
	Register("test-sleep", func(ctx context.Context, c *Child) (any, error) {
		// A stop may arrive while the worker still waits at the barrier
		// (a loaded machine): that is a clean stop too.
		if err := c.Ready(ctx); err != nil && ctx.Err() == nil {
			return nil, err
		}
		<-ctx.Done()
		return "stopped", nil
	})
	Register("test-stubborn", func(ctx context.Context, c *Child) (any, error) {
		_ = c.Ready(ctx)
		time.Sleep(time.Hour) // ignores stop: must be killed
		return nil, nil
	})
	Register("test-never-ready", func(ctx context.Context, c *Child) (any, error) {
		time.Sleep(time.Hour)
		return nil, nil
	})
	Register("test-fail", func(ctx context.Context, c *Child) (any, error) {
		return nil, errors.New("deliberate failure")
	})
	// test-flood writes a stderr line longer than any line buffer, then
	// more than a pipe holds, then a marker line, and only then returns.
	Register("test-flood", func(ctx context.Context, c *Child) (any, error) {
		long := strings.Repeat("x", 2<<20) + "\n"
		if _, err := os.Stderr.WriteString(long); err != nil {
			return nil, err
		}
		more := strings.Repeat(strings.Repeat("y", 1023)+"\n", 1024)
		if _, err := os.Stderr.WriteString(more); err != nil {
			return nil, err
		}
		fmt.Fprintln(os.Stderr, "after the long line")
		return "done", nil
	})
	// test-garbage writes a line that is not a message on its control
	// socket before its result.
	Register("test-garbage", func(ctx context.Context, c *Child) (any, error) {
		c.encMu.Lock()
		_, err := c.control.WriteString("not a message\n")
		c.encMu.Unlock()
		return "done", err
	})
	// test-procs reports, first thing, what the Go runtime and the kernel
	// say about this process's CPUs.
	Register("test-procs", func(ctx context.Context, c *Child) (any, error) {
		var set unix.CPUSet
		if err := unix.SchedGetaffinity(0, &set); err != nil {
			return nil, err
		}
		return procsReport{GOMAXPROCS: runtime.GOMAXPROCS(0), Affinity: cpusOf(&set)}, nil
	})
	Register("test-whoami", func(ctx context.Context, c *Child) (any, error) {
		return []int{os.Getuid(), os.Getgid(), os.Geteuid()}, nil
	})
	Register("test-ns", func(ctx context.Context, c *Child) (any, error) {
		ipc, err := os.Readlink("/proc/self/ns/ipc")
		return []any{ipc, os.Geteuid()}, err
	})
	Register("test-readfile", func(ctx context.Context, c *Child) (any, error) {
		f := c.File(0)
		if f == nil {
			return nil, errors.New("no file 0")
		}
		b := make([]byte, 64)
		n, _ := f.ReadAt(b, 0)
		return string(b[:n]), nil
	})
}

func TestMain(m *testing.M) {
	Dispatch() // children of these tests are this test binary
	ipctest.Main(m, map[string]func(){
		// A parent that starts a worker, prints its pid and then waits to
		// be killed: the worker must not outlive it.
		"orphan-parent": func() {
			g, err := Start(context.Background(), nil, []Spec{{Kind: "test-sleep"}}, testOpts())
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			fmt.Println(g.Pids()[0])
			time.Sleep(time.Hour)
		},
	})
}

func testOpts() Options {
	return Options{Executable: os.Args[0], StartTimeout: 20 * time.Second}
}

func TestRunCollectsResultsAndEvents(t *testing.T) {
	var mu sync.Mutex
	events := 0
	opts := testOpts()
	opts.OnEvent = func(name string, pid int, data json.RawMessage) {
		mu.Lock()
		events++
		mu.Unlock()
	}
	specs := make([]Spec, 4)
	for i := range specs {
		specs[i] = Spec{Kind: "test-echo", Spec: echoSpec{N: i + 1}}
	}
	ctx := context.Background()
	g, err := Start(ctx, nil, specs, opts)
	if err != nil {
		t.Fatal(err)
	}
	goAt := monotonicNs()
	res, err := g.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		var out map[string]int64
		if err := r.Decode(&out); err != nil {
			t.Fatalf("worker %d: %v", i, err)
		}
		if out["double"] != int64(2*(i+1)) {
			t.Errorf("worker %d: double = %d, want %d", i, out["double"], 2*(i+1))
		}
		if out["released_ns"] < goAt {
			t.Errorf("worker %d left the start barrier before Go", i)
		}
		if r.Pid <= 0 || r.ExitCode != 0 {
			t.Errorf("worker %d: pid %d exit %d", i, r.Pid, r.ExitCode)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if events != 4 {
		t.Errorf("events = %d, want 4", events)
	}
}

func TestKilledChildIsNamedAndOthersStopped(t *testing.T) {
	ctx := context.Background()
	g, err := Start(ctx, nil, []Spec{{Kind: "test-sleep", Name: "victim"}, {Kind: "test-sleep"}, {Kind: "test-stubborn"}}, testOpts())
	if err != nil {
		t.Fatal(err)
	}
	g.Go()
	if err := g.Signal(0, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	res, err := g.Wait(ctx)
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Signal != "SIGKILL" || ee.Name != "victim" {
		t.Fatalf("err = %v, want victim killed by SIGKILL", err)
	}
	if !strings.Contains(err.Error(), "killed by SIGKILL") {
		t.Errorf("message %q does not name the signal", err)
	}
	if string(res[1].Data) != `"stopped"` || res[1].Err != "" {
		t.Errorf("second worker: %+v, want a clean stop", res[1])
	}
	if res[2].Signal != "SIGKILL" {
		t.Errorf("stubborn worker: %+v, want killed after the grace period", res[2])
	}
}

func TestCancelStopsEveryone(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	g, err := Start(ctx, nil, []Spec{{Kind: "test-sleep"}, {Kind: "test-sleep"}}, testOpts())
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	_, err = g.Wait(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	for _, pid := range g.Pids() {
		if alive(pid) {
			t.Errorf("pid %d still alive", pid)
		}
	}
}

func TestFailureCarriesMessage(t *testing.T) {
	_, err := Run(context.Background(), nil, []Spec{{Kind: "test-fail"}}, testOpts())
	if err == nil || !strings.Contains(err.Error(), "deliberate failure") {
		t.Fatalf("err = %v, want the child's message", err)
	}
}

func TestStartTimeoutKillsChild(t *testing.T) {
	opts := testOpts()
	opts.StartTimeout = 300 * time.Millisecond
	g, err := Start(context.Background(), nil, []Spec{{Kind: "test-never-ready"}}, opts)
	if err == nil || !strings.Contains(err.Error(), "not ready within") {
		t.Fatalf("err = %v, want a start timeout", err)
	}
	if alive(g.Pids()[0]) {
		t.Error("child still alive after failed start")
	}
}

func TestUnknownKind(t *testing.T) {
	_, err := Run(context.Background(), nil, []Spec{{Kind: "no-such-kind"}}, testOpts())
	if err == nil {
		t.Fatal("want an error for an unknown kind")
	}
}

func TestFilesAreHandedOver(t *testing.T) {
	fd, err := unix.MemfdCreate("worker-test", unix.MFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "memfd")
	defer f.Close()
	f.WriteString("hello child")
	res, err := Run(context.Background(), nil, []Spec{{Kind: "test-readfile", Files: []*os.File{f}}}, testOpts())
	if err != nil {
		t.Fatal(err)
	}
	if string(res[0].Data) != `"hello child"` {
		t.Fatalf("child read %s", res[0].Data)
	}
}

// TestStderrLongLineIsDrained: a worker that writes a 2 MiB line and then
// another MiB must finish; the relay cuts the long line in the log but
// keeps reading (issue 12: it stopped after 1 MiB and the worker blocked
// on a full pipe until the run timeout).
func TestStderrLongLineIsDrained(t *testing.T) {
	var logBuf syncBuf
	log := hclog.New(&hclog.LoggerOptions{Output: &logBuf, Level: hclog.Info})
	// The bound only turns a hang into a failure; a drained run takes well
	// under a second.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := Run(ctx, log, []Spec{{Kind: "test-flood"}}, testOpts())
	if err != nil {
		t.Fatalf("run: %v (a worker blocked on its stderr pipe?)", err)
	}
	if string(res[0].Data) != `"done"` {
		t.Fatalf("result %s, want \"done\"", res[0].Data)
	}
	out := logBuf.String()
	if !strings.Contains(out, "after the long line") {
		t.Error("the line written after the long one was not relayed")
	}
	if !strings.Contains(out, "more bytes of this line dropped") {
		t.Error("the long line was not marked as cut")
	}
	if n := strings.Count(out, strings.Repeat("y", 1023)); n != 1024 {
		t.Errorf("relayed %d of the 1024 lines after the long one", n)
	}
	if len(out) > 4<<20 {
		t.Errorf("log holds %d bytes: the long line was not cut", len(out))
	}
}

// TestBadControlLineIsSkipped: the parent keeps reading the control socket
// past a line it cannot decode (a reader that stopped would leave the
// worker blocked on a full socket, and lose its result).
func TestBadControlLineIsSkipped(t *testing.T) {
	res, err := Run(context.Background(), nil, []Spec{{Kind: "test-garbage"}}, testOpts())
	if err != nil {
		t.Fatal(err)
	}
	if string(res[0].Data) != `"done"` {
		t.Fatalf("result %s, want \"done\"", res[0].Data)
	}
}

type procsReport struct {
	GOMAXPROCS int   `json:"gomaxprocs"`
	Affinity   []int `json:"affinity"`
}

func cpusOf(set *unix.CPUSet) []int {
	var out []int
	for c := 0; c < cpuSetSize; c++ {
		if set.IsSet(c) {
			out = append(out, c)
		}
	}
	return out
}

// TestPinnedChildStartsPinned: a child pinned to one CPU runs there from
// its start, so its Go runtime sized GOMAXPROCS for that CPU at start-up
// and has nothing to change during the run (issue 12: the child pinned
// itself after exec, and the runtime lowered GOMAXPROCS later, with a
// stop-the-world, in the middle of the measurement). The parent's threads
// keep their CPUs.
func TestPinnedChildStartsPinned(t *testing.T) {
	cpus := ipctest.CPUs(t, 2) // on one allowed CPU, pinning changes nothing
	if os.Getenv("GOMAXPROCS") != "" {
		t.Skip("GOMAXPROCS is set in the environment: the runtime does not size it from the CPUs")
	}
	pin := cpus[1]
	res, err := Run(context.Background(), nil, []Spec{{Kind: "test-procs", CPUs: []int{pin}}, {Kind: "test-procs"}}, testOpts())
	if err != nil {
		t.Fatal(err)
	}
	var pinned, free procsReport
	if err := res[0].Decode(&pinned); err != nil {
		t.Fatal(err)
	}
	if err := res[1].Decode(&free); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(pinned.Affinity) != fmt.Sprint([]int{pin}) {
		t.Errorf("pinned child runs on CPUs %v, want [%d]", pinned.Affinity, pin)
	}
	if pinned.GOMAXPROCS != 1 {
		t.Errorf("pinned child started with GOMAXPROCS %d, want 1: its runtime saw more CPUs at start-up", pinned.GOMAXPROCS)
	}
	all := ipctest.AllowedCPUs(t)
	if fmt.Sprint(free.Affinity) != fmt.Sprint(all) {
		t.Errorf("unpinned child runs on CPUs %v, want this process's %v", free.Affinity, all)
	}
	// Every thread of this process still has the process's CPUs.
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, task := range tasks {
		tid, _ := strconv.Atoi(task.Name())
		var set unix.CPUSet
		if err := unix.SchedGetaffinity(tid, &set); err != nil {
			continue // ended meanwhile
		}
		if got := cpusOf(&set); fmt.Sprint(got) != fmt.Sprint(all) {
			t.Errorf("thread %d of the parent runs on CPUs %v after the pinned start, want %v", tid, got, all)
		}
	}
}

// TestPinToForbiddenCPUFails: a CPU this process may not use is an error
// of Start, naming the CPU, and no child is left.
func TestPinToForbiddenCPUFails(t *testing.T) {
	_, err := Run(context.Background(), nil, []Spec{{Kind: "test-procs", CPUs: []int{cpuSetSize - 1}}}, testOpts())
	if err == nil || !strings.Contains(err.Error(), "sched_setaffinity") {
		t.Fatalf("err = %v, want a sched_setaffinity error", err)
	}
	_, err = Run(context.Background(), nil, []Spec{{Kind: "test-procs", CPUs: []int{-1}}}, testOpts())
	if err == nil || !strings.Contains(err.Error(), "CPU -1") {
		t.Fatalf("err = %v, want CPU -1 refused", err)
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestCredentialRunsChildAsAnotherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to start a child as another uid")
	}
	const nobody = 65534
	cred := &syscall.Credential{Uid: nobody, Gid: nobody}
	// The default executable, /proc/self/exe, needs only execute permission
	// on the binary; its path (a 0700 go-build directory) need not be
	// reachable by the other user.
	opts := testOpts()
	opts.Executable = ""
	res, err := Run(context.Background(), nil, []Spec{{Kind: "test-whoami", Credential: cred}, {Kind: "test-whoami"}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(res[0].Data); got != "[65534,65534,65534]" {
		t.Errorf("child with Credential runs as uid,gid,euid %s, want [65534,65534,65534]", got)
	}
	if got := string(res[1].Data); got != "[0,0,0]" {
		t.Errorf("child without Credential runs as %s, want [0,0,0]", got)
	}
}

// TestCloneflagsStartsChildInNewNamespaces: a child started with
// CLONE_NEWIPC (and CLONE_NEWUSER when not root, where it is uid 0) is in
// another IPC namespace. Where the kernel refuses (unprivileged user
// namespaces disabled), the start must fail with the kernel's errno, and
// a plain clone with the same flags must fail too.
func TestCloneflagsStartsChildInNewNamespaces(t *testing.T) {
	flags := uintptr(syscall.CLONE_NEWIPC)
	if os.Geteuid() != 0 {
		flags |= syscall.CLONE_NEWUSER
	}
	res, err := Run(context.Background(), nil, []Spec{{Kind: "test-ns", Cloneflags: flags}, {Kind: "test-ns"}}, testOpts())
	if err != nil {
		var errno syscall.Errno
		if !errors.As(err, &errno) {
			t.Fatalf("start in new namespaces: %v (no errno inside)", err)
		}
		probe := exec.Command(os.Args[0], "-test.run=^$")
		probe.SysProcAttr = &syscall.SysProcAttr{Cloneflags: flags}
		if flags&syscall.CLONE_NEWUSER != 0 {
			probe.SysProcAttr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}}
			probe.SysProcAttr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}
		}
		if perr := probe.Run(); perr == nil {
			t.Fatalf("the worker could not start in new namespaces (%v), but a plain exec could", err)
		}
		t.Logf("the kernel refuses new namespaces here: %v", err)
		return
	}
	var child, parent []any
	if err := json.Unmarshal(res[0].Data, &child); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(res[1].Data, &parent); err != nil {
		t.Fatal(err)
	}
	if child[0] == parent[0] {
		t.Errorf("child with CLONE_NEWIPC is in %v, the same IPC namespace as a plain child", child[0])
	}
	if child[1].(float64) != 0 {
		t.Errorf("child's euid in its namespace = %v, want 0", child[1])
	}
}

func TestWorkerDiesWithItsParent(t *testing.T) {
	cmd := ipctest.Helper(t, "orphan-parent")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("read worker pid: %v", err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(line))
	cmd.Process.Kill()
	cmd.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("worker %d outlived its killed parent", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

var _ = exec.Command
