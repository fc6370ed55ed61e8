package bench

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ipcplay/ipcplay/ipc"
	"github.com/ipcplay/ipcplay/ipc/ipctest"
	"github.com/ipcplay/ipcplay/ipc/ledger"
	"github.com/ipcplay/ipcplay/ipc/mq"
	"github.com/ipcplay/ipcplay/ipc/worker"
)

func TestMain(m *testing.M) {
	worker.Dispatch() // the workers of these tests are this test binary
	onQueue = func(typ string, id int, name string) {
		queues.Lock()
		defer queues.Unlock()
		if typ == ledger.SysVMsg {
			ipctest.TrackSysV("msg", id) // Main checks it is gone at the end
			queues.sysv = append(queues.sysv, id)
		} else {
			queues.posix = append(queues.posix, name)
		}
	}
	ipctest.Main(m, nil)
}

// queues are the message queues the runs of these tests created.
var queues struct {
	sync.Mutex
	sysv  []int
	posix []string
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
// object of its runs is left: the message queues the runs created (POSIX
// queues are probed by name: /dev/mqueue need not be mounted), /dev/shm,
// the run directories.
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
	queues.Lock()
	sysv, posix := slices.Clone(queues.sysv), slices.Clone(queues.posix)
	queues.Unlock()
	for _, id := range sysv {
		if _, err := mq.OpenSysV(id); err == nil {
			t.Errorf("System V queue %d is still there", id)
		}
	}
	for _, name := range posix {
		if _, err := mq.OpenPOSIX(name); err == nil {
			t.Errorf("POSIX queue %s is still there", name)
		}
	}
	shmDir, _ := os.ReadDir("/dev/shm")
	for _, r := range e.Runs() {
		for _, en := range shmDir {
			if strings.Contains(en.Name(), r.RunID) {
				t.Errorf("left behind: /dev/shm/%s", en.Name())
			}
		}
		if _, err := os.Stat(stateDir + "/" + r.RunID); stateDir != "" && err == nil {
			t.Errorf("left behind: run directory %s/%s", stateDir, r.RunID)
		}
	}
}

// queueCount is how many message queues the tests' runs created so far.
func queueCount() int {
	queues.Lock()
	defer queues.Unlock()
	return len(queues.sysv) + len(queues.posix)
}
