package sockets

import (
	"strings"
	"testing"
)

func TestParseType(t *testing.T) {
	for _, typ := range []Type{Stream, Datagram, SeqPacket} {
		got, err := ParseType(typ.String())
		if err != nil || got != typ {
			t.Errorf("ParseType(%q) = %v, %v", typ.String(), got, err)
		}
		if typ.valid() != nil || typ.network() == "" || typ.sotype() == 0 {
			t.Errorf("%v: incomplete mapping", typ)
		}
	}
	for _, bad := range []string{"", "Stream", "datagram", "unix", "seq"} {
		_, err := ParseType(bad)
		if err == nil {
			t.Fatalf("ParseType(%q) succeeded", bad)
		}
		for _, want := range []string{"stream", "dgram", "seqpacket"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("ParseType(%q) error %q does not name %q", bad, err, want)
			}
		}
	}
	if s := Type(9).String(); s != "Type(9)" {
		t.Errorf("Type(9).String() = %q", s)
	}
}
