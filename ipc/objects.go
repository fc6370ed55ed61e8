package ipc

import (
	"fmt"
	"os"
	"sort"

	"github.com/ipcplay/ipcplay/ipc/ledger"
	"github.com/ipcplay/ipcplay/ipc/sysobj"
)

// Objects lists ipcplay's own live objects (from the ledger), or with all
// every IPC object on the machine, marking ipcplay's with their run id and
// whether their creator is gone (stale). With an error and a non-nil list,
// the list is partial: what could be read.
func (e *Engine) Objects(all bool) ([]Object, error) {
	entries, err := e.ledger.Entries()
	if err != nil {
		return nil, err
	}
	sys, sysErr := listSystem()
	if !all {
		sysErr = withoutMqueue(sysErr)
	}
	// System names come escaped (sysobj.EscapeName); ledger names are
	// bytes: compare in the escaped form.
	byKey := map[string]ledger.Entry{}
	for _, en := range entries {
		byKey[escapedKey(en)] = en
	}
	out := []Object{}
	seen := map[string]bool{}
	for _, o := range sys {
		key := objectKey(o)
		en, ours := byKey[key]
		if ours {
			run := en.RunID
			o.RunID = &run
			o.Stale = en.Stale()
			if o.CreatorPID == 0 {
				o.CreatorPID = en.CreatorPID
			}
			seen[key] = true
		}
		if ours || all {
			out = append(out, o)
		}
	}
	// Ledger entries the system listing did not show (helper files and
	// dirs, or objects it cannot see) are still ipcplay's.
	for _, en := range entries {
		if seen[escapedKey(en)] || en.Type == ledger.Dir || en.Type == ledger.File {
			continue
		}
		if _, err := os.Stat("/proc/sysvipc"); err == nil && sysErr == nil && !exists(en) {
			continue // the object is already gone; the entry is the reaper's business
		}
		run := en.RunID
		out = append(out, Object{Type: en.Type, ID: en.ID, Name: displayName(en), CreatorPID: en.CreatorPID, RunID: &run, Stale: en.Stale(), OwnerUID: os.Geteuid(), Mode: "0600"})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Type != out[j].Type {
			return out[i].Type < out[j].Type
		}
		if out[i].ID != out[j].ID {
			return out[i].ID < out[j].ID
		}
		return out[i].Name < out[j].Name
	})
	return out, sysErr
}

// objectKey matches a system object with a ledger entry key.
func objectKey(o Object) string {
	if o.Name != "" && o.Type != ledger.SysVShm && o.Type != ledger.SysVSem && o.Type != ledger.SysVMsg {
		name := o.Name
		if o.Type != ledger.UnixSocket && len(name) > 0 && name[0] == '/' {
			name = name[1:]
		}
		return o.Type + ":" + name
	}
	return fmt.Sprintf("%s:%d", o.Type, o.ID)
}

// escapedKey is en.Key() with the name in sysobj's escaped form.
func escapedKey(en ledger.Entry) string {
	if en.Name != "" {
		return en.Type + ":" + sysobj.EscapeName(en.Name)
	}
	return en.Key()
}

// displayName shows POSIX names the way C programs pass them, in the
// escaped form of every name ipcplay prints (sysobj.EscapeName).
func displayName(en ledger.Entry) string {
	switch en.Type {
	case ledger.POSIXShm, ledger.POSIXSem, ledger.POSIXMQ:
		return "/" + sysobj.EscapeName(en.Name)
	}
	return sysobj.EscapeName(en.Name)
}

// exists reports whether the object of en is still there.
func exists(en ledger.Entry) bool {
	switch en.Type {
	case ledger.POSIXShm:
		_, err := os.Lstat("/dev/shm/" + en.Name)
		return err == nil
	case ledger.POSIXSem:
		_, err := os.Lstat("/dev/shm/sem." + en.Name)
		return err == nil
	case ledger.POSIXMQ:
		if _, err := os.Stat("/dev/mqueue"); err != nil {
			return true // not mounted: cannot tell
		}
		_, err := os.Lstat("/dev/mqueue/" + en.Name)
		return err == nil
	case ledger.UnixSocket, ledger.File, ledger.Dir:
		_, err := os.Lstat(en.Name)
		return err == nil
	case ledger.SysVShm:
		return sysvOurs("shm", en)
	case ledger.SysVSem:
		return sysvOurs("sem", en)
	case ledger.SysVMsg:
		return sysvOurs("msg", en)
	}
	return true
}
