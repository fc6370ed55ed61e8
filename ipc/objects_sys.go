package ipc

import "errors"

// listSystem lists every IPC object on the machine. Until ipc/sysobj lands
// it lists nothing, and Objects falls back to the ledger alone.
func listSystem() ([]Object, error) {
	return nil, errors.New("system-wide listing not available yet")
}
