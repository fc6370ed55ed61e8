package sysobj

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// Dump sizes: what --dump shows when given no range, and the most it shows.
const (
	DefaultDumpLen = 512
	MaxDumpLen     = 16 << 20
)

// ParseRange parses a dump range "OFFSET:LEN", "OFFSET:" (to the end),
// ":LEN" or "OFFSET" (to the end); numbers are decimal or 0x hex. A
// negative n means "to the end". The empty string is the default range:
// the first DefaultDumpLen bytes.
func ParseRange(s string) (off, n int64, err error) {
	if s == "" {
		return 0, DefaultDumpLen, nil
	}
	a, b, hasLen := strings.Cut(s, ":")
	bad := func() (int64, int64, error) {
		return 0, 0, invalidf("dump range %q: must be OFFSET:LEN, OFFSET: or :LEN with non-negative numbers (decimal or 0x hex), LEN at most %d", s, MaxDumpLen)
	}
	n = -1
	if a != "" {
		if off, err = strconv.ParseInt(a, 0, 64); err != nil || off < 0 {
			return bad()
		}
	}
	if hasLen && b != "" {
		if n, err = strconv.ParseInt(b, 0, 64); err != nil || n < 0 || n > MaxDumpLen {
			return bad()
		}
	}
	if a == "" && (!hasLen || b == "") {
		return bad()
	}
	return off, n, nil
}

// dumpRange checks off and n against the object's size and returns a Dump
// with room for the bytes.
func dumpRange(t Target, size, off, n int64) (*Dump, error) {
	if off > size || (off == size && size > 0) {
		return nil, invalidf("%s: dump offset %d is beyond the end of the object (%d bytes)", t, off, size)
	}
	if n < 0 || off+n > size {
		n = size - off
	}
	if n > MaxDumpLen {
		n = MaxDumpLen
	}
	return &Dump{Offset: off, Length: n, Total: size, Data: make([]byte, n)}, nil
}

func (d *Dump) finish() *Dump {
	d.Hex = hex.EncodeToString(d.Data)
	return d
}

// HexDump formats data, which starts at offset base of its object, the
// way `hexdump -C` does: offset, 16 bytes in hex, the printable ones as
// text, and a single "*" for a run of lines equal to the one before.
func HexDump(data []byte, base int64) string {
	var b strings.Builder
	var prev []byte
	starred := false
	for i := 0; i < len(data); i += 16 {
		line := data[i:min(i+16, len(data))]
		if prev != nil && len(line) == 16 && string(line) == string(prev) {
			if !starred {
				b.WriteString("*\n")
				starred = true
			}
			continue
		}
		starred = false
		prev = line
		fmt.Fprintf(&b, "%08x  ", base+int64(i))
		for j := range 16 {
			switch {
			case j < len(line):
				fmt.Fprintf(&b, "%02x ", line[j])
			default:
				b.WriteString("   ")
			}
			if j == 7 {
				b.WriteByte(' ')
			}
		}
		b.WriteString(" |")
		for _, c := range line {
			if c >= 0x20 && c < 0x7f {
				b.WriteByte(c)
			} else {
				b.WriteByte('.')
			}
		}
		b.WriteString("|\n")
	}
	fmt.Fprintf(&b, "%08x\n", base+int64(len(data)))
	return b.String()
}
