package main

import (
	"os"
	"strings"
	"testing"

	"github.com/ipcplay/ipcplay/ipc/sysobj"
)

// objects and clean name a POSIX object alike ("/ipcplay.…", as inspect,
// who and watch do), and objects shows its owner by name, as inspect does.
func TestObjectsAndCleanNameAnObjectAlike(t *testing.T) {
	dir := demoStateDir(t)
	// No identity recorded: clean leaves it alone, and says so by name.
	name, _, _ := leakedPOSIXShm(t, dir, "names", "r-names")
	out, errOut, code := demoCLI(t, dir, "objects", "--local")
	var row []string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 3 && f[0] == "posix-shm" && strings.Contains(f[2], name) {
			row = f
		}
	}
	if code != 0 || row == nil {
		t.Fatalf("objects: exit %d, no row of %s\n%s%s", code, name, out, errOut)
	}
	if row[2] != "/"+name || row[3] != sysobj.UserName(os.Geteuid()) {
		t.Errorf("objects row %q: want name /%s and owner %s", row, name, sysobj.UserName(os.Geteuid()))
	}
	out, errOut, code = demoCLI(t, dir, "clean", "--local", "--dry-run")
	if code != 0 || !strings.Contains(out, "posix-shm /"+name+" ") {
		t.Errorf("clean --dry-run: exit %d, want it to name posix-shm /%s\n%s%s", code, name, out, errOut)
	}
}
