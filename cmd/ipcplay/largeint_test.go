package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/ipcplay/ipcplay/ipc/ipctest"
)

// Integers above 2^53 come out of every non-run --json document exactly:
// a sparse POSIX shm object of 2^53+1 bytes (a float64 would print
// 9007199254740992).
func TestJSONKeepsIntegersAbove2To53(t *testing.T) {
	const size = 1<<53 + 1
	name := ipctest.Name(t, ".")
	path := "/dev/shm/" + name
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(path) })
	if err := f.Truncate(size); err != nil {
		f.Close()
		t.Skipf("this /dev/shm refuses a sparse file of 2^53+1 bytes: %v", err)
	}
	f.Close()
	for _, args := range [][]string{
		{"inspect", "posix-shm", name, "--json"},
		{"objects", "--all", "--json"},
		{"watch", "--count", "1", "--json", "posix-shm", name},
	} {
		r := runCLI(t, args...)
		if r.code != 0 {
			t.Errorf("%v: exit %d: %s", args, r.code, r.stderr)
			continue
		}
		var doc any
		dec := json.NewDecoder(strings.NewReader(r.stdout))
		dec.UseNumber()
		if err := dec.Decode(&doc); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if !strings.Contains(r.stdout, `"size": 9007199254740993`) {
			t.Errorf("%v: the size is not 9007199254740993:\n%s", args, r.stdout)
		}
	}
}
