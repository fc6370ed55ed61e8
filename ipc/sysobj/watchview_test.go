package sysobj

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestWatchMarksChanges(t *testing.T) {
	u := func(v uint32) *uint32 { return &v }
	first := WatchSnapshot{TimeNs: 1, Objects: []Status{
		{Object: Object{Type: TypePOSIXSem, ID: -1, Name: "/a", Mode: "0600"}, Value: u(1), Waiters: u(0)},
	}}
	second := WatchSnapshot{TimeNs: 2, Objects: []Status{
		{Object: Object{Type: TypePOSIXSem, ID: -1, Name: "/a", Mode: "0600"}, Value: u(0), Waiters: u(1)},
		{Object: Object{Type: TypePOSIXSem, ID: -1, Name: "/b", Mode: "0600"}, Value: u(5), Waiters: u(0)},
	}}
	var plain bytes.Buffer
	v := NewWatchView(&plain, false, time.Second, nil)
	v.Show(first, 1)
	v.Show(second, 2)
	lines := strings.Split(plain.String(), "\n")
	var a, b string
	for _, l := range lines {
		if strings.Contains(l, " /a ") {
			a = l
		}
		if strings.Contains(l, " /b ") {
			b = l
		}
	}
	if !strings.HasPrefix(a, "* ") || !strings.Contains(a, "value 0  waiters 1") || !strings.HasPrefix(b, "+ ") {
		t.Errorf("plain marks:\n%s", plain.String())
	}
	var tty bytes.Buffer
	v = NewWatchView(&tty, true, time.Second, nil)
	v.Show(first, 1)
	tty.Reset()
	v.Show(second, 2)
	if !strings.Contains(tty.String(), "\x1b[7mvalue 0  waiters 1 (glibc's, in user memory)\x1b[27m") || !strings.Contains(tty.String(), "\x1b[1m/b\x1b[22m") ||
		!strings.HasPrefix(tty.String(), "\x1b[H") || !strings.Contains(tty.String(), "\r\n") {
		t.Errorf("terminal frame: %q", tty.String())
	}
}
