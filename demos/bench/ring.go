package bench

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ipcplay/ipcplay/semaphore"
)

// A ring is a single-producer, single-consumer queue of fixed-size
// message slots in shared memory; testdata/shmring.c is the same algorithm
// in C. Layout (offsets in bytes; 128-byte lines keep the two writers'
// words apart on amd64 and arm64 alike, and against the adjacent-line
// prefetcher, which moves 64-byte lines in pairs):
//
//	0    uint32 head       messages published (the consumer's futex word)
//	128  uint32 consWait   head value a consumer about to sleep waits for
//	256  uint32 tail       messages consumed (the producer's futex word)
//	384  uint32 prodWait   tail value a producer about to sleep waits for
//	512  sem_t  items      shm-sem: filled slots (POSIX unnamed semaphore)
//	640  sem_t  spaces     shm-sem: free slots
//	768  slots             nslots x slot bytes
//
// Every line is written by one side only: head and prodWait by the
// producer, tail and consWait by the consumer, a slot by the producer.
// The producer keeps the last tail it read and reads the shared one only
// when that copy says the ring is full, so a ring that is not full costs
// it no cache miss on the consumer's line.
//
// With futex wake-ups (transports shm and shm-adaptive), a side that finds
// the ring empty (full) stores the counter value that will end its wait,
// reads the counter again and sleeps in FUTEX_WAIT on it; the other side,
// after advancing its counter, calls FUTEX_WAKE only when the new value is
// the announced one. Storing the awaited value rather than a flag means a
// stale announcement can never swallow a later one (a lost wake-up), and
// the waker needs no read-modify-write: nobody asleep, no system call.
// shm-adaptive first polls the counter for a budget of --spin rounds (a
// PAUSE after each, relax_amd64.go: a budget means the same time in Go and
// in the C reference) and
// only then announces itself and sleeps, the way production rings (and
// glibc's adaptive mutexes) do. Waits have no timeout (a timer per wait
// costs the kernel an hrtimer set-up and cancel, which C's NULL does not):
// a worker told to stop is woken by its own interrupt, and a dead peer's
// partner is killed by the parent. A consumer waits for the next message;
// a producer facing a full ring waits until half of it is free, so that a
// slower consumer sharing its CPU does not wake it (and get preempted)
// once per slot. shm-sem waits and posts the two semaphores, the textbook
// bounded buffer.
//
// shm-spin (ringSpin) never sleeps and does not use head: each slot starts
// with its own 8-byte ready word, which the producer stores (after the
// message, which follows it) as the message's index + 1. The consumer
// polls the slot it expects, so the signal and the first 56 bytes of the
// message arrive in one cache line, the rest in the adjacent ones: one
// cache-line handover per message and direction, the floor that bench
// measures (floor.go), instead of one for head, one for the slot and one
// for tail. The ready word and tail are published with a store-release
// (store_amd64.go): nothing needs the full fence the futex modes pay for.
const (
	ringHdr      = 768
	offHead      = 0
	offConsWait  = 128
	offTail      = 256
	offProdWait  = 384
	offItems     = 512
	offSpaces    = 640
	ringMaxSlots = 256
	ringTarget   = 256 << 10 // bytes of slots a ring aims at
	slotWord     = 8         // shm-spin: the ready word before each message
)

// ringMode is how the two sides of a ring wait for each other.
type ringMode int

const (
	ringFutex    ringMode = iota // futex wake-ups
	ringSpin                     // busy polling on per-slot ready words
	ringSem                      // POSIX unnamed semaphores
	ringAdaptive                 // poll up to a budget, then futex wake-ups
)

// ringGeometry returns the slot stride (size rounded up to 64 bytes, after
// the ready word in spin mode), the number of slots (256 KiB of messages
// rounded down to a power of two, between 2 and 256) and the ring's total
// bytes.
func ringGeometry(size int, mode ringMode) (slot int, nslots uint32, total int) {
	msg := (size + 63) &^ 63
	slot = msg
	if mode == ringSpin {
		slot = (slotWord + size + 63) &^ 63
	}
	n := ringTarget / msg
	p := 1
	for p*2 <= n {
		p *= 2
	}
	p = min(max(p, 2), ringMaxSlots)
	return slot, uint32(p), ringHdr + p*slot
}

