package semaphore

// Mutex is a process-shared mutual-exclusion lock in MutexSize bytes of
// shared memory: Drepper's three-state futex mutex ("Futexes Are Tricky",
// mutex3) with non-private futex calls, plus the identity of the owning
// process so that a lock held by a dead process can be detected and taken
// over ([Mutex.LockRecover]).
//
// Ownership belongs to a process, not a goroutine: any goroutine of the
// owning process may Unlock. A Mutex is not reentrant.
//
// Layout (native-endian words, 64 bytes, one cache line):
//
//	offset 0   uint32  state: 0 unlocked, 1 locked, 2 locked, maybe waiters
//	offset 4   uint32  magic "IPMX", set by InitMutex
//	offset 8   uint64  owner: pid<<32 | low 32 bits of its start time; 0 unlocked
//	offset 16  uint64  owner's start time, clock ticks since boot
//	                   (/proc/PID/stat field 22)
//	offset 24  uint32  number of takeovers from dead owners
//	offset 28  reserved, zero
//
// The owner is written just after the state is taken and cleared just
// before it is released. A process killed in that window of a few
// instructions leaves a lock that is held with no recorded owner: neither
// Lock nor LockRecover can get it back (the owner is unknown), and the
// memory must be initialised again. Owners are recorded by pid, so every
// process using a Mutex must be in the same pid namespace.
type Mutex struct {
	state    *uint32
	owner    *uint64
	start    *uint64
	recovers *uint32
	me       uint64 // this process's owner word
	meStart  uint64 // this process's start time
}

// MutexSize is the number of bytes a Mutex occupies.
const MutexSize = 64

const (
	mxOffState   = 0
	mxOffMagic   = 4
	mxOffOwner   = 8
	mxOffStart   = 16
	mxOffRecover = 24
	mutexMagic   = 0x584d5049 // "IPMX" little-endian
)
