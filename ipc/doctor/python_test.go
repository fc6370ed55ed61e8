package doctor

import (
	"strings"
	"testing"

	"github.com/ipcplay/ipcplay/ipc/python/pythontest"
)

func TestPythonCheck(t *testing.T) {
	in := pythontest.Require(t)
	checks := pythonCheck()
	if len(checks) != 2 || checks[0].Name != "python" || checks[0].Status != OK || !strings.Contains(checks[0].Detail, in.Version) || !strings.Contains(checks[0].Detail, "GIL") {
		t.Fatalf("python check: %+v", checks)
	}
	if c := checks[1]; c.Name != "python ctypes" || c.Status != OK || !strings.Contains(c.Detail, "sem_open") || !strings.Contains(c.Detail, "semop") {
		t.Errorf("ctypes check: %+v", c)
	}
}

func TestPythonCheckWithoutPython(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	checks := pythonCheck()
	if len(checks) != 1 || checks[0].Status != Warn || !strings.Contains(checks[0].Advice, "apt-get install python3") {
		t.Fatalf("without python3: %+v (want a warning, never a failure)", checks)
	}
}