// pairBytes is the size of the region holding the two rings of a
// transport (one each way), each starting on a page: the largest layout,
// so that one region serves every mode.
func pairBytes(size int) int {
	_, _, total := ringGeometry(size, ringSpin)
	return 2 * pageAlign(total)
}

func pageAlign(n int) int { return (n + 4095) &^ 4095 }

// ring is one side's view of a ring: a producer or a consumer.
type ring struct {
	head, consWait, tail, prodWait *uint32
	slots                          []byte
	slot, size, off                int // stride, message bytes, message offset in a slot
	n, mask                        uint32
	mode                           ringMode
	spinBudget                     int // ringAdaptive: polls before sleeping
	items, spaces                  *semaphore.Unnamed
	h, t                           uint32 // the producer's head, the consumer's tail
	seenTail                       uint32 // the producer's last reading of tail
	stop                           *atomic.Bool
}

// errStopped: the worker was asked to stop while it waited.
var errStopped = errors.New("stopped")

// initRing lays out an empty ring for messages of size bytes at the start
// of mem (the parent does this before any worker maps it).
func initRing(mem []byte, size int, mode ringMode) error {
	_, n, total := ringGeometry(size, mode)
	if len(mem) < total {
		return fmt.Errorf("ring for %d-byte messages needs %d bytes, got %d", size, total, len(mem))
	}
	clear(mem[:total])
	if mode == ringSem {
		if _, err := semaphore.InitUnnamed(mem[offItems:], 0); err != nil {
			return err
		}
		if _, err := semaphore.InitUnnamed(mem[offSpaces:], n); err != nil {
			return err
		}
	}
	return nil
}

