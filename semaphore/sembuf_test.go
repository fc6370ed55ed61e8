package semaphore

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"unsafe"

	"github.com/ipcplay/ipcplay/ipc/ipctest"
)

// TestSembufLayout: Sembuf goes to semtimedop(2) as the kernel's struct
// sembuf (include/uapi/linux/sem.h), checked against that header with cc.
// (semid64_ds is checked in shm/kabi.)
func TestSembufLayout(t *testing.T) {
	var s Sembuf
	got := fmt.Sprint(unsafe.Sizeof(s), unsafe.Offsetof(s.Num), unsafe.Offsetof(s.Op), unsafe.Offsetof(s.Flg))
	if got != "6 0 2 4" {
		t.Fatalf("Sembuf size and offsets %s, want 6 0 2 4 (linux/sem.h)", got)
	}
	if _, err := os.Stat("/usr/include/linux/sem.h"); err != nil {
		t.Skip("no kernel uapi headers in /usr/include (Debian: linux-libc-dev): not checked against C")
	}
	out, err := exec.Command(ipctest.CompileC(t, "testdata/sembuf.c")).Output()
	if err != nil {
		t.Fatal(err)
	}
	if c := strings.TrimSpace(string(out)); c != got {
		t.Errorf("Sembuf size and offsets %s, C says %s", got, c)
	}
}
