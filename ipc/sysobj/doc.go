// Package sysobj enumerates and inspects, read-only, the IPC objects of the
// whole machine, whoever made them: System V shared memory segments,
// semaphore sets and message queues, POSIX shared memory, named semaphores
// and message queues, and Unix domain sockets. It backs `ipcplay objects
// --all`, `ipcplay inspect`, `ipcplay who` and `ipcplay watch`.
//
// # Read-only
//
// Nothing here changes what it looks at. System V objects are read with
// IPC_STAT and the GET* commands of semctl; their contents only through a
// read-only attach (shmat with SHM_RDONLY). POSIX objects are opened
// O_RDONLY and mapped PROT_READ; message queues are opened with mq_open
// O_RDONLY (never O_CREAT). Two kinds of kernel bookkeeping do move, and
// the documentation of the functions that cause them says so: attaching a
// System V segment for a dump sets its last attach/detach times and last
// pid, and reading a POSIX queue's status line sets its access time.
//
// # Where the facts come from
//
//   - /proc/sysvipc/{shm,sem,msg}: the System V tables (readable by anyone,
//     whatever the objects' modes).
//   - /dev/shm: POSIX shared memory (NAME) and glibc named semaphores
//     (sem.NAME, a 32-byte sem_t decoded with [semaphore.DecodeGlibc]).
//   - the mqueue file system, wherever it is mounted (usually /dev/mqueue):
//     the list of POSIX message queues. Without a mount queues cannot be
//     listed, but a named queue can still be inspected through mq_open.
//   - /proc/net/unix and, when the kernel offers it, the sock_diag netlink
//     interface (UNIX_DIAG_PEER, _ICONS, _VFS, _RQLEN, _UID): Unix sockets,
//     their state and the peer of each connection.
//   - /proc/PID/maps (mappings: "/dev/shm/NAME", and "/SYSV%08x" with the
//     segment id in the inode column), /proc/PID/fd (open descriptors,
//     "socket:[INODE]"), /proc/PID/fdinfo/FD (the flock, fcntl and OFD locks
//     held through each descriptor), /proc/locks (queued lock requests) and
//     /proc/PID/task/TID/syscall (what a blocked thread waits in).
//
// # Limits
//
// The view is the one of the calling process's IPC, network and PID
// namespaces. Processes whose /proc entries the caller may not read
// (other users' processes, for a normal user) are counted and reported as
// a warning, not silently dropped. Who waits on an object is found from the
// system call each blocked thread is in (semtimedop on the set, msgrcv on
// the queue, futex on an address inside a mapping of the object, a read,
// accept, flock... on a descriptor of it): this is exact for the threads
// it sees, but needs permission to read /proc/PID/task/TID/syscall (root,
// or the same user with ptrace allowed), and it decodes native 64-bit
// system call numbers only (a 32-bit process on a 64-bit kernel is not
// recognised as waiting). A thread waits when it sleeps in the kernel
// (state S or D) inside such a call (Thread.SleepsIn, the one detection
// that inspect, who, watch, the conductor and the labs share). inspect and
// who make the same observation of an object (observeSysVSem...); where
// the kernel keeps a count of waiters (GETNCNT + GETZCNT of a set, glibc's
// count in a sem_t) it is read again with the threads, a few times, while
// the two disagree, and a lasting disagreement is a warning.
package sysobj
