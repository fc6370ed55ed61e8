package bench

import (
	"context"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/ipcplay/ipcplay/ipc"
	"github.com/ipcplay/ipcplay/ipc/ipctest"
	"github.com/ipcplay/ipcplay/ipc/mq"
	"github.com/ipcplay/ipcplay/ipc/worker"
)

func TestMain(m *testing.M) {
	worker.Dispatch() // the workers of these tests are this test binary
	ipctest.Main(m, nil)
}

// newEngine returns an engine on a private state directory with the bench
// experiment registered; at the end of the test it checks that the runs
// left nothing behind.
func newEngine(t testing.TB) *ipc.Engine {
	t.Helper()
	dir, err := os.MkdirTemp("", "ipcplay-bench-")
	if err != nil {
		t.Fatal(err)
	}
	e, err := ipc.NewEngine(ipc.Config{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	e.Register(Experiment)
	t.Cleanup(func() {
		e.Close()
		assertNoObjects(t, e, dir)
		os.RemoveAll(dir)
	})
	return e
}

// runBench runs the experiment with p and decodes its document.
func runBench(t testing.TB, e *ipc.Engine, p Params) (*Result, *ipc.RunResult, error) {
	t.Helper()
	raw, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	rr, err := e.Run(context.Background(), ipc.RunRequest{Experiment: Experiment.Name, Params: raw}, nil)
	if rr == nil || len(rr.Result) == 0 {
		return nil, rr, err
	}
	var res Result
	if jerr := json.Unmarshal(rr.Result, &res); jerr != nil {
		t.Fatalf("decode result: %v\n%s", jerr, rr.Result)
	}
	return &res, rr, err
}

// assertNoObjects checks that the engine's ledger is empty and that no
// object of its runs is left: System V queues, POSIX queues (probed by
// name: /dev/mqueue need not be mounted), /dev/shm, the state directory.
func assertNoObjects(t testing.TB, e *ipc.Engine, stateDir string) {
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
	for _, id := range createdQueues() {
		if _, err := mq.OpenSysV(id); err == nil {
			t.Errorf("System V queue %d is still there", id)
		}
	}
	shmDir, _ := os.ReadDir("/dev/shm")
	for _, r := range e.Runs() {
		for _, en := range shmDir {
			if strings.Contains(en.Name(), r.RunID) {
				t.Errorf("left behind: /dev/shm/%s", en.Name())
			}
		}
		for _, suffix := range []string{"mq1.ab", "mq1.ba", "mq2.ab", "mq2.ba"} {
			if _, err := mq.OpenPOSIX("ipcplay." + r.RunID + "." + suffix); err == nil {
				t.Errorf("left behind: POSIX queue ipcplay.%s.%s", r.RunID, suffix)
			}
		}
		if _, err := os.Stat(stateDir + "/" + r.RunID); err == nil {
			t.Errorf("left behind: run directory %s/%s", stateDir, r.RunID)
		}
	}
}

// createdQueues lists the System V queues of our uid with key 0 now
// (IPC_PRIVATE): those created by the tests are checked against it.
func createdQueues() []int {
	b, err := os.ReadFile("/proc/sysvipc/msg")
	if err != nil {
		return nil
	}
	var ids []int
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 1 {
			if id, err := strconv.Atoi(f[1]); err == nil {
				ids = append(ids, id)
			}
		}
	}
	return ids
}
