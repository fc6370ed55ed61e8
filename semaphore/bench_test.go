package semaphore

import (
	"context"
	"testing"
	"time"
)

// The bodies are shared by the Benchmark functions and TestCompareC.

func benchSysVPV(b *testing.B, s *Set, ctx context.Context, undo bool) {
	for b.Loop() {
		if err := s.P(ctx, 0, undo); err != nil {
			b.Fatal(err)
		}
		if err := s.V(0, undo); err != nil {
			b.Fatal(err)
		}
	}
}

// semaphoreLike is what Named and Unnamed have in common.
type semaphoreLike interface {
	Wait(context.Context) error
	Post() error
}

func benchWaitPost(b *testing.B, s semaphoreLike) {
	ctx := context.Background()
	for b.Loop() {
		if err := s.Wait(ctx); err != nil {
			b.Fatal(err)
		}
		if err := s.Post(); err != nil {
			b.Fatal(err)
		}
	}
}

func benchLockUnlock(b *testing.B, m *Mutex) {
	ctx := context.Background()
	for b.Loop() {
		if err := m.Lock(ctx); err != nil {
			b.Fatal(err)
		}
		if err := m.Unlock(); err != nil {
			b.Fatal(err)
		}
	}
}

// parallel runs lock/unlock pairs from GOMAXPROCS goroutines (2 on the
// project's machines): the contended case, where waits really block.
func parallel(b *testing.B, lock func(context.Context) error, unlock func() error) {
	ctx := context.Background()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := lock(ctx); err != nil {
				b.Error(err)
				return
			}
			if err := unlock(); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func newBenchSet(b *testing.B) *Set {
	s := newSet(b, 1)
	if err := s.SetVal(0, 1); err != nil {
		b.Fatal(err)
	}
	return s
}

func BenchmarkSysVPV(b *testing.B) {
	b.Run("noundo", func(b *testing.B) { benchSysVPV(b, newBenchSet(b), context.Background(), false) })
	b.Run("undo", func(b *testing.B) { benchSysVPV(b, newBenchSet(b), context.Background(), true) })
	b.Run("deadline", func(b *testing.B) {
		// A context that can be done: the cost of honouring it.
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		benchSysVPV(b, newBenchSet(b), ctx, false)
	})
	b.Run("contended", func(b *testing.B) {
		s := newBenchSet(b)
		parallel(b, func(ctx context.Context) error { return s.P(ctx, 0, false) }, func() error { return s.V(0, false) })
	})
}

func BenchmarkNamedWaitPost(b *testing.B) {
	b.Run("uncontended", func(b *testing.B) { benchWaitPost(b, newNamed(b, ".bench", 1)) })
	b.Run("contended", func(b *testing.B) {
		n := newNamed(b, ".benchc", 1)
		parallel(b, n.Wait, n.Post)
	})
}

func newBenchUnnamed(b *testing.B) *Unnamed {
	u, err := InitUnnamed(newSharedPage(b).mem, 1)
	if err != nil {
		b.Fatal(err)
	}
	return u
}

func BenchmarkUnnamedWaitPost(b *testing.B) {
	b.Run("uncontended", func(b *testing.B) { benchWaitPost(b, newBenchUnnamed(b)) })
	b.Run("contended", func(b *testing.B) {
		u := newBenchUnnamed(b)
		parallel(b, u.Wait, u.Post)
	})
}

func newBenchMutex(b *testing.B) *Mutex {
	m, err := InitMutex(newSharedPage(b).mem)
	if err != nil {
		b.Fatal(err)
	}
	return m
}

func BenchmarkMutexLockUnlock(b *testing.B) {
	b.Run("uncontended", func(b *testing.B) { benchLockUnlock(b, newBenchMutex(b)) })
	b.Run("contended", func(b *testing.B) {
		m := newBenchMutex(b)
		parallel(b, m.Lock, m.Unlock)
	})
}

func newBenchRobust(b *testing.B) *RobustMutex {
	m, err := InitRobustMutex(newSharedPage(b).mem)
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// BenchmarkRobustMutexLockUnlock: beside BenchmarkMutexLockUnlock, the
// price of the kernel's bookkeeping (gettid, get_robust_list and the list
// operations per Lock; in a cgo or -race binary also set_robust_list
// twice, to borrow and give back glibc's head).
func BenchmarkRobustMutexLockUnlock(b *testing.B) {
	b.Run("uncontended", func(b *testing.B) {
		m := newBenchRobust(b)
		ctx := context.Background()
		for b.Loop() {
			if err := m.Lock(ctx); err != nil {
				b.Fatal(err)
			}
			if err := m.Unlock(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("contended", func(b *testing.B) {
		m := newBenchRobust(b)
		parallel(b, m.Lock, m.Unlock)
	})
}
