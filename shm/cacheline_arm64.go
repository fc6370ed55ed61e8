package shm

// CacheLineSize is the spacing SlotOffset uses to keep slots on separate
// cache lines.
//
// On arm64 it is 128, like the Go runtime's own padding
// (internal/cpu.CacheLinePadSize) and golang.org/x/sys/cpu: most arm64
// cores have 64-byte lines, but some (Apple M-series, several server
// parts) have 128-byte lines or fetch lines in pairs, and padding too much
// costs only a little memory while padding too little silently brings false
// sharing back. On other architectures (amd64) it is 64.
const CacheLineSize = 128
