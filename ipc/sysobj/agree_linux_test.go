package sysobj

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// waitersOf returns pid -> the "thread ... blocked" details, from the
// waiting holders of inspect or the holders of who.
func waitersOf(hs []Holder) map[int][]string {
	out := map[int][]string{}
	for _, h := range hs {
		for _, d := range h.Details {
			if strings.HasPrefix(d, "thread ") {
				out[h.PID] = append(out[h.PID], d)
			}
		}
	}
	return out
}

// inspect and who make one observation of an object: for every kind of
// waiter (semop for an increase, NCNT, and for zero, ZCNT; msgrcv; a glibc
// sem_wait, a futex in POSIX shared memory; mq_receive) both name the same
// threads in the same words, and the kernel's count agrees with them.
func TestInspectAndWhoAgreeOnWaiters(t *testing.T) {
	o := createC(t)
	type kind struct {
		name   string
		args   []string
		target Target
	}
	kinds := []kind{
		{"sysv-sem ncnt", []string{"semop-wait", strconv.Itoa(o.semid), "1", "-1"}, Target{Type: TypeSysVSem, ID: o.semid}},
		{"sysv-sem zcnt", []string{"semop-wait", strconv.Itoa(o.semid), "2", "0"}, Target{Type: TypeSysVSem, ID: o.semid}},
		{"sysv-msg", []string{"msgrcv-wait", strconv.Itoa(o.msqid)}, Target{Type: TypeSysVMsg, ID: o.msqid}},
		{"posix-sem", []string{"sem-wait", o.prefix + "sem"}, Target{Type: TypePOSIXSem, ID: -1, Name: o.prefix + "sem"}},
		{"posix-shm futex", []string{"shm-mutex-wait", o.prefix + "shm"}, Target{Type: TypePOSIXShm, ID: -1, Name: o.prefix + "shm"}},
	}
	if o.mq {
		kinds = append(kinds, kind{"posix-mq", []string{"mq-wait", o.prefix + "mq"}, Target{Type: TypePOSIXMQ, ID: -1, Name: o.prefix + "mq"}})
	}
	inspect := func(tg Target) ([]Holder, []string, error) {
		switch tg.Type {
		case TypeSysVSem:
			s, err := InspectSysVSem(tg.ID)
			if err != nil {
				return nil, nil, err
			}
			return s.Waiting, s.Warnings, nil
		case TypeSysVMsg:
			q, err := InspectSysVMsg(tg.ID)
			if err != nil {
				return nil, nil, err
			}
			return q.Waiting, q.Warnings, nil
		case TypePOSIXSem:
			s, err := InspectPOSIXSem(tg.Name)
			if err != nil {
				return nil, nil, err
			}
			return s.Waiting, s.Warnings, nil
		case TypePOSIXShm:
			s, err := InspectPOSIXShm(tg.Name)
			if err != nil {
				return nil, nil, err
			}
			return s.Waiting, s.Warnings, nil
		case TypePOSIXMQ:
			q, err := InspectPOSIXMQ(tg.Name)
			if err != nil {
				return nil, nil, err
			}
			return q.Waiting, q.Warnings, nil
		}
		return nil, nil, errors.New("no such type")
	}
	for _, k := range kinds {
		w := startC(t, k.args...)
		w.expect(t, "waiting")
		waitFor(t, k.name+": the waiter seen by inspect", func() (bool, string) {
			ws, _, err := inspect(k.target)
			return err == nil && len(waitersOf(ws)[w.pid()]) == 1, fmt.Sprintf("%+v %v", ws, err)
		})
		// The waiter now sleeps for good: one reading of each must agree.
		ws, iwarn, err := inspect(k.target)
		if err != nil {
			t.Fatal(err)
		}
		res, err := Who(k.target)
		if err != nil {
			t.Fatal(err)
		}
		in, who := waitersOf(ws), waitersOf(res.Processes)
		if fmt.Sprint(in) != fmt.Sprint(who) {
			t.Errorf("%s: inspect says %v, who says %v", k.name, in, who)
		}
		for _, wn := range append(slices.Clone(iwarn), res.Warnings...) {
			if strings.Contains(wn, "seen asleep in") {
				t.Errorf("%s: the kernel's count and the threads disagree: %s", k.name, wn)
			}
		}
		if k.target.Type == TypeSysVSem {
			s, _ := InspectSysVSem(o.semid)
			if n := s.kernelWaiters(); n != len(in) {
				t.Errorf("%s: NCNT+ZCNT %d, threads seen %d", k.name, n, len(in))
			}
		}
		w.kill()
		w.cmd.Wait()
	}
}

// settle reads again while the kernel's count and the threads seen
// disagree (a waiter caught between two slices of a timed wait), and
// stops at the first agreement or after observeTries readings.
func TestSettleReadsAgainWhileTheyDisagree(t *testing.T) {
	readings := [][2]int{{1, 0}, {1, 0}, {1, 1}, {0, 0}}
	n := 0
	want, seen, err := settle(func() (int, int, error) {
		r := readings[n]
		n++
		return r[0], r[1], nil
	})
	if err != nil || want != 1 || seen != 1 || n != 3 {
		t.Errorf("got %d/%d after %d readings (%v), want 1/1 after 3", want, seen, n, err)
	}
	n = 0
	want, seen, _ = settle(func() (int, int, error) { n++; return 2, 1, nil })
	if n != observeTries || want != 2 || seen != 1 {
		t.Errorf("a lasting disagreement: %d readings, %d/%d", n, want, seen)
	}
	boom := errors.New("boom")
	if _, _, err := settle(func() (int, int, error) { return 1, 0, boom }); !errors.Is(err, boom) {
		t.Errorf("error %v", err)
	}
}

// A set whose kernel count finds no thread seen says so, in inspect's
// text and in a warning, instead of a bare "no blocked thread seen".
func TestSysVSemCountWithoutThreads(t *testing.T) {
	s := &SysVSem{Type: TypeSysVSem, ID: 7, NSems: 1, Values: []int{0}, NCnt: []int{1}, ZCnt: []int{0},
		LastPID: []int{0}, LastProc: []*Proc{nil}, Waiting: []Holder{}}
	w := waitCountWarning("the set (the sum of NCNT and ZCNT)", "semop/semtimedop on the set", 1, 0, true)
	if !strings.Contains(w, "the kernel counts 1 waiter on the set (the sum of NCNT and ZCNT) but 0 threads were seen asleep") || !strings.Contains(w, "could not be examined") {
		t.Errorf("warning %q", w)
	}
	if w := waitCountWarning("x", "y", 1, 2, false); !strings.Contains(w, "woken between the two readings") {
		t.Errorf("more seen than counted: %q", w)
	}
	if w := waitCountWarning("x", "y", 2, 2, false); w != "" {
		t.Errorf("agreement warned: %q", w)
	}
	s.Warnings = []string{w}
	var b bytes.Buffer
	if err := Render(&b, s); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "no blocked thread seen, though the kernel counts 1 waiter: see the warning") {
		t.Errorf("inspect text:\n%s", b.String())
	}
}
