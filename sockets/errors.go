package sockets

import (
	"errors"
	"fmt"
)

// Sentinel errors. Returned errors wrap them with context; test with errors.Is.
var (
	// ErrFrameTooLarge: a frame is longer than the maximum (see FrameError).
	ErrFrameTooLarge = errors.New("sockets: frame too large")
	// ErrTruncated: a frame, message or its control data (passed
	// descriptors) was cut short.
	ErrTruncated = errors.New("sockets: truncated")
	// ErrInsecureDir: a socket directory is not a directory owned by the
	// caller with mode 0700.
	ErrInsecureDir = errors.New("sockets: insecure socket directory")
	// ErrInUse: another process answers on the address.
	ErrInUse = errors.New("sockets: address in use")
	// ErrPathTooLong: an address does not fit in sun_path.
	ErrPathTooLong = errors.New("sockets: socket path too long")
	// ErrNotSocket: a file that is not a socket sits at the socket path; it is
	// left alone.
	ErrNotSocket = errors.New("sockets: not a socket")
)

// FrameError reports a frame that is too large or truncated. It matches
// ErrFrameTooLarge or ErrTruncated with errors.Is, through Err.
type FrameError struct {
	Op   string // "read" or "write"
	Size int    // payload size announced or given; -1 if the header itself was cut
	Max  int    // maximum payload size in force
	Err  error  // ErrFrameTooLarge, or an error wrapping ErrTruncated
}

func (e *FrameError) Error() string {
	switch {
	case errors.Is(e.Err, ErrFrameTooLarge):
		return fmt.Sprintf("sockets: %s: frame of %d bytes exceeds maximum %d", e.Op, e.Size, e.Max)
	case e.Size < 0:
		return fmt.Sprintf("sockets: %s: frame header truncated: %v", e.Op, e.Err)
	default:
		return fmt.Sprintf("sockets: %s: frame of %d bytes truncated: %v", e.Op, e.Size, e.Err)
	}
}

// Unwrap returns Err.
func (e *FrameError) Unwrap() error { return e.Err }
