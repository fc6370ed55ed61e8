package race

import (
	"github.com/ipcplay/ipcplay/shm"
)

// layout places everything a trial needs in the one shared region. Each
// header item has a cache line to itself:
//
//	line 0      the counter (uint64)
//	line 1      started: how many workers have begun (uint32)
//	line 2      the unnamed POSIX semaphore (32 bytes)
//	line 3      the futex mutex (64 bytes)
//	line 4...   per-worker tallies at shm.SlotOffset(i, SameLine)
//	then        per-worker records, Record × recordSize bytes each
type layout struct {
	Line     int  `json:"line"`
	Procs    int  `json:"procs"`
	SameLine bool `json:"same_line"`
	Record   int  `json:"record"`
	Size     int  `json:"size"`
}

// recordSize is the size of one recorded increment in the region.
const recordSize = 32

// record is one recorded increment, as it lies in the region.
type record struct {
	Read  uint64 // the value the load returned
	T1    int64  // CLOCK_MONOTONIC right after the load
	T2    int64  // CLOCK_MONOTONIC right before the store
	Wrote uint64 // the value stored
}

func newLayout(procs int, sameLine bool, rec int) layout {
	l := layout{Line: shm.CacheLineSize, Procs: procs, SameLine: sameLine, Record: rec}
	l.Size = l.traceBase() + procs*rec*recordSize
	return l
}

func (l layout) counter() int { return 0 }
func (l layout) started() int { return l.Line }
func (l layout) unnamed() int { return 2 * l.Line }
func (l layout) mutex() int   { return 3 * l.Line }
func (l layout) tally(i int) int {
	return 4*l.Line + shm.SlotOffset(i, l.SameLine)
}

func (l layout) traceBase() int {
	end := 4*l.Line + shm.SlotOffset(l.Procs, l.SameLine)
	return (end + l.Line - 1) / l.Line * l.Line
}

// trace is the offset of worker i's records.
func (l layout) trace(i int) int { return l.traceBase() + i*l.Record*recordSize }
