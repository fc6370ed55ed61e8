package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/ipcplay/ipcplay/ipc"
	"github.com/ipcplay/ipcplay/ipc/ipctest"
	"github.com/ipcplay/ipcplay/ipc/worker"
)

func TestMain(m *testing.M) {
	worker.Dispatch() // the labs' workers are this test binary, re-executed
	ipctest.Main(m, labHelpers)
}

// runLab runs a lab through an engine on a temporary state directory, checks
// that the run left nothing behind, and returns the decoded document, the
// text rendering and the run's error.
func runLab(t *testing.T, name string, params any, doc any) (string, error) {
	t.Helper()
	dir, err := os.MkdirTemp("", "ipcplay-lab-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	e, err := ipc.NewEngine(ipc.Config{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range Experiments() {
		e.Register(x)
	}
	raw, err := json.Marshal(params)
	if err != nil {
		t.Fatal(err)
	}
	res, runErr := e.Run(context.Background(), ipc.RunRequest{Experiment: ExperimentPrefix + name, Params: raw}, nil)
	if cerr := e.Close(); cerr != nil {
		t.Errorf("engine close: %v", cerr)
	}
	if res == nil || len(res.Result) == 0 {
		t.Fatalf("demo %s: no result (error %v)", name, runErr)
	}
	assertNothingLeft(t, e, dir, res.RunID)
	if err := json.Unmarshal(res.Result, doc); err != nil {
		t.Fatalf("decode %s: %v", res.Result, err)
	}
	var h Header
	if err := json.Unmarshal(res.Result, &h); err != nil {
		t.Fatal(err)
	}
	if h.Kind != Kind || h.Lab != name || h.Explanation == "" {
		t.Errorf("header = %+v, want kind %q, lab %q and an explanation", h, Kind, name)
	}
	if h.OK != (runErr == nil) {
		t.Errorf("ok = %v but the run's error is %v", h.OK, runErr)
	}
	var text bytes.Buffer
	if err := Render(&text, res.Result); err != nil {
		t.Fatalf("render: %v", err)
	}
	if !strings.Contains(text.String(), "Why: ") {
		t.Errorf("rendering has no explanation:\n%s", text.String())
	}
	t.Logf("\n%s", text.String())
	return text.String(), runErr
}

// assertNothingLeft checks the engine's ledger, the test's leak check,
// /dev/shm (names of this run) and the state directory.
func assertNothingLeft(t *testing.T, e *ipc.Engine, dir, runID string) {
	t.Helper()
	entries, err := e.Ledger().Entries()
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("ledger still has %d entries: %+v", len(entries), entries)
	}
	if leaks := ipctest.Leaks(); len(leaks) != 0 {
		t.Errorf("leaks: %v", leaks)
	}
	ents, _ := os.ReadDir("/dev/shm")
	for _, en := range ents {
		if strings.Contains(en.Name(), "ipcplay."+runID) {
			t.Errorf("left behind: /dev/shm/%s", en.Name())
		}
	}
	runs, _ := os.ReadDir(dir)
	for _, en := range runs {
		if en.Name() == runID {
			t.Errorf("run directory left behind: %s", en.Name())
		}
	}
}

func TestCrash(t *testing.T) {
	var r CrashResult
	_, err := runLab(t, "crash", CrashParams{Timeout: 200 * time.Millisecond}, &r)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Rows) != len(crashPrims) {
		t.Fatalf("%d rows, want %d", len(r.Rows), len(crashPrims))
	}
	for _, row := range r.Rows {
		if !row.Matches || row.Happened != row.Expected {
			t.Errorf("%s: happened %s, expected %s", row.Primitive, row.Happened, row.Expected)
		}
		if row.HolderPID <= 0 || row.TakerPID <= 0 || row.HolderPID == row.TakerPID {
			t.Errorf("%s: holder pid %d, taker pid %d", row.Primitive, row.HolderPID, row.TakerPID)
		}
		if died := row.OwnerDied != nil && *row.OwnerDied; died != (row.Primitive == "robust-futex") {
			t.Errorf("%s: owner_died %v", row.Primitive, row.OwnerDied)
		}
	}
}

