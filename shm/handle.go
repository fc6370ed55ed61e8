package shm

import (
	"strconv"
	"strings"
)

// handle is a parsed textual handle. Exactly one of fd, name and id is
// meaningful, according to kind.
type handle struct {
	kind Kind
	fd   int    // memfd
	name string // posix name or file path
	id   int    // sysv shmid
}

func (h handle) String() string {
	switch h.kind {
	case Memfd:
		return "memfd:fd=" + strconv.Itoa(h.fd)
	case SysV:
		return "sysv:" + strconv.Itoa(h.id)
	}
	return string(h.kind) + ":" + h.name
}

// parseHandle parses s strictly: "memfd:fd=N", "posix:NAME", "sysv:ID" or
// "file:/ABS/PATH". Numbers are decimal without sign or leading zeros and
// fit in an int32; names follow the rules of Spec. When s is malformed it
// returns why, in words.
func parseHandle(s string) (h handle, why string) {
	bad := func(why string) (handle, string) { return handle{}, why }
	kind, rest, ok := strings.Cut(s, ":")
	if !ok {
		return bad("want kind:value, e.g. memfd:fd=3, posix:ipcplay.x, sysv:32769 or file:/path")
	}
	switch Kind(kind) {
	case Memfd:
		v, ok := strings.CutPrefix(rest, "fd=")
		if !ok {
			return bad("memfd handle must be memfd:fd=N")
		}
		n, ok := parseDecimal(v)
		if !ok {
			return bad("memfd descriptor must be a decimal number 0..2147483647")
		}
		return handle{kind: Memfd, fd: n, id: -1}, ""
	case POSIX:
		if why := checkPOSIXName(rest); why != "" {
			return bad(why)
		}
		return handle{kind: POSIX, fd: -1, name: rest, id: -1}, ""
	case SysV:
		n, ok := parseDecimal(rest)
		if !ok {
			return bad("System V shmid must be a decimal number 0..2147483647")
		}
		return handle{kind: SysV, fd: -1, id: n}, ""
	case File:
		if why := checkPath(rest, true); why != "" {
			return bad(why)
		}
		return handle{kind: File, fd: -1, name: rest, id: -1}, ""
	}
	return bad("unknown kind " + strconv.Quote(kind) + " (allowed: " + kindList() + ")")
}

// parseDecimal accepts 0..MaxInt32 written in canonical decimal.
func parseDecimal(s string) (int, bool) {
	if s == "" || len(s) > 10 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if n > 1<<31-1 {
		return 0, false
	}
	return int(n), true
}
