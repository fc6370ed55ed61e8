package ipctest

import (
	"os"
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
