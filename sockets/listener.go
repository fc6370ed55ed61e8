package sockets

import (
	"net"
	"sync"
)

// Listener accepts connections on a stream or seqpacket socket made by Listen.
type Listener struct {
	ul   *net.UnixListener
	typ  Type
	addr string
	file fileID // the socket file we bound; zero for an abstract address

	closeOnce sync.Once
	closeErr  error
}

// PacketConn is a bound datagram socket made by ListenPacket. It embeds
// *net.UnixConn (ReadFromUnix, WriteToUnix, deadlines...); its Close also
// removes the socket file it created.
type PacketConn struct {
	*net.UnixConn
	addr string
	file fileID

	closeOnce sync.Once
	closeErr  error
}

// fileID identifies a socket file by device and inode, so that Close removes
// the file it created and never one another process put in its place.
type fileID struct {
	dev, ino uint64
}

func (id fileID) zero() bool { return id == fileID{} }
