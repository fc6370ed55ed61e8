package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestWatchSnapshotsAndJSON(t *testing.T) {
	o := createObjs(t)
	r := runCLI(t, "watch", "--count", "2", "--interval", "100ms", "sysv-sem", o.semid, "posix-sem", o.prefix+"sem", "sysv-shm", o.shmid)
	if r.code != 0 || strings.Count(r.stdout, " snapshot ") != 2 || !strings.Contains(r.stdout, "values 1,0,7  ncnt 0,0,0  zcnt 0,0,0") ||
		!strings.Contains(r.stdout, "value 3  waiters 0") || !strings.Contains(r.stdout, "nattch 1") {
		t.Errorf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	doc := oneDoc(t, runCLI(t, "watch", "--json", "--count", "1", "sysv-sem", o.semid))
	snaps, _ := doc["snapshots"].([]any)
	if doc["kind"] != "watch" || len(snaps) != 1 {
		t.Fatalf("%v", doc)
	}
	objs, _ := snaps[0].(map[string]any)["objects"].([]any)
	if len(objs) != 1 || nums(objs[0].(map[string]any)["values"]) != "[1 0 7]" {
		t.Errorf("%v", snaps[0])
	}
	// Every object of a type, twice.
	doc = oneDoc(t, runCLI(t, "watch", "sysv-msg", "--count=2", "--interval=0.1", "--json"))
	snaps, _ = doc["snapshots"].([]any)
	if len(snaps) != 2 || !strings.Contains(fmt.Sprint(snaps[1]), "messages:2") {
		t.Errorf("%v", doc)
	}
}

// TestWatchInterruptExitsCleanly: Ctrl-C (SIGINT) ends a watch that is
// not on a terminal with exit status 0.
func TestWatchInterruptExitsCleanly(t *testing.T) {
	cmd := cliCmd(t, "watch", "--interval", "100ms", "sysv-shm")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	snapshots := make(chan struct{}, 100)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.Contains(sc.Text(), " snapshot ") {
				snapshots <- struct{}{}
			}
		}
	}()
	for i := 0; i < 2; i++ { // two snapshots: the refresh loop runs
		select {
		case <-snapshots:
		case <-time.After(objWaitTimeout):
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatal("no snapshot")
		}
	}
	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("after SIGINT: %v", err)
		}
	case <-time.After(objWaitTimeout):
		cmd.Process.Kill()
		<-done
		t.Fatal("watch did not exit on SIGINT")
	}
}

// openPTY returns the master and the slave of a new pseudo-terminal.
func openPTY(t *testing.T) (*os.File, *os.File) {
	t.Helper()
	m, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here (/dev/ptmx: %v): the terminal mode of watch is not checked", err)
	}
	master := os.NewFile(uintptr(m), "ptmx")
	t.Cleanup(func() { master.Close() })
	if err := unix.IoctlSetPointerInt(m, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(m, unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	slave, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("cannot open the pty slave: %v", err)
	}
	t.Cleanup(func() { slave.Close() })
	if err := unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 30, Col: 120}); err != nil {
		t.Fatal(err)
	}
	return master, slave
}

// TestWatchTerminalQuits runs watch on a pseudo-terminal: it switches to
// the alternate screen and raw mode, draws the table, and q or Ctrl-C ends
// it with the terminal restored.
func TestWatchTerminalQuits(t *testing.T) {
	for _, key := range []byte{'q', 3} {
		t.Run(fmt.Sprintf("key %q", key), func(t *testing.T) {
			master, slave := openPTY(t)
			before, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
			if err != nil {
				t.Fatal(err)
			}
			var screen syncBuffer
			go func() {
				buf := make([]byte, 4096)
				for {
					n, err := master.Read(buf)
					if err != nil {
						return
					}
					screen.Write(buf[:n])
				}
			}()
			old := watchStdin
			watchStdin = slave
			defer func() { watchStdin = old }()
			app := newApp()
			app.Writer = slave
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- app.RunContext(ctx, []string{"ipcplay", "watch", "--interval", "100ms", "sysv-shm"}) }()
			objPoll(t, "the table on the alternate screen, in raw mode", func() (bool, string) {
				raw := false
				if tio, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS); err == nil {
					raw = tio.Lflag&unix.ICANON == 0 && tio.Lflag&unix.ECHO == 0
				}
				s := screen.String()
				return raw && strings.Contains(s, "\x1b[?1049h") && strings.Contains(s, "q quits") && strings.Contains(s, "TYPE"), fmt.Sprintf("raw %v, screen %q", raw, s)
			})
			if _, err := master.Write([]byte{key}); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("watch: %v", err)
				}
			case <-time.After(objWaitTimeout):
				cancel()
				t.Fatalf("watch did not quit on %q; screen %q", key, screen.String())
			}
			after, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
			if err != nil {
				t.Fatal(err)
			}
			if after.Lflag != before.Lflag || after.Iflag != before.Iflag || after.Oflag != before.Oflag {
				t.Errorf("terminal not restored: before %+v after %+v", before, after)
			}
			objPoll(t, "the normal screen back and the cursor shown", func() (bool, string) {
				s := screen.String()
				return strings.HasSuffix(s, "\x1b[?25h\x1b[?1049l"), fmt.Sprintf("%q", s[max(0, len(s)-40):])
			})
		})
	}
}
