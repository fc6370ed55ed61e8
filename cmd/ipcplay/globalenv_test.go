package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// A global flag typed on the command line wins over its environment
// variable wherever it is placed: before the command too (urfave/cli had
// applied the variable to the command's copy of the flag, which hid the
// one before the command).
func TestGlobalFlagBeatsEnvironmentAnywhere(t *testing.T) {
	d := startDaemon(t, newStateDir(t))
	none := filepath.Join(newStateDir(t), "none.sock")
	for _, c := range []struct {
		env  string
		args []string
		code int
	}{
		{"IPCPLAY_SOCKET=" + none, []string{"--socket", d.socket, "--require-daemon", "status"}, 0},
		{"IPCPLAY_SOCKET=" + none, []string{"--require-daemon", "status", "--socket", d.socket}, 0},
		{"IPCPLAY_SOCKET=" + d.socket, []string{"--socket", none, "--require-daemon", "status"}, 1},
		{"IPCPLAY_SOCKET=" + d.socket, []string{"--require-daemon", "status", "--socket", none}, 1},
		{"IPCPLAY_SOCKET=" + d.socket, []string{"--require-daemon", "status"}, 0},
		{"IPCPLAY_LOG_LEVEL=bogus", []string{"--log-level", "warn", "version"}, 0},
		{"IPCPLAY_LOG_LEVEL=bogus", []string{"version"}, 2},
		{"IPCPLAY_LOG_FORMAT=bogus", []string{"--log-format", "text", "version"}, 0},
		{"IPCPLAY_LOG_FORMAT=bogus", []string{"version", "--log-format", "json"}, 0},
		{"IPCPLAY_LOG_LEVEL=bogus", []string{"--log-level", "info", "daemon", "--help"}, 0},
	} {
		r := runCLIEnv(t, []string{c.env}, c.args...)
		if r.code != c.code {
			t.Errorf("%s ipcplay %s: exit %d, want %d\nstdout: %s\nstderr: %s", c.env, strings.Join(c.args, " "), r.code, c.code, r.stdout, r.stderr)
		}
	}
}
