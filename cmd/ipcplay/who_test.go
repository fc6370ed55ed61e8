package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// whoHow returns the "how" list of pid in a who document, or nil.
func whoHow(doc map[string]any, pid int) []string {
	procs, _ := doc["processes"].([]any)
	for _, p := range procs {
		m, _ := p.(map[string]any)
		if m["pid"] != float64(pid) {
			continue
		}
		var how []string
		for _, h := range m["how"].([]any) {
			how = append(how, h.(string))
		}
		return how
	}
	return nil
}

func hasHow(how []string, want ...string) bool {
	for _, w := range want {
		found := false
		for _, h := range how {
			found = found || h == w
		}
		if !found {
			return false
		}
	}
	return true
}

func TestWhoFindsMappersHoldersWaitersAndLockers(t *testing.T) {
	o := createObjs(t)
	cpid := o.c.pid()
	mapper := startObjC(t, "map-shm", o.prefix+"shm")
	mapper.expect(t, "mapped")

	for _, args := range [][]string{
		{"who", "posix-shm", o.prefix + "shm", "--json"},
		{"who", "--json", "/dev/shm/" + strings.TrimPrefix(o.prefix, "/") + "shm"},
	} {
		doc := oneDoc(t, runCLI(t, args...))
		if doc["kind"] != "who" || doc["target"] != "posix-shm "+o.prefix+"shm" ||
			!hasHow(whoHow(doc, cpid), "maps", "open") || !hasHow(whoHow(doc, mapper.pid()), "maps") {
			t.Errorf("%v: %v", args, doc)
		}
	}
	doc := oneDoc(t, runCLI(t, "who", "sysv-msg", o.msqid, "--json"))
	if !hasHow(whoHow(doc, cpid), "last-send") {
		t.Errorf("sysv-msg: %v", doc)
	}
	doc = oneDoc(t, runCLI(t, "who", "sysv-shm", o.shmid, "--json"))
	if !hasHow(whoHow(doc, cpid), "maps") {
		t.Errorf("sysv-shm: %v", doc)
	}

	// A process blocked in msgrcv on the queue.
	rcv := startObjC(t, "msgrcv-wait", o.msqid)
	rcv.expect(t, "waiting")
	objPoll(t, "msgrcv waiter", func() (bool, string) {
		doc := oneDoc(t, runCLI(t, "who", "sysv-msg", o.msqid, "--json"))
		return hasHow(whoHow(doc, rcv.pid()), "waiting"), fmt.Sprint(doc)
	})
	rcv.cmd.Process.Kill()

	// flock held, fcntl held, flock queued.
	path := filepath.Join(t.TempDir(), "lock")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	fl := startObjC(t, "lock", path, "flock")
	fl.expect(t, "locked")
	fc := startObjC(t, "lock", path, "fcntl")
	fc.expect(t, "locked")
	queued := startObjC(t, "lock", path, "flock")
	objPoll(t, "lock holders and the queued request", func() (bool, string) {
		doc := oneDoc(t, runCLI(t, "who", path, "--json"))
		ok := hasHow(whoHow(doc, fl.pid()), "flock", "open") && hasHow(whoHow(doc, fc.pid()), "fcntl") &&
			hasHow(whoHow(doc, queued.pid()), "waiting")
		return ok, fmt.Sprint(doc)
	})
	queued.cmd.Process.Kill()

	r := runCLI(t, "who", "sysv-sem", o.semid)
	if r.code != 0 || !strings.Contains(r.stdout, "last-op") || !strings.Contains(r.stdout, fmt.Sprint(cpid)) {
		t.Errorf("text (exit %d):\n%s%s", r.code, r.stdout, r.stderr)
	}
}
