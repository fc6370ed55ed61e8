package sysobj

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Names that come from the kernel (file names in /dev/shm and the mqueue
// file system, socket paths and abstract names, process names and command
// lines) are byte strings: they need not be UTF-8 and may hold control
// characters (an abstract socket name may even hold NUL bytes). They are
// shown, in text and in JSON, in one escaped form that keeps every byte
// and that inspect, who and watch accept back:
//
//   - a printable UTF-8 character other than the backslash stands for
//     itself (so ordinary names are unchanged);
//   - a backslash is written \\;
//   - every other byte (a byte that is not part of valid UTF-8, a control
//     character such as newline or NUL, a byte of a non-printable
//     character) is written \xHH, two lowercase hex digits.
//
// A name typed to inspect, who or watch is read back the same way: \\ is
// one backslash, \xHH one byte, and any other backslash is an error.

// EscapeName returns the escaped form of a kernel-supplied name. It is
// valid UTF-8, and UnescapeName(EscapeName(s)) == s for every s.
func EscapeName(s string) string {
	if !needsEscape(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == utf8.RuneError && n <= 1, !unicode.IsPrint(r):
			for _, c := range []byte(s[i : i+n]) {
				b.WriteString(`\x`)
				b.WriteByte(hexDigits[c>>4])
				b.WriteByte(hexDigits[c&0xf])
			}
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

const hexDigits = "0123456789abcdef"

func needsEscape(s string) bool {
	for _, r := range s {
		if r == '\\' || r == utf8.RuneError || !unicode.IsPrint(r) {
			return true
		}
	}
	return false
}

// UnescapeName reads a name in the escaped form of EscapeName back into
// its bytes. A backslash not followed by another backslash or by x and
// two hex digits is an ErrInvalid error.
func UnescapeName(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		switch {
		case i+1 < len(s) && s[i+1] == '\\':
			b.WriteByte('\\')
			i++
		case i+3 < len(s) && s[i+1] == 'x' && isHex(s[i+2]) && isHex(s[i+3]):
			b.WriteByte(unhex(s[i+2])<<4 | unhex(s[i+3]))
			i += 3
		default:
			return "", invalidf("name %q: a backslash must start \\\\ (a backslash) or \\xHH (the byte of hex value HH)", s)
		}
	}
	return b.String(), nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}
