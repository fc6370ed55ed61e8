package mq_test

import (
	"fmt"

	"github.com/ipcplay/ipcplay/ipc/mq"
)

func ExampleSysV() {
	q, err := mq.CreateSysV()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer q.Remove()

	m := mq.NewMsg(64)
	m.SetType(1)
	n := copy(m.Text(), "hello")
	if err := q.Send(m, n, 0); err != nil {
		fmt.Println(err)
		return
	}
	n, err = q.Receive(m, 1, 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("type %d: %s\n", m.Type(), m.Text()[:n])
	// Output: type 1: hello
}
