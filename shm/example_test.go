package shm_test

import (
	"fmt"
	"os"
	"sync/atomic"

	"github.com/ipcplay/ipcplay/shm"
)

// Create a memfd region and hand it to a child: the child receives File()
// as descriptor 3 (the first of exec.Cmd.ExtraFiles) and opens
// HandleAt(3).
func ExampleCreate() {
	r, err := shm.Create(shm.Spec{Kind: shm.Memfd, Size: 4096})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()

	// Two counters on separate cache lines.
	a := r.Uint64(shm.SlotOffset(0, false))
	b := r.Uint64(shm.SlotOffset(1, false))
	atomic.AddUint64(a, 1)
	atomic.AddUint64(b, 2)

	// cmd.ExtraFiles = []*os.File{r.File()}
	// cmd.Args = append(cmd.Args, r.HandleAt(3))
	fmt.Println(r.Kind(), r.Size(), r.HandleAt(3), atomic.LoadUint64(a), atomic.LoadUint64(b))
	// Output: memfd 4096 memfd:fd=3 1 2
}

// Open a POSIX region by its handle, as a child process would.
func ExampleOpen() {
	name := fmt.Sprintf("ipcplay.example.%d", os.Getpid())
	r, err := shm.Create(shm.Spec{Kind: shm.POSIX, Size: 4096, Name: name})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()
	defer r.Remove() // the creator removes what it created
	copy(r.Bytes(), "hello")

	// In the child: shm.Open(handle) with the handle it was given.
	c, err := shm.Open(r.Handle())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	fmt.Println(string(c.Bytes()[:5]), c.Handle() == "posix:"+name)
	// Output: hello true
}

// Errors match both the sentinel and the errno.
func ExampleOpen_errors() {
	_, err := shm.Open("sysv:abc")
	fmt.Println(err)
	_, err = shm.Create(shm.Spec{Kind: shm.POSIX, Size: 0, Name: "ipcplay.x"})
	fmt.Println(err)
	// Output:
	// shm: open "sysv:abc": malformed handle: System V shmid must be a decimal number 0..2147483647: invalid argument
	// shm: create posix "ipcplay.x" (0 bytes): size must be > 0: invalid argument
}
