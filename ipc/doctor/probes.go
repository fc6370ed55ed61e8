package doctor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ipcplay/ipcplay/ipc"
	"github.com/ipcplay/ipcplay/ipc/ledger"
	"github.com/ipcplay/ipcplay/ipc/mq"
	"github.com/ipcplay/ipcplay/ipc/plural"
	"github.com/ipcplay/ipcplay/ipc/sysobj"
	"github.com/ipcplay/ipcplay/semaphore"
	"github.com/ipcplay/ipcplay/shm"
)

// Experiment tries each kind of IPC call once, through the engine, so that
// every probe object is in the ledger and removed like any run's. Its
// result is a list of checks.
var Experiment = ipc.Experiment{
	Name: "doctor",
	Run: func(ctx context.Context, env *ipc.Env, _ json.RawMessage) (any, error) {
		return map[string]any{"kind": "doctor-probes", "checks": callChecks(ctx, env)}, nil
	},
}

// callChecks does one real operation with each primitive.
func callChecks(ctx context.Context, env *ipc.Env) []Check {
	var out []Check
	try := func(name, what string, fn func() error) {
		c := Check{Name: name, Status: OK, Detail: what + ": works"}
		if err := fn(); err != nil {
			c.Status = Fail
			c.Detail = what + ": " + err.Error()
			c.Advice = advise(err)
		}
		out = append(out, c)
	}
	for _, kind := range shm.Kinds {
		try("shm "+string(kind), "create, map, write, remove", func() error {
			r, err := env.CreateRegion(shm.Spec{Kind: kind, Size: 1 << 16})
			if err != nil {
				return err
			}
			r.Bytes()[0] = 1
			return nil
		})
	}
	try("sysv semaphores", "semget, semop, semctl", func() error {
		s, err := env.CreateSemSet(1)
		if err != nil {
			return err
		}
		if err := s.V(0, true); err != nil {
			return err
		}
		return s.P(ctx, 0, true)
	})
	try("posix semaphores", "sem_open-compatible create, post, wait", func() error {
		s, err := env.CreateNamedSem(0)
		if err != nil {
			return err
		}
		if err := s.Post(); err != nil {
			return err
		}
		wctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		return s.Wait(wctx)
	})
	try("sysv message queues", "msgget, msgsnd, msgrcv", func() error {
		q, err := mq.CreateSysV()
		if err != nil {
			return err
		}
		if err := env.Track(ledger.Entry{Type: ledger.SysVMsg, ID: q.ID()}, q.Remove); err != nil {
			_ = q.Remove()
			return err
		}
		m := mq.NewMsg(8)
		m.SetType(1)
		if err := q.Send(m, 8, mq.NoWait); err != nil {
			return err
		}
		_, err = q.Receive(m, 0, mq.NoWait)
		return err
	})
	try("posix message queues", "mq_open, mq_send, mq_receive", func() error {
		name := env.Name("doctor-mq")
		q, err := mq.CreatePOSIX(name, 1, 64)
		if err != nil {
			return err
		}
		if err := env.Track(ledger.Entry{Type: ledger.POSIXMQ, Name: name}, func() error {
			return errors.Join(q.Close(), q.Unlink())
		}); err != nil {
			_ = q.Close()
			_ = q.Unlink()
			return err
		}
		if err := q.SendTimeout([]byte("ping"), 0, time.Second); err != nil {
			return err
		}
		_, err = q.ReceiveTimeout(make([]byte, 64), time.Second)
		return err
	})
	try("futex", "futex wait/wake in shared memory", func() error {
		r, err := env.CreateRegion(shm.Spec{Kind: shm.Memfd, Size: 4096})
		if err != nil {
			return err
		}
		m, err := semaphore.InitMutex(r.Bytes()[:semaphore.MutexSize])
		if err != nil {
			return err
		}
		wctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		if err := m.Lock(wctx); err != nil {
			return err
		}
		return m.Unlock()
	})
	return out
}

// advise adds the errno table's sentence for err.
func advise(err error) string {
	var errno unix.Errno
	if errors.As(err, &errno) {
		if a, ok := ipc.Advice(errno); ok {
			return unix.ErrnoName(errno) + ": " + a
		}
	}
	return ""
}

