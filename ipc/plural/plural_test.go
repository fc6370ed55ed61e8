package plural

import "testing"

func TestCount(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want string
	}{{0, "0 processes"}, {1, "1 process"}, {2, "2 processes"}, {-1, "-1 processes"}} {
		if got := Count(tc.n, "process", "processes"); got != tc.want {
			t.Errorf("Count(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

func TestCountOtherIntegerTypes(t *testing.T) {
	if got := Count(uint64(1<<63), "op", "ops"); got != "9223372036854775808 ops" {
		t.Errorf("uint64: %q", got)
	}
	if got := Count(int64(1), "op", "ops"); got != "1 op" {
		t.Errorf("int64: %q", got)
	}
}
