package race

import (
	"strings"
	"testing"
)

// ev builds a recorded increment: read v, wrote v+1, timestamps t1 < t2.
func ev(v, t1, t2 int64) [4]int64 { return [4]int64{v, v + 1, t1, t2} }

func tracks(evs ...[][4]int64) []Track {
	out := make([]Track, len(evs))
	for i, e := range evs {
		out[i] = Track{Worker: i, Label: label(UnitProcess, i), Pid: 100 + i, Tid: 100 + i, Events: e}
	}
	return out
}

func TestWitnessClassicInterleaving(t *testing.T) {
	// P1 read 41 at 10, P2 read 41 at 12, P1 wrote 42 at 20, P2 wrote 42
	// at 25: both loads before both stores.
	tr := tracks(
		[][4]int64{ev(40, 1, 5), ev(41, 10, 20), ev(42, 30, 35)},
		[][4]int64{ev(41, 12, 25), ev(43, 40, 45)},
	)
	ws := FindWitnesses(tr, ModeUnsafe, 1)
	if len(ws) != 1 {
		t.Fatalf("got %d witnesses, want 1: %+v", len(ws), ws)
	}
	w := ws[0]
	want := "P1 read 41 · P2 read 41 · P1 wrote 42 · P2 wrote 42 → one increment lost"
	if w.Text != want {
		t.Errorf("text %q, want %q", w.Text, want)
	}
	if w.Value != 41 || w.Wrote != 42 || w.Lost != 1 || w.Mode != ModeUnsafe || w.Trial != 1 {
		t.Errorf("witness %+v", w)
	}
	checkWitness(t, tr, w)
	if len(tr[0].Lost) != 1 || tr[0].Lost[0] != 1 || len(tr[1].Lost) != 1 || tr[1].Lost[0] != 0 {
		t.Errorf("lost marks %v %v, want [1] [0]", tr[0].Lost, tr[1].Lost)
	}
}

func TestWitnessThreeWay(t *testing.T) {
	tr := tracks(
		[][4]int64{ev(7, 10, 30)},
		[][4]int64{ev(7, 11, 31)},
		[][4]int64{ev(7, 12, 29)},
	)
	ws := FindWitnesses(tr, ModeUnsafe, 2)
	if len(ws) != 1 || ws[0].Lost != 2 || !strings.HasSuffix(ws[0].Text, "→ two increments lost") {
		t.Fatalf("witnesses %+v", ws)
	}
	if got := ws[0].Text; !strings.HasPrefix(got, "P1 read 7 · P2 read 7 · P3 read 7 · P3 wrote 8 · P1 wrote 8") {
		t.Errorf("text %q", got)
	}
	checkWitness(t, tr, ws[0])
}

// Same value read by two workers, but one stored before the other loaded:
// the clocks do not prove that both loads came before both stores (a
// third store of 41 came in between, or P1's store was still in its store
// buffer), so it is no timed witness; the values alone still prove one
// lost update.
func TestWitnessNeedsOverlap(t *testing.T) {
	for i, tr := range [][]Track{
		tracks([][4]int64{ev(41, 10, 20)}, [][4]int64{ev(41, 21, 30)}),
		// Touching timestamps (t1 of one equal to t2 of the other)
		// prove no order either.
		tracks([][4]int64{ev(41, 10, 20)}, [][4]int64{ev(41, 20, 30)}),
	} {
		ws := FindWitnesses(tr, ModeUnsafe, 1)
		if len(ws) != 1 || ws[0].Timed || ws[0].Lost != 1 {
			t.Fatalf("got %+v, want one untimed witness", ws)
		}
		if want := "P1 read 41 · P1 wrote 42 · P2 read 41 · P2 wrote 42"; i == 0 && !strings.HasPrefix(ws[0].Text, want) {
			t.Errorf("text %q, want it to start %q", ws[0].Text, want)
		}
	}
	// One worker reading a value twice (set back by the other) is no
	// witness of an interleaving between workers.
	if ws := FindWitnesses(tracks([][4]int64{ev(41, 10, 20), ev(41, 30, 40)}, nil), ModeUnsafe, 1); len(ws) != 0 {
		t.Fatalf("got %+v, want none", ws)
	}
}

