package ipc

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ipcplay/ipcplay/ipc/ledger"
	"github.com/ipcplay/ipcplay/ipc/mq"
	"github.com/ipcplay/ipcplay/ipc/sysobj"
	"github.com/ipcplay/ipcplay/semaphore"
	"github.com/ipcplay/ipcplay/shm"
)

// CleanReport is what Reap (clean, the start-up reaper) did with the
// objects of crashed runs, each kind apart.
type CleanReport struct {
	// Removed were removed (in a dry run: would be). Their entries are
	// dropped.
	Removed []ledger.Entry `json:"objects"`
	// Gone no longer existed (someone removed them): entries dropped.
	Gone []ledger.Entry `json:"already_gone"`
	// LeftAlone were not touched: another object has the id or name now
	// (its entry is dropped: ours is gone), or it cannot be proved ours
	// (its entry is kept).
	LeftAlone []LeftAlone `json:"left_alone"`
}

// LeftAlone is an object the reaper did not touch, and why.
type LeftAlone struct {
	ledger.Entry
	Reason string `json:"reason"`
}

// Reap removes the objects of ledger entries whose creator is gone and
// whose identity (recorded at creation) is proved, and drops those
// entries. With dryRun it only sorts them. Objects the ledger does not
// name are never touched; an object that now belongs to someone else (a
// reused System V id or name) is left alone and reported apart; a removal
// that fails is an error and the entry stays. When the ledger cannot be
// read (a *ledger.UntrustedError) there is no report, only the error.
func Reap(l *ledger.Ledger, dryRun bool) (*CleanReport, error) {
	rep := &CleanReport{Removed: []ledger.Entry{}, Gone: []ledger.Entry{}, LeftAlone: []LeftAlone{}}
	var errs []error
	err := l.Update(func(entries []ledger.Entry) ([]ledger.Entry, error) {
		keep := entries[:0:0]
		for _, e := range entries {
			if !e.Stale() {
				keep = append(keep, e)
				continue
			}
			v, why := prove(e)
			switch v {
			case vGone:
				rep.Gone = append(rep.Gone, e)
				continue
			case vNotOurs:
				rep.LeftAlone = append(rep.LeftAlone, LeftAlone{e, why})
				continue
			case vUnproved:
				rep.LeftAlone = append(rep.LeftAlone, LeftAlone{e, why})
				keep = append(keep, e)
				continue
			}
			if dryRun {
				rep.Removed = append(rep.Removed, e)
				continue
			}
			gone, err := RemoveObject(e)
			switch {
			case err != nil:
				errs = append(errs, fmt.Errorf("remove %s: %w", Describe(e), err))
				keep = append(keep, e)
			case gone:
				rep.Gone = append(rep.Gone, e)
			default:
				rep.Removed = append(rep.Removed, e)
			}
		}
		if dryRun {
			return entries, nil
		}
		return keep, nil
	})
	if err != nil && len(errs) == 0 {
		// The ledger itself could not be read (or written): no report,
		// since an empty one would say "nothing to clean".
		return nil, err
	}
	return rep, errors.Join(append(errs, err)...)
}

// Describe names a ledger entry's object as every output of ipcplay names
// it: "posix-shm /ipcplay.r-1.a" (Entry.String), the name escaped
// (sysobj.EscapeName).
func Describe(e ledger.Entry) string { return sysobj.EscapeName(e.String()) }

// RemoveObject removes the object an entry names. gone reports an object
// that no longer existed (nothing was removed).
func RemoveObject(e ledger.Entry) (gone bool, err error) {
	switch e.Type {
	case ledger.SysVShm:
		err = shm.RemoveSysV(e.ID)
	case ledger.SysVSem:
		err = semaphore.RemoveSet(e.ID)
	case ledger.SysVMsg:
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
		return false, fmt.Errorf("unknown object type %q in the ledger", e.Type)
	}
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EIDRM) ||
		errors.Is(err, shm.ErrNotFound) || errors.Is(err, semaphore.ErrNotFound) || errors.Is(err, mq.ErrNotFound) {
		return true, nil
	}
	return false, err
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

// String lists the report for people: one line per object.
func (r *CleanReport) String(dryRun bool) string {
	var b strings.Builder
	verb := "removed"
	if dryRun {
		verb = "would remove"
	}
	for _, e := range r.Removed {
		fmt.Fprintf(&b, "%s %s (run %s, creator pid %d, gone)\n", verb, Describe(e), e.RunID, e.CreatorPID)
	}
	for _, e := range r.Gone {
		fmt.Fprintf(&b, "already gone: %s (run %s): someone else removed it\n", Describe(e), e.RunID)
	}
	for _, e := range r.LeftAlone {
		fmt.Fprintf(&b, "left alone: %s (run %s): %s\n", Describe(e.Entry), e.RunID, e.Reason)
	}
	return b.String()
}