func TestDeadlock(t *testing.T) {
	t.Run("on time", func(t *testing.T) { testDeadlock(t, 0) })
	// P2 starts 300 ms late, six times the hold: a P1 that asked for its
	// second semaphore after the hold, assuming P2 held it by then, would
	// take both and show no deadlock.
	t.Run("P2 late", func(t *testing.T) { testDeadlock(t, 300*time.Millisecond) })
}

func testDeadlock(t *testing.T, lag time.Duration) {
	deadlockLag = lag
	defer func() { deadlockLag = 0 }()
	var r DeadlockResult
	_, err := runLab(t, "deadlock", DeadlockParams{Timeout: 500 * time.Millisecond, Hold: 50 * time.Millisecond, Rounds: 20}, &r)
	if err != nil {
		t.Fatal(err)
	}
	if !r.CycleFound || len(r.Cycle) != 2 || !r.Detected || r.TimedOut == 0 {
		t.Errorf("cycle %v (found %v), timed out %d, detected %v", r.Cycle, r.CycleFound, r.TimedOut, r.Detected)
	}
	if len(r.Workers) != 2 || r.Workers[0].PID == r.Workers[1].PID {
		t.Fatalf("workers %+v", r.Workers)
	}
	for i, s := range r.Semaphores {
		if s.Value != 0 || s.Waiting != 1 || s.LastPID != r.Workers[i].PID {
			t.Errorf("%s: %+v, want value 0, 1 waiter, held by %d", s.Sem, s, r.Workers[i].PID)
		}
	}
	if !r.Ordered.Completed {
		t.Error("the ordered version did not complete")
	}
}

// The deadlock lab under the conductor deadlocks, or not, as its schedule
// says, every time.
func TestDeadlockScheduled(t *testing.T) {
	var r DeadlockResult
	text, err := runLab(t, "deadlock", DeadlockParams{Timeout: 2 * time.Second, Hold: 50 * time.Millisecond, Rounds: 1, Schedule: "P1,P2,P1,P2"}, &r)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.Explanation, "Each worker holds one semaphore and waits") || !strings.Contains(text, "backed off, and P") {
		t.Errorf("P1,P2,P1,P2 (a cycle) is not narrated as a deadlock:\n%s", text)
	}
	if !r.CycleFound || !r.Stuck || len(r.Cycle) != 2 || r.TimedOut != 1 || !r.Detected || !r.OK {
		t.Errorf("P1,P2,P1,P2: cycle %v (found %v), stuck %v, timed out %d", r.Cycle, r.CycleFound, r.Stuck, r.TimedOut)
	}
	if len(r.Steps) < 4 || !r.Steps[2].Blocked || !r.Steps[3].Blocked || !strings.Contains(r.Steps[2].Note, "semtimedop") {
		t.Errorf("steps 3 and 4 are not blocked lock steps: %+v", r.Steps)
	}
	for i, s := range r.Semaphores {
		if s.Value != 0 || s.Waiting != 1 || s.LastPID != r.Workers[i].PID {
			t.Errorf("%s: %+v, want value 0, 1 waiter, held by %d", s.Sem, s, r.Workers[i].PID)
		}
	}

	r = DeadlockResult{}
	text, err = runLab(t, "deadlock", DeadlockParams{Timeout: 300 * time.Millisecond, Hold: 50 * time.Millisecond, Rounds: 1, Schedule: "P1,P1"}, &r)
	if err != nil {
		t.Fatal(err)
	}
	// The narration follows the result: no deadlock paragraph for a run
	// without a cycle.
	for _, s := range []string{r.Explanation, strings.Join(strings.Fields(text), " ")} {
		if strings.Contains(s, "Each worker holds one semaphore and waits") || strings.Contains(s, "backed off") || !strings.Contains(s, "never made one") {
			t.Errorf("P1,P1 (no cycle) is narrated as a deadlock:\n%s", s)
		}
	}
	if r.CycleFound || r.Stuck || r.TimedOut != 0 || len(r.Steps) != 8 || !r.OK {
		t.Errorf("P1,P1: cycle found %v, stuck %v, timed out %d, %d steps", r.CycleFound, r.Stuck, r.TimedOut, len(r.Steps))
	}
	for _, w := range r.Workers {
		if w.Outcome != "completed" {
			t.Errorf("P1,P1: %s %s", w.Name, w.Outcome)
		}
	}
}

