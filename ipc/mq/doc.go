// Package mq wraps the two kinds of Linux message queues for ipcplay's
// transport lab:
//
//   - System V message queues ([SysV]): msgget(2) with IPC_PRIVATE and mode
//     0600, msgsnd(2), msgrcv(2), msgctl(2) IPC_STAT and IPC_RMID. A queue is
//     found by its id; messages carry a positive type, so one queue can hold
//     two directions (type 1 one way, type 2 the other). The kernel limits
//     are kernel.msgmax (largest message), kernel.msgmnb (bytes a queue
//     holds) and kernel.msgmni (queues on the system); see [ReadSysVLimits].
//   - POSIX message queues ([POSIX]): mq_open(3) with O_CREAT|O_EXCL and mode
//     0600, mq_timedsend(3), mq_timedreceive(3), mq_getattr(3), mq_unlink(3).
//     Names are given without the leading slash and must start with
//     "ipcplay."; on Linux a queue descriptor is a file descriptor, so it can
//     be handed to a child like any other ([OpenPOSIXFD]). The limits are
//     fs.mqueue.msg_max, fs.mqueue.msgsize_max and fs.mqueue.queues_max, and
//     the per-user RLIMIT_MSGQUEUE that every queue's buffer is charged
//     against; see [ReadPOSIXLimits]. The mqueue file system need not be
//     mounted (/dev/mqueue): the system calls work without it, the mount
//     only makes queues visible as files.
//
// The raw system calls, which golang.org/x/sys lacks, are made directly
// (syscall_linux.go); no cgo. Sending and receiving do not allocate: the
// caller owns the buffers ([NewMsg] for System V, whose messages start with
// the 8-byte type).
//
// Errors read like
//
//	mq: create posix "ipcplay.r-1.q" (10 x 65536 bytes): message size above fs.mqueue.msgsize_max (8192): mq_open: invalid argument
//
// and match, with errors.Is, both the errno (unix.EINVAL) and a sentinel of
// this package ([ErrInvalid], [ErrTooLarge], ...). The package never logs,
// prints or exits. It builds on Linux only.
package mq
