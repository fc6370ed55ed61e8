package bench

import (
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"testing"
	"unsafe"
)

// TestRingModesCarryEveryMessage pushes messages through one ring of each
// mode, producer and consumer in two goroutines, across many wraps of the
// ring (and so through its full and empty waits), and checks every
// message's sequence number and checksum.
func TestRingModesCarryEveryMessage(t *testing.T) {
	// The rings wait in raw futex calls that hold their P, as the workers
	// do with the collector off: a stop-the-world here would wait for a
	// sleeper whose waker it has stopped.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	// A spinning consumer reaches no safe point until the producer
	// produces. Should a collection still be finishing (its mark
	// termination waits on every P), it holds the second P of a 2-CPU
	// machine and the producer has none: seen as a test hung for 5
	// minutes in forEachP. Spare Ps let the producer run meanwhile.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(max(4, runtime.GOMAXPROCS(0))))
	for _, m := range []struct {
		name string
		mode ringMode
		spin int
	}{{"futex", ringFutex, 0}, {"spin", ringSpin, 0}, {"adaptive/0", ringAdaptive, 0}, {"adaptive/1000", ringAdaptive, 1000}} {
		for _, size := range []int{MinSize, 64, 100, 4096} {
			stop := new(atomic.Bool)
			_, n, total := ringGeometry(size, m.mode)
			mem := alignedBuf(pageAlign(total))
			if err := initRing(mem, size, m.mode); err != nil {
				t.Fatal(err)
			}
			prod, err := attachRing(mem, size, m.mode, m.spin, stop)
			if err != nil {
				t.Fatal(err)
			}
			cons, err := attachRing(mem, size, m.mode, m.spin, stop)
			if err != nil {
				t.Fatal(err)
			}
			count := int(n)*20 + 3
			done := make(chan error, 1)
			go func() {
				s := newSealer(alignedBuf(size))
				for i := range count {
					s.seal(uint64(i), 0, 0)
					if err := prod.produce(s.buf); err != nil {
						done <- err
						return
					}
				}
				done <- nil
			}()
			v := verifier{size: size}
			for range count {
				msg, err := cons.consume()
				if err != nil {
					t.Fatal(err)
				}
				v.check(msg)
				if err := cons.release(); err != nil {
					t.Fatal(err)
				}
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if v.received != int64(count) || v.lost+v.corrupt+v.reordered != 0 {
				t.Errorf("%s size %d: %+v", m.name, size, v)
			}
		}
	}
}

// TestSpinSlotLayout checks what makes shm-spin cheap: a slot's ready word
// and the start of its message share one 64-byte line, slots start on a
// line, and the words the two sides write live on separate 128-byte lines.
func TestSpinSlotLayout(t *testing.T) {
	for _, size := range []int{MinSize, 56, 64, 4096, 64 << 10} {
		slot, _, _ := ringGeometry(size, ringSpin)
		if slot%64 != 0 || slot < size+slotWord {
			t.Errorf("size %d: slot stride %d", size, slot)
		}
		mem := alignedBuf(pairBytes(size))
		if err := initRing(mem, size, ringSpin); err != nil {
			t.Fatal(err)
		}
		r, err := attachRing(mem, size, ringSpin, 0, new(atomic.Bool))
		if err != nil {
			t.Fatal(err)
		}
		word := uintptr(unsafe.Pointer(r.ready(0)))
		msg := uintptr(unsafe.Pointer(&r.at(0)[0]))
		if word/64 != msg/64 || word%64 != 0 {
			t.Errorf("size %d: ready word at line offset %d, message at %d: not one line", size, word%64, msg-word)
		}
	}
	for i, a := range []int{offHead, offConsWait, offTail, offProdWait} {
		for _, b := range []int{offHead, offConsWait, offTail, offProdWait}[i+1:] {
			if a/128 == b/128 {
				t.Errorf("ring words at %d and %d share a 128-byte line", a, b)
			}
		}
	}
}
