package ipc

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// DefaultDir is where the daemon's socket and the ledger live:
// $XDG_RUNTIME_DIR/ipcplay, else /run/ipcplay for root, else
// /tmp/ipcplay-$UID. IPC objects do not survive a reboot, and neither do
// these runtime directories, so the ledger never outlives what it names.
func DefaultDir() string {
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "ipcplay")
	}
	if os.Geteuid() == 0 {
		return "/run/ipcplay"
	}
	return filepath.Join(os.TempDir(), "ipcplay-"+strconv.Itoa(os.Geteuid()))
}

// DefaultSocket is the daemon's control socket path in DefaultDir.
func DefaultSocket() string { return filepath.Join(DefaultDir(), "ipcplay.sock") }

// DefaultStateDir is the directory of the ledger: $IPCPLAY_STATE_DIR, else
// the directory of socket (so a daemon and the CLIs that talk to it share
// one ledger), else DefaultDir. An abstract socket ("@name", see
// unix(7)) has no directory, so it gets DefaultDir too: filepath.Dir
// would say ".", and the ledger would land in the working directory.
func DefaultStateDir(socket string) string {
	if d := os.Getenv("IPCPLAY_STATE_DIR"); d != "" {
		return d
	}
	if socket != "" && !strings.HasPrefix(socket, "@") {
		return filepath.Dir(socket)
	}
	return DefaultDir()
}
