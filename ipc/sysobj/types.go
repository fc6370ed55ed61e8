package sysobj

import "fmt"

// The results of Inspect*. Each is what `ipcplay inspect --json` prints as
// "object"; times are Unix times in nanoseconds (0: never), sizes bytes.

// SysVPerm is the ipc_perm of a System V object.
type SysVPerm struct {
	Key        int64  `json:"key"`
	OwnerUID   int    `json:"owner_uid"`
	OwnerGID   int    `json:"owner_gid"`
	CreatorUID int    `json:"creator_uid"`
	CreatorGID int    `json:"creator_gid"`
	Mode       string `json:"mode"`
}

// FilePerm is the owner and mode of a POSIX object's file (or inode).
type FilePerm struct {
	OwnerUID int    `json:"owner_uid"`
	OwnerGID int    `json:"owner_gid"`
	Mode     string `json:"mode"`
}

// Holder is a process that uses an object, and how: "maps" (has it
// mapped), "open" (holds a descriptor of it), "flock", "fcntl", "ofd"
// (open file description lock) or "lease" (holds such a lock on it,
// read from the lock: lines of /proc/PID/fdinfo/FD), "waiting" (a thread is blocked on it), "peer" (holds
// the other end of one of its connections), "last-op", "last-send",
// "last-receive" (the pid the kernel recorded for the last operation),
// "notify" (registered for mq_notify).
type Holder struct {
	Proc
	How     []string `json:"how"`
	Details []string `json:"details,omitempty"`
}

// SysVSem is a System V semaphore set. Values, NCnt, ZCnt, LastPID and
// LastProc have one entry per semaphore.
type SysVSem struct {
	Type string `json:"type"`
	ID   int    `json:"id"`
	SysVPerm
	NSems    int      `json:"nsems"`
	Values   []int    `json:"values"`
	NCnt     []int    `json:"ncnt"` // processes waiting for the value to increase (GETNCNT)
	ZCnt     []int    `json:"zcnt"` // processes waiting for it to become zero (GETZCNT)
	LastPID  []int    `json:"last_pid"`
	LastProc []*Proc  `json:"last_proc"` // the process behind LastPID while it runs; null if gone (or its pid was reused)
	OTimeNs  int64    `json:"otime_ns"`  // last semop
	CTimeNs  int64    `json:"ctime_ns"`  // last change (creation, SETVAL, SETALL, IPC_SET)
	Waiting  []Holder `json:"waiting"`   // threads seen blocked in semop/semtimedop on the set
	Warnings []string `json:"warnings,omitempty"`
}

// POSIXSem is a glibc named semaphore: the file /dev/shm/sem.NAME.
//
// Value and Waiters are kept by the C library in the semaphore's memory,
// not by the kernel: glibc counts a waiter when sem_wait blocks and
// uncounts it when sem_wait returns, so a waiter killed while blocked
// (SIGKILL) stays counted. KernelWaiters is the kernel's fact: threads in
// a futex wait on the semaphore's word, among the processes this user can
// examine. LibraryKept names the fields that come from user memory.
type POSIXSem struct {
	Type string `json:"type"`
	Name string `json:"name"`
	Path string `json:"path"`
	FilePerm
	Size          int64    `json:"size"`           // of the file: 32 for a glibc sem_t
	Value         *uint32  `json:"value"`          // library-kept; null when the file cannot hold a sem_t
	Waiters       *uint32  `json:"waiters"`        // library-kept: glibc's count of blocked sem_wait callers
	KernelWaiters int      `json:"kernel_waiters"` // threads in futex wait on the semaphore (a lower bound when processes could not be examined)
	LibraryKept   []string `json:"library_kept"`   // fields read from user memory, kept by the C library
	Glibc         bool     `json:"glibc_layout"`
	MappedBy      []Proc   `json:"mapped_by"`
	Waiting       []Holder `json:"waiting"` // threads seen blocked in a futex wait on it
	Warnings      []string `json:"warnings,omitempty"`
}

// SysVShm is a System V shared memory segment.
type SysVShm struct {
	Type string `json:"type"`
	ID   int    `json:"id"`
	SysVPerm
	Size       int64    `json:"size"`
	NAttch     int      `json:"nattch"`
	CreatorPID int      `json:"creator_pid"`
	LastPID    int      `json:"last_pid"` // last shmat or shmdt
	ATimeNs    int64    `json:"atime_ns"`
	DTimeNs    int64    `json:"dtime_ns"`
	CTimeNs    int64    `json:"ctime_ns"`
	Removed    bool     `json:"marked_for_removal"` // IPC_RMID done: it goes at the last detach
	Locked     bool     `json:"locked"`             // SHM_LOCK: kept in memory
	RSS        int64    `json:"rss"`                // resident bytes; -1 unknown
	Swap       int64    `json:"swap"`               // swapped-out bytes; -1 unknown
	MappedBy   []Proc   `json:"mapped_by"`
	Waiting    []Holder `json:"waiting"` // threads in a futex wait inside the segment
	Dump       *Dump    `json:"dump,omitempty"`
	Warnings   []string `json:"warnings,omitempty"`
}

