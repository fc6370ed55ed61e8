package semaphore

import (
	"context"
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// gsem runs glibc's semaphore algorithm (nptl/sem_waitcommon.c and
// sem_post.c, 64-bit atomics variant) on a sem_t in shared memory, so that
// Go and C processes can use the same semaphore. Its futex operations are
// never FUTEX_PRIVATE: the semaphore is shared between processes.
type gsem struct {
	data *uint64 // value | nwaiters<<32
}

func newGsem(mem []byte) gsem { return gsem{data: (*uint64)(unsafe.Pointer(&mem[0]))} }

// word is the futex: the 32 bits of data that hold the value.
func (g gsem) word() *uint32 { return (*uint32)(unsafe.Add(unsafe.Pointer(g.data), valueOffset)) }

func (g gsem) value() int   { return int(atomic.LoadUint64(g.data) & semValueMask) }
func (g gsem) waiters() int { return int(atomic.LoadUint64(g.data) >> semNwaitersShift) }

// tryWait takes a token if there is one (sem_trywait).
func (g gsem) tryWait() bool {
	for d := atomic.LoadUint64(g.data); d&semValueMask != 0; d = atomic.LoadUint64(g.data) {
		if atomic.CompareAndSwapUint64(g.data, d, d-1) {
			return true
		}
	}
	return false
}

// wait takes a token, blocking until there is one or ctx is done (then it
// returns doneErr's error). Other errors are *os.SyscallError.
func (g gsem) wait(ctx context.Context) error {
	if g.tryWait() {
		return nil
	}
	// Register as a waiter so that posters wake us, then alternate between
	// grabbing a token (and unregistering, in one CAS) and sleeping on the
	// value word while it is zero.
	d := atomic.AddUint64(g.data, semOneWaiter)
	var stop func() bool
	var slice unix.Timespec
	defer func() {
		if stop != nil {
			stop()
		}
	}()
	for {
		if d&semValueMask != 0 {
			if atomic.CompareAndSwapUint64(g.data, d, d-1-semOneWaiter) {
				return nil
			}
			d = atomic.LoadUint64(g.data)
			continue
		}
		if err := doneErr(ctx); err != nil {
			g.unregister()
			return err
		}
		if stop == nil {
			stop = wakeOnDone(ctx, g.word())
		}
		// nil (woken), EAGAIN (the value changed first), EINTR and
		// ETIMEDOUT (end of a slice) all mean: look again.
		switch err := futexWait(g.word(), 0, sliceFor(ctx, &slice)); err {
		case nil, unix.EAGAIN, unix.EINTR, unix.ETIMEDOUT:
		default:
			g.unregister()
			return os.NewSyscallError("futex", err)
		}
		d = atomic.LoadUint64(g.data)
	}
}

func (g gsem) unregister() { atomic.AddUint64(g.data, ^uint64(semOneWaiter-1)) }

// post adds a token and wakes one waiter if any is registered (sem_post).
// It returns unix.EOVERFLOW at SEM_VALUE_MAX.
func (g gsem) post() error {
	for {
		d := atomic.LoadUint64(g.data)
		if d&semValueMask >= SemValueMax {
			return unix.EOVERFLOW
		}
		if atomic.CompareAndSwapUint64(g.data, d, d+1) {
			if d>>semNwaitersShift != 0 {
				if _, err := futexWake(g.word(), 1); err != nil {
					return os.NewSyscallError("futex", err)
				}
			}
			return nil
		}
	}
}

// checkSemMem checks that mem can hold a sem_t that 64-bit atomics can use.
func checkSemMem(op string, mem []byte) error {
	if len(mem) < UnnamedSize {
		return invalid(op, "memory shorter than sizeof(sem_t) = 32 bytes")
	}
	if uintptr(unsafe.Pointer(&mem[0]))%8 != 0 {
		return invalid(op, "memory not 8-byte aligned")
	}
	return nil
}
