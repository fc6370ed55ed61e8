// Package kabi declares the Linux kernel's System V and POSIX IPC
// structures that golang.org/x/sys/unix lacks: struct semid64_ds (semctl
// IPC_STAT), struct msqid64_ds (msgctl IPC_STAT) and struct mq_attr
// (mq_open, mq_getsetattr). x/sys has struct ipc64_perm (unix.SysvIpcPerm)
// and struct shmid64_ds (unix.SysvShmDesc); use those.
//
// Each layout is declared once, here, so that semaphore, ipc/mq and
// ipc/sysobj pass the kernel the same bytes; the package's tests compare
// every size and field offset with the kernel's uapi headers, compiled by
// cc. It lives under shm because shm is the lowest package every user may
// import (DESIGN.md: shm and sockets use only the standard library and
// x/sys; semaphore may import shm; ipc may import both).
//
// On amd64 and arm64 (and the other 64-bit architectures) the kernel
// always uses these 64-bit structures: semctl and msgctl take the command
// without the IPC_64 bit. 32-bit architectures are not supported.
package kabi

import "golang.org/x/sys/unix"

// semidDsX86_64 is struct semid64_ds of arch/x86/include/uapi/asm/sembuf.h
// (x86_64): each time is followed by an unused word. 104 bytes.
type semidDsX86_64 struct {
	Perm  unix.SysvIpcPerm // struct ipc64_perm sem_perm
	Otime int64            // sem_otime: last semop, seconds since the epoch
	_     uint64           // __unused1
	Ctime int64            // sem_ctime: last change by semctl
	_     uint64           // __unused2
	Nsems uint64           // sem_nsems: semaphores in the set
	_     uint64           // __unused3
	_     uint64           // __unused4
}

// semidDsGeneric64 is struct semid64_ds of
// include/uapi/asm-generic/sembuf.h with 64-bit longs (arm64, riscv64,
// loong64): the two times are adjacent. 88 bytes.
type semidDsGeneric64 struct {
	Perm  unix.SysvIpcPerm // struct ipc64_perm sem_perm
	Otime int64            // sem_otime
	Ctime int64            // sem_ctime
	Nsems uint64           // sem_nsems
	_     uint64           // __unused3
	_     uint64           // __unused4
}

// MsqidDs is struct msqid64_ds of include/uapi/asm-generic/msgbuf.h with
// 64-bit longs; x86_64 includes the generic header too
// (arch/x86/include/uapi/asm/msgbuf.h). 120 bytes.
type MsqidDs struct {
	Perm   unix.SysvIpcPerm // struct ipc64_perm msg_perm
	Stime  int64            // msg_stime: last msgsnd, seconds since the epoch
	Rtime  int64            // msg_rtime: last msgrcv
	Ctime  int64            // msg_ctime: last change
	Cbytes uint64           // msg_cbytes: bytes on the queue now
	Qnum   uint64           // msg_qnum: messages on the queue now
	Qbytes uint64           // msg_qbytes: the queue's byte limit
	Lspid  int32            // msg_lspid: pid of the last msgsnd
	Lrpid  int32            // msg_lrpid: pid of the last msgrcv
	_      uint64           // __unused4
	_      uint64           // __unused5
}

// MqAttr is struct mq_attr of include/uapi/linux/mqueue.h (the same as
// glibc's <mqueue.h> on 64-bit): four longs and four reserved. 64 bytes.
type MqAttr struct {
	Flags   int64    // mq_flags: 0 or O_NONBLOCK
	Maxmsg  int64    // mq_maxmsg: most messages the queue holds
	Msgsize int64    // mq_msgsize: largest message, bytes
	Curmsgs int64    // mq_curmsgs: messages queued now
	_       [4]int64 // __reserved: ignored on input, zeroed on output
}
