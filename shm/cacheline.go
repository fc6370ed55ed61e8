package shm

import "fmt"

// SlotSize is the size of one counter slot: a uint64.
const SlotSize = 8

// SlotOffset returns the byte offset of the i-th 8-byte slot of a region.
//
// With sameLine false, slot i starts at i*CacheLineSize: each slot has a
// cache line to itself (the rest of the line is padding), so counters
// updated by different processes never share a line by accident. A region
// holding n such slots needs n*CacheLineSize bytes.
//
// With sameLine true, slots are packed at i*8, so the first
// CacheLineSize/8 of them share one line: a demo asks for this on purpose
// to show false sharing. A region holding n such slots needs n*8 bytes.
//
// Offsets are 8-aligned (the mapping itself is page-aligned), as Uint64
// and 64-bit atomics require. SlotOffset panics if i is negative.
func SlotOffset(i int, sameLine bool) int {
	if i < 0 {
		panic(fmt.Sprintf("shm: SlotOffset(%d): negative slot", i))
	}
	if sameLine {
		return i * SlotSize
	}
	return i * CacheLineSize
}
