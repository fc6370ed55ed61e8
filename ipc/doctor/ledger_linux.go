package doctor

import (
	"errors"

	"github.com/ipcplay/ipcplay/ipc/ledger"
)

// ledgerCheck is the one line doctor gives a ledger it cannot use (corrupt,
// a symbolic link, not a regular file, another user's): a failure, since
// no run can record its objects, with the way out. bad is false when the
// ledger reads (the leftovers check then says what it holds).
func ledgerCheck(l *ledger.Ledger) (c Check, bad bool) {
	err := l.Check()
	if err == nil {
		return Check{}, false
	}
	c = Check{Name: "ledger", Status: Fail, Detail: err.Error()}
	var ue *ledger.UntrustedError
	if errors.As(err, &ue) {
		c.Detail = ue.Path + " " + ue.Why + ": it cannot be trusted to find the objects crashed runs leaked, and no run can record its objects"
		c.Advice = ue.Advice()
	}
	return c, true
}
