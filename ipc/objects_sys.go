package ipc

import (
	"errors"

	"github.com/ipcplay/ipcplay/ipc/sysobj"
)

// listSystem lists every IPC object on the machine (package sysobj). What
// it could not read is in the (joined) error; the list has the rest.
func listSystem() ([]Object, error) {
	objs, err := sysobj.List()
	out := make([]Object, 0, len(objs))
	for _, o := range objs {
		out = append(out, Object{
			Type: o.Type, ID: o.ID, Name: o.Name, OwnerUID: o.OwnerUID, Mode: o.Mode,
			Size: o.Size, CreatorPID: o.CreatorPID, Note: o.Note,
		})
	}
	return out, err
}

// withoutMqueue drops "no mqueue file system is mounted" from a listing's
// error: ipcplay's own message queues are still listed from the ledger.
func withoutMqueue(err error) error {
	if err == nil {
		return nil
	}
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		if errors.Is(err, sysobj.ErrMqueueNotMounted) {
			return nil
		}
		return err
	}
	var keep []error
	for _, e := range joined.Unwrap() {
		if !errors.Is(e, sysobj.ErrMqueueNotMounted) {
			keep = append(keep, e)
		}
	}
	return errors.Join(keep...)
}
