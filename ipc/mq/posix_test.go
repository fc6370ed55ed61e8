package mq_test

import (
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ipcplay/ipcplay/ipc/ipctest"
	"github.com/ipcplay/ipcplay/ipc/mq"
)

// newPOSIX creates a queue named for the test and checks at the end that
// its name is gone (the mqueue file system may not be mounted, so the leak
// check of ipctest cannot see queues).
func newPOSIX(t *testing.T, suffix string, maxMsg, msgSize int) *mq.POSIX {
	t.Helper()
	name := ipctest.Name(t, suffix)
	q, err := mq.CreatePOSIX(name, maxMsg, msgSize)
	if errors.Is(err, mq.ErrUnsupported) {
		t.Skipf("POSIX message queues unavailable: %v", err)
	}
	if err != nil {
		t.Fatalf("CreatePOSIX: %v", err)
	}
	t.Cleanup(func() {
		q.Close()
		if err := q.Unlink(); err != nil {
			t.Errorf("Unlink: %v", err)
		}
		if _, err := mq.OpenPOSIX(name); !errors.Is(err, mq.ErrNotFound) {
			t.Errorf("queue %s still exists after Unlink: %v", name, err)
		}
	})
	return q
}

func TestPOSIXSendReceiveAttr(t *testing.T) {
	q := newPOSIX(t, ".q", 4, 128)
	if !strings.HasPrefix(q.Name(), ipctest.Prefix()) || q.MsgSize() != 128 {
		t.Errorf("Name %q MsgSize %d", q.Name(), q.MsgSize())
	}
	for i, p := range []uint32{1, 5, 1} {
		if err := q.Send([]byte("m"+strconv.Itoa(i)), p); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	a, err := q.Attr()
	if err != nil {
		t.Fatal(err)
	}
	if a != (mq.Attr{MaxMsg: 4, MsgSize: 128, CurMsgs: 3}) {
		t.Errorf("Attr = %+v", a)
	}
	buf := make([]byte, 128)
	for _, want := range []string{"m1", "m0", "m2"} { // priority 5 first, then FIFO
		n, err := q.Receive(buf)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(buf[:n]); got != want {
			t.Errorf("Receive = %q, want %q", got, want)
		}
	}
	start := time.Now()
	if _, err := q.ReceiveTimeout(buf, 30*time.Millisecond); !errors.Is(err, unix.ETIMEDOUT) {
		t.Errorf("ReceiveTimeout on an empty queue: %v, want ETIMEDOUT", err)
	}
	if time.Since(start) < 20*time.Millisecond {
		t.Errorf("ReceiveTimeout returned after %v, before its deadline", time.Since(start))
	}
	if err := q.Send(make([]byte, 129), 0); !errors.Is(err, mq.ErrTooLarge) || !errors.Is(err, unix.EMSGSIZE) {
		t.Errorf("Send above mq_msgsize: %v, want ErrTooLarge and EMSGSIZE", err)
	}
	if _, err := q.Receive(make([]byte, 64)); !errors.Is(err, mq.ErrTooLarge) {
		t.Errorf("Receive into a buffer below mq_msgsize: %v, want ErrTooLarge", err)
	}
	for range 4 {
		if err := q.Send([]byte("x"), 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.SendTimeout([]byte("x"), 0, 20*time.Millisecond); !errors.Is(err, unix.ETIMEDOUT) {
		t.Errorf("SendTimeout on a full queue: %v, want ETIMEDOUT", err)
	}
}

func TestPOSIXErrors(t *testing.T) {
	lim, err := mq.ReadPOSIXLimits()
	if errors.Is(err, mq.ErrUnsupported) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if lim.MsgMax <= 0 || lim.MsgSizeMax <= 0 || lim.QueuesMax <= 0 || lim.RlimitMsgqueue == 0 {
		t.Errorf("limits %+v", lim)
	}
	q := newPOSIX(t, ".q", 1, 16)
	if _, err := mq.CreatePOSIX(q.Name(), 1, 16); !errors.Is(err, mq.ErrExist) || !errors.Is(err, unix.EEXIST) {
		t.Errorf("CreatePOSIX of an existing name: %v, want ErrExist", err)
	}
	for _, name := range []string{"foo", "/foo", "ipcplay.", "ipcplay.a/b", "/ipcplay." + strings.Repeat("x", 300)} {
		if _, err := mq.CreatePOSIX(name, 1, 16); !errors.Is(err, mq.ErrInvalid) {
			t.Errorf("CreatePOSIX(%q): %v, want ErrInvalid", name, err)
		}
	}
	if err := mq.UnlinkPOSIX("not-ours"); !errors.Is(err, mq.ErrInvalid) {
		t.Errorf("UnlinkPOSIX of a foreign name: %v, want ErrInvalid", err)
	}
	if err := mq.UnlinkPOSIX(ipctest.Name(t, ".none")); !errors.Is(err, mq.ErrNotFound) || !errors.Is(err, unix.ENOENT) {
		t.Errorf("UnlinkPOSIX of a missing name: %v, want ErrNotFound and ENOENT", err)
	}
	if os.Geteuid() != 0 { // CAP_SYS_RESOURCE lifts msgsize_max up to the hard limit
		_, err := mq.CreatePOSIX(ipctest.Name(t, ".big"), 1, lim.MsgSizeMax+1)
		if !errors.Is(err, mq.ErrTooLarge) || !strings.Contains(err.Error(), "msgsize_max") {
			t.Errorf("CreatePOSIX above msgsize_max: %v, want ErrTooLarge naming msgsize_max", err)
		}
	}
	if _, err := mq.OpenPOSIXFD(int(os.Stdin.Fd())); err == nil {
		t.Error("OpenPOSIXFD of a non-queue descriptor succeeded")
	}
}

func TestPOSIXCrossProcess(t *testing.T) {
	in := newPOSIX(t, ".in", 4, 64)
	out := newPOSIX(t, ".out", 4, 64)
	const n = 50
	cmd := ipctest.Helper(t, "posix-echo", strconv.Itoa(n))
	cmd.ExtraFiles = []*os.File{in.File(), out.File()}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	for i := range n {
		s := "ping " + strconv.Itoa(i)
		if err := in.Send([]byte(s), 0); err != nil {
			t.Fatal(err)
		}
		k, err := out.ReceiveTimeout(buf, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(buf[:k]); got != strings.ToUpper(s) {
			t.Fatalf("echo %d = %q", i, got)
		}
	}
	waitHelper(t, cmd)
}

func TestPOSIXNoAllocs(t *testing.T) {
	q := newPOSIX(t, ".q", 2, 64)
	msg := make([]byte, 64)
	allocs := testing.AllocsPerRun(100, func() {
		if err := q.Send(msg, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := q.Receive(msg); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Send+Receive allocate %.1f times, want 0", allocs)
	}
}

func waitHelper(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("helper: %v", err)
		}
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatal("helper did not finish within 20s")
	}
}
