//go:build !arm64

package shm

// CacheLineSize is the spacing SlotOffset uses to keep slots on separate
// cache lines.
//
// It is 64 on amd64 (and the other architectures), the size of an x86
// cache line and the Go runtime's own padding
// (internal/cpu.CacheLinePadSize). Intel's adjacent-line prefetcher pairs
// lines into 128-byte chunks, but only as a prefetch hint: separate 64-byte
// lines no longer ping-pong on every write (see BenchmarkAtomicAddStride).
// On arm64 it is 128.
const CacheLineSize = 64
