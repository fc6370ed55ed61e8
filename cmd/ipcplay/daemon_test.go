package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ipcplay/ipcplay/ipc"
	"github.com/ipcplay/ipcplay/ipc/ledger"
	"github.com/ipcplay/ipcplay/ipc/proto"
	"github.com/ipcplay/ipcplay/sockets"
)

// End-to-end tests: a real `ipcplay daemon` (the test binary re-executed
// as the CLI), real CLI processes, real workers and objects.

func jsonDoc(t *testing.T, out string) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("stdout is not one JSON document: %v\n%s", err, out)
	}
	return doc
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestDaemonAndEmbeddedRunsGiveTheSameKindOfResult(t *testing.T) {
	d := startDaemon(t, newStateDir(t))
	viaDaemon := runCLI(t, "cmdtest", "--procs", "3", "--json", "--require-daemon", "--socket", d.socket)
	embedded := runCLI(t, "cmdtest", "--procs", "3", "--json", "--local", "--socket", d.socket)
	if viaDaemon.code != 0 || embedded.code != 0 {
		t.Fatalf("exit codes %d and %d\n%s\n%s", viaDaemon.code, embedded.code, viaDaemon.stderr, embedded.stderr)
	}
	a, b := jsonDoc(t, viaDaemon.stdout), jsonDoc(t, embedded.stdout)
	if a["engine"] != "daemon" || b["engine"] != "local" {
		t.Fatalf("engines %v and %v", a["engine"], b["engine"])
	}
	if !reflect.DeepEqual(keys(a), keys(b)) || a["kind"] != "cmdtest" || a["kind"] != b["kind"] || a["counter"] != 3.0 || b["counter"] != 3.0 {
		t.Fatalf("daemon %v\nembedded %v", a, b)
	}
	if id, _ := a["run_id"].(string); !strings.HasPrefix(id, "r-") {
		t.Fatalf("run_id %v", a["run_id"])
	}
	// The daemon remembers its run.
	show := runCLI(t, "show", "--json", "--socket", d.socket, a["run_id"].(string))
	if doc := jsonDoc(t, show.stdout); doc["kind"] != "run" || doc["state"] != "ok" || doc["run_id"] != a["run_id"] || doc["engine"] != "daemon" {
		t.Fatalf("show: %v", doc)
	}
	runs := runCLI(t, "runs", "--socket", d.socket)
	if runs.code != 0 || !strings.Contains(runs.stdout, a["run_id"].(string)) || !strings.Contains(runs.stdout, "cmdtest") {
		t.Fatalf("runs:\n%s%s", runs.stdout, runs.stderr)
	}
	assertClean(t, d.dir, nil)
}

func TestChildKilledMidRunFailsTheRunAndLeavesNothing(t *testing.T) {
	d := startDaemon(t, newStateDir(t))
	n := newNotifier(t)
	res := make(chan cliResult, 1)
	go func() {
		res <- runCLI(t, "cmdtest", "--procs", "3", "--mode", "kill-child", "--notify", n.path, "--require-daemon", "--socket", d.socket)
	}()
	note := n.wait(t)
	before := ledgerEntries(t, d.dir)
	r := <-res
	if r.code != 1 || !strings.Contains(r.stderr, "SIGKILL") || !strings.Contains(r.stderr, "worker cmdtest-hold#0") {
		t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
	}
	waitGone(t, note.Pids)
	if len(before) < 4 {
		t.Fatalf("the run recorded %+v", before)
	}
	assertClean(t, d.dir, before)
}

