package sockets

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Type is a Unix socket type.
type Type int

// Socket types.
const (
	Stream    Type = iota + 1 // SOCK_STREAM: a reliable byte stream
	Datagram                  // SOCK_DGRAM: unreliable-in-principle messages (reliable and ordered on Linux)
	SeqPacket                 // SOCK_SEQPACKET: connection-oriented, reliable messages with boundaries
)

// ParseType parses "stream", "dgram" or "seqpacket".
func ParseType(s string) (Type, error) {
	switch s {
	case "stream":
		return Stream, nil
	case "dgram":
		return Datagram, nil
	case "seqpacket":
		return SeqPacket, nil
	}
	return 0, fmt.Errorf("sockets: unknown socket type %q (allowed: stream, dgram, seqpacket)", s)
}

// String returns the name ParseType accepts.
func (t Type) String() string {
	switch t {
	case Stream:
		return "stream"
	case Datagram:
		return "dgram"
	case SeqPacket:
		return "seqpacket"
	}
	return fmt.Sprintf("Type(%d)", int(t))
}

// network returns the name package net uses for t.
func (t Type) network() string {
	switch t {
	case Stream:
		return "unix"
	case Datagram:
		return "unixgram"
	case SeqPacket:
		return "unixpacket"
	}
	return ""
}

// sotype returns the SOCK_* constant for t.
func (t Type) sotype() int {
	switch t {
	case Stream:
		return unix.SOCK_STREAM
	case Datagram:
		return unix.SOCK_DGRAM
	case SeqPacket:
		return unix.SOCK_SEQPACKET
	}
	return 0
}

func (t Type) valid() error {
	if t < Stream || t > SeqPacket {
		return fmt.Errorf("sockets: invalid socket type %d (allowed: stream, dgram, seqpacket)", int(t))
	}
	return nil
}
