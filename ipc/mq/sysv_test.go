package mq_test

import (
	"errors"
	"os"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ipcplay/ipcplay/ipc/ipctest"
	"github.com/ipcplay/ipcplay/ipc/mq"
)

func newSysV(t *testing.T) *mq.SysV {
	t.Helper()
	q, err := mq.CreateSysV()
	if err != nil {
		t.Fatalf("CreateSysV: %v", err)
	}
	ipctest.TrackSysV("msg", q.ID())
	t.Cleanup(func() {
		if err := q.Remove(); err != nil {
			t.Errorf("Remove: %v", err)
		}
	})
	return q
}

func TestSysVSendReceiveStat(t *testing.T) {
	q := newSysV(t)
	st, err := q.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode != 0o600 || st.Key != 0 || st.UID != uint32(os.Geteuid()) || st.Messages != 0 {
		t.Errorf("new queue: %+v, want mode 0600, key 0 (IPC_PRIVATE), our uid, empty", st)
	}
	m := mq.NewMsg(64)
	for i, typ := range []int64{2, 1, 2} {
		m.SetType(typ)
		copy(m.Text(), "msg"+strconv.Itoa(i))
		if err := q.Send(m, 4, 0); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	st, _ = q.Stat()
	if st.Messages != 3 || st.Bytes != 12 || st.LastSend != os.Getpid() || st.QBytes == 0 {
		t.Errorf("after 3 sends: %+v", st)
	}
	// Type 1 first, then the remaining type 2 in order.
	for _, want := range []string{"msg1", "msg0", "msg2"} {
		typ := int64(0)
		if want == "msg1" {
			typ = 1
		}
		n, err := q.Receive(m, typ, 0)
		if err != nil {
			t.Fatalf("Receive: %v", err)
		}
		if got := string(m.Text()[:n]); got != want {
			t.Errorf("Receive(type %d) = %q, want %q", typ, got, want)
		}
	}
	if _, err := q.Receive(m, 0, mq.NoWait); !errors.Is(err, unix.ENOMSG) {
		t.Errorf("Receive on an empty queue with NoWait: %v, want ENOMSG", err)
	}
}

func TestSysVErrors(t *testing.T) {
	q := newSysV(t)
	lim, err := mq.ReadSysVLimits()
	if err != nil {
		t.Fatal(err)
	}
	if lim.MsgMax <= 0 || lim.MsgMnb <= 0 || lim.MsgMni <= 0 || lim.MaxMessage() > lim.MsgMax {
		t.Errorf("limits %+v", lim)
	}
	big := mq.NewMsg(lim.MsgMax + 1)
	big.SetType(1)
	err = q.Send(big, lim.MsgMax+1, 0)
	if !errors.Is(err, mq.ErrTooLarge) || !errors.Is(err, unix.EINVAL) {
		t.Errorf("Send above msgmax: %v, want ErrTooLarge and EINVAL", err)
	}
	m := mq.NewMsg(8)
	if err := q.Send(m, 8, 0); !errors.Is(err, mq.ErrInvalid) {
		t.Errorf("Send with type 0: %v, want ErrInvalid", err)
	}
	m.SetType(1)
	copy(m.Text(), "12345678")
	if err := q.Send(m, 8, 0); err != nil {
		t.Fatal(err)
	}
	small := mq.NewMsg(4)
	if _, err := q.Receive(small, 0, 0); !errors.Is(err, mq.ErrTooLarge) || !errors.Is(err, unix.E2BIG) {
		t.Errorf("Receive into a short buffer: %v, want ErrTooLarge and E2BIG", err)
	}
	if n, err := q.Receive(small, 0, mq.NoError); err != nil || n != 4 {
		t.Errorf("Receive with NoError: %d, %v; want 4 truncated bytes", n, err)
	}

	gone, err := mq.CreateSysV()
	if err != nil {
		t.Fatal(err)
	}
	ipctest.TrackSysV("msg", gone.ID())
	if err := gone.Remove(); err != nil {
		t.Fatal(err)
	}
	if err := gone.Remove(); err != nil {
		t.Errorf("second Remove: %v, want nil", err)
	}
	if err := mq.RemoveSysV(gone.ID()); !errors.Is(err, mq.ErrNotFound) {
		t.Errorf("RemoveSysV of a removed queue: %v, want ErrNotFound", err)
	}
	if _, err := mq.OpenSysV(gone.ID()); !errors.Is(err, mq.ErrNotFound) {
		t.Errorf("OpenSysV of a removed queue: %v, want ErrNotFound", err)
	}
	if err := gone.Send(m, 1, 0); !errors.Is(err, mq.ErrNotFound) {
		t.Errorf("Send to a removed queue: %v, want ErrNotFound", err)
	}
}

// TestSysVRemoveWakesReceiver: a receiver blocked in msgrcv fails with
// EIDRM when the queue is removed.
func TestSysVRemoveWakesReceiver(t *testing.T) {
	q, err := mq.CreateSysV()
	if err != nil {
		t.Fatal(err)
	}
	ipctest.TrackSysV("msg", q.ID())
	done := make(chan error, 1)
	go func() {
		_, err := q.Receive(mq.NewMsg(8), 0, 0)
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	if err := q.Remove(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, unix.EIDRM) || !errors.Is(err, mq.ErrNotFound) {
			t.Errorf("blocked Receive after Remove: %v, want EIDRM and ErrNotFound", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Receive still blocked 5s after Remove")
	}
}

func TestSysVCrossProcess(t *testing.T) {
	q := newSysV(t)
	const n = 100
	cmd := ipctest.Helper(t, "sysv-echo", strconv.Itoa(q.ID()), strconv.Itoa(n))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	m := mq.NewMsg(256)
	for i := range n {
		m.SetType(1)
		s := "ping " + strconv.Itoa(i)
		copy(m.Text(), s)
		if err := q.Send(m, len(s), 0); err != nil {
			t.Fatal(err)
		}
		k, err := q.Receive(m, 2, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(m.Text()[:k]); got != s || m.Type() != 2 {
			t.Fatalf("echo %d: type %d %q, want type 2 %q", i, m.Type(), got, s)
		}
	}
	st, _ := q.Stat()
	if st.LastSend != cmd.Process.Pid && st.LastSend != os.Getpid() {
		t.Errorf("msg_lspid %d is neither us nor the helper", st.LastSend)
	}
	waitHelper(t, cmd)
}

func TestSysVNoAllocs(t *testing.T) {
	q := newSysV(t)
	m := mq.NewMsg(64)
	m.SetType(1)
	allocs := testing.AllocsPerRun(100, func() {
		if err := q.Send(m, 64, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := q.Receive(m, 1, 0); err != nil {
			t.Fatal(err)
		}
		m.SetType(1)
	})
	if allocs != 0 {
		t.Errorf("Send+Receive allocate %.1f times, want 0", allocs)
	}
}
