package sysobj

import "golang.org/x/sys/unix"

// semidDs is the kernel's struct semid64_ds on arm64, the generic 64-bit
// layout (include/uapi/asm-generic/sembuf.h): the two times are adjacent.
type semidDs struct {
	Perm  unix.SysvIpcPerm
	Otime int64
	Ctime int64
	Nsems uint64
	_     uint64
	_     uint64
}