// attachRing returns a view of the ring initRing laid out in mem. spin is
// shm-adaptive's polling budget (ignored by the other modes).
func attachRing(mem []byte, size int, mode ringMode, spin int, stop *atomic.Bool) (*ring, error) {
	slot, n, total := ringGeometry(size, mode)
	if len(mem) < total {
		return nil, fmt.Errorf("ring for %d-byte messages needs %d bytes, got %d", size, total, len(mem))
	}
	u32 := func(off int) *uint32 { return (*uint32)(unsafe.Pointer(&mem[off])) }
	r := &ring{
		head: u32(offHead), consWait: u32(offConsWait), tail: u32(offTail), prodWait: u32(offProdWait),
		slots: mem[ringHdr:total], slot: slot, size: size, n: n, mask: n - 1, mode: mode, spinBudget: spin, stop: stop,
	}
	if mode == ringSpin {
		r.off = slotWord
	}
	r.h, r.t = atomic.LoadUint32(r.head), atomic.LoadUint32(r.tail)
	r.seenTail = r.t
	if mode == ringSem {
		var err error
		if r.items, err = semaphore.AttachUnnamed(mem[offItems:]); err != nil {
			return nil, err
		}
		if r.spaces, err = semaphore.AttachUnnamed(mem[offSpaces:]); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// at returns the message of slot i.
func (r *ring) at(i uint32) []byte {
	off := int(i&r.mask)*r.slot + r.off
	return r.slots[off : off+r.size : off+r.size]
}

// ready is slot i's ready word (shm-spin).
func (r *ring) ready(i uint32) *uint32 {
	return (*uint32)(unsafe.Pointer(&r.slots[int(i&r.mask)*r.slot]))
}

// produce copies msg (len == size) into the next free slot and publishes
// it, waiting while the ring is full.
func (r *ring) produce(msg []byte) error {
	switch r.mode {
	case ringSem:
		if err := r.spaces.Wait(context.Background()); err != nil {
			return err
		}
		if r.stop.Load() {
			return errStopped
		}
	default:
		if r.h-r.seenTail == r.n {
			if err := r.waitSpace(); err != nil {
				return err
			}
		}
	}
	copy(r.at(r.h), msg)
	r.h++
	switch r.mode {
	case ringSpin:
		storeRelease32(r.ready(r.h-1), r.h)
		// head is not read by a spinning consumer; it is kept for
		// interrupt and for anyone inspecting the ring.
		return nil
	case ringSem:
		atomic.StoreUint32(r.head, r.h)
		return r.items.Post()
	}
	atomic.StoreUint32(r.head, r.h)
	if atomic.LoadUint32(r.consWait) == r.h {
		futexWakeOne(r.head)
	}
	return nil
}

// consume waits for the next message and returns its slot, which stays
// valid until release.
func (r *ring) consume() ([]byte, error) {
	switch r.mode {
	case ringSem:
		if err := r.items.Wait(context.Background()); err != nil {
			return nil, err
		}
		if r.stop.Load() {
			return nil, errStopped
		}
	case ringSpin:
		w := r.ready(r.t)
		for spins := 0; atomic.LoadUint32(w) != r.t+1; spins++ {
			if err := r.spin(spins); err != nil {
				return nil, err
			}
		}
	default:
		if atomic.LoadUint32(r.head) == r.t {
			if err := r.waitData(); err != nil {
				return nil, err
			}
		}
	}
	return r.at(r.t), nil
}

// release frees the slot consume returned.
func (r *ring) release() error {
	r.t++
	if r.mode == ringSpin {
		storeRelease32(r.tail, r.t)
		return nil
	}
	atomic.StoreUint32(r.tail, r.t)
	switch r.mode {
	case ringFutex, ringAdaptive:
		if atomic.LoadUint32(r.prodWait) == r.t {
			futexWakeOne(r.tail)
		}
	case ringSem:
		return r.spaces.Post()
	}
	return nil
}

// waitData waits until head moves past the consumer's tail: shm-adaptive
// polls for its budget first, then both futex modes sleep.
func (r *ring) waitData() error {
	if r.mode == ringAdaptive {
		for range r.spinBudget {
			if atomic.LoadUint32(r.head) != r.t {
				return nil
			}
			cpuRelax()
		}
	}
	for atomic.LoadUint32(r.head) == r.t {
		atomic.StoreUint32(r.consWait, r.t+1)
		if atomic.LoadUint32(r.head) != r.t {
			break
		}
		if e := futexWaitOn(r.head, r.t, nil); e != 0 && e != unix.EAGAIN && e != unix.EINTR && e != unix.ETIMEDOUT {
			return sysErr("futex", e)
		}
		if r.stop.Load() {
			return errStopped
		}
	}
	return nil
}

// waitSpace waits until the ring has a free slot for the producer. The
// shared tail is read only here, when the producer's last reading says the
// ring is full.
func (r *ring) waitSpace() error {
	full := func() bool {
		r.seenTail = atomic.LoadUint32(r.tail)
		return r.h-r.seenTail == r.n
	}
	if !full() {
		return nil
	}
	switch r.mode {
	case ringSpin:
		for spins := 0; full(); spins++ {
			if err := r.spin(spins); err != nil {
				return err
			}
		}
		return nil
	case ringAdaptive:
		for range r.spinBudget {
			if !full() {
				return nil
			}
			cpuRelax()
		}
	}
	for full() {
		// Sleep until half the ring is free, not one slot: on a shared
		// CPU a consumer slower than us would otherwise wake us (and be
		// preempted) for every slot.
		atomic.StoreUint32(r.prodWait, r.h-r.n+max(r.n/2, 1))
		if !full() {
			return nil
		}
		if e := futexWaitOn(r.tail, r.seenTail, nil); e != 0 && e != unix.EAGAIN && e != unix.EINTR && e != unix.ETIMEDOUT {
			return sysErr("futex", e)
		}
		if r.stop.Load() {
			return errStopped
		}
	}
	return nil
}

// spin is one round of a busy wait: pure polling for the first few
// thousand rounds (a peer on another CPU answers within microseconds),
// then sched_yield on every round, so that a peer sharing this CPU gets to
// run (--cpus 0,0) instead of waiting out our time slice.
func (r *ring) spin(spins int) error {
	if spins < 4096 {
		return nil
	}
	if spins&1023 == 0 && r.stop.Load() {
		return errStopped
	}
	schedYield()
	return nil
}
