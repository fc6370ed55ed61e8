package bench

import (
	"testing"
)

// msgs seals a message of size bytes for every sequence number given.
func msgs(size int, seqs ...uint64) [][]byte {
	var out [][]byte
	for _, s := range seqs {
		b := alignedBuf(size)
		newSealer(b).seal(s, 0, 0)
		out = append(out, b)
	}
	return out
}

func TestVerifierCounts(t *testing.T) {
	for _, tc := range []struct {
		name                     string
		seqs                     []uint64
		lost, corrupt, reordered int64
	}{
		{"in order", []uint64{0, 1, 2, 3}, 0, 0, 0},
		{"one lost", []uint64{0, 1, 3, 4}, 1, 0, 0},
		{"three lost", []uint64{0, 4, 5}, 3, 0, 0},
		{"lost at the start", []uint64{2, 3}, 2, 0, 0},
		{"swapped pair", []uint64{0, 2, 1, 3}, 0, 0, 1},
		{"late by three", []uint64{0, 2, 3, 4, 1, 5}, 0, 0, 1},
		{"duplicate", []uint64{0, 1, 1, 2}, 0, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := verifier{size: 64}
			for _, m := range msgs(64, tc.seqs...) {
				v.check(m)
			}
			if v.lost != tc.lost || v.corrupt != tc.corrupt || v.reordered != tc.reordered || v.received != int64(len(tc.seqs)) {
				t.Errorf("lost %d corrupt %d reordered %d received %d; want %d %d %d %d",
					v.lost, v.corrupt, v.reordered, v.received, tc.lost, tc.corrupt, tc.reordered, len(tc.seqs))
			}
		})
	}
}

func TestVerifierCorruption(t *testing.T) {
	for _, size := range []int{MinSize, 64, 4096, 65536} {
		// Every single-bit flip anywhere in the message is caught.
		for _, pos := range []int{0, 7, 8, offFlags, offCRC, size - 1, size / 2} {
			m := msgs(size, 0)[0]
			m[pos] ^= 0x10
			v := verifier{size: size}
			v.check(m)
			if v.corrupt != 1 {
				t.Errorf("size %d: a flipped bit at %d went unnoticed", size, pos)
			}
			// A damaged body does not also count as a loss.
			v.check(msgs(size, 1)[0])
			if pos >= hdrLen && (v.lost != 0 || v.reordered != 0) {
				t.Errorf("size %d, damage at %d: lost %d reordered %d after it", size, pos, v.lost, v.reordered)
			}
		}
	}
	v := verifier{size: 64}
	v.check(msgs(64, 0)[0][:32]) // truncated
	v.check(msgs(100, 1)[0])     // too long
	if v.corrupt != 2 {
		t.Errorf("wrong lengths: corrupt %d, want 2", v.corrupt)
	}
}

func TestSealerMatchesFullChecksum(t *testing.T) {
	b := alignedBuf(1000)
	s := newSealer(b)
	s.seal(42, 123456789, flagStop)
	c := append([]byte(nil), b...)
	sealMsg(c, 42, 123456789, flagStop)
	if string(b) != string(c) || !intact(b) {
		t.Error("the incremental checksum differs from a full one")
	}
	seq, sent, flags := header(b)
	if seq != 42 || sent != 123456789 || flags != flagStop {
		t.Errorf("header = %d %d %d", seq, sent, flags)
	}
}

func FuzzVerifier(f *testing.F) {
	f.Add([]byte("0123456789abcdef0123456789abcdef"), uint64(0))
	f.Fuzz(func(t *testing.T, b []byte, next uint64) {
		v := verifier{size: len(b), next: next}
		v.check(b) // must not panic on any input
		if v.received != 1 || v.corrupt+v.lost+v.reordered < 0 {
			t.Fatalf("%+v", v)
		}
	})
}
