package doctor

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/ipcplay/ipcplay/ipc"
	"github.com/ipcplay/ipcplay/ipc/ipctest"
	"github.com/ipcplay/ipcplay/ipc/worker"
)

func TestMain(m *testing.M) {
	worker.Dispatch()
	ipctest.Main(m, nil)
}

func TestMachineChecksAndProbes(t *testing.T) {
	dir, err := os.MkdirTemp("", "ipcplay-doctor-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	e, err := ipc.NewEngine(ipc.Config{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	e.Register(Experiment)
	client := &ipc.LocalClient{E: e}
	defer client.Close()
	var runID string
	r := Run(context.Background(), CallProbe(client, &runID), LeakProbe(e.Ledger()), DaemonProbe(dir+"/none.sock"))
	names := map[string]Check{}
	for _, c := range r.Checks {
		names[c.Name] = c
		switch c.Status {
		case OK, Warn, Fail, Info:
		default:
			t.Errorf("check %s: bad status %q", c.Name, c.Status)
		}
	}
	for _, want := range []string{"kernel", "/dev/shm", "sysv shm limits", "sysv sem limits", "sysv msg limits",
		"/dev/mqueue", "posix mq limits", "logind RemoveIPC", "shm memfd", "shm posix", "shm sysv", "shm file",
		"sysv semaphores", "posix semaphores", "sysv message queues", "posix message queues", "futex", "daemon", "leftovers"} {
		if _, ok := names[want]; !ok {
			t.Errorf("no %q check", want)
		}
	}
	// This machine (and CI) supports every call; a failure here is real.
	for _, c := range r.Checks {
		if strings.HasPrefix(c.Name, "shm ") || strings.Contains(c.Name, "semaphores") || strings.Contains(c.Name, "queues") || c.Name == "futex" {
			if c.Status != OK {
				t.Errorf("%s: %s %s", c.Name, c.Status, c.Detail)
			}
		}
	}
	if !strings.HasPrefix(runID, "r-") {
		t.Errorf("run id %q", runID)
	}
	if names["daemon"].Status != Info {
		t.Errorf("no daemon should be info, got %+v", names["daemon"])
	}
	entries, _ := e.Ledger().Entries()
	if len(entries) != 0 {
		t.Errorf("probe objects left in the ledger: %+v", entries)
	}
	if !strings.Contains(r.String(), "kernel") {
		t.Error("text report lacks the checks")
	}
}

func TestHuman(t *testing.T) {
	for in, want := range map[uint64]string{8192: "8 KiB", 1 << 20: "1 MiB", 3 << 30: "3 GiB", 1 << 62: "unlimited", 1000: "1000"} {
		if got := human(in); got != want {
			t.Errorf("human(%d) = %q, want %q", in, got, want)
		}
	}
}

func TestMountOf(t *testing.T) {
	if mountOf("/proc") != "proc" {
		t.Errorf("/proc is mounted as %q", mountOf("/proc"))
	}
	if mountOf("/no/such/dir") != "" {
		t.Error("unmounted dir reported as mounted")
	}
}
