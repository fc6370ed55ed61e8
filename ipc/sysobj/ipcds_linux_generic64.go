//go:build linux && (arm64 || riscv64 || loong64)

package sysobj

import "golang.org/x/sys/unix"

// semidDs is the kernel's struct semid64_ds on arm64 (and the other 64-bit
// architectures that use include/uapi/asm-generic/sembuf.h): the two times
// are adjacent, unlike x86_64's layout.
type semidDs struct {
	Perm  unix.SysvIpcPerm
	Otime int64
	Ctime int64
	Nsems uint64
	_     uint64
	_     uint64
}
