package ipc

import (
	"errors"
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
	var ue *ledger.UntrustedError
	var ledgerErr error
	switch {
	case err != nil && all && errors.As(err, &ue):
		// --all is how leftovers are found by hand when the ledger cannot
		// be trusted: list the machine's objects, none marked as ours.
		entries, ledgerErr = nil, fmt.Errorf("no object is marked as ipcplay's: %w", err)
	case err != nil:
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
	verdicts := map[string]verdict{}
	reasons := map[string]string{}
	for _, en := range entries {
		k := escapedKey(en)
		verdicts[k], reasons[k] = prove(en)
	}
	for _, o := range sys {
		key := objectKey(o)
		en, ours := byKey[key]
		if ours {
			seen[key] = true
			switch verdicts[key] {
			case vNotOurs:
				// The ledger's object is gone; this one has its id or name.
				ours = false
				o.Note = fmt.Sprintf("left alone: %s; the ledger's entry of run %s names it", reasons[key], en.RunID)
				out = append(out, o)
				continue
			case vUnproved:
				o.Note = "left alone by clean: " + reasons[key]
			}
			run := en.RunID
			o.RunID = &run
			o.Stale = en.Stale()
			if o.CreatorPID == 0 {
				o.CreatorPID = en.CreatorPID
			}
		}
		if ours || all {
			out = append(out, o)
		}
	}
	// Ledger entries the system listing did not show (helper files and
	// dirs, or objects it cannot see) are still ipcplay's.
	for _, en := range entries {
		k := escapedKey(en)
		if seen[k] || en.Type == ledger.Dir || en.Type == ledger.File {
			continue
		}
		if sysErr == nil && verdicts[k] == vGone {
			continue // the object is already gone; the entry is the reaper's business
		}
		run := en.RunID
		o := Object{Type: en.Type, ID: en.ID, Name: displayName(en), CreatorPID: en.CreatorPID, RunID: &run, Stale: en.Stale(), OwnerUID: os.Geteuid(), Mode: "0600"}
		if verdicts[k] == vUnproved {
			o.Note = "left alone by clean: " + reasons[k]
		}
		out = append(out, o)
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
	return out, errors.Join(ledgerErr, sysErr)
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
