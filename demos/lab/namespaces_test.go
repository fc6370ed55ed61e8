package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ipcplay/ipcplay/ipc"
	"github.com/ipcplay/ipcplay/ipc/ipctest"
)

// labHelpers are the helper processes of this package's tests.
var labHelpers = map[string]func(){
	"ns-seccomp": helperNamespacesSeccomp,
}

// nsFlagsForUs are the namespaces the lab asks for, as this user.
func nsFlagsForUs() uintptr {
	f := uintptr(syscall.CLONE_NEWIPC | syscall.CLONE_NEWNS | syscall.CLONE_NEWNET)
	if os.Geteuid() != 0 {
		f |= syscall.CLONE_NEWUSER
	}
	return f
}

// kernelAllowsNamespaces tries, outside the lab, to start a process in
// the namespaces the lab needs: what the kernel permits here.
func kernelAllowsNamespaces(t *testing.T) error {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: nsFlagsForUs()}
	if os.Geteuid() != 0 {
		cmd.SysProcAttr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}}
		cmd.SysProcAttr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}
	}
	return cmd.Run()
}

func TestNamespaces(t *testing.T) {
	var r NamespacesResult
	_, err := runLab(t, "namespaces", struct{}{}, &r)
	allowed := kernelAllowsNamespaces(t)
	if err != nil && strings.Contains(err.Error(), ErrNamespacesUnavailable.Error()) {
		// Measured, not assumed: the kernel must refuse us too.
		if allowed == nil {
			t.Fatalf("the lab says namespaces are unavailable (%v), but this test started a process in them", err)
		}
		if r.Unavailable == "" || len(r.Rows) != 0 || r.OK {
			t.Errorf("unavailable document: %+v", r)
		}
		t.Logf("namespaces cannot be created here (%v): %v", allowed, err)
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if allowed != nil {
		t.Errorf("the lab ran, but starting a process in the same namespaces failed: %v", allowed)
	}
	if r.UserNS != (os.Geteuid() != 0) {
		t.Errorf("user_ns = %v as uid %d", r.UserNS, os.Geteuid())
	}
	if r.LeftInNew != 0 {
		t.Errorf("left_in_new_ns = %d, want 0", r.LeftInNew)
	}
	if r.ProberIPCNS == "" || r.ProberIPCNS == r.HostIPCNS {
		t.Errorf("prober IPC namespace %q, ours %q", r.ProberIPCNS, r.HostIPCNS)
	}
	want := map[string]bool{ // object/namespaces -> crosses
		"sysv-shm/ipc": false, "sysv-sem/ipc": false, "sysv-msg/ipc": false, "posix-mq/ipc": false,
		"posix-shm/ipc": true, "posix-shm/ipc+mnt": false,
		"memfd/ipc": true, "memfd/ipc+mnt+net": true,
		"unix-path/ipc": true, "unix-abstract/ipc": true, "unix-abstract/ipc+net": false,
	}
	if len(r.Rows) != len(want) {
		t.Errorf("%d rows, want %d", len(r.Rows), len(want))
	}
	for _, row := range r.Rows {
		key := row.Object + "/" + row.Namespaces
		exp, ok := want[key]
		if !ok || row.Crosses != exp || !row.Matches || row.Expected != exp {
			t.Errorf("%s: crosses %v expected %v matches %v (%s); want crosses %v", key, row.Crosses, row.Expected, row.Matches, row.Saw, exp)
		}
		if row.Crosses && !strings.Contains(row.Saw, "mark") && !strings.Contains(row.Saw, "msgctl") && !strings.Contains(row.Saw, "mq_open") {
			t.Errorf("%s crossed without proof it reached our object: %s", key, row.Saw)
		}
	}
}

// TestNamespacesRefused forces the "cannot create" path for real: a
// helper process installs a seccomp filter like Docker's default profile
// (clone with namespace flags and unshare: EPERM; clone3: ENOSYS) and runs
// the lab. It must exit with ErrNamespacesUnavailable, the reason and the
// fix, no rows, and nothing left behind.
func TestNamespacesRefused(t *testing.T) {
	cmd := ipctest.Helper(t, "ns-seccomp")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	var got struct {
		Err string
		Doc NamespacesResult
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("helper output %q: %v", out, err)
	}
	t.Logf("refused: %s", got.Err)
	if !strings.Contains(got.Err, ErrNamespacesUnavailable.Error()) || !strings.Contains(got.Err, "EPERM") || !strings.Contains(got.Err, "to make it work") {
		t.Errorf("error %q: want the reason (EPERM) and what would make it work", got.Err)
	}
	if got.Doc.OK || len(got.Doc.Rows) != 0 || got.Doc.Unavailable == "" {
		t.Errorf("document %+v: want ok false, no rows, unavailable set", got.Doc)
	}
}

func helperNamespacesSeccomp() {
	if err := denyNamespaces(); err != nil {
		fmt.Fprintf(os.Stderr, "seccomp: %v\n", err)
		os.Exit(1)
	}
	dir, err := os.MkdirTemp("", "ipcplay-lab-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	e, err := ipc.NewEngine(ipc.Config{StateDir: dir})
	if err != nil {
		panic(err)
	}
	for _, x := range Experiments() {
		e.Register(x)
	}
	res, runErr := e.Run(context.Background(), ipc.RunRequest{Experiment: ExperimentPrefix + "namespaces", Params: json.RawMessage("{}")}, nil)
	if err := e.Close(); err != nil {
		fmt.Fprintf(os.Stderr, "engine close: %v\n", err)
		os.Exit(1)
	}
	if entries, err := e.Ledger().Entries(); err != nil || len(entries) != 0 {
		fmt.Fprintf(os.Stderr, "ledger not empty: %v %v\n", entries, err)
		os.Exit(1)
	}
	if leaks := ipctest.Leaks(); len(leaks) != 0 {
		fmt.Fprintf(os.Stderr, "leaks: %v\n", leaks)
		os.Exit(1)
	}
	out := struct {
		Err string
		Doc json.RawMessage
	}{Err: fmt.Sprint(runErr)}
	if res != nil {
		out.Doc = res.Result
	}
	// The engine hands errors on as text (as a daemon would): match it.
	if runErr == nil || !strings.Contains(runErr.Error(), ErrNamespacesUnavailable.Error()) {
		fmt.Fprintf(os.Stderr, "run error %v, want ErrNamespacesUnavailable\n", runErr)
		os.Exit(1)
	}
	json.NewEncoder(os.Stdout).Encode(out)
}

// denyNamespaces installs, for every thread of this process and its
// children, a seccomp filter that refuses namespaces as Docker's default
// profile does without CAP_SYS_ADMIN.
func denyNamespaces() error {
	var arch uint32
	switch runtime.GOARCH {
	case "amd64":
		arch = unix.AUDIT_ARCH_X86_64
	case "arm64":
		arch = unix.AUDIT_ARCH_AARCH64
	default:
		return fmt.Errorf("no seccomp arch for %s", runtime.GOARCH)
	}
	const nsFlags = unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWUSER |
		unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWCGROUP
	eperm := uint32(unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM))
	enosys := uint32(unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS))
	allow := uint32(unix.SECCOMP_RET_ALLOW)
	ld := func(off uint32) unix.SockFilter {
		return unix.SockFilter{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: off}
	}
	jeq := func(k uint32, jt, jf uint8) unix.SockFilter {
		return unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: jt, Jf: jf, K: k}
	}
	ret := func(k uint32) unix.SockFilter { return unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: k} }
	// struct seccomp_data: nr at 0, arch at 4, args[0] (low half) at 16.
	prog := []unix.SockFilter{
		ld(4), jeq(arch, 1, 0), ret(allow),
		ld(0),
		jeq(unix.SYS_CLONE3, 0, 1), ret(enosys),
		jeq(unix.SYS_UNSHARE, 0, 1), ret(eperm),
		jeq(unix.SYS_CLONE, 0, 3),
		ld(16),
		{Code: unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K, Jt: 0, Jf: 1, K: nsFlags}, ret(eperm),
		ret(allow),
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return err
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	_, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&fprog)))
	if e != 0 {
		return e
	}
	return nil
}

// TestNamespacesClosesDescriptors: the lab opens listeners, a queue and
// regions in the engine's process; a second run on one engine must not
// leave more descriptors open than the first (which may start runtime
// pollers). A refused run (no namespaces here) is checked the same way.
func TestNamespacesClosesDescriptors(t *testing.T) {
	dir, err := os.MkdirTemp("", "ipcplay-lab-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	e, err := ipc.NewEngine(ipc.Config{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for _, x := range Experiments() {
		e.Register(x)
	}
	run := func() {
		_, err := e.Run(context.Background(), ipc.RunRequest{Experiment: ExperimentPrefix + "namespaces", Params: json.RawMessage("{}")}, nil)
		if err != nil && !strings.Contains(err.Error(), ErrNamespacesUnavailable.Error()) {
			t.Fatal(err)
		}
	}
	run()
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	before := openFDs(t)
	run()
	if after := openFDs(t); after > before {
		t.Errorf("%d descriptors open after a second run, %d after the first", after, before)
	}
}
