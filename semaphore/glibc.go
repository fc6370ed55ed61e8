package semaphore

import (
	"encoding/binary"
	"sync/atomic"
	"unsafe"
)

// The layout of glibc's sem_t on 64-bit Linux (struct new_sem with 64-bit
// atomics, nptl/semaphoreP.h and sysdeps/nptl/internaltypes.h), shared by
// named (sem_open) and unnamed (sem_init) semaphores:
//
//	offset 0   uint64 data     value in the low 32 bits, number of
//	                           blocked waiters in the high 32 bits
//	offset 8   int32  private  0 for a process-private semaphore, 128
//	                           (FUTEX_PRIVATE_FLAG, glibc's FUTEX_SHARED)
//	                           for a process-shared one
//	offset 12  int32  pad
//	offset 16  16 bytes unused (sizeof(sem_t) is 32)
//
// The futex is the 32-bit word holding the value: the low half of data,
// which on little-endian machines (amd64, arm64) is at offset 0.
const (
	// UnnamedSize is sizeof(sem_t) on amd64 and arm64: the bytes an
	// [Unnamed] semaphore occupies, and the size of a named semaphore's
	// file in /dev/shm.
	UnnamedSize = 32
	// SemValueMax is SEM_VALUE_MAX: the largest value a POSIX semaphore
	// holds; a Post beyond it fails with EOVERFLOW.
	SemValueMax = 1<<31 - 1

	semValueMask     = 1<<32 - 1
	semNwaitersShift = 32
	semOneWaiter     = 1 << semNwaitersShift
	offPrivate       = 8
	futexShared      = 128
)

// valueOffset is the offset of the value's 32 bits inside the 64-bit data
// word: 0 on little-endian machines, 4 on big-endian ones.
var valueOffset = func() uintptr {
	x := uint64(1)
	if *(*byte)(unsafe.Pointer(&x)) == 1 {
		return 0
	}
	return 4
}()

// DecodeGlibc reads a glibc sem_t (64-bit layout) from b, for example a
// read-only mapping of /dev/shm/sem.NAME: the value (what sem_getvalue
// reports) and the number of blocked waiters. ok is false when b is shorter
// than [UnnamedSize] or does not look like a semaphore (a value above
// SEM_VALUE_MAX, or a private field other than 0 or 128). It never writes
// to b and reads the data word atomically when b is 8-byte aligned.
func DecodeGlibc(b []byte) (value, waiters uint32, ok bool) {
	if len(b) < UnnamedSize {
		return 0, 0, false
	}
	var d uint64
	if uintptr(unsafe.Pointer(&b[0]))%8 == 0 {
		d = atomic.LoadUint64((*uint64)(unsafe.Pointer(&b[0])))
	} else {
		d = binary.NativeEndian.Uint64(b)
	}
	private := binary.NativeEndian.Uint32(b[offPrivate:])
	value, waiters = uint32(d&semValueMask), uint32(d>>semNwaitersShift)
	ok = value <= SemValueMax && (private == 0 || private == futexShared)
	return value, waiters, ok
}
