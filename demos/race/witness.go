package race

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// opRef is one recorded increment: track index and position in it.
type opRef struct {
	track, seq int
	read       uint64
	wrote      uint64
	t1, t2     int64
}

// FindWitnesses reconstructs lost updates from the records of one trial
// (one track per worker). A witness is a set of two or more increments of
// different workers that read the same value v, stored v+1, and whose
// timestamps satisfy max(t1) < min(t2). Since every load precedes its t1
// and every store follows its t2, all those loads happened before all
// those stores: k increments left one trace in the counter, k-1 were lost.
// Each increment belongs to at most one witness. These are timed
// witnesses (Timed true): the clocks order the interleaving.
//
// A value read by increments of two or more workers that no timed witness
// explains is a witness too (Timed false), proved by the values alone: the
// final count F needs a chain of increments that read 0, 1, ... F-1, one
// per value, so every further increment that read an already-read value
// added nothing. The clocks then do not order the accesses: one worker
// waited between its load and its store outside [t1, t2] (preempted after
// t2, or its store still in the CPU's store buffer), or the counter was set
// back to v by a stale store in between. One increment per worker is
// taken, so such a witness also proves workers-1 lost updates.
//
// The witnesses are ordered by their first load; mode and trial are copied
// into them, and the increments they use are marked in the tracks' Lost
// lists.
func FindWitnesses(tracks []Track, mode string, trial int) []Witness {
	groups := map[uint64][]opRef{}
	for ti, tr := range tracks {
		for seq, e := range tr.Events {
			read, wrote := uint64(e[0]), uint64(e[1])
			if wrote != read+1 {
				continue // not an increment from what was read
			}
			groups[read] = append(groups[read], opRef{track: ti, seq: seq, read: read, wrote: wrote, t1: e[2], t2: e[3]})
		}
	}
	var out []Witness
	for _, g := range groups {
		if len(g) < 2 {
			continue
		}
		slices.SortFunc(g, func(a, b opRef) int { return cmp.Compare(a.t1, b.t1) })
		cs := cliques(g)
		for _, clique := range cs {
			out = append(out, makeWitness(tracks, clique, mode, trial, true))
		}
		if len(cs) > 0 {
			continue
		}
		// No timed witness: one increment per worker, the earliest.
		var byValue []opRef
		seen := map[int]bool{}
		for _, o := range g {
			if !seen[o.track] {
				seen[o.track] = true
				byValue = append(byValue, o)
			}
		}
		if len(byValue) >= 2 {
			out = append(out, makeWitness(tracks, byValue, mode, trial, false))
		}
	}
	slices.SortFunc(out, func(a, b Witness) int {
		return cmp.Or(cmp.Compare(a.Steps[0].TNs, b.Steps[0].TNs), cmp.Compare(a.Value, b.Value))
	})
	for _, w := range out {
		for _, s := range w.Steps {
			if s.Op == "read" {
				tracks[s.Worker].Lost = append(tracks[s.Worker].Lost, s.Seq)
			}
		}
	}
	for i := range tracks {
		slices.Sort(tracks[i].Lost)
	}
	return out
}

// cliques picks, greedily, the largest sets of increments in g (sorted by
// t1) that share an instant: for the member with the latest t1, every
// member's t2 is later still. Members come from different tracks (one
// worker's increments never overlap in time; a set that pretends they do
// is not taken).
func cliques(g []opRef) [][]opRef {
	used := make([]bool, len(g))
	var out [][]opRef
	for {
		var best []int
		for i := range g {
			if used[i] {
				continue
			}
			// Candidates whose load is not after i's and whose store is
			// after i's load.
			members := []int{}
			tracks := map[int]bool{}
			for j := 0; j <= i; j++ {
				if used[j] || g[j].t2 <= g[i].t1 || tracks[g[j].track] {
					continue
				}
				tracks[g[j].track] = true
				members = append(members, j)
			}
			// Ties on t1 after i also share the instant g[i].t1 only if
			// their t1 is not later; they are handled when they are i.
			if len(members) > len(best) {
				best = members
			}
		}
		if len(best) < 2 {
			return out
		}
		c := make([]opRef, len(best))
		for k, j := range best {
			used[j] = true
			c[k] = g[j]
		}
		out = append(out, c)
	}
}

func makeWitness(tracks []Track, c []opRef, mode string, trial int, timed bool) Witness {
	w := Witness{Mode: mode, Trial: trial, Value: c[0].read, Wrote: c[0].wrote, Lost: len(c) - 1, Timed: timed}
	for _, o := range c {
		tr := tracks[o.track]
		base := Step{Worker: o.track, Label: tr.Label, Pid: tr.Pid, Tid: tr.Tid, Seq: o.seq}
		r, wr := base, base
		r.Op, r.Value, r.TNs = "read", o.read, o.t1
		wr.Op, wr.Value, wr.TNs = "wrote", o.wrote, o.t2
		w.Steps = append(w.Steps, r, wr)
	}
	slices.SortStableFunc(w.Steps, func(a, b Step) int {
		return cmp.Or(cmp.Compare(a.TNs, b.TNs), cmp.Compare(opRank(a.Op), opRank(b.Op)))
	})
	parts := make([]string, len(w.Steps))
	for i, s := range w.Steps {
		parts[i] = fmt.Sprintf("%s %s %d", s.Label, s.Op, s.Value)
	}
	// Whether the clocks order it is Timed, which the text marks.
	w.Text = strings.Join(parts, " · ") + " → " + countWord(w.Lost) + " lost"
	return w
}

func opRank(op string) int {
	if op == "read" {
		return 0
	}
	return 1
}

func countWord(n int) string {
	words := []string{"no increment", "one increment", "two increments", "three increments", "four increments", "five increments"}
	if n >= 0 && n < len(words) {
		return words[n]
	}
	return fmt.Sprintf("%d increments", n)
}
