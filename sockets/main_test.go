package sockets

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipcplay/ipcplay/ipc/ipctest"
)

// helpers are the child-process entry points, run by re-executing the test
// binary (see ipctest.Helper). They live in helpers_test.go.
var helpers = map[string]func(){
	"echo-client": helperEchoClient,
	"pair-peer":   helperPairPeer,
	"fds-peer":    helperFDsPeer,
	"listen-hold": helperListenHold,
	"echo-raw":    helperEchoRaw,
	"echo-conn":   helperEchoConn,
}

func TestMain(m *testing.M) { ipctest.Main(m, helpers) }

// testTimeout bounds every wait in the tests.
const testTimeout = 20 * time.Second

// sockDir returns a private (0700) directory for socket files, short enough
// for sun_path, removed at the end of the test. t.TempDir's subdirectories
// are created 0777 minus the umask, so it is chmod-ed.
func sockDir(t testing.TB) string {
	t.Helper()
	d := t.TempDir()
	if len(d) > 70 {
		var err error
		if d, err = os.MkdirTemp("/tmp", "ipcplay-sock-"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(d) })
	}
	if err := os.Chmod(d, 0o700); err != nil {
		t.Fatal(err)
	}
	return d
}

// sockPath returns a socket path named name in a fresh private directory.
func sockPath(t testing.TB, name string) string {
	t.Helper()
	return filepath.Join(sockDir(t), name)
}

// abstractName returns an abstract address unique to this test run.
func abstractName(t testing.TB, suffix string) string {
	t.Helper()
	n := "@" + ipctest.Prefix() + suffix
	if len(n) > MaxAbstractLen {
		t.Fatalf("abstract name %q too long", n)
	}
	return n
}

// startHelper starts a helper child made by ipctest.Helper and kills it at
// the end of the test if it is still running. Under the race detector the
// child would sleep a second at exit (atexit_sleep_ms defaults to 1000): it
// is told not to.
func startHelper(t testing.TB, cmd *exec.Cmd) {
	t.Helper()
	cmd.Env = append(cmd.Env, "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	if err := cmd.Start(); err != nil {
		t.Fatalf("start helper: %v", err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
}

// waitHelper waits for a started helper to exit successfully, killing it
// after testTimeout.
func waitHelper(t testing.TB, cmd *exec.Cmd) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("helper %v: %v", cmd.Args, err)
		}
	case <-time.After(testTimeout):
		cmd.Process.Kill()
		<-done
		t.Fatalf("helper %v: no exit after %v; killed", cmd.Args, testTimeout)
	}
}

// deadline sets a testTimeout deadline on c.
func deadline(t testing.TB, c interface{ SetDeadline(time.Time) error }) {
	t.Helper()
	if err := c.SetDeadline(time.Now().Add(testTimeout)); err != nil {
		t.Fatal(err)
	}
}

// pattern returns n deterministic bytes that differ with seed.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31) + seed
	}
	return b
}

func mustEqual(t testing.TB, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: got %d bytes %.32q..., want %d bytes %.32q...", what, len(got), got, len(want), want)
	}
}
