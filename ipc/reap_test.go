package ipc

import (
	"bufio"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ipcplay/ipcplay/ipc/ipctest"
	"github.com/ipcplay/ipcplay/ipc/ledger"
	"github.com/ipcplay/ipcplay/semaphore"
)

// crashSysVRun runs an embedded CLI run that creates a System V semaphore
// set, kills it with SIGKILL (as `kill -9` of a race --mode sysv-sem run),
// and returns the state dir and the set's ledger entry.
func crashSysVRun(t *testing.T) (string, ledger.Entry) {
	t.Helper()
	dir := t.TempDir()
	os.Chmod(dir, 0o700)
	cmd := ipctest.Helper(t, "crashing-cli", dir, "sysv")
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := bufio.NewReader(out).ReadString('\n'); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("helper: %v", err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	l, _ := ledger.Open(dir)
	entries, _ := l.Entries()
	for _, en := range entries {
		if en.Type == ledger.SysVShm || en.Type == ledger.SysVSem {
			ipctest.TrackSysV(strings.TrimPrefix(en.Type, "sysv-"), en.ID)
		}
	}
	for _, en := range entries {
		if en.Type == ledger.SysVSem {
			if en.Identity == nil {
				t.Fatalf("the set's identity was not recorded: %+v", en)
			}
			return dir, en
		}
	}
	t.Fatalf("no semaphore set in the ledger: %+v", entries)
	return "", ledger.Entry{}
}

// reuseSemID makes the kernel give the next semaphore set the id id
// (kernel.sem_next_id, root only), then runs create; it checks that the
// new set got that id.
func reuseSemID(t *testing.T, id int, create func() int) {
	t.Helper()
	if err := os.WriteFile("/proc/sys/kernel/sem_next_id", []byte(strconv.Itoa(id)), 0); err != nil {
		t.Skipf("cannot set kernel.sem_next_id: %v", err)
	}
	got := create()
	ipctest.TrackSysV("sem", got)
	if got != id {
		t.Skipf("the kernel gave id %d, not the freed %d: id reuse not reproduced here", got, id)
	}
}

// The input: a race --mode sysv-sem run killed with SIGKILL leaves
// its set in the ledger; someone removes the set with ipcrm; another
// program (of the same uid, or of another) then receives the same id.
// clean must leave that set alone, say so apart from "removed", and drop
// the entry.
func TestCleanLeavesAReusedSysVIdAlone(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: only root can set kernel.sem_next_id to hand the freed id to another set")
	}
	for _, who := range []string{"same uid", "another uid"} {
		t.Run(who, func(t *testing.T) {
			dir, en := crashSysVRun(t)
			l, _ := ledger.Open(dir)
			if err := semaphore.RemoveSet(en.ID); err != nil { // ipcrm -s ID
				t.Fatal(err)
			}
			// Another program, later: in a later second, as a later
			// program's would be (ctime has second granularity, and the
			// kernel's coarse clock may trail time.Now by a tick).
			for time.Now().Before(time.Unix(en.Identity.CTime+1, 0).Add(100 * time.Millisecond)) {
				time.Sleep(20 * time.Millisecond)
			}
			var create func() int
			switch who {
			case "same uid":
				create = func() int {
					s, err := semaphore.CreateSet(en.Identity.NSems)
					if err != nil {
						t.Fatal(err)
					}
					return s.ID()
				}
			default:
				ipcmk, err := exec.LookPath("ipcmk")
				if err != nil {
					t.Skip("util-linux ipcmk not installed: no program of another uid to create the set")
				}
				create = func() int {
					cmd := exec.Command(ipcmk, "-S", strconv.Itoa(en.Identity.NSems))
					cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
					out, err := cmd.CombinedOutput()
					m := regexp.MustCompile(`id: (\d+)`).FindSubmatch(out)
					if err != nil || m == nil {
						t.Skipf("ipcmk as uid 65534: %v %s", err, out)
					}
					id, _ := strconv.Atoi(string(m[1]))
					return id
				}
			}
			reuseSemID(t, en.ID, create)
			if now, err := sysvIdentity("sem", en.ID); err == nil {
				t.Logf("recorded %+v; the new set %+v", *en.Identity, *now)
			}
			defer semaphore.RemoveSet(en.ID)

			rep, err := Reap(l, false)
			if err != nil {
				t.Fatalf("clean: %v", err)
			}
			for _, r := range rep.Removed {
				if r.Key() == en.Key() {
					t.Errorf("clean reports the other program's set %d as removed: %s\nrecorded %+v, at reaping %+v", en.ID, rep.String(false), *en.Identity, *r.Identity)
				}
			}
			var left *LeftAlone
			for i := range rep.LeftAlone {
				if rep.LeftAlone[i].Key() == en.Key() {
					left = &rep.LeftAlone[i]
				}
			}
			if left == nil || !strings.HasPrefix(left.Reason, ReasonNotOurs) && !strings.HasPrefix(left.Reason, "not ours (id reused)") {
				t.Errorf("set %d not reported as left alone, not ours (id reused): %s", en.ID, rep.String(false))
			}
			if !strings.Contains(rep.String(false), "left alone: sysv-sem "+strconv.Itoa(en.ID)) {
				t.Errorf("report text: %s", rep.String(false))
			}
			if _, err := sysvIdentity("sem", en.ID); err != nil {
				t.Errorf("the other program's set %d is gone: %v", en.ID, err)
			}
			left2, _ := l.Entries()
			for _, e := range left2 {
				if e.Key() == en.Key() {
					t.Errorf("the entry of the reused id is still in the ledger")
				}
			}
		})
	}
}

// A removal that fails is never reported as removed, and its entry stays.
func TestCleanNeverReportsAFailedRemovalAsRemoved(t *testing.T) {
	dir := t.TempDir()
	os.Chmod(dir, 0o700)
	l, _ := ledger.Open(dir)
	// A File entry whose path is now a directory: removeIf refuses it.
	path := dir + "/was-a-file"
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	id, err := identityOf(ledger.Entry{Type: ledger.File, Name: path})
	if err != nil {
		t.Fatal(err)
	}
	en, err := l.Add(ledger.Entry{Type: ledger.File, Name: path, RunID: "r-x", CreatorPID: deadPID(t), CreatorStart: 1, Identity: id})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Reap(l, false)
	if err == nil || len(rep.Removed) != 0 {
		t.Errorf("a failed removal: err %v, report %s", err, rep.String(false))
	}
	if es, _ := l.Entries(); len(es) != 1 || es[0].Key() != en.Key() {
		t.Errorf("the entry of a failed removal was dropped: %+v", es)
	}
}

// deadPID is the pid of a process that has exited.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	return cmd.Process.Pid
}