// The daemon killed with SIGKILL mid-run: its workers die with it, and the
// next daemon (or `ipcplay clean`) removes exactly what it leaked.
func TestDaemonKilledMidRunIsCleanedUp(t *testing.T) {
	for _, how := range []string{"next-daemon", "clean"} {
		t.Run(how, func(t *testing.T) {
			dir := newStateDir(t)
			d := startDaemon(t, dir)
			n := newNotifier(t)
			runErr := make(chan error, 1)
			go func() {
				_, err := d.client(t).Run(context.Background(), ipc.RunRequest{Experiment: "cmdtest", Params: mustJSON(cmdtestParams{Procs: 2, Mode: "hang", Notify: n.path})}, nil)
				runErr <- err
			}()
			note := n.wait(t)
			leaked := ledgerEntries(t, dir)
			if err := d.cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			<-d.done
			waitGone(t, note.Pids)
			select {
			case err := <-runErr:
				if err == nil || !strings.Contains(err.Error(), "closed the connection") {
					t.Fatalf("client of a killed daemon: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("the client did not notice the daemon's death")
			}
			// Something of another live process that the ledger did not
			// record must survive; so must a live process's entry.
			for _, e := range leaked {
				if !objectExists(t, e) {
					t.Fatalf("%s is gone before the cleanup: nothing leaked?", e)
				}
			}
			if len(leaked) < 4 {
				t.Fatalf("leaked %+v", leaked)
			}
			l, _ := ledger.Open(dir)
			live, err := l.Add(ledger.Entry{Type: ledger.File, Name: filepath.Join(dir, "live-file"), RunID: "r-live"})
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(live.Name, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			switch how {
			case "next-daemon":
				startDaemon(t, dir) // replaces the stale socket, reaps at start
			case "clean":
				dry := runCLI(t, "clean", "--dry-run", "--json", "--socket", filepath.Join(dir, "d.sock"))
				if objs, _ := jsonDoc(t, dry.stdout)["objects"].([]any); dry.code != 0 || len(objs) != len(leaked) {
					t.Fatalf("clean --dry-run: exit %d, %s%s", dry.code, dry.stdout, dry.stderr)
				}
				for _, e := range leaked {
					if !objectExists(t, e) {
						t.Fatalf("clean --dry-run removed %s", e)
					}
				}
				r := runCLI(t, "clean", "--json", "--socket", filepath.Join(dir, "d.sock"))
				doc := jsonDoc(t, r.stdout)
				objs, _ := doc["objects"].([]any)
				if r.code != 0 || doc["kind"] != "clean" || doc["engine"] != "local" || len(objs) != len(leaked) {
					t.Fatalf("clean: exit %d, %s%s", r.code, r.stdout, r.stderr)
				}
			}
			left := ledgerEntries(t, dir)
			if len(left) != 1 || left[0].Key() != live.Key() {
				t.Fatalf("ledger after the cleanup: %+v", left)
			}
			if _, err := os.Stat(live.Name); err != nil {
				t.Fatalf("the live process's file was removed: %v", err)
			}
			l.Remove(live)
			for _, e := range leaked {
				if objectExists(t, e) {
					t.Errorf("%s survived the cleanup", e)
				}
			}
		})
	}
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// 50 clients at once, half asking for status and half for small runs,
// against a daemon that runs at most 2 at a time.
func TestDaemonServesFiftyClientsWithinMaxRuns(t *testing.T) {
	const maxRuns, clients = 2, 50
	d := startDaemon(t, newStateDir(t), "--max-runs", "2")
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	results := make(chan cmdtestResult, clients)
	start := make(chan struct{})
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			c, err := ipc.DialDaemon(context.Background(), d.socket, nil)
			if err != nil {
				errs <- err
				return
			}
			if i%2 == 0 {
				st, err := c.Status(context.Background())
				if err == nil && (st.Engine != ipc.EngineDaemon || st.Limits.MaxRuns != maxRuns || st.ActiveRuns > maxRuns) {
					t.Errorf("status %+v", st)
				}
				errs <- err
				return
			}
			res, err := c.Run(context.Background(), ipc.RunRequest{Experiment: "cmdtest", Params: mustJSON(cmdtestParams{Procs: 1})}, nil)
			if err == nil {
				var r cmdtestResult
				err = json.Unmarshal(res.Result, &r)
				results <- r
			}
			errs <- err
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	close(results)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	// At no instant did more than maxRuns runs hold a slot.
	type edge struct {
		at    int64
		delta int
	}
	var edges []edge
	n := 0
	for r := range results {
		n++
		if r.Counter != 1 {
			t.Errorf("result %+v", r)
		}
		edges = append(edges, edge{r.StartNs, +1}, edge{r.EndNs, -1})
	}
	if n != clients/2 {
		t.Fatalf("%d runs finished, want %d", n, clients/2)
	}
	sort.Slice(edges, func(i, j int) bool {
		if edges[i].at != edges[j].at {
			return edges[i].at < edges[j].at
		}
		return edges[i].delta < edges[j].delta
	})
	cur, peak := 0, 0
	for _, e := range edges {
		cur += e.delta
		peak = max(peak, cur)
	}
	if peak > maxRuns {
		t.Fatalf("%d runs at once with --max-runs %d", peak, maxRuns)
	}
	assertClean(t, d.dir, nil)
}

// A client of another uid is refused and logged. The daemon's directory is
// opened (0711, socket 0666) for this test only, and the test binary is
// copied where that user may run it.
func TestDaemonRefusesAnotherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a client as another user (uid 65534)")
	}
	dir := newStateDir(t)
	d := startDaemon(t, dir)
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(d.socket, 0o666); err != nil {
		t.Fatal(err)
	}
	bin := copyExecutable(t)
	cmd := cliCmd(t, "status", "--require-daemon", "--socket", d.socket)
	cmd.Path, cmd.Args[0], cmd.Dir = bin, bin, "/"
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Credential = &syscall.Credential{Uid: 65534, Gid: 65534}
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
		t.Fatal("client as uid 65534 did not exit")
	}
	want := "permission denied: uid 65534 may not use the daemon of uid 0"
	if code := cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(errb.String(), want) {
		t.Fatalf("exit %d, stderr %s", code, errb.String())
	}
	log := d.log.String()
	if !strings.Contains(log, "refused a client of another user") || !strings.Contains(log, "peer_uid=65534") || !strings.Contains(log, "peer_pid=") {
		t.Fatalf("refusal not logged:\n%s", log)
	}
	if r := runCLI(t, "status", "--require-daemon", "--socket", d.socket); r.code != 0 {
		t.Fatalf("root refused after the other user: %s", r.stderr)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
}

// copyExecutable copies the test binary into a directory anyone may read.
func copyExecutable(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := newStateDir(t)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	src, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	bin := filepath.Join(dir, "ipcplay.test")
	dst, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	return bin
}

func TestDaemonAnswersMalformedAndOversizedFramesAndKeepsServing(t *testing.T) {
	d := startDaemon(t, newStateDir(t))
	frame := func(s string) []byte { return append(binary.BigEndian.AppendUint32(nil, uint32(len(s))), s...) }
	for _, send := range [][]byte{
		frame("hello"),
		frame(`{"v":1,"id":1,"op":"pi`),
		frame(`{"v":42,"id":1,"op":"ping"}`),
		binary.BigEndian.AppendUint32(nil, 1<<31),
	} {
		c, err := sockets.Dial(sockets.Stream, d.socket)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := c.Write(send); err != nil {
			t.Fatal(err)
		}
		resp, err := proto.NewClientConn(c.UnixConn).ReadResponse()
		c.Close()
		if err != nil || resp.Type != proto.TypeError || (resp.Error.Code != proto.CodeBadRequest && resp.Error.Code != proto.CodeUnsupportedVersion) {
			t.Fatalf("reply to %q: %+v %v", send, resp, err)
		}
	}
	if r := runCLI(t, "status", "--require-daemon", "--socket", d.socket); r.code != 0 {
		t.Fatalf("daemon stopped serving: %s", r.stderr)
	}
}

func TestDaemonLimitsRefusedBeforeAnythingIsCreated(t *testing.T) {
	dir := filepath.Join(newStateDir(t), "not-yet")
	for _, tt := range []struct{ flag, value, want string }{
		{"--max-procs", "0", "--max-procs 0: must be between 1 and 4096"},
		{"--max-procs", "5000", "must be between 1 and 4096"},
		{"--max-shm", "1", "--max-shm 1: must be between 4096 (4K) and"},
		{"--max-shm", "12parsecs", "--max-shm"},
		{"--max-runs", "0", "--max-runs 0: must be between 1 and"},
		{"--run-timeout", "0s", "--run-timeout 0s: must be between 1s and 24h"},
		{"--run-timeout", "forever", "run-timeout"},
	} {
		r := runCLI(t, "daemon", "--socket", filepath.Join(dir, "d.sock"), tt.flag, tt.value)
		if r.code != 2 || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%s %s: exit %d, stderr %s", tt.flag, tt.value, r.code, r.stderr)
		}
		if _, err := os.Lstat(dir); err == nil {
			t.Fatalf("%s %s: the daemon created %s before refusing", tt.flag, tt.value, dir)
		}
	}
}

// Ctrl-C in a CLI whose run goes through the daemon cancels the run there,
// and nothing is left.
func TestInterruptedCLICancelsItsDaemonRun(t *testing.T) {
	d := startDaemon(t, newStateDir(t))
	n := newNotifier(t)
	cmd := cliCmd(t, "cmdtest", "--procs", "2", "--mode", "hang", "--notify", n.path, "--require-daemon", "--socket", d.socket)
	var errb syncBuffer
	cmd.Stderr = &errb
	done, err := startLocked(cmd)
	if err != nil {
		t.Fatal(err)
	}
	note := n.wait(t)
	before := ledgerEntries(t, d.dir)
	cmd.Process.Signal(os.Interrupt)
	select {
	case <-done:
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		t.Fatal("the CLI did not exit after SIGINT")
	}
	wantEndedBy(t, cmd.ProcessState, syscall.SIGINT)
	if !strings.Contains(errb.String(), "cancelled (SIGINT)") {
		t.Fatalf("stderr %s", errb.String())
	}
	shown, err := d.client(t).Show(context.Background(), note.RunID)
	if err != nil || shown.State != ipc.StateCancelled {
		t.Fatalf("run in the daemon: %+v %v", shown, err)
	}
	// runs and show say it was cancelled, in plain words, never the
	// context's "context canceled".
	for _, args := range [][]string{{"runs"}, {"show", note.RunID}, {"show", "--json", note.RunID}} {
		r := runCLI(t, append(args, "--socket", d.socket)...)
		if r.code != 0 || !strings.Contains(r.stdout, "cancelled") || strings.Contains(r.stdout, "context canceled") {
			t.Errorf("ipcplay %v: exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
		}
	}
	waitGone(t, note.Pids)
	if len(before) < 4 {
		t.Fatalf("the run recorded %+v", before)
	}
	assertClean(t, d.dir, before)
}

// SIGHUP is not fatal; SIGTERM during a run cancels it, removes every
// object and the socket, and exits 0. A second daemon on a live socket is
// refused.
func TestDaemonSignals(t *testing.T) {
	d := startDaemon(t, newStateDir(t))
	if r := runCLI(t, "daemon", "--socket", d.socket); r.code != 1 || !strings.Contains(r.stderr, "another daemon is already serving") {
		t.Fatalf("second daemon: exit %d, %s", r.code, r.stderr)
	}
	d.cmd.Process.Signal(syscall.SIGHUP)
	if r := runCLI(t, "status", "--require-daemon", "--socket", d.socket); r.code != 0 {
		t.Fatalf("after SIGHUP: %s", r.stderr)
	}
	n := newNotifier(t)
	runErr := make(chan *ipc.RunResult, 1)
	go func() {
		res, _ := d.client(t).Run(context.Background(), ipc.RunRequest{Experiment: "cmdtest", Params: mustJSON(cmdtestParams{Procs: 2, Mode: "hang", Notify: n.path})}, nil)
		runErr <- res
	}()
	note := n.wait(t)
	before := ledgerEntries(t, d.dir)
	if code := d.stop(t); code != 0 {
		t.Fatalf("daemon exit %d after SIGTERM\n%s", code, d.log.String())
	}
	res := <-runErr
	if res == nil || res.State != ipc.StateCancelled {
		t.Fatalf("run at shutdown: %+v", res)
	}
	// The client is told why, not only that its run was cancelled.
	if err := res.Err(); err == nil || !strings.HasSuffix(err.Error(), "cancelled: the daemon is shutting down (SIGTERM received)") {
		t.Errorf("the client was told %v", err)
	}
	waitGone(t, note.Pids)
	assertClean(t, d.dir, before)
	if _, err := os.Lstat(d.socket); err == nil {
		t.Fatal("socket left behind")
	}
	if !strings.Contains(d.log.String(), "reload is not supported") {
		t.Fatalf("SIGHUP not logged:\n%s", d.log.String())
	}
	// The log says what happened: the signal, the run cancelled because
	// of it, the objects removed; not that a client went away.
	for _, want := range []string{
		"SIGTERM received: shutting down", "running=1",
		`run cancelled: `, `cause="the daemon is shutting down (SIGTERM received)"`,
		fmt.Sprintf("objects_removed=%d", len(before)),
		fmt.Sprintf("stopped: runs_cancelled=1 objects_removed=%d objects_left=0", len(before)),
	} {
		if !strings.Contains(d.log.String(), want) {
			t.Errorf("the daemon's log lacks %q:\n%s", want, d.log.String())
		}
	}
	if strings.Contains(d.log.String(), "went away") {
		t.Errorf("the daemon's log blames the client:\n%s", d.log.String())
	}
}

func TestLookingCommandsThroughDaemonAndEmbedded(t *testing.T) {
	d := startDaemon(t, newStateDir(t))
	n := newNotifier(t)
	c := d.client(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		c.Run(ctx, ipc.RunRequest{Experiment: "cmdtest", Params: mustJSON(cmdtestParams{Procs: 1, Mode: "hang", Notify: n.path})}, nil)
	}()
	note := n.wait(t)
	for _, engine := range []string{"daemon", "local"} {
		t.Run(engine, func(t *testing.T) {
			flag := "--require-daemon"
			if engine == "local" {
				flag = "--local"
			}
			st := jsonDoc(t, runCLI(t, "status", "--json", flag, "--socket", d.socket).stdout)
			if st["kind"] != "status" || st["engine"] != engine || st["run_id"] != nil || st["ledger_entries"].(float64) < 4 {
				t.Fatalf("status %v", st)
			}
			objs := jsonDoc(t, runCLI(t, "objects", "--json", flag, "--socket", d.socket).stdout)
			list, _ := objs["objects"].([]any)
			if objs["kind"] != "objects" || objs["engine"] != engine || len(list) < 3 {
				t.Fatalf("objects %v", objs)
			}
			for _, o := range list {
				o := o.(map[string]any)
				for _, k := range []string{"type", "id", "name", "owner_uid", "mode", "size", "creator_pid", "run_id", "stale"} {
					if _, ok := o[k]; !ok {
						t.Fatalf("object without %q: %v", k, o)
					}
				}
				if o["run_id"] != note.RunID || o["stale"] != false {
					t.Fatalf("object %v, want run %s, not stale", o, note.RunID)
				}
			}
			allDoc := jsonDoc(t, runCLI(t, "objects", "--all", "--json", flag, "--socket", d.socket).stdout)
			all, _ := allDoc["objects"].([]any)
			ours := 0
			for _, o := range all {
				if o.(map[string]any)["run_id"] == note.RunID {
					ours++
				}
			}
			if len(all) < len(list) || ours != len(list) {
				t.Fatalf("objects --all has %d objects, %d of the run; objects has %d", len(all), ours, len(list))
			}
			text := runCLI(t, "objects", flag, "--socket", d.socket)
			if text.code != 0 || !strings.Contains(text.stdout, "TYPE") || !strings.Contains(text.stdout, note.RunID) {
				t.Fatalf("objects:\n%s%s", text.stdout, text.stderr)
			}
			clean := jsonDoc(t, runCLI(t, "clean", "--dry-run", "--json", flag, "--socket", d.socket).stdout)
			if clean["kind"] != "clean" || len(clean["objects"].([]any)) != 0 {
				t.Fatalf("clean removes a live run's objects: %v", clean)
			}
		})
	}
	if r := runCLI(t, "show", "--local", "--socket", d.socket, note.RunID); r.code != 2 || !strings.Contains(r.stderr, "known only to the CLI") {
		t.Fatalf("show --local: exit %d %s", r.code, r.stderr)
	}
	r := runCLI(t, "cancel", "--json", "--socket", d.socket, note.RunID)
	if doc := jsonDoc(t, r.stdout); r.code != 0 || doc["state"] != "cancelled" || doc["run_id"] != note.RunID {
		t.Fatalf("cancel: exit %d %s %s", r.code, r.stdout, r.stderr)
	}
	<-ran
	if r := runCLI(t, "cancel", "--socket", d.socket, note.RunID); r.code != 1 || !strings.Contains(r.stderr, "already ended") {
		t.Fatalf("second cancel: exit %d %s", r.code, r.stderr)
	}
	if r := runCLI(t, "show", "--socket", d.socket, "r-none"); r.code != 2 {
		t.Fatalf("show of an unknown run: exit %d %s", r.code, r.stderr)
	}
	if r := runCLI(t, "show", "--socket", d.socket); r.code != 2 {
		t.Fatalf("show without RUN_ID: exit %d %s", r.code, r.stderr)
	}
	assertClean(t, d.dir, nil)
}