func TestThreadsVsProcesses(t *testing.T) {
	var r ThreadsResult
	_, err := runLab(t, "threads-vs-processes", ThreadsParams{Count: 200, Procs: 5, Workers: 2}, &r)
	if err != nil && !strings.Contains(err.Error(), "did not cost less") {
		t.Fatal(err)
	} else if err != nil {
		t.Logf("timing surprise on a busy machine (not a failure of the test): %v", err)
	}
	units := map[string]CreationRow{}
	for _, c := range r.Creation {
		units[c.Unit] = c
	}
	for _, u := range []string{"goroutine", "os-thread", "process", "ipcplay-worker"} {
		c, ok := units[u]
		if !ok || (c.MeanNs <= 0 && c.Skipped == "") {
			t.Errorf("creation row %s: %+v", u, c)
		}
	}
	if len(r.Visibility) != 4 {
		t.Fatalf("%d visibility rows, want 4", len(r.Visibility))
	}
	for _, v := range r.Visibility {
		if !v.Matches {
			t.Errorf("%s write to %s: read %d, seen %v, expected %v", v.Writer, v.Memory, v.Read, v.Seen, v.Expected)
		}
		if v.Writer == "thread" && (v.WriterPID != v.ReaderPID || v.WriterTID == v.ReaderTID) {
			t.Errorf("thread row: writer %d/%d reader %d/%d: want one process, two threads", v.WriterPID, v.WriterTID, v.ReaderPID, v.ReaderTID)
		}
		if v.Writer == "process" && v.WriterPID == v.ReaderPID {
			t.Errorf("process row: writer and reader are both pid %d", v.WriterPID)
		}
	}
}

func TestPool(t *testing.T) {
	var r PoolResult
	_, err := runLab(t, "pool", PoolParams{Workers: 3, Tasks: 24, Size: 2000, Empty: 50}, &r)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Pools) != 2 || r.Pools[0].Pool != "processes" || r.Pools[1].Pool != "goroutines" {
		t.Fatalf("pools %+v", r.Pools)
	}
	want := uint64(0)
	for _, n := range sievePrimes(24, 2000) {
		want += n
	}
	for _, p := range r.Pools {
		if !p.Correct || p.Primes != want || p.Workers != 3 {
			t.Errorf("%s pool: primes %d (want %d), correct %v, workers %d", p.Pool, p.Primes, want, p.Correct, p.Workers)
		}
		served := 0
		for _, n := range p.Served {
			served += n
		}
		if served != 24 {
			t.Errorf("%s pool served %d tasks, want 24: %v", p.Pool, served, p.Served)
		}
	}
}

// timingSurprise accepts a lab's "did not behave as explained" caused by
// timing on a busy machine: tests assert behaviour, not speed.
func timingSurprise(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if !strings.Contains(err.Error(), ErrUnexpected.Error()) {
		t.Fatal(err)
	}
	t.Logf("timing differed from the explanation (a busy machine?); not a test failure: %v", err)
}

func TestParallelism(t *testing.T) {
	var r ParallelismResult
	_, err := runLab(t, "parallelism", ParallelismParams{Tasks: 4, Size: 20000, IOTasks: 5, IOWait: 20 * time.Millisecond, Trials: 2}, &r)
	timingSurprise(t, err)
	if len(r.Rows) != 6 {
		t.Fatalf("%d rows, want 6", len(r.Rows))
	}
	if r.Rows[1].GOMAXPROCS != 1 || r.Rows[5].GOMAXPROCS != 1 {
		t.Errorf("GOMAXPROCS=1 rows ran with %d and %d", r.Rows[1].GOMAXPROCS, r.Rows[5].GOMAXPROCS)
	}
	if r.Rows[2].CPUs != 1 || len(r.Rows[2].PinnedTo) != 1 {
		t.Errorf("pinned row: %d CPUs, pinned to %v; want 1 CPU", r.Rows[2].CPUs, r.Rows[2].PinnedTo)
	}
	for _, row := range r.Rows {
		if row.ElapsedNs <= 0 {
			t.Errorf("%s %s: elapsed %d", row.Work, row.Label, row.ElapsedNs)
		}
	}
	// The one timing that is a lower bound, not a speed: five 20ms waits
	// one after another take at least 100ms.
	if r.Rows[4].ElapsedNs < (100 * time.Millisecond).Nanoseconds() {
		t.Errorf("sequential I/O took %s, less than the sum of its waits", dur(r.Rows[4].ElapsedNs))
	}
}

