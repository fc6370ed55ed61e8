package semaphore

import (
	"context"
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestUnnamedContention(t *testing.T) {
	page := newSharedPage(t)
	u, err := InitUnnamed(page.mem[offPrim:], 1)
	if err != nil {
		t.Fatal(err)
	}
	runCounters(t, page, "unnamed", 2, 20000)
	if u.Value() != 1 || u.Waiters() != 0 {
		t.Errorf("after contention: Value %d, Waiters %d; want 1, 0", u.Value(), u.Waiters())
	}
}

func TestUnnamedBadMemory(t *testing.T) {
	w := make([]uint64, 8)
	b := u64bytes(w)
	for _, c := range []struct {
		name string
		mem  []byte
	}{
		{"short", b[:UnnamedSize-1]},
		{"misaligned", b[1:]},
		{"nil", nil},
	} {
		if _, err := InitUnnamed(c.mem, 0); !errors.Is(err, ErrInvalid) {
			t.Errorf("InitUnnamed(%s): %v, want ErrInvalid", c.name, err)
		}
		if _, err := AttachUnnamed(c.mem); !errors.Is(err, ErrInvalid) {
			t.Errorf("AttachUnnamed(%s): %v, want ErrInvalid", c.name, err)
		}
	}
	if _, err := AttachUnnamed(b); !errors.Is(err, ErrInvalid) {
		t.Errorf("AttachUnnamed(zeros): %v, want ErrInvalid", err)
	}
	if _, err := InitUnnamed(b, SemValueMax+1); !errors.Is(err, ErrInvalid) {
		t.Errorf("InitUnnamed(SEM_VALUE_MAX+1): %v, want ErrInvalid", err)
	}
}

func TestUnnamedInProcess(t *testing.T) {
	page := newSharedPage(t)
	u, err := InitUnnamed(page.mem, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := u.TryWait(); !errors.Is(err, unix.EAGAIN) {
		t.Errorf("TryWait at 0: %v, want EAGAIN", err)
	}
	if err := u.Wait(ctxTimeout(t, 30*time.Millisecond)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait at 0: %v, want DeadlineExceeded", err)
	}
	// Ping-pong through two semaphores: every hand-over blocks and wakes.
	v, err := InitUnnamed(page.mem[64:], 0)
	if err != nil {
		t.Fatal(err)
	}
	const rounds = 2000
	ctx := ctxTimeout(t, 30*time.Second)
	errc := make(chan error, 1)
	go func() {
		for range rounds {
			if err := u.Wait(ctx); err != nil {
				errc <- err
				return
			}
			if err := v.Post(); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	for range rounds {
		if err := u.Post(); err != nil {
			t.Fatal(err)
		}
		if err := v.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if u.Value() != 0 || v.Value() != 0 || u.Waiters() != 0 || v.Waiters() != 0 {
		t.Errorf("values %d %d, waiters %d %d; want all 0", u.Value(), v.Value(), u.Waiters(), v.Waiters())
	}
}

func TestDecodeGlibc(t *testing.T) {
	w := make([]uint64, 5)
	b := u64bytes(w)
	if _, _, ok := DecodeGlibc(b[:31]); ok {
		t.Error("DecodeGlibc accepted 31 bytes")
	}
	if v, n, ok := DecodeGlibc(b); !ok || v != 0 || n != 0 {
		t.Errorf("zeros: %d %d %v", v, n, ok)
	}
	w[0] = 3<<32 | 7
	w[1] = futexShared
	if v, n, ok := DecodeGlibc(b); !ok || v != 7 || n != 3 {
		t.Errorf("value 7, 3 waiters: got %d %d %v", v, n, ok)
	}
	w[1] = 5
	if _, _, ok := DecodeGlibc(b); ok {
		t.Error("private = 5 accepted")
	}
	w[1] = 0
	w[0] = SemValueMax + 1
	if _, _, ok := DecodeGlibc(b); ok {
		t.Error("value above SEM_VALUE_MAX accepted")
	}
	// Unaligned input is read too.
	copy(b[1:], b[:32])
	if _, _, ok := DecodeGlibc(b[1:33]); ok {
		t.Error("value above SEM_VALUE_MAX accepted (unaligned)")
	}
}

func FuzzDecodeGlibc(f *testing.F) {
	f.Add(make([]byte, 32))
	f.Add([]byte{5, 0, 0, 0, 1, 0, 0, 0, 128, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, n, ok := DecodeGlibc(b)
		if ok && (len(b) < UnnamedSize || v > SemValueMax) {
			t.Fatalf("DecodeGlibc(%x) = %d, %d, ok", b, v, n)
		}
		if !ok && len(b) < UnnamedSize && (v != 0 || n != 0) {
			t.Fatalf("short input decoded to %d, %d", v, n)
		}
	})
}