func TestWitnessSerialisedTraceHasNone(t *testing.T) {
	// A correct, serialised run: values strictly increase, no two reads
	// of one value.
	var a, b [][4]int64
	for v := int64(0); v < 100; v++ {
		e := ev(v, 10*v, 10*v+5)
		if v%3 == 0 {
			a = append(a, e)
		} else {
			b = append(b, e)
		}
	}
	if ws := FindWitnesses(tracks(a, b), ModeFutex, 1); len(ws) != 0 {
		t.Fatalf("got %+v, want none", ws)
	}
}

func TestWitnessIgnoresNonIncrements(t *testing.T) {
	tr := tracks(
		[][4]int64{{41, 43, 10, 20}},
		[][4]int64{ev(41, 11, 21)},
	)
	if ws := FindWitnesses(tr, ModeUnsafe, 1); len(ws) != 0 {
		t.Fatalf("got %+v, want none", ws)
	}
}

func TestWitnessEachIncrementUsedOnce(t *testing.T) {
	// P1 and P2 race on 5; P3 reads 5 much later (after a stale store):
	// one witness of two, P3's increment is not part of it.
	tr := tracks(
		[][4]int64{ev(5, 10, 20)},
		[][4]int64{ev(5, 11, 21)},
		[][4]int64{ev(5, 50, 60)},
	)
	ws := FindWitnesses(tr, ModeUnsafe, 1)
	if len(ws) != 1 || ws[0].Lost != 1 {
		t.Fatalf("witnesses %+v", ws)
	}
	for _, s := range ws[0].Steps {
		if s.Worker == 2 {
			t.Errorf("P3 is in the witness: %+v", ws[0])
		}
	}
	checkWitness(t, tr, ws[0])
}

// checkWitness verifies that w is what the records say: every step is a
// recorded load or store of its worker, all increments read w.Value and
// wrote w.Value+1, they come from different workers, every load's t1 is
// before every store's t2, and the steps are in timestamp order.
func checkWitness(t *testing.T, tr []Track, w Witness) {
	t.Helper()
	if len(w.Steps) < 4 || len(w.Steps)%2 != 0 {
		t.Fatalf("witness %+v: %d steps", w, len(w.Steps))
	}
	workers := map[int]int{}
	var maxRead, minWrite int64 = -1 << 63, 1<<63 - 1
	for i, s := range w.Steps {
		if i > 0 && s.TNs < w.Steps[i-1].TNs {
			t.Errorf("witness %q: step %d out of time order", w.Text, i)
		}
		if s.Worker < 0 || s.Worker >= len(tr) || s.Seq < 0 || s.Seq >= len(tr[s.Worker].Events) {
			t.Fatalf("witness %q: step %+v names no record", w.Text, s)
		}
		e := tr[s.Worker].Events[s.Seq]
		if s.Label != tr[s.Worker].Label || s.Pid != tr[s.Worker].Pid {
			t.Errorf("witness %q: step %+v does not match its track", w.Text, s)
		}
		switch s.Op {
		case "read":
			workers[s.Worker]++
			if uint64(e[0]) != s.Value || s.Value != w.Value || e[2] != s.TNs {
				t.Errorf("witness %q: read step %+v, record %v", w.Text, s, e)
			}
			maxRead = max(maxRead, s.TNs)
		case "wrote":
			if uint64(e[1]) != s.Value || s.Value != w.Value+1 || e[3] != s.TNs {
				t.Errorf("witness %q: write step %+v, record %v", w.Text, s, e)
			}
			minWrite = min(minWrite, s.TNs)
		default:
			t.Errorf("witness %q: op %q", w.Text, s.Op)
		}
	}
	if w.Timed && maxRead >= minWrite {
		t.Errorf("witness %q: a load's t1 (%d) is not before every store's t2 (%d)", w.Text, maxRead, minWrite)
	}
	for wk, n := range workers {
		if n != 1 {
			t.Errorf("witness %q: worker %d appears %d times", w.Text, wk, n)
		}
	}
	if len(workers) != w.Lost+1 {
		t.Errorf("witness %q: %d workers but lost %d", w.Text, len(workers), w.Lost)
	}
}
