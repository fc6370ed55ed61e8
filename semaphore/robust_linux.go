package semaphore

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

func checkRobustMem(op string, mem []byte) error {
	if len(mem) < RobustMutexSize {
		return invalid(op, "memory shorter than RobustMutexSize = 64 bytes")
	}
	if uintptr(unsafe.Pointer(&mem[0]))%8 != 0 {
		return invalid(op, "memory not 8-byte aligned")
	}
	return nil
}

func robustAt(mem []byte) *RobustMutex {
	p := unsafe.Pointer(&mem[0])
	return &RobustMutex{
		word:     (*uint32)(unsafe.Add(p, rbOffWord)),
		entry:    (*uint64)(unsafe.Add(p, rbOffEntry)),
		recovers: (*uint32)(unsafe.Add(p, rbOffRecover)),
		ownerPID: (*uint32)(unsafe.Add(p, rbOffPID)),
		pid:      os.Getpid(),
	}
}

// InitRobustMutex initialises a free robust mutex in the first
// RobustMutexSize bytes of mem (8-byte aligned, MAP_SHARED for use across
// processes). Do it once, before any process uses it; the others call
// AttachRobustMutex.
func InitRobustMutex(mem []byte) (*RobustMutex, error) {
	const op = "init robust mutex"
	if err := checkRobustMem(op, mem); err != nil {
		return nil, err
	}
	p := unsafe.Pointer(&mem[0])
	for off := uintptr(0); off < RobustMutexSize; off += 8 {
		atomic.StoreUint64((*uint64)(unsafe.Add(p, off)), 0)
	}
	atomic.StoreUint32((*uint32)(unsafe.Add(p, rbOffMagic)), robustMagic)
	return robustAt(mem), nil
}

// AttachRobustMutex uses the robust mutex InitRobustMutex set up at the
// start of mem; memory without one gives an error wrapping ErrInvalid.
func AttachRobustMutex(mem []byte) (*RobustMutex, error) {
	const op = "attach robust mutex"
	if err := checkRobustMem(op, mem); err != nil {
		return nil, err
	}
	if atomic.LoadUint32((*uint32)(unsafe.Pointer(&mem[rbOffMagic]))) != robustMagic {
		return nil, invalid(op, "memory holds no initialised robust mutex (InitRobustMutex)")
	}
	return robustAt(mem), nil
}

// op names an operation on m for an error; built only when one is
// returned (fmt costs more than an uncontended Lock).
func (m *RobustMutex) op(verb string) string {
	return fmt.Sprintf("%s robust mutex at %p", verb, m.word)
}

// Word returns the futex word as it is now: owner TID, FUTEX_WAITERS,
// FUTEX_OWNER_DIED (see DescribeFutexWord).
func (m *RobustMutex) Word() uint32 { return atomic.LoadUint32(m.word) }

// Owner returns the process id the holder recorded (0 when free, or
// between the holder's compare-and-swap and its record) and its thread id
// from the word.
func (m *RobustMutex) Owner() (pid, tid int) {
	return int(atomic.LoadUint32(m.ownerPID)), int(atomic.LoadUint32(m.word) & FutexTIDMask)
}

// Recoveries returns how many times the lock was taken with
// FUTEX_OWNER_DIED since InitRobustMutex.
func (m *RobustMutex) Recoveries() int { return int(atomic.LoadUint32(m.recovers)) }

// robustThread is this package's robust list on one OS thread.
type robustThread struct {
	head robustHead
	tid  int // the thread that registered head
	// entries shadows the kernel-visible list, first entry first, so that
	// unlinking never turns an address read from shared memory back into
	// a pointer. Only the owning thread touches it.
	entries []unsafe.Pointer
	// saved is the head that was registered before ours (glibc's, in a
	// cgo or -race binary), to give back when the list is empty.
	saved unsafe.Pointer
}

// robustThreads finds the calling thread's list by the head the kernel
// has registered for it (get_robust_list): a registration belongs to one
// thread and is not inherited by clone, so a head of ours IS this
// thread's, with no gettid and no trust in a thread id that a dead
// thread's successor may reuse. byTID lets a new registration drop the
// list of a dead thread that had the same id.
var robustThreads = struct {
	sync.RWMutex
	byHead map[unsafe.Pointer]*robustThread
	byTID  map[int]*robustThread
}{byHead: map[unsafe.Pointer]*robustThread{}, byTID: map[int]*robustThread{}}

