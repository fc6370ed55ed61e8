package semaphore

import (
	"context"
	"time"

	"golang.org/x/sys/unix"
)

// waitSlice bounds one blocking system call while a context can still be
// cancelled: a cancelled wait returns at most this late. Futex waits are
// also woken at once on cancellation (see wakeOnDone), so for them the
// slice is only a safety net.
const waitSlice = 50 * time.Millisecond

// sliceFor returns the relative timeout for the next blocking call made on
// behalf of ctx: nil (no limit) when ctx can never be done, zero when it is
// done already (the call then only tries once without blocking), else the
// smaller of waitSlice and the time left before the deadline. The timeout
// is stored in *ts, which the caller keeps (on its stack).
func sliceFor(ctx context.Context, ts *unix.Timespec) *unix.Timespec {
	if ctx.Done() == nil {
		return nil
	}
	d := waitSlice
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl); left < d {
			d = max(left, 0)
		}
	}
	if ctx.Err() != nil {
		d = 0
	}
	*ts = unix.NsecToTimespec(int64(d))
	return ts
}

// doneErr reports why ctx is over: its error, or context.DeadlineExceeded
// as soon as the deadline has passed even if the context's own timer has
// not fired yet. It returns nil while the wait should go on.
func doneErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		return context.DeadlineExceeded
	}
	return nil
}

// wakeOnDone arranges for every futex waiter on addr to be woken when ctx
// is done, so that a cancelled wait returns at once. The other waiters see
// a spurious wake-up, which every futex algorithm here tolerates. The
// returned function undoes the arrangement.
func wakeOnDone(ctx context.Context, addr *uint32) (stop func() bool) {
	if ctx.Done() == nil {
		return func() bool { return false }
	}
	return context.AfterFunc(ctx, func() { _, _ = futexWake(addr, 1<<31-1) })
}
