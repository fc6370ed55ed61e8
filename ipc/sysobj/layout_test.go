package sysobj

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"unsafe"

	"github.com/ipcplay/ipcplay/ipc/ipctest"
)

// TestUnixDiagReqLayout: the sock_diag request is the kernel's struct
// unix_diag_req (include/uapi/linux/unix_diag.h), which x/sys lacks;
// checked against that header with cc. (semid64_ds, msqid64_ds and
// mq_attr are declared and checked in shm/kabi.)
func TestUnixDiagReqLayout(t *testing.T) {
	var r unixDiagReq
	got := fmt.Sprint(unsafe.Sizeof(r), unsafe.Offsetof(r.Family), unsafe.Offsetof(r.Protocol),
		unsafe.Offsetof(r.States), unsafe.Offsetof(r.Ino), unsafe.Offsetof(r.Show), unsafe.Offsetof(r.Cookie))
	if want := "24 0 1 4 8 12 16"; got != want {
		t.Fatalf("unixDiagReq size and offsets %s, want %s", got, want)
	}
	if _, err := os.Stat("/usr/include/linux/unix_diag.h"); err != nil {
		t.Skip("no kernel uapi headers in /usr/include (Debian: linux-libc-dev): not checked against C")
	}
	out, err := exec.Command(ipctest.CompileC(t, "testdata/unixdiag.c")).Output()
	if err != nil {
		t.Fatal(err)
	}
	if c := strings.TrimSpace(string(out)); c != got {
		t.Errorf("unixDiagReq size and offsets %s, C says %s", got, c)
	}
}