// CallProbe runs Experiment on client (an engine in this process, normally)
// and returns its checks; the run's id is stored in *runID.
func CallProbe(client ipc.Client, runID *string) Probe {
	return func(ctx context.Context) []Check {
		res, err := client.Run(ctx, ipc.RunRequest{Experiment: Experiment.Name}, nil)
		if res != nil {
			*runID = res.RunID
		}
		if res == nil || len(res.Result) == 0 {
			return []Check{{Name: "ipc calls", Status: Fail, Detail: fmt.Sprint(err), Advice: advise(err)}}
		}
		var doc struct {
			Checks []Check `json:"checks"`
		}
		if err := json.Unmarshal(res.Result, &doc); err != nil {
			return []Check{{Name: "ipc calls", Status: Fail, Detail: err.Error()}}
		}
		return doc.Checks
	}
}

// DaemonProbe reports whether a daemon answers on socket.
func DaemonProbe(socket string) Probe {
	return func(ctx context.Context) []Check {
		dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		c, err := ipc.DialDaemon(dctx, socket, nil)
		if err != nil {
			return []Check{{Name: "daemon", Status: Info, Detail: "not running on " + socket,
				Advice: "fine: every command runs its engine in-process; start one with 'ipcplay daemon' to share runs"}}
		}
		defer c.Close()
		st, err := c.Status(dctx)
		if err != nil {
			return []Check{{Name: "daemon", Status: Fail, Detail: fmt.Sprintf("answers on %s but status failed: %v", socket, err)}}
		}
		return []Check{{Name: "daemon", Status: OK, Detail: fmt.Sprintf("pid %d on %s, %s active", st.PID, socket, plural.Count(st.ActiveRuns, "run", "runs"))}}
	}
}

// LeakProbe reports objects that crashed ipcplay runs left behind: stale
// ledger entries, and ipcplay-named files in /dev/shm the ledger does not
// know (left by an engine with another state directory). It removes
// nothing (the ledger is read with a dry run); the engine of l's state dir
// must be made with Config.NoReap, or its start-up reaping removes what
// this would report. A ledger that cannot be read is one "ledger" failure
// with the way out (ledgerCheck), in place of the leftovers line.
func LeakProbe(l *ledger.Ledger) Probe {
	return func(ctx context.Context) []Check {
		if c, bad := ledgerCheck(l); bad {
			return []Check{c}
		}
		rep, err := ipc.Reap(l, true)
		if err != nil {
			return []Check{{Name: "leftovers", Status: Warn, Detail: err.Error()}}
		}
		entries, _ := l.Entries()
		known := map[string]bool{}
		for _, en := range entries {
			known[en.Name] = true
		}
		var stray []string
		ents, _ := os.ReadDir("/dev/shm")
		for _, d := range ents {
			name := strings.TrimPrefix(d.Name(), "sem.")
			if strings.HasPrefix(name, shm.POSIXPrefix) && !known[name] {
				stray = append(stray, "/dev/shm/"+sysobj.EscapeName(d.Name()))
			}
		}
		switch {
		case len(rep.Removed)+len(rep.LeftAlone) > 0:
			var names []string
			for _, en := range rep.Removed {
				names = append(names, fmt.Sprintf("%s (run %s, creator pid %d gone)", ipc.Describe(en), en.RunID, en.CreatorPID))
			}
			for _, en := range rep.LeftAlone {
				names = append(names, fmt.Sprintf("%s (run %s, creator pid %d gone; clean leaves it alone: %s)", ipc.Describe(en.Entry), en.RunID, en.CreatorPID, en.Reason))
			}
			return []Check{{Name: "leftovers", Status: Warn, Detail: fmt.Sprintf("%s of crashed runs in the ledger: %s", plural.Count(len(names), "object", "objects"), strings.Join(names, "; ")),
				Advice: "'ipcplay clean' removes those proved to be ipcplay's ('ipcplay clean --dry-run' lists them); doctor leaves them as they are"}}
		case len(stray) > 0:
			return []Check{{Name: "leftovers", Status: Warn, Detail: fmt.Sprintf("%s in /dev/shm unknown to this ledger: %s", plural.Count(len(stray), "ipcplay file", "ipcplay files"), strings.Join(stray, " ")),
				Advice: "an engine with another --state-dir (or IPCPLAY_STATE_DIR) made them; 'ipcplay inspect' shows who uses them"}}
		}
		return []Check{{Name: "leftovers", Status: OK, Detail: "no objects of crashed runs"}}
	}
}