// currentList returns this package's list registered on the calling
// thread, or nil, and the registered head (nil, ours or glibc's).
func currentList() (*robustThread, unsafe.Pointer, error) {
	cur, err := getRobustList()
	if err != nil {
		return nil, nil, err
	}
	robustThreads.RLock()
	rt := robustThreads.byHead[cur]
	robustThreads.RUnlock()
	return rt, cur, nil
}

// threadList returns the calling thread's list, registering it with
// set_robust_list(2) when needed. The caller holds LockOSThread.
func threadList(m *RobustMutex) (*robustThread, error) {
	rt, cur, err := currentList()
	if err != nil {
		return nil, sysErr(m.op("lock"), "get_robust_list", err, "")
	}
	if rt != nil {
		return rt, nil
	}
	// On the heap and kept in robustThreads: the kernel holds on to the
	// head's address, which must neither move (as a stack does) nor be
	// freed while the thread lives.
	rt = &robustThread{tid: unix.Gettid()}
	rt.head.list = uintptr(unsafe.Pointer(&rt.head))
	rt.head.futexOffset = robustFutexOffset
	if cur != nil {
		// Someone else's head: glibc's, in a thread made by pthread_create.
		// Borrow the registration only while its list is empty.
		fh := (*robustHead)(cur)
		if fh.list != uintptr(cur) || fh.pending != 0 {
			return nil, &opError{op: m.op("lock"), sentinel: ErrUnsupported,
				why: fmt.Sprintf("this thread's robust list (registered at %p, glibc's) is in use by a robust pthread mutex; a thread has only one robust list", cur)}
		}
		rt.saved = cur
	}
	if err := setRobustList(&rt.head); err != nil {
		return nil, sysErr(m.op("lock"), "set_robust_list", err, "")
	}
	robustThreads.Lock()
	if old := robustThreads.byTID[rt.tid]; old != nil {
		delete(robustThreads.byHead, unsafe.Pointer(&old.head)) // a dead thread's
	}
	robustThreads.byTID[rt.tid] = rt
	robustThreads.byHead[unsafe.Pointer(&rt.head)] = rt
	robustThreads.Unlock()
	return rt, nil
}

// release gives the thread's registration back to its previous owner once
// this package holds nothing on it.
func (rt *robustThread) release() error {
	if len(rt.entries) != 0 || rt.saved == nil {
		return nil
	}
	robustThreads.Lock()
	delete(robustThreads.byHead, unsafe.Pointer(&rt.head))
	delete(robustThreads.byTID, rt.tid)
	robustThreads.Unlock()
	return restoreRobustList(rt.saved)
}

func (rt *robustThread) setPending(entry unsafe.Pointer) {
	atomic.StoreUintptr(&rt.head.pending, uintptr(entry))
}

// link puts entry first in the list: entry->next = head->list, then
// head->list = entry, so the kernel never sees a half-made list.
func (rt *robustThread) link(entry unsafe.Pointer) {
	atomic.StoreUint64((*uint64)(entry), uint64(atomic.LoadUintptr(&rt.head.list)))
	atomic.StoreUintptr(&rt.head.list, uintptr(entry))
	rt.entries = slices.Insert(rt.entries, 0, entry)
}

// unlink takes entry out of the list: its predecessor's next becomes
// entry's next.
func (rt *robustThread) unlink(entry unsafe.Pointer) {
	i := slices.Index(rt.entries, entry)
	if i < 0 {
		return
	}
	next := atomic.LoadUint64((*uint64)(entry))
	if i == 0 {
		atomic.StoreUintptr(&rt.head.list, uintptr(next))
	} else {
		atomic.StoreUint64((*uint64)(rt.entries[i-1]), next)
	}
	rt.entries = slices.Delete(rt.entries, i, i+1)
}

// lockStep stops Lock part-way, for tests that kill a holder in each
// window of the protocol.
type lockStep int

const (
	lockFull      lockStep = iota
	lockNoLink             // list_op_pending set, word taken, not linked yet
	lockNoPending          // word taken WITHOUT list_op_pending, not linked: the broken order
)

// Lock acquires the mutex on the calling goroutine's OS thread (which it
// locks with runtime.LockOSThread until Unlock), blocking until it is free
// or ctx is done (then the error wraps ctx.Err() and the thread is
// unlocked again). A free mutex is taken even if ctx is already done.
//
// When the previous holder died holding the lock, the kernel has set
// FUTEX_OWNER_DIED: Lock takes the lock and returns an *OwnerDiedError
// (errors.Is(err, ErrOwnerDead)); the caller holds it and must Unlock. A
// second Lock by the holding thread fails with ErrInvalid (not
// reentrant). Registering the robust list can fail with ErrUnsupported
// (see RobustMutex).
func (m *RobustMutex) Lock(ctx context.Context) error {
	runtime.LockOSThread()
	err := m.lock(ctx, lockFull)
	if err != nil && !isOwnerDied(err) {
		runtime.UnlockOSThread()
	}
	return err
}

