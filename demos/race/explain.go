package race

import (
	"fmt"
	"runtime"
)

// lockOf says what serialises a mode's increment.
func lockOf(mode string, undo bool) string {
	switch mode {
	case ModeUnsafe:
		return "none: a load, then a separate store"
	case ModeUnsafeGo:
		return "none: x++ on a Go variable"
	case ModeAtomic:
		if runtime.GOARCH == "arm64" {
			return "atomic.AddUint64 (LDADDAL, or an LDAXR/STLXR loop without LSE)"
		}
		return "atomic.AddUint64 (LOCK XADD)"
	case ModeMutex:
		return "sync.Mutex"
	case ModeSysVSem:
		if undo {
			return "System V semaphore, semop P/V with SEM_UNDO"
		}
		return "System V semaphore, semop P/V without SEM_UNDO"
	case ModePosixSem:
		return "POSIX named semaphore (sem_wait/sem_post, glibc's algorithm)"
	case ModePosixSemUnnamed:
		return "POSIX unnamed semaphore in the region (sem_wait/sem_post)"
	case ModeFutex:
		return "futex mutex in the region"
	case ModeFlock:
		return "flock(2) LOCK_EX/LOCK_UN, one open file description per worker"
	case ModeSocketToken:
		return "a token on a ring of Unix stream socketpairs"
	}
	return ""
}

// explanation is the one line the table prints under a mode.
func explanation(mode, unit string, lost int64, p *Params) string {
	other := "process"
	if unit == UnitThread {
		other = "thread"
	}
	gap := ""
	switch {
	case p.Yield && p.WindowNs > 0:
		gap = " (sched_yield and a window between them)"
	case p.Yield:
		gap = " (sched_yield between them)"
	case p.WindowNs > 0:
		gap = " (a window between them)"
	}
	switch mode {
	case ModeUnsafe, ModeUnsafeGo:
		what, between := "load and store are separate instructions"+gap, "between them"
		if mode == ModeUnsafeGo && !p.Yield && p.WindowNs == 0 {
			what, between = "x++ is one ADD on memory without LOCK, still a read then a write for the CPU", "in between"
			if runtime.GOARCH == "arm64" {
				what = "x++ is a load, an add and a store (LDR, ADD, STR)"
			}
		}
		if lost == 0 {
			return fmt.Sprintf("%s, but no other %s wrote %s this time: try more --iters, --yield or --window", what, other, between)
		}
		return fmt.Sprintf("%s; another %s wrote %s, and its update was overwritten", what, other, between)
	case ModeAtomic:
		return "one atomic read-modify-write: the CPU owns the cache line for the whole add; no system call"
	case ModeMutex:
		return "sync.Mutex: a compare-and-swap when free; under contention threads spin, then sleep in the Go scheduler"
	case ModeSysVSem:
		s := "the semaphore serialises the critical section: each increment paid two semop system calls (P and V)"
		if p.undo() {
			s += ", plus SEM_UNDO bookkeeping"
		}
		return s
	case ModePosixSem:
		return "glibc's sem_wait/sem_post: an atomic when free, a futex system call only to wait or to wake a waiter"
	case ModePosixSemUnnamed:
		return "the same algorithm as posix-sem on a sem_t inside the region: no name, no file"
	case ModeFutex:
		return "a futex mutex: compare-and-swap when free, FUTEX_WAIT/FUTEX_WAKE system calls only under contention"
	case ModeFlock:
		return fmt.Sprintf("two flock system calls per increment; each %s opened the file itself (flock locks belong to the open file description)", other)
	case ModeSocketToken:
		return fmt.Sprintf("message passing: only the token's holder touches the counter; every increment is a send, a receive and a wake-up of the next %s", other)
	}
	return ""
}
