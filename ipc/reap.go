package ipc

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ipcplay/ipcplay/ipc/ledger"
	"github.com/ipcplay/ipcplay/ipc/mq"
	"github.com/ipcplay/ipcplay/semaphore"
	"github.com/ipcplay/ipcplay/shm"
)

// Reap removes the objects of ledger entries whose creator is gone, and
// drops those entries. With dryRun it only lists them. Objects the ledger
// does not name are never touched, and an entry whose object now belongs
// to someone else (a reused System V id) is dropped without removing it.
func Reap(l *ledger.Ledger, dryRun bool) ([]ledger.Entry, error) {
	var reaped []ledger.Entry
	var errs []error
	err := l.Update(func(entries []ledger.Entry) ([]ledger.Entry, error) {
		keep := entries[:0:0]
		for _, e := range entries {
			if !e.Stale() {
				keep = append(keep, e)
				continue
			}
			if dryRun {
				reaped = append(reaped, e)
				keep = append(keep, e)
				continue
			}
			if err := RemoveObject(e); err != nil {
				errs = append(errs, fmt.Errorf("remove %s: %w", e, err))
				keep = append(keep, e)
				continue
			}
			reaped = append(reaped, e)
		}
		if dryRun {
			return entries, nil
		}
		return keep, nil
	})
	return reaped, errors.Join(append(errs, err)...)
}

// RemoveObject removes the object an entry names. An object that no longer
// exists counts as removed.
func RemoveObject(e ledger.Entry) error {
	var err error
	switch e.Type {
	case ledger.SysVShm:
		if !sysvOurs("shm", e) {
			return nil
		}
		err = shm.RemoveSysV(e.ID)
	case ledger.SysVSem:
		if !sysvOurs("sem", e) {
			return nil
		}
		err = semaphore.RemoveSet(e.ID)
	case ledger.SysVMsg:
		if !sysvOurs("msg", e) {
			return nil
		}
		err = mq.RemoveSysV(e.ID)
	case ledger.POSIXShm:
		err = shm.RemovePOSIX(e.Name)
	case ledger.POSIXSem:
		err = semaphore.UnlinkNamed(e.Name)
	case ledger.POSIXMQ:
		err = mq.UnlinkPOSIX(e.Name)
	case ledger.UnixSocket, ledger.File:
		err = removeIf(e.Name, func(fi os.FileInfo) bool { return fi.Mode()&(os.ModeDir|os.ModeSymlink) == 0 })
	case ledger.Dir:
		err = removeIf(e.Name, func(fi os.FileInfo) bool { return fi.IsDir() })
		if err == nil {
			err = os.RemoveAll(e.Name)
		}
	default:
		return fmt.Errorf("unknown object type %q in the ledger", e.Type)
	}
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EIDRM) ||
		errors.Is(err, shm.ErrNotFound) || errors.Is(err, semaphore.ErrNotFound) || errors.Is(err, mq.ErrNotFound) {
		return nil
	}
	return err
}

// removeIf removes path when it exists and ok accepts it (never following a
// symlink).
func removeIf(path string, ok func(os.FileInfo) bool) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	if !ok(fi) {
		return fmt.Errorf("%s is not what the ledger recorded (%s); left alone", path, fi.Mode().Type())
	}
	if fi.IsDir() {
		return nil
	}
	return os.Remove(path)
}

// sysvOurs reports whether the System V object with the entry's id still
// looks like the one we created: private key, created by our uid, and for
// shared memory, created by the recorded pid.
func sysvOurs(kind string, e ledger.Entry) bool {
	b, err := os.ReadFile("/proc/sysvipc/" + kind)
	if err != nil {
		return true // cannot tell: trust the ledger (removal is by our uid anyway)
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 2 {
		return false
	}
	header := strings.Fields(lines[0])
	col := func(name string) int {
		for i, h := range header {
			if h == name {
				return i
			}
		}
		return -1
	}
	idCol := map[string]string{"shm": "shmid", "sem": "semid", "msg": "msqid"}[kind]
	iID, iKey, iCuid, iCpid := col(idCol), col("key"), col("cuid"), col("cpid")
	for _, line := range lines[1:] {
		f := strings.Fields(line)
		if iID < 0 || len(f) <= iID || f[iID] != fmt.Sprint(e.ID) {
			continue
		}
		if iKey >= 0 && f[iKey] != "0" {
			return false
		}
		if iCuid >= 0 && f[iCuid] != fmt.Sprint(os.Geteuid()) {
			return false
		}
		if kind == "shm" && iCpid >= 0 && f[iCpid] != fmt.Sprint(e.CreatorPID) {
			return false
		}
		return true
	}
	return false // gone already
}