func isOwnerDied(err error) bool {
	_, ok := err.(*OwnerDiedError)
	return ok
}

func (m *RobustMutex) lock(ctx context.Context, step lockStep) error {
	rt, err := threadList(m)
	if err != nil {
		return err
	}
	tid := rt.tid
	entry := unsafe.Pointer(m.entry)
	if step != lockNoPending {
		// Before the word can hold our TID, so that a kill right after
		// the compare-and-swap leaves the kernel a way to the lock.
		rt.setPending(entry)
	}
	var stop func() bool
	var slice unix.Timespec
	defer func() {
		if stop != nil {
			stop()
		}
	}()
	waited := false
	for {
		v := atomic.LoadUint32(m.word)
		if v&FutexTIDMask == 0 {
			nv := uint32(tid)
			if waited || v&FutexWaiters != 0 {
				// Others may sleep too: the unlocker must wake one.
				nv |= FutexWaiters
			}
			if !atomic.CompareAndSwapUint32(m.word, v, nv) {
				continue
			}
			if step != lockFull {
				return nil
			}
			rt.link(entry)
			rt.setPending(nil)
			atomic.StoreUint32(m.ownerPID, uint32(m.pid))
			if v&FutexOwnerDied != 0 {
				atomic.AddUint32(m.recovers, 1)
				return &OwnerDiedError{Op: m.op("lock"), Word: v}
			}
			return nil
		}
		if v&FutexTIDMask == uint32(tid) {
			rt.setPending(nil)
			_ = rt.release()
			return invalid(m.op("lock"), "already held by this thread (a RobustMutex is not reentrant)")
		}
		if v&FutexWaiters == 0 {
			if !atomic.CompareAndSwapUint32(m.word, v, v|FutexWaiters) {
				continue
			}
			v |= FutexWaiters
		}
		if err := doneErr(ctx); err != nil {
			rt.setPending(nil)
			_ = rt.release()
			return ctxErr(m.op("lock"), err)
		}
		if stop == nil {
			stop = wakeOnDone(ctx, m.word)
		}
		// Woken, EAGAIN (the word changed), EINTR, end of a slice: look again.
		_ = futexWait(m.word, v, sliceFor(ctx, &slice))
		waited = true
	}
}

// Unlock releases the mutex and wakes one waiter if FUTEX_WAITERS was set,
// then undoes Lock's runtime.LockOSThread. It fails with ErrNotOwner when
// the calling thread does not hold the lock (another goroutine, another
// process).
func (m *RobustMutex) Unlock() error { return m.unlock(false) }

// unlock releases the lock; noWake (tests only) stops after the word is
// cleared and before the wake-up, with list_op_pending still set: the
// window the kernel covers by waking a waiter itself.
func (m *RobustMutex) unlock(noWake bool) error {
	rt, _, err := currentList()
	if err != nil {
		return sysErr(m.op("unlock"), "get_robust_list", err, "")
	}
	if rt == nil || atomic.LoadUint32(m.word)&FutexTIDMask != uint32(rt.tid) {
		return &opError{op: m.op("unlock"), why: "not held by this thread (a RobustMutex belongs to the goroutine that locked it)", sentinel: ErrNotOwner}
	}
	entry := unsafe.Pointer(m.entry)
	// Pending first: a kill after unlinking still leaves the kernel the
	// lock (marked OWNER_DIED), and a kill after the word is cleared but
	// before the wake makes the kernel wake one waiter itself.
	rt.setPending(entry)
	rt.unlink(entry)
	atomic.StoreUint32(m.ownerPID, 0)
	old := atomic.SwapUint32(m.word, 0)
	if noWake {
		return nil
	}
	if old&FutexWaiters != 0 {
		if _, werr := futexWake(m.word, 1); werr != nil {
			err = sysErr(m.op("unlock"), "futex", werr, "")
		}
	}
	rt.setPending(nil)
	if rerr := rt.release(); rerr != nil && err == nil {
		err = sysErr(m.op("unlock"), "set_robust_list", rerr, "")
	}
	runtime.UnlockOSThread()
	return err
}