func TestBlocking(t *testing.T) {
	// Lag: the reader comes to each sleeping call 100 ms late, twice the
	// writer's delay: a writer that only waited its delay would write
	// before the reader reads (a blocking read that never blocks, an
	// epoll_wait that wakes at once). The writer waits until the reader
	// is seen asleep, so the verdict does not depend on the scheduler.
	for _, lag := range []time.Duration{0, 100 * time.Millisecond} {
		blockReaderLag = lag
		var r BlockingResult
		_, err := runLab(t, "blocking", BlockingParams{Delay: 50 * time.Millisecond, Sockets: 5}, &r)
		blockReaderLag = 0
		if err != nil {
			t.Fatalf("lag %s: %v", lag, err)
		}
		if len(r.Rows) != 3 {
			t.Fatalf("%d rows, want 3", len(r.Rows))
		}
		for _, row := range r.Rows {
			if !row.Matches {
				t.Errorf("lag %s: %s: %s in %s, expected %s", lag, row.Call, row.Result, dur(row.TimeNs), row.Expected)
			}
		}
		if r.Rows[1].Result != "EAGAIN" || r.Rows[1].Slept || !r.Rows[0].Slept || !r.Rows[2].Slept {
			t.Errorf("lag %s: non-blocking read %s (slept %v), blocking read slept %v, epoll slept %v",
				lag, r.Rows[1].Result, r.Rows[1].Slept, r.Rows[0].Slept, r.Rows[2].Slept)
		}
		if !strings.HasPrefix(r.Rows[0].SeenAsleep, fmt.Sprintf("read(2) on fd %d, thread ", sockFD(blockSync))) || !strings.HasPrefix(r.Rows[2].SeenAsleep, "epoll_wait(2) on fd ") {
			t.Errorf("lag %s: seen asleep %q, %q", lag, r.Rows[0].SeenAsleep, r.Rows[2].SeenAsleep)
		}
		if want := []int{1, 3}; len(r.Ready) != 2 || r.Ready[0] != want[0] || r.Ready[1] != want[1] {
			t.Errorf("epoll ready %v, want %v", r.Ready, want)
		}
	}
}

func TestSyncAsync(t *testing.T) {
	var r SyncAsyncResult
	_, err := runLab(t, "sync-async", SyncAsyncParams{Requests: 8, Delay: 10 * time.Millisecond}, &r)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Rows) != 2 || r.Rows[0].Mode != "sync" || r.Rows[1].Mode != "async" {
		t.Fatalf("rows %+v", r.Rows)
	}
	for _, row := range r.Rows {
		if row.Answered != 8 || !row.Matches {
			t.Errorf("%s: answered %d of 8, matches %v", row.Mode, row.Answered, row.Matches)
		}
	}
	if r.Served != 16 || r.ServerPID <= 0 {
		t.Errorf("server pid %d served %d requests, want 16", r.ServerPID, r.Served)
	}
	// EXPECTED states what is checked, not an "about" the check does not
	// hold the row to.
	if !strings.Contains(r.Rows[0].Expected, "at least 8 × ") || !strings.Contains(r.Rows[1].Expected, "faster than one at a time") {
		t.Errorf("expectations %q, %q: want the thresholds the rows are judged by", r.Rows[0].Expected, r.Rows[1].Expected)
	}
}

func TestFDPassing(t *testing.T) {
	var r FDPassingResult
	_, err := runLab(t, "fd-passing", FDPassingParams{Source: "both"}, &r)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Rows) != 2 || r.Rows[0].Source != "file" || r.Rows[1].Source != "memfd" {
		t.Fatalf("rows %+v", r.Rows)
	}
	for _, row := range r.Rows {
		if !row.Matches || !row.SameInode || row.Read == "" || row.ReadBack != row.Written+row.Appended {
			t.Errorf("%s: %+v", row.Source, row)
		}
		if row.SenderPID == row.ReceiverPID {
			t.Errorf("%s: one process on both sides", row.Source)
		}
	}
	if !strings.HasPrefix(r.Rows[1].ReceiverLink, "/memfd:") {
		t.Errorf("memfd seen by the receiver as %q", r.Rows[1].ReceiverLink)
	}
}

