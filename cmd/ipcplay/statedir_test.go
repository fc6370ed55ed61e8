package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A state directory the user gave that is not private is bad input (exit
// 2) named by where it came from, and nothing is created in it.
func TestInsecureStateDirIsBadInput(t *testing.T) {
	dir := newStateDir(t)
	open := filepath.Join(dir, "st755")
	if err := os.Mkdir(open, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o755); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "none.sock")
	for _, c := range []struct {
		env  []string
		args []string
		want string
	}{
		{[]string{"IPCPLAY_STATE_DIR=" + open}, []string{"race", "--mode", "atomic", "--iters", "10", "--socket", sock}, "race: IPCPLAY_STATE_DIR " + open + " is mode 0755: must be a directory with mode 0700 and yours"},
		{[]string{"IPCPLAY_STATE_DIR=" + open}, []string{"daemon", "--socket", sock}, "daemon: IPCPLAY_STATE_DIR " + open + " is mode 0755"},
		{nil, []string{"daemon", "--socket", sock, "--state-dir", open}, "daemon: --state-dir " + open + " is mode 0755"},
		{nil, []string{"race", "--mode", "atomic", "--iters", "10", "--socket", filepath.Join(open, "d.sock")}, "race: the socket's directory (--socket or IPCPLAY_SOCKET) " + open + " is mode 0755"},
	} {
		r := runCLIEnv(t, c.env, c.args...)
		if r.code != 2 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v ipcplay %v: exit %d, stderr %q; want exit 2 and %q", c.env, c.args, r.code, r.stderr, c.want)
		}
		if names, _ := os.ReadDir(open); len(names) != 0 {
			t.Errorf("ipcplay %v created %v in %s", c.args, names, open)
		}
		if _, err := os.Lstat(sock); err == nil {
			t.Errorf("ipcplay %v created %s", c.args, sock)
		}
	}
}
