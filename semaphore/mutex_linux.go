package semaphore

import (
	"context"
	"fmt"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

func checkMutexMem(op string, mem []byte) error {
	if len(mem) < MutexSize {
		return invalid(op, "memory shorter than MutexSize = 64 bytes")
	}
	if uintptr(unsafe.Pointer(&mem[0]))%8 != 0 {
		return invalid(op, "memory not 8-byte aligned")
	}
	return nil
}

func mutexAt(mem []byte) *Mutex {
	p := unsafe.Pointer(&mem[0])
	me := self()
	return &Mutex{
		state:    (*uint32)(unsafe.Add(p, mxOffState)),
		owner:    (*uint64)(unsafe.Add(p, mxOffOwner)),
		start:    (*uint64)(unsafe.Add(p, mxOffStart)),
		recovers: (*uint32)(unsafe.Add(p, mxOffRecover)),
		me:       ownerWord(me.pid, me.start),
		meStart:  me.start,
	}
}

// InitMutex initialises an unlocked mutex in the first MutexSize bytes of
// mem (8-byte aligned). Do it once, before any process uses the mutex;
// the others call AttachMutex.
func InitMutex(mem []byte) (*Mutex, error) {
	const op = "init mutex"
	if err := checkMutexMem(op, mem); err != nil {
		return nil, err
	}
	p := unsafe.Pointer(&mem[0])
	for off := uintptr(0); off < MutexSize; off += 8 {
		atomic.StoreUint64((*uint64)(unsafe.Add(p, off)), 0)
	}
	atomic.StoreUint32((*uint32)(unsafe.Add(p, mxOffMagic)), mutexMagic)
	return mutexAt(mem), nil
}

// AttachMutex uses the mutex InitMutex set up at the start of mem; memory
// without one gives an error wrapping ErrInvalid.
func AttachMutex(mem []byte) (*Mutex, error) {
	const op = "attach mutex"
	if err := checkMutexMem(op, mem); err != nil {
		return nil, err
	}
	if atomic.LoadUint32((*uint32)(unsafe.Pointer(&mem[mxOffMagic]))) != mutexMagic {
		return nil, invalid(op, "memory holds no initialised mutex (InitMutex)")
	}
	return mutexAt(mem), nil
}

func (m *Mutex) desc() string { return fmt.Sprintf("mutex at %p", m.state) }

// Lock acquires the mutex, blocking until it is free or ctx is done (then
// the error wraps ctx.Err()). It never takes the lock from a dead owner: a
// process that died holding it blocks Lock for good, as with a plain
// pthread mutex (see LockRecover). A free mutex is taken even if ctx is
// already done.
func (m *Mutex) Lock(ctx context.Context) error {
	if atomic.CompareAndSwapUint32(m.state, 0, 1) {
		m.setOwner()
		return nil
	}
	return m.lockSlow(ctx, false)
}

// LockRecover is Lock that, while it waits, checks whether the recorded
// owner is still alive: if its pid is gone, is a zombie, or was recycled
// by a process with another start time, LockRecover takes the lock over
// and returns ErrOwnerDead. The lock is then held by the caller (like
// EOWNERDEAD from a robust pthread mutex): repair the protected data,
// then Unlock.
func (m *Mutex) LockRecover(ctx context.Context) error {
	if atomic.CompareAndSwapUint32(m.state, 0, 1) {
		m.setOwner()
		return nil
	}
	return m.lockSlow(ctx, true)
}

func (m *Mutex) lockSlow(ctx context.Context, recoverDead bool) error {
	var stop func() bool
	var slice unix.Timespec
	defer func() {
		if stop != nil {
			stop()
		}
	}()
	// From here on the state is set to 2 whenever we take it or wait, so
	// that the unlocker knows to wake someone.
	for {
		if atomic.SwapUint32(m.state, 2) == 0 {
			m.setOwner()
			return nil
		}
		if recoverDead && m.takeOver() {
			return &opError{op: "lock " + m.desc(), why: "took the lock over from a process that died holding it", sentinel: ErrOwnerDead}
		}
		if err := doneErr(ctx); err != nil {
			return &opError{op: "lock " + m.desc(), err: err}
		}
		if stop == nil {
			stop = wakeOnDone(ctx, m.state)
		}
		ts := sliceFor(ctx, &slice)
		if recoverDead && ts == nil {
			// Look at the owner again from time to time even when ctx
			// can never be done.
			slice = unix.NsecToTimespec(int64(waitSlice))
			ts = &slice
		}
		// Any outcome (woken, EAGAIN because the state changed, EINTR, end
		// of a slice) means: try again.
		_ = futexWait(m.state, 2, ts)
	}
}

// takeOver takes the lock from a dead owner. Racing takers are decided by
// the CAS on the owner word: the dead process writes nothing any more,
// and a live holder never has a dead identity, so the one CAS that
// succeeds hands the lock (whose state is still non-zero) to its caller.
func (m *Mutex) takeOver() bool {
	o := atomic.LoadUint64(m.owner)
	if o == 0 || atomic.LoadUint32(m.state) == 0 {
		return false
	}
	if processAlive(int(o>>32), uint32(o)) {
		return false
	}
	if !atomic.CompareAndSwapUint64(m.owner, o, m.me) {
		return false
	}
	atomic.StoreUint64(m.start, m.meStart)
	atomic.StoreUint32(m.state, 2) // others may be waiting
	atomic.AddUint32(m.recovers, 1)
	return true
}

func (m *Mutex) setOwner() {
	atomic.StoreUint64(m.owner, m.me)
	atomic.StoreUint64(m.start, m.meStart)
}

// TryLock acquires the mutex if it is free and reports whether it did.
func (m *Mutex) TryLock() bool {
	if atomic.CompareAndSwapUint32(m.state, 0, 1) {
		m.setOwner()
		return true
	}
	return false
}

// Unlock releases the mutex and wakes one waiter. It fails with an error
// wrapping ErrNotOwner when this process does not hold it.
func (m *Mutex) Unlock() error {
	if atomic.LoadUint32(m.state) == 0 || !atomic.CompareAndSwapUint64(m.owner, m.me, 0) {
		return &opError{op: "unlock " + m.desc(), why: "not held by this process", sentinel: ErrNotOwner}
	}
	atomic.StoreUint64(m.start, 0)
	if atomic.AddUint32(m.state, ^uint32(0)) != 0 {
		// It was 2: someone may sleep.
		atomic.StoreUint32(m.state, 0)
		if _, err := futexWake(m.state, 1); err != nil {
			return sysErr("unlock "+m.desc(), "futex", err, "")
		}
	}
	return nil
}

// Owner returns the pid of the process holding the mutex (0 when it is
// free, or held by a process that has not recorded itself yet) and
// whether that process is alive.
func (m *Mutex) Owner() (pid int, alive bool) {
	o := atomic.LoadUint64(m.owner)
	if o == 0 {
		return 0, false
	}
	pid = int(o >> 32)
	return pid, processAlive(pid, uint32(o))
}

// Recoveries returns how many times the lock was taken over from a dead
// owner since InitMutex.
func (m *Mutex) Recoveries() int { return int(atomic.LoadUint32(m.recovers)) }
