package semaphore

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// InitUnnamed initialises a process-shared semaphore with the given value
// at the start of mem, like sem_init(mem, 1, value). mem must be at least
// [UnnamedSize] bytes and 8-byte aligned. Initialise once, before any
// process uses the semaphore; the others call AttachUnnamed.
func InitUnnamed(mem []byte, value uint32) (*Unnamed, error) {
	const op = "init unnamed"
	if err := checkSemMem(op, mem); err != nil {
		return nil, err
	}
	if value > SemValueMax {
		return nil, invalid(op, fmt.Sprintf("initial value %d above SEM_VALUE_MAX (%d)", value, SemValueMax))
	}
	clear(mem[offPrivate+4 : UnnamedSize])
	atomic.StoreUint32((*uint32)(unsafe.Pointer(&mem[offPrivate])), futexShared)
	atomic.StoreUint64((*uint64)(unsafe.Pointer(&mem[0])), uint64(value))
	return &Unnamed{mem: mem[:UnnamedSize:UnnamedSize], g: newGsem(mem)}, nil
}

// AttachUnnamed uses the process-shared semaphore that InitUnnamed (or C's
// sem_init with pshared=1) set up at the start of mem. Memory that holds no
// such semaphore (all zeros, or a process-private sem_t, whose futex
// operations would not cross processes) gives an error wrapping ErrInvalid.
func AttachUnnamed(mem []byte) (*Unnamed, error) {
	const op = "attach unnamed"
	if err := checkSemMem(op, mem); err != nil {
		return nil, err
	}
	if _, _, ok := DecodeGlibc(mem); !ok || binary.NativeEndian.Uint32(mem[offPrivate:]) != futexShared {
		return nil, invalid(op, "memory holds no process-shared semaphore (InitUnnamed, or sem_init with pshared=1)")
	}
	return &Unnamed{mem: mem[:UnnamedSize:UnnamedSize], g: newGsem(mem)}, nil
}

func (u *Unnamed) desc() string { return fmt.Sprintf("unnamed at %p", &u.mem[0]) }

// Wait takes one token, blocking while the value is zero (sem_wait), until
// ctx is done; see [Named.Wait].
func (u *Unnamed) Wait(ctx context.Context) error {
	if err := u.g.wait(ctx); err != nil {
		return &opError{op: "wait " + u.desc(), err: err}
	}
	return nil
}

// TryWait takes a token if there is one; otherwise it returns an error
// wrapping unix.EAGAIN.
func (u *Unnamed) TryWait() error {
	if !u.g.tryWait() {
		return &opError{op: "trywait " + u.desc(), why: "would block: the value is 0", err: unix.EAGAIN}
	}
	return nil
}

// Post adds a token and wakes a waiter; at SEM_VALUE_MAX it fails with an
// error wrapping unix.EOVERFLOW.
func (u *Unnamed) Post() error {
	if err := u.g.post(); err != nil {
		return postErr("post "+u.desc(), err)
	}
	return nil
}

// Value returns the current value, like sem_getvalue.
func (u *Unnamed) Value() int { return u.g.value() }

// Waiters returns how many waiters are registered as blocked.
func (u *Unnamed) Waiters() int { return u.g.waiters() }
