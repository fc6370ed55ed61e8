// Package shm creates, opens and removes shared memory regions on Linux.
//
// Four backends are offered, chosen by [Kind]:
//
//   - [Memfd]: an anonymous memfd_create(2) file. It has no name; a child
//     reaches it through an inherited descriptor (exec.Cmd.ExtraFiles or
//     SCM_RIGHTS) and the handle "memfd:fd=N". Nothing can leak: the memory
//     is freed when the last descriptor and mapping go away. The size is
//     sealed (F_SEAL_SHRINK|F_SEAL_GROW|F_SEAL_SEAL) so that no process can
//     truncate it under another one's mapping (which would SIGBUS it), and
//     it is never executable (MFD_NOEXEC_SEAL where the kernel has it).
//     Pages are allocated on first touch; sizes above the machine's RAM are
//     refused.
//   - [POSIX]: a named object in /dev/shm, as shm_open(3) makes it. Names
//     are given without the leading slash and must start with "ipcplay.".
//     The object is fallocated at creation so that a full /dev/shm fails
//     Create with ENOSPC instead of killing a process with SIGBUS later.
//   - [SysV]: a System V segment (shmget(2) with IPC_PRIVATE), found by its
//     shmid. Create checks kernel.shmmax and kernel.shmall first and names
//     the limit in its error.
//   - [File]: a regular file mapped MAP_SHARED; [Region.Sync] flushes it.
//
// A [Spec] is plain data ([Spec.Validate] makes no system calls); [Create]
// turns it into a live [Region] that owns its mapping and descriptor. Every
// object is created with mode 0600 and O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC
// (or IPC_CREAT|IPC_EXCL), and a failed Create leaves nothing behind.
//
// # Handles
//
// A region is named across processes by a textual handle:
//
//	memfd:fd=3                 descriptor 3 of the process that opens it
//	posix:ipcplay.r-1.counter  /dev/shm/ipcplay.r-1.counter
//	sysv:32769                 System V shmid 32769
//	file:/var/tmp/x.shm        an absolute, clean path
//
// Handles parse strictly: anything else is an error wrapping [ErrInvalid].
// [Region.Handle] is the handle in the creating process; [Region.HandleAt]
// is the one a child should use when it receives [Region.File] as
// descriptor fd (for memfd the number changes; for the others it is the
// same). [Open] and [OpenReadOnly] map an existing region from a handle;
// for memfd they map a duplicate of descriptor N, so the caller keeps N.
//
// # Lifetime
//
// [Region.Close] unmaps and closes; it never removes a named object.
// [Region.Remove] unlinks the POSIX name or file, or marks the System V
// segment for removal (IPC_RMID: it disappears when the last process
// detaches, so the classic pattern is: create, let the children attach,
// then Remove). Both are idempotent. [RemovePOSIX] and [RemoveSysV] remove
// leaked objects by identity, for a reaper that has no Region.
//
// Pointers returned by [Region.Uint32], [Region.Uint64] and slices from
// [Region.Bytes] are valid until Close; using them afterwards faults.
//
// # Errors
//
// Errors read like this (on one line):
//
//	shm: create posix "ipcplay.x" (1073741824 bytes): only 64 MiB free on /dev/shm
//	  (containers default to 64 MiB; docker run --shm-size raises it): no space left on device
//
// They match, with errors.Is, both the errno (unix.ENOSPC) and a sentinel of
// this package:
//
//	ErrInvalid      bad spec or handle, EINVAL (including size > kernel.shmmax)
//	ErrExist        EEXIST: the name is taken
//	ErrNotFound     ENOENT, EBADF, or a System V id that does not exist (EINVAL, EIDRM)
//	ErrNoSpace      ENOSPC, ENOMEM, EFBIG, EDQUOT: /dev/shm full, kernel.shmall reached, size > RAM
//	ErrPermission   EACCES, EPERM
//	ErrUnsupported  ENOSYS, EOPNOTSUPP: missing in this kernel or blocked by a sandbox
//
// # Cache lines
//
// Counters that different processes update should not share a cache line
// by accident ("false sharing"): [SlotOffset] lays 8-byte slots out one per
// [CacheLineSize] bytes (64 on amd64, 128 on arm64, as the Go runtime pads),
// or packed on one line when a demo wants to show the effect on purpose.
// BenchmarkAtomicAddSeparateLines and BenchmarkAtomicAddSameLine measure
// the difference; TestCompareC (IPCPLAY_COMPARE_C=1) compares the Go loops
// with the same loops in C (testdata/atomic_add.c).
//
// The package never logs, prints or exits. It builds on Linux only.
package shm
