// Package semaphore offers the process-shared synchronisation primitives of
// Linux, for experiments that cross real process boundaries:
//
//   - System V semaphore sets ([Set]): semget(2), semctl(2) and
//     semtimedop(2), found by id, with SEM_UNDO, GETNCNT/GETZCNT/GETPID
//     introspection and IPC_STAT ([Set.Stat]).
//   - POSIX named semaphores ([Named]), binary-compatible with glibc's
//     sem_open(3) on amd64 and arm64: the same file in /dev/shm, the same
//     32-byte layout and the same futex algorithm, so Go and C processes
//     can wait and post on one semaphore. Pure Go, no cgo.
//   - POSIX unnamed process-shared semaphores ([Unnamed]), the same layout
//     placed in shared memory the caller maps (sem_init with pshared=1).
//   - A futex mutex in shared memory ([Mutex]) that records its owner, so
//     that a lock held by a process that died can be detected and taken
//     over ([Mutex.LockRecover], [ErrOwnerDead]).
//   - A robust futex mutex ([RobustMutex]): the word holds the owner's
//     thread id and the locking thread registers a robust list
//     (set_robust_list(2)), so that the KERNEL marks the lock
//     FUTEX_OWNER_DIED and wakes a waiter when the holder dies; the next
//     Lock returns an [OwnerDiedError] ([ErrOwnerDead]). The mechanism
//     under glibc's robust pthread mutexes.
//
// The semaphores that live in shared memory take a []byte: a slice of a
// MAP_SHARED mapping (package shm gives one), 8-byte aligned. The memory
// must stay mapped while they are in use.
//
// # Waiting
//
// Every blocking call takes a context and returns when it is done, with
// an error that wraps ctx.Err(): errors.Is(err, context.DeadlineExceeded)
// holds for a wait that timed out. System V waits sleep in semtimedop(2)
// slices of at most 50 ms; futex waits are also woken at once when the
// context is cancelled. A wait that can succeed at once succeeds even with
// a context that is already done. EINTR is retried.
//
// System V waits are slices of semtimedop, so a waiter that sleeps longer
// than one slice goes back to the end of the kernel's queue each time: do
// not rely on FIFO order among System V waiters. A P, a V or an operation
// with NoWait first goes through a raw system call that cannot sleep,
// which brings the Go cost of an uncontended P+V within about 15% of C's.
//
// # Compatibility with C
//
// [Named] and [Unnamed] use glibc's 64-bit sem_t: a uint64 holding the
// value (low 32 bits, the futex word) and the number of blocked waiters
// (high 32 bits), then an int that is 128 (FUTEX_PRIVATE_FLAG, glibc's
// FUTEX_SHARED) for a process-shared semaphore; 32 bytes in all. A named
// semaphore is the file /dev/shm/sem.NAME, created, like glibc does, by
// linking a fully written temporary file to its name. Tests check both
// directions against glibc (testdata/semtool.c): values, blocked waiters
// seen from the other side, and wake-ups. Other C libraries (musl) use
// another layout and are not compatible.
//
// semctl is called without the IPC_64 flag: amd64 and arm64 kernels always
// use struct semid64_ds (whose layout differs between the two: amd64 pads
// each time field) and reject the flag.
//
// # Errors
//
// Errors read like
//
//	semaphore: semop P set 32769 sem 0: no such set (it was removed, or never existed): semtimedop: invalid argument
//
// and match, with errors.Is, the errno (unix.EINVAL) and, where one
// applies, a sentinel of this package (ErrNotFound). The package never
// logs, prints or exits.
//
// # Objects and cleanup
//
// Sets are created with IPC_PRIVATE and mode 0600 and must be removed
// ([Set.Remove]; [RemoveSet] for a reaper). Named semaphores are created
// 0600 with O_EXCL and must be unlinked ([Named.Unlink]; [UnlinkNamed] for
// a reaper, which only removes names starting with "ipcplay.").
// [DecodeGlibc] reads a sem_t without writing to it, for an inspector with
// a read-only mapping.
package semaphore
