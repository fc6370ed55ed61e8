package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/ipcplay/ipcplay/ipc"
	"github.com/ipcplay/ipcplay/sockets"
)

// stateDirSource names where an engine's state directory dir came from,
// for messages: the variable, the daemon's flag, or the socket's path.
func stateDirSource(c interface{ IsSet(string) bool }, dir, socket string) string {
	switch {
	case c != nil && c.IsSet("state-dir") && os.Getenv("IPCPLAY_STATE_DIR") != dir:
		return "--state-dir"
	case os.Getenv("IPCPLAY_STATE_DIR") == dir:
		return "IPCPLAY_STATE_DIR"
	case socket != "" && filepath.Dir(socket) == dir:
		return "the socket's directory (--socket or IPCPLAY_SOCKET)"
	}
	return "the state directory"
}

// checkPrivateDir refuses, as bad input (exit 2) naming where it came from
// (source: "IPCPLAY_STATE_DIR", "--state-dir", ...), a directory the user
// gave that exists but is not private: a directory of ours with mode
// 0700 (sockets.EnsurePrivateDir's rule, which the engine applies again).
// A directory that does not exist yet is left to the engine to create.
func checkPrivateDir(dir, source string) error {
	fi, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err == nil {
		err = sockets.EnsurePrivateDir(dir) // exists: only checks
	}
	if !errors.Is(err, sockets.ErrInsecureDir) {
		return err
	}
	what := "is not private"
	switch st, _ := fi.Sys().(*syscall.Stat_t); {
	case fi.Mode()&fs.ModeSymlink != 0:
		what = "is a symlink"
	case !fi.IsDir():
		what = "is not a directory"
	case st != nil && int(st.Uid) != os.Geteuid():
		what = fmt.Sprintf("belongs to uid %d (mode %04o)", st.Uid, st.Mode&0o7777)
	case st != nil:
		what = fmt.Sprintf("is mode %04o", st.Mode&0o7777)
	}
	return ipc.Usagef("%s %s %s: must be a directory with mode 0700 and yours (uid %d), since the ledger and sockets there must be private (chmod 700 %s, or name another directory)", source, dir, what, os.Geteuid(), dir)
}
