package ipc

import (
	"path/filepath"
	"testing"
)

// TestDefaultStateDir: the ledger lives next to a socket file, and in the
// default directory for an abstract socket (issue 12: "@name" gave ".",
// the working directory).
func TestDefaultStateDir(t *testing.T) {
	rt := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", rt)
	t.Setenv("IPCPLAY_STATE_DIR", "")
	def := filepath.Join(rt, "ipcplay")
	for _, tc := range []struct{ socket, want string }{
		{"@ipcplay-test", def},
		{"@", def},
		{"", def},
		{"/some/dir/d.sock", "/some/dir"},
	} {
		if got := DefaultStateDir(tc.socket); got != tc.want {
			t.Errorf("DefaultStateDir(%q) = %q, want %q", tc.socket, got, tc.want)
		}
	}
	t.Setenv("IPCPLAY_STATE_DIR", "/elsewhere")
	if got := DefaultStateDir("@ipcplay-test"); got != "/elsewhere" {
		t.Errorf("with IPCPLAY_STATE_DIR: %q, want /elsewhere", got)
	}
}
