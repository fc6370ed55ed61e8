package proto

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/ipcplay/ipcplay/sockets"
)

// Conn reads and writes protocol messages on a stream connection. Writes
// are safe for concurrent use; reads must come from one goroutine.
type Conn struct {
	c        net.Conn
	r        *bufio.Reader
	readMax  int
	writeMax int

	// WriteTimeout bounds each write (0: none), so that a client that stops
	// reading cannot stall the daemon's runs.
	WriteTimeout time.Duration

	wmu sync.Mutex
}

// NewServerConn returns the daemon's side of c: it reads requests and
// writes responses.
func NewServerConn(c net.Conn) *Conn {
	return &Conn{c: c, r: bufio.NewReaderSize(c, 4096), readMax: MaxRequestSize, writeMax: MaxResponseSize}
}

// NewClientConn returns the client's side of c: it writes requests and
// reads responses.
func NewClientConn(c net.Conn) *Conn {
	return &Conn{c: c, r: bufio.NewReaderSize(c, 4096), readMax: MaxResponseSize, writeMax: MaxRequestSize}
}

// ReadRequest reads and decodes the next request. It returns io.EOF
// exactly when the peer closed (its writing half) between requests. A
// frame or document that breaks the protocol gives an *Error to send back
// (see ErrorResponse), with the request's id when it could be read; other
// errors are I/O failures.
func (c *Conn) ReadRequest() (Request, error) {
	b, err := c.readFrame()
	if err != nil {
		return Request{}, err
	}
	return DecodeRequest(b)
}

// ReadResponse reads and decodes the next response.
func (c *Conn) ReadResponse() (Response, error) {
	b, err := c.readFrame()
	if err != nil {
		return Response{}, err
	}
	return DecodeResponse(b)
}

func (c *Conn) readFrame() ([]byte, error) {
	b, err := sockets.ReadFrame(c.r, c.readMax)
	if err == nil || err == io.EOF {
		return b, err
	}
	var fe *sockets.FrameError
	if errors.As(err, &fe) && errors.Is(err, sockets.ErrFrameTooLarge) {
		return nil, Errorf(CodeBadRequest, "frame of %d bytes exceeds the maximum of %d", fe.Size, fe.Max)
	}
	return nil, err
}

// WriteRequest encodes and writes r, filling in the version.
func (c *Conn) WriteRequest(r Request) error {
	r.V = Version
	return c.write(r)
}

// WriteResponse encodes and writes r, filling in the version.
func (c *Conn) WriteResponse(r Response) error {
	r.V = Version
	return c.write(r)
}

func (c *Conn) write(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("proto: encode: %w", err)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.WriteTimeout > 0 {
		_ = c.c.SetWriteDeadline(time.Now().Add(c.WriteTimeout))
	}
	return sockets.WriteFrame(c.c, b, c.writeMax)
}

// Close closes the connection.
func (c *Conn) Close() error { return c.c.Close() }
