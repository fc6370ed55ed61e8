package semaphore_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ipcplay/ipcplay/ipc/ipctest"
	"github.com/ipcplay/ipcplay/semaphore"
	"golang.org/x/sys/unix"
)

func ExampleCreateSet() {
	set, err := semaphore.CreateSet(1)
	if err != nil {
		fmt.Println(err)
		return
	}
	ipctest.TrackSysV("sem", set.ID())
	defer set.Remove()

	set.SetVal(0, 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := set.P(ctx, 0, true); err != nil { // SEM_UNDO: released if we die
		fmt.Println(err)
		return
	}
	v, _ := set.Val(0)
	fmt.Println("value while held:", v)
	set.V(0, true)
	v, _ = set.Val(0)
	fmt.Println("value after V:", v)
	// Output:
	// value while held: 0
	// value after V: 1
}

func ExampleCreateNamed() {
	// C would open the same semaphore with sem_open("/ipcplay.r-1.items", 0).
	name := "/" + ipctest.Prefix() + "example.items"
	items, err := semaphore.CreateNamed(name, 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer items.Unlink()
	defer items.Close()

	items.Post()
	items.Post()
	fmt.Println("value:", items.Value())
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	items.Wait(ctx)
	fmt.Println("value after Wait:", items.Value())
	// Output:
	// value: 2
	// value after Wait: 1
}

func ExampleMutex() {
	// Shared memory a child would inherit (exec.Cmd.ExtraFiles) and map.
	fd, _ := unix.MemfdCreate("example", unix.MFD_CLOEXEC)
	defer unix.Close(fd)
	unix.Ftruncate(fd, 4096)
	mem, _ := unix.Mmap(fd, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	defer unix.Munmap(mem)

	m, err := semaphore.InitMutex(mem[:semaphore.MutexSize])
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	// LockRecover takes the lock over if its holder died holding it.
	switch err := m.LockRecover(ctx); {
	case err == nil:
		fmt.Println("locked")
	case errors.Is(err, semaphore.ErrOwnerDead):
		fmt.Println("locked, after the previous owner died: repair the data")
	default:
		fmt.Println(err)
		return
	}
	_, alive := m.Owner()
	fmt.Println("owner alive:", alive)
	m.Unlock()
	// Output:
	// locked
	// owner alive: true
}

func ExampleRobustMutex() {
	// One page of shared memory; a memfd here, handed to other processes
	// by descriptor (package shm gives POSIX and System V ones too).
	fd, err := unix.MemfdCreate("robust", unix.MFD_CLOEXEC)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer unix.Close(fd)
	unix.Ftruncate(fd, 4096)
	mem, err := unix.Mmap(fd, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer unix.Munmap(mem)

	m, err := semaphore.InitRobustMutex(mem)
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err = m.Lock(ctx) // locks this goroutine to its OS thread until Unlock
	var died *semaphore.OwnerDiedError
	switch {
	case errors.As(err, &died):
		// The previous holder died holding it: we hold it now; repair
		// the data it protects, then go on.
		fmt.Println("recovered from", semaphore.DescribeFutexWord(died.Word))
	case err != nil:
		fmt.Println(err)
		return
	}
	_, tid := m.Owner()
	fmt.Println("held by this thread:", tid == unix.Gettid())
	if err := m.Unlock(); err != nil {
		fmt.Println(err)
	}
	fmt.Println("after Unlock:", semaphore.DescribeFutexWord(m.Word()))
	// Output:
	// held by this thread: true
	// after Unlock: free
}
