// Package outfile writes the files that ipcplay's flags name (--html,
// --trace, --plot) and its own state files: privately and atomically.
//
// The project's rule for files it creates is O_EXCL|O_NOFOLLOW and mode
// 0600. A report goes first into a new temporary file in the target's
// directory, created with O_CREAT|O_EXCL|O_NOFOLLOW and mode 0600 (so it
// is never an existing file or a symlink planted there), is written and
// fsynced, and is then renamed over the target. rename(2) replaces the
// target itself: an existing file is replaced, and a symlink at the
// target is replaced, never followed, so a link planted at the name
// cannot redirect the write elsewhere. Readers see the old file or the
// whole new one, never a part. On any error the temporary file is
// removed and the target is left as it was.
//
// The package uses only the standard library and golang.org/x/sys/unix,
// so that any package may use it (the ledger included).
package outfile

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Mode is the mode of every file this package creates: the owner's only.
const Mode = 0o600

// maxBase bounds the part of the target's name kept in the temporary
// file's name, so that it stays under NAME_MAX (255 bytes).
const maxBase = 200

// Write creates or replaces the file path with what write writes, mode
// 0600, atomically (see the package doc). write gets the temporary file,
// unbuffered (wrap it in a bufio.Writer for many small writes). Its
// error, or any error of creating, writing, syncing or renaming, is
// returned wrapped with the path; the temporary file is then removed and
// the target left as it was.
func Write(path string, write func(w io.Writer) error) (retErr error) {
	dir, base := filepath.Split(path)
	if base == "" {
		return fmt.Errorf("write %s: no file name", path)
	}
	if dir == "" {
		dir = "."
	}
	f, tmp, err := createTemp(dir, base)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if retErr != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	// The umask may only have taken bits away; say 0600 whatever it is.
	if err := f.Chmod(Mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := write(f); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	// The rename is durable once the directory is synced; a failure
	// here loses nothing written.
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// WriteBytes is Write of b.
func WriteBytes(path string, b []byte) error {
	return Write(path, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}

// createTemp creates ".BASE.RANDOM.tmp" in dir with O_CREAT|O_EXCL|
// O_NOFOLLOW, mode 0600, trying new random names while one exists.
func createTemp(dir, base string) (*os.File, string, error) {
	if len(base) > maxBase {
		base = base[:maxBase]
	}
	for i := 0; ; i++ {
		var r [8]byte
		if _, err := rand.Read(r[:]); err != nil {
			return nil, "", err
		}
		name := filepath.Join(dir, "."+base+"."+hex.EncodeToString(r[:])+".tmp")
		fd, err := unix.Open(name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, Mode)
		if errors.Is(err, unix.EINTR) || (errors.Is(err, unix.EEXIST) && i < 100) {
			continue
		}
		if err != nil {
			return nil, "", &os.PathError{Op: "create", Path: name, Err: err}
		}
		return os.NewFile(uintptr(fd), name), name, nil
	}
}

// CheckTarget checks, before anything runs, that path can name an output
// file: its directory exists, is a directory and is writable (access(2)
// W_OK), and path is not itself a directory. It returns the absolute path; an error says what is wrong in
// words that follow the flag and the value ("the directory /x does not
// exist").
func CheckTarget(path string) (string, error) {
	if path == "" {
		return "", errors.New("no file name")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	dir := filepath.Dir(abs)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return "", fmt.Errorf("the directory %s does not exist", dir)
	}
	// The temporary file is created there: the directory must be
	// writable, whatever the target's own permissions.
	if err := unix.Access(dir, unix.W_OK|unix.X_OK); err != nil {
		return "", fmt.Errorf("cannot create a file in %s: %w", dir, os.NewSyscallError("access", err))
	}
	if st, err := os.Lstat(abs); err == nil && st.IsDir() {
		return "", errors.New("is a directory; give a file name")
	}
	return abs, nil
}
