package sockets

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"
)

// DefaultMaxFrame is the maximum payload size used when a maxSize argument
// is zero or negative.
const DefaultMaxFrame = 1 << 20

// headerLen is the size of the big-endian length header.
const headerLen = 4

// readChunk bounds the memory committed to a frame before its bytes arrive:
// bodies larger than this are read in growing chunks, so a peer announcing a
// large frame and then sending nothing costs at most readChunk bytes.
const readChunk = 64 << 10

// eofTrunc is the cause of a frame truncated by end of file: it matches both
// ErrTruncated and io.ErrUnexpectedEOF.
type eofTrunc struct{}

func (eofTrunc) Error() string   { return io.ErrUnexpectedEOF.Error() }
func (eofTrunc) Unwrap() []error { return []error{ErrTruncated, io.ErrUnexpectedEOF} }

func effectiveMax(maxSize int) int {
	if maxSize <= 0 {
		return DefaultMaxFrame
	}
	if uint64(maxSize) > math.MaxUint32 {
		return math.MaxUint32
	}
	return maxSize
}

// appendFrame appends the header and payload to dst, or fails if payload is
// longer than limit (already effective).
func appendFrame(dst, payload []byte, limit int) ([]byte, error) {
	if len(payload) > limit {
		return dst, &FrameError{Op: "write", Size: len(payload), Max: limit, Err: ErrFrameTooLarge}
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(payload)))
	return append(dst, payload...), nil
}

// writeAll writes b with a single Write call and reports short writes.
func writeAll(w io.Writer, b []byte) error {
	n, err := w.Write(b)
	if err != nil {
		return fmt.Errorf("sockets: write frame: %w", err)
	}
	if n != len(b) {
		return fmt.Errorf("sockets: write frame: %w", io.ErrShortWrite)
	}
	return nil
}

// framePool recycles frame buffers of WriteFrame up to readChunk bytes.
var framePool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// WriteFrame writes payload as one frame: a 4-byte big-endian length, then the
// payload, in a single Write call, so a frame is one message on a
// message-oriented socket and frames of writers that serialise their calls
// never interleave. maxSize <= 0 means DefaultMaxFrame. A payload longer than
// maxSize is refused with a *FrameError matching ErrFrameTooLarge and nothing
// is written.
func WriteFrame(w io.Writer, payload []byte, maxSize int) error {
	bp := framePool.Get().(*[]byte)
	buf, err := appendFrame((*bp)[:0], payload, effectiveMax(maxSize))
	if err == nil {
		err = writeAll(w, buf)
	}
	if cap(buf) <= readChunk {
		*bp = buf[:0]
		framePool.Put(bp)
	}
	return err
}

// ReadFrame reads one frame and returns its payload. maxSize <= 0 means
// DefaultMaxFrame.
//
// End of file before the first header byte returns io.EOF exactly. End of
// file inside a frame returns a *FrameError matching ErrTruncated and
// io.ErrUnexpectedEOF. A header announcing more than maxSize bytes returns a
// *FrameError matching ErrFrameTooLarge; the body is neither allocated nor
// read, so the stream is no longer in sync and should be closed.
func ReadFrame(r io.Reader, maxSize int) ([]byte, error) {
	var hdr [headerLen]byte
	return readFrame(r, hdr[:], effectiveMax(maxSize))
}

func readFrame(r io.Reader, hdr []byte, limit int) ([]byte, error) {
	if _, err := io.ReadFull(r, hdr); err != nil {
		switch err {
		case io.EOF:
			return nil, io.EOF
		case io.ErrUnexpectedEOF:
			return nil, &FrameError{Op: "read", Size: -1, Max: limit, Err: eofTrunc{}}
		}
		return nil, fmt.Errorf("sockets: read frame header: %w", err)
	}
	size := binary.BigEndian.Uint32(hdr)
	if uint64(size) > uint64(limit) {
		return nil, &FrameError{Op: "read", Size: int(size), Max: limit, Err: ErrFrameTooLarge}
	}
	n := int(size)
	if n <= readChunk {
		body := make([]byte, n)
		if _, err := io.ReadFull(r, body); err != nil {
			return nil, bodyErr(err, n, limit)
		}
		return body, nil
	}
	// Large frame: commit memory as the bytes arrive.
	body := make([]byte, 0, readChunk)
	for len(body) < n {
		start := len(body)
		end := min(n, max(2*start, readChunk))
		body = slices.Grow(body, end-start)[:end]
		if _, err := io.ReadFull(r, body[start:end]); err != nil {
			return nil, bodyErr(err, n, limit)
		}
	}
	return body, nil
}

func bodyErr(err error, size, limit int) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return &FrameError{Op: "read", Size: size, Max: limit, Err: eofTrunc{}}
	}
	return fmt.Errorf("sockets: read frame body: %w", err)
}

// Framer reads and writes frames on a byte stream. Writes are safe for
// concurrent use (each frame is written whole, under a mutex); reads are
// serialised too. The Framer buffers reads, so once frames are read through
// it the underlying reader must not be read directly.
type Framer struct {
	limit int

	rmu sync.Mutex
	r   *bufio.Reader
	hdr [headerLen]byte

	wmu  sync.Mutex
	w    io.Writer
	wbuf []byte
}

// NewFramer returns a Framer on rw with the maximum payload size maxSize (<= 0
// means DefaultMaxFrame).
func NewFramer(rw io.ReadWriter, maxSize int) *Framer {
	return &Framer{limit: effectiveMax(maxSize), r: bufio.NewReaderSize(rw, 4096), w: rw}
}

// Read reads the next frame, as ReadFrame.
func (f *Framer) Read() ([]byte, error) {
	f.rmu.Lock()
	defer f.rmu.Unlock()
	return readFrame(f.r, f.hdr[:], f.limit)
}

// Write writes p as one frame, as WriteFrame. It is safe to call from several
// goroutines.
func (f *Framer) Write(p []byte) error {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	buf, err := appendFrame(f.wbuf[:0], p, f.limit)
	if err != nil {
		return err
	}
	err = writeAll(f.w, buf)
	if cap(buf) <= readChunk {
		f.wbuf = buf[:0]
	} else {
		f.wbuf = nil
	}
	return err
}
