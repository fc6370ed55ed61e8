package mq_test

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/ipcplay/ipcplay/ipc/ipctest"
	"github.com/ipcplay/ipcplay/ipc/mq"
)

func TestMain(m *testing.M) {
	ipctest.Main(m, map[string]func(){
		"sysv-echo":  sysvEcho,
		"posix-echo": posixEcho,
	})
}

// sysvEcho receives n messages of type 1 on the queue whose id is its first
// argument and sends each back as type 2.
func sysvEcho() {
	args := ipctest.Args()
	id, _ := strconv.Atoi(args[0])
	n, _ := strconv.Atoi(args[1])
	q, err := mq.OpenSysV(id)
	if err != nil {
		fail(err)
	}
	m := mq.NewMsg(256)
	for range n {
		k, err := q.Receive(m, 1, 0)
		if err != nil {
			fail(err)
		}
		m.SetType(2)
		if err := q.Send(m, k, 0); err != nil {
			fail(err)
		}
	}
}

// posixEcho adopts two queue descriptors (fd 3: requests, fd 4: replies)
// and echoes n messages.
func posixEcho() {
	n, _ := strconv.Atoi(ipctest.Args()[0])
	in, err := mq.OpenPOSIXFD(3)
	if err != nil {
		fail(err)
	}
	out, err := mq.OpenPOSIXFD(4)
	if err != nil {
		fail(err)
	}
	buf := make([]byte, in.MsgSize())
	for range n {
		k, err := in.Receive(buf)
		if err != nil {
			fail(err)
		}
		if err := out.Send(bytes.ToUpper(buf[:k]), 0); err != nil {
			fail(err)
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
