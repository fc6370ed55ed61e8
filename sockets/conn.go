package sockets

import "net"

// Conn is a connected Unix socket. It embeds *net.UnixConn, so it is a
// net.Conn with deadlines, and adds credentials and descriptor passing.
type Conn struct {
	*net.UnixConn
}

// Cred is the identity of a peer process, as SO_PEERCRED reports it: the
// process that connected (or called socketpair), at the time it did.
type Cred struct {
	PID, UID, GID int
}
