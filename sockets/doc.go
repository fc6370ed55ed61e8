// Package sockets wraps Linux Unix domain sockets for ipcplay: stream,
// datagram and seqpacket sockets on filesystem paths or in the abstract
// namespace, socketpairs, file-descriptor passing (SCM_RIGHTS), peer
// credentials (SO_PEERCRED) and length-prefixed message framing.
//
// # Addresses
//
// An address is either a filesystem path ("/run/ipcplay/ipcplay.sock",
// "rel/dir/x.sock") or, when it starts with "@", a name in the abstract
// namespace ("@ipcplay.ctl"). The kernel's sun_path holds 108 bytes, so a path
// may have 107 bytes (plus its terminating NUL) and "@name" 108 (the "@"
// becomes the leading NUL); longer addresses are refused with
// [ErrPathTooLong], naming the length and the limit.
//
// Abstract names have no file and no permissions: any process in the same
// network namespace may connect. Check the peer with [Conn.PeerCred].
//
// # Listener hygiene
//
// For a path, [Listen] and [ListenPacket]:
//
//   - require the parent directory to exist, not be a symlink, be owned by the
//     effective uid and have permission bits 0700 ([ErrInsecureDir]
//     otherwise, naming the directory, its owner and mode; see
//     [EnsurePrivateDir] to create it);
//   - probe an existing socket file by connecting to it: if something answers
//     the address is refused with [ErrInUse]; if nothing does (a stale file
//     left by a crashed process) the file is removed and replaced. A file that
//     is not a socket is never removed ([ErrNotSocket]);
//   - create the socket file with mode 0600 (the socket inode is chmod-ed
//     before bind, so the file is never wider, whatever the umask) and chmod it
//     again after bind;
//   - remove the file on Close, but only if it is still the file they created
//     (same device and inode).
//
// # Descriptor passing
//
// [Conn.SendFDs] sends descriptors with at least one byte of data;
// [Conn.RecvFDs] receives them with MSG_CMSG_CLOEXEC, so received descriptors
// never leak into children, and closes everything it received when the
// message or its control data was truncated ([ErrTruncated]). On a stream
// socket the kernel delivers descriptors with the bytes they were sent with,
// and one read may also return bytes sent before them: exchange descriptors
// in a request/response rhythm, or on a seqpacket socket.
//
// # Framing
//
// [WriteFrame], [ReadFrame] and [Framer] carry messages over a byte stream as
// a 4-byte big-endian length followed by the payload. A frame longer than the
// maximum is refused on both sides with a [*FrameError] that matches
// [ErrFrameTooLarge]; the reader refuses it from the header alone, before
// allocating or reading the body. Framing is meant for SOCK_STREAM; on
// SOCK_SEQPACKET and SOCK_DGRAM every message already has boundaries, so read
// whole messages instead (a short read buffer truncates a message).
//
// # Latency
//
// A [Conn] is a net.Conn: its descriptor is non-blocking and a goroutine
// waiting to read is parked on the Go netpoller (epoll), which costs a failed
// read, an epoll wake-up and a goroutine switch per message. For latency
// measurements use the blocking descriptors of [Pair] directly with
// unix.Read and unix.Write, as a C program would; the benchmarks in this
// package measure both.
//
// The package never logs, prints or exits: all failures are returned as
// errors. Syscall failures keep their errno, so errors.Is(err, unix.ENOENT)
// works.
package sockets
