package sysobj

import (
	"errors"
	"testing"
	"unicode/utf8"
)

func TestEscapeName(t *testing.T) {
	for raw, want := range map[string]string{
		"/ipcplay.x":  "/ipcplay.x",
		"/x\xfe":      `/x\xfe`,
		"/x\xff":      `/x\xff`,
		"/é ü":        "/é ü",
		`a\b`:         `a\\b`,
		"line\nfeed":  `line\x0afeed`,
		"@\x00ab\x00": `@\x00ab\x00`,
		"\u200b":      `\xe2\x80\x8b`, // zero-width space: not printable
	} {
		if got := EscapeName(raw); got != want {
			t.Errorf("EscapeName(%q) = %q, want %q", raw, got, want)
		}
		if back, err := UnescapeName(want); err != nil || back != raw {
			t.Errorf("UnescapeName(%q) = %q, %v; want %q", want, back, err, raw)
		}
	}
	if EscapeName("/x\xfe") == EscapeName("/x\xff") {
		t.Error("two names, one escaped form")
	}
	for _, bad := range []string{`\`, `a\b`, `\x`, `\x4`, `\xzz`} {
		if _, err := UnescapeName(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("UnescapeName(%q): %v, want ErrInvalid", bad, err)
		}
	}
}

func FuzzEscapeName(f *testing.F) {
	for _, s := range []string{"", "/x\xfe", `a\\b`, "@\x00", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e := EscapeName(s)
		if !utf8.ValidString(e) {
			t.Fatalf("EscapeName(%q) = %q is not UTF-8", s, e)
		}
		back, err := UnescapeName(e)
		if err != nil || back != s {
			t.Fatalf("round trip of %q: %q, %v", s, back, err)
		}
	})
}

func TestUserName(t *testing.T) {
	if got := UserName(0); got != "root" {
		t.Errorf("UserName(0) = %q, want root", got)
	}
	if got := UserName(-1); got != "-" {
		t.Errorf("UserName(-1) = %q, want -", got)
	}
	if got := UserName(2147480001); got != "2147480001" {
		t.Errorf("UserName of a uid with no user = %q, want the number", got)
	}
}