// POSIXShm is a POSIX shared memory object: the file /dev/shm/NAME. The
// kernel keeps no attach count, creator or last pid for it: NAttch counts
// the processes that map it.
type POSIXShm struct {
	Type string `json:"type"`
	Name string `json:"name"`
	Path string `json:"path"`
	FilePerm
	Size     int64    `json:"size"`
	NAttch   int      `json:"nattch"`
	MTimeNs  int64    `json:"mtime_ns"`
	MappedBy []Proc   `json:"mapped_by"`
	OpenBy   []Proc   `json:"open_by"` // processes holding a descriptor of it
	Waiting  []Holder `json:"waiting"`
	Dump     *Dump    `json:"dump,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
}

// SysVMsg is a System V message queue.
type SysVMsg struct {
	Type string `json:"type"`
	ID   int    `json:"id"`
	SysVPerm
	Messages     int64    `json:"messages"`  // msg_qnum
	Bytes        int64    `json:"bytes"`     // msg_cbytes
	MaxBytes     int64    `json:"max_bytes"` // msg_qbytes: the queue's limit
	MsgMax       int64    `json:"msgmax"`    // kernel.msgmax: the largest message; -1 unknown
	LastSendPID  int      `json:"last_send_pid"`
	LastRecvPID  int      `json:"last_recv_pid"`
	LastSender   *Proc    `json:"last_sender"`
	LastReceiver *Proc    `json:"last_receiver"`
	STimeNs      int64    `json:"stime_ns"`
	RTimeNs      int64    `json:"rtime_ns"`
	CTimeNs      int64    `json:"ctime_ns"`
	Waiting      []Holder `json:"waiting"` // threads in msgsnd/msgrcv on it
	Warnings     []string `json:"warnings,omitempty"`
}

// POSIXMQ is a POSIX message queue. The kernel does not record the pids of
// the last sender and receiver of a POSIX queue.
type POSIXMQ struct {
	Type string `json:"type"`
	Name string `json:"name"`
	Path string `json:"path,omitempty"` // in the mqueue file system, when one is mounted
	FilePerm
	Messages    int64    `json:"messages"`     // mq_curmsgs
	MaxMessages int64    `json:"max_messages"` // mq_maxmsg
	MsgSize     int64    `json:"msgsize"`      // mq_msgsize
	Bytes       int64    `json:"bytes"`        // QSIZE: message bytes plus the kernel's per-priority bookkeeping
	NotifyPID   int      `json:"notify_pid"`   // registered with mq_notify; 0 none
	Notify      string   `json:"notify,omitempty"`
	MTimeNs     int64    `json:"mtime_ns"` // last send or receive
	MsgMaxSys   int64    `json:"msg_max_sys"`
	MsgSizeSys  int64    `json:"msgsize_max_sys"`
	OpenBy      []Holder `json:"open_by"`
	Waiting     []Holder `json:"waiting"` // threads in mq_timedsend/mq_timedreceive on it
	Warnings    []string `json:"warnings,omitempty"`
}

// UnixSocket is what is known of a Unix socket name: the file, the
// sockets bound to it and their connections.
type UnixSocket struct {
	Type         string      `json:"type"`
	Name         string      `json:"name"` // absolute path or "@abstract"
	Abstract     bool        `json:"abstract"`
	FileExists   bool        `json:"file_exists"`
	FileIsSocket bool        `json:"file_is_socket"`
	OwnerUID     int         `json:"owner_uid"` // of the file, else of the socket; -1 unknown
	Mode         string      `json:"mode,omitempty"`
	Bound        bool        `json:"bound"` // a live socket has this name
	Listening    bool        `json:"listening"`
	Stale        bool        `json:"stale"` // a socket file nobody is bound to: connect gets ECONNREFUSED
	SocketType   string      `json:"socket_type,omitempty"`
	Backlog      int         `json:"backlog"`     // connections waiting to be accepted
	MaxBacklog   int         `json:"max_backlog"` // listen()'s backlog; 0 unknown
	Sockets      []SocketEnd `json:"sockets"`
	Pending      []SocketEnd `json:"pending"`     // clients queued, not yet accepted (sock_diag only)
	PeersKnown   bool        `json:"peers_known"` // sock_diag answered: peers are listed
	Warnings     []string    `json:"warnings,omitempty"`
	hits         []*hit      // who holds what, for Who
}

// SocketEnd is one socket bound to (or accepted from) the name.
type SocketEnd struct {
	Inode      uint64   `json:"inode"`
	Role       string   `json:"role"`  // listener, bound, accepted, client
	State      string   `json:"state"` // listening, unconnected, connecting, connected, disconnecting
	HeldBy     []Holder `json:"held_by"`
	PeerInode  uint64   `json:"peer_inode,omitempty"`
	PeerHeldBy []Holder `json:"peer_held_by,omitempty"`
	RecvQueue  *uint32  `json:"recv_queue,omitempty"` // bytes (stream) or datagrams unread
	SendQueue  *uint32  `json:"send_queue,omitempty"`
}

// Dump is a hex dump's worth of an object's contents.
type Dump struct {
	Offset int64  `json:"offset"`
	Length int64  `json:"length"`
	Total  int64  `json:"total"` // the object's size
	Hex    string `json:"hex"`
	Data   []byte `json:"-"`
}

// WhoResult is the answer to Who.
type WhoResult struct {
	Target    string   `json:"target"`
	Processes []Holder `json:"processes"`
	Warnings  []string `json:"warnings,omitempty"`
	unseen    bool     // some processes could not be examined and may use it
}

// modeString formats permission bits as "0600".
func modeString(m uint32) string { return fmt.Sprintf("%04o", m&0o777) }

// secNs converts Unix seconds to nanoseconds, keeping 0 for "never".
func secNs(s int64) int64 { return s * 1e9 }
