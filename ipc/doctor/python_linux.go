package doctor

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ipcplay/ipcplay/ipc/python"
)

// Python is optional: only `race --lang python` and `demo gil` need it, so
// a missing or unusable one is a warning, never a failure.
func init() { machineChecks = append(machineChecks, pythonCheck) }

// pythonCheck reports the interpreter `race --lang python` and `demo gil`
// would run (python3 from PATH): its path, version and GIL state, and
// whether ctypes reaches libc's sem_open and semop (the posix-sem and
// sysv-sem modes call them).
func pythonCheck() []Check {
	in, err := python.Find(context.Background(), "")
	if err != nil {
		c := Check{Name: "python", Status: Warn, Detail: err.Error(),
			Advice: "only race --lang python and demo gil need it: apt-get install python3"}
		if in != nil && errors.Is(err, python.ErrTooOld) {
			c.Detail = fmt.Sprintf("%s is Python %s; ipcplay's Python workers need %d.%d or newer", in.Path, in.Version, python.MinMajor, python.MinMinor)
		}
		return []Check{c}
	}
	gil := "GIL on"
	switch {
	case !in.GILEnabled:
		gil = "GIL off (free-threaded)"
	case in.FreeThreaded:
		gil = "GIL on (a free-threaded build with the GIL turned back on)"
	}
	path := in.Path
	if in.Executable != "" && in.Executable != in.Path {
		path += " (" + in.Executable + ")"
	}
	checks := []Check{{Name: "python", Status: OK, Detail: fmt.Sprintf("%s: %s %s, %s", path, in.Implementation, in.Version, gil)}}
	var missing, found []string
	for _, f := range []struct{ name, lib string }{{"sem_open", in.SemOpen}, {"semop", in.Semop}} {
		if f.lib == "" {
			missing = append(missing, f.name)
		} else {
			found = append(found, f.name+" in "+f.lib)
		}
	}
	ct := Check{Name: "python ctypes", Status: OK, Detail: "ctypes reaches " + strings.Join(found, ", ")}
	if len(missing) > 0 {
		ct.Status = Warn
		ct.Detail = "ctypes cannot find " + strings.Join(missing, " and ") + " in libc.so.6 or libpthread.so.0"
		ct.Advice = "race --lang python cannot run posix-sem or sysv-sem here (is this glibc?)"
	}
	return append(checks, ct)
}
