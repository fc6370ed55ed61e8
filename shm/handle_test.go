package shm

import (
	"strings"
	"testing"
)

func TestParseHandle(t *testing.T) {
	good := map[string]handle{
		"memfd:fd=0":              {kind: Memfd, fd: 0, id: -1},
		"memfd:fd=3":              {kind: Memfd, fd: 3, id: -1},
		"memfd:fd=2147483647":     {kind: Memfd, fd: 2147483647, id: -1},
		"posix:ipcplay.r-1.count": {kind: POSIX, fd: -1, name: "ipcplay.r-1.count", id: -1},
		"sysv:0":                  {kind: SysV, fd: -1, id: 0},
		"sysv:32769":              {kind: SysV, fd: -1, id: 32769},
		"file:/var/tmp/x.shm":     {kind: File, fd: -1, name: "/var/tmp/x.shm", id: -1},
		"file:/a b/ipcplay:c.shm": {kind: File, fd: -1, name: "/a b/ipcplay:c.shm", id: -1},
	}
	for s, want := range good {
		h, why := parseHandle(s)
		if why != "" || h != want {
			t.Errorf("parseHandle(%q) = %+v, %q; want %+v", s, h, why, want)
		}
		if h.String() != s {
			t.Errorf("handle %q formats as %q", s, h.String())
		}
	}
	bad := []string{
		"", ":", "memfd", "memfd:", "memfd:3", "memfd:fd=", "memfd:fd=x", "memfd:fd=+3",
		"memfd:fd=-3", "memfd:fd=03", "memfd:fd=3 ", "memfd:fd=2147483648", "MEMFD:fd=3",
		"posix:", "posix:x", "posix:ipcplay.", "posix:/ipcplay.x", "posix:../etc",
		"posix:ipcplay.a/b", "posix:ipcplay.\x00", "posix:ipcplay." + strings.Repeat("x", 248),
		"sysv:", "sysv:abc", "sysv:-1", "sysv:1.5", "sysv:99999999999", "sysv:0x10", "sysv: 1",
		"file:", "file:rel", "file:/", "file:/a/", "file://a", "file:/a/./b", "file:/a/../b",
		"file:/a\x00b", "nope:1", "posix", "shm:ipcplay.x",
	}
	for _, s := range bad {
		if h, why := parseHandle(s); why == "" {
			t.Errorf("parseHandle(%q) = %+v, want an error", s, h)
		}
	}
}

// FuzzParseHandle: parsing never panics, and an accepted handle is in
// canonical form (formats back to itself).
func FuzzParseHandle(f *testing.F) {
	for _, s := range []string{
		"memfd:fd=3", "memfd:", "memfd:fd=007", "posix:ipcplay.r-1.counter", "posix:../etc",
		"sysv:32769", "sysv:abc", "sysv:4294967296", "file:/tmp/x", "file:/a/../b", "nope:1", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, why := parseHandle(s)
		if why != "" {
			return
		}
		if got := h.String(); got != s {
			t.Fatalf("parseHandle(%q) accepted a non-canonical handle (formats as %q)", s, got)
		}
		switch h.kind {
		case Memfd:
			if h.fd < 0 {
				t.Fatalf("negative fd from %q", s)
			}
		case SysV:
			if h.id < 0 {
				t.Fatalf("negative id from %q", s)
			}
		case POSIX:
			if strings.ContainsAny(h.name, "/\x00") || !strings.HasPrefix(h.name, POSIXPrefix) {
				t.Fatalf("unsafe POSIX name %q from %q", h.name, s)
			}
		case File:
			if !strings.HasPrefix(h.name, "/") || strings.Contains(h.name, "/../") {
				t.Fatalf("unsafe path %q from %q", h.name, s)
			}
		default:
			t.Fatalf("unknown kind %q from %q", h.kind, s)
		}
	})
}