func TestPeerCred(t *testing.T) {
	var r PeerCredResult
	_, err := runLab(t, "peercred", PeerCredParams{UID: 65534}, &r)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Rows) != 2 {
		t.Fatalf("%d rows, want 2", len(r.Rows))
	}
	same := r.Rows[0]
	if !same.Matches || !same.CredMatches || same.Decision != "served" || same.PeerUID != os.Geteuid() || same.PeerPID == os.Getpid() {
		t.Errorf("same user: %+v", same)
	}
	other := r.Rows[1]
	if os.Geteuid() != 0 {
		if other.Skipped == "" || !other.Matches {
			t.Errorf("another user without root: %+v, want a skipped row", other)
		}
		return
	}
	if other.Skipped != "" || other.PeerUID != 65534 || other.ClientUID != 65534 || other.Decision != "refused" ||
		!strings.Contains(other.Reply, "permission denied") || !other.Matches {
		t.Errorf("another user: %+v", other)
	}
}

func TestLabsAreDescribedAndNamed(t *testing.T) {
	seen := map[string]bool{}
	for _, l := range Labs() {
		if seen[l.Name] {
			t.Errorf("lab %s listed twice", l.Name)
		}
		seen[l.Name] = true
		if l.Name == "gil" && !pythonUsable(t) {
			continue // its defaults need a Python; gil_test.go says why
		}
		if l.Experiment.Name != ExperimentPrefix+l.Name || l.Experiment.Run == nil || l.Experiment.Validate == nil {
			t.Errorf("lab %s: experiment %q (run %v, validate %v)", l.Name, l.Experiment.Name, l.Experiment.Run != nil, l.Experiment.Validate != nil)
		}
		if l.Summary == "" || !strings.HasPrefix(l.Example, "ipcplay demo "+l.Name) {
			t.Errorf("lab %s: summary %q, example %q", l.Name, l.Summary, l.Example)
		}
		if _, ok := renderers[l.Name]; !ok {
			t.Errorf("lab %s has no renderer", l.Name)
		}
		// The defaults, given explicitly as the CLI would, are valid.
		params := map[string]any{}
		for _, f := range l.Flags {
			switch d := f.Default.(type) {
			case int, string, bool:
				params[f.Key()] = d
			case time.Duration:
				params[f.Key()] = d.Nanoseconds()
			default:
				t.Errorf("lab %s: flag --%s has type %T", l.Name, f.Name, f.Default)
			}
		}
		raw, _ := json.Marshal(params)
		if err := l.Experiment.Validate(raw, ipc.DefaultLimits()); err != nil {
			t.Errorf("lab %s: defaults %s refused: %v", l.Name, raw, err)
		}
		if err := l.Experiment.Validate(nil, ipc.DefaultLimits()); err != nil {
			t.Errorf("lab %s: no parameters refused: %v", l.Name, err)
		}
	}
	if len(Experiments()) != len(Labs()) || len(Names()) != len(Labs()) {
		t.Error("Experiments, Names and Labs disagree")
	}
}

func TestBadParametersAreUsageErrors(t *testing.T) {
	cases := []struct {
		lab, params, flag string
	}{
		{"crash", `{"timeout_ns":1}`, "--timeout"},
		{"crash", `{"timeuot_ns":1}`, "unknown field"},
		{"deadlock", `{"rounds":0}`, "--rounds"},
		{"deadlock", `{"schedule":"P3"}`, "no such worker"},
		{"deadlock", `{"schedule":"P1:unlock"}`, "P1 is at step 1, lock, not unlock"},
		{"deadlock", `{"schedule":"P1,P1,P1,P1,P1"}`, "P1 has finished"},
		{"deadlock", `{"schedule":"P1","seed":3}`, "--seed"},
		{"deadlock", `{"seed":-1}`, "bad parameters"},
		{"threads-vs-processes", `{"procs":0}`, "--procs"},
		{"pool", `{"workers":100000}`, "--workers"},
		{"pool", `{"tasks":100000,"size":10000}`, "--tasks"},
		{"parallelism", `{"io_wait_ns":0}`, "--io-wait"},
		{"blocking", `{"sockets":1}`, "--sockets"},
		{"sync-async", `{"requests":10000,"delay_ns":1000000000}`, "--requests"},
		{"fd-passing", `{"source":"pipe"}`, "--source"},
		{"peercred", `{"uid":-1}`, "--uid"},
		{"peercred", `"x"`, "bad parameters"},
	}
	for _, c := range cases {
		l, ok := Lookup(c.lab)
		if !ok {
			t.Fatalf("no lab %s", c.lab)
		}
		err := l.Experiment.Validate(json.RawMessage(c.params), ipc.DefaultLimits())
		if !ipc.IsUsage(err) || !strings.Contains(err.Error(), c.flag) {
			t.Errorf("%s %s: %v, want a usage error naming %s", c.lab, c.params, err, c.flag)
		}
	}
}

