package sysobj

import (
	"bytes"
	"strings"
	"testing"
)

// Processes that could not be examined are one short line, counted in
// words, and only where they could hold part of the object.
func TestDeniedWarningIsOneShortLine(t *testing.T) {
	one := deniedWarning([]int{1})
	if !strings.HasPrefix(one, "1 process could not be examined (pid 1), ") || !strings.HasSuffix(one, ": it may use the object unseen") {
		t.Errorf("one: %q", one)
	}
	many := deniedWarning([]int{1, 7, 9})
	if !strings.HasPrefix(many, "3 processes could not be examined (pid 1, 7, 9), ") || !strings.HasSuffix(many, ": they may use the object unseen") {
		t.Errorf("many: %q", many)
	}
	for _, w := range []string{one, many} {
		if strings.Contains(w, "(es)") || strings.Contains(w, "\n") || len(w) > 130 {
			t.Errorf("not one short line (%d bytes): %q", len(w), w)
		}
	}
	if deniedWarning(nil) != "" {
		t.Error("a warning with nothing denied")
	}
	r := &scanResult{denied: []int{1}}
	if w := r.warningUnlessCounted(0, 0); w != "" {
		t.Errorf("nattch 0 and none seen: %q, want no warning", w)
	}
	if w := r.warningUnlessCounted(2, 2); w != "" {
		t.Errorf("every counted user seen: %q, want no warning", w)
	}
	if w := r.warningUnlessCounted(2, 1); w != one {
		t.Errorf("a counted user unseen: %q, want %q", w, one)
	}
}

// who qualifies "no process uses it" only when some process was unseen.
func TestWhoSaysAmongThoseOnlyWhenSomeWereUnseen(t *testing.T) {
	for unseen, want := range map[bool]string{
		false: "sysv-shm 7: no process uses it\n",
		true:  "sysv-shm 7: no process uses it (among those this user can examine)\n",
	} {
		var b bytes.Buffer
		(&WhoResult{Target: "sysv-shm 7", unseen: unseen}).Render(&b)
		if b.String() != want {
			t.Errorf("unseen %v: %q, want %q", unseen, b.String(), want)
		}
	}
}
