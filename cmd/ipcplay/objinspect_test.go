package main

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ipcplay/ipcplay/ipc/ipctest"
)

// Shared helpers of the inspect, who and watch tests: a C program that
// makes IPC objects the way C programs do (ipc/sysobj/testdata/ipcobjs.c),
// and JSON decoding of the CLI's one document.

const objWaitTimeout = 20 * time.Second

// objC is a running ipcobjs process.
type objC struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
}

func startObjC(t *testing.T, args ...string) *objC {
	t.Helper()
	bin := ipctest.CompileC(t, "../../ipc/sysobj/testdata/ipcobjs.c", "-lrt", "-pthread")
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	// No Pdeathsig: Linux ties it to the forking thread, which the Go
	// runtime may end long before this process. If the tests die, stdin
	// closes (create mode removes its objects) and waiters end by alarm.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &objC{cmd: cmd, stdin: stdin, lines: make(chan string, 64)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(objWaitTimeout):
			cmd.Process.Kill()
			<-done
			t.Errorf("ipcobjs %v did not exit after stdin closed", args)
		}
	})
	return p
}

func (p *objC) pid() int { return p.cmd.Process.Pid }

func (p *objC) expect(t *testing.T, prefix string) string {
	t.Helper()
	timeout := time.After(objWaitTimeout)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				t.Fatalf("ipcobjs exited before printing %q", prefix)
			}
			if rest, ok := strings.CutPrefix(l, prefix); ok {
				return strings.TrimSpace(rest)
			}
		case <-timeout:
			t.Fatalf("ipcobjs did not print %q within %s", prefix, objWaitTimeout)
		}
	}
}

// objSet is what "ipcobjs create" made.
type objSet struct {
	c                   *objC
	prefix              string
	shmid, semid, msqid string
	mq                  bool
}

func createObjs(t *testing.T) *objSet {
	t.Helper()
	o := &objSet{prefix: "/" + ipctest.Name(t, ".")}
	o.c = startObjC(t, "create", o.prefix)
	o.c.expect(t, "pid ")
	o.mq = o.c.expect(t, "posix-mq") == "ok"
	for _, f := range []struct {
		kind string
		id   *string
	}{{"shm", &o.shmid}, {"sem", &o.semid}, {"msg", &o.msqid}} {
		*f.id = o.c.expect(t, "sysv-"+f.kind+" ")
		id, err := strconv.Atoi(*f.id)
		if err != nil {
			t.Fatal(err)
		}
		ipctest.TrackSysV(f.kind, id)
	}
	o.c.expect(t, "ready")
	return o
}

// oneDoc decodes the only JSON document of a --json run, failing if
// anything else is on stdout.
func oneDoc(t *testing.T, r cliResult) map[string]any {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("exit %d\nstderr: %s", r.code, r.stderr)
	}
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, r.stdout)
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		t.Fatalf("more than one document on stdout:\n%s", r.stdout)
	}
	return doc
}

// object returns the "object" of an inspect document.
func object(t *testing.T, r cliResult) map[string]any {
	t.Helper()
	doc := oneDoc(t, r)
	if doc["kind"] != "inspect" {
		t.Fatalf("kind %v", doc["kind"])
	}
	o, ok := doc["object"].(map[string]any)
	if !ok {
		t.Fatalf("no object: %v", doc)
	}
	return o
}

func nums(v any) string { return fmt.Sprint(v) }

func pidIn(list any, pid int) bool {
	l, _ := list.([]any)
	for _, x := range l {
		if m, ok := x.(map[string]any); ok && m["pid"] == float64(pid) {
			return true
		}
	}
	return false
}

func objPoll(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(objWaitTimeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not seen within %s; last: %s", what, objWaitTimeout, state)
		}
		time.Sleep(30 * time.Millisecond)
	}
}