func TestFlagKey(t *testing.T) {
	for _, c := range []struct {
		f    Flag
		want string
	}{
		{Flag{Name: "io-wait", Default: time.Second}, "io_wait_ns"},
		{Flag{Name: "io-tasks", Default: 1}, "io_tasks"},
		{Flag{Name: "source", Default: "both"}, "source"},
	} {
		if got := c.f.Key(); got != c.want {
			t.Errorf("%s: key %q, want %q", c.f.Name, got, c.want)
		}
	}
}

func TestVerdictAndRenderOfAMisbehavingLab(t *testing.T) {
	res := CrashResult{Header: newHeader("crash", "why"), Rows: []CrashRow{{Primitive: "sysv-sem-undo", Happened: stuck, Expected: recovered}}}
	err := res.verdict([]string{"sysv-sem-undo: stuck, expected recovered"})
	if !errors.Is(err, ErrUnexpected) || res.OK {
		t.Fatalf("verdict: %v, ok %v", err, res.OK)
	}
	doc, _ := json.Marshal(res)
	var b bytes.Buffer
	if err := Render(&b, doc); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "Behaved as explained: NO") || !strings.Contains(b.String(), "stuck, expected recovered") {
		t.Errorf("rendering does not say what went wrong:\n%s", b.String())
	}
	if err := Render(&b, json.RawMessage(`{"kind":"demo","lab":"nosuch"}`)); err == nil {
		t.Error("an unknown lab rendered without error")
	}
}

// openFDs counts this process's open descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestLabsCloseTheirDescriptors runs the labs that open sockets and files in
// the engine's process twice on one engine: the second run must not leave
// more descriptors open than the first (which may start runtime pollers).
func TestLabsCloseTheirDescriptors(t *testing.T) {
	dir, err := os.MkdirTemp("", "ipcplay-lab-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	e, err := ipc.NewEngine(ipc.Config{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for _, x := range Experiments() {
		e.Register(x)
	}
	runs := []struct {
		name   string
		params any
	}{
		{"crash", CrashParams{Timeout: 20 * time.Millisecond}},
		{"pool", PoolParams{Workers: 2, Tasks: 4, Size: 100, Empty: 4}},
		{"blocking", BlockingParams{Delay: 5 * time.Millisecond, Sockets: 3}},
		{"sync-async", SyncAsyncParams{Requests: 3, Delay: time.Millisecond}},
		{"fd-passing", FDPassingParams{Source: "both"}},
		{"peercred", PeerCredParams{UID: 65534}},
		{"threads-vs-processes", ThreadsParams{Count: 10, Procs: 1, Workers: 1}},
	}
	all := func() {
		for _, r := range runs {
			raw, _ := json.Marshal(r.params)
			res, err := e.Run(context.Background(), ipc.RunRequest{Experiment: ExperimentPrefix + r.name, Params: raw}, nil)
			// A lab whose timings came out unlike its explanation on a busy
			// machine still returns its document and has closed what it
			// opened: only descriptors are counted here.
			if err != nil && !(res != nil && len(res.Result) > 0 && strings.Contains(err.Error(), ErrUnexpected.Error())) {
				t.Fatalf("%s: %v", r.name, err)
			}
		}
	}
	all()
	// No garbage collection while counting: the finalizer of a forgotten
	// *os.File would close it and hide the leak.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	before := openFDs(t)
	all()
	if after := openFDs(t); after > before {
		t.Errorf("%d descriptors open after the second round of labs, %d after the first", after, before)
	}
}

