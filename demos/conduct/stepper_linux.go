package conduct

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// ErrConductorGone: the step socket reached EOF.
var ErrConductorGone = errors.New("step protocol: the conductor closed the step socket")

// Stepper is a Go worker's side of the step protocol on an inherited
// descriptor. Its calls are blocking system calls on that descriptor, made
// by the calling thread: a worker thread locked to its OS thread waits
// for the conductor in read(2) on the step socket, nowhere else.
type Stepper struct {
	fd  int
	buf []byte
}

// NewStepper uses fd, putting it in blocking mode.
func NewStepper(fd int) (*Stepper, error) {
	if err := unix.SetNonblock(fd, false); err != nil {
		return nil, fmt.Errorf("step socket fd %d: %w", fd, os.NewSyscallError("fcntl", err))
	}
	return &Stepper{fd: fd}, nil
}

// Did is the report of one completed step.
type Did struct {
	Op       string
	Read     *uint64
	Wrote    *uint64
	Counter  *uint64
	Next     string // "" when the worker has no step left
	Note     string
	TimedOut bool
}

// At sends the first message: this thread is ready at step next. It locks
// the calling goroutine to its OS thread for good, since the conductor
// watches the thread whose tid it announces: every later call and every
// step must come from the same goroutine.
func (s *Stepper) At(next string) error {
	runtime.LockOSThread()
	return s.send(message{Type: "at", Pid: os.Getpid(), Tid: unix.Gettid(), Next: next})
}

// Wait blocks until the conductor says "step".
func (s *Stepper) Wait() error {
	for {
		if i := bytes.IndexByte(s.buf, '\n'); i >= 0 {
			line := s.buf[:i]
			s.buf = s.buf[i+1:]
			var m message
			if err := json.Unmarshal(line, &m); err != nil {
				return fmt.Errorf("step protocol: bad message %q: %w", line, err)
			}
			if m.Type != "step" {
				return fmt.Errorf("step protocol: unknown message %q", m.Type)
			}
			return nil
		}
		if len(s.buf) > maxLine {
			return fmt.Errorf("step protocol: message longer than %d bytes", maxLine)
		}
		var b [256]byte
		n, err := unix.Read(s.fd, b[:])
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return fmt.Errorf("step socket: %w", os.NewSyscallError("read", err))
		case n == 0:
			return ErrConductorGone
		}
		s.buf = append(s.buf, b[:n]...)
	}
}

// Done reports a completed step.
func (s *Stepper) Done(d Did) error {
	return s.send(message{Type: "did", Op: d.Op, Read: d.Read, Wrote: d.Wrote, Counter: d.Counter, Next: d.Next, Note: d.Note, TimedOut: d.TimedOut})
}

func (s *Stepper) send(m message) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	for len(b) > 0 {
		n, err := unix.Write(s.fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("step socket: %w", os.NewSyscallError("write", err))
		}
		b = b[n:]
	}
	return nil
}

// U64 returns a pointer to v, for Did's values.
func U64(v uint64) *uint64 { return &v }