func TestInspectShowsWhatCSet(t *testing.T) {
	o := createObjs(t)
	cpid := o.c.pid()

	sem := object(t, runCLI(t, "inspect", "sysv-sem", o.semid, "--json"))
	if nums(sem["values"]) != "[1 0 7]" || nums(sem["ncnt"]) != "[0 0 0]" || nums(sem["zcnt"]) != "[0 0 0]" ||
		nums(sem["last_pid"]) != fmt.Sprint([]int{cpid, cpid, cpid}) || sem["mode"] != "0600" {
		t.Errorf("sysv-sem: %v", sem)
	}
	psem := object(t, runCLI(t, "inspect", "--json", "posix-sem", strings.TrimPrefix(o.prefix, "/")+"sem"))
	if psem["value"] != 3.0 || psem["waiters"] != 0.0 || psem["glibc_layout"] != true || !pidIn(psem["mapped_by"], cpid) {
		t.Errorf("posix-sem: %v", psem)
	}
	shm := object(t, runCLI(t, "inspect", "sysv-shm", o.shmid, "--json", "--dump", "100:10"))
	dump, _ := shm["dump"].(map[string]any)
	if shm["size"] != 16384.0 || shm["nattch"] != 1.0 || !pidIn(shm["mapped_by"], cpid) || dump["hex"] != hex.EncodeToString([]byte("hello sysv")) {
		t.Errorf("sysv-shm: %v", shm)
	}
	pshm := object(t, runCLI(t, "inspect", "posix-shm", o.prefix+"shm", "--dump=0:11", "--json"))
	dump, _ = pshm["dump"].(map[string]any)
	if pshm["size"] != 8192.0 || pshm["nattch"] != 1.0 || !pidIn(pshm["mapped_by"], cpid) || dump["hex"] != hex.EncodeToString([]byte("hello posix")) {
		t.Errorf("posix-shm: %v", pshm)
	}
	msg := object(t, runCLI(t, "inspect", "sysv-msg", o.msqid, "--json"))
	if msg["messages"] != 2.0 || msg["bytes"] != 30.0 || msg["last_send_pid"] != float64(cpid) {
		t.Errorf("sysv-msg: %v", msg)
	}
	if o.mq {
		mq := object(t, runCLI(t, "inspect", "posix-mq", o.prefix+"mq", "--json"))
		if mq["messages"] != 1.0 || mq["max_messages"] != 5.0 || mq["msgsize"] != 64.0 || mq["bytes"].(float64) < 11 {
			t.Errorf("posix-mq: %v", mq)
		}
	}

	// The text form says the same.
	r := runCLI(t, "inspect", "sysv-sem", o.semid)
	if r.code != 0 || !strings.Contains(r.stdout, "VALUE") || !strings.Contains(r.stdout, "ipcobjs create") {
		t.Errorf("text sysv-sem (exit %d):\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, "inspect", "posix-shm", o.prefix+"shm", "--dump")
	if r.code != 0 || !strings.Contains(r.stdout, "|hello posix.....|") || !strings.Contains(r.stdout, "--dump 512:7680") {
		t.Errorf("text dump (exit %d):\n%s%s", r.code, r.stdout, r.stderr)
	}

	// Waiters: processes blocked in sem_wait and in semop.
	w := startObjC(t, "sem-wait", o.prefix+"sem")
	w.expect(t, "waiting")
	objPoll(t, "posix-sem waiters 1", func() (bool, string) {
		s := object(t, runCLI(t, "inspect", "posix-sem", o.prefix+"sem", "--json"))
		return s["value"] == 0.0 && s["waiters"] == 1.0 && pidIn(s["waiting"], w.pid()), fmt.Sprint(s)
	})
	w.cmd.Process.Kill()
	op := startObjC(t, "semop-wait", o.semid, "1", "-1")
	op.expect(t, "waiting")
	objPoll(t, "sysv-sem ncnt[1] = 1", func() (bool, string) {
		s := object(t, runCLI(t, "inspect", "sysv-sem", o.semid, "--json"))
		return nums(s["ncnt"]) == "[0 1 0]" && pidIn(s["waiting"], op.pid()), fmt.Sprint(s)
	})
	op.cmd.Process.Kill()
}

func TestInspectUnixSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "l.sock")
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 4); err != nil {
		t.Fatal(err)
	}
	s := object(t, runCLI(t, "inspect", "unix-socket", path, "--json"))
	if s["listening"] != true || s["stale"] != false || s["socket_type"] != "stream" {
		t.Errorf("%v", s)
	}
	w := oneDoc(t, runCLI(t, "who", path, "--json"))
	if w["kind"] != "who" || !pidIn(w["processes"], os.Getpid()) {
		t.Errorf("who: %v", w)
	}
	unix.Close(fd) // the file stays: stale
	r := runCLI(t, "inspect", "unix-socket", path)
	if r.code != 0 || !strings.Contains(r.stdout, "STALE") {
		t.Errorf("stale (exit %d):\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestObjectCommandsBadInput(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"inspect", "sysv-sem", "five"}, `id "five" is not a System V id`},
		{[]string{"inspect", "sysv-shm", "-3"}, "-3"}, // taken for a flag: still exit 2
		{[]string{"inspect", "posix-sem", "/a/b"}, "has a slash after the first character"},
		{[]string{"inspect", "posix-shm", "a/b"}, "has a slash"},
		{[]string{"inspect", "sysv-pipe", "1"}, "must be one of sysv-shm, sysv-sem, sysv-msg, posix-shm, posix-sem, posix-mq, unix-socket"},
		{[]string{"inspect", "sysv-sem", "2147483646"}, "sysv-sem 2147483646 does not exist"},
		{[]string{"inspect", "posix-sem", "ipcplay.no.such.sem"}, "does not exist"},
		{[]string{"inspect", "posix-mq", "/ipcplay.no.such.mq"}, "does not exist"},
		{[]string{"inspect", "unix-socket", "/nonexistent/x.sock"}, "does not exist"},
		{[]string{"inspect", "unix-socket", "/etc/hostname"}, "is not a socket"},
		{[]string{"inspect"}, "expected TYPE and ID|NAME|PATH"},
		{[]string{"inspect", "sysv-sem", "1", "2", "3"}, "expected TYPE"},
		{[]string{"inspect", "sysv-sem", "1", "--dump"}, "--dump works on sysv-shm and posix-shm"},
		{[]string{"inspect", "posix-shm", "x", "--dump", "zz"}, `dump range "zz"`},
		{[]string{"inspect", "--nope", "sysv-sem", "1"}, "ipcplay: inspect: --nope: no such flag (see 'ipcplay inspect --help' for the flags)"},
		{[]string{"who"}, "expected PATH, or TYPE"},
		{[]string{"who", "sysv-sem"}, "sysv-sem needs an ID"},
		{[]string{"who", "/nonexistent/file"}, "does not exist"},
		{[]string{"who", "posix-shm", "x/y"}, "slash"},
		{[]string{"watch", "--interval", "10ms"}, "--interval \"10ms\": must be between 100ms and 1h"},
		{[]string{"watch", "--interval", "soon"}, "--interval \"soon\""},
		{[]string{"watch", "--interval", "2h"}, "must be between"},
		{[]string{"watch", "--count", "-1"}, "--count -1"},
		{[]string{"watch", "--count", "x"}, "count"},
		{[]string{"watch", "--json"}, "--json needs --count"},
		{[]string{"watch", "sysv-tables"}, "must be one of"},
		{[]string{"watch", "sysv-sem", "2147483646"}, "does not exist"},
		{[]string{"watch", "posix-sem", "a/b/c"}, "slash"},
	} {
		r := runCLI(t, tc.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) || !strings.HasPrefix(r.stderr, "ipcplay: ") {
			t.Errorf("ipcplay %v: exit %d, stderr %q; want exit 2 with %q", tc.args, r.code, r.stderr, tc.want)
		}
		if slices.Contains(tc.args, "--json") {
			// --json: the error, as the one document on stdout.
			if doc := oneErrorDoc(t, r.stdout); doc.ExitCode != 2 || "ipcplay: "+doc.Error != strings.TrimSpace(r.stderr) {
				t.Errorf("ipcplay %v: error document %+v", tc.args, doc)
			}
		} else if r.stdout != "" {
			t.Errorf("ipcplay %v: stdout %q", tc.args, r.stdout)
		}
	}
}