// A bad deadlock --schedule names the deadlock lab's own steps (lock,
// unlock) and an example that the lab accepts, never the race lab's
// load/store: the fresh user's "P1:store" was told "e.g. P1,P2,P1:store".
func TestDeadlockScheduleErrorsNameItsSteps(t *testing.T) {
	l, _ := Lookup("deadlock")
	validate := func(spec string) error {
		raw, _ := json.Marshal(DeadlockParams{Timeout: time.Second, Hold: time.Millisecond, Rounds: 1, Schedule: spec})
		return l.Experiment.Validate(raw, ipc.DefaultLimits())
	}
	for _, spec := range []string{"P1:store", "P3", "P1,P1,P1,P1,P1", "P1:unlock"} {
		err := validate(spec)
		if !ipc.IsUsage(err) {
			t.Fatalf("%s: %v, want a usage error", spec, err)
		}
		// What the user typed is echoed; the rest is the lab's.
		msg := strings.ReplaceAll(strings.ReplaceAll(err.Error(), spec, ""), `unknown step "store"`, "")
		for _, race := range []string{"store", "load"} {
			if strings.Contains(msg, race) {
				t.Errorf("%s: the error names the race lab's %q: %v", spec, race, err)
			}
		}
		if !strings.Contains(msg, "lock") {
			t.Errorf("%s: the error names no deadlock step: %v", spec, err)
		}
		if ex := "e.g. P1:lock,P2"; spec != "P1:unlock" && !strings.Contains(msg, ex) {
			t.Errorf("%s: no working example (%s): %v", spec, ex, err)
		}
	}
	if err := validate("P1:lock,P2"); err != nil {
		t.Errorf("the example is refused: %v", err)
	}
	// The flag's own examples work too.
	for _, spec := range []string{"P1,P2,P1,P2", "P1,P1"} {
		if err := validate(spec); err != nil {
			t.Errorf("%s: %v", spec, err)
		}
	}
}

// A crash row that did not come out as expected is not explained with the
// text of the expected outcome ("the semaphore went back to 1" for a
// semaphore that stayed stuck), and the tour's narration names only the
// mechanisms this run saw work.
func TestCrashNarrationFollowsTheRows(t *testing.T) {
	prim := func(name string) crashPrim {
		for _, p := range crashPrims {
			if p.name == name {
				return p
			}
		}
		t.Fatalf("no primitive %s", name)
		return crashPrim{}
	}
	undo := prim("sysv-sem-undo")
	ok := CrashRow{Primitive: undo.name, Happened: recovered, Expected: recovered, Matches: true}
	if got := crashExplanation(undo, ok); got != undo.why {
		t.Errorf("matching row: %q", got)
	}
	bad := CrashRow{Primitive: undo.name, Happened: stuck, Expected: recovered}
	got := crashExplanation(undo, bad)
	if strings.Contains(got, "went back to 1") || !strings.Contains(got, "Not as explained") || !strings.Contains(got, "saw it stuck") {
		t.Errorf("stuck SEM_UNDO row explained as %q", got)
	}
	robust := prim("robust-futex")
	got = crashExplanation(robust, CrashRow{Primitive: robust.name, Happened: recovered, Expected: recovered})
	if !strings.Contains(got, "without FUTEX_OWNER_DIED") {
		t.Errorf("robust futex recovered without the kernel's mark: %q", got)
	}

	r := &CrashResult{Rows: []CrashRow{
		{Primitive: "flock", Happened: recovered, Expected: recovered, Matches: true},
		{Primitive: "sysv-sem-undo", Happened: stuck, Expected: recovered},
		{Primitive: "posix-sem", Happened: stuck, Expected: stuck, Matches: true},
	}}
	n := NarrateCrash(r)
	for _, want := range []string{"Recovered after the holder died: flock — the kernel dropped the dead process's flock.", "Stuck: sysv-sem-undo, posix-sem", "a POSIX semaphore", "Not as explained: sysv-sem-undo (stuck, expected recovered)"} {
		if !strings.Contains(n, want) {
			t.Errorf("narration lacks %q: %s", want, n)
		}
	}
	for _, not := range []string{"SEM_UNDO semaphore's -1", "FUTEX_OWNER_DIED", "owner pid"} {
		if strings.Contains(n, not) {
			t.Errorf("narration names %q, which this run did not see: %s", not, n)
		}
	}
}
