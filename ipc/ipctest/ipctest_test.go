package ipctest

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

func TestMain(m *testing.M) {
	Main(m, map[string]func(){
		"echo-args": func() {
			if strings.Join(Args(), ",") != "a,b" || !strings.HasPrefix(Prefix(), "ipcplay.t") {
				os.Exit(1)
			}
		},
	})
}

func TestHelperGetsArgsAndPrefix(t *testing.T) {
	cmd := Helper(t, "echo-args", "a", "b")
	if err := cmd.Run(); err != nil {
		t.Fatalf("helper: %v", err)
	}
}

func TestLeaksSeesPrefixedShmFile(t *testing.T) {
	path := "/dev/shm/" + Name(t, ".probe")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Skipf("cannot write /dev/shm: %v", err)
	}
	found := false
	for _, l := range Leaks() {
		found = found || l == path
	}
	os.Remove(path)
	if !found {
		t.Fatalf("Leaks() did not report %s", path)
	}
	for _, l := range Leaks() {
		if l == path {
			t.Fatalf("Leaks() still reports removed %s", path)
		}
	}
}

func TestAllowedCPUsMatchesStatus(t *testing.T) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip(err)
	}
	var list string
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
			list = strings.TrimSpace(v)
		}
	}
	var want []int
	for _, part := range strings.Split(list, ",") {
		lo, hi, found := strings.Cut(part, "-")
		a, _ := strconv.Atoi(lo)
		z := a
		if found {
			z, _ = strconv.Atoi(hi)
		}
		for c := a; c <= z; c++ {
			want = append(want, c)
		}
	}
	if got := AllowedCPUs(t); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("AllowedCPUs = %v, /proc/self/status says %s", got, list)
	}
}
