package kabi

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ipcplay/ipcplay/ipc/ipctest"
)

func TestMain(m *testing.M) { ipctest.Main(m, nil) }

// The sizes the kernel headers give on 64-bit Linux (worked out from
// the headers named on each type; checked against cc below).
func TestSizes(t *testing.T) {
	for _, tc := range []struct {
		name      string
		got, want uintptr
	}{
		{"ipc64_perm (unix.SysvIpcPerm)", unsafe.Sizeof(unix.SysvIpcPerm{}), 48},
		{"semid64_ds, x86_64", unsafe.Sizeof(semidDsX86_64{}), 104},
		{"semid64_ds, generic 64-bit", unsafe.Sizeof(semidDsGeneric64{}), 88},
		{"msqid64_ds", unsafe.Sizeof(MsqidDs{}), 120},
		{"mq_attr", unsafe.Sizeof(MqAttr{}), 64},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %d bytes, want %d", tc.name, tc.got, tc.want)
		}
	}
}

// cLayout is what testdata/layout.c prints: struct -> field ("-" for the
// whole struct) -> offset and size.
type cLayout map[string]map[string][2]uintptr

func compileLayout(t *testing.T, flags ...string) cLayout {
	t.Helper()
	if _, err := os.Stat("/usr/include/linux/mqueue.h"); err != nil {
		t.Skip("no kernel uapi headers in /usr/include (Debian: linux-libc-dev): layouts not checked against C")
	}
	bin := ipctest.CompileC(t, "testdata/layout.c", flags...)
	out, err := exec.Command(bin).Output()
	if err != nil {
		t.Fatalf("%s: %v", bin, err)
	}
	l := cLayout{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 4 {
			t.Fatalf("bad line %q", sc.Text())
		}
		off, _ := strconv.ParseUint(f[2], 10, 64)
		size, _ := strconv.ParseUint(f[3], 10, 64)
		if l[f[0]] == nil {
			l[f[0]] = map[string][2]uintptr{}
		}
		l[f[0]][f[1]] = [2]uintptr{uintptr(off), uintptr(size)}
	}
	return l
}

// checkLayout compares the Go struct v with C's struct cname: its size,
// and each C field's offset and size against the Go field named in fields.
func checkLayout(t *testing.T, l cLayout, cname string, v any, fields map[string]string) {
	t.Helper()
	c, ok := l[cname]
	if !ok {
		t.Fatalf("cc printed nothing for struct %s", cname)
	}
	typ := reflect.TypeOf(v)
	if got, want := typ.Size(), c["-"][1]; got != want {
		t.Errorf("%s: Go %s is %d bytes, C says %d", cname, typ, got, want)
	}
	for cf, gf := range fields {
		sf, ok := typ.FieldByName(gf)
		if !ok {
			t.Fatalf("%s has no field %s", typ, gf)
		}
		want, ok := c[cf]
		if !ok {
			t.Fatalf("cc printed nothing for %s.%s", cname, cf)
		}
		if sf.Offset != want[0] || sf.Type.Size() != want[1] {
			t.Errorf("%s.%s: Go %s.%s at offset %d, %d bytes; C says offset %d, %d bytes", cname, cf, typ, gf, sf.Offset, sf.Type.Size(), want[0], want[1])
		}
	}
}

var (
	semFields = map[string]string{"sem_perm": "Perm", "sem_otime": "Otime", "sem_ctime": "Ctime", "sem_nsems": "Nsems"}
	msgFields = map[string]string{"msg_perm": "Perm", "msg_stime": "Stime", "msg_rtime": "Rtime", "msg_ctime": "Ctime",
		"msg_cbytes": "Cbytes", "msg_qnum": "Qnum", "msg_qbytes": "Qbytes", "msg_lspid": "Lspid", "msg_lrpid": "Lrpid"}
	mqFields = map[string]string{"mq_flags": "Flags", "mq_maxmsg": "Maxmsg", "mq_msgsize": "Msgsize", "mq_curmsgs": "Curmsgs"}
)

// TestLayoutsMatchKernelHeaders checks this machine's layouts against its
// kernel headers, compiled by cc: SemidDs against asm/sembuf.h,
// MsqidDs against asm/msgbuf.h, MqAttr against linux/mqueue.h.
func TestLayoutsMatchKernelHeaders(t *testing.T) {
	l := compileLayout(t)
	checkLayout(t, l, "ipc64_perm", unix.SysvIpcPerm{}, nil)
	checkLayout(t, l, "semid64_ds", SemidDs{}, semFields)
	checkLayout(t, l, "msqid64_ds", MsqidDs{}, msgFields)
	checkLayout(t, l, "mq_attr", MqAttr{}, mqFields)
}

// TestGenericSemidLayout checks the generic 64-bit semid64_ds (arm64's)
// against asm-generic/sembuf.h compiled here: on a 64-bit machine its
// layout does not depend on the architecture, so an amd64 machine checks
// what arm64 uses.
func TestGenericSemidLayout(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("the generic layout checked here is the 64-bit one")
	}
	l := compileLayout(t, "-DGENERIC_SEMBUF")
	checkLayout(t, l, "semid64_ds", semidDsGeneric64{}, semFields)
}
