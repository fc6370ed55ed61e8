package race

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/ipcplay/ipcplay/ipc"
	"github.com/ipcplay/ipcplay/ipc/ipctest"
	"github.com/ipcplay/ipcplay/ipc/worker"
)

func TestMain(m *testing.M) {
	worker.Dispatch() // the workers of these tests are this test binary
	ipctest.Main(m, nil)
}

// newEngine returns an engine on a private state directory with the race
// experiment registered. At the end of the test it checks that every run
// left nothing behind.
func newEngine(t testing.TB) *ipc.Engine {
	t.Helper()
	dir, err := os.MkdirTemp("", "ipcplay-race-")
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
		assertNoObjects(t, e)
		os.RemoveAll(dir)
	})
	return e
}

// runRace runs the experiment with p and decodes its document.
func runRace(t testing.TB, e *ipc.Engine, p Params) (*Result, error) {
	t.Helper()
	raw, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	rr, err := e.Run(context.Background(), ipc.RunRequest{Experiment: Name, Params: raw}, nil)
	if rr == nil || len(rr.Result) == 0 {
		return nil, err
	}
	var res Result
	if jerr := json.Unmarshal(rr.Result, &res); jerr != nil {
		t.Fatalf("decode result: %v\n%s", jerr, rr.Result)
	}
	return &res, err
}

// assertNoObjects checks that the engine's ledger is empty and that no
// object of its runs is left in /dev/shm, System V or the state directory.
func assertNoObjects(t testing.TB, e *ipc.Engine) {
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
	shmDir, _ := os.ReadDir("/dev/shm")
	for _, r := range e.Runs() {
		for _, en := range shmDir {
			if strings.Contains(en.Name(), r.RunID) {
				t.Errorf("left behind: /dev/shm/%s", en.Name())
			}
		}
	}
}

func byMode(t *testing.T, res *Result) map[string]ModeResult {
	t.Helper()
	out := map[string]ModeResult{}
	for _, m := range res.Results {
		out[m.Mode] = m
	}
	return out
}
