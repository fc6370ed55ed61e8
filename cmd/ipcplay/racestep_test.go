package main

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// race --step in a terminal: keys move the workers; once both have
// finished the prompt says so instead of offering keys that move nothing;
// q (or f, which finishes the run) ends it with the replay line, no
// progress bar in the output, and the terminal is restored to the state
// it was in.
func TestRaceStepInATerminal(t *testing.T) {
	for _, last := range []string{"q", "f"} {
		t.Run(last, func(t *testing.T) { raceStepInATerminal(t, last) })
	}
}

func raceStepInATerminal(t *testing.T, last string) {
	master, slave := openPTY(t)
	before, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	dir := newStateDir(t)
	cmd := cliCmd(t, "race", "--local", "--socket", filepath.Join(dir, "d.sock"), "--mode", "unsafe", "--procs", "2", "--iters", "1", "--step")
	cmd.Stdin, cmd.Stdout = slave, slave
	// stderr on the terminal too, where a progress bar would be drawn.
	var errb syncBuffer
	cmd.Stderr = slave
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setsid, cmd.SysProcAttr.Setctty, cmd.SysProcAttr.Ctty = true, true, 0
	cmd.SysProcAttr.Setpgid = false
	done, err := startLocked(cmd)
	if err != nil {
		t.Fatal(err)
	}
	var screen syncBuffer
	got := make(chan struct{}, 1)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			if n > 0 {
				screen.Write(buf[:n])
				select {
				case got <- struct{}{}:
				default:
				}
			}
			if err != nil {
				return
			}
		}
	}()
	// Each key is sent once the screen it answers is drawn (no timing in
	// the assertions: the waits only bound a hung run).
	var waitText func(n int, text string)
	waitFor := func(n int) {
		waitText(n, "press 1-2 to move a worker")
	}
	waitText = func(n int, text string) {
		deadline := time.After(time.Minute)
		for strings.Count(screen.String(), text) < n {
			select {
			case <-got:
			case <-deadline:
				t.Fatalf("screen %d not drawn:\n%s\nstderr: %s", n, screen.String(), errb.String())
			case <-done:
				t.Fatalf("ipcplay ended early:\n%s\nstderr: %s", screen.String(), errb.String())
			}
		}
	}
	for i, k := range "1212" {
		waitFor(i + 1)
		master.Write([]byte{byte(k)})
	}
	waitText(1, "every worker has finished")
	if n := strings.Count(screen.String(), "press 1-2 to move a worker"); n != 4 {
		t.Errorf("the prompt offered keys on %d screens, want 4 (not once both workers had finished):\n%s", n, screen.String())
	}
	master.Write([]byte(last))
	select {
	case <-done:
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		<-done
		t.Fatal("no exit after q")
	}
	time.Sleep(100 * time.Millisecond) // let the reader take the last output
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit %d\nstderr: %s", code, errb.String())
	}
	after, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if before.Lflag != after.Lflag || before.Iflag != after.Iflag || before.Oflag != after.Oflag {
		t.Errorf("terminal not restored: lflag %#x -> %#x, iflag %#x -> %#x", before.Lflag, after.Lflag, before.Iflag, after.Iflag)
	}
	out := screen.String()
	for _, want := range []string{"one increment lost", "replay: ipcplay race --mode unsafe --procs 2 --iters 1 --schedule P1,P2,P1,P2"} {
		if !strings.Contains(out, want) {
			t.Errorf("screen lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "scheduled 0%") || strings.Contains(out, "(0/2)") {
		t.Errorf("a progress bar leaked into the output:\n%s", out)
	}
	noRunLeftovers(t, dir)
}