// TestObjectCommandsPermissionDenied: another user may not read root's
// 0600 objects: exit 1 with EACCES explained.
func TestObjectCommandsPermissionDenied(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the CLI as another user (uid 65534) against root's objects")
	}
	o := createObjs(t)
	bin := copyExecutable(t)
	cases := [][]string{
		{"inspect", "sysv-sem", o.semid}, {"inspect", "sysv-shm", o.shmid}, {"inspect", "sysv-msg", o.msqid},
		{"inspect", "posix-sem", o.prefix + "sem"}, {"inspect", "posix-shm", o.prefix + "shm"},
		{"who", "sysv-sem", o.semid}, {"inspect", "sysv-shm", o.shmid, "--dump"},
	}
	if o.mq {
		cases = append(cases, []string{"inspect", "posix-mq", o.prefix + "mq"})
	}
	for _, args := range cases {
		cmd := cliCmd(t, args...)
		cmd.Path, cmd.Args[0], cmd.Dir = bin, bin, "/"
		if cmd.SysProcAttr == nil {
			cmd.SysProcAttr = &syscall.SysProcAttr{}
		}
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: 65534, Gid: 65534}
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(time.Minute):
			cmd.Process.Kill()
			<-done
			t.Fatalf("%v as uid 65534 did not exit", args)
		}
		if code := cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(errb.String(), "permission denied (EACCES: ") {
			t.Errorf("%v as uid 65534: exit %d, stderr %q; want exit 1 with EACCES explained", args, code, errb.String())
		}
	}
}
