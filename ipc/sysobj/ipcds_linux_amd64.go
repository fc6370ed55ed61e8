package sysobj

import "golang.org/x/sys/unix"

// semidDs is the kernel's struct semid64_ds on x86_64
// (arch/x86/include/uapi/asm/sembuf.h): each time is followed by an unused
// word, unlike the generic 64-bit layout of arm64.
type semidDs struct {
	Perm  unix.SysvIpcPerm
	Otime int64
	_     uint64
	Ctime int64
	_     uint64
	Nsems uint64
	_     uint64
	_     uint64
}
