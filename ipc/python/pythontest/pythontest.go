// Package pythontest gives tests the Python interpreter they need. Where
// none is usable a test skips, except in CI (CI=true), where it fails: CI
// installs Debian's python3, so a missing one there is a broken set-up,
// not a reason to test less.
package pythontest

import (
	"context"
	"os"
	"testing"

	"github.com/ipcplay/ipcplay/ipc/python"
)

// Require returns python3 from PATH, probed, or skips the test (fails it
// under CI=true) naming what is wrong.
func Require(t testing.TB) *python.Interpreter {
	t.Helper()
	in, err := python.Find(context.Background(), "")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and no usable Python: %v", err)
		}
		t.Skipf("no usable Python here: %v", err)
	}
	return in
}
