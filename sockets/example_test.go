package sockets_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/ipcplay/ipcplay/sockets"
)

// A server and a client on a control socket in a private directory, talking
// in frames.
func ExampleListen() {
	dir, err := os.MkdirTemp("", "ipcplay-example-") // mode 0700
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "ctl.sock")

	l, err := sockets.Listen(sockets.Stream, path)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Close() // also removes ctl.sock
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		if cred, err := c.PeerCred(); err != nil || cred.UID != os.Getuid() {
			return // serve only our own uid
		}
		f := sockets.NewFramer(c, 0)
		req, err := f.Read()
		if err != nil {
			return
		}
		_ = f.Write(append([]byte("echo: "), req...))
	}()

	c, err := sockets.Dial(sockets.Stream, path)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	f := sockets.NewFramer(c, 0)
	if err := f.Write([]byte("hello")); err != nil {
		fmt.Println(err)
		return
	}
	reply, err := f.Read()
	fmt.Printf("%s %v\n", reply, err)

	// A second server on the same path is refused while the first lives.
	_, err = sockets.Listen(sockets.Stream, path)
	fmt.Println(errors.Is(err, sockets.ErrInUse))
	// Output:
	// echo: hello <nil>
	// true
}

func ExampleWriteFrame() {
	var buf bytes.Buffer
	_ = sockets.WriteFrame(&buf, []byte("hi"), 0)
	fmt.Printf("% x\n", buf.Bytes())

	p, err := sockets.ReadFrame(&buf, 0)
	fmt.Printf("%q %v\n", p, err)
	_, err = sockets.ReadFrame(&buf, 0)
	fmt.Println(err)

	err = sockets.WriteFrame(&buf, make([]byte, 2000), 1000)
	fmt.Println(err, errors.Is(err, sockets.ErrFrameTooLarge))
	// Output:
	// 00 00 00 02 68 69
	// "hi" <nil>
	// EOF
	// sockets: write: frame of 2000 bytes exceeds maximum 1000 true
}

// Hand one end of a socketpair to a child process as its fd 3.
func ExamplePair() {
	parentEnd, childEnd, err := sockets.Pair(sockets.SeqPacket)
	if err != nil {
		fmt.Println(err)
		return
	}
	cmd := exec.Command("/proc/self/exe", "worker")
	cmd.ExtraFiles = []*os.File{childEnd} // fd 3 in the child
	if err := cmd.Start(); err != nil {
		fmt.Println(err)
		return
	}
	childEnd.Close() // the child has its copy

	c, err := sockets.FileConn(parentEnd) // the child does FileConn(os.NewFile(3, "ctl"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	_, _ = c.Write([]byte("start"))
	_ = cmd.Wait()
}

// Pass an open file to the peer.
func ExampleConn_SendFDs() {
	a, b, err := sockets.PairConns(sockets.Stream)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer a.Close()
	defer b.Close()

	f, err := os.CreateTemp("", "ipcplay-example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.Remove(f.Name())
	defer f.Close()
	_, _ = f.WriteString("shared through SCM_RIGHTS")

	if err := a.SendFDs([]byte("file"), f); err != nil {
		fmt.Println(err)
		return
	}
	buf := make([]byte, 16)
	n, files, err := b.RecvFDs(buf, 1)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer files[0].Close()
	content := make([]byte, 64)
	m, _ := files[0].ReadAt(content, 0)
	fmt.Printf("%s: %s\n", buf[:n], content[:m])
	// Output: file: shared through SCM_RIGHTS
}
