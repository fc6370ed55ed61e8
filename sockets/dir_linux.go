package sockets

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// EnsurePrivateDir makes dir a private socket directory. A missing dir is
// created with mode 0700 whatever the umask (missing parents too, with 0700
// minus the umask). An existing dir is never changed: it must be a directory,
// not a symlink, owned by the effective uid, with permission bits exactly
// 0700 (setgid and sticky bits are tolerated), or EnsurePrivateDir returns an
// error matching ErrInsecureDir that names the directory, its owner and mode.
func EnsurePrivateDir(dir string) error {
	if dir == "" {
		return fmt.Errorf("sockets: empty directory name")
	}
	dir = filepath.Clean(dir)
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
			return fmt.Errorf("sockets: create socket directory: %w", err)
		}
		switch err := os.Mkdir(dir, 0o700); {
		case err == nil:
			// Ours: undo the umask.
			if err := os.Chmod(dir, 0o700); err != nil {
				return fmt.Errorf("sockets: create socket directory: %w", err)
			}
		case errors.Is(err, fs.ErrExist):
			// Lost a race; check whoever made it below.
		default:
			return fmt.Errorf("sockets: create socket directory: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("sockets: socket directory: %w", err)
	}
	return checkPrivateDir(dir)
}

// checkPrivateDir checks that dir is a directory (not a symlink) owned by the
// effective uid with permission bits exactly 0700. Only the last path
// component is checked for a symlink: the directory's ancestors are the
// caller's choice.
func checkPrivateDir(dir string) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("sockets: socket directory: %w", err)
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return fmt.Errorf("%w: %s is a symlink", ErrInsecureDir, dir)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%w: %s is not a directory (%s)", ErrInsecureDir, dir, fileKind(fi.Mode()))
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("sockets: socket directory %s: no owner information", dir)
	}
	euid := os.Geteuid()
	// Permission bits must be exactly rwx------; setgid and sticky are
	// harmless on a directory and ignored.
	if int(st.Uid) != euid || st.Mode&0o777 != 0o700 {
		return fmt.Errorf("%w: %s is owned by uid %d with mode %04o; want owner uid %d and mode 0700",
			ErrInsecureDir, dir, st.Uid, st.Mode&0o7777, euid)
	}
	return nil
}

// fileKind names the type of a file for messages.
func fileKind(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "regular file"
	case m.IsDir():
		return "directory"
	case m&fs.ModeSymlink != 0:
		return "symlink"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "block device"
	}
	return "file of mode " + m.String()
}
